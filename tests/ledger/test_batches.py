"""Batch allocation and reclaim: limits, a result for every item, chunks that commit one by
one, and a batch cut short by a restart finished by the worker exactly once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.errors import Forbidden
from partnercenter.core.settings import Settings
from partnercenter.customers.models import AssociationMode
from partnercenter.ledger import batches
from partnercenter.ledger import service as ledger
from partnercenter.ledger.errors import BatchTooLarge, NoSuchBatch
from partnercenter.ledger.models import (
    Batch,
    BatchItemStatus,
    BatchStatus,
    Transfer,
    TransferKind,
)
from partnercenter.ledger.tasks import finish_batches
from partnercenter.ledger.verify import verify
from tests import factories
from tests.ledger.world import World, actor_of, two_tiers, world

CONSULTING = AssociationMode.CONSULTING


def _clean(db: Session) -> None:
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == report.inflow


def _fresh(db: Session, batch_id: str) -> Batch:
    """The batch as committed by the runs, which used sessions of their own."""
    db.rollback()
    batch = db.get(Batch, batch_id, populate_existing=True)
    assert batch is not None
    return batch


def _transfers(db: Session, kind: TransferKind) -> int:
    return (
        db.scalar(
            select(func.count()).select_from(Transfer).where(Transfer.kind == kind)
        )
        or 0
    )


class TestLimits:
    @pytest.mark.parametrize("count", [0, batches.MAX_ITEMS + 1])
    def test_a_batch_holds_one_to_ten_thousand_customers(
        self, db: Session, count: int
    ) -> None:
        w = world(db)
        customer = w.customer()

        with pytest.raises(BatchTooLarge, match="10000"):
            batches.create(
                db, w.actor, kind=TransferKind.ALLOCATE, items=[(customer, 1)] * count
            )
        assert db.scalar(select(func.count()).select_from(Batch)) == 0

    def test_ten_thousand_customers_fit(self, db: Session) -> None:
        w = world(db)
        customer = w.customer()

        batch = batches.create(
            db,
            w.actor,
            kind=TransferKind.ALLOCATE,
            items=[(customer, 1)] * batches.MAX_ITEMS,
        )

        assert (batch.item_count, batch.status) == (10_000, BatchStatus.PENDING)

    def test_only_allocations_and_reclaims_are_batched(self, db: Session) -> None:
        w = world(db)
        customer = w.customer()

        with pytest.raises(ValueError, match="not a batch kind"):
            batches.create(
                db, w.actor, kind=TransferKind.TOPUP, items=[(customer, 1_00)]
            )

    def test_a_member_without_the_funds_transfer_permission_is_refused(
        self, db: Session
    ) -> None:
        w = world(db)
        customer = w.customer()

        with pytest.raises(Forbidden):
            batches.create(
                db,
                w.member("account_manager"),
                kind=TransferKind.ALLOCATE,
                items=[(customer, 1_00)],
            )


class TestItems:
    def test_every_item_is_done_or_refused_with_its_reason(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        w.topup(100_00)
        rich, poor, small, last = w.customers(4)
        consulting = w.customer(CONSULTING)
        stranger = factories.customer(db).organisation.id
        items = [
            (rich, 60_00),
            (stranger, 1_00),
            (consulting, 1_00),
            (rich, 0),
            (rich, -5_00),
            (poor, 50_00),  # only 40.00 left: refused
            (small, 30_00),  # fits: goes through after the refusal
            (last, 10_00),  # exactly what is left
            (last, 1),  # nothing left
        ]
        batch = batches.create(db, w.actor, kind=TransferKind.ALLOCATE, items=items)
        db.commit()

        batches.run(session_factory, batch.id)

        batch = _fresh(db, batch.id)
        assert batch.status is BatchStatus.DONE
        assert batch.finished_at is not None
        assert (batch.done_count, batch.refused_count, batch.done_amount) == (
            3,
            6,
            100_00,
        )
        found = batches.items(db, batch.id)
        assert [(i.status, i.error_code) for i in found] == [
            (BatchItemStatus.DONE, None),
            (BatchItemStatus.REFUSED, "not_your_customer"),
            (BatchItemStatus.REFUSED, "consulting_customer"),
            (BatchItemStatus.REFUSED, "invalid_amount"),
            (BatchItemStatus.REFUSED, "invalid_amount"),
            (BatchItemStatus.REFUSED, "insufficient_funds"),
            (BatchItemStatus.DONE, None),
            (BatchItemStatus.DONE, None),
            (BatchItemStatus.REFUSED, "insufficient_funds"),
        ]
        assert all(i.transfer_id for i in found if i.status is BatchItemStatus.DONE)
        assert not any(i.transfer_id for i in found if i.error_code)
        assert batches.counts_by_error(db, batch.id) == {
            "not_your_customer": 1,
            "consulting_customer": 1,
            "invalid_amount": 2,
            "insufficient_funds": 2,
        }
        refused = batches.items(db, batch.id, status=BatchItemStatus.REFUSED)
        assert [i.position for i in refused] == [1, 2, 3, 4, 5, 8]
        assert w.balances().cash == 0
        assert {
            c: w.customer_balances(c).allocated for c in (rich, poor, small, last)
        } == {rich: 60_00, poor: 0, small: 30_00, last: 10_00}
        _clean(db)

    def test_a_reclaim_batch_takes_back_at_most_each_customers_unspent_money(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        w.topup(100_00)
        first, second, in_arrears = w.customers(3)
        for customer in (first, second, in_arrears):
            ledger.allocate(db, w.actor, customer_id=customer, amount=20_00)
        w.charge(second, 5_00)
        w.charge(in_arrears, 25_00)
        batch = batches.create(
            db,
            w.actor,
            kind=TransferKind.RECLAIM,
            items=[(first, 20_00), (second, 15_01), (second, 15_00), (in_arrears, 1)],
            reason="Quarter end",
        )
        db.commit()

        batches.run(session_factory, batch.id)

        batch = _fresh(db, batch.id)
        assert (batch.done_count, batch.refused_count, batch.done_amount) == (
            2,
            2,
            35_00,
        )
        assert [i.error_code for i in batches.items(db, batch.id)] == [
            None,
            "insufficient_funds",
            None,
            "insufficient_funds",
        ]
        assert w.balances().cash == 40_00 + 35_00
        assert w.customer_balances(in_arrears).debt == 5_00
        reclaims = db.scalars(
            select(Transfer).where(Transfer.kind == TransferKind.RECLAIM)
        ).all()
        assert {t.reason for t in reclaims} == {"Quarter end"}
        _clean(db)

    def test_a_distributor_runs_a_batch_on_its_resellers_balance(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        t = two_tiers(db)
        w = t.world
        reseller = t.reseller.organisation
        w.topup(1000_00)
        ledger.allocate_to_reseller(
            db, t.distributor_actor, reseller_id=reseller.id, amount=25_00
        )
        customers = w.customers(3, partner=reseller)
        batch = batches.create(
            db,
            t.distributor_actor,
            kind=TransferKind.ALLOCATE,
            items=[(c, 10_00) for c in customers],
            indirect_partner_id=reseller.id,
        )
        db.commit()

        batches.run(session_factory, batch.id)

        batch = _fresh(db, batch.id)
        assert (batch.done_count, batch.refused_count) == (2, 1)
        assert w.balances(reseller).cash == 5_00
        assert w.balances().cash == 975_00
        _clean(db)

    def test_another_partner_cannot_see_the_batch(self, db: Session) -> None:
        w = world(db)
        customer = w.customer()
        batch = batches.create(
            db, w.actor, kind=TransferKind.ALLOCATE, items=[(customer, 1_00)]
        )
        other = factories.partner(db)

        assert batches.get(db, w.actor, batch.id) is batch
        with pytest.raises(NoSuchBatch):
            batches.get(db, actor_of(db, other), batch.id)
        with pytest.raises(NoSuchBatch):
            batches.get(db, w.actor, "no-such-batch")


def _allocations_to_2500(db: Session) -> tuple[World, list[str], str]:
    """A committed batch allocating 1.00 to each of 2,500 new customers, from 10,000.00."""
    w = world(db)
    w.topup(10_000_00)
    customers = w.customers(2500)
    batch_id = batches.create(
        db, w.actor, kind=TransferKind.ALLOCATE, items=[(c, 1_00) for c in customers]
    ).id
    db.commit()
    return w, customers, batch_id


class TestChunks:
    def test_a_large_batch_runs_a_thousand_items_per_transaction(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w, _, batch_id = _allocations_to_2500(db)

        progress = []
        more = True
        while more:
            with session_factory() as session, session.begin():
                more = batches.run_chunk(session, batch_id)
            current = _fresh(db, batch_id)
            progress.append(
                (
                    current.status,
                    batches.Progress(current).finished,
                    batches.Progress(current).percent,
                    w.balances().cash,
                )
            )
            db.rollback()

        assert progress == [
            (BatchStatus.RUNNING, 1000, 40, 9_000_00),
            (BatchStatus.RUNNING, 2000, 80, 8_000_00),
            (BatchStatus.DONE, 2500, 100, 7_500_00),
        ]
        with session_factory() as session, session.begin():
            assert batches.run_chunk(session, batch_id) is False
        assert _transfers(db, TransferKind.ALLOCATE) == 2500
        _clean(db)

    def test_a_batch_cut_short_is_finished_by_the_worker_exactly_once(
        self,
        db: Session,
        session_factory: sessionmaker[Session],
        settings: Settings,
    ) -> None:
        w = world(db)
        w.topup(10_000_00)
        customers = w.customers(1500)
        batch = batches.create(
            db,
            w.actor,
            kind=TransferKind.ALLOCATE,
            items=[(c, 2_00) for c in customers],
        )
        db.commit()
        # One chunk commits, then the process stops.
        with session_factory() as session, session.begin():
            assert batches.run_chunk(session, batch.id) is True
        assert _fresh(db, batch.id).status is BatchStatus.RUNNING
        db.rollback()

        assert finish_batches(session_factory, settings) == 1

        batch = _fresh(db, batch.id)
        assert batch.status is BatchStatus.DONE
        assert (batch.done_count, batch.refused_count, batch.done_amount) == (
            1500,
            0,
            3_000_00,
        )
        assert _transfers(db, TransferKind.ALLOCATE) == 1500
        assert set(w.allocated(customers).values()) == {2_00}
        assert w.balances().cash == 7_000_00
        db.rollback()

        assert finish_batches(session_factory, settings) == 0
        assert _transfers(db, TransferKind.ALLOCATE) == 1500
        _clean(db)

    def test_two_runners_taking_turns_run_every_item_once(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        # Each runner remembers only its own outcomes; the other's chunks fall between.
        w, customers, batch_id = _allocations_to_2500(db)

        first: list[batches.ItemOutcome] = []
        second: list[batches.ItemOutcome] = []
        for ran in (first, second, first, second):
            with session_factory() as session, session.begin():
                batches.run_chunk(session, batch_id, ran)

        assert [o.position for o in first] == list(range(1000)) + list(
            range(2000, 2500)
        )
        assert [o.position for o in second] == list(range(1000, 2000))
        assert batches.items_as_run([(c, 1_00) for c in customers], first) is None
        db.rollback()
        assert _fresh(db, batch_id).status is BatchStatus.DONE
        assert _transfers(db, TransferKind.ALLOCATE) == 2500
        assert set(w.allocated(customers).values()) == {1_00}
        _clean(db)

    def test_items_as_run_are_the_items_as_stored(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        w.topup(5_00)
        customers = w.customers(3)
        items = [
            (customers[0], 2_00),
            ("x" * 80, 1_00),
            (customers[1], 0),
            (customers[2], 4_00),
            (customers[2], 3_00),
        ]
        batch_id = batches.create(
            db, w.actor, kind=TransferKind.ALLOCATE, items=items
        ).id
        db.commit()

        ran = batches.run(session_factory, batch_id)

        assert batches.items_as_run(items, ran) == list(batches.item_rows(db, batch_id))
        assert [o.error for o in ran] == [
            None,
            "not_your_customer",
            "invalid_amount",
            "insufficient_funds",
            None,
        ]

    def test_a_finished_batch_is_not_run_again(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        batch = batches.create(
            db, w.actor, kind=TransferKind.ALLOCATE, items=[(customer, 10_00)]
        )
        db.commit()
        batches.run(session_factory, batch.id)
        batches.run(session_factory, batch.id)

        db.rollback()
        assert _transfers(db, TransferKind.ALLOCATE) == 1
        assert w.balances().cash == 90_00


def _stored(
    db: Session,
    w: World,
    items: list[tuple[str, int]],
    kind: TransferKind = TransferKind.ALLOCATE,
) -> str:
    """A committed batch of the world's partner: its id."""
    batch_id = batches.create(db, w.actor, kind=kind, items=items).id
    db.commit()
    return batch_id


