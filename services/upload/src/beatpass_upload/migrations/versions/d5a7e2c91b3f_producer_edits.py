"""producer edits: a submission's edit count and a collection's per-part edit numbers

Revision ID: d5a7e2c91b3f
Revises: d7a3e5c1b902
Create Date: 2026-12-08 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'd5a7e2c91b3f'
down_revision = 'd7a3e5c1b902'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing records were never edited (the collection order column comes with d7a3e5c1b902).
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edits', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edits', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_column('edits')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('edits')
