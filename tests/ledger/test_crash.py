"""A server killed in the middle of the work (PostgreSQL only).

The server runs as a process of its own, as deployed, and is SIGKILLed while clients are
allocating, then started again. Every request that got no answer is retried with its
Idempotency-Key. Afterwards each acknowledged transfer is in the books exactly once, nothing
is there that no client asked for, no transfer is half written, and ``verify`` is clean. A
batch of 5,000 allocations cut short the same way is finished by the worker's job, no item
twice, and its retry answers the batch instead of making another.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from bench.harness import Server, free_port, server_environment
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.money import to_decimal
from partnercenter.core.settings import Settings
from partnercenter.customers.models import Association
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Batch,
    BatchItem,
    BatchItemStatus,
    BatchStatus,
    Entry,
    IdempotencyKey,
    Transfer,
    TransferKind,
)
from partnercenter.ledger.tasks import finish_batches
from partnercenter.ledger.verify import verify
from tests.ledger.world import world
from tests.signing import ApiKey, api_key, sign

pytestmark = pytest.mark.postgresql_only

THREADS = 8
REQUESTS_PER_THREAD = 40
KILL_AFTER = 80
"""Acknowledged answers before the server is killed: well inside the load."""


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """The product served by uvicorn in its own process, on the test's database."""
    env = server_environment(
        settings.database_url,
        tmp_path / "server-data",
        {
            # The test's secret key, so the server opens the API keys the test issues.
            "PARTNERCENTER_SECRET_KEY": settings.resolved_secret_key,
            "PARTNERCENTER_ENVIRONMENT": "test",
            "PARTNERCENTER_LOG_LEVEL": "WARNING",
        },
    )
    process = Server(
        env=env,
        port=free_port(),
        workers=1,
        log_path=tmp_path / "server.log",
        startup_timeout=90,
    )
    process.start()
    try:
        yield process
    finally:
        process.close()


@dataclass(frozen=True)
class Call:
    kind: TransferKind
    customer_id: str
    amount: int
    idem: str

    @property
    def path(self) -> str:
        return (
            "/api/v1/ledger/allocations"
            if self.kind is TransferKind.ALLOCATE
            else "/api/v1/ledger/reclaims"
        )

    @property
    def body(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "amount": str(to_decimal(self.amount))}


@dataclass(frozen=True)
class Answer:
    status: int
    replayed: bool
    body: dict[str, Any]


def _send(
    client: httpx2.Client,
    server: Server,
    *,
    key: ApiKey,
    path: str,
    body: dict[str, Any],
    idem: str,
) -> Answer:
    """A signed POST; raises httpx2.TransportError when the server gives no answer."""
    request = sign(
        "POST",
        path,
        ak=key.ak,
        sk=key.sk,
        host=server.host,
        body=body,
        headers={"Idempotency-Key": idem},
    )
    response = client.request(
        "POST",
        server.url + request.url,
        headers={
            k.encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()
        },
        content=request.body,
    )
    return Answer(
        response.status_code,
        response.headers.get("Idempotent-Replayed") == "true",
        response.json(),
    )


def _other_backends_busy(db: Session) -> int:
    db.execute(text("SELECT pg_stat_clear_snapshot()"))
    busy = db.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state <> 'idle'"
        )
    )
    db.rollback()
    return int(busy or 0)


