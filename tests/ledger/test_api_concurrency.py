"""Many API clients moving the same money at once, against a real server (PostgreSQL only).

Sixteen threads allocate, reclaim and post charges on a handful of shared accounts through a
live server; some requests are sent twice at the same moment with the same Idempotency-Key,
as a client retrying too early would. Afterwards the books must say exactly what the
acknowledged answers said: every answered transfer is there once, the balances are what
those answers add up to, no partner went past its credit line, and ``verify`` is clean.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from partnercenter.core.money import to_decimal, to_minor
from partnercenter.customers.models import AssociationMode
from partnercenter.ledger import service as ledger
from partnercenter.ledger.fastlane import pools_of
from partnercenter.ledger.models import Account, AccountKind, Transfer, TransferKind
from partnercenter.ledger.verify import verify
from tests.ledger.world import World, world
from tests.live import LiveServer, serve
from tests.signing import ApiKey, api_key, sign

pytestmark = pytest.mark.postgresql_only

CLIENTS = 16
CREDIT = 100_00


@dataclass(frozen=True)
class Call:
    """One request as a client means it; sent twice, it is sent byte for byte the same."""

    what: str
    """allocate, reclaim or charges."""
    path: str
    key: ApiKey
    body: dict[str, Any]
    idem: str
    customer_id: str = ""
    amount: int = 0


@dataclass(frozen=True)
class Answer:
    call: Call
    status: int
    replayed: bool
    body: Any


class Clients:
    """Signed requests to a live server; each thread keeps its own connection."""

    def __init__(self, server: LiveServer) -> None:
        self.url = server.url
        self.host = urlsplit(server.url).netloc
        self._local = threading.local()
        self._opened: list[httpx2.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx2.Client:
        client: httpx2.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx2.Client(timeout=60)
            self._local.client = client
            with self._lock:
                self._opened.append(client)
        return client

    def send(self, call: Call) -> Answer:
        request = sign(
            "POST",
            f"/api/v1/ledger{call.path}",
            ak=call.key.ak,
            sk=call.key.sk,
            host=self.host,
            body=call.body,
            headers={"Idempotency-Key": call.idem},
        )
        response = self._client().request(
            "POST",
            self.url + request.url,
            headers={
                k.encode("latin-1"): v.encode("latin-1")
                for k, v in request.headers.items()
            },
            content=request.body,
        )
        json_answer = response.headers.get("content-type", "").startswith(
            "application/json"
        )
        return Answer(
            call,
            response.status_code,
            response.headers.get("Idempotent-Replayed") == "true",
            response.json() if json_answer else {"text": response.text},
        )

    def at_once(self, calls: list[Call]) -> list[Answer]:
        """Send ``calls`` from as many threads, released together."""
        if len(calls) == 1:
            return [self.send(calls[0])]
        barrier = threading.Barrier(len(calls))
        answers: list[Answer | None] = [None] * len(calls)
        failures: list[BaseException] = []

        def one(index: int) -> None:
            try:
                barrier.wait(timeout=30)
                answers[index] = self.send(calls[index])
            except Exception as problem:  # noqa: BLE001 - re-raised in the caller
                failures.append(problem)

        twins = [threading.Thread(target=one, args=(i,)) for i in range(1, len(calls))]
        for twin in twins:
            twin.start()
        one(0)
        for twin in twins:
            twin.join(timeout=90)
        if failures:
            raise failures[0]
        return [answer for answer in answers if answer is not None]

    def close(self) -> None:
        for client in self._opened:
            client.close()


@pytest.fixture
def clients(app: FastAPI) -> Iterator[Clients]:
    with serve(app) as server:
        made = Clients(server)
        try:
            yield made
        finally:
            made.close()


@dataclass
class Shared:
    w: World
    customers: list[str]
    partner: ApiKey
    vendor: ApiKey
    seeded: set[str]
    """Transfers made while arranging, not by the requests under test."""


def _shared(app: FastAPI, db: Session, customers: int = 6) -> Shared:
    w = world(db)
    seeded = {w.topup(500_00)}
    ledger.set_credit_limit(
        db, w.finance, partner_id=w.partner.organisation.id, amount=CREDIT
    )
    ids = w.customers(customers)
    for customer_id in ids:
        seeded.add(
            ledger.allocate(
                db, w.actor, customer_id=customer_id, amount=20_00
            ).transfer_id
        )
    # The revenue account exists before the first concurrent charge.
    seeded.add(w.charge(ids[0], 1))
    shared = Shared(
        w,
        ids,
        api_key(app, db, w.partner.organisation),
        api_key(app, db, w.vendor.organisation),
        seeded,
    )
    db.commit()
    return shared


def _balance(db: Session, organisation_id: str, kind: AccountKind) -> int:
    found = db.scalar(
        select(Account.balance).where(
            Account.organisation_id == organisation_id, Account.kind == kind
        )
    )
    return int(found or 0)


def _plan(shared: Shared, rng: random.Random) -> list[list[Call]]:
    """About three hundred requests: singles, and pairs sent at once with one key."""
    charges = iter(range(1, 10_000))

    def allocate() -> Call:
        customer, amount = rng.choice(shared.customers), rng.randint(100, 30_00)
        return Call(
            "allocate",
            "/allocations",
            shared.partner,
            {"customer_id": customer, "amount": str(to_decimal(amount))},
            f"a-{uuid.uuid4().hex}",
            customer,
            amount,
        )

    def reclaim() -> Call:
        customer, amount = rng.choice(shared.customers), rng.randint(50, 15_00)
        return Call(
            "reclaim",
            "/reclaims",
            shared.partner,
            {"customer_id": customer, "amount": str(to_decimal(amount))},
            f"r-{uuid.uuid4().hex}",
            customer,
            amount,
        )

    def charge() -> Call:
        items = [
            {
                "charge_id": f"usage-{next(charges)}",
                "customer_id": rng.choice(shared.customers),
                "amount": str(to_decimal(rng.randint(10, 5_00))),
            }
            for _ in range(rng.randint(1, 3))
        ]
        return Call(
            "charges",
            "/charges",
            shared.vendor,
            {"charges": items},
            f"c-{uuid.uuid4()}",
        )

    makers: list[Callable[[], Call]] = [allocate] * 5 + [reclaim] * 3 + [charge] * 2
    jobs: list[list[Call]] = []
    for index in range(260):
        call = rng.choice(makers)()
        jobs.append([call, call] if index % 7 == 0 else [call])
    return jobs


class TestConcurrentClients:
    def test_the_books_hold_exactly_what_was_acknowledged(
        self, app: FastAPI, db: Session, clients: Clients
    ) -> None:
        shared = _shared(app, db)
        partner_id = shared.w.partner.organisation.id
        partner_before = _balance(db, partner_id, AccountKind.PARTNER_CASH)
        customers_before = {
            c: _balance(db, c, AccountKind.CUSTOMER_ALLOCATED) for c in shared.customers
        }
        db.rollback()
        jobs = _plan(shared, random.Random(20260302))

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            answers = [a for job in pool.map(clients.at_once, jobs) for a in job]

        unexpected = [
            (a.status, a.body)
            for a in answers
            if a.status not in {200, 201}
            and not (a.status == 409 and a.body.get("code") == "insufficient_funds")
        ]
        assert unexpected == []
        by_key: dict[str, list[Answer]] = defaultdict(list)
        for answer in answers:
            by_key[answer.call.idem].append(answer)
        partner = partner_before
        customers = dict(customers_before)
        acknowledged: set[str] = set()
        for key, group in by_key.items():
            made = [a for a in group if a.status < 300 and not a.replayed]
            assert len(made) <= 1, (key, [a.body for a in group])
            for replay in (a for a in group if a.replayed):
                assert made, (key, "a replay of nothing")
                assert replay.status == made[0].status
                assert replay.body == made[0].body
            if not made:
                continue
            first = made[0]
            if first.call.what == "charges":
                for item, result in zip(
                    first.call.body["charges"], first.body["results"], strict=True
                ):
                    assert result["status"] == "posted", result
                    customers[item["customer_id"]] -= to_minor(item["amount"])
                    acknowledged.add(result["transfer_id"])
                continue
            sign_of = -1 if first.call.what == "allocate" else 1
            partner += sign_of * first.call.amount
            customers[first.call.customer_id] -= sign_of * first.call.amount
            assert first.body["amount"] == str(to_decimal(first.call.amount))
            assert to_minor(first.body["partner_balance_after"]) >= -CREDIT
            acknowledged.add(first.body["transfer_id"])
        pairs = sum(1 for group in by_key.values() if len(group) == 2)
        assert pairs >= 30
        assert sum(1 for a in answers if a.replayed) >= 10
        assert len(acknowledged) >= 150

        written = set(
            db.scalars(
                select(Transfer.id).where(
                    Transfer.kind.in_(
                        [
                            TransferKind.ALLOCATE,
                            TransferKind.RECLAIM,
                            TransferKind.CONSUME,
                        ]
                    )
                )
            )
        )
        assert written - shared.seeded == acknowledged
        assert _balance(db, partner_id, AccountKind.PARTNER_CASH) == partner
        assert partner >= -CREDIT
        assert {
            c: _balance(db, c, AccountKind.CUSTOMER_ALLOCATED) for c in shared.customers
        } == customers
        report = verify(db)
        db.rollback()
        assert report.clean, report.problems


def _wait_for_lock_waiters(db: Session, count: int) -> None:
    """Until ``count`` other sessions of this database wait on a lock."""
    deadline = time.monotonic() + 20
    while True:
        # The statistics views are read once per transaction unless told to read again.
        db.execute(text("SELECT pg_stat_clear_snapshot()"))
        waiting = db.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )
        if (waiting or 0) >= count:
            return
        assert time.monotonic() < deadline, f"{waiting} of {count} requests waiting"
        time.sleep(0.02)


def _wait_for_unanswered(app: FastAPI, count: int) -> None:
    """Until ``count`` allocation requests are in the server: queued for their partner's
    next call, or in the call now at the database."""
    deadline = time.monotonic() + 20
    while sum(pool.unanswered() for pool in pools_of(app).values()) < count:
        assert time.monotonic() < deadline, "the requests did not reach the server"
        time.sleep(0.02)


def _hold_account(db: Session, organisation_id: str, kind: AccountKind) -> None:
    """Lock an account in ``db``'s open transaction, so requests queue behind it."""
    db.execute(
        select(Account.id)
        .where(Account.organisation_id == organisation_id, Account.kind == kind)
        .with_for_update()
    ).all()


