"""Consumption from the vendor's billing: which pocket a charge draws on, arrears, refunds,
and charge ids that make a retried delivery harmless."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.customers.models import AssociationMode
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import Transfer, TransferKind
from partnercenter.ledger.service import Charge
from partnercenter.ledger.verify import verify
from tests import factories
from tests.ledger.world import World, world

RESALE, CONSULTING = AssociationMode.RESALE, AssociationMode.CONSULTING


def _count(db: Session, kind: TransferKind) -> int:
    return (
        db.scalar(
            select(func.count()).select_from(Transfer).where(Transfer.kind == kind)
        )
        or 0
    )


def _clean(db: Session) -> None:
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == report.inflow


def _funded(w: World, minor: int, mode: AssociationMode = RESALE) -> str:
    """A customer with ``minor`` to spend: allocated in resale, its own money otherwise."""
    customer = w.customer(mode)
    if mode is RESALE:
        ledger.allocate(w.db, w.actor, customer_id=customer, amount=minor)
    else:
        ledger.record_recharge(w.db, w.finance, customer_id=customer, amount=minor)
    return customer


class TestPockets:
    def test_a_resale_customers_charge_draws_on_the_allocated_money(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 40_00)

        [result] = ledger.post_charges(
            db, w.finance, [Charge("bill-1", customer, 12_34)]
        )

        assert result.status == "posted"
        assert result.transfer_id is not None
        assert result.transfer_id.startswith("CO")
        balances = w.customer_balances(customer)
        assert (balances.allocated, balances.cash, balances.debt) == (27_66, 0, 0)
        assert w.balances().cash == 60_00
        transfer = db.get(Transfer, result.transfer_id)
        assert transfer is not None
        assert (transfer.kind, transfer.external_ref, transfer.amount) == (
            TransferKind.CONSUME,
            "bill-1",
            12_34,
        )
        _clean(db)

    @pytest.mark.parametrize("associated", [True, False])
    def test_a_customer_outside_resale_pays_from_its_own_money(
        self, db: Session, associated: bool
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = (
            w.customer(CONSULTING)
            if associated
            else factories.customer(db).organisation.id
        )
        ledger.record_recharge(db, w.finance, customer_id=customer, amount=30_00)

        w.charge(customer, 10_00)

        balances = w.customer_balances(customer)
        assert (balances.cash, balances.allocated, balances.resale) == (
            20_00,
            0,
            False,
        )
        assert w.balances().cash == 100_00
        _clean(db)


class TestArrears:
    def test_a_charge_beyond_the_balance_is_posted_and_the_customer_owes_the_rest(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 10_00)
        solvent = _funded(w, 10_00)

        [result] = ledger.post_charges(
            db, w.finance, [Charge("bill-big", customer, 25_00)]
        )

        assert result.status == "posted"
        balances = w.customer_balances(customer)
        assert (balances.allocated, balances.debt) == (-15_00, 15_00)
        assert ledger.debts(db, [customer, solvent]) == {customer: 15_00, solvent: 0}
        # The partner's balance is not touched by its customer's arrears.
        assert w.balances().cash == 80_00
        _clean(db)

    def test_a_consulting_customer_falls_into_arrears_on_its_own_money(
        self, db: Session
    ) -> None:
        w = world(db)
        customer = w.customer(CONSULTING)

        w.charge(customer, 7_00)

        assert w.customer_balances(customer).debt == 7_00
        assert ledger.debts(db, [customer]) == {customer: 7_00}
        ledger.record_recharge(db, w.finance, customer_id=customer, amount=7_00)
        assert ledger.debts(db, [customer]) == {customer: 0}

    def test_an_allocation_clears_the_debt(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        w.charge(customer, 9_00)
        assert ledger.debts(db, [customer]) == {customer: 9_00}

        ledger.allocate(db, w.actor, customer_id=customer, amount=10_00)

        assert ledger.debts(db, [customer]) == {customer: 0}
        assert w.customer_balances(customer).allocated == 1_00
        assert ledger.debts(db, []) == {}


class TestChargeIds:
    def test_the_same_charge_again_is_a_duplicate_and_moves_nothing(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 40_00)
        [first] = ledger.post_charges(db, w.finance, [Charge("bill-1", customer, 5_00)])

        [again] = ledger.post_charges(db, w.finance, [Charge("bill-1", customer, 5_00)])

        assert again.status == "duplicate"
        assert again.transfer_id == first.transfer_id
        assert again.error is None
        assert w.customer_balances(customer).allocated == 35_00
        assert _count(db, TransferKind.CONSUME) == 1

    @pytest.mark.parametrize("change", ["amount", "customer"])
    def test_the_same_charge_id_for_something_else_is_refused(
        self, db: Session, change: str
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 40_00)
        other = _funded(w, 40_00)
        ledger.post_charges(db, w.finance, [Charge("bill-1", customer, 5_00)])
        reused = (
            Charge("bill-1", customer, 5_01)
            if change == "amount"
            else Charge("bill-1", other, 5_00)
        )

        [result] = ledger.post_charges(db, w.finance, [reused])

        assert (result.status, result.error) == ("refused", "charge_id_reused")
        assert w.customer_balances(customer).allocated == 35_00
        assert w.customer_balances(other).allocated == 40_00
        assert _count(db, TransferKind.CONSUME) == 1

    def test_a_charge_repeated_within_one_delivery_is_posted_once(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 40_00)

        results = ledger.post_charges(
            db,
            w.finance,
            [Charge("bill-1", customer, 5_00), Charge("bill-1", customer, 5_00)],
        )

        assert [r.status for r in results] == ["posted", "duplicate"]
        assert results[1].transfer_id == results[0].transfer_id
        assert w.customer_balances(customer).allocated == 35_00
        assert _count(db, TransferKind.CONSUME) == 1

    def test_a_charge_id_reused_within_one_delivery_is_refused(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 40_00)

        results = ledger.post_charges(
            db,
            w.finance,
            [Charge("bill-1", customer, 5_00), Charge("bill-1", customer, 9_00)],
        )

        assert [(r.status, r.error) for r in results] == [
            ("posted", None),
            ("refused", "charge_id_reused"),
        ]
        assert w.customer_balances(customer).allocated == 35_00

    def test_refused_charges_leave_the_others_of_the_delivery_alone(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 40_00)

        results = ledger.post_charges(
            db,
            w.finance,
            [
                Charge("bill-1", "no-such-customer", 1_00),
                Charge("bill-2", w.partner.organisation.id, 1_00),
                Charge("bill-3", customer, 0),
                Charge("bill-4", customer, -1_00),
                Charge("bill-5", customer, 2_00),
            ],
        )

        assert [(r.status, r.error) for r in results] == [
            ("refused", "no_such_customer"),
            ("refused", "no_such_customer"),
            ("refused", "invalid_amount"),
            ("refused", "invalid_amount"),
            ("posted", None),
        ]
        assert w.customer_balances(customer).allocated == 38_00
        # A refused id is not spent: the corrected charge goes through under it.
        [fixed] = ledger.post_charges(db, w.finance, [Charge("bill-3", customer, 1)])
        assert fixed.status == "posted"
        _clean(db)


class TestRefunds:
    def test_a_refund_gives_the_charge_back_to_the_pocket_it_came_from(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = _funded(w, 10_00)
        consulting = _funded(w, 10_00, CONSULTING)
        ledger.post_charges(
            db,
            w.finance,
            [Charge("bill-1", customer, 15_00), Charge("bill-2", consulting, 4_00)],
        )
        assert ledger.debts(db, [customer]) == {customer: 5_00}

        # A refund carries the id of the charge it refunds; that is no duplicate.
        results = ledger.post_charges(
            db,
            w.finance,
            [
                Charge("bill-1", customer, 6_00, refund=True),
                Charge("bill-2", consulting, 4_00, refund=True),
            ],
        )

        assert [r.status for r in results] == ["posted", "posted"]
        assert all(r.transfer_id and r.transfer_id.startswith("RF") for r in results)
        assert w.customer_balances(customer).allocated == 1_00
        assert ledger.debts(db, [customer]) == {customer: 0}
        assert w.customer_balances(consulting).cash == 10_00
        [again] = ledger.post_charges(
            db, w.finance, [Charge("bill-1", customer, 6_00, refund=True)]
        )
        assert again.status == "duplicate"
        assert w.customer_balances(customer).allocated == 1_00
        assert w.balances().cash == 90_00
        _clean(db)
        assert verify(db).inflow == 100_00 + 10_00 - 19_00 + 10_00


class TestVolume:
    def test_a_thousand_charges_in_one_delivery(self, db: Session) -> None:
        w = world(db)
        w.topup(10_000_00)
        resale = w.customers(40)
        consulting = w.customers(10, CONSULTING)
        funded = ledger.transfer_many(
            db, w.actor, TransferKind.ALLOCATE, [(c, 100_00) for c in resale]
        )
        assert all(r.transfer_id for r in funded)
        everyone = resale + consulting
        charges = [
            Charge(f"bulk-{n}", everyone[n % len(everyone)], 1_00 + n % 7)
            for n in range(1000)
        ]

        results = ledger.post_charges(db, w.finance, charges)

        assert [r.status for r in results] == ["posted"] * 1000
        assert len({r.transfer_id for r in results}) == 1000
        spent: dict[str, int] = {}
        for charge in charges:
            spent[charge.customer_id] = spent.get(charge.customer_id, 0) + charge.amount
        found = {c: w.customer_balances(c) for c in everyone}
        for customer in resale:
            assert found[customer].allocated == 100_00 - spent[customer]
        for customer in consulting:
            assert found[customer].cash == -spent[customer]
        assert w.balances().cash == 6_000_00

        repeated = ledger.post_charges(db, w.finance, charges)

        assert {r.status for r in repeated} == {"duplicate"}
        assert _count(db, TransferKind.CONSUME) == 1000
        db.commit()
        _clean(db)
