"""Reading the ledger: a partner's adjust records (调账记录), an account's statement (收支明细),
its balance day by day, past batches, and the rows behind their CSV exports.

Every function reads the records of the organisation (or account, or batch) it is given and
nothing else; the caller has already decided that the reader may see them. Each page is one
query plus one count, both starting from an index that leads with the organisation or
account and the time (``ix_ledger_transfers_org_time``, ``ix_ledger_transfers_counterparty``,
``ix_ledger_entries_account_time``), so a page stays cheap however long the history is;
the count reads at most :data:`COUNT_WINDOW` rows past the page (a whole statement is
counted by its account's ``entry_count``). Exports walk the same order with a keyset (the
last row's time and key) instead of an offset, so the thousandth page costs what the first
one does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationStatus,
)
from partnercenter.identity.models import Organisation, PartnerType, User
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Batch,
    BatchItem,
    BatchItemStatus,
    Entry,
    Transfer,
    TransferKind,
)
from partnercenter.ledger.service import (
    DEFAULT_CURRENCY,
    CustomerBalances,
    PartnerBalances,
)

PAGE_SIZE = 50
MAX_PAGE = 500
EXPORT_PAGE = 1000
"""Rows fetched per query while an export streams."""
COUNT_WINDOW = 10_000
"""How far past the page a count reads: counting a million matching rows would cost far
more than the page itself, so a count stops there and the page says "more than"."""

ADJUST_KINDS: tuple[TransferKind, ...] = (
    TransferKind.ALLOCATE,
    TransferKind.RECLAIM,
    TransferKind.UNBIND_RECLAIM,
    TransferKind.INDIRECT_ALLOCATE,
    TransferKind.INDIRECT_RECLAIM,
)
"""Transfers between a partner's balance and its customers or resellers."""
INDIRECT_KINDS = frozenset(
    {TransferKind.INDIRECT_ALLOCATE, TransferKind.INDIRECT_RECLAIM}
)
_INCOMING = frozenset(
    {TransferKind.RECLAIM, TransferKind.UNBIND_RECLAIM, TransferKind.INDIRECT_RECLAIM}
)
"""Kinds that bring money back to the partner that made them."""

Direction = Literal["in", "out"]
Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Found(Generic[Row]):
    """One page of rows and how many match in all."""

    rows: list[Row]
    total: int
    """How many rows match; a lower bound when not :attr:`exact`."""
    offset: int
    limit: int
    exact: bool = True
    """False when more than :attr:`total` rows match (see :data:`COUNT_WINDOW`)."""


def _limit(limit: int) -> int:
    return min(max(limit, 1), MAX_PAGE)


def _capped(statement: Select[Any], cap: int) -> ColumnElement[int]:
    """The number of rows of ``statement``, but at most ``cap``: the count stops reading
    the index there."""
    return (
        select(func.count())
        .select_from(statement.limit(cap).subquery())
        .scalar_subquery()
    )


def _bounded_total(counts: Sequence[int], cap: int) -> tuple[int, bool]:
    if all(count < cap for count in counts):
        return sum(counts), True
    return cap - 1, False


# -- adjust records ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdjustRecord:
    transfer_id: str
    created_at: dt.datetime
    kind: TransferKind
    counterparty_id: str | None
    """The other side as the reader sees it: the customer, the reseller, or (for a
    reseller reading what its distributor did) the distributor."""
    counterparty_name: str | None
    amount: int
    """Always positive; :attr:`incoming` tells the direction."""
    currency: str
    reason: str | None
    actor_name: str | None
    actor_credential_id: int | None
    incoming: bool
    """Whether the money came into the reader's balance."""
    own: bool
    """Whether the reader made the transfer (False: its distributor did)."""

    @property
    def signed_amount(self) -> int:
        return self.amount if self.incoming else -self.amount


@dataclass(frozen=True, slots=True)
class AdjustFilter:
    customer_id: str | None = None
    kinds: Collection[TransferKind] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    """Exclusive."""
    transfer_id: str | None = None


