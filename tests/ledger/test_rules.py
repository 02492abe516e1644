"""The funds rules as a partner and vendor finance meet them: what may be allocated and
reclaimed, by whom, for which customers, and what every refusal leaves untouched.

On PostgreSQL single allocations and reclaims run through the database function of
migration 0004, on SQLite through the Python engine; every test runs on both, so the two
paths are held to the same rules.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock, utc_now
from partnercenter.core.errors import Forbidden
from partnercenter.core.settings import Settings
from partnercenter.customers import service as customers
from partnercenter.customers.changes import service as changes
from partnercenter.customers.changes.rules import ChangeRefused
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRecord,
    AssociationStatus,
    Customer,
    RequestKind,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
from partnercenter.ledger import batches
from partnercenter.ledger import service as ledger
from partnercenter.ledger.errors import (
    ConsultingCustomer,
    InsufficientFunds,
    InvalidAmount,
    NoSuchTransfer,
    NotADistributor,
    NotAPartner,
    NotCorrectable,
    NotYourCustomer,
    NotYourReseller,
)
from partnercenter.ledger.models import Account, AccountKind, Transfer, TransferKind
from partnercenter.ledger.verify import verify
from tests import factories
from tests.ledger.world import World, two_tiers, world

RESALE, CONSULTING = AssociationMode.RESALE, AssociationMode.CONSULTING


def _transfers(db: Session, kind: TransferKind) -> list[Transfer]:
    return list(
        db.scalars(select(Transfer).where(Transfer.kind == kind).order_by(Transfer.id))
    )


def _clean(db: Session) -> None:
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == report.inflow


class TestAllocation:
    def test_allocating_moves_money_out_of_the_partners_balance_at_once(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()

        result = ledger.allocate(db, w.actor, customer_id=customer, amount=30_50)

        assert result.kind is TransferKind.ALLOCATE
        assert result.transfer_id.startswith("AD")
        assert result.partner_balance_after == 69_50
        assert w.balances().cash == 69_50
        assert w.customer_balances(customer).allocated == 30_50

        # What the customer spends later comes out of the allocation, not the partner.
        w.charge(customer, 10_00)
        assert w.balances().cash == 69_50
        assert w.customer_balances(customer).allocated == 20_50
        _clean(db)

    def test_exactly_the_allocatable_amount_goes_and_one_fen_more_is_refused(
        self, db: Session
    ) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        w.topup(100_00)
        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=50_00)
        ledger.set_designated(db, w.finance, partner_id=partner_id, amount=20_00)
        customer = w.customer()
        assert w.balances().allocatable == 130_00

        with pytest.raises(InsufficientFunds) as refused:
            ledger.allocate(db, w.actor, customer_id=customer, amount=130_01)

        assert "130.00" in str(refused.value)
        assert refused.value.params == {"available": "130.00", "currency": "CNY"}
        assert w.balances().cash == 100_00
        assert w.customer_balances(customer).allocated == 0
        assert _transfers(db, TransferKind.ALLOCATE) == []

        ledger.allocate(db, w.actor, customer_id=customer, amount=130_00)

        balances = w.balances()
        assert (balances.cash, balances.allocatable, balances.credit_used) == (
            -30_00,
            0,
            30_00,
        )
        with pytest.raises(InsufficientFunds, match=r"0\.00 CNY"):
            ledger.allocate(db, w.actor, customer_id=customer, amount=1)
        _clean(db)

    def test_a_credit_line_lets_the_balance_go_down_to_minus_the_credit(
        self, db: Session
    ) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        customer = w.customer()
        with pytest.raises(InsufficientFunds):
            ledger.allocate(db, w.actor, customer_id=customer, amount=1)

        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=50_00)
        ledger.allocate(db, w.actor, customer_id=customer, amount=49_99)
        ledger.allocate(db, w.actor, customer_id=customer, amount=1)

        assert w.balances().cash == -50_00
        assert w.balances().credit_used == 50_00
        with pytest.raises(InsufficientFunds):
            ledger.allocate(db, w.actor, customer_id=customer, amount=1)
        assert w.balances().cash == -50_00
        _clean(db)

    def test_the_designated_amount_is_not_allocatable(self, db: Session) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        w.topup(100_00)
        customer = w.customer()
        ledger.set_designated(db, w.finance, partner_id=partner_id, amount=100_00)

        with pytest.raises(InsufficientFunds):
            ledger.allocate(db, w.actor, customer_id=customer, amount=1)

        ledger.set_designated(db, w.finance, partner_id=partner_id, amount=40_00)
        ledger.allocate(db, w.actor, customer_id=customer, amount=60_00)
        with pytest.raises(InsufficientFunds, match=r"0\.00"):
            ledger.allocate(db, w.actor, customer_id=customer, amount=1)
        assert w.balances().cash == 40_00
        assert w.balances().designated == 40_00

    def test_the_credit_line_cannot_be_set_below_the_credit_in_use(
        self, db: Session
    ) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        customer = w.customer()
        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=50_00)
        ledger.allocate(db, w.actor, customer_id=customer, amount=30_00)

        with pytest.raises(InsufficientFunds, match=r"30\.00"):
            ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=29_99)
        assert w.balances().credit_limit == 50_00

        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=30_00)
        assert w.balances().credit_limit == 30_00
        assert w.balances().allocatable == 0
        w.topup(30_00)
        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=0)
        assert w.balances().credit_limit == 0

    def test_credit_and_designated_refuse_negative_figures(self, db: Session) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        for setter in (ledger.set_credit_limit, ledger.set_designated):
            with pytest.raises(InvalidAmount):
                setter(db, w.finance, partner_id=partner_id, amount=-1)

    @pytest.mark.parametrize("amount", [0, -1, -100_00, ledger.MAX_AMOUNT + 1])
    def test_an_amount_must_be_above_zero(self, db: Session, amount: int) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=10_00)

        for move in (ledger.allocate, ledger.reclaim):
            with pytest.raises(InvalidAmount):
                move(db, w.actor, customer_id=customer, amount=amount)
        with pytest.raises(InvalidAmount):
            ledger.record_topup(
                db, w.finance, partner_id=w.partner.organisation.id, amount=amount
            )
        assert (w.balances().cash, w.customer_balances(customer).allocated) == (
            90_00,
            10_00,
        )

    def test_a_consulting_customer_is_refused(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer(CONSULTING)

        with pytest.raises(ConsultingCustomer):
            ledger.allocate(db, w.actor, customer_id=customer, amount=1_00)
        with pytest.raises(ConsultingCustomer):
            ledger.reclaim(db, w.actor, customer_id=customer, amount=1_00)
        assert w.balances().cash == 100_00

    def test_a_customer_not_associated_with_the_partner_is_refused(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        other = factories.partner(db).organisation
        strangers = [
            factories.customer(db).organisation.id,
            w.customer(partner=other),
            "no-such-customer",
        ]

        for customer in strangers:
            with pytest.raises(NotYourCustomer):
                ledger.allocate(db, w.actor, customer_id=customer, amount=1_00)
            with pytest.raises(NotYourCustomer):
                ledger.reclaim(db, w.actor, customer_id=customer, amount=1_00)
        assert w.balances().cash == 100_00
        assert w.customer_balances(strangers[1]).allocated == 0

    def test_a_customer_that_left_is_refused(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        association = customers.active_association(db, customer)
        assert association is not None
        association.status = AssociationStatus.ENDED
        db.flush()

        with pytest.raises(NotYourCustomer):
            ledger.allocate(db, w.actor, customer_id=customer, amount=1_00)


class TestReclaim:
    def test_at_most_the_customers_unspent_allocation_comes_back(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=50_00)
        w.charge(customer, 20_00)

        with pytest.raises(InsufficientFunds, match=r"30\.00 CNY"):
            ledger.reclaim(db, w.actor, customer_id=customer, amount=30_01)
        assert w.customer_balances(customer).allocated == 30_00

        result = ledger.reclaim(db, w.actor, customer_id=customer, amount=30_00)

        assert result.transfer_id.startswith("RE")
        assert result.partner_balance_after == 80_00
        assert w.balances().cash == 80_00
        assert w.customer_balances(customer).allocated == 0
        _clean(db)

    def test_a_customer_in_arrears_has_nothing_to_reclaim(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=10_00)
        w.charge(customer, 15_00)

        with pytest.raises(InsufficientFunds, match=r"0\.00 CNY") as refused:
            ledger.reclaim(db, w.actor, customer_id=customer, amount=1)

        assert refused.value.params["available"] == "0.00"
        assert w.customer_balances(customer).debt == 5_00
        assert w.balances().cash == 90_00

    def test_a_reclaim_does_not_reach_into_the_partners_credit(
        self, db: Session
    ) -> None:
        w = world(db)
        ledger.set_credit_limit(
            db, w.finance, partner_id=w.partner.organisation.id, amount=50_00
        )
        customer = w.customer()

        with pytest.raises(InsufficientFunds):
            ledger.reclaim(db, w.actor, customer_id=customer, amount=1)
        assert w.balances().cash == 0


class TestTwoTiers:
    def test_a_distributor_funds_and_reclaims_from_its_reseller(
        self, db: Session
    ) -> None:
        t = two_tiers(db)
        w = t.world
        reseller = t.reseller.organisation
        w.topup(100_00)

        with pytest.raises(InsufficientFunds, match=r"100\.00"):
            ledger.allocate_to_reseller(
                db, t.distributor_actor, reseller_id=reseller.id, amount=100_01
            )
        funded = ledger.allocate_to_reseller(
            db, t.distributor_actor, reseller_id=reseller.id, amount=40_00
        )

        assert funded.kind is TransferKind.INDIRECT_ALLOCATE
        assert funded.partner_balance_after == 60_00
        assert w.balances().cash == 60_00
        assert w.balances(reseller).cash == 40_00

        ledger.set_designated(db, w.finance, partner_id=reseller.id, amount=10_00)
        with pytest.raises(InsufficientFunds, match=r"30\.00"):
            ledger.reclaim_from_reseller(
                db, t.distributor_actor, reseller_id=reseller.id, amount=30_01
            )
        back = ledger.reclaim_from_reseller(
            db, t.distributor_actor, reseller_id=reseller.id, amount=30_00
        )

        assert back.kind is TransferKind.INDIRECT_RECLAIM
        assert back.partner_balance_after == 90_00
        assert w.balances(reseller).cash == 10_00
        [transfer] = _transfers(db, TransferKind.INDIRECT_RECLAIM)
        assert (transfer.organisation_id, transfer.counterparty_id) == (
            t.distributor.organisation.id,
            reseller.id,
        )
        _clean(db)

    def test_a_reclaim_from_a_reseller_leaves_what_it_spent_on_credit(
        self, db: Session
    ) -> None:
        t = two_tiers(db)
        reseller = t.reseller.organisation
        ledger.set_credit_limit(
            db, t.world.finance, partner_id=reseller.id, amount=20_00
        )

        with pytest.raises(InsufficientFunds, match=r"0\.00"):
            ledger.reclaim_from_reseller(
                db, t.distributor_actor, reseller_id=reseller.id, amount=1
            )

    def test_a_distributor_acts_on_its_resellers_customer_with_the_resellers_money(
        self, db: Session
    ) -> None:
        t = two_tiers(db)
        w = t.world
        reseller = t.reseller.organisation
        w.topup(500_00)
        ledger.allocate_to_reseller(
            db, t.distributor_actor, reseller_id=reseller.id, amount=50_00
        )
        customer = w.customer(partner=reseller)

        with pytest.raises(NotYourCustomer):
            ledger.allocate(db, t.distributor_actor, customer_id=customer, amount=1)
        with pytest.raises(InsufficientFunds, match=r"50\.00"):
            ledger.allocate(
                db,
                t.distributor_actor,
                customer_id=customer,
                amount=50_01,
                indirect_partner_id=reseller.id,
            )
        result = ledger.allocate(
            db,
            t.distributor_actor,
            customer_id=customer,
            amount=30_00,
            indirect_partner_id=reseller.id,
        )

        assert result.partner_id == reseller.id
        assert result.partner_balance_after == 20_00
        assert w.balances(reseller).cash == 20_00
        assert w.balances().cash == 450_00
        assert w.customer_balances(customer).allocated == 30_00
        [transfer] = _transfers(db, TransferKind.ALLOCATE)
        assert transfer.organisation_id == reseller.id
        assert transfer.actor_organisation_id == t.distributor.organisation.id

        ledger.reclaim(
            db,
            t.distributor_actor,
            customer_id=customer,
            amount=10_00,
            indirect_partner_id=reseller.id,
        )
        assert w.balances(reseller).cash == 30_00
        assert w.balances().cash == 450_00
        # The reseller may act for itself too, on the same balance.
        ledger.allocate(db, t.reseller_actor, customer_id=customer, amount=5_00)
        assert w.balances(reseller).cash == 25_00
        _clean(db)

    def test_only_a_distributor_may_act_for_a_reseller(self, db: Session) -> None:
        t = two_tiers(db)
        w = t.world
        reseller = t.reseller.organisation
        provider = factories.partner(db, PartnerType.SOLUTION_PROVIDER)
        provider_actor = identity.actor_for(
            db, provider.admin, provider.organisation.id
        )
        w.topup(100_00, partner=provider.organisation)
        w.topup(100_00, partner=reseller)
        customer = w.customer(partner=reseller)

        for actor in (provider_actor, t.reseller_actor):
            with pytest.raises(NotADistributor):
                ledger.allocate(
                    db,
                    actor,
                    customer_id=customer,
                    amount=1_00,
                    indirect_partner_id=reseller.id,
                )
            with pytest.raises(NotADistributor):
                ledger.reclaim(
                    db,
                    actor,
                    customer_id=customer,
                    amount=1_00,
                    indirect_partner_id=reseller.id,
                )
            with pytest.raises(NotADistributor):
                ledger.allocate_to_reseller(
                    db, actor, reseller_id=reseller.id, amount=1_00
                )
            with pytest.raises(NotADistributor):
                ledger.transfer_many(
                    db,
                    actor,
                    TransferKind.ALLOCATE,
                    [(customer, 1_00)],
                    indirect_partner_id=reseller.id,
                )
        assert w.balances(reseller).cash == 100_00
        assert w.balances(provider.organisation).cash == 100_00

    def test_a_distributor_cannot_use_someone_elses_reseller(self, db: Session) -> None:
        t = two_tiers(db)
        w = t.world
        w.topup(100_00)
        other_distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        stranger = factories.partner(
            db, PartnerType.RESELLER, parent=other_distributor.organisation
        ).organisation
        provider = factories.partner(db).organisation
        w.topup(100_00, partner=stranger)
        customer = w.customer(partner=stranger)

        for target in (stranger.id, provider.id, "no-such-partner"):
            with pytest.raises(NotYourReseller):
                ledger.allocate(
                    db,
                    t.distributor_actor,
                    customer_id=customer,
                    amount=1_00,
                    indirect_partner_id=target,
                )
            with pytest.raises(NotYourReseller):
                ledger.allocate_to_reseller(
                    db, t.distributor_actor, reseller_id=target, amount=1_00
                )
            with pytest.raises(NotYourReseller):
                ledger.reclaim_from_reseller(
                    db, t.distributor_actor, reseller_id=target, amount=1_00
                )
            with pytest.raises(NotYourReseller):
                batches.create(
                    db,
                    t.distributor_actor,
                    kind=TransferKind.ALLOCATE,
                    items=[(customer, 1_00)],
                    indirect_partner_id=target,
                )
        assert w.balances().cash == 100_00
        assert w.balances(stranger).cash == 100_00


class TestWhoMayMoveMoney:
    def test_a_member_without_the_funds_transfer_permission_is_refused(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=10_00)
        manager = w.member("account_manager")

        with pytest.raises(Forbidden):
            ledger.allocate(db, manager, customer_id=customer, amount=1_00)
        with pytest.raises(Forbidden):
            ledger.reclaim(db, manager, customer_id=customer, amount=1_00)
        with pytest.raises(Forbidden):
            ledger.transfer_many(db, manager, TransferKind.ALLOCATE, [(customer, 1)])
        with pytest.raises(Forbidden):
            batches.create(
                db, manager, kind=TransferKind.ALLOCATE, items=[(customer, 1)]
            )
        assert w.balances().cash == 90_00

        finance = w.member("partner_finance")
        ledger.allocate(db, finance, customer_id=customer, amount=1_00)
        assert w.balances().cash == 89_00

    def test_vendor_finance_operations_are_refused_to_a_partner(
        self, db: Session
    ) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        topup = w.topup(100_00)
        customer = w.customer()

        with pytest.raises(Forbidden):
            ledger.record_topup(db, w.actor, partner_id=partner_id, amount=1_00)
        with pytest.raises(Forbidden):
            ledger.record_recharge(db, w.actor, customer_id=customer, amount=1_00)
        with pytest.raises(Forbidden):
            ledger.set_credit_limit(db, w.actor, partner_id=partner_id, amount=1_00)
        with pytest.raises(Forbidden):
            ledger.set_designated(db, w.actor, partner_id=partner_id, amount=0)
        with pytest.raises(Forbidden):
            ledger.correct(db, w.actor, transfer_id=topup, amount=1_00, reason="x")
        with pytest.raises(Forbidden):
            ledger.post_charges(db, w.actor, [ledger.Charge("c-1", customer, 1_00)])
        balances = w.balances()
        assert (balances.cash, balances.credit_limit) == (100_00, 0)

    def test_the_vendor_has_no_partner_balance_to_allocate_from(
        self, db: Session
    ) -> None:
        w = world(db)
        customer = w.customer()

        with pytest.raises(Forbidden):
            ledger.allocate(db, w.finance, customer_id=customer, amount=1_00)

    def test_money_is_recorded_only_for_partners_and_customers(
        self, db: Session
    ) -> None:
        w = world(db)
        customer = w.customer()

        with pytest.raises(NotAPartner):
            ledger.record_topup(db, w.finance, partner_id=customer, amount=1_00)
        with pytest.raises(NotYourCustomer):
            ledger.record_recharge(
                db, w.finance, customer_id=w.partner.organisation.id, amount=1_00
            )
        with pytest.raises(NotAPartner):
            ledger.set_credit_limit(db, w.finance, partner_id=customer, amount=1_00)


class TestDatabaseConstraints:
    def test_a_transfer_from_an_account_to_itself_cannot_be_stored(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        account = ledger.account_id(
            db, w.partner.organisation.id, AccountKind.PARTNER_CASH
        )

        with pytest.raises(IntegrityError):
            db.execute(
                insert(Transfer).values(
                    id="AD-self",
                    kind=TransferKind.ALLOCATE,
                    debit_account_id=account,
                    credit_account_id=account,
                    amount=1_00,
                    currency="CNY",
                    created_at=utc_now(),
                )
            )
        db.rollback()

    def test_a_partner_balance_below_minus_its_credit_cannot_be_stored(
        self, db: Session
    ) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        w.topup(10_00)
        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=5_00)
        account = ledger.account_id(db, partner_id, AccountKind.PARTNER_CASH)
        db.commit()

        db.execute(update(Account).where(Account.id == account).values(balance=-5_00))
        db.rollback()
        with pytest.raises(IntegrityError):
            db.execute(
                update(Account).where(Account.id == account).values(balance=-5_01)
            )
        db.rollback()
        with pytest.raises(IntegrityError):
            db.execute(
                update(Account).where(Account.id == account).values(credit_limit=-1)
            )
        db.rollback()

    def test_a_transfer_of_nothing_cannot_be_stored(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ids = ledger.ensure_accounts(
            db,
            [
                (w.partner.organisation.id, AccountKind.PARTNER_CASH),
                (customer, AccountKind.CUSTOMER_ALLOCATED),
            ],
        )

        with pytest.raises(IntegrityError):
            db.execute(
                insert(Transfer).values(
                    id="AD-nothing",
                    kind=TransferKind.ALLOCATE,
                    debit_account_id=ids[
                        (w.partner.organisation.id, AccountKind.PARTNER_CASH)
                    ],
                    credit_account_id=ids[(customer, AccountKind.CUSTOMER_ALLOCATED)],
                    amount=0,
                    currency="CNY",
                    created_at=utc_now(),
                )
            )
        db.rollback()


class TestCorrections:
    def test_only_top_ups_and_recharges_can_be_corrected(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        allocation = ledger.allocate(db, w.actor, customer_id=customer, amount=10_00)
        charge = w.charge(customer, 1_00)

        for transfer_id in (allocation.transfer_id, charge):
            with pytest.raises(NotCorrectable):
                ledger.correct(
                    db, w.finance, transfer_id=transfer_id, amount=1, reason="Typo"
                )
        with pytest.raises(NoSuchTransfer):
            ledger.correct(
                db, w.finance, transfer_id="TU-missing", amount=1, reason="Typo"
            )

    def test_a_top_up_is_corrected_by_at_most_what_is_left_of_it(
        self, db: Session
    ) -> None:
        w = world(db)
        topup = w.topup(100_00)
        w.topup(50_00)

        first = ledger.correct(
            db, w.finance, transfer_id=topup, amount=60_00, reason="Entered twice"
        )

        assert first.kind is TransferKind.CORRECTION
        assert first.partner_balance_after == 90_00
        [transfer] = _transfers(db, TransferKind.CORRECTION)
        assert transfer.original_id == topup
        with pytest.raises(NotCorrectable, match=r"40\.00 CNY"):
            ledger.correct(
                db, w.finance, transfer_id=topup, amount=40_01, reason="Again"
            )
        ledger.correct(db, w.finance, transfer_id=topup, amount=40_00, reason="Rest")
        with pytest.raises(NotCorrectable, match=r"0\.00 CNY"):
            ledger.correct(db, w.finance, transfer_id=topup, amount=1, reason="More")

        assert w.balances().cash == 50_00
        _clean(db)
        assert verify(db).inflow == 50_00

    def test_the_balance_must_cover_a_correction(self, db: Session) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        topup = w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=80_00)

        with pytest.raises(InsufficientFunds, match=r"20\.00"):
            ledger.correct(
                db, w.finance, transfer_id=topup, amount=20_01, reason="Wrong"
            )
        assert w.balances().cash == 20_00

        # The partner's credit line covers a correction as it covers an allocation.
        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=10_00)
        ledger.correct(db, w.finance, transfer_id=topup, amount=30_00, reason="Wrong")
        assert w.balances().cash == -10_00
        with pytest.raises(InsufficientFunds):
            ledger.correct(db, w.finance, transfer_id=topup, amount=1, reason="Wrong")
        _clean(db)

    def test_a_customers_recharge_is_corrected_out_of_its_own_money(
        self, db: Session
    ) -> None:
        w = world(db)
        customer = w.customer(CONSULTING)
        recharge = ledger.record_recharge(
            db, w.finance, customer_id=customer, amount=20_00
        )
        w.charge(customer, 15_00)

        with pytest.raises(InsufficientFunds, match=r"5\.00"):
            ledger.correct(
                db,
                w.finance,
                transfer_id=recharge.transfer_id,
                amount=5_01,
                reason="Bounced",
            )
        ledger.correct(
            db,
            w.finance,
            transfer_id=recharge.transfer_id,
            amount=5_00,
            reason="Bounced",
        )
        assert w.customer_balances(customer).cash == 0
        _clean(db)


def _leave(
    db: Session,
    w: World,
    settings: Settings,
    customer_id: str,
    *,
    kind: RequestKind = RequestKind.DISASSOCIATE,
    target: AssociationMode | None = None,
) -> str:
    """The partner asks the customer to leave (or switch); returns the request's id."""
    return changes.start_partner_request(
        db,
        w.actor,
        settings,
        customer_id=customer_id,
        kind=kind,
        target_mode=target,
        reason="Contract ended",
    ).id


