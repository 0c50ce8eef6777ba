"""shift-robust prints: the constant-Q peaks of each fingerprinted track and their packed posting
lists of triplet keys (docs/fingerprint-matching.md, "Shifted copies")

Rows fingerprinted before have no shift print: they are found as before (exact, acoustic), not
under a pitch or tempo change, until their audio is fingerprinted again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("shift_prints",
                    sa.Column("print_id", sa.Integer(), sa.ForeignKey("fingerprints.id", ondelete="CASCADE"),
                              primary_key=True, autoincrement=False),
                    sa.Column("peaks", sa.LargeBinary(), nullable=False))
    op.create_table("shift_postings", sa.Column("key", sa.Integer(), primary_key=True, autoincrement=False),
                    sa.Column("postings", sa.LargeBinary(), nullable=False))


def downgrade() -> None:
    op.drop_table("shift_postings")
    op.drop_table("shift_prints")
