"""Reading the ledger for vendor finance and for a partner's withdrawals.

Every query here is read-only; the callers check who may see what before asking (vendor
finance sees every partner, a partner only its own withdrawals).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from partnercenter.billing.models import UsageLine
from partnercenter.core.clock import start_of_local_day
from partnercenter.identity.models import Organisation, OrganisationKind
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Entry,
    Transfer,
    TransferKind,
    Withdrawal,
    WithdrawalStatus,
)
from partnercenter.ledger.service import PartnerBalances

PAGE_SIZE = 25
RECENT_ENTRIES = 30
CORRECTABLE_TOPUPS = 50
RECENT_RECHARGES = 20


def _pattern(search: str) -> str:
    return f"%{search.strip().lower()}%"


def _count(session: Session, statement: Select[*tuple[Any, ...]]) -> int:
    return session.scalar(select(func.count()).select_from(statement.subquery())) or 0


def names_of(session: Session, ids: Iterable[str | None]) -> dict[str, Organisation]:
    """The organisations named in a page of rows, in one query."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {
        org.id: org
        for org in session.scalars(
            select(Organisation).where(Organisation.id.in_(wanted))
        )
    }


# -- partner accounts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartnerRow:
    organisation: Organisation
    balances: PartnerBalances


@dataclass(frozen=True, slots=True)
class PartnerPage:
    rows: list[PartnerRow]
    total: int


def partner_accounts(
    session: Session, currency: str, search: str = "", offset: int = 0
) -> PartnerPage:
    """Every partner with its figures; a partner with no account yet shows zeros."""
    cash = aliased(Account)
    hold = aliased(Account)
    statement = (
        select(
            Organisation,
            cash.balance,
            cash.credit_limit,
            cash.designated,
            hold.balance,
        )
        .outerjoin(
            cash,
            and_(
                cash.organisation_id == Organisation.id,
                cash.kind == AccountKind.PARTNER_CASH,
                cash.currency == currency,
            ),
        )
        .outerjoin(
            hold,
            and_(
                hold.organisation_id == Organisation.id,
                hold.kind == AccountKind.PARTNER_HOLD,
                hold.currency == currency,
            ),
        )
        .where(Organisation.kind == OrganisationKind.PARTNER)
    )
    if search.strip():
        pattern = _pattern(search)
        statement = statement.where(
            or_(
                func.lower(Organisation.display_name).like(pattern),
                func.lower(Organisation.account_name).like(pattern),
                func.lower(Organisation.legal_name).like(pattern),
                Organisation.id == search.strip(),
            )
        )
    total = _count(session, statement)
    found = session.execute(
        statement.order_by(Organisation.display_name, Organisation.id)
        .offset(max(offset, 0))
        .limit(PAGE_SIZE)
    ).all()
    rows = [
        PartnerRow(
            organisation,
            PartnerBalances(
                currency=currency,
                cash=balance or 0,
                credit_limit=credit_limit or 0,
                designated=designated or 0,
                held=held or 0,
            ),
        )
        for organisation, balance, credit_limit, designated, held in found
    ]
    return PartnerPage(rows, total)


@dataclass(frozen=True, slots=True)
class Totals:
    partners: int
    """The sum of every partner's balance (below zero where credit is used)."""
    held: int
    """Asked to be withdrawn and not yet paid or rejected."""
    customers: int
    """What customers hold: allocated to them and their own money."""
    consumed: int
    refunded: int
    month_start: dt.date

    @property
    def consumption(self) -> int:
        return self.consumed - self.refunded


def month_start(today: dt.date, timezone: str) -> dt.datetime:
    """Midnight of the first of ``today``'s month in ``timezone``, as a UTC time."""
    first = dt.datetime.combine(today.replace(day=1), dt.time(), ZoneInfo(timezone))
    return first.astimezone(dt.UTC)


def totals(session: Session, currency: str, today: dt.date, timezone: str) -> Totals:
    by_kind = dict(
        session.execute(
            select(Account.kind, func.coalesce(func.sum(Account.balance), 0))
            .where(Account.currency == currency)
            .group_by(Account.kind)
        ).all()
    )
    since = month_start(today, timezone)
    moved = dict(
        session.execute(
            select(Transfer.kind, func.coalesce(func.sum(Transfer.amount), 0))
            .where(
                Transfer.kind.in_([TransferKind.CONSUME, TransferKind.REFUND]),
                Transfer.currency == currency,
                Transfer.created_at >= since,
            )
            .group_by(Transfer.kind)
        ).all()
    )
    return Totals(
        partners=int(by_kind.get(AccountKind.PARTNER_CASH, 0)),
        held=int(by_kind.get(AccountKind.PARTNER_HOLD, 0)),
        customers=int(by_kind.get(AccountKind.CUSTOMER_ALLOCATED, 0))
        + int(by_kind.get(AccountKind.CUSTOMER_CASH, 0)),
        consumed=int(moved.get(TransferKind.CONSUME, 0)),
        refunded=int(moved.get(TransferKind.REFUND, 0)),
        month_start=today.replace(day=1),
    )


