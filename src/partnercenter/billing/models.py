"""The billing tables: cloud service types, resource types and usage lines.

A usage line is one charge (or refund) from the vendor's billing, kept with what a monthly
bill needs: the customer, the partner it was associated with at that moment and how, the
service, the charge mode, the bill type, the bill cycle and the split between vouchers and
cash. The ledger moves the cash part; the line is the record that the charge happened, so a
charge paid wholly by vouchers still has one (and its charge id is still taken).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base, str_enum
from partnercenter.customers.models import AssociationMode
from partnercenter.ledger.models import Id, TransferKind


class ChargeMode(StrEnum):
    YEARLY_MONTHLY = "1"
    """包年/包月: paid ahead for a term."""
    ON_DEMAND = "3"
    """按需: paid for what was used."""
    SAVINGS_PLAN = "11"
    """节省计划: a commitment to spend per hour, billed as used."""


class BillType(StrEnum):
    CONSUMPTION = "0"
    """消费: the customer pays."""
    UNSUBSCRIBE = "1"
    """退订: a subscription given back; the customer is refunded."""
    WRITE_OFF = "2"
    """核销: the vendor writes a charge off; the customer is refunded."""

    @property
    def is_refund(self) -> bool:
        return self is not BillType.CONSUMPTION

    @property
    def transfer_kind(self) -> TransferKind:
        """The ledger kind of the bill type: consumption, or a refund for the other two."""
        return TransferKind.REFUND if self.is_refund else TransferKind.CONSUME


class ServiceType(Base):
    """A cloud service of the vendor, such as ``hws.service.type.ec2`` (ECS)."""

    __tablename__ = "billing_service_types"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def name(self, locale: str) -> str:
        return self.name_zh if locale == "zh-CN" else self.name_en


class ResourceType(Base):
    """A kind of resource of a service, such as ``hws.resource.type.vm`` (a cloud server)."""

    __tablename__ = "billing_resource_types"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_type_code: Mapped[str] = mapped_column(
        ForeignKey("billing_service_types.code")
    )
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def name(self, locale: str) -> str:
        return self.name_zh if locale == "zh-CN" else self.name_en


class UsageLine(Base):
    """One charge or refund from the vendor's billing."""

    __tablename__ = "billing_usage_lines"
    __table_args__ = (
        UniqueConstraint("kind", "charge_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "voucher_amount >= 0 AND cash_amount >= 0 "
            "AND voucher_amount + cash_amount = amount",
            name="paid_in_full",
        ),
        CheckConstraint("debt_amount >= 0", name="debt_not_negative"),
        Index("ix_billing_usage_lines_cycle_customer", "bill_cycle", "customer_id"),
        Index("ix_billing_usage_lines_partner_cycle", "partner_id", "bill_cycle"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[TransferKind] = mapped_column(str_enum(TransferKind, 24))
    """``consume`` or ``refund``: a charge id is unique within its kind."""
    charge_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    partner_id: Mapped[str | None] = mapped_column(String(32))
    """The partner the customer was associated with when the charge was posted."""
    association_mode: Mapped[AssociationMode | None] = mapped_column(
        str_enum(AssociationMode, 16)
    )
    service_type_code: Mapped[str | None] = mapped_column(
        ForeignKey("billing_service_types.code")
    )
    resource_type_code: Mapped[str | None] = mapped_column(
        ForeignKey("billing_resource_types.code")
    )
    charge_mode: Mapped[ChargeMode] = mapped_column(str_enum(ChargeMode, 2))
    bill_type: Mapped[BillType] = mapped_column(str_enum(BillType, 1))
    occurred_at: Mapped[dt.datetime]
    bill_cycle: Mapped[str] = mapped_column(String(7))
    """``YYYY-MM`` of ``occurred_at`` in the display time zone (Asia/Shanghai)."""
    amount: Mapped[int] = mapped_column(BigInteger)
    voucher_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    """Paid by the customer's vouchers (always 0 for a refund: refunds go back to cash)."""
    cash_amount: Mapped[int] = mapped_column(BigInteger)
    """Moved by the ledger transfer ``transfer_id``."""
    debt_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    """The part of the cash that the customer's balance did not cover (arrears)."""
    currency: Mapped[str] = mapped_column(String(3))
    transfer_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    """None when vouchers paid the whole charge."""
    created_at: Mapped[dt.datetime]
