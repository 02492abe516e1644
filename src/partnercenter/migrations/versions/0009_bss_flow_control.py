"""bss: flow-control windows and the guard against repeated signed writes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partnercenter.core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bss_flow_windows",
        sa.Column("organisation_id", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "organisation_id", "operation", "second", name=op.f("pk_bss_flow_windows")
        ),
    )
    op.create_index(
        "ix_bss_flow_windows_second", "bss_flow_windows", ["second"], unique=False
    )
    op.create_table(
        "bss_seen_signatures",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("access_key", sa.String(length=64), nullable=False),
        sa.Column(
            "seen_at",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_bss_seen_signatures")),
    )
    op.create_index(
        "ix_bss_seen_signatures_seen", "bss_seen_signatures", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_bss_seen_signatures_seen", table_name="bss_seen_signatures")
    op.drop_table("bss_seen_signatures")
    op.drop_index("ix_bss_flow_windows_second", table_name="bss_flow_windows")
    op.drop_table("bss_flow_windows")
