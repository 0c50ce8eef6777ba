"""collection album art errors

Revision ID: a485e05544ab
Revises: 6e47c341444d
Create Date: 2026-11-27 17:23:51.471277
"""
from alembic import op
import sqlalchemy as sa


revision = 'a485e05544ab'
down_revision = '6e47c341444d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('collections', schema=None) as batch_op:
        # Existing collections have no album-art problems.
        batch_op.add_column(sa.Column('errors', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))



def downgrade() -> None:
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_column('errors')

