"""exact hash scheme 2 (BLAKE3 over the canonical integer samples): pcm_sha256 becomes pcm_hash,
with the scheme beside it; rows fingerprinted before keep scheme 1 until ``rehash`` upgrades them

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs that PostgreSQL and SQLite (>= 3.25) both run in place: a batch copy of the
    # table would cascade-delete the index rows under SQLite's foreign keys.
    op.drop_index("ix_fingerprints_pcm_sha256", table_name="fingerprints")
    op.execute("ALTER TABLE fingerprints RENAME COLUMN pcm_sha256 TO pcm_hash")
    op.execute("ALTER TABLE fingerprints ADD COLUMN hash_scheme INTEGER NOT NULL DEFAULT 2")
    op.execute("UPDATE fingerprints SET hash_scheme = 1")
    op.create_index("ix_fingerprints_pcm_hash", "fingerprints", ["pcm_hash"])
    # Finds the rows still on scheme 1 at once, and costs nothing once there are none.
    op.create_index("ix_fingerprints_legacy_hash", "fingerprints", ["id"],
                    postgresql_where=sa.text("hash_scheme = 1"), sqlite_where=sa.text("hash_scheme = 1"))


def downgrade() -> None:
    op.drop_index("ix_fingerprints_legacy_hash", table_name="fingerprints")
    op.drop_index("ix_fingerprints_pcm_hash", table_name="fingerprints")
    # Scheme-2 hashes mean nothing to the old code: it would only miss exact matches on them.
    op.execute("ALTER TABLE fingerprints DROP COLUMN hash_scheme")
    op.execute("ALTER TABLE fingerprints RENAME COLUMN pcm_hash TO pcm_sha256")
    op.create_index("ix_fingerprints_pcm_sha256", "fingerprints", ["pcm_sha256"])
