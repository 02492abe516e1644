"""Batch allocation (and reclaim): one request for up to 10,000 customers.

A batch is stored first, with one item per customer, and then run in chunks of a thousand,
each chunk its own transaction: the console shows the progress as chunks commit, and a
batch cut short by a restart is finished by the worker from where it stopped, never twice,
because only pending items are run and a chunk holds a lock on them until it commits (on
SQLite the batch's row lock; on PostgreSQL an advisory lock on its run of positions). On
PostgreSQL a chunk's items are read, posted, given their outcomes and counted on the batch
by one call of the database function ``ledger_batch_chunk``, and chunks whose order cannot
change an outcome run side by side (:func:`run`); elsewhere :func:`service.transfer_many`
posts them in Python, with the same rules.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.ids import new_id
from partnercenter.core.logging import get_logger
from partnercenter.core.money import to_decimal
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import posting, service
from partnercenter.ledger.errors import BatchTooLarge, NoSuchBatch
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Batch,
    BatchItem,
    BatchItemStatus,
    BatchStatus,
    TransferKind,
)

log = get_logger("partnercenter.ledger")

ITEMS = cast(Table, BatchItem.__table__)
ITEM_COLUMNS = ("batch_id", "position", "customer_id", "amount", "status")
MAX_ITEMS = 10_000
CHUNK = 1000
CUSTOMER_ID_LENGTH = 64


class ItemOutcome(NamedTuple):
    """What running an item decided, as stored on the item (a tuple: a batch makes ten
    thousand of them)."""

    position: int
    status: BatchItemStatus
    transfer_id: str | None
    error: str | None


ItemRow = tuple[int, str, int, BatchItemStatus, str | None, str | None]
"""An item as answered: position, customer id, amount, status, transfer id, error code."""


def stored_customer_id(customer_id: str) -> str:
    """The customer id as an item keeps it (an id that long names no customer anyway)."""
    return customer_id[:CUSTOMER_ID_LENGTH]


def create(
    session: Session,
    actor: Actor,
    *,
    kind: TransferKind,
    items: Sequence[tuple[str, int]],
    indirect_partner_id: str | None = None,
    reason: str | None = None,
    currency: str = service.DEFAULT_CURRENCY,
) -> Batch:
    """Store a batch to run; amounts the caller could not parse come as 0 and are refused
    item by item, like customers that are not the partner's."""
    identity.authorize(actor, Permission.FUNDS_TRANSFER)
    if kind not in {TransferKind.ALLOCATE, TransferKind.RECLAIM}:
        raise ValueError(f"not a batch kind: {kind}")
    if not 1 <= len(items) <= MAX_ITEMS:
        raise BatchTooLarge(limit=MAX_ITEMS)
    service.funding_partner(session, actor, indirect_partner_id)
    now = utc_now()
    batch = Batch(
        id=new_id(),
        organisation_id=actor.organisation_id,
        kind=kind,
        status=BatchStatus.PENDING,
        indirect_partner_id=indirect_partner_id or None,
        reason=reason or None,
        currency=currency,
        item_count=len(items),
        done_count=0,
        refused_count=0,
        done_amount=0,
        created_by_user_id=actor.user_id,
        created_by_credential_id=actor.credential_id,
        created_at=now,
    )
    session.add(batch)
    session.flush()
    pending = BatchItemStatus.PENDING.value
    rows = [
        (batch.id, position, stored_customer_id(customer_id), amount, pending)
        for position, (customer_id, amount) in enumerate(items)
    ]
    if session.get_bind().dialect.name == "postgresql":
        posting.copy_rows(session, "ledger_batch_items", ITEM_COLUMNS, rows)
    else:
        for start in range(0, len(rows), CHUNK):
            session.execute(
                ITEMS.insert(),
                [
                    dict(zip(ITEM_COLUMNS, row, strict=True))
                    for row in rows[start : start + CHUNK]
                ],
            )
    audit.record(
        session,
        actor,
        f"ledger.batch_{kind.value}_created",
        subject_type="ledger_batch",
        subject_id=batch.id,
        organisation_id=actor.organisation_id,
        after={
            "items": len(items),
            "amount": str(to_decimal(sum(a for _, a in items))),
        },
        reason=reason,
    )
    return batch


def get(session: Session, actor: Actor, batch_id: str) -> Batch:
    identity.authorize(actor, Permission.FUNDS_VIEW)
    batch = session.get(Batch, batch_id)
    if batch is None or batch.organisation_id != actor.organisation_id:
        raise NoSuchBatch()
    return batch