class TestSideBySide:
    """Two chunks at a time (``streams=2``): on PostgreSQL when the order of the chunks
    cannot change an outcome, one after another otherwise and on SQLite."""

    def test_every_item_runs_once_and_the_answer_is_in_order(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w, customers, batch_id = _allocations_to_2500(db)

        ran = batches.run(session_factory, batch_id, streams=2)

        assert [o.position for o in ran] == list(range(2500))
        assert {o.status for o in ran} == {BatchItemStatus.DONE}
        batch = _fresh(db, batch_id)
        assert batch.status is BatchStatus.DONE
        assert (batch.done_count, batch.refused_count, batch.done_amount) == (
            2500,
            0,
            2500_00,
        )
        assert batch.finished_at is not None
        assert _transfers(db, TransferKind.ALLOCATE) == 2500
        assert set(w.allocated(customers).values()) == {1_00}
        assert w.balances().cash == 7_500_00
        _clean(db)

    def test_a_batch_the_funds_do_not_cover_is_decided_in_order(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        # Run side by side, the second chunk could take the money the first one needs.
        w = world(db)
        w.topup(1_800_50)
        customers = w.customers(2500)
        batch_id = _stored(db, w, [(c, 1_00) for c in customers])

        ran = batches.run(session_factory, batch_id, streams=2)

        assert [o.error for o in ran] == [None] * 1800 + ["insufficient_funds"] * 700
        assert w.balances().cash == 50
        _clean(db)

    def test_a_reclaim_naming_a_customer_twice_is_decided_in_order(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w = world(db)
        w.topup(2_000_00)
        twice, *others = w.customers(1101)
        funding = _stored(db, w, [(twice, 5_00)] + [(c, 1_00) for c in others])
        batches.run(session_factory, funding, streams=2)
        # The customer's second reclaim lies in the second chunk; it finds 2.00 left.
        items = [(twice, 3_00)] + [(c, 1_00) for c in others[:1099]] + [(twice, 3_00)]
        batch_id = _stored(db, w, items, TransferKind.RECLAIM)

        ran = batches.run(session_factory, batch_id, streams=2)

        assert len(ran) == 1101
        assert ran[0].error is None
        assert ran[-1].error == "insufficient_funds"
        assert {o.error for o in ran[1:-1]} == {None}
        assert w.allocated([twice]) == {twice: 2_00}
        _clean(db)

    def test_reclaims_from_distinct_customers_return_every_amount(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        w, customers, funding = _allocations_to_2500(db)
        batches.run(session_factory, funding, streams=2)
        batch_id = _stored(db, w, [(c, 40) for c in customers], TransferKind.RECLAIM)

        ran = batches.run(session_factory, batch_id, streams=2)

        assert [o.error for o in ran] == [None] * 2500
        assert set(w.allocated(customers).values()) == {60}
        assert w.balances().cash == 7_500_00 + 2500 * 40
        _clean(db)

    @pytest.mark.postgresql_only
    def test_two_runners_side_by_side_at_once_run_every_item_once(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        # The request and the worker, say, both running the batch two chunks at a time.
        w, customers, batch_id = _allocations_to_2500(db)
        ran: list[list[batches.ItemOutcome]] = []
        start = threading.Barrier(2)

        def runner() -> None:
            start.wait(timeout=60)
            ran.append(batches.run(session_factory, batch_id, streams=2))

        threads = [threading.Thread(target=runner) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert len(ran) == 2
        positions = sorted(o.position for outcomes in ran for o in outcomes)
        assert positions == list(range(2500))
        assert _transfers(db, TransferKind.ALLOCATE) == 2500
        assert set(w.allocated(customers).values()) == {1_00}
        batch = _fresh(db, batch_id)
        assert (batch.status, batch.done_count) == (BatchStatus.DONE, 2500)
        _clean(db)

    @pytest.mark.postgresql_only
    def test_a_chunk_that_finds_the_funds_short_under_the_lock_goes_item_by_item(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        # As when single allocations spend the money after the batch started side by
        # side: the chunk posts the customers' sides first, finds the partner's funds
        # short of its total, undoes them and decides each item in order instead.
        w = world(db)
        w.topup(10_00)
        customers = w.customers(3)
        batch_id = _stored(db, w, [(c, 4_00) for c in customers])
        ran: list[batches.ItemOutcome] = []

        with session_factory() as session, session.begin():
            batch = session.get(Batch, batch_id)
            assert batch is not None
            more = batches._run_chunk_in_database(
                session,
                batches.plan_of(session, batch),
                after=-1,
                upto=batches.LAST_POSITION,
                partner_last=True,
                ran=ran,
            )

        assert more is False
        assert [o.error for o in ran] == [None, None, "insufficient_funds"]
        assert _transfers(db, TransferKind.ALLOCATE) == 2
        assert w.allocated(customers) == dict(
            zip(customers, [4_00, 4_00, 0], strict=True)
        )
        assert w.balances().cash == 2_00
        batch = _fresh(db, batch_id)
        assert (batch.status, batch.done_count, batch.refused_count) == (
            BatchStatus.DONE,
            2,
            1,
        )
        _clean(db)

    @pytest.mark.postgresql_only
    def test_a_batch_cut_short_with_a_gap_is_finished_once(
        self,
        db: Session,
        session_factory: sessionmaker[Session],
        settings: Settings,
    ) -> None:
        # Side by side, the second run of positions can commit before the first; the
        # process then stops. The worker finishes the first and third runs only.
        w, customers, batch_id = _allocations_to_2500(db)
        with session_factory() as session, session.begin():
            batch = session.get(Batch, batch_id)
            assert batch is not None
            more = batches._run_chunk_in_database(
                session,
                batches.plan_of(session, batch),
                after=999,
                upto=1999,
                partner_last=True,
                ran=None,
            )
        assert more is True
        assert _fresh(db, batch_id).done_count == 1000
        db.rollback()

        assert finish_batches(session_factory, settings) == 1

        batch = _fresh(db, batch_id)
        assert (batch.status, batch.done_count, batch.done_amount) == (
            BatchStatus.DONE,
            2500,
            2500_00,
        )
        assert _transfers(db, TransferKind.ALLOCATE) == 2500
        assert set(w.allocated(customers).values()) == {1_00}
        _clean(db)

    @pytest.mark.postgresql_only
    @pytest.mark.parametrize(("topup", "side_by_side"), [(10_00, True), (9_99, False)])
    def test_refused_amounts_do_not_make_the_others_look_covered(
        self,
        db: Session,
        session_factory: sessionmaker[Session],
        topup: int,
        side_by_side: bool,
    ) -> None:
        w = world(db)
        w.topup(topup)
        first, second = w.customers(2)
        batch_id = _stored(db, w, [(first, 10_00), (second, -10_00)])

        with session_factory() as session:
            found = batches._order_free(session, batch_id)
        assert (found is not None) is side_by_side
