"""opportunities: partner- and vendor-originated leads with their validation clock

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import partnercenter.core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[dt.datetime]:
    return sa.Column(
        name, partnercenter.core.db.UTCDateTime(timezone=True), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "opportunities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=32), nullable=False),
        sa.Column(
            "origin",
            sa.Enum("partner", "vendor", name="origin", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "deleted",
                "in_review",
                "in_validation",
                "shared",
                "accepted",
                "rejected",
                "cancelled",
                "won",
                "lost",
                name="state",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("customer_key", sa.String(length=200), nullable=False),
        sa.Column("customer_industry", sa.String(length=100), nullable=False),
        sa.Column("customer_region", sa.String(length=8), nullable=False),
        sa.Column("is_existing_customer", sa.Boolean(), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("contact_phone", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("budget_minor", sa.BigInteger(), nullable=True),
        sa.Column("estimated_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("expected_order_date", sa.Date(), nullable=True),
        sa.Column(
            "services",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("need_description", sa.Text(), nullable=False),
        sa.Column("solution_description", sa.Text(), nullable=False),
        sa.Column("customer_authorised", sa.Boolean(), nullable=False),
        sa.Column("routing_region", sa.String(length=8), nullable=False),
        sa.Column("created_by_user_id", sa.String(length=32), nullable=True),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        _when("submitted_at"),
        _when("shared_at"),
        _when("validation_started_at"),
        _when("validated_at"),
        _when("decided_at"),
        sa.Column("reviewer_user_id", sa.String(length=32), nullable=True),
        sa.Column("validator_user_id", sa.String(length=32), nullable=True),
        _when("due_at"),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        _when("clock_started_at"),
        _when("remind_at"),
        _when("reminded_at"),
        sa.Column(
            "rejection_reason",
            sa.Enum(
                "no_opportunity",
                "no_budget",
                "no_incremental_revenue",
                "no_contact",
                "vague",
                "duplicate",
                "sla_expired",
                name="rejectionreason",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.Column("duplicate_of_id", sa.String(length=32), nullable=True),
        sa.Column("progress_note", sa.Text(), nullable=True),
        sa.Column("sweep_token", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_opportunities_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_opportunities_created_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_user_id"],
            ["users.id"],
            name=op.f("fk_opportunities_reviewer_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["validator_user_id"],
            ["users.id"],
            name=op.f("fk_opportunities_validator_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunities")),
    )
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_opportunities_organisation_state", ["organisation_id", "state"]
        )
        batch_op.create_index("ix_opportunities_state_due", ["state", "due_at"])
        batch_op.create_index(
            "ix_opportunities_region_state", ["routing_region", "state"]
        )
        batch_op.create_index("ix_opportunities_customer_key", ["customer_key"])
        batch_op.create_index(
            "ix_opportunities_sweep",
            ["sweep_token"],
            postgresql_where=sa.text("sweep_token IS NOT NULL"),
            sqlite_where=sa.text("sweep_token IS NOT NULL"),
        )

    op.create_table(
        "opportunity_staff_regions",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        _when("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_opportunity_staff_regions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "region", name=op.f("pk_opportunity_staff_regions")
        ),
    )


def downgrade() -> None:
    op.drop_table("opportunity_staff_regions")
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.drop_index("ix_opportunities_sweep")
        batch_op.drop_index("ix_opportunities_customer_key")
        batch_op.drop_index("ix_opportunities_region_state")
        batch_op.drop_index("ix_opportunities_state_due")
        batch_op.drop_index("ix_opportunities_organisation_state")
    op.drop_table("opportunities")
