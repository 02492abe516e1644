"""The ledger's tables: accounts, transfers, entries, idempotency keys, batches, withdrawals.

Amounts are integers of minor units (fen). Every movement of money is one transfer from a
debit account to a credit account, written as two entries, one per account, that sum to
zero. Entries are never changed or deleted (triggers refuse it); a mistake is corrected by a
new transfer that points at the original. Each account's entries form a hash chain, so an
edited or deleted entry is found by ``partnercenter ledger verify``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base, str_enum

Id = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit key; SQLite numbers rows only through INTEGER PRIMARY KEY."""

GENESIS_HASH = "0" * 64
"""The chain value of an account that has no entries yet."""

CHECKED_PER_STATEMENT = frozenset(
    {
        "fk_ledger_entries_transfer_id_ledger_transfers",
        "fk_ledger_entries_account_id_ledger_accounts",
        "fk_ledger_transfers_debit_account_id_ledger_accounts",
        "fk_ledger_transfers_credit_account_id_ledger_accounts",
        "fk_ledger_batch_items_batch_id_ledger_batches",
    }
)
"""Foreign keys of these models that PostgreSQL does not hold as keys: triggers check the
same references once per statement instead of once per row (migrations 0013 and 0015),
since a batch writes thousands of rows a statement. SQLite keeps them as keys. The checks
lock nothing, so accounts and batches are never deleted (migration 0017)."""


class AccountKind(StrEnum):
    VENDOR_CLEARING = "vendor_clearing"
    """Where money from outside enters and leaves: remittances, recharges, payouts."""
    VENDOR_REVENUE = "vendor_revenue"
    """Where consumption goes, and refunds come from."""
    PARTNER_CASH = "partner_cash"
    """A partner's balance (余额), with its credit line and designated amount."""
    PARTNER_HOLD = "partner_hold"
    """Money a partner asked to withdraw, held until finance pays or rejects it."""
    CUSTOMER_ALLOCATED = "customer_allocated"
    """What partners allocated to a resale customer; resale consumption draws on it."""
    CUSTOMER_CASH = "customer_cash"
    """A customer's own money, paid to the vendor; consumption outside resale draws on it."""


VENDOR_KINDS = frozenset({AccountKind.VENDOR_CLEARING, AccountKind.VENDOR_REVENUE})
CUSTOMER_KINDS = frozenset({AccountKind.CUSTOMER_ALLOCATED, AccountKind.CUSTOMER_CASH})


