"""The vouchers' tables: quotas granted to partners, vouchers issued from them, and the part
of each charge a voucher paid.

A quota's money is not ledger cash. It is a balance of its own, in minor units: issuing a
voucher takes the face value out of the quota, reclaiming a voucher puts what is left of it
back, and granting part of a quota to a reseller moves it into a child quota. A voucher's
balance falls as consumption draws on it; a use row records each draw.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base, str_enum


class QuotaStatus(StrEnum):
    EFFECTIVE = "effective"
    """Usable between its effective and expiry times (the API's 0; 3 once expired)."""
    FROZEN = "frozen"
    """Stopped by the vendor; vouchers cannot be issued from it until it is unfrozen (5)."""
    RECLAIMED = "reclaimed"
    """A reseller's quota whose unused balance went back to its distributor (3)."""


class VoucherStatus(StrEnum):
    ACTIVE = "active"
    """Has a balance and has not expired (the API's 2, or 1 before its effective time)."""
    USED_UP = "used_up"
    """Its whole face value was spent (3)."""
    EXPIRED = "expired"
    """Its expiry time passed; what was left is no longer usable (4)."""
    RECLAIMED = "reclaimed"
    """Taken back by its partner; what was left went back to the quota (5)."""


class VoucherQuota(Base):
    """代金券额度: how much a partner may issue as vouchers, and under which limits."""

    __tablename__ = "voucher_quotas"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("balance >= 0 AND balance <= amount", name="balance_in_range"),
        CheckConstraint(
            "min_face_value > 0 AND max_face_value >= min_face_value",
            name="face_values_ordered",
        ),
        CheckConstraint("max_vouchers > 0", name="max_vouchers_positive"),
        CheckConstraint("issued_count >= 0", name="issued_count_not_negative"),
        CheckConstraint("expire_time > effective_time", name="expires_after_start"),
        Index("ix_voucher_quotas_org_created", "organisation_id", "created_at"),
        Index("ix_voucher_quotas_parent", "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    """The partner that holds the quota."""
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("voucher_quotas.id"))
    """For a reseller's quota: the distributor's quota it was drawn from."""
    status: Mapped[QuotaStatus] = mapped_column(str_enum(QuotaStatus, 16))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    """What was granted, in minor units."""
    balance: Mapped[int] = mapped_column(BigInteger)
    """What can still be issued or granted on."""
    effective_time: Mapped[dt.datetime]
    expire_time: Mapped[dt.datetime]
    min_face_value: Mapped[int] = mapped_column(BigInteger)
    max_face_value: Mapped[int] = mapped_column(BigInteger)
    max_vouchers: Mapped[int] = mapped_column(Integer)
    """How many vouchers may be issued from the quota in all."""
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    """Vouchers issued from the quota, and for a distributor's quota also those its
    resellers issued from the quotas granted from it."""
    service_types: Mapped[list[str]]
    """Cloud service type codes the vouchers may pay for; empty means any."""
    new_customers_only: Mapped[bool] = mapped_column(Boolean, default=False)
    """Vouchers only for customers associated with a partner for the first time."""
    reclaimed_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    """For a reseller's quota: the balance that went back to the distributor."""
    memo: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Voucher(Base):
    """代金券: an amount a resale customer's consumption draws on before its cash."""

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("face_value > 0", name="face_value_positive"),
        CheckConstraint(
            "balance >= 0 AND balance <= face_value", name="balance_in_range"
        ),
        CheckConstraint("expire_time > effective_time", name="expires_after_start"),
        Index("ix_vouchers_org_created", "organisation_id", "created_at"),
        Index("ix_vouchers_customer_status", "customer_id", "status", "expire_time"),
        Index("ix_vouchers_due", "status", "expire_time"),
        Index("ix_vouchers_quota", "quota_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    """The partner that issued it (the quota's holder)."""
    customer_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    quota_id: Mapped[str] = mapped_column(ForeignKey("voucher_quotas.id"))
    status: Mapped[VoucherStatus] = mapped_column(str_enum(VoucherStatus, 16))
    currency: Mapped[str] = mapped_column(String(3))
    face_value: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger)
    effective_time: Mapped[dt.datetime]
    expire_time: Mapped[dt.datetime]
    service_types: Mapped[list[str]]
    """Cloud service type codes it may pay for; empty means any."""
    memo: Mapped[str | None] = mapped_column(Text)
    returned_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    """What went back to the quota when it was reclaimed."""
    issued_by_organisation_id: Mapped[str] = mapped_column(String(32))
    """Who issued it: the partner itself, or its distributor acting for it."""
    issued_by_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    """When it was used up, expired or reclaimed."""


class VoucherDraw(Base):
    """The part of one charge that one voucher paid."""

    __tablename__ = "voucher_draws"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("voucher_id", "charge_id"),
        Index("ix_voucher_draws_charge", "customer_id", "charge_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[str] = mapped_column(ForeignKey("vouchers.id"))
    customer_id: Mapped[str] = mapped_column(String(32))
    charge_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    service_type_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
