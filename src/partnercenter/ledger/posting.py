"""The posting engine: the only code that writes entries and changes balances.

:func:`post` takes transfers already decided by the service (who pays whom, how much, under
which limit), locks the accounts involved in one fixed order (:data:`SIDE`), checks each limit
against the locked balances, and writes the transfers, their entries and the new balances
with set-based statements, so a batch of ten thousand costs a handful of statements, not
ten thousand.

The same rules exist once more as a PostgreSQL function for allocations and reclaims of one
customer at a time (``ledger_customer_transfers``, defined by the migrations, which takes a
list of such requests); both compute the entry hash with :func:`entry_hash`'s formula, and
``verify`` checks what either wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import psycopg
from psycopg import sql
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Table,
    any_,
    bindparam,
    case,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.types import TypeEngine

from partnercenter.core.actor import Actor
from partnercenter.core.db import pg_array
from partnercenter.ledger.models import (
    GENESIS_HASH,
    Account,
    AccountKind,
    Entry,
    Transfer,
    TransferKind,
)

ACCOUNTS = cast(Table, Account.__table__)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CHUNK = 1000
"""Rows per statement; bounded so that no statement grows past the drivers' limits."""
Row = tuple[object, ...]
"""One row's values, in the order of its table's column list below."""


class Limit(StrEnum):
    """How far the debit account may be drawn by a transfer."""

    ALLOCATABLE = "allocatable"
    """balance + credit line - designated (allocations, a distributor funding a reseller)."""
    UNSPENT = "unspent"
    """balance - designated, no credit (reclaims, withdrawals)."""
    CREDIT = "credit"
    """balance + credit line (corrections of a top-up)."""
    NONE = "none"
    """Any amount (vendor accounts, usage charges that put a customer into arrears)."""


def available(account: Account | AccountState, limit: Limit) -> int | None:
    """What ``limit`` lets ``account`` pay, or None when there is no limit."""
    if limit is Limit.ALLOCATABLE:
        return account.balance + account.credit_limit - account.designated
    if limit is Limit.UNSPENT:
        return account.balance - account.designated
    if limit is Limit.CREDIT:
        return account.balance + account.credit_limit
    return None


@dataclass(slots=True)
class AccountState:
    id: int
    balance: int
    credit_limit: int
    designated: int
    entry_count: int
    last_hash: str
    changed: bool = False


@dataclass(frozen=True, slots=True)
class Posting:
    transfer_id: str
    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    limit: Limit
    organisation_id: str | None = None
    counterparty_id: str | None = None
    external_ref: str | None = None
    original_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    transfer_id: str
    amount: int
    debit_balance_after: int
    credit_balance_after: int


class Shortfall(Exception):
    """A posting would draw its debit account past its limit."""

    def __init__(self, posting: Posting, available: int) -> None:
        super().__init__(posting.transfer_id)
        self.posting = posting
        self.available = available


def micros(at: dt.datetime) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def entry_hash(
    previous: str,
    *,
    account_id: int,
    seq: int,
    transfer_id: str,
    kind: str,
    amount: int,
    balance_after: int,
    at_micros: int,
) -> str:
    """The chain value of one entry. The PostgreSQL function builds the same text."""
    text = (
        f"{previous}|{account_id}|{seq}|{transfer_id}|{kind}|{amount}|"
        f"{balance_after}|{at_micros}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def among(
    session: Session,
    column: QueryableAttribute[Any],
    values: Sequence[object],
    element: type[TypeEngine[Any]],
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter.

    A list of a thousand parameters is planned generically after a few executions of a
    prepared statement and, without fresh statistics, compared value by value; an array
    parameter is always probed through the index. The array goes as one text literal
    (:func:`~partnercenter.core.db.pg_array`), cast in the statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(pg_array(values)).cast(ARRAY(element())))
    return column.in_(values)


def entries_of(transfer: Transfer) -> list[ColumnElement[bool]]:
    """The conditions that find ``transfer``'s entries: on its two accounts, at its time
    (which its entries carry), through the accounts' time index."""
    return [
        Entry.account_id.in_([transfer.debit_account_id, transfer.credit_account_id]),
        Entry.created_at == transfer.created_at,
        Entry.transfer_id == transfer.id,
    ]


