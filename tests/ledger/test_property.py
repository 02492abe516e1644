"""Random sequences of every money operation against a model of what the balances must be.

The model is plain Python: for each operation it decides, from the rules alone, whether the
operation must go through or which refusal it must meet, and what every balance is after
it. After each step the ledger must agree, and after each sequence ``verify`` must find the
books clean, with what partners and customers hold equal to what came in less what went
out. On PostgreSQL allocations and reclaims, one at a time or several in one call, go through
the database functions, so the model holds them and the Python engine to the same rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import DomainError
from partnercenter.core.security import SecretBox
from partnercenter.core.settings import Settings
from partnercenter.customers import service as customers
from partnercenter.customers.changes import service as changes
from partnercenter.customers.changes.rules import ChangeRefused
from partnercenter.customers.models import (
    AssociationMode,
    AssociationSource,
    RequestKind,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, PartnerType
from partnercenter.ledger import service as ledger
from partnercenter.ledger import withdrawals
from partnercenter.ledger.errors import (
    ConsultingCustomer,
    InsufficientFunds,
    InvalidAmount,
    NotADistributor,
    NotCorrectable,
    NotYourCustomer,
    NotYourReseller,
    WithdrawalNotPending,
)
from partnercenter.ledger.models import TransferKind, WithdrawalMethod
from partnercenter.ledger.verify import verify
from tests import factories
from tests.ledger.world import actor_of, world

RESALE, CONSULTING = AssociationMode.RESALE, AssociationMode.CONSULTING
BOX = SecretBox("test-secret-key-not-for-production")
PARTNERS = ("provider", "distributor", "reseller")
CUSTOMERS = 7
"""Two resale and one consulting customer of the provider, two resale and one consulting
customer of the reseller (a distributor has no customers of its own), and one customer
associated with nobody."""

Outcome = type[DomainError] | None
"""The refusal an operation must meet, or None when it must go through."""


@dataclass
class PartnerModel:
    cash: int = 0
    credit: int = 0
    designated: int = 0
    held: int = 0


@dataclass
class CustomerModel:
    allocated: int = 0
    cash: int = 0
    partner: str | None = None
    mode: AssociationMode | None = None

    @property
    def resale(self) -> bool:
        return self.partner is not None and self.mode is RESALE

    @property
    def debt(self) -> int:
        return max(-(self.allocated if self.resale else self.cash), 0)


@dataclass
class Withdrawn:
    id: str
    partner: str
    amount: int
    status: str = "pending"


@dataclass
class TopUp:
    transfer_id: str
    partner: str
    amount: int
    corrected: int = 0


@dataclass
class Scene:
    """The world the sequences run in, and the model of its money."""

    db: Session
    settings: Settings
    clock: FrozenClock
    finance: Actor
    partners: dict[str, Organisation]
    actors: dict[str, Actor]
    customers: list[str]
    partner: dict[str, PartnerModel] = field(default_factory=dict)
    customer: dict[str, CustomerModel] = field(default_factory=dict)
    withdrawals: list[Withdrawn] = field(default_factory=list)
    topups: list[TopUp] = field(default_factory=list)
    charges: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def read(self) -> None:
        """Start the model from the books as the sequences before left them."""
        for name, organisation in self.partners.items():
            found = ledger.partner_balances(self.db, organisation.id)
            self.partner[name] = PartnerModel(
                found.cash, found.credit_limit, found.designated, found.held
            )
        for customer_id in self.customers:
            found_customer = ledger.customer_balances(self.db, customer_id)
            association = customers.active_association(self.db, customer_id)
            self.customer[customer_id] = CustomerModel(
                found_customer.allocated,
                found_customer.cash,
                self._name(association.organisation_id) if association else None,
                association.mode if association else None,
            )
        self.withdrawals = []
        self.topups = []

    def _name(self, organisation_id: str) -> str:
        return next(n for n, o in self.partners.items() if o.id == organisation_id)

    def check(self) -> None:
        for name, organisation in self.partners.items():
            found = ledger.partner_balances(self.db, organisation.id)
            assert (found.cash, found.credit_limit, found.designated, found.held) == (
                self.partner[name].cash,
                self.partner[name].credit,
                self.partner[name].designated,
                self.partner[name].held,
            ), name
            assert found.cash + found.credit_limit >= 0
        for customer_id in self.customers:
            found_customer = ledger.customer_balances(self.db, customer_id)
            expected = self.customer[customer_id]
            assert (
                found_customer.allocated,
                found_customer.cash,
                found_customer.resale,
                found_customer.debt,
            ) == (expected.allocated, expected.cash, expected.resale, expected.debt)

    def total(self) -> int:
        return sum(p.cash + p.held for p in self.partner.values()) + sum(
            c.allocated + c.cash for c in self.customer.values()
        )


def _expect(outcome: Outcome, action: Callable[[], object]) -> bool:
    """Run ``action``; it must meet ``outcome``. True when it went through."""
    if outcome is None:
        action()
        return True
    try:
        action()
    except outcome:
        return False
    raise AssertionError(f"expected {outcome.__name__}")


# -- the operations -------------------------------------------------------------------------


def op_topup(scene: Scene, partner: str, amount: int) -> None:
    done = _expect(
        InvalidAmount if amount <= 0 else None,
        lambda: scene.topups.append(
            TopUp(
                ledger.record_topup(
                    scene.db,
                    scene.finance,
                    partner_id=scene.partners[partner].id,
                    amount=amount,
                ).transfer_id,
                partner,
                amount,
            )
        ),
    )
    if done:
        scene.partner[partner].cash += amount


def op_customer_transfer(
    scene: Scene,
    who: str,
    index: int,
    amount: int,
    via: str | None,
    *,
    allocating: bool,
) -> None:
    """An allocation or reclaim by the customer's own partner (``own``), by the distributor
    for its reseller (``for_reseller``), or by the partner named, for whom ``via`` says."""
    customer_id = scene.customers[index]
    customer = scene.customer[customer_id]
    if who == "own":
        actor, via = customer.partner or "provider", None
    elif who == "for_reseller":
        actor, via = "distributor", "reseller"
    else:
        actor = who
    funding = via or actor
    outcome: Outcome = None
    if amount <= 0:
        outcome = InvalidAmount
    elif via and actor != "distributor":
        outcome = NotADistributor
    elif via and via != "reseller":
        outcome = NotYourReseller
    elif customer.partner != funding:
        outcome = NotYourCustomer
    elif customer.mode is not RESALE:
        outcome = ConsultingCustomer
    else:
        pocket = scene.partner[funding]
        room = (
            pocket.cash + pocket.credit - pocket.designated
            if allocating
            else customer.allocated
        )
        if amount > room:
            outcome = InsufficientFunds
    move = ledger.allocate if allocating else ledger.reclaim
    done = _expect(
        outcome,
        lambda: move(
            scene.db,
            scene.actors[actor],
            customer_id=customer_id,
            amount=amount,
            indirect_partner_id=scene.partners[via].id if via else None,
        ),
    )
    if done:
        sign = 1 if allocating else -1
        scene.partner[funding].cash -= sign * amount
        customer.allocated += sign * amount


def op_customer_transfers(
    scene: Scene, partner: str, items: list[tuple[int, int]], *, allocating: bool
) -> None:
    """Several allocations or reclaims by ``partner`` in one call, as a batch chunk makes
    them: each item goes through or is refused on its own, in order, and sees what the
    items before it left (a customer may come more than once)."""
    expected: list[str | None] = []
    pocket = scene.partner[partner]
    for index, amount in items:
        customer = scene.customer[scene.customers[index]]
        room = (
            pocket.cash + pocket.credit - pocket.designated
            if allocating
            else customer.allocated
        )
        if amount <= 0:
            expected.append(InvalidAmount.code)
        elif customer.partner != partner:
            expected.append(NotYourCustomer.code)
        elif customer.mode is not RESALE:
            expected.append(ConsultingCustomer.code)
        elif amount > room:
            expected.append(InsufficientFunds.code)
        else:
            expected.append(None)
            sign = 1 if allocating else -1
            pocket.cash -= sign * amount
            customer.allocated += sign * amount
    results = ledger.transfer_many(
        scene.db,
        scene.actors[partner],
        TransferKind.ALLOCATE if allocating else TransferKind.RECLAIM,
        [(scene.customers[index], amount) for index, amount in items],
    )
    assert [r.error for r in results] == expected
    assert all(bool(r.transfer_id) is (r.error is None) for r in results)


def op_reseller_transfer(scene: Scene, amount: int, *, funding: bool) -> None:
    """The distributor funds its reseller, or takes money back from it."""
    giver, taker = (
        ("distributor", "reseller") if funding else ("reseller", "distributor")
    )
    pocket = scene.partner[giver]
    room = pocket.cash - pocket.designated + (pocket.credit if funding else 0)
    outcome: Outcome = (
        InvalidAmount if amount <= 0 else InsufficientFunds if amount > room else None
    )
    move = ledger.allocate_to_reseller if funding else ledger.reclaim_from_reseller
    if _expect(
        outcome,
        lambda: move(
            scene.db,
            scene.actors["distributor"],
            reseller_id=scene.partners["reseller"].id,
            amount=amount,
        ),
    ):
        pocket.cash -= amount
        scene.partner[taker].cash += amount


def op_charge(scene: Scene, index: int, amount: int, *, refund: bool) -> None:
    customer_id = scene.customers[index]
    [result] = ledger.post_charges(
        scene.db,
        scene.finance,
        [
            ledger.Charge(
                f"property-{next(scene.charges)}",
                customer_id,
                amount,
                refund=refund,
            )
        ],
    )
    if amount <= 0:
        assert (result.status, result.error) == ("refused", "invalid_amount")
        return
    assert result.status == "posted"
    customer = scene.customer[customer_id]
    change = amount if refund else -amount
    if customer.resale:
        customer.allocated += change
    else:
        customer.cash += change


def op_recharge(scene: Scene, index: int, amount: int) -> None:
    customer_id = scene.customers[index]
    if _expect(
        InvalidAmount if amount <= 0 else None,
        lambda: ledger.record_recharge(
            scene.db, scene.finance, customer_id=customer_id, amount=amount
        ),
    ):
        scene.customer[customer_id].cash += amount


def op_credit(scene: Scene, partner: str, amount: int) -> None:
    pocket = scene.partner[partner]
    if _expect(
        InsufficientFunds if pocket.cash + amount < 0 else None,
        lambda: ledger.set_credit_limit(
            scene.db,
            scene.finance,
            partner_id=scene.partners[partner].id,
            amount=amount,
        ),
    ):
        pocket.credit = amount


def op_designated(scene: Scene, partner: str, amount: int) -> None:
    ledger.set_designated(
        scene.db, scene.finance, partner_id=scene.partners[partner].id, amount=amount
    )
    scene.partner[partner].designated = amount


def op_withdraw(scene: Scene, partner: str, amount: int) -> None:
    pocket = scene.partner[partner]
    outcome: Outcome = (
        InvalidAmount
        if amount <= 0
        else InsufficientFunds
        if amount > pocket.cash - pocket.designated
        else None
    )
    made: list[str] = []
    if _expect(
        outcome,
        lambda: made.append(
            withdrawals.request(
                scene.db,
                scene.actors[partner],
                BOX,
                amount=amount,
                method=WithdrawalMethod.ORIGINAL_PATH,
            ).id
        ),
    ):
        pocket.cash -= amount
        pocket.held += amount
        scene.withdrawals.append(Withdrawn(made[0], partner, amount))


def op_decide(scene: Scene, index: int, step: str) -> None:
    if not scene.withdrawals:
        return
    withdrawal = scene.withdrawals[index % len(scene.withdrawals)]
    needs = "approved" if step == "pay" else "pending"
    action = {
        "approve": lambda: withdrawals.approve(scene.db, scene.finance, withdrawal.id),
        "reject": lambda: withdrawals.reject(
            scene.db, scene.finance, withdrawal.id, "Not now"
        ),
        "pay": lambda: withdrawals.mark_paid(
            scene.db, scene.finance, withdrawal.id, "BANK-REF"
        ),
    }[step]
    if not _expect(
        None if withdrawal.status == needs else WithdrawalNotPending, action
    ):
        return
    pocket = scene.partner[withdrawal.partner]
    if step == "approve":
        withdrawal.status = "approved"
    elif step == "reject":
        withdrawal.status = "rejected"
        pocket.held -= withdrawal.amount
        pocket.cash += withdrawal.amount
    else:
        withdrawal.status = "paid"
        pocket.held -= withdrawal.amount


def op_correct(scene: Scene, index: int, amount: int) -> None:
    if not scene.topups:
        return
    topup = scene.topups[index % len(scene.topups)]
    pocket = scene.partner[topup.partner]
    outcome: Outcome = None
    if amount <= 0:
        outcome = InvalidAmount
    elif amount > topup.amount - topup.corrected:
        outcome = NotCorrectable
    elif amount > pocket.cash + pocket.credit:
        outcome = InsufficientFunds
    if _expect(
        outcome,
        lambda: ledger.correct(
            scene.db,
            scene.finance,
            transfer_id=topup.transfer_id,
            amount=amount,
            reason="Entered wrongly",
        ),
    ):
        topup.corrected += amount
        pocket.cash -= amount


def op_leave(scene: Scene, index: int) -> None:
    """The partner disassociates the customer, which then comes back in the same mode."""
    customer_id = scene.customers[index]
    customer = scene.customer[customer_id]
    if customer.partner is None:
        return
    partner, mode = customer.partner, customer.mode
    assert mode is not None
    # A partner may start one change per customer every three months.
    scene.clock.move(days=93)
    actor = scene.actors[partner]
    request = changes.start_partner_request(
        scene.db,
        actor,
        scene.settings,
        customer_id=customer_id,
        kind=RequestKind.DISASSOCIATE,
        reason="Contract ended",
    )
    owner = customers.owner_of(scene.db, customer_id)
    assert owner is not None
    owner_actor = identity.actor_for(scene.db, owner, customer_id)
    if customer.debt > 0:
        with pytest.raises(ChangeRefused) as refused:
            changes.answer_partner_request(
                scene.db, owner_actor, scene.settings, request.id, confirm=True
            )
        expected = "resale_in_arrears" if customer.resale else "consulting_in_arrears"
        assert refused.value.codes == [expected]
        changes.cancel_request(scene.db, actor, scene.settings, request.id)
        return
    changes.answer_partner_request(
        scene.db, owner_actor, scene.settings, request.id, confirm=True
    )
    if customer.resale:
        scene.partner[partner].cash += customer.allocated
        customer.allocated = 0
    customers.associate(
        scene.db,
        SYSTEM,
        customer_id=customer_id,
        partner=scene.partners[partner],
        mode=mode,
        source=AssociationSource.INVITATION_LINK,
        actor_party="system",
    )


# -- the strategies ---------------------------------------------------------------------------

# Mostly amounts that can go through; now and then nothing, which is refused.
amounts = st.one_of(st.integers(1, 50_00), st.integers(1, 3_00), st.just(0))
partners = st.sampled_from(PARTNERS)
customer_index = st.integers(0, CUSTOMERS - 1)
vias = st.sampled_from([None, None, "reseller", "reseller", "provider"])


@dataclass(frozen=True)
class Operation:
    """One drawn operation, shown by name and arguments when a sequence fails."""

    function: Callable[..., None]
    arguments: dict[str, object]

    def __call__(self, scene: Scene) -> None:
        self.function(scene, **self.arguments)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.function.__name__}({shown})"


def _bind(function: Callable[..., None], /, **arguments: object) -> Operation:
    return Operation(function, arguments)


whos = st.sampled_from(["own", "own", "own", "for_reseller", *PARTNERS])


def _customer_transfers(*, allocating: bool) -> st.SearchStrategy[Operation]:
    return st.builds(
        lambda w, i, a, v: _bind(
            op_customer_transfer,
            who=w,
            index=i,
            amount=a,
            via=v,
            allocating=allocating,
        ),
        whos,
        customer_index,
        amounts,
        vias,
    )


def _customer_transfers_at_once(*, allocating: bool) -> st.SearchStrategy[Operation]:
    return st.builds(
        lambda p, items: _bind(
            op_customer_transfers, partner=p, items=items, allocating=allocating
        ),
        st.sampled_from(["provider", "reseller"]),
        st.lists(st.tuples(customer_index, amounts), min_size=1, max_size=5),
    )


topups = st.builds(lambda p, a: _bind(op_topup, partner=p, amount=a), partners, amounts)
allocations = _customer_transfers(allocating=True)
reclaims = _customer_transfers(allocating=False)
charges = st.builds(
    lambda i, a, r: _bind(op_charge, index=i, amount=a, refund=r),
    customer_index,
    amounts,
    st.booleans(),
)
operations = st.one_of(
    # The common operations are drawn more often than the rare ones.
    topups,
    topups,
    allocations,
    allocations,
    allocations,
    reclaims,
    reclaims,
    _customer_transfers_at_once(allocating=True),
    _customer_transfers_at_once(allocating=False),
    charges,
    charges,
    st.builds(
        lambda a, f: _bind(op_reseller_transfer, amount=a, funding=f),
        amounts,
        st.booleans(),
    ),
    st.builds(
        lambda i, a: _bind(op_recharge, index=i, amount=a), customer_index, amounts
    ),
    st.builds(
        lambda p, a: _bind(op_credit, partner=p, amount=a),
        partners,
        st.sampled_from([0, 10_00, 50_00, 200_00]),
    ),
    st.builds(
        lambda p, a: _bind(op_designated, partner=p, amount=a),
        partners,
        st.sampled_from([0, 0, 5_00, 30_00]),
    ),
    st.builds(lambda p, a: _bind(op_withdraw, partner=p, amount=a), partners, amounts),
    st.builds(
        lambda i, s: _bind(op_decide, index=i, step=s),
        st.integers(0, 5),
        st.sampled_from(["approve", "reject", "pay"]),
    ),
    st.builds(
        lambda i, a: _bind(op_correct, index=i, amount=a), st.integers(0, 5), amounts
    ),
    st.builds(lambda i: _bind(op_leave, index=i), customer_index),
)


def _scene(db: Session, settings: Settings, clock: FrozenClock) -> Scene:
    w = world(db, PartnerType.DISTRIBUTOR)
    provider = factories.partner(db)
    reseller = factories.partner(
        db, PartnerType.RESELLER, parent=w.partner.organisation
    )
    organisations = {
        "provider": provider.organisation,
        "distributor": w.partner.organisation,
        "reseller": reseller.organisation,
    }
    placed = [
        ("provider", RESALE),
        ("provider", RESALE),
        ("provider", CONSULTING),
        ("reseller", RESALE),
        ("reseller", RESALE),
        ("reseller", CONSULTING),
    ]
    customer_ids = [
        w.customer(mode, partner=organisations[partner]) for partner, mode in placed
    ]
    customer_ids.append(factories.customer(db).organisation.id)
    assert len(customer_ids) == CUSTOMERS
    db.commit()
    return Scene(
        db=db,
        settings=settings,
        clock=clock,
        finance=w.finance,
        partners=organisations,
        actors={
            "provider": actor_of(db, provider),
            "distributor": w.actor,
            "reseller": actor_of(db, reseller),
        },
        customers=customer_ids,
    )


def test_random_operations_keep_the_books(
    db: Session, settings: Settings, clock: FrozenClock
) -> None:
    scene = _scene(db, settings, clock)

    @hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(operations, min_size=10, max_size=30))
    def run(sequence: list[Operation]) -> None:
        # A failed sequence may leave uncommitted work behind while it is shrunk.
        db.rollback()
        scene.read()
        for operation in sequence:
            operation(scene)
            scene.check()
        db.commit()
        report = verify(db)
        assert report.clean, report.problems
        assert report.held == report.inflow == scene.total()

    run()