def _runner(session: Session, batch: Batch) -> Actor:
    """The batch's creator, as it was allowed to act when it created the batch."""
    organisation = session.get(Organisation, batch.organisation_id)
    assert organisation is not None
    return Actor(
        organisation_id=organisation.id,
        organisation_kind=organisation.public_kind,
        permissions=frozenset({Permission.FUNDS_TRANSFER, Permission.FUNDS_VIEW}),
        user_id=batch.created_by_user_id,
        credential_id=batch.created_by_credential_id,
    )


def run_chunk(
    session: Session, batch_id: str, ran: list[ItemOutcome] | None = None
) -> bool:
    """Run the next chunk of pending items; True while some remain.

    ``ran`` collects the outcomes of the items run, in order. Each chunk runs the pending
    items of lowest position, so every item up to the last one in ``ran`` has been run:
    the next chunk looks for pending items only after it.
    """
    after = ran[-1].position if ran else -1
    if session.get_bind().dialect.name == "postgresql":
        batch = session.get(Batch, batch_id, populate_existing=True)
        if batch is None or batch.status is BatchStatus.DONE:
            return False
        more = _run_chunk_in_database(
            session,
            plan_of(session, batch),
            after=after,
            upto=LAST_POSITION,
            partner_last=False,
            ran=ran,
        )
        # The function counted the chunk on the batch's row.
        session.expire(batch)
        return more
    # Locked until the chunk commits, so its counts are read and written by one runner.
    batch = session.scalar(
        select(Batch)
        .where(Batch.id == batch_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if batch is None or batch.status is BatchStatus.DONE:
        return False
    pending = session.execute(
        select(BatchItem.position, BatchItem.customer_id, BatchItem.amount)
        .where(
            BatchItem.batch_id == batch_id,
            BatchItem.position > after,
            BatchItem.status == BatchItemStatus.PENDING,
        )
        .order_by(BatchItem.position)
        .limit(CHUNK)
    ).all()
    if not pending:
        batch.status = BatchStatus.DONE
        batch.finished_at = utc_now()
        return False
    batch.status = BatchStatus.RUNNING
    results = service.transfer_many(
        session,
        _runner(session, batch),
        batch.kind,
        [(row.customer_id, row.amount) for row in pending],
        indirect_partner_id=batch.indirect_partner_id,
        reason=batch.reason,
        currency=batch.currency,
    )
    outcomes = [
        ItemOutcome(
            row.position,
            BatchItemStatus.DONE if result.transfer_id else BatchItemStatus.REFUSED,
            result.transfer_id,
            result.error,
        )
        for row, result in zip(pending, results, strict=True)
    ]
    _record_outcomes(session, batch_id, outcomes)
    if ran is not None:
        ran.extend(outcomes)
    done = [r for r in results if r.transfer_id]
    return _count_chunk(
        session,
        batch,
        done=len(done),
        refused=len(results) - len(done),
        amount=sum(r.amount for r in done),
    )


LAST_POSITION = 2**31 - 1
"""No item's position is above this: a chunk's bound when any position will do."""

RUN_CHUNK = text(
    "SELECT item_position, transfer_id, error_code, amount, batch_done "
    "FROM ledger_batch_chunk(:batch_id, :after, :upto, :limit, :kind, :funding, "
    ":currency, CAST(:transfer_ids AS text[]), :at, CAST(:reason AS text), "
    "CAST(:actor_user AS text), CAST(:actor_org AS text), CAST(:credential AS bigint), "
    "CAST(:request_id AS text), CAST(:max_amount AS bigint), :partner_last)"
)


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """What every chunk of a batch posts with: read once for a run of many chunks."""

    batch_id: str
    kind: TransferKind
    currency: str
    reason: str | None
    runner: Actor
    funding: str
    """The partner whose funds the batch moves (the reseller, for a distributor's)."""


def plan_of(session: Session, batch: Batch) -> ChunkPlan:
    runner = _runner(session, batch)
    service.require_partner(runner)
    return ChunkPlan(
        batch_id=batch.id,
        kind=batch.kind,
        currency=batch.currency,
        reason=batch.reason,
        runner=runner,
        funding=service.funding_partner(session, runner, batch.indirect_partner_id),
    )


def _run_chunk_in_database(
    session: Session,
    plan: ChunkPlan,
    *,
    after: int,
    upto: int,
    partner_last: bool,
    ran: list[ItemOutcome] | None,
) -> bool:
    """A chunk of the pending items after ``after`` and up to ``upto`` as one PostgreSQL
    call (migration 0019): the items read, posted as :func:`service.transfer_many` would,
    their outcomes written and counted on the batch. ``partner_last``: the partner's
    account is locked only at the end (see :func:`run`). True while items remain."""
    session.flush()
    rows = (
        session.connection()
        .execute(
            RUN_CHUNK,
            {
                "batch_id": plan.batch_id,
                "after": after,
                "upto": upto,
                "limit": CHUNK,
                "partner_last": partner_last,
                **service.database_posting(
                    plan.runner,
                    plan.kind,
                    plan.funding,
                    currency=plan.currency,
                    reason=plan.reason,
                    count=CHUNK,
                ),
            },
        )
        .all()
    )
    posting.forget_accounts(session)
    outcomes = [
        ItemOutcome(
            position,
            BatchItemStatus.REFUSED if error else BatchItemStatus.DONE,
            transfer_id,
            error,
        )
        for position, transfer_id, error, _, _ in rows
    ]
    if ran is not None:
        ran.extend(outcomes)
    return bool(rows) and not rows[-1].batch_done


def _count_chunk(
    session: Session, batch: Batch, *, done: int, refused: int, amount: int
) -> bool:
    """Add a chunk's outcomes to its (locked) batch's counts; True while items remain."""
    batch.done_count += done
    batch.refused_count += refused
    batch.done_amount += amount
    if batch.done_count + batch.refused_count >= batch.item_count:
        batch.status = BatchStatus.DONE
        batch.finished_at = utc_now()
    session.flush()
    return batch.status is not BatchStatus.DONE


def _record_outcomes(
    session: Session, batch_id: str, outcomes: list[ItemOutcome]
) -> None:
    """The Python path's outcomes, one UPDATE per item (PostgreSQL records them inside
    ``ledger_batch_chunk``)."""
    statement = (
        update(ITEMS)
        .where(
            ITEMS.c.batch_id == bindparam("b_batch"),
            ITEMS.c.position == bindparam("b_position"),
        )
        .values(
            status=bindparam("b_status"),
            transfer_id=bindparam("b_transfer"),
            error_code=bindparam("b_error"),
        )
    )
    session.connection().execute(
        statement,
        [
            {
                "b_batch": batch_id,
                "b_position": o.position,
                "b_status": o.status,
                "b_transfer": o.transfer_id,
                "b_error": o.error,
            }
            for o in outcomes
        ],
    )


def run(
    factory: sessionmaker[Session], batch_id: str, *, streams: int = 1
) -> list[ItemOutcome]:
    """Run a batch to its end, one committed transaction per chunk; the outcomes of the
    items this call ran (all of them unless another runner took some, or had already), in
    the order of their positions.

    With ``streams`` above one, on PostgreSQL, a batch whose outcomes cannot depend on the
    order its chunks run in runs that many chunks at a time, each on its own connection:
    allocations whose total the funding partner's funds cover as the batch starts, or
    reclaims from customers that appear once each. Any other batch, and every batch on
    SQLite, runs one chunk after another, in order.
    """
    side_by_side = None
    if streams > 1:
        with factory() as session:
            side_by_side = _order_free(session, batch_id)
    if side_by_side is not None:
        ran = _run_side_by_side(factory, *side_by_side, streams)
    else:
        ran = []
        while True:
            with factory() as session, session.begin():
                more = run_chunk(session, batch_id, ran)
            if not more:
                break
    log.info(
        "ledger.batch_done",
        batch_id=batch_id,
        streams=1 if side_by_side is None else streams,
    )
    return ran


def _order_free(session: Session, batch_id: str) -> tuple[ChunkPlan, int] | None:
    """The plan and number of runs of positions of a batch whose pending items would all
    have the outcomes they have whatever order its chunks ran in; None for any other
    batch, and on SQLite, which runs chunks one after another."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    batch = session.get(Batch, batch_id)
    if batch is None or batch.status is BatchStatus.DONE:
        return None
    plan = plan_of(session, batch)
    runs = -(-batch.item_count // CHUNK)
    pending = (
        BatchItem.batch_id == batch_id,
        BatchItem.status == BatchItemStatus.PENDING,
    )
    if batch.kind is TransferKind.RECLAIM:
        count, customers = session.execute(
            select(func.count(), func.count(BatchItem.customer_id.distinct())).where(
                *pending
            )
        ).one()
        return (plan, runs) if count and count == customers else None
    if batch.kind is not TransferKind.ALLOCATE:
        return None
    # Amounts below one minor unit are refused whatever the order, and must not make
    # the others look covered.
    total = session.scalar(
        select(func.sum(BatchItem.amount)).where(*pending, BatchItem.amount > 0)
    )
    # Read without a lock: each chunk checks its own total again under the partner's
    # lock, and one that falls short there is decided item by item.
    room = session.scalar(
        select(Account.balance + Account.credit_limit - Account.designated).where(
            Account.organisation_id == plan.funding,
            Account.kind == AccountKind.PARTNER_CASH,
            Account.currency == batch.currency,
        )
    )
    if total is None or room is None or int(total) > room:
        return None
    return plan, runs


def _run_side_by_side(
    factory: sessionmaker[Session], plan: ChunkPlan, runs: int, streams: int
) -> list[ItemOutcome]:
    """The batch's ``runs`` runs of :data:`CHUNK` positions taken in turn by ``streams``
    threads, a transaction each, with the partner's account locked last in every chunk so
    that chunks overlap in all but their partner's part."""
    taken = iter(range(runs))
    taking = threading.Lock()
    failed = threading.Event()

    def stream() -> list[ItemOutcome]:
        ran: list[ItemOutcome] = []
        while not failed.is_set():
            with taking:
                index = next(taken, None)
            if index is None:
                break
            try:
                with factory() as session, session.begin():
                    _run_chunk_in_database(
                        session,
                        plan,
                        after=index * CHUNK - 1,
                        upto=(index + 1) * CHUNK - 1,
                        partner_last=True,
                        ran=ran,
                    )
            except BaseException:
                failed.set()
                raise
        return ran

    with ThreadPoolExecutor(max_workers=streams, thread_name_prefix="batch") as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, stream)
            for _ in range(min(streams, runs))
        ]
        outcomes = [outcome for future in futures for outcome in future.result()]
    return sorted(outcomes, key=lambda outcome: outcome.position)