SIDE = case(
    (Account.kind.in_([AccountKind.CUSTOMER_ALLOCATED, AccountKind.CUSTOMER_CASH]), 0),
    (Account.kind.in_([AccountKind.PARTNER_CASH, AccountKind.PARTNER_HOLD]), 1),
    else_=2,
)
"""The lock order of accounts: customers' first, then partners', then the vendor's.

Every writer takes account locks in this order, and by id within a side, so two transfers
never wait for each other in a circle; the PostgreSQL function takes a customer's account
before its partner's for the same reason. The partner's and the vendor's accounts are the
ones many transfers share, so taking them last also holds them for the shortest time.
"""


def lock_accounts(session: Session, ids: Sequence[int]) -> dict[int, AccountState]:
    """The accounts' current state, locked until the transaction ends, taken in the
    order of :data:`SIDE`."""
    wanted = sorted(set(ids))
    # An array parameter has no length limit: PostgreSQL locks them all in one statement.
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    step = max(len(wanted), 1) if on_postgresql else CHUNK
    if len(wanted) > step:
        # Locked a chunk at a time, so the chunks must follow the one order too.
        sides: list[tuple[int, int]] = []
        for start in range(0, len(wanted), CHUNK):
            sides.extend(
                (side, account_id)
                for account_id, side in session.execute(
                    select(Account.id, SIDE).where(
                        among(
                            session,
                            Account.id,
                            wanted[start : start + CHUNK],
                            BigInteger,
                        )
                    )
                )
            )
        wanted = [account_id for _, account_id in sorted(sides)]
    states: dict[int, AccountState] = {}
    for start in range(0, len(wanted), step):
        rows = session.execute(
            select(
                Account.id,
                Account.balance,
                Account.credit_limit,
                Account.designated,
                Account.entry_count,
                Account.last_hash,
            )
            .where(among(session, Account.id, wanted[start : start + step], BigInteger))
            .order_by(SIDE, Account.id)
            # FOR NO KEY UPDATE on PostgreSQL, as in the database function: it does not
            # wait for the key-share locks that foreign keys to the account take.
            .with_for_update(key_share=True)
        )
        for row in rows:
            states[row.id] = AccountState(*row)
    return states


def post(
    session: Session,
    actor: Actor,
    postings: Sequence[Posting],
    *,
    at: dt.datetime,
    skip_shortfalls: bool = False,
) -> list[Posted | Shortfall]:
    """Write ``postings`` in order; each sees the balances the ones before it left.

    A posting past its limit raises :class:`Shortfall` (and nothing is written), or, with
    ``skip_shortfalls``, is left out and reported in its place in the result.
    """
    states = lock_accounts(
        session,
        [p.debit_account_id for p in postings]
        + [p.credit_account_id for p in postings],
    )
    at_us = micros(at)
    actor_columns = (
        actor.user_id,
        actor.organisation_id or None,
        actor.credential_id,
        actor.request_id,
        at,
    )
    results: list[Posted | Shortfall] = []
    transfers: list[Row] = []
    entries: list[Row] = []
    for posting in postings:
        debit = states[posting.debit_account_id]
        credit = states[posting.credit_account_id]
        room = available(debit, posting.limit)
        if room is not None and posting.amount > room:
            shortfall = Shortfall(posting, max(room, 0))
            if not skip_shortfalls:
                raise shortfall
            results.append(shortfall)
            continue
        transfers.append(_transfer_row(posting, actor_columns))
        kind = posting.kind.value
        for state, amount in ((debit, -posting.amount), (credit, posting.amount)):
            state.balance += amount
            state.entry_count += 1
            state.last_hash = entry_hash(
                state.last_hash,
                account_id=state.id,
                seq=state.entry_count,
                transfer_id=posting.transfer_id,
                kind=kind,
                amount=amount,
                balance_after=state.balance,
                at_micros=at_us,
            )
            state.changed = True
            entries.append(
                (
                    posting.transfer_id,
                    state.id,
                    state.entry_count,
                    amount,
                    state.balance,
                    at,
                    state.last_hash,
                )
            )
        results.append(
            Posted(posting.transfer_id, posting.amount, debit.balance, credit.balance)
        )
    _write(session, transfers, entries, [s for s in states.values() if s.changed], at)
    return results