def _adjust_branches(
    partner_id: str,
    filters: AdjustFilter,
    after: tuple[dt.datetime, str] | None = None,
) -> list[ColumnElement[bool]]:
    """The partner's own adjust transfers, and the indirect ones where it is the reseller.

    Two conditions rather than one OR, so that each is answered from its own index in time
    order and a page never sorts the whole history.
    """
    wanted = [
        kind for kind in ADJUST_KINDS if filters.kinds is None or kind in filters.kinds
    ]
    common: list[ColumnElement[bool]] = []
    if filters.since is not None:
        common.append(Transfer.created_at >= filters.since)
    if filters.until is not None:
        common.append(Transfer.created_at < filters.until)
    if filters.transfer_id:
        common.append(Transfer.id == filters.transfer_id)
    if after is not None:
        at, key = after
        common += [
            Transfer.created_at <= at,
            or_(Transfer.created_at < at, Transfer.id < key),
        ]
    branches: list[ColumnElement[bool]] = []
    if wanted:
        own = [
            Transfer.organisation_id == partner_id,
            Transfer.kind.in_(wanted),
            *common,
        ]
        if filters.customer_id:
            own.append(Transfer.counterparty_id == filters.customer_id)
        branches.append(and_(*own))
    indirect = [kind for kind in wanted if kind in INDIRECT_KINDS]
    if indirect:
        received = [
            Transfer.counterparty_id == partner_id,
            Transfer.kind.in_(indirect),
            *common,
        ]
        if filters.customer_id:
            received.append(Transfer.organisation_id == filters.customer_id)
        branches.append(and_(*received))
    return branches


_ADJUST_COLUMNS = (
    Transfer.id,
    Transfer.created_at,
    Transfer.kind,
    Transfer.organisation_id,
    Transfer.counterparty_id,
    Transfer.amount,
    Transfer.currency,
    Transfer.reason,
    Transfer.actor_user_id,
    Transfer.actor_credential_id,
)


def _adjust_select(
    partner_id: str, branches: list[ColumnElement[bool]], window: int
) -> Select[Any]:
    """Each branch's newest ``window`` rows, merged, with the names of the other side and
    of the actor; the caller applies the offset and limit within the window."""
    newest_first = (Transfer.created_at.desc(), Transfer.id.desc())
    parts = [
        select(*_ADJUST_COLUMNS)
        .where(condition)
        .order_by(*newest_first)
        .limit(window)
        .subquery()
        for condition in branches
    ]
    inner = (
        parts[0]
        if len(parts) == 1
        else union_all(*(select(part) for part in parts)).subquery()
    )
    other = aliased(Organisation)
    party = case(
        (inner.c.organisation_id == partner_id, inner.c.counterparty_id),
        else_=inner.c.organisation_id,
    )
    return (
        select(
            inner,
            party.label("party_id"),
            other.display_name.label("party_name"),
            User.display_name.label("actor_name"),
        )
        .outerjoin(other, other.id == party)
        .outerjoin(User, User.id == inner.c.actor_user_id)
        .order_by(inner.c.created_at.desc(), inner.c.id.desc())
    )


def _adjust_record(partner_id: str, row: Any) -> AdjustRecord:
    kind = TransferKind(row.kind)
    mine = row.organisation_id == partner_id
    return AdjustRecord(
        transfer_id=row.id,
        created_at=row.created_at,
        kind=kind,
        counterparty_id=row.party_id,
        counterparty_name=row.party_name,
        amount=row.amount,
        currency=row.currency,
        reason=row.reason,
        actor_name=row.actor_name,
        actor_credential_id=row.actor_credential_id,
        incoming=(kind in _INCOMING) == mine,
        own=mine,
    )