# -- one partner ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryRow:
    entry: Entry
    transfer: Transfer
    account_kind: AccountKind
    """The partner's balance (PARTNER_CASH) or its held money (PARTNER_HOLD)."""
    counterparty: Organisation | None


def partner_entries(
    session: Session, partner_id: str, currency: str, limit: int = RECENT_ENTRIES
) -> list[EntryRow]:
    """The latest movements of the partner's balance and held money, newest first.

    Read from the entries rather than the transfers, so a reseller sees the allocations its
    distributor made to it, which are recorded under the distributor.
    """
    found = session.execute(
        select(Entry, Transfer, Account.kind)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .join(Account, Account.id == Entry.account_id)
        .where(
            Account.organisation_id == partner_id,
            Account.kind.in_([AccountKind.PARTNER_CASH, AccountKind.PARTNER_HOLD]),
            Account.currency == currency,
        )
        .order_by(Entry.created_at.desc(), Entry.id.desc())
        .limit(limit)
    ).all()
    others = names_of(
        session,
        [
            transfer.counterparty_id
            if transfer.organisation_id == partner_id
            else transfer.organisation_id
            for _, transfer, _ in found
        ],
    )

    def other(transfer: Transfer) -> Organisation | None:
        other_id = (
            transfer.counterparty_id
            if transfer.organisation_id == partner_id
            else transfer.organisation_id
        )
        return others.get(other_id or "")

    return [
        EntryRow(entry, transfer, kind, other(transfer))
        for entry, transfer, kind in found
    ]


@dataclass(frozen=True, slots=True)
class Correctable:
    transfer: Transfer
    left: int
    """What a correction may still take back."""


def correctable_topups(
    session: Session, partner_id: str, currency: str, limit: int = CORRECTABLE_TOPUPS
) -> list[Correctable]:
    """The partner's latest top-ups, with what corrections have not yet taken back."""
    return _correctable(
        session,
        TransferKind.TOPUP,
        partner_id=partner_id,
        currency=currency,
        limit=limit,
    )


def correctable(session: Session, transfer_id: str) -> Correctable | None:
    found = _correctable(session, None, transfer_id=transfer_id)
    return found[0] if found else None


def _correctable(
    session: Session,
    kind: TransferKind | None,
    *,
    partner_id: str | None = None,
    transfer_id: str | None = None,
    currency: str | None = None,
    limit: int = 1,
) -> list[Correctable]:
    corrected = (
        select(
            Transfer.original_id.label("original_id"),
            func.sum(Transfer.amount).label("done"),
        )
        .where(Transfer.kind == TransferKind.CORRECTION)
        .group_by(Transfer.original_id)
        .subquery()
    )
    statement = select(Transfer, func.coalesce(corrected.c.done, 0)).outerjoin(
        corrected, corrected.c.original_id == Transfer.id
    )
    if kind is not None:
        statement = statement.where(Transfer.kind == kind)
    if partner_id is not None:
        statement = statement.where(Transfer.organisation_id == partner_id)
    if transfer_id is not None:
        statement = statement.where(Transfer.id == transfer_id)
    if currency is not None:
        statement = statement.where(Transfer.currency == currency)
    found = session.execute(
        statement.order_by(Transfer.created_at.desc(), Transfer.id.desc()).limit(limit)
    ).all()
    return [
        Correctable(transfer, transfer.amount - int(done)) for transfer, done in found
    ]


def recorded_reference(
    session: Session, kind: TransferKind, reference: str
) -> Transfer | None:
    """The transfer that already carries this remittance reference, if any."""
    return session.scalar(
        select(Transfer).where(
            Transfer.kind == kind, Transfer.external_ref == reference
        )
    )


# -- customers ------------------------------------------------------------------------------


def find_customer(session: Session, identifier: str) -> Organisation | None:
    """A customer by its organisation id or its account name."""
    wanted = identifier.strip()
    if not wanted:
        return None
    return session.scalar(
        select(Organisation).where(
            Organisation.kind == OrganisationKind.CUSTOMER,
            or_(
                Organisation.id == wanted,
                func.lower(Organisation.account_name) == wanted.lower(),
            ),
        )
    )


@dataclass(frozen=True, slots=True)
class TransferRow:
    transfer: Transfer
    customer: Organisation | None


def recent_recharges(
    session: Session, currency: str, limit: int = RECENT_RECHARGES
) -> list[TransferRow]:
    found = session.scalars(
        select(Transfer)
        .where(Transfer.kind == TransferKind.RECHARGE, Transfer.currency == currency)
        .order_by(Transfer.created_at.desc(), Transfer.id.desc())
        .limit(limit)
    ).all()
    names = names_of(session, [t.organisation_id for t in found])
    return [TransferRow(t, names.get(t.organisation_id or "")) for t in found]


# -- consumption ----------------------------------------------------------------------------

CHARGE_KINDS = {"consume": TransferKind.CONSUME, "refund": TransferKind.REFUND}


