"""vouchers: quotas, issued vouchers and their use

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import partnercenter.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_quotas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "effective",
                "frozen",
                "reclaimed",
                name="quotastatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column(
            "effective_time",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "expire_time",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("min_face_value", sa.BigInteger(), nullable=False),
        sa.Column("max_face_value", sa.BigInteger(), nullable=False),
        sa.Column("max_vouchers", sa.Integer(), nullable=False),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column(
            "service_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("new_customers_only", sa.Boolean(), nullable=False),
        sa.Column("reclaimed_amount", sa.BigInteger(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.CheckConstraint(
            "amount > 0", name=op.f("ck_voucher_quotas_amount_positive")
        ),
        sa.CheckConstraint(
            "balance >= 0 AND balance <= amount",
            name=op.f("ck_voucher_quotas_balance_in_range"),
        ),
        sa.CheckConstraint(
            "expire_time > effective_time",
            name=op.f("ck_voucher_quotas_expires_after_start"),
        ),
        sa.CheckConstraint(
            "issued_count >= 0",
            name=op.f("ck_voucher_quotas_issued_count_not_negative"),
        ),
        sa.CheckConstraint(
            "max_vouchers > 0", name=op.f("ck_voucher_quotas_max_vouchers_positive")
        ),
        sa.CheckConstraint(
            "min_face_value > 0 AND max_face_value >= min_face_value",
            name=op.f("ck_voucher_quotas_face_values_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_voucher_quotas_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["voucher_quotas.id"],
            name=op.f("fk_voucher_quotas_parent_id_voucher_quotas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_quotas")),
    )
    op.create_index(
        "ix_voucher_quotas_org_created",
        "voucher_quotas",
        ["organisation_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_voucher_quotas_parent", "voucher_quotas", ["parent_id"], unique=False
    )
    op.create_table(
        "vouchers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("quota_id", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "used_up",
                "expired",
                "reclaimed",
                name="voucherstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("face_value", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column(
            "effective_time",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "expire_time",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "service_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("returned_amount", sa.BigInteger(), nullable=False),
        sa.Column("issued_by_organisation_id", sa.String(length=32), nullable=False),
        sa.Column("issued_by_user_id", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "last_used_at",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "ended_at", partnercenter.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.CheckConstraint(
            "balance >= 0 AND balance <= face_value",
            name=op.f("ck_vouchers_balance_in_range"),
        ),
        sa.CheckConstraint(
            "expire_time > effective_time", name=op.f("ck_vouchers_expires_after_start")
        ),
        sa.CheckConstraint(
            "face_value > 0", name=op.f("ck_vouchers_face_value_positive")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["organisations.id"],
            name=op.f("fk_vouchers_customer_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_vouchers_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["quota_id"],
            ["voucher_quotas.id"],
            name=op.f("fk_vouchers_quota_id_voucher_quotas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
    )
    op.create_index(
        "ix_vouchers_customer_status",
        "vouchers",
        ["customer_id", "status", "expire_time"],
        unique=False,
    )
    op.create_index(
        "ix_vouchers_due", "vouchers", ["status", "expire_time"], unique=False
    )
    op.create_index(
        "ix_vouchers_org_created",
        "vouchers",
        ["organisation_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_vouchers_quota", "vouchers", ["quota_id"], unique=False)
    op.create_table(
        "voucher_draws",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("voucher_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("charge_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("service_type_code", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            partnercenter.core.db.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_voucher_draws_amount_positive")),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["vouchers.id"],
            name=op.f("fk_voucher_draws_voucher_id_vouchers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_draws")),
        sa.UniqueConstraint(
            "voucher_id",
            "charge_id",
            name=op.f("uq_voucher_draws_voucher_id_charge_id"),
        ),
    )
    op.create_index(
        "ix_voucher_draws_charge",
        "voucher_draws",
        ["customer_id", "charge_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("voucher_draws")
    op.drop_table("vouchers")
    op.drop_table("voucher_quotas")
