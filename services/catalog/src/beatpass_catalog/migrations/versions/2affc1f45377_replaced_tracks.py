"""replaced tracks

Revision ID: 2affc1f45377
Revises: a485e05544ab
Create Date: 2026-11-27 17:26:28.597503
"""
from alembic import op
import sqlalchemy as sa


revision = '2affc1f45377'
down_revision = 'a485e05544ab'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaced_by', sa.String(length=36), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.drop_column('replaced_by')