@dataclass(frozen=True, slots=True)
class ChargeFilter:
    kind: str = ""
    """``consume``, ``refund``, or empty for both."""
    search: str = ""
    """A charge id, or a customer's id, account name or name."""
    since: dt.date | None = None
    until: dt.date | None = None
    offset: int = 0
    limit: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class ChargeRow:
    line: UsageLine
    """The charge as billing sent it, with how it was paid (vouchers, then cash)."""
    customer: Organisation | None


@dataclass(frozen=True, slots=True)
class ChargePage:
    rows: list[ChargeRow]
    total: int
    amount: int
    """Charges less refunds over every row found, not only this page."""
    cash: int
    """The part of ``amount`` that moved money in the ledger; the rest vouchers paid."""


def charges(
    session: Session, currency: str, timezone: str, filters: ChargeFilter
) -> ChargePage:
    """Every charge and refund posted, newest first, from the usage lines: a charge that
    vouchers paid in full is listed too, though it moved no cash and has no transfer."""
    kinds = (
        [CHARGE_KINDS[filters.kind]]
        if filters.kind in CHARGE_KINDS
        else list(CHARGE_KINDS.values())
    )
    statement = (
        select(UsageLine, Organisation)
        .outerjoin(Organisation, Organisation.id == UsageLine.customer_id)
        .where(UsageLine.kind.in_(kinds), UsageLine.currency == currency)
    )
    if filters.search.strip():
        wanted = filters.search.strip()
        pattern = _pattern(wanted)
        statement = statement.where(
            or_(
                UsageLine.charge_id == wanted,
                UsageLine.transfer_id == wanted,
                UsageLine.customer_id == wanted,
                func.lower(Organisation.account_name).like(pattern),
                func.lower(Organisation.display_name).like(pattern),
            )
        )
    if filters.since:
        statement = statement.where(
            UsageLine.created_at >= _local_midnight(filters.since, timezone)
        )
    if filters.until:
        statement = statement.where(
            UsageLine.created_at
            < _local_midnight(filters.until + dt.timedelta(days=1), timezone)
        )
    total = _count(session, statement)
    sums = statement.with_only_columns(
        UsageLine.kind,
        func.coalesce(func.sum(UsageLine.amount), 0),
        func.coalesce(func.sum(UsageLine.cash_amount), 0),
    ).group_by(UsageLine.kind)
    by_kind = {
        kind: (int(amount), int(cash)) for kind, amount, cash in session.execute(sums)
    }
    found = session.execute(
        statement.order_by(UsageLine.created_at.desc(), UsageLine.id.desc())
        .offset(max(filters.offset, 0))
        .limit(filters.limit)
    ).all()
    charged = by_kind.get(TransferKind.CONSUME, (0, 0))
    refunded = by_kind.get(TransferKind.REFUND, (0, 0))
    return ChargePage(
        [ChargeRow(line, customer) for line, customer in found],
        total,
        charged[0] - refunded[0],
        charged[1] - refunded[1],
    )


def _local_midnight(day: dt.date, timezone: str) -> dt.datetime:
    noon = dt.datetime.combine(day, dt.time(12), ZoneInfo(timezone))
    return start_of_local_day(noon, timezone)


# -- withdrawals ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WithdrawalRow:
    withdrawal: Withdrawal
    partner: Organisation


@dataclass(frozen=True, slots=True)
class WithdrawalPage:
    rows: list[WithdrawalRow]
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    """How many withdrawals each status has, for the filter."""


def withdrawal_queue(
    session: Session,
    status: WithdrawalStatus | None,
    *,
    partner_id: str | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> WithdrawalPage:
    """Withdrawals in the order finance works on them.

    Waiting ones oldest first, approved ones by the day they must be paid, the rest
    newest first.
    """
    statement = select(Withdrawal, Organisation).join(
        Organisation, Organisation.id == Withdrawal.organisation_id
    )
    if partner_id:
        statement = statement.where(Withdrawal.organisation_id == partner_id)
    counts = {
        str(found_status): number
        for found_status, number in session.execute(
            statement.with_only_columns(Withdrawal.status, func.count()).group_by(
                Withdrawal.status
            )
        )
    }
    if status is not None:
        statement = statement.where(Withdrawal.status == status)
    order: list[Any]
    if status is WithdrawalStatus.PENDING:
        order = [Withdrawal.requested_at, Withdrawal.id]
    elif status is WithdrawalStatus.APPROVED:
        order = [Withdrawal.pay_by, Withdrawal.requested_at, Withdrawal.id]
    else:
        order = [Withdrawal.requested_at.desc(), Withdrawal.id]
    found = session.execute(
        statement.order_by(*order).offset(max(offset, 0)).limit(limit)
    ).all()
    return WithdrawalPage(
        [WithdrawalRow(w, partner) for w, partner in found],
        sum(counts.values()) if status is None else counts.get(str(status), 0),
        counts,
    )


def own_withdrawal_count(session: Session, partner_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Withdrawal)
            .where(Withdrawal.organisation_id == partner_id)
        )
        or 0
    )


def is_overdue(withdrawal: Withdrawal, today: dt.date) -> bool:
    """Approved and not paid by its pay-by day."""
    return (
        withdrawal.status is WithdrawalStatus.APPROVED
        and withdrawal.pay_by is not None
        and withdrawal.pay_by < today
    )
