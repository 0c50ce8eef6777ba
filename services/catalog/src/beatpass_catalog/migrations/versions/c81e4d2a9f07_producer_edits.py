"""producer edits: a track's last applied edit, a collection's per-part edits and cover change

Revision ID: c81e4d2a9f07
Revises: b7d3e9f1a2c4
Create Date: 2026-12-08 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'c81e4d2a9f07'
down_revision = 'b7d3e9f1a2c4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing records were never edited.
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edit_seq', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edits', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('cover_change', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_column('cover_change')
        batch_op.drop_column('edits')
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.drop_column('edit_seq')
