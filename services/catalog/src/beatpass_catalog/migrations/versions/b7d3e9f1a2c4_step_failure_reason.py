"""why a step failed (reason, operator detail, parked); pending until step.started

Revision ID: b7d3e9f1a2c4
Revises: 37b2a2d57840
Create Date: 2026-12-02 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'b7d3e9f1a2c4'
down_revision = '37b2a2d57840'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('detail', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('parked', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_steps_reason'), ['reason'], unique=False)
    # Failures recorded before reasons existed were handler errors after their retries.
    op.execute("UPDATE steps SET reason = 'error' WHERE state = 'failed'")


def downgrade() -> None:
    with op.batch_alter_table('steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_steps_reason'))
        batch_op.drop_column('parked')
        batch_op.drop_column('detail')
        batch_op.drop_column('reason')
