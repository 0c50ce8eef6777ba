"""uploads keep their inspection; collections keep their tracks' order

Revision ID: d7a3e5c1b902
Revises: c4f1a9d27e63
Create Date: 2026-12-10 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'd7a3e5c1b902'
down_revision = 'c4f1a9d27e63'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both nullable: uploads completed before this release are inspected when first read or
    # saved, and an older collection lists its tracks in the order they were saved.
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inspection', sa.JSON(), nullable=True))
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('track_ids', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_column('track_ids')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('inspection')