def _customer_actor(db: Session, customer_id: str) -> Actor:
    owner = customers.owner_of(db, customer_id)
    assert owner is not None
    return identity.actor_for(db, owner, customer_id)


class TestUnbindReclaim:
    def test_a_leaving_resale_customers_remaining_money_goes_back_to_the_partner(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=60_00)
        w.charge(customer, 12_34)
        request = _leave(db, w, settings, customer)

        changes.answer_partner_request(
            db, _customer_actor(db, customer), settings, request, confirm=True
        )

        assert customers.active_association(db, customer) is None
        assert w.balances().cash == 40_00 + 47_66
        assert w.customer_balances(customer).allocated == 0
        [transfer] = _transfers(db, TransferKind.UNBIND_RECLAIM)
        assert transfer.id.startswith("UB")
        assert (
            transfer.amount,
            transfer.organisation_id,
            transfer.counterparty_id,
        ) == (
            47_66,
            w.partner.organisation.id,
            customer,
        )
        record = db.scalars(
            select(AssociationRecord).where(
                AssociationRecord.kind == "disassociated",
                AssociationRecord.outcome == "succeeded",
            )
        ).one()
        assert record.details["unbind_reclaim_minor"] == 47_66
        _clean(db)

    def test_the_unbind_reclaim_and_the_change_commit_or_vanish_together(
        self, db: Session, settings: Settings
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=60_00)
        request = _leave(db, w, settings, customer)
        db.commit()

        changes.answer_partner_request(
            db, _customer_actor(db, customer), settings, request, confirm=True
        )
        assert w.balances().cash == 100_00
        db.rollback()

        assert customers.active_association(db, customer) is not None
        assert w.balances().cash == 40_00
        assert w.customer_balances(customer).allocated == 60_00
        assert _transfers(db, TransferKind.UNBIND_RECLAIM) == []
        _clean(db)

    def test_a_switch_to_consulting_reclaims_too(
        self, db: Session, settings: Settings
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=25_00)
        request = _leave(
            db, w, settings, customer, kind=RequestKind.SWITCH_MODE, target=CONSULTING
        )

        changes.answer_partner_request(
            db, _customer_actor(db, customer), settings, request, confirm=True
        )

        assert w.balances().cash == 100_00
        balances = w.customer_balances(customer)
        assert (balances.allocated, balances.resale) == (0, False)
        # From now on its consumption draws on its own money.
        w.charge(customer, 3_00)
        assert w.customer_balances(customer).cash == -3_00
        assert w.balances().cash == 100_00
        _clean(db)

    def test_a_refused_change_moves_nothing(
        self, db: Session, settings: Settings
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=60_00)
        record = db.get(Customer, customer)
        assert record is not None
        record.pending_partner_paid_orders = 2
        request = _leave(db, w, settings, customer)

        with pytest.raises(ChangeRefused) as refused:
            changes.answer_partner_request(
                db, _customer_actor(db, customer), settings, request, confirm=True
            )

        assert refused.value.codes == ["orders_awaiting_partner_payment"]
        assert customers.active_association(db, customer) is not None
        assert w.balances().cash == 40_00
        assert w.customer_balances(customer).allocated == 60_00
        assert _transfers(db, TransferKind.UNBIND_RECLAIM) == []

    def test_a_customer_in_arrears_leaves_only_once_the_partner_clears_the_debt(
        self, db: Session, settings: Settings
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=10_00)
        w.charge(customer, 15_00)
        assert ledger.debts(db, [customer]) == {customer: 5_00}
        request = _leave(db, w, settings, customer)
        owner = _customer_actor(db, customer)

        with pytest.raises(ChangeRefused) as refused:
            changes.answer_partner_request(db, owner, settings, request, confirm=True)
        assert refused.value.codes == ["resale_in_arrears"]

        ledger.allocate(db, w.actor, customer_id=customer, amount=4_99)
        with pytest.raises(ChangeRefused):
            changes.answer_partner_request(db, owner, settings, request, confirm=True)
        assert customers.active_association(db, customer) is not None

        ledger.allocate(db, w.actor, customer_id=customer, amount=1)
        assert ledger.debts(db, [customer]) == {customer: 0}
        changes.answer_partner_request(db, owner, settings, request, confirm=True)

        assert customers.active_association(db, customer) is None
        # Nothing was left to give back: the allocation went to clear the debt.
        assert _transfers(db, TransferKind.UNBIND_RECLAIM) == []
        assert w.balances().cash == 85_00
        refusals = db.scalar(
            select(func.count())
            .select_from(AssociationRecord)
            .where(
                AssociationRecord.kind == "disassociated",
                AssociationRecord.outcome == "refused",
            )
        )
        assert refusals == 2
        _clean(db)

    def test_the_customer_asking_to_leave_returns_the_money_when_the_partner_agrees(
        self, db: Session, settings: Settings
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=70_00)
        asked = changes.request_disassociation(
            db, _customer_actor(db, customer), settings, reason="Moving on"
        )

        changes.decide_customer_request(db, w.actor, settings, asked.id, agree=True)

        assert w.balances().cash == 100_00
        assert w.customer_balances(customer).allocated == 0
        _clean(db)