class TransferKind(StrEnum):
    TOPUP = "topup"
    """A partner's remittance recorded by vendor finance (clearing → partner)."""
    RECHARGE = "recharge"
    """A customer's own payment (clearing → customer cash)."""
    ALLOCATE = "allocate"
    """拨款: partner → resale customer."""
    RECLAIM = "reclaim"
    """回收: resale customer → partner."""
    UNBIND_RECLAIM = "unbind_reclaim"
    """解绑回收: what is left when a resale customer leaves or switches to consulting."""
    INDIRECT_ALLOCATE = "indirect_allocate"
    """A distributor funds one of its resellers."""
    INDIRECT_RECLAIM = "indirect_reclaim"
    """A distributor takes money back from one of its resellers."""
    CONSUME = "consume"
    """A usage charge from the vendor's billing (customer → revenue)."""
    REFUND = "refund"
    """A charge given back by the vendor's billing (revenue → customer)."""
    WITHDRAWAL_HOLD = "withdrawal_hold"
    """A withdrawal asked for: the amount leaves the balance and waits (partner → hold)."""
    WITHDRAWAL_RELEASE = "withdrawal_release"
    """A withdrawal rejected: the held amount returns (hold → partner)."""
    WITHDRAWAL_PAYOUT = "withdrawal_payout"
    """A withdrawal paid: the held amount leaves the platform (hold → clearing)."""
    CORRECTION = "correction"
    """A reversal of part or all of an earlier transfer, pointing at it."""


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("organisation_id", "kind", "currency"),
        CheckConstraint("credit_limit >= 0", name="credit_not_negative"),
        CheckConstraint("designated >= 0", name="designated_not_negative"),
        CheckConstraint(
            "kind IN ('vendor_clearing', 'vendor_revenue', 'customer_allocated', "
            "'customer_cash') OR balance + credit_limit >= 0",
            name="balance_within_credit",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[AccountKind] = mapped_column(str_enum(AccountKind, 24))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    """The sum of the account's entries, in minor units."""
    credit_limit: Mapped[int] = mapped_column(BigInteger, default=0)
    """How far below zero a partner's balance may go (信用); set by vendor finance."""
    designated: Mapped[int] = mapped_column(BigInteger, default=0)
    """The part of the balance earmarked (专款) and therefore not allocatable."""
    entry_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Transfer(Base):
    """One movement of money; its id (``AD…``, ``RE…``) is the one callers quote."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "debit_account_id <> credit_account_id", name="distinct_accounts"
        ),
        UniqueConstraint("kind", "external_ref"),
        Index("ix_ledger_transfers_org_time", "organisation_id", "created_at"),
        Index("ix_ledger_transfers_counterparty", "counterparty_id", "created_at"),
        # Most transfers (every allocation) correct no original: the index holds only
        # the corrections.
        Index(
            "ix_ledger_transfers_original",
            "original_id",
            postgresql_where=text("original_id IS NOT NULL"),
            sqlite_where=text("original_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[TransferKind] = mapped_column(str_enum(TransferKind, 24))
    debit_account_id: Mapped[int] = mapped_column(Id, ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(Id, ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    organisation_id: Mapped[str | None] = mapped_column(String(32))
    """The partner (or customer, for its own money) whose records show the transfer."""
    counterparty_id: Mapped[str | None] = mapped_column(String(32))
    """The customer or reseller on the other side, if any."""
    external_ref: Mapped[str | None] = mapped_column(String(64))
    """The charge id of the billing system or the remittance reference; unique per kind."""
    original_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_user_id: Mapped[str | None] = mapped_column(String(32))
    actor_organisation_id: Mapped[str | None] = mapped_column(String(32))
    actor_credential_id: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]


class Entry(Base):
    """One side of a transfer on one account, with the balance after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("account_id", "seq"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        # Also how a transfer's entries are found: by its two accounts and its time, which
        # its entries carry (`verify` checks that they do).
        Index("ix_ledger_entries_account_time", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"))
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("ledger_accounts.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    """1, 2, 3… within the account."""
    amount: Mapped[int] = mapped_column(BigInteger)
    """Positive when money comes in, negative when it goes out."""
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime]
    hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 over the previous entry's hash and this entry's facts."""


class IdempotencyKey(Base):
    """The first result of a money write made with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)

    organisation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    transfer_id: Mapped[str | None] = mapped_column(String(32))
    """Set for a single transfer: its response is rebuilt from the transfer."""
    response: Mapped[str | None] = mapped_column(Text)
    """Set for other writes: the JSON first answered."""
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    created_at: Mapped[dt.datetime]


class BatchStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class BatchItemStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    REFUSED = "refused"


class Batch(Base):
    """Allocations (or reclaims) to many customers in one request, run in chunks."""

    __tablename__ = "ledger_batches"
    __table_args__ = (
        Index("ix_ledger_batches_org_time", "organisation_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[TransferKind] = mapped_column(str_enum(TransferKind, 24))
    status: Mapped[BatchStatus] = mapped_column(str_enum(BatchStatus, 16))
    indirect_partner_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    item_count: Mapped[int] = mapped_column(Integer)
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    refused_count: Mapped[int] = mapped_column(Integer, default=0)
    done_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by_user_id: Mapped[str | None] = mapped_column(String(32))
    created_by_credential_id: Mapped[int | None]
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]


class BatchItem(Base):
    __tablename__ = "ledger_batch_items"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_batches.id"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[BatchItemStatus] = mapped_column(str_enum(BatchItemStatus, 16))
    transfer_id: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))


class WithdrawalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"


class WithdrawalMethod(StrEnum):
    ORIGINAL_PATH = "original_path"
    """Back along the way the money came (the remittance's own account)."""
    BANK = "bank"
    """To a bank account held by the partner's legal entity."""


class Withdrawal(Base):
    """提现: a partner's request to take money out, held while finance decides."""

    __tablename__ = "ledger_withdrawals"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_ledger_withdrawals_org_time", "organisation_id", "requested_at"),
        Index("ix_ledger_withdrawals_status", "status", "requested_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[WithdrawalMethod] = mapped_column(str_enum(WithdrawalMethod, 16))
    bank_holder: Mapped[str | None] = mapped_column(String(200))
    bank_name: Mapped[str | None] = mapped_column(String(200))
    bank_account_encrypted: Mapped[str | None] = mapped_column(Text)
    bank_account_last4: Mapped[str | None] = mapped_column(String(4))
    status: Mapped[WithdrawalStatus] = mapped_column(str_enum(WithdrawalStatus, 16))
    note: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    requested_by_user_id: Mapped[str | None] = mapped_column(String(32))
    requested_at: Mapped[dt.datetime]
    decided_by_user_id: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[dt.datetime | None]
    pay_by: Mapped[dt.date | None]
    """Seven working days after approval, by the working-day calendar."""
    paid_by_user_id: Mapped[str | None] = mapped_column(String(32))
    paid_at: Mapped[dt.datetime | None]
    hold_transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"))
    settle_transfer_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_transfers.id")
    )
