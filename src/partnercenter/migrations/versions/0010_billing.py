"""billing: cloud service types, usage lines, monthly bills and incentive policies

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import partnercenter.core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERVICE_TYPES = [
    ("hws.service.type.ec2", "弹性云服务器", "Elastic Cloud Server"),
    ("hws.service.type.ebs", "云硬盘", "Elastic Volume Service"),
    ("hws.service.type.obs", "对象存储服务", "Object Storage Service"),
    ("hws.service.type.rds", "云数据库 RDS", "Relational Database Service"),
    ("hws.service.type.vpc", "虚拟私有云", "Virtual Private Cloud"),
    ("hws.service.type.eip", "弹性公网IP", "Elastic IP"),
    ("hws.service.type.cdn", "内容分发网络", "Content Delivery Network"),
    ("hws.service.type.cce", "云容器引擎", "Cloud Container Engine"),
    ("hws.service.type.dcs", "分布式缓存服务", "Distributed Cache Service"),
    ("hws.service.type.elb", "弹性负载均衡", "Elastic Load Balance"),
    ("hws.service.type.waf", "Web应用防火墙", "Web Application Firewall"),
    ("hws.service.type.sfs", "弹性文件服务", "Scalable File Service"),
]
RESOURCE_TYPES = [
    ("hws.resource.type.vm", "hws.service.type.ec2", "云主机", "Cloud server"),
    ("hws.resource.type.volume", "hws.service.type.ebs", "云硬盘", "Disk"),
    ("hws.resource.type.obs", "hws.service.type.obs", "对象存储", "Object storage"),
    (
        "hws.resource.type.rds.vm",
        "hws.service.type.rds",
        "数据库实例",
        "Database instance",
    ),
    (
        "hws.resource.type.ip",
        "hws.service.type.eip",
        "弹性公网IP",
        "Elastic IP address",
    ),
    ("hws.resource.type.bandwidth", "hws.service.type.eip", "带宽", "Bandwidth"),
    ("hws.resource.type.cdn", "hws.service.type.cdn", "CDN流量", "CDN traffic"),
    (
        "hws.resource.type.cce.cluster",
        "hws.service.type.cce",
        "容器集群",
        "Container cluster",
    ),
]
BILL_TIMEZONE = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    utc_time = partnercenter.core.db.UTCDateTime(timezone=True)
    service_types = op.create_table(
        "billing_service_types",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("created_at", utc_time, nullable=False),
        sa.Column("updated_at", utc_time, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_billing_service_types")),
    )
    resource_types = op.create_table(
        "billing_resource_types",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("service_type_code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("created_at", utc_time, nullable=False),
        sa.Column("updated_at", utc_time, nullable=False),
        sa.ForeignKeyConstraint(
            ["service_type_code"],
            ["billing_service_types.code"],
            name=op.f(
                "fk_billing_resource_types_service_type_code_billing_service_types"
            ),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_billing_resource_types")),
    )
    op.create_table(
        "incentive_policies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("service_type_code", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column(
            "policy",
            sa.Enum("0", "1", "2", "13", name="incentivepolicycode", native_enum=False),
            nullable=False,
        ),
        sa.Column("allow_discount", sa.Boolean(), nullable=False),
        sa.Column("rebate_rate_bp", sa.Integer(), nullable=True),
        sa.Column("updated_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", utc_time, nullable=False),
        sa.CheckConstraint(
            "rebate_rate_bp IS NULL OR (rebate_rate_bp >= 0 AND rebate_rate_bp <= 10000)",
            name=op.f("ck_incentive_policies_rebate_rate_range"),
        ),
        sa.ForeignKeyConstraint(
            ["service_type_code"],
            ["billing_service_types.code"],
            name=op.f("fk_incentive_policies_service_type_code_billing_service_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incentive_policies")),
        sa.UniqueConstraint(
            "service_type_code",
            "month",
            name=op.f("uq_incentive_policies_service_type_code_month"),
        ),
    )
    usage_lines = op.create_table(
        "billing_usage_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "topup",
                "recharge",
                "allocate",
                "reclaim",
                "unbind_reclaim",
                "indirect_allocate",
                "indirect_reclaim",
                "consume",
                "refund",
                "withdrawal_hold",
                "withdrawal_release",
                "withdrawal_payout",
                "correction",
                name="transferkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("charge_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=True),
        sa.Column(
            "association_mode",
            sa.Enum(
                "consulting",
                "resale",
                name="associationmode",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("service_type_code", sa.String(length=64), nullable=True),
        sa.Column("resource_type_code", sa.String(length=64), nullable=True),
        sa.Column(
            "charge_mode",
            sa.Enum("1", "3", "11", name="chargemode", native_enum=False),
            nullable=False,
        ),
        sa.Column(
            "bill_type",
            sa.Enum("0", "1", "2", name="billtype", native_enum=False),
            nullable=False,
        ),
        sa.Column("occurred_at", utc_time, nullable=False),
        sa.Column("bill_cycle", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("voucher_amount", sa.BigInteger(), nullable=False),
        sa.Column("cash_amount", sa.BigInteger(), nullable=False),
        sa.Column("debt_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("transfer_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", utc_time, nullable=False),
        sa.CheckConstraint(
            "amount > 0", name=op.f("ck_billing_usage_lines_amount_positive")
        ),
        sa.CheckConstraint(
            "debt_amount >= 0", name=op.f("ck_billing_usage_lines_debt_not_negative")
        ),
        sa.CheckConstraint(
            "voucher_amount >= 0 AND cash_amount >= 0 AND voucher_amount + cash_amount = amount",
            name=op.f("ck_billing_usage_lines_paid_in_full"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["organisations.id"],
            name=op.f("fk_billing_usage_lines_customer_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_type_code"],
            ["billing_resource_types.code"],
            name=op.f(
                "fk_billing_usage_lines_resource_type_code_billing_resource_types"
            ),
        ),
        sa.ForeignKeyConstraint(
            ["service_type_code"],
            ["billing_service_types.code"],
            name=op.f("fk_billing_usage_lines_service_type_code_billing_service_types"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_billing_usage_lines_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_lines")),
        sa.UniqueConstraint(
            "kind", "charge_id", name=op.f("uq_billing_usage_lines_kind_charge_id")
        ),
    )
    op.create_index(
        "ix_billing_usage_lines_cycle_customer",
        "billing_usage_lines",
        ["bill_cycle", "customer_id"],
        unique=False,
    )
    op.create_index(
        "ix_billing_usage_lines_partner_cycle",
        "billing_usage_lines",
        ["partner_id", "bill_cycle"],
        unique=False,
    )

    now = datetime.now(UTC)
    op.bulk_insert(
        service_types,
        [
            {
                "code": c,
                "name_zh": zh,
                "name_en": en,
                "created_at": now,
                "updated_at": now,
            }
            for c, zh, en in SERVICE_TYPES
        ],
    )
    op.bulk_insert(
        resource_types,
        [
            {
                "code": c,
                "service_type_code": s,
                "name_zh": zh,
                "name_en": en,
                "created_at": now,
                "updated_at": now,
            }
            for c, s, zh, en in RESOURCE_TYPES
        ],
    )
    _usage_lines_of_earlier_charges(usage_lines)


def _usage_lines_of_earlier_charges(usage_lines: sa.Table) -> None:
    """Charges posted before this revision become usage lines: on-demand consumption or
    unsubscription, paid in cash, of no particular service, so that their charge ids stay
    taken and their months show in the bills."""
    connection = op.get_bind()
    utc_time = partnercenter.core.db.UTCDateTime(timezone=True)
    transfers = connection.execute(
        sa.text(
            "SELECT t.id, t.kind, t.external_ref, t.counterparty_id, t.amount, t.currency,"
            " t.created_at, a.kind AS pocket"
            " FROM ledger_transfers t JOIN ledger_accounts a ON a.id ="
            " CASE WHEN t.kind = 'consume' THEN t.debit_account_id ELSE t.credit_account_id END"
            " WHERE t.kind IN ('consume', 'refund') AND t.external_ref IS NOT NULL"
            " ORDER BY t.created_at, t.id"
        ).columns(created_at=utc_time)
    ).all()
    if not transfers:
        return
    associations = connection.execute(
        sa.text(
            "SELECT customer_id, organisation_id, started_at, ended_at FROM associations"
        ).columns(started_at=utc_time, ended_at=utc_time)
    ).all()
    by_customer: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for customer_id, partner_id, started_at, ended_at in associations:
        by_customer.setdefault(customer_id, []).append(
            (partner_id, started_at, ended_at)
        )
    rows = []
    for transfer in transfers:
        partner_id = next(
            (
                partner
                for partner, started, ended in by_customer.get(
                    transfer.counterparty_id, []
                )
                if started <= transfer.created_at
                and (ended is None or ended > transfer.created_at)
            ),
            None,
        )
        if partner_id is None:
            mode = None
        else:
            mode = "resale" if transfer.pocket == "customer_allocated" else "consulting"
        rows.append(
            {
                "kind": transfer.kind,
                "charge_id": transfer.external_ref,
                "customer_id": transfer.counterparty_id,
                "partner_id": partner_id,
                "association_mode": mode,
                "charge_mode": "3",
                "bill_type": "0" if transfer.kind == "consume" else "1",
                "occurred_at": transfer.created_at,
                "bill_cycle": transfer.created_at.astimezone(BILL_TIMEZONE).strftime(
                    "%Y-%m"
                ),
                "amount": transfer.amount,
                "voucher_amount": 0,
                "cash_amount": transfer.amount,
                "debt_amount": 0,
                "currency": transfer.currency,
                "transfer_id": transfer.id,
                "created_at": transfer.created_at,
            }
        )
    for start in range(0, len(rows), 1000):
        op.bulk_insert(usage_lines, rows[start : start + 1000])


def downgrade() -> None:
    op.drop_index(
        "ix_billing_usage_lines_partner_cycle", table_name="billing_usage_lines"
    )
    op.drop_index(
        "ix_billing_usage_lines_cycle_customer", table_name="billing_usage_lines"
    )
    op.drop_table("billing_usage_lines")
    op.drop_table("incentive_policies")
    op.drop_table("billing_resource_types")
    op.drop_table("billing_service_types")
