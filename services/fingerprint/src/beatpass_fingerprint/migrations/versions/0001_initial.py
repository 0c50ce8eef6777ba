"""fingerprints, inverted index, removals, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("track_id", sa.String(36), nullable=False, unique=True),
        sa.Column("producer_id", sa.String(128), nullable=False),
        sa.Column("submission", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(1100), nullable=False),
        sa.Column("pcm_sha256", sa.String(64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("indexed", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_fingerprints_pcm_sha256", "fingerprints", ["pcm_sha256"])
    op.create_table(
        "fingerprint_index",
        sa.Column("print_id", sa.Integer(), sa.ForeignKey("fingerprints.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("print_id", "key"),
    )
    op.create_index("ix_fingerprint_index_lookup", "fingerprint_index", ["key", "print_id", "position"])
    op.create_table(
        "removals",
        sa.Column("track_id", sa.String(36), primary_key=True),
        sa.Column("submission", sa.Integer(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_index("ix_outbox_event_id", "outbox", ["event_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("removals")
    op.drop_table("fingerprint_index")
    op.drop_table("fingerprints")