def _wait_until(what: str, check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _assert_whole(db: Session) -> None:
    """No half-written transfer and no balance that its entries do not add up to."""
    lopsided = db.execute(
        select(Entry.transfer_id, func.count(), func.sum(Entry.amount))
        .group_by(Entry.transfer_id)
        .having((func.count() != 2) | (func.sum(Entry.amount) != 0))
    ).all()
    without_entries = db.scalars(
        select(Transfer.id).where(
            ~select(Entry.id).where(Entry.transfer_id == Transfer.id).exists()
        )
    ).all()
    sums = (
        select(
            Entry.account_id,
            func.sum(Entry.amount).label("total"),
            func.count().label("entries"),
        )
        .group_by(Entry.account_id)
        .subquery()
    )
    off = db.execute(
        select(Account.id, Account.balance, sums.c.total)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(
            (Account.balance != func.coalesce(sums.c.total, 0))
            | (Account.entry_count != func.coalesce(sums.c.entries, 0))
        )
    ).all()
    report = verify(db)
    db.rollback()
    assert lopsided == []
    assert without_entries == []
    assert off == []
    assert report.clean, report.problems


class TestKilledUnderLoad:
    def test_every_acknowledged_allocation_is_there_once_and_nothing_else(
        self, app: FastAPI, db: Session, server: Server
    ) -> None:
        w = world(db)
        seeded = {w.topup(10_000_00)}
        customers = w.customers(8)
        for customer_id in customers:
            seeded.add(
                ledger.allocate(
                    db, w.actor, customer_id=customer_id, amount=50_00
                ).transfer_id
            )
        key = api_key(app, db, w.partner.organisation)
        db.commit()
        rng = random.Random(4242)
        plans = [
            [
                Call(
                    TransferKind.ALLOCATE
                    if rng.random() < 0.7
                    else TransferKind.RECLAIM,
                    rng.choice(customers),
                    rng.randint(100, 9_99) if n % 3 else rng.randint(1, 50),
                    f"crash-{thread}-{n}-{uuid.uuid4().hex[:8]}",
                )
                for n in range(REQUESTS_PER_THREAD)
            ]
            for thread in range(THREADS)
        ]
        answered: dict[str, Answer] = {}
        unanswered: list[Call] = []
        lock = threading.Lock()
        up = threading.Event()
        up.set()
        acknowledged = threading.Event()
        failures: list[BaseException] = []

        def client(calls: list[Call]) -> None:
            with httpx2.Client(timeout=30) as http:
                for call in calls:
                    try:
                        answer = _send(
                            http,
                            server,
                            key=key,
                            path=call.path,
                            body=call.body,
                            idem=call.idem,
                        )
                    except httpx2.TransportError:
                        with lock:
                            unanswered.append(call)
                        up.wait(timeout=120)
                        continue
                    except Exception as problem:  # noqa: BLE001 - re-raised below
                        failures.append(problem)
                        acknowledged.set()  # no use waiting for the kill
                        return
                    with lock:
                        answered[call.idem] = answer
                        if len(answered) >= KILL_AFTER:
                            acknowledged.set()

        def killer() -> None:
            try:
                acknowledged.wait(timeout=120)
                up.clear()
                # The signal first, the harness's bookkeeping after, so requests are
                # still in flight when the server dies.
                os.killpg(server.pid, signal.SIGKILL)
                server.kill()
                server.restart()
            except Exception as problem:  # noqa: BLE001 - re-raised below
                failures.append(problem)
            finally:
                up.set()

        threads = [threading.Thread(target=client, args=(p,)) for p in plans]
        threads.append(threading.Thread(target=killer))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert failures == []
        assert acknowledged.is_set()
        assert len(answered) + len(unanswered) == THREADS * REQUESTS_PER_THREAD
        assert unanswered, "the kill interrupted no request"
        assert all(a.status == 201 and not a.replayed for a in answered.values()), [
            a.body for a in answered.values() if a.status != 201
        ]

        retried: dict[str, Answer] = {}
        again: dict[str, Answer] = {}
        sample = rng.sample(sorted(answered), 20)
        calls = {c.idem: c for plan in plans for c in plan}
        with httpx2.Client(timeout=30) as http:
            for call in unanswered:
                retried[call.idem] = _send(
                    http,
                    server,
                    key=key,
                    path=call.path,
                    body=call.body,
                    idem=call.idem,
                )
            for idem in sample:
                call = calls[idem]
                again[idem] = _send(
                    http, server, key=key, path=call.path, body=call.body, idem=idem
                )

        assert all(a.status == 201 for a in retried.values()), [
            a.body for a in retried.values()
        ]
        for idem, answer in again.items():
            assert answer.replayed, idem
            assert answer.body == answered[idem].body
        final = {
            idem: a.body["transfer_id"] for idem, a in {**answered, **retried}.items()
        }
        assert len(set(final.values())) == len(final)

        written = set(
            db.scalars(
                select(Transfer.id).where(
                    Transfer.kind.in_([TransferKind.ALLOCATE, TransferKind.RECLAIM])
                )
            )
        )
        assert written - seeded == set(final.values())
        stored = dict(
            db.execute(
                select(IdempotencyKey.key, IdempotencyKey.transfer_id).where(
                    IdempotencyKey.organisation_id == w.partner.organisation.id
                )
            ).all()
        )
        assert stored == final
        moved = sum(
            (-c.amount if c.kind is TransferKind.ALLOCATE else c.amount)
            for c in calls.values()
        )
        cash = db.scalar(
            select(Account.balance).where(
                Account.organisation_id == w.partner.organisation.id,
                Account.kind == AccountKind.PARTNER_CASH,
            )
        )
        assert cash == 10_000_00 - 8 * 50_00 + moved
        db.rollback()
        _assert_whole(db)


class TestBatchCutShort:
    def test_the_worker_finishes_a_batch_killed_half_way_and_its_retry_answers_it(
        self,
        app: FastAPI,
        db: Session,
        session_factory: sessionmaker[Session],
        settings: Settings,
        server: Server,
    ) -> None:
        w = world(db)
        w.topup(100_000_00)
        customers = w.customers(5000)
        key = api_key(app, db, w.partner.organisation)
        db.commit()
        body = {"items": [{"customer_id": c, "amount": "1.50"} for c in customers]}
        path = "/api/v1/ledger/allocation-batches"
        # Holding one association of the second chunk stops the batch after its first
        # chunk has committed, so the kill lands in the middle every time.
        locker = session_factory()
        locker.execute(
            select(Association.id)
            .where(Association.customer_id == customers[1500])
            .with_for_update()
        ).all()
        outcome: list[BaseException | Answer] = []

        def post() -> None:
            with httpx2.Client(timeout=120) as http:
                try:
                    outcome.append(
                        _send(
                            http,
                            server,
                            key=key,
                            path=path,
                            body=body,
                            idem="batch-crash",
                        )
                    )
                except httpx2.TransportError as problem:
                    outcome.append(problem)

        sender = threading.Thread(target=post)
        sender.start()
        try:

            def first_chunk_done() -> bool:
                done = db.scalar(select(Batch.done_count))
                db.rollback()
                return done == 1000

            _wait_until("the first chunk", first_chunk_done)
            server.kill()
        finally:
            locker.rollback()
            locker.close()
        sender.join(timeout=60)
        assert len(outcome) == 1
        assert isinstance(outcome[0], httpx2.TransportError), outcome
        # The killed server's transaction of the second chunk dies with its connection.
        _wait_until(
            "the killed server's sessions", lambda: _other_backends_busy(db) == 0
        )

        batch = db.scalars(select(Batch)).one()
        assert batch.status is not BatchStatus.DONE
        assert (batch.done_count, batch.refused_count) == (1000, 0)
        assert db.scalar(select(func.count()).select_from(Transfer)) == 1001
        db.rollback()

        assert finish_batches(session_factory, settings) == 1
        assert finish_batches(session_factory, settings) == 0

        batch = db.scalars(
            select(Batch).execution_options(populate_existing=True)
        ).one()
        assert batch.status is BatchStatus.DONE
        assert (batch.done_count, batch.refused_count) == (5000, 0)
        assert batch.done_amount == 5000 * 1_50
        items = db.execute(
            select(BatchItem.status, BatchItem.transfer_id).where(
                BatchItem.batch_id == batch.id
            )
        ).all()
        assert {status for status, _ in items} == {BatchItemStatus.DONE}
        item_transfers = [transfer_id for _, transfer_id in items]
        assert len(set(item_transfers)) == 5000
        per_customer = db.execute(
            select(Transfer.counterparty_id, func.count())
            .where(Transfer.kind == TransferKind.ALLOCATE)
            .group_by(Transfer.counterparty_id)
        ).all()
        assert len(per_customer) == 5000
        assert {count for _, count in per_customer} == {1}
        assert set(
            db.scalars(
                select(Transfer.id).where(Transfer.kind == TransferKind.ALLOCATE)
            )
        ) == set(item_transfers)
        assert w.balances().cash == 100_000_00 - 5000 * 1_50
        db.rollback()

        server.restart()
        with httpx2.Client(timeout=120) as http:
            retry = _send(
                http, server, key=key, path=path, body=body, idem="batch-crash"
            )

        assert retry.status == 201, retry.body
        assert retry.replayed
        assert retry.body["batch_id"] == batch.id
        assert retry.body["status"] == "done"
        assert (retry.body["item_count"], retry.body["done_count"]) == (5000, 5000)
        assert db.scalar(select(func.count()).select_from(Batch)) == 1
        assert db.scalar(select(func.count()).select_from(Transfer)) == 5001
        db.rollback()
        _assert_whole(db)
