"""ready is derived from status

Revision ID: 37b2a2d57840
Revises: 2affc1f45377
Create Date: 2026-11-27 18:46:52.306599
"""
from alembic import op
import sqlalchemy as sa


revision = '37b2a2d57840'
down_revision = '2affc1f45377'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.drop_column('ready_published')


def downgrade() -> None:
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ready_published', sa.BOOLEAN(), nullable=False, server_default=sa.false()))