def adjust_records(
    session: Session,
    partner_id: str,
    *,
    customer_id: str | None = None,
    kinds: Collection[TransferKind] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    transfer_id: str | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> Found[AdjustRecord]:
    """调账记录: allocations and reclaims between the partner and its customers or
    resellers, newest first. ``until`` is exclusive."""
    filters = AdjustFilter(customer_id, kinds, since, until, transfer_id)
    offset, limit = max(offset, 0), _limit(limit)
    branches = _adjust_branches(partner_id, filters)
    if not branches:
        return Found([], 0, offset, limit)
    rows = session.execute(
        _adjust_select(partner_id, branches, offset + limit).offset(offset).limit(limit)
    ).all()
    cap = offset + limit + COUNT_WINDOW + 1
    counts = session.execute(
        select(
            *(
                _capped(select(Transfer.id).where(branch), cap).label(f"branch_{n}")
                for n, branch in enumerate(branches)
            )
        )
    ).one()
    total, exact = _bounded_total([int(count or 0) for count in counts], cap)
    return Found(
        [_adjust_record(partner_id, row) for row in rows],
        total,
        offset,
        limit,
        exact,
    )


def iter_adjust_records(
    session: Session,
    partner_id: str,
    *,
    customer_id: str | None = None,
    kinds: Collection[TransferKind] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    transfer_id: str | None = None,
    page: int = EXPORT_PAGE,
) -> Iterator[AdjustRecord]:
    """Every matching adjust record, newest first, fetched ``page`` rows at a time."""
    filters = AdjustFilter(customer_id, kinds, since, until, transfer_id)
    after: tuple[dt.datetime, str] | None = None
    while True:
        branches = _adjust_branches(partner_id, filters, after)
        if not branches:
            return
        rows = session.execute(
            _adjust_select(partner_id, branches, page).limit(page)
        ).all()
        for row in rows:
            yield _adjust_record(partner_id, row)
        if len(rows) < page:
            return
        after = (rows[-1].created_at, rows[-1].id)


# -- statements -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementLine:
    entry_id: int
    seq: int
    created_at: dt.datetime
    transfer_id: str
    kind: TransferKind
    amount: int
    """Signed: positive when money came in."""
    balance_after: int
    currency: str
    counterparty_id: str | None
    """The other organisation of the transfer, if any (none for top-ups and charges)."""
    counterparty_name: str | None
    reason: str | None
    organisation_id: str | None
    """Whose records the transfer belongs to: the account's owner, or (for a customer's
    allocations, a reseller's funding) the partner that made it."""


@dataclass(frozen=True, slots=True)
class StatementFilter:
    kinds: Collection[TransferKind] | None = None
    direction: Direction | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _account_key(
    organisation_id: str, account_kind: AccountKind, currency: str
) -> ColumnElement[int]:
    return (
        select(Account.id)
        .where(
            Account.organisation_id == organisation_id,
            Account.kind == account_kind,
            Account.currency == currency,
        )
        .scalar_subquery()
    )


def _statement_conditions(
    account: ColumnElement[int],
    filters: StatementFilter,
    after: tuple[dt.datetime, int] | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Entry.account_id == account]
    if filters.since is not None:
        conditions.append(Entry.created_at >= filters.since)
    if filters.until is not None:
        conditions.append(Entry.created_at < filters.until)
    if filters.direction == "in":
        conditions.append(Entry.amount > 0)
    elif filters.direction == "out":
        conditions.append(Entry.amount < 0)
    if filters.kinds is not None:
        conditions.append(Transfer.kind.in_(list(filters.kinds)))
    if after is not None:
        at, seq = after
        conditions += [
            Entry.created_at <= at,
            or_(Entry.created_at < at, Entry.seq < seq),
        ]
    return conditions


def _statement_select(
    owner_id: str, conditions: list[ColumnElement[bool]]
) -> Select[Any]:
    other = aliased(Organisation)
    party = case(
        (
            and_(
                Transfer.counterparty_id.is_not(None),
                Transfer.counterparty_id != owner_id,
            ),
            Transfer.counterparty_id,
        ),
        (Transfer.organisation_id != owner_id, Transfer.organisation_id),
        else_=null(),
    )
    return (
        select(
            Entry.id,
            Entry.seq,
            Entry.created_at,
            Entry.transfer_id,
            Transfer.kind,
            Entry.amount,
            Entry.balance_after,
            Transfer.currency,
            party.label("party_id"),
            other.display_name.label("party_name"),
            Transfer.reason,
            Transfer.organisation_id,
        )
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .outerjoin(other, other.id == party)
        .where(*conditions)
        .order_by(Entry.created_at.desc(), Entry.seq.desc())
    )


def _statement_line(row: Any) -> StatementLine:
    return StatementLine(
        entry_id=row.id,
        seq=row.seq,
        created_at=row.created_at,
        transfer_id=row.transfer_id,
        kind=TransferKind(row.kind),
        amount=row.amount,
        balance_after=row.balance_after,
        currency=row.currency,
        counterparty_id=row.party_id,
        counterparty_name=row.party_name,
        reason=row.reason,
        organisation_id=row.organisation_id,
    )


def statement(
    session: Session,
    organisation_id: str,
    account_kind: AccountKind,
    *,
    kinds: Collection[TransferKind] | None = None,
    direction: Direction | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    currency: str = DEFAULT_CURRENCY,
) -> Found[StatementLine]:
    """收支明细: the entries of one account of the organisation, newest first."""
    filters = StatementFilter(kinds, direction, since, until)
    offset, limit = max(offset, 0), _limit(limit)
    account = _account_key(organisation_id, account_kind, currency)
    conditions = _statement_conditions(account, filters)
    rows = session.execute(
        _statement_select(organisation_id, conditions).offset(offset).limit(limit)
    ).all()
    lines = [_statement_line(row) for row in rows]
    if filters == StatementFilter():
        # The whole statement: the account keeps the number of its entries.
        count = session.scalar(
            select(Account.entry_count).where(
                Account.organisation_id == organisation_id,
                Account.kind == account_kind,
                Account.currency == currency,
            )
        )
        return Found(lines, int(count or 0), offset, limit)
    cap = offset + limit + COUNT_WINDOW + 1
    matching = select(Entry.id).where(*conditions)
    if kinds is not None:
        matching = matching.join(Transfer, Transfer.id == Entry.transfer_id)
    total, exact = _bounded_total(
        [int(session.scalar(select(_capped(matching, cap))) or 0)], cap
    )
    return Found(lines, total, offset, limit, exact)


def iter_statement(
    session: Session,
    organisation_id: str,
    account_kind: AccountKind,
    *,
    kinds: Collection[TransferKind] | None = None,
    direction: Direction | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    currency: str = DEFAULT_CURRENCY,
    page: int = EXPORT_PAGE,
) -> Iterator[StatementLine]:
    """Every matching entry, newest first, fetched ``page`` rows at a time."""
    filters = StatementFilter(kinds, direction, since, until)
    account = _account_key(organisation_id, account_kind, currency)
    after: tuple[dt.datetime, int] | None = None
    while True:
        conditions = _statement_conditions(account, filters, after)
        rows = session.execute(
            _statement_select(organisation_id, conditions).limit(page)
        ).all()
        for row in rows:
            yield _statement_line(row)
        if len(rows) < page:
            return
        after = (rows[-1].created_at, rows[-1].seq)


def balance_series(
    session: Session,
    account_id: int | None,
    *,
    days: int = 30,
    today: dt.date,
    timezone: str,
) -> list[tuple[dt.date, int]]:
    """The closing balance of each of the last ``days`` days up to ``today``, dates in
    ``timezone``.

    A day's closing balance is the balance after the last entry made before the day ended,
    which also carries the balance over days without entries. One statement asks the index
    once per day (newest entry before each midnight), so the cost does not grow with the
    number of entries in the window.
    """
    dates = [today - dt.timedelta(days=days - 1 - n) for n in range(days)]
    if account_id is None or not dates:
        return [(day, 0) for day in dates]
    zone = ZoneInfo(timezone)
    probes = [
        select(Entry.balance_after)
        .where(
            Entry.account_id == account_id,
            Entry.created_at
            < dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone),
        )
        .order_by(Entry.created_at.desc(), Entry.seq.desc())
        .limit(1)
        .scalar_subquery()
        .label(f"day_{n}")
        for n, day in enumerate(dates)
    ]
    closing = session.execute(select(*probes)).one()
    return [(day, int(value or 0)) for day, value in zip(dates, closing, strict=True)]