class TestRacingRetries:
    """Two requests released into the same lock queue, deterministically: the test holds
    the account they need until the first waits for it at the database and the second in
    the server, for the next call of its partner's group."""

    def test_a_retry_racing_its_original_answers_what_the_original_did(
        self, app: FastAPI, db: Session, clients: Clients
    ) -> None:
        w = world(db)
        w.topup(10_00)
        customer = w.customer()
        key = api_key(app, db, w.partner.organisation)
        db.commit()
        call = Call(
            "allocate",
            "/allocations",
            key,
            {"customer_id": customer, "amount": "10.00"},
            "retried-early",
        )
        _hold_account(db, w.partner.organisation.id, AccountKind.PARTNER_CASH)

        with ThreadPoolExecutor(max_workers=2) as pool:
            racing = [pool.submit(clients.send, call) for _ in range(2)]
            # The partner's call waits at the database for the account; the other
            # request is in that call or queued for the next one.
            _wait_for_lock_waiters(db, 1)
            _wait_for_unanswered(app, 2)
            db.rollback()
            answers = [future.result(timeout=60) for future in racing]

        assert sorted(a.status for a in answers) == [201, 201], [
            a.body for a in answers
        ]
        assert sorted(a.replayed for a in answers) == [False, True]
        assert answers[0].body == answers[1].body
        assert w.balances().cash == 0

    def test_of_two_queued_allocations_that_do_not_both_fit_one_is_refused_whole(
        self, app: FastAPI, db: Session, clients: Clients
    ) -> None:
        w = world(db)
        w.topup(10_00)
        first, second = w.customer(), w.customer()
        key = api_key(app, db, w.partner.organisation)
        db.commit()
        calls = [
            Call(
                "allocate",
                "/allocations",
                key,
                {"customer_id": customer, "amount": "6.00"},
                f"six-{customer}",
            )
            for customer in (first, second)
        ]
        # Both queue for the partner's balance; the second finds 4.00 left.
        _hold_account(db, w.partner.organisation.id, AccountKind.PARTNER_CASH)
        with ThreadPoolExecutor(max_workers=2) as pool:
            racing = [pool.submit(clients.send, call) for call in calls]
            # The partner's call waits at the database for the account; the other
            # request is in that call or queued for the next one.
            _wait_for_lock_waiters(db, 1)
            _wait_for_unanswered(app, 2)
            db.rollback()
            answers = [future.result(timeout=60) for future in racing]

        assert sorted(a.status for a in answers) == [201, 409], [
            a.body for a in answers
        ]
        [refused] = [a for a in answers if a.status == 409]
        assert refused.body["code"] == "insufficient_funds"
        assert "4.00" in refused.body["message"]
        loser = refused.call.body["customer_id"]
        assert w.balances().cash == 4_00
        assert w.customer_balances(loser).allocated == 0
        assert (
            db.scalar(select(Transfer.id).where(Transfer.counterparty_id == loser))
            is None
        )
        assert verify(db).clean
        db.rollback()
        # The refusal kept no key: once there is money, the same request goes through.
        w.topup(2_00)
        db.commit()
        again = clients.send(refused.call)
        assert (again.status, again.replayed) == (201, False), again.body
        assert w.customer_balances(loser).allocated == 6_00
        db.rollback()

    def test_requests_that_go_to_the_database_together_each_get_their_own_answer(
        self, app: FastAPI, db: Session, clients: Clients
    ) -> None:
        w = world(db)
        w.topup(10_00)
        first, second = w.customer(), w.customer()
        consulting = w.customer(AssociationMode.CONSULTING)
        key = api_key(app, db, w.partner.organisation)
        db.commit()

        def allocation(customer: str, amount: str, idem: str) -> Call:
            body = {"customer_id": customer, "amount": amount}
            return Call("allocate", "/allocations", key, body, idem)

        calls = [
            allocation(first, "3.00", "first"),
            allocation(second, "3.00", "second"),
            allocation(consulting, "1.00", "consulting"),
            allocation(second, "20.00", "too-much"),
            allocation(first, "3.00", "first"),
        ]
        _hold_account(db, w.partner.organisation.id, AccountKind.PARTNER_CASH)
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            racing = [pool.submit(clients.send, call) for call in calls]
            _wait_for_lock_waiters(db, 1)
            _wait_for_unanswered(app, len(calls))
            db.rollback()
            answers = [future.result(timeout=60) for future in racing]

        got = [
            (a.status, a.replayed, a.body.get("code") if a.status != 201 else None)
            for a in answers
        ]
        assert got[1:4] == [
            (201, False, None),
            (409, False, "consulting_customer"),
            (409, False, "insufficient_funds"),
        ], got
        # The first request and its retry: one posted it, the other replays the answer.
        assert sorted([got[0], got[4]]) == [(201, False, None), (201, True, None)]
        assert answers[0].body == answers[4].body
        assert w.balances().cash == 4_00
        assert w.allocated([first, second, consulting]) == {
            first: 3_00,
            second: 3_00,
            consulting: 0,
        }
        assert verify(db).clean
        db.rollback()

    def test_a_charge_request_racing_its_retry_posts_once(
        self, app: FastAPI, db: Session, clients: Clients
    ) -> None:
        shared = _shared(app, db, customers=1)
        customer = shared.customers[0]
        call = Call(
            "charges",
            "/charges",
            shared.vendor,
            {
                "charges": [
                    {"charge_id": "once", "customer_id": customer, "amount": "2.00"}
                ]
            },
            "charge-retried-early",
        )
        before = _balance(db, customer, AccountKind.CUSTOMER_ALLOCATED)
        db.rollback()

        answers = clients.at_once([call, call])

        assert sorted(a.replayed for a in answers) == [False, True]
        assert answers[0].body == answers[1].body
        assert _balance(db, customer, AccountKind.CUSTOMER_ALLOCATED) == before - 2_00
        db.rollback()

    def test_one_charge_id_in_two_racing_requests_is_posted_once(
        self, app: FastAPI, db: Session, clients: Clients
    ) -> None:
        shared = _shared(app, db, customers=1)
        customer = shared.customers[0]
        body = {
            "charges": [{"charge_id": "twice", "customer_id": customer, "amount": "3"}]
        }
        # Two billing workers, each with a key of its own: one key would serialise them
        # on its "last used" time.
        second_key = api_key(app, db, shared.w.vendor.organisation)
        db.commit()
        calls = [
            Call("charges", "/charges", key, body, f"billing-retry-{n}")
            for n, key in enumerate([shared.vendor, second_key])
        ]
        _hold_account(db, customer, AccountKind.CUSTOMER_ALLOCATED)

        with ThreadPoolExecutor(max_workers=2) as pool:
            racing = [pool.submit(clients.send, call) for call in calls]
            _wait_for_lock_waiters(db, 2)
            db.rollback()
            answers = [future.result(timeout=60) for future in racing]

        assert [a.status for a in answers] == [200, 200], [a.body for a in answers]
        statuses = sorted(a.body["results"][0]["status"] for a in answers)
        assert statuses == ["duplicate", "posted"]
