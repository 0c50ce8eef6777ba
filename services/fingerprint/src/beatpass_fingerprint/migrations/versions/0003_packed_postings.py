"""packed posting lists: one row per index key instead of one per (track, key)

A row per posting cost about 96 bytes at 100,000 tracks (a 40-byte heap row, a primary-key entry
and a covering-index entry); packed 8 bytes to a posting, the index is ~2-3 KiB per track instead of
17.5 (docs/fingerprint-matching.md, "Index layout").

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from itertools import groupby

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 10_000


def upgrade() -> None:
    op.create_table("fingerprint_postings", sa.Column("key", sa.Integer(), primary_key=True, autoincrement=False),
                    sa.Column("postings", sa.LargeBinary(), nullable=False))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # int4send: big-endian, as the service packs them
        op.execute("INSERT INTO fingerprint_postings (key, postings) SELECT key, string_agg(int4send(print_id) || "
                   "int4send(position), ''::bytea ORDER BY print_id) FROM fingerprint_index GROUP BY key")
    else:
        rows = bind.execute(sa.text("SELECT key, print_id, position FROM fingerprint_index ORDER BY key, print_id"))
        batch = []
        for key, group in groupby(rows, key=lambda r: r[0]):
            batch.append({"k": key, "p": np.array([(r[1], r[2]) for r in group], ">i4").tobytes()})
            if len(batch) == _BATCH:
                bind.execute(sa.text("INSERT INTO fingerprint_postings (key, postings) VALUES (:k, :p)"), batch)
                batch = []
        if batch:
            bind.execute(sa.text("INSERT INTO fingerprint_postings (key, postings) VALUES (:k, :p)"), batch)
    op.drop_table("fingerprint_index")


def downgrade() -> None:
    op.create_table(
        "fingerprint_index",
        sa.Column("print_id", sa.Integer(), sa.ForeignKey("fingerprints.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("print_id", "key"),
    )
    op.create_index("ix_fingerprint_index_lookup", "fingerprint_index", ["key", "print_id", "position"])
    bind = op.get_bind()
    for key, blob in bind.execute(sa.text("SELECT key, postings FROM fingerprint_postings")).all():
        pairs = np.frombuffer(blob, ">i4").reshape(-1, 2).tolist()
        bind.execute(sa.text("INSERT INTO fingerprint_index (print_id, key, position) VALUES (:i, :k, :p)"),
                     [{"i": i, "k": key, "p": p} for i, p in pairs])
    op.drop_table("fingerprint_postings")