# -- batches ----------------------------------------------------------------------------


def batches_of(
    session: Session, organisation_id: str, *, offset: int = 0, limit: int = 25
) -> Found[Batch]:
    """The organisation's batches, newest first."""
    offset, limit = max(offset, 0), _limit(limit)
    rows = session.scalars(
        select(Batch)
        .where(Batch.organisation_id == organisation_id)
        .order_by(Batch.created_at.desc(), Batch.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    total = session.scalar(
        select(func.count())
        .select_from(Batch)
        .where(Batch.organisation_id == organisation_id)
    )
    return Found(list(rows), int(total or 0), offset, limit)


@dataclass(frozen=True, slots=True)
class BatchLine:
    position: int
    customer_id: str
    customer_name: str | None
    amount: int
    status: BatchItemStatus
    transfer_id: str | None
    error_code: str | None


def _batch_select(
    batch_id: str, status: BatchItemStatus | None
) -> Select[BatchItem, str]:
    statement = (
        select(BatchItem, Organisation.display_name)
        .outerjoin(Organisation, Organisation.id == BatchItem.customer_id)
        .where(BatchItem.batch_id == batch_id)
        .order_by(BatchItem.position)
    )
    if status is not None:
        statement = statement.where(BatchItem.status == status)
    return statement


def _batch_line(item: BatchItem, name: str | None) -> BatchLine:
    return BatchLine(
        position=item.position,
        customer_id=item.customer_id,
        customer_name=name,
        amount=item.amount,
        status=item.status,
        transfer_id=item.transfer_id,
        error_code=item.error_code,
    )


def batch_lines(
    session: Session,
    batch: Batch,
    *,
    status: BatchItemStatus | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> Found[BatchLine]:
    """The batch's items in input order, with the customers' names. The total comes from
    the batch's own counters, so the list needs no count."""
    offset, limit = max(offset, 0), _limit(limit)
    rows = session.execute(
        _batch_select(batch.id, status).offset(offset).limit(limit)
    ).all()
    totals = {
        None: batch.item_count,
        BatchItemStatus.DONE: batch.done_count,
        BatchItemStatus.REFUSED: batch.refused_count,
        BatchItemStatus.PENDING: batch.item_count
        - batch.done_count
        - batch.refused_count,
    }
    return Found(
        [_batch_line(item, name) for item, name in rows],
        totals[status],
        offset,
        limit,
    )


def iter_batch_lines(
    session: Session, batch_id: str, *, page: int = EXPORT_PAGE
) -> Iterator[BatchLine]:
    after = -1
    while True:
        rows = session.execute(
            _batch_select(batch_id, None).where(BatchItem.position > after).limit(page)
        ).all()
        for item, name in rows:
            yield _batch_line(item, name)
        if len(rows) < page:
            return
        after = rows[-1][0].position


# -- CSV --------------------------------------------------------------------------------


def csv_stream(
    header: Sequence[str],
    rows: Iterable[Row],
    cells: Callable[[Row], Sequence[str]],
    *,
    chunk: int = EXPORT_PAGE,
) -> Iterator[str]:
    """CSV text in pieces of ``chunk`` rows, the header first, for a streaming response.

    The first piece starts with a byte order mark, which is what makes Excel read the file
    as UTF-8 (Chinese included).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(cells(row))
        pending += 1
        if pending >= chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


# -- a distributor's resellers ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResellerBalance:
    reseller_id: str
    name: str
    account_name: str
    balances: PartnerBalances


def reseller_balances(
    session: Session,
    distributor_id: str,
    *,
    currency: str = DEFAULT_CURRENCY,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> Found[ResellerBalance]:
    """The distributor's resellers by name, each with its balance (0 before its first
    transfer, when it has no account yet)."""
    offset, limit = max(offset, 0), _limit(limit)
    mine = and_(
        Organisation.parent_id == distributor_id,
        Organisation.partner_type == PartnerType.RESELLER,
    )
    rows = session.execute(
        select(
            Organisation.id,
            Organisation.display_name,
            Organisation.account_name,
            Account.balance,
            Account.credit_limit,
            Account.designated,
        )
        .outerjoin(
            Account,
            and_(
                Account.organisation_id == Organisation.id,
                Account.kind == AccountKind.PARTNER_CASH,
                Account.currency == currency,
            ),
        )
        .where(mine)
        .order_by(Organisation.display_name, Organisation.id)
        .offset(offset)
        .limit(limit)
    ).all()
    total = session.scalar(select(func.count()).select_from(Organisation).where(mine))
    return Found(
        [
            ResellerBalance(
                row.id,
                row.display_name,
                row.account_name,
                PartnerBalances(
                    currency=currency,
                    cash=row.balance or 0,
                    credit_limit=row.credit_limit or 0,
                    designated=row.designated or 0,
                    held=0,
                ),
            )
            for row in rows
        ],
        int(total or 0),
        offset,
        limit,
    )


def resellers(
    session: Session,
    distributor_id: str,
    *,
    account_name: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    reseller_id: str | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> Found[Organisation]:
    """The distributor's resellers, oldest first: by a part of the account name, by when
    they joined (``until`` exclusive), or one of them by id."""
    offset, limit = max(offset, 0), _limit(limit)
    conditions: list[ColumnElement[bool]] = [
        Organisation.parent_id == distributor_id,
        Organisation.partner_type == PartnerType.RESELLER,
    ]
    if account_name:
        conditions.append(
            func.lower(Organisation.account_name).contains(
                account_name.lower(), autoescape=True
            )
        )
    if since is not None:
        conditions.append(Organisation.created_at >= since)
    if until is not None:
        conditions.append(Organisation.created_at < until)
    if reseller_id:
        conditions.append(Organisation.id == reseller_id)
    rows = session.scalars(
        select(Organisation)
        .where(*conditions)
        .order_by(Organisation.created_at, Organisation.id)
        .offset(offset)
        .limit(limit)
    ).all()
    total = session.scalar(
        select(func.count()).select_from(Organisation).where(*conditions)
    )
    return Found(list(rows), int(total or 0), offset, limit)


def resale_customer_balances(
    session: Session,
    partner_id: str,
    customer_ids: Sequence[str],
    *,
    currency: str = DEFAULT_CURRENCY,
) -> dict[str, CustomerBalances]:
    """The balances of those of ``customer_ids`` that are the partner's resale customers
    now; the others are left out."""
    ids = sorted(set(customer_ids))
    resale = set(
        session.scalars(
            select(Association.customer_id).where(
                Association.organisation_id == partner_id,
                Association.status == AssociationStatus.ACTIVE,
                Association.mode == AssociationMode.RESALE,
                Association.customer_id.in_(ids),
            )
        )
    )
    allocated: dict[str, int] = {
        row.organisation_id: row.balance
        for row in session.execute(
            select(Account.organisation_id, Account.balance).where(
                Account.organisation_id.in_(resale),
                Account.kind == AccountKind.CUSTOMER_ALLOCATED,
                Account.currency == currency,
            )
        )
    }
    return {
        customer_id: CustomerBalances(
            currency=currency,
            allocated=allocated.get(customer_id, 0),
            cash=0,
            resale=True,
        )
        for customer_id in resale
    }
