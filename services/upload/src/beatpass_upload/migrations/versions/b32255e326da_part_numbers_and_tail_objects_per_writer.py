"""part numbers and tail objects per writer

Revision ID: b32255e326da
Revises: ea0c9b76de4b
Create Date: 2026-11-27 18:10:53.070966
"""
from alembic import op
import sqlalchemy as sa


revision = 'b32255e326da'
down_revision = 'ea0c9b76de4b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tail_key', sa.String(length=600), nullable=True))
        batch_op.add_column(sa.Column('next_part', sa.Integer(), nullable=False, server_default='1'))
    # Uploads in progress continue after the parts they already have.
    op.execute("UPDATE uploads SET next_part = json_array_length(parts) + 1")
    # Their bytes below one part sit in the object of the old naming scheme.
    op.execute("UPDATE uploads SET tail_key = key || '.tail' WHERE tail_size > 0")


def downgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('next_part')
        batch_op.drop_column('tail_key')

