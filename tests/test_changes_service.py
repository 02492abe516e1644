"""Changing and ending associations through requests: who may ask, how often, what must be
settled first, and what the change does."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import Forbidden, InvalidInput, NotFound
from partnercenter.core.models import AuditEvent, MailboxMessage, Notification
from partnercenter.core.settings import Settings
from partnercenter.customers import service as customers
from partnercenter.customers.changes import service as changes
from partnercenter.customers.changes.balance import register_balance_mover
from partnercenter.customers.changes.rules import ChangeRefused, add_months
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRecord,
    AssociationStatus,
    RequestKind,
    RequestStatus,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, PartnerType, User
from partnercenter.worker import run_once
from tests import factories

RESALE, CONSULTING = AssociationMode.RESALE, AssociationMode.CONSULTING


def _actor(db: Session, user: User, organisation: Organisation) -> Actor:
    return identity.actor_for(db, user, organisation.id)


class _World:
    def __init__(self, db: Session, mode: AssociationMode = RESALE, **flags: bool):
        made = factories.partner(db)
        self.partner, self.admin = made.organisation, made.admin
        customer = factories.associated_customer(db, self.partner, mode, **flags)
        self.customer, self.owner = customer.organisation, customer.admin
        self.partner_actor = _actor(db, self.admin, self.partner)
        self.customer_actor = _actor(db, self.owner, self.customer)


def _records(db: Session, *kinds: str) -> list[AssociationRecord]:
    return list(
        db.scalars(
            select(AssociationRecord)
            .where(AssociationRecord.kind.in_(kinds))
            .order_by(AssociationRecord.id)
        )
    )


def _ask_to_leave(db: Session, world: _World, settings: Settings) -> str:
    return changes.request_disassociation(
        db, world.customer_actor, settings, reason="Moving on"
    ).id


def _partner_asks(
    db: Session,
    world: _World,
    settings: Settings,
    kind: RequestKind = RequestKind.DISASSOCIATE,
    target: AssociationMode | None = None,
) -> str:
    return changes.start_partner_request(
        db,
        world.partner_actor,
        settings,
        customer_id=world.customer.id,
        kind=kind,
        target_mode=target,
        reason="Contract ended",
    ).id


def _utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)  # type: ignore[misc]


class TestAddMonths:
    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            (_utc(2026, 3, 2, 2, 0), _utc(2026, 6, 2, 2, 0)),
            (_utc(2026, 5, 31, 8, 0), _utc(2026, 8, 31, 8, 0)),
            (_utc(2026, 11, 30, 1, 0), _utc(2027, 2, 28, 1, 0)),
            (_utc(2027, 11, 30, 1, 0), _utc(2028, 2, 29, 1, 0)),
            (_utc(2026, 12, 15), _utc(2027, 3, 15)),
        ],
    )
    def test_three_calendar_months_later_with_the_day_clamped(
        self, start: dt.datetime, expected: dt.datetime
    ) -> None:
        assert add_months(start, 3) == expected


class TestPartnerRequests:
    def test_the_partner_asks_and_nothing_changes_until_the_customer_confirms(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        world = _World(db)

        request_id = _partner_asks(db, world, settings)

        association = customers.active_association(db, world.customer.id)
        assert association is not None
        notice = db.scalars(
            select(Notification).where(Notification.user_id == world.owner.id)
        ).one()
        assert (notice.kind, notice.link) == ("changes.partner_asks", "/my-partner")
        assert [r.outcome for r in _records(db, "request_submitted")] == ["pending"]

        changes.answer_partner_request(
            db, world.customer_actor, settings, request_id, confirm=True
        )

        assert association.status is AssociationStatus.ENDED
        assert association.ended_at == clock.now()
        assert association.end_reason == "Contract ended"
        assert customers.active_association(db, world.customer.id) is None

    def test_only_the_partner_admin_may_start_a_change(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        manager = factories.member(db, world.partner, "account_manager")

        with pytest.raises(Forbidden):
            changes.start_partner_request(
                db,
                _actor(db, manager, world.partner),
                settings,
                customer_id=world.customer.id,
                kind=RequestKind.DISASSOCIATE,
                reason="No",
            )

    def test_a_reason_is_required_and_a_switch_needs_the_other_mode(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)

        with pytest.raises(InvalidInput) as invalid:
            changes.start_partner_request(
                db,
                world.partner_actor,
                settings,
                customer_id=world.customer.id,
                kind=RequestKind.SWITCH_MODE,
                target_mode=RESALE,
                reason="  ",
            )

        assert {p.field for p in invalid.value.problems} == {"reason", "target_mode"}

    def test_another_partners_customer_is_not_found(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        other = factories.partner(db)

        with pytest.raises(NotFound):
            changes.start_partner_request(
                db,
                _actor(db, other.admin, other.organisation),
                settings,
                customer_id=world.customer.id,
                kind=RequestKind.DISASSOCIATE,
                reason="Mine now",
            )

    def test_the_customer_refuses_and_the_association_stays(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        request_id = _partner_asks(db, world, settings)

        decision = changes.answer_partner_request(
            db, world.customer_actor, settings, request_id, confirm=False
        )

        assert decision.request.status is RequestStatus.REJECTED
        assert customers.active_association(db, world.customer.id) is not None
        assert len(_records(db, "request_rejected")) == 1
        admin_notices = db.scalars(
            select(Notification.kind).where(Notification.user_id == world.admin.id)
        ).all()
        assert admin_notices == ["changes.request_rejected"]

    def test_the_partner_cancels_its_pending_request(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        request_id = _partner_asks(db, world, settings)

        changes.cancel_request(db, world.partner_actor, settings, request_id)

        with pytest.raises(Exception, match="already been answered"):
            changes.answer_partner_request(
                db, world.customer_actor, settings, request_id, confirm=True
            )
        assert len(_records(db, "request_cancelled")) == 1
        assert customers.active_association(db, world.customer.id) is not None

    def test_another_customer_cannot_answer_the_request(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        stranger = _World(db)
        request_id = _partner_asks(db, world, settings)

        with pytest.raises(NotFound):
            changes.answer_partner_request(
                db, stranger.customer_actor, settings, request_id, confirm=True
            )

    def test_one_pending_request_at_a_time(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        _ask_to_leave(db, world, settings)

        with pytest.raises(changes.RequestPending):
            _partner_asks(db, world, settings)


class TestFrequency:
    def test_the_partner_starts_one_change_per_three_months_whatever_its_outcome(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        world = _World(db)
        first = _partner_asks(db, world, settings)
        changes.cancel_request(db, world.partner_actor, settings, first)

        clock.set(dt.datetime(2026, 6, 2, 1, 59, 59, tzinfo=dt.UTC))
        with pytest.raises(ChangeRefused) as refused:
            _partner_asks(db, world, settings, RequestKind.SWITCH_MODE, CONSULTING)
        assert refused.value.codes == ["partner_request_too_soon"]
        assert refused.value.problems[0].params == {"date": "2026-06-02"}

        clock.set(dt.datetime(2026, 6, 2, 2, 0, tzinfo=dt.UTC))
        _partner_asks(db, world, settings, RequestKind.SWITCH_MODE, CONSULTING)

    def test_the_customer_asks_to_leave_once_per_three_months(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        world = _World(db)
        first = _ask_to_leave(db, world, settings)
        changes.decide_customer_request(
            db, world.partner_actor, settings, first, agree=False, reason="Talk first"
        )

        clock.set(dt.datetime(2026, 6, 2, 1, 59, 59, tzinfo=dt.UTC))
        with pytest.raises(ChangeRefused) as refused:
            _ask_to_leave(db, world, settings)
        assert refused.value.codes == ["customer_request_too_soon"]

        clock.set(dt.datetime(2026, 6, 2, 2, 0, tzinfo=dt.UTC))
        _ask_to_leave(db, world, settings)

    def test_after_a_customers_request_the_partner_waits_three_months(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        world = _World(db)
        asked = _ask_to_leave(db, world, settings)
        changes.decide_customer_request(
            db, world.partner_actor, settings, asked, agree=False, reason="Stay"
        )

        clock.set(dt.datetime(2026, 6, 2, 1, 59, 59, tzinfo=dt.UTC))
        with pytest.raises(ChangeRefused) as refused:
            _partner_asks(db, world, settings)
        assert refused.value.codes == ["customer_request_too_recent"]

        clock.set(dt.datetime(2026, 6, 2, 2, 0, tzinfo=dt.UTC))
        _partner_asks(db, world, settings)


class TestPreconditions:
    @pytest.mark.parametrize(
        ("mode", "code"),
        [(RESALE, "resale_in_arrears"), (CONSULTING, "consulting_in_arrears")],
    )
    def test_a_customer_in_arrears_cannot_leave(
        self, db: Session, settings: Settings, mode: AssociationMode, code: str
    ) -> None:
        world = _World(db, mode, in_arrears=True)
        request_id = _ask_to_leave(db, world, settings)

        with pytest.raises(ChangeRefused) as refused:
            changes.decide_customer_request(
                db, world.partner_actor, settings, request_id, agree=True
            )

        assert refused.value.codes == [code]
        assert customers.active_association(db, world.customer.id) is not None
        refusal = _records(db, "disassociated")[0]
        assert (refusal.outcome, refusal.details["refusals"]) == ("refused", [code])

    def test_orders_awaiting_the_partners_payment_hold_a_switch_back(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        customers.get_customer(db, world.customer.id).pending_partner_paid_orders = 2
        request_id = _partner_asks(
            db, world, settings, RequestKind.SWITCH_MODE, CONSULTING
        )

        with pytest.raises(ChangeRefused) as refused:
            changes.answer_partner_request(
                db, world.customer_actor, settings, request_id, confirm=True
            )

        assert refused.value.codes == ["orders_awaiting_partner_payment"]
        assert refused.value.problems[0].params == {"count": 2}

    def test_a_switch_to_resale_needs_resale_eligibility(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(
            db, CONSULTING, holds_reserved_instances=True, has_special_contract=True
        )
        request_id = _partner_asks(db, world, settings, RequestKind.SWITCH_MODE, RESALE)

        with pytest.raises(ChangeRefused) as refused:
            changes.answer_partner_request(
                db, world.customer_actor, settings, request_id, confirm=True
            )

        assert refused.value.codes == [
            "holds_reserved_instances",
            "has_special_contract",
        ]


class _CountingMover:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def unbind_reclaim(
        self, session: Session, actor: Actor, *, partner_id: str, customer_id: str
    ) -> int:
        self.calls.append((partner_id, customer_id))
        return 12_345

    def debt(self, session: Session, customer_id: str, *, lock: bool = False) -> int:
        return 0


@pytest.fixture
def mover() -> object:
    counting = _CountingMover()
    previous = register_balance_mover(counting)
    yield counting
    register_balance_mover(previous)


class TestEffects:
    def test_a_resale_customer_leaving_returns_its_balance_to_the_partner(
        self, db: Session, settings: Settings, mover: _CountingMover
    ) -> None:
        world = _World(db)
        request_id = _ask_to_leave(db, world, settings)

        changes.decide_customer_request(
            db, world.partner_actor, settings, request_id, agree=True
        )

        assert mover.calls == [(world.partner.id, world.customer.id)]
        record = _records(db, "disassociated")[0]
        assert record.outcome == "succeeded"
        assert record.details["unbind_reclaim_minor"] == 12_345
        assert record.details["vouchers_to_reclaim"] is False
        audit = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "customer.disassociated")
        ).one()
        assert audit.organisation_id == world.partner.id

    def test_a_switch_to_consulting_reclaims_and_changes_the_mode(
        self, db: Session, settings: Settings, clock: FrozenClock, mover: _CountingMover
    ) -> None:
        world = _World(db)
        request_id = _partner_asks(
            db, world, settings, RequestKind.SWITCH_MODE, CONSULTING
        )
        clock.move(days=1)

        changes.answer_partner_request(
            db, world.customer_actor, settings, request_id, confirm=True
        )

        association = customers.active_association(db, world.customer.id)
        assert association is not None
        assert (association.mode, association.mode_changed_at) == (
            CONSULTING,
            clock.now(),
        )
        assert len(mover.calls) == 1
        record = _records(db, "mode_switched")[0]
        assert (record.mode_before, record.mode_after) == ("resale", "consulting")

    def test_a_switch_to_resale_flags_the_partners_vouchers_and_moves_no_money(
        self, db: Session, settings: Settings, mover: _CountingMover
    ) -> None:
        world = _World(db, CONSULTING)
        request_id = _partner_asks(db, world, settings, RequestKind.SWITCH_MODE, RESALE)

        changes.answer_partner_request(
            db, world.customer_actor, settings, request_id, confirm=True
        )

        assert mover.calls == []
        record = _records(db, "mode_switched")[0]
        assert record.details["vouchers_to_reclaim"] is True
        assert "unbind_reclaim_minor" not in record.details

    def test_without_a_ledger_nothing_is_moved(
        self, db: Session, settings: Settings
    ) -> None:
        world = _World(db)
        request_id = _ask_to_leave(db, world, settings)

        changes.decide_customer_request(
            db, world.partner_actor, settings, request_id, agree=True
        )

        assert _records(db, "disassociated")[0].details["unbind_reclaim_minor"] == 0

    def test_every_step_leaves_a_record(self, db: Session, settings: Settings) -> None:
        world = _World(db)
        request_id = _ask_to_leave(db, world, settings)
        changes.decide_customer_request(
            db, world.partner_actor, settings, request_id, agree=True
        )

        kinds = db.scalars(
            select(AssociationRecord.kind)
            .where(AssociationRecord.customer_id == world.customer.id)
            .order_by(AssociationRecord.id)
        ).all()
        assert kinds == [
            "associated",
            "request_submitted",
            "request_accepted",
            "disassociated",
        ]


class TestCustomerAsksToBeAssociated:
    def test_the_partners_admins_are_told_at_once_and_accepting_associates(
        self,
        db: Session,
        settings: Settings,
        session_factory: sessionmaker[Session],
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        actor = _actor(db, customer.admin, customer.organisation)

        request = changes.request_association(
            db,
            actor,
            settings,
            partner_account_name=partner.organisation.account_name.upper(),
        )

        db.commit()
        run_once(session_factory, settings)
        mail = db.scalars(select(MailboxMessage)).all()
        assert [m.recipient for m in mail] == [partner.admin.email]
        assert mail[0].subject == f"{customer.organisation.display_name} 申请关联"
        partner_actor = _actor(db, partner.admin, partner.organisation)
        changes.decide_customer_request(
            db, partner_actor, settings, request.id, agree=True
        )
        association = customers.active_association(db, customer.organisation.id)
        assert association is not None
        assert (association.mode, str(association.source)) == (
            CONSULTING,
            "customer_request",
        )

    def test_refusals_found_when_accepting_are_all_reported_and_recorded(
        self, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        request = changes.request_association(
            db,
            _actor(db, customer.admin, customer.organisation),
            settings,
            partner_account_name=partner.organisation.account_name,
            mode=RESALE,
        )
        record = customers.get_customer(db, customer.organisation.id)
        record.owes_invoices = record.referral_program_member = True

        with pytest.raises(customers.AssociationRefused) as refused:
            changes.decide_customer_request(
                db,
                _actor(db, partner.admin, partner.organisation),
                settings,
                request.id,
                agree=True,
            )

        assert {r.code for r in refused.value.refusals} == {
            "owes_invoices",
            "referral_program_member",
        }
        assert _records(db, "associated")[0].outcome == "refused"

    def test_a_distributor_is_refused_at_once(
        self, db: Session, settings: Settings
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        customer = factories.customer(db)

        with pytest.raises(customers.AssociationRefused) as refused:
            changes.request_association(
                db,
                _actor(db, customer.admin, customer.organisation),
                settings,
                partner_account_name=distributor.organisation.account_name,
            )

        assert [r.code for r in refused.value.refusals] == [
            "distributor_cannot_associate"
        ]

    def test_an_unknown_account_name_is_a_field_problem(
        self, db: Session, settings: Settings
    ) -> None:
        customer = factories.customer(db)

        with pytest.raises(InvalidInput) as invalid:
            changes.request_association(
                db,
                _actor(db, customer.admin, customer.organisation),
                settings,
                partner_account_name="nobody-here",
            )

        assert [p.field for p in invalid.value.problems] == ["partner"]

    def test_rejecting_needs_a_reason(self, db: Session, settings: Settings) -> None:
        world = _World(db)
        request_id = _ask_to_leave(db, world, settings)

        with pytest.raises(InvalidInput):
            changes.decide_customer_request(
                db, world.partner_actor, settings, request_id, agree=False
            )