def unfinished(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Batch.id)
            .where(Batch.status != BatchStatus.DONE)
            .order_by(Batch.created_at)
        )
    )


@dataclass(frozen=True, slots=True)
class Progress:
    batch: Batch

    @property
    def finished(self) -> int:
        return self.batch.done_count + self.batch.refused_count

    @property
    def percent(self) -> int:
        return self.finished * 100 // max(self.batch.item_count, 1)


def items(
    session: Session,
    batch_id: str,
    *,
    status: BatchItemStatus | None = None,
    offset: int = 0,
    limit: int = 100,
) -> Sequence[BatchItem]:
    statement = select(BatchItem).where(BatchItem.batch_id == batch_id)
    if status:
        statement = statement.where(BatchItem.status == status)
    return session.scalars(
        statement.order_by(BatchItem.position).offset(offset).limit(limit)
    ).all()


def item_rows(session: Session, batch_id: str) -> Sequence[ItemRow]:
    """Every item's columns in order, as plain rows (ten thousand ORM objects cost more
    to build than the answer they go into)."""
    return session.execute(
        select(
            BatchItem.position,
            BatchItem.customer_id,
            BatchItem.amount,
            BatchItem.status,
            BatchItem.transfer_id,
            BatchItem.error_code,
        )
        .where(BatchItem.batch_id == batch_id)
        .order_by(BatchItem.position)
    ).all()


def items_as_run(
    items: Sequence[tuple[str, int]], ran: Sequence[ItemOutcome]
) -> list[ItemRow] | None:
    """The rows :func:`item_rows` would read, from a batch's items as given and the
    outcomes of running every one of them; None if some were not run here."""
    if len(ran) != len(items):
        return None
    return [
        (
            o.position,
            stored_customer_id(items[o.position][0]),
            items[o.position][1],
            o.status,
            o.transfer_id,
            o.error,
        )
        for o in ran
    ]


def counts_by_error(session: Session, batch_id: str) -> dict[str, int]:
    rows = session.execute(
        select(BatchItem.error_code, func.count())
        .where(
            BatchItem.batch_id == batch_id,
            BatchItem.status == BatchItemStatus.REFUSED,
        )
        .group_by(BatchItem.error_code)
    )
    return {str(code): int(count) for code, count in rows}
