"""idempotency keys in flight carry a holder and a lease

Revision ID: c4f1a9d27e63
Revises: b32255e326da
Create Date: 2026-11-29 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'c4f1a9d27e63'
down_revision = 'b32255e326da'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On PostgreSQL, keys claimed by the previous release (before this migration, and by its pods
    # still running during the rollout) keep that release's rule: in flight for 10 minutes. The
    # default goes in the next release. SQLite runs one process: its old claims are of a process
    # that has ended, and a key without a lease is taken over at once.
    default = sa.text("now() + interval '10 minutes'") if op.get_bind().dialect.name == "postgresql" else None
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True,
                                      server_default=default))


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('holder')