def _transfer_row(posting: Posting, actor_columns: Row) -> Row:
    """A transfer's values in the order of :data:`TRANSFER_COLUMNS`."""
    return (
        posting.transfer_id,
        posting.kind.value,
        posting.debit_account_id,
        posting.credit_account_id,
        posting.amount,
        posting.currency,
        posting.organisation_id,
        posting.counterparty_id,
        posting.external_ref,
        posting.original_id,
        posting.reason,
        *actor_columns,
    )


def _write(
    session: Session,
    transfers: list[Row],
    entries: list[Row],
    changed: list[AccountState],
    at: dt.datetime,
) -> None:
    if not transfers:
        return
    # Core statements, not ORM objects: the ORM would track ten thousand instances.
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        _write_postgresql(session, transfers, entries, changed, at)
        forget_accounts(session)
        return
    for model, columns, rows in (
        (Transfer, TRANSFER_COLUMNS, transfers),
        (Entry, ENTRY_COLUMNS, entries),
    ):
        for start in range(0, len(rows), CHUNK):
            session.execute(
                insert(model),
                [
                    dict(zip(columns, row, strict=True))
                    for row in rows[start : start + CHUNK]
                ],
            )
    statement = (
        update(ACCOUNTS)
        .where(ACCOUNTS.c.id == bindparam("account_id"))
        .values(
            balance=bindparam("new_balance"),
            entry_count=bindparam("new_count"),
            last_hash=bindparam("new_hash"),
            updated_at=bindparam("at"),
        )
    )
    figures = [
        {
            "account_id": s.id,
            "new_balance": s.balance,
            "new_count": s.entry_count,
            "new_hash": s.last_hash,
            "at": at,
        }
        for s in changed
    ]
    for start in range(0, len(figures), CHUNK):
        session.connection().execute(statement, figures[start : start + CHUNK])
    forget_accounts(session)


TRANSFER_COLUMNS = (
    "id",
    "kind",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "currency",
    "organisation_id",
    "counterparty_id",
    "external_ref",
    "original_id",
    "reason",
    "actor_user_id",
    "actor_organisation_id",
    "actor_credential_id",
    "request_id",
    "created_at",
)
ENTRY_COLUMNS = (
    "transfer_id",
    "account_id",
    "seq",
    "amount",
    "balance_after",
    "created_at",
    "hash",
)
UPDATE_ACCOUNTS = text(
    "UPDATE ledger_accounts AS a SET balance = v.balance, entry_count = v.entry_count, "
    "last_hash = v.last_hash, updated_at = :at FROM unnest(CAST(:id AS bigint[]), "
    "CAST(:balance AS bigint[]), CAST(:entry_count AS bigint[]), "
    "CAST(:last_hash AS text[])) AS v(id, balance, entry_count, last_hash) WHERE a.id = v.id"
)


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Row]
) -> None:
    """``rows`` (values in the order of ``columns``; enums as their values) written into
    ``table`` with one ``COPY``, in the session's transaction.

    The fastest way into PostgreSQL: the rows stream in one message, each value encoded by
    the driver's C code, where array parameters are built element by element.
    """
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _write_postgresql(
    session: Session,
    transfers: list[Row],
    entries: list[Row],
    changed: list[AccountState],
    at: dt.datetime,
) -> None:
    connection = session.connection()
    copy_rows(session, "ledger_transfers", TRANSFER_COLUMNS, transfers)
    copy_rows(session, "ledger_entries", ENTRY_COLUMNS, entries)
    connection.execute(
        UPDATE_ACCOUNTS,
        {
            "id": pg_array([s.id for s in changed]),
            "balance": pg_array([s.balance for s in changed]),
            "entry_count": pg_array([s.entry_count for s in changed]),
            "last_hash": pg_array([s.last_hash for s in changed]),
            "at": at,
        },
    )


def forget_accounts(session: Session) -> None:
    """Accounts loaded as ORM objects earlier in this session must not show stale balances
    after a write that bypassed the ORM; other objects are left alone."""
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Account):
            session.expire(instance)


__all__ = [
    "GENESIS_HASH",
    "SIDE",
    "Limit",
    "Posted",
    "Posting",
    "Shortfall",
    "available",
    "entries_of",
    "entry_hash",
    "forget_accounts",
    "lock_accounts",
    "micros",
    "post",
]
