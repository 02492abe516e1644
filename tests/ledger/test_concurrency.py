"""Many sessions moving the same money at once (PostgreSQL only: SQLite runs one writer).

Sixteen threads, each with its own session, allocate, reclaim and post charges on one
partner and a handful of customers, so that every transfer waits for others. Afterwards the
books must say exactly what the threads were told: no update lost, no balance past the
credit line at any moment, and ``verify`` clean.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.errors import DomainError
from partnercenter.ledger import batches
from partnercenter.ledger import service as ledger
from partnercenter.ledger.errors import InsufficientFunds, NotCorrectable
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Batch,
    Entry,
    Transfer,
    TransferKind,
)
from partnercenter.ledger.verify import verify
from tests.ledger.world import World, world

pytestmark = pytest.mark.postgresql_only

THREADS = 16
OPERATIONS = 25
"""Per thread: four hundred operations in all."""
TOPUP = 300_00
CREDIT = 100_00
RETRYABLE = {"40P01", "40001"}
"""Deadlock detected, serialization failure: a retry would be right, but there should be
none, because every transfer locks its accounts in id order."""


@dataclass
class Tally:
    """What the threads were told, collected under a lock."""

    done: list[tuple[str, str, int]] = field(default_factory=list)
    refused: int = 0
    retried: list[str] = field(default_factory=list)
    failed: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, customer_id: str, amount: int) -> None:
        with self.lock:
            self.done.append((what, customer_id, amount))


def _attempt(session: Session, tally: Tally, action: Callable[[], None]) -> bool:
    """Run ``action`` and commit, retrying a deadlock; False when refused for money."""
    for _ in range(5):
        try:
            action()
            session.commit()
            return True
        except InsufficientFunds:
            session.rollback()
            with tally.lock:
                tally.refused += 1
            return False
        except DBAPIError as error:
            session.rollback()
            code = getattr(error.orig, "sqlstate", None)
            if code not in RETRYABLE:
                raise
            with tally.lock:
                tally.retried.append(str(code))
    raise AssertionError("still deadlocked after five tries")


def _run_threads(count: int, work: Callable[[int], None], tally: Tally) -> None:
    def guarded(number: int) -> None:
        try:
            work(number)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            with tally.lock:
                tally.failed.append(error)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert tally.failed == [], tally.failed


def _operation(
    session: Session,
    w: World,
    what: str,
    *,
    customer_id: str,
    amount: int,
    charge_id: str = "",
) -> Callable[[], None]:
    """An allocation, reclaim or charge, to be run (and retried) by :func:`_attempt`."""

    def charge() -> None:
        [result] = ledger.post_charges(
            session, w.finance, [ledger.Charge(charge_id, customer_id, amount)]
        )
        assert result.status == "posted", result

    def move() -> None:
        transfer = ledger.allocate if what == "allocate" else ledger.reclaim
        transfer(session, w.actor, customer_id=customer_id, amount=amount)

    return charge if what == "charge" else move


def _partner_world(db: Session, customers: int) -> tuple[World, list[str]]:
    w = world(db)
    w.topup(TOPUP)
    ledger.set_credit_limit(
        db, w.finance, partner_id=w.partner.organisation.id, amount=CREDIT
    )
    customer_ids = w.customers(customers)
    db.commit()
    return w, customer_ids


def _lowest_partner_balance(db: Session, partner_id: str) -> int:
    account = ledger.account_id(db, partner_id, AccountKind.PARTNER_CASH)
    lowest = db.scalar(
        select(func.min(Entry.balance_after)).where(Entry.account_id == account)
    )
    return int(lowest if lowest is not None else 0)


def _batch_beside_singles(
    session_factory: sessionmaker[Session],
    w: World,
    batch_id: str,
    draw: Callable[[random.Random], tuple[str, str, int]],
    *,
    streams: int = 1,
) -> Tally:
    """Run the batch in one thread (``streams`` chunks at a time) while eight others each
    make :data:`OPERATIONS` single transfers of the partner, drawn by ``draw`` as (what,
    customer, amount)."""
    tally = Tally()
    start = threading.Barrier(9)

    def work(number: int) -> None:
        if number == 0:
            start.wait(timeout=60)
            batches.run(session_factory, batch_id, streams=streams)
            return
        pick = random.Random(number)
        with session_factory() as session:
            start.wait(timeout=60)
            for _ in range(OPERATIONS):
                what, customer, amount = draw(pick)
                act = _operation(session, w, what, customer_id=customer, amount=amount)
                if _attempt(session, tally, act):
                    tally.record(what, customer, amount)

    _run_threads(9, work, tally)
    return tally


def _clean(db: Session) -> None:
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == report.inflow


class TestManySessions:
    def test_allocations_reclaims_and_charges_at_once_lose_nothing(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w, customers = _partner_world(db, 5)
        partner_id = w.partner.organisation.id
        tally = Tally()
        start = threading.Barrier(THREADS)

        def work(number: int) -> None:
            pick = random.Random(number)
            with session_factory() as session:
                start.wait(timeout=60)
                for n in range(OPERATIONS):
                    what = pick.choice(["allocate"] * 3 + ["reclaim"] * 2 + ["charge"])
                    customer = pick.choice(customers)
                    amount = pick.randint(1, 40_00)
                    act = _operation(
                        session,
                        w,
                        what,
                        customer_id=customer,
                        amount=amount,
                        charge_id=f"t{number}-{n}",
                    )
                    if _attempt(session, tally, act):
                        tally.record(what, customer, amount)

        _run_threads(THREADS, work, tally)

        assert tally.retried == [], f"deadlocks or serialization failures: {tally}"
        assert len(tally.done) + tally.refused == THREADS * OPERATIONS
        db.rollback()
        sign = {"allocate": 1, "reclaim": -1, "charge": -1}
        expected = dict.fromkeys(customers, 0)
        for what, customer, amount in tally.done:
            expected[customer] += sign[what] * amount
        moved = sum(a for what, _, a in tally.done if what == "allocate") - sum(
            a for what, _, a in tally.done if what == "reclaim"
        )
        consumed = sum(a for what, _, a in tally.done if what == "charge")
        assert w.allocated(customers) == expected
        partner = w.balances()
        assert partner.cash == TOPUP - moved
        assert partner.cash + sum(expected.values()) == TOPUP - consumed
        assert partner.cash >= -CREDIT
        assert _lowest_partner_balance(db, partner_id) >= -CREDIT
        # There was contention: money ran out for some, and every kind went through.
        assert tally.refused > 0
        assert {what for what, _, _ in tally.done} == {"allocate", "reclaim", "charge"}
        _clean(db)

    @pytest.mark.parametrize(
        ("batch_size", "amount", "streams"),
        [(300, 1_00, 1), (2500, 10, 2)],
        ids=["one-chunk", "chunks-side-by-side"],
    )
    def test_a_batch_and_single_allocations_share_one_balance(
        self,
        db: Session,
        session_factory: sessionmaker[Session],
        batch_size: int,
        amount: int,
        streams: int,
    ) -> None:
        # Side by side, the batch starts with enough money for all of it: the single
        # allocations then spend it, and its chunks find the funds short under the lock.
        w, customers = _partner_world(db, 12)
        batch_customers = w.customers(batch_size)
        batch_id = batches.create(
            db,
            w.actor,
            kind=TransferKind.ALLOCATE,
            items=[(c, amount) for c in batch_customers],
        ).id
        db.commit()

        tally = _batch_beside_singles(
            session_factory,
            w,
            batch_id,
            lambda pick: (
                "allocate",
                pick.choice(customers),
                pick.randint(1_00, 20_00),
            ),
            streams=streams,
        )

        assert tally.retried == [], tally
        db.rollback()
        batch = db.get(Batch, batch_id, populate_existing=True)
        assert batch is not None
        assert batch.done_count + batch.refused_count == batch_size
        singles = sum(a for _, _, a in tally.done)
        partner = w.balances()
        assert partner.cash == TOPUP - singles - batch.done_amount
        assert partner.cash >= -CREDIT
        assert _lowest_partner_balance(db, w.partner.organisation.id) >= -CREDIT
        assert sum(w.allocated(batch_customers).values()) == batch.done_amount
        # Together they asked for more than there was.
        assert tally.refused + batch.refused_count > 0
        _clean(db)

    def test_a_batch_and_single_transfers_on_the_same_customers_wait_in_turn(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        # Every customer of the batch is also allocated to and reclaimed from one by one
        # meanwhile, and comes ten times in the batch: the batch locks its customers
        # before the partner as single transfers do, so they queue and never deadlock;
        # its funds suffice, so it takes the partner's lock at the very end.
        w, customers = _partner_world(db, 8)
        items = [(c, 50) for _ in range(10) for c in customers]
        batch_id = batches.create(
            db, w.actor, kind=TransferKind.ALLOCATE, items=items
        ).id
        db.commit()

        tally = _batch_beside_singles(
            session_factory,
            w,
            batch_id,
            lambda pick: (
                pick.choice(["allocate", "allocate", "reclaim"]),
                pick.choice(customers),
                pick.randint(1, 5_00),
            ),
            streams=2,
        )

        assert tally.retried == [], tally
        db.rollback()
        batch = db.get(Batch, batch_id, populate_existing=True)
        assert batch is not None
        assert (batch.done_count, batch.refused_count) == (len(items), 0)
        expected = dict.fromkeys(customers, 10 * 50)
        for what, customer, amount in tally.done:
            expected[customer] += amount if what == "allocate" else -amount
        assert w.allocated(customers) == expected
        partner = w.balances()
        assert partner.cash == TOPUP - sum(expected.values())
        _clean(db)

    def test_racing_for_the_last_money_only_one_wins(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w, customers = _partner_world(db, THREADS)
        tally = Tally()
        start = threading.Barrier(THREADS)
        allocatable = TOPUP + CREDIT

        def work(number: int) -> None:
            with session_factory() as session:
                start.wait(timeout=60)

                def act() -> None:
                    ledger.allocate(
                        session,
                        w.actor,
                        customer_id=customers[number],
                        amount=allocatable // 2 + 1,
                    )

                if _attempt(session, tally, act):
                    tally.record("allocate", customers[number], 0)

        _run_threads(THREADS, work, tally)

        assert (len(tally.done), tally.refused) == (1, THREADS - 1)
        db.rollback()
        assert w.balances().allocatable == allocatable // 2 - 1
        _clean(db)


def _wait_for_lock_waiters(db: Session, count: int) -> None:
    """Until ``count`` other sessions wait for a row lock (or ten seconds pass)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # The statistics views are read once per transaction unless told to read again.
        db.execute(text("SELECT pg_stat_clear_snapshot()"))
        waiting = db.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock'"
            )
        )
        if waiting == count:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {count} sessions waiting for a lock")


