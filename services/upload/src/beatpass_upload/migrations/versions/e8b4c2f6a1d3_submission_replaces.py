"""submissions: the track a new version replaces (one new version in flight per track)

Revision ID: e8b4c2f6a1d3
Revises: d5a7e2c91b3f
Create Date: 2026-11-29 23:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'e8b4c2f6a1d3'
down_revision = 'd5a7e2c91b3f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for versions saved before this release: they are not known as pending.
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaces_track_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_submissions_replaces_track_id', ['replaces_track_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_replaces_track_id')
        batch_op.drop_column('replaces_track_id')
