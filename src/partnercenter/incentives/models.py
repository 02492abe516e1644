"""The vendor's incentive and discount policies, published per month and service type."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base, str_enum
from partnercenter.ledger.models import Id


class IncentivePolicyCode(StrEnum):
    NON_SPECIFIC = "0"
    """非特定产品: performance and the general rebate."""
    SPECIFIC = "1"
    """特定产品: performance and the product's own rebate rate."""
    NO_PERFORMANCE = "2"
    """无业绩无返点: neither performance nor rebate."""
    PERFORMANCE_ONLY = "13"
    """有业绩无返点: counts as performance, earns no rebate."""


class IncentivePolicy(Base):
    """The policy of one service type from ``month`` on, until a later month replaces it."""

    __tablename__ = "incentive_policies"
    __table_args__ = (
        UniqueConstraint("service_type_code", "month"),
        CheckConstraint(
            "rebate_rate_bp IS NULL OR (rebate_rate_bp >= 0 AND rebate_rate_bp <= 10000)",
            name="rebate_rate_range",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    service_type_code: Mapped[str] = mapped_column(
        ForeignKey("billing_service_types.code")
    )
    month: Mapped[str] = mapped_column(String(7))
    """``YYYY-MM`` (Asia/Shanghai) from which the policy applies."""
    policy: Mapped[IncentivePolicyCode] = mapped_column(
        str_enum(IncentivePolicyCode, 2)
    )
    allow_discount: Mapped[bool]
    rebate_rate_bp: Mapped[int | None] = mapped_column(Integer)
    """The rebate rate in hundredths of a percent (550 is 5.50%); None when not set."""
    updated_by_user_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime]