class TestCorrectionRace:
    def test_two_corrections_of_one_top_up_cannot_both_take_all_of_it(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        topup = w.topup(100_00)
        w.topup(100_00)
        account = ledger.account_id(db, partner_id, AccountKind.PARTNER_CASH)
        db.commit()
        outcomes: list[str] = []
        failures: list[BaseException] = []

        def correct() -> None:
            try:
                with session_factory() as session:
                    try:
                        ledger.correct(
                            session,
                            w.finance,
                            transfer_id=topup,
                            amount=100_00,
                            reason="Entered twice",
                        )
                        session.commit()
                        outcomes.append("corrected")
                    except DomainError as error:
                        session.rollback()
                        outcomes.append(error.code)
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        # Both finance officers look at the top-up while its account is busy.
        with session_factory() as holder:
            holder.execute(
                select(Account.id).where(Account.id == account).with_for_update()
            )
            threads = [threading.Thread(target=correct) for _ in range(2)]
            for thread in threads:
                thread.start()
            _wait_for_lock_waiters(db, 2)
            holder.rollback()
        for thread in threads:
            thread.join(timeout=60)

        assert failures == []
        assert sorted(outcomes) == sorted(["corrected", NotCorrectable.code])
        db.rollback()
        corrected = db.scalar(
            select(func.sum(Transfer.amount)).where(Transfer.original_id == topup)
        )
        assert corrected == 100_00
        assert w.balances().cash == 100_00
        _clean(db)


class TestTwoAllocationsThatDoNotBothFit:
    def test_the_second_allocation_is_refused_whole_and_its_session_goes_on(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        w.topup(10_00)
        customers = [w.customer(), w.customer()]
        account = ledger.account_id(
            db, w.partner.organisation.id, AccountKind.PARTNER_CASH
        )
        db.commit()
        outcomes: dict[str, str] = {}
        failures: list[BaseException] = []

        def allocate(customer_id: str) -> None:
            try:
                with session_factory() as session:
                    try:
                        ledger.allocate(
                            session, w.actor, customer_id=customer_id, amount=6_00
                        )
                        outcomes[customer_id] = "posted"
                    except InsufficientFunds as error:
                        outcomes[customer_id] = str(error.params["available"])
                    # The refusal undid only the allocation, not the session's transaction
                    # (an aborted one would refuse this read).
                    assert session.scalar(
                        select(Account.balance).where(Account.id == account)
                    ) in {4_00, 10_00}
                    session.commit()
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        # Both queue for the partner's balance; the second finds 4.00 left.
        with session_factory() as holder:
            holder.execute(
                select(Account.id).where(Account.id == account).with_for_update()
            )
            threads = [threading.Thread(target=allocate, args=(c,)) for c in customers]
            for thread in threads:
                thread.start()
            _wait_for_lock_waiters(db, 2)
            holder.rollback()
        for thread in threads:
            thread.join(timeout=60)

        assert failures == []
        assert sorted(outcomes.values()) == ["4.00", "posted"]
        db.rollback()
        [refused] = [c for c, outcome in outcomes.items() if outcome != "posted"]
        assert w.customer_balances(refused).allocated == 0
        assert w.balances().cash == 4_00
        assert verify(db).clean
        _clean(db)


class TestChargeDuringAnAssociationChange:
    def test_a_charge_waits_for_the_change_that_read_the_debt(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        w.topup(10_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=5_00)
        db.commit()
        charged: list[str] = []

        def charge() -> None:
            with session_factory() as session:
                [result] = ledger.post_charges(
                    session,
                    w.finance,
                    [
                        ledger.Charge(
                            charge_id="late", customer_id=customer, amount=8_00
                        )
                    ],
                )
                session.commit()
                charged.append(result.status)

        # The change has read "no debt" and holds the customer's accounts until it commits.
        with session_factory() as change:
            assert ledger.LedgerMover().debt(change, customer, lock=True) == 0
            thread = threading.Thread(target=charge)
            thread.start()
            _wait_for_lock_waiters(db, 1)
            assert charged == []
            moved = ledger.LedgerMover().unbind_reclaim(
                change,
                w.actor,
                partner_id=w.partner.organisation.id,
                customer_id=customer,
            )
            change.commit()
        thread.join(timeout=30)

        # The whole 5.00 went back before the charge, which then found the account empty.
        assert (moved, charged) == (5_00, ["posted"])
        db.rollback()
        assert w.customer_balances(customer).allocated == -8_00
        assert verify(db).clean
        _clean(db)
