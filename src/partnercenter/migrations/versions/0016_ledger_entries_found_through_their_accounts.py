"""ledger: a transfer's entries are found through its accounts; the transfer-id index goes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

Every entry carries its transfer's time (every writer has always stamped both with one
clock reading), and its account is one of the transfer's two sides. So a transfer's entries
are found through ``ix_ledger_entries_account_time`` by those two accounts and that time,
and the separate index on ``transfer_id`` only cost a write per entry: two thousand index
entries for a batch chunk. ``partnercenter ledger verify`` now also reports an entry whose
time is not its transfer's. ``verify`` itself reads every entry with its transfer, which
needs no index of its own.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_ledger_entries_transfer", table_name="ledger_entries")


def downgrade() -> None:
    op.create_index(
        "ix_ledger_entries_transfer", "ledger_entries", ["transfer_id"], unique=False
    )
