"""Reading the ledger: adjust records, statements, the balance series, batches and the CSV
pieces, each filtered, paged, and kept to the organisation asked for."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.identity.models import PartnerType
from partnercenter.ledger import batches, queries
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import (
    AccountKind,
    BatchItemStatus,
    TransferKind,
)
from tests import factories
from tests.ledger.world import World, actor_of, world

TZ = "Asia/Shanghai"


@pytest.fixture
def funded(db: Session, clock: FrozenClock) -> World:
    """A partner with 1,000.00, two resale customers, and another partner with its own."""
    w = world(db)
    w.topup(1000_00)
    return w


def _allocate(w: World, customer: str, minor: int, clock: FrozenClock) -> str:
    clock.move(minutes=5)
    return ledger.allocate(
        w.db, w.actor, customer_id=customer, amount=minor, reason="monthly"
    ).transfer_id


def _reclaim(w: World, customer: str, minor: int, clock: FrozenClock) -> str:
    clock.move(minutes=5)
    return ledger.reclaim(w.db, w.actor, customer_id=customer, amount=minor).transfer_id


class TestAdjustRecords:
    def test_the_partners_allocations_newest_first_with_names(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        first, second = funded.customer(), funded.customer()
        a = _allocate(funded, first, 100_00, clock)
        b = _allocate(funded, second, 50_00, clock)
        c = _reclaim(funded, first, 20_00, clock)

        found = queries.adjust_records(db, funded.partner.organisation.id)

        assert found.total == 3
        assert [r.transfer_id for r in found.rows] == [c, b, a]
        newest = found.rows[0]
        assert newest.kind is TransferKind.RECLAIM
        assert newest.counterparty_id == first
        assert newest.counterparty_name == factories_name(db, first)
        assert newest.incoming
        assert newest.signed_amount == 20_00
        assert found.rows[2].signed_amount == -100_00
        assert found.rows[2].reason == "monthly"
        assert found.rows[2].actor_name == funded.partner.admin.display_name

    def test_another_partners_records_never_appear(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        mine = _allocate(funded, funded.customer(), 10_00, clock)
        other = factories.partner(db)
        funded.topup(500_00, other.organisation)
        theirs_customer = funded.customer(partner=other.organisation)
        clock.move(minutes=5)
        theirs = ledger.allocate(
            db, actor_of(db, other), customer_id=theirs_customer, amount=30_00
        ).transfer_id

        own = queries.adjust_records(db, funded.partner.organisation.id)
        asked_for_theirs = queries.adjust_records(
            db, funded.partner.organisation.id, transfer_id=theirs
        )
        by_their_customer = queries.adjust_records(
            db, funded.partner.organisation.id, customer_id=theirs_customer
        )

        assert [r.transfer_id for r in own.rows] == [mine]
        assert asked_for_theirs.total == 0
        assert asked_for_theirs.rows == []
        assert by_their_customer.total == 0
        assert [
            r.transfer_id
            for r in queries.adjust_records(db, other.organisation.id).rows
        ] == [theirs]

    def test_filters_by_customer_kind_time_and_transfer(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        first, second = funded.customer(), funded.customer()
        a = _allocate(funded, first, 100_00, clock)
        start = clock.now() + dt.timedelta(minutes=1)
        b = _allocate(funded, second, 50_00, clock)
        c = _reclaim(funded, first, 20_00, clock)
        partner = funded.partner.organisation.id

        def ids(**filters: object) -> list[str]:
            return [
                r.transfer_id
                for r in queries.adjust_records(db, partner, **filters).rows  # type: ignore[arg-type]
            ]

        assert ids(customer_id=first) == [c, a]
        assert ids(kinds={TransferKind.RECLAIM}) == [c]
        assert ids(kinds={TransferKind.TOPUP}) == []
        assert ids(since=start) == [c, b]
        assert ids(until=start) == [a]
        assert ids(transfer_id=b) == [b]

    def test_pages_and_the_total(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        customer = funded.customer()
        made = [_allocate(funded, customer, 1_00 + n, clock) for n in range(5)]
        partner = funded.partner.organisation.id

        first = queries.adjust_records(db, partner, limit=2)
        third = queries.adjust_records(db, partner, offset=4, limit=2)

        assert first.total == third.total == 5
        assert [r.transfer_id for r in first.rows] == made[::-1][:2]
        assert [r.transfer_id for r in third.rows] == [made[0]]

    def test_a_reseller_sees_what_its_distributor_moved_and_both_see_it_once(
        self, db: Session, clock: FrozenClock
    ) -> None:
        w = world(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=w.partner.organisation
        )
        w.topup(300_00)
        clock.move(minutes=5)
        funding = ledger.allocate_to_reseller(
            db, w.actor, reseller_id=reseller.organisation.id, amount=100_00
        ).transfer_id
        clock.move(minutes=5)
        back = ledger.reclaim_from_reseller(
            db, w.actor, reseller_id=reseller.organisation.id, amount=40_00
        ).transfer_id
        customer = w.customer(partner=reseller.organisation)
        clock.move(minutes=5)
        own = ledger.allocate(
            db, actor_of(db, reseller), customer_id=customer, amount=10_00
        ).transfer_id

        theirs = queries.adjust_records(db, reseller.organisation.id)
        distributors = queries.adjust_records(db, w.partner.organisation.id)
        by_distributor = queries.adjust_records(
            db, reseller.organisation.id, customer_id=w.partner.organisation.id
        )

        assert [r.transfer_id for r in theirs.rows] == [own, back, funding]
        assert theirs.total == 3
        received = {r.transfer_id: r for r in theirs.rows}
        assert received[funding].incoming
        assert not received[funding].own
        assert not received[back].incoming
        assert received[funding].counterparty_id == w.partner.organisation.id
        assert received[own].own
        assert not received[own].incoming
        assert [r.transfer_id for r in distributors.rows] == [back, funding]
        assert distributors.rows[1].counterparty_id == reseller.organisation.id
        assert not distributors.rows[1].incoming
        assert [r.transfer_id for r in by_distributor.rows] == [back, funding]

    def test_the_export_walks_every_row_in_the_same_order(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        customer = funded.customer()
        for n in range(7):
            _allocate(funded, customer, 1_00 + n, clock)
        partner = funded.partner.organisation.id

        paged = [r.transfer_id for r in queries.adjust_records(db, partner).rows]
        walked = [
            r.transfer_id for r in queries.iter_adjust_records(db, partner, page=3)
        ]

        assert walked == paged
        assert len(walked) == 7


def factories_name(db: Session, organisation_id: str) -> str:
    from partnercenter.identity.models import Organisation

    organisation = db.get(Organisation, organisation_id)
    assert organisation is not None
    return organisation.display_name


class TestStatement:
    def test_the_partners_entries_with_balance_after_and_counterparty(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        customer = funded.customer()
        a = _allocate(funded, customer, 300_00, clock)
        r = _reclaim(funded, customer, 100_00, clock)
        partner = funded.partner.organisation.id

        found = queries.statement(db, partner, AccountKind.PARTNER_CASH)

        assert found.total == 3
        assert [line.transfer_id for line in found.rows[:2]] == [r, a]
        assert [line.amount for line in found.rows] == [100_00, -300_00, 1000_00]
        assert [line.balance_after for line in found.rows] == [800_00, 700_00, 1000_00]
        assert found.rows[1].counterparty_id == customer
        assert found.rows[1].counterparty_name == factories_name(db, customer)
        assert found.rows[2].kind is TransferKind.TOPUP
        assert found.rows[2].counterparty_id is None

    def test_direction_kind_and_time_filters(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        customer = funded.customer()
        a = _allocate(funded, customer, 300_00, clock)
        middle = clock.now() + dt.timedelta(minutes=1)
        r = _reclaim(funded, customer, 100_00, clock)
        partner = funded.partner.organisation.id

        def ids(**filters: object) -> list[str]:
            found = queries.statement(db, partner, AccountKind.PARTNER_CASH, **filters)  # type: ignore[arg-type]
            return [line.transfer_id for line in found.rows]

        outgoing = ids(direction="out")
        assert outgoing == [a]
        assert len(ids(direction="in")) == 2
        assert ids(kinds={TransferKind.RECLAIM}) == [r]
        assert ids(since=middle) == [r]
        assert len(ids(until=middle)) == 2
        total = queries.statement(
            db, partner, AccountKind.PARTNER_CASH, kinds={TransferKind.ALLOCATE}
        ).total
        assert total == 1

    def test_the_customers_statement_names_the_partner_and_stays_its_own(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        customer, neighbour = funded.customer(), funded.customer()
        a = _allocate(funded, customer, 300_00, clock)
        _allocate(funded, neighbour, 50_00, clock)

        allocated = queries.statement(db, customer, AccountKind.CUSTOMER_ALLOCATED)
        cash = queries.statement(db, customer, AccountKind.CUSTOMER_CASH)

        assert [line.transfer_id for line in allocated.rows] == [a]
        assert allocated.rows[0].amount == 300_00
        assert allocated.rows[0].counterparty_id == funded.partner.organisation.id
        assert allocated.rows[0].organisation_id == funded.partner.organisation.id
        assert cash.total == 0
        assert cash.rows == []

    def test_paging_and_the_export(
        self, db: Session, funded: World, clock: FrozenClock
    ) -> None:
        customer = funded.customer()
        for n in range(6):
            _allocate(funded, customer, 1_00 + n, clock)
        partner = funded.partner.organisation.id

        second = queries.statement(
            db, partner, AccountKind.PARTNER_CASH, offset=2, limit=2
        )
        everything = queries.statement(db, partner, AccountKind.PARTNER_CASH)
        walked = list(
            queries.iter_statement(db, partner, AccountKind.PARTNER_CASH, page=4)
        )

        assert second.total == 7
        assert second.rows == everything.rows[2:4]
        assert walked == everything.rows

    def test_an_organisation_without_an_account_has_an_empty_statement(
        self, db: Session, funded: World
    ) -> None:
        stranger = factories.partner(db).organisation.id

        found = queries.statement(db, stranger, AccountKind.PARTNER_CASH)

        assert found.rows == []
        assert found.total == 0


class TestBalanceSeries:
    def test_closing_balances_carry_over_days_without_entries(
        self, db: Session, clock: FrozenClock
    ) -> None:
        # 2026-03-02 02:00 UTC is 10:00 in Shanghai.
        w = world(db)
        clock.set(dt.datetime(2026, 2, 26, 4, 0, tzinfo=dt.UTC))
        w.topup(100_00)
        customer = w.customer()
        # 23:30 in Shanghai on 2026-02-27 is 15:30 UTC that day.
        clock.set(dt.datetime(2026, 2, 27, 15, 30, tzinfo=dt.UTC))
        ledger.allocate(db, w.actor, customer_id=customer, amount=30_00)
        # 00:30 in Shanghai on 2026-02-28 is still 2026-02-27 in UTC.
        clock.set(dt.datetime(2026, 2, 27, 16, 30, tzinfo=dt.UTC))
        ledger.allocate(db, w.actor, customer_id=customer, amount=20_00)
        account = ledger.find_account(
            db, w.partner.organisation.id, AccountKind.PARTNER_CASH
        )
        assert account is not None

        series = queries.balance_series(
            db, account.id, days=6, today=dt.date(2026, 3, 2), timezone=TZ
        )

        assert series == [
            (dt.date(2026, 2, 25), 0),
            (dt.date(2026, 2, 26), 100_00),
            (dt.date(2026, 2, 27), 70_00),
            (dt.date(2026, 2, 28), 50_00),
            (dt.date(2026, 3, 1), 50_00),
            (dt.date(2026, 3, 2), 50_00),
        ]

    def test_no_account_is_a_flat_zero(self, db: Session) -> None:
        series = queries.balance_series(
            db, None, days=3, today=dt.date(2026, 3, 2), timezone=TZ
        )

        assert series == [
            (dt.date(2026, 2, 28), 0),
            (dt.date(2026, 3, 1), 0),
            (dt.date(2026, 3, 2), 0),
        ]


class TestBatchesAndResellers:
    def test_batches_and_their_lines_with_names(
        self, db: Session, session_factory: object, funded: World
    ) -> None:
        good = funded.customer()
        batch = batches.create(
            db,
            funded.actor,
            kind=TransferKind.ALLOCATE,
            items=[(good, 10_00), ("unknown-id", 5_00)],
        )
        other = factories.partner(db)
        db.commit()
        batches.run(session_factory, batch.id)  # type: ignore[arg-type]
        db.expire_all()

        listed = queries.batches_of(db, funded.partner.organisation.id)
        stranger = queries.batches_of(db, other.organisation.id)
        refreshed = batches.get(db, funded.actor, batch.id)
        lines = queries.batch_lines(db, refreshed)
        refused = queries.batch_lines(db, refreshed, status=BatchItemStatus.REFUSED)

        assert [b.id for b in listed.rows] == [batch.id]
        assert listed.total == 1
        assert stranger.total == 0
        assert [line.customer_id for line in lines.rows] == [good, "unknown-id"]
        assert lines.rows[0].customer_name == factories_name(db, good)
        assert lines.rows[0].transfer_id
        assert lines.rows[1].customer_name is None
        assert [line.error_code for line in refused.rows] == ["not_your_customer"]
        assert refused.total == 1
        assert lines.total == 2
        assert list(queries.iter_batch_lines(db, batch.id, page=1)) == lines.rows

    def test_a_distributors_resellers_with_their_balances(
        self, db: Session, clock: FrozenClock
    ) -> None:
        w = world(db, PartnerType.DISTRIBUTOR)
        funded_one = factories.partner(
            db, PartnerType.RESELLER, parent=w.partner.organisation
        )
        factories.partner(db, PartnerType.RESELLER, parent=w.partner.organisation)
        elsewhere = factories.partner(db, PartnerType.DISTRIBUTOR).organisation
        factories.partner(db, PartnerType.RESELLER, parent=elsewhere)
        w.topup(100_00, funded_one.organisation)

        found = queries.reseller_balances(db, w.partner.organisation.id)

        assert found.total == 2
        by_id = {row.reseller_id: row.balances.cash for row in found.rows}
        assert by_id[funded_one.organisation.id] == 100_00
        assert sorted(by_id.values()) == [0, 100_00]


class TestCsv:
    def test_the_pieces_make_one_file_with_a_byte_order_mark(self) -> None:
        pieces = list(
            queries.csv_stream(
                ["Name", "Amount"],
                [("a", 1), ("b, c", 2), ("d", 3)],
                lambda row: [row[0], str(row[1])],
                chunk=2,
            )
        )

        text = "".join(pieces)
        assert len(pieces) == 2
        assert text.startswith("\ufeff")
        assert list(csv.reader(io.StringIO(text[1:]))) == [
            ["Name", "Amount"],
            ["a", "1"],
            ["b, c", "2"],
            ["d", "3"],
        ]


class TestCounts:
    def test_a_count_stops_past_the_page_and_says_so(
        self,
        db: Session,
        funded: World,
        clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        customer = funded.customer()
        for n in range(5):
            _allocate(funded, customer, 1_00 + n, clock)
        partner = funded.partner.organisation.id
        monkeypatch.setattr(queries, "COUNT_WINDOW", 2)

        first = queries.adjust_records(db, partner, limit=2)
        later = queries.adjust_records(db, partner, offset=3, limit=2)
        outgoing = queries.statement(
            db, partner, AccountKind.PARTNER_CASH, direction="out", limit=2
        )
        whole = queries.statement(db, partner, AccountKind.PARTNER_CASH, limit=2)

        # At least one row beyond the page is promised, so that it has a next page.
        assert (first.total, first.exact) == (4, False)
        assert len(first.rows) == 2
        assert (later.total, later.exact) == (5, True)
        assert (outgoing.total, outgoing.exact) == (4, False)
        # The whole statement is counted by the account itself, exactly.
        assert (whole.total, whole.exact) == (6, True)
