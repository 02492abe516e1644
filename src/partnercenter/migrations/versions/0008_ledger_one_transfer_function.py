"""ledger: one database function for allocations and reclaims, single or grouped

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SINGLE = (
    "ledger_customer_transfer(text, text, text, text, bigint, text, text, timestamptz, "
    "text, text, text, bigint, text, text, text)"
)


def upgrade() -> None:
    # The console now sends its single requests to ledger_customer_transfers as a list of
    # one, so the rules live in one database function.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {SINGLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        previous = importlib.import_module(
            "partnercenter.migrations.versions.0006_ledger_partner_lock_last"
        )
        op.execute(previous.PG_CUSTOMER_TRANSFER)
