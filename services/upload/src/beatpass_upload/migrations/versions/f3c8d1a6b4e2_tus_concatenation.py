"""tus concatenation: partial and final uploads

Revision ID: f3c8d1a6b4e2
Revises: e8b4c2f6a1d3
Create Date: 2026-11-30 01:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'f3c8d1a6b4e2'
down_revision = 'e8b4c2f6a1d3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('concat', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('partials', sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column('final_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_uploads_final_id'), ['final_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uploads_final_id'))
        batch_op.drop_column('final_id')
        batch_op.drop_column('partials')
        batch_op.drop_column('concat')
