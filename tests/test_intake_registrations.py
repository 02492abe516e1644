"""Registrations: holding a prospect for 15 days, one partner at a time, at most 100."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import Forbidden, InvalidInput
from partnercenter.core.models import AuditEvent
from partnercenter.customers.intake import access, registrations
from partnercenter.customers.intake.rules import MAX_ACTIVE_REGISTRATIONS
from partnercenter.customers.intake.tasks import expire_registrations
from partnercenter.customers.models import (
    Registration,
    RegistrationClaim,
    RegistrationStatus,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType, User
from partnercenter.worker import run_once
from tests import factories


def actor_of(db: Session, person: User, organisation_id: str) -> Actor:
    return identity.actor_for(db, person, organisation_id)


def admin_actor(
    db: Session, kind: PartnerType = PartnerType.SOLUTION_PROVIDER
) -> Actor:
    parent = (
        factories.partner(db, PartnerType.DISTRIBUTOR).organisation
        if kind is PartnerType.RESELLER
        else None
    )
    partner = factories.partner(db, kind, parent=parent)
    return actor_of(db, partner.admin, partner.organisation.id)


def register(
    db: Session, actor: Actor, email: str | None = "lead@example.com", **extra: str
) -> Registration:
    return registrations.register(
        db,
        actor,
        prospect_name=extra.pop("name", "Lanting Trading"),
        email=email,
        phone=extra.pop("phone", None),
    )


def stored(db: Session, registration_id: str) -> Registration:
    """The row as committed, without holding the SQLite write lock afterwards."""
    row = db.scalar(
        select(Registration)
        .where(Registration.id == registration_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    db.expunge(row)
    db.commit()
    return row


def problem_messages(error: InvalidInput) -> dict[str, str]:
    return {problem.field: problem.message for problem in error.problems}


class TestRegister:
    def test_a_registration_holds_the_prospect_for_15_days(
        self, db: Session, clock: FrozenClock
    ) -> None:
        actor = admin_actor(db)

        registration = register(
            db, actor, email=" Lead@Example.com ", phone="138 0000 0000"
        )

        assert registration.status is RegistrationStatus.ACTIVE
        assert registration.email == "lead@example.com"
        assert (registration.expires_at - registration.created_at).days == 15
        assert set(db.scalars(select(RegistrationClaim.key))) == {
            "email:lead@example.com",
            "phone:13800000000",
        }
        assert db.scalars(
            select(AuditEvent.action).where(
                AuditEvent.action == "customer.registration_created"
            )
        ).one()

    def test_an_email_or_a_phone_is_required(self, db: Session) -> None:
        actor = admin_actor(db)

        with pytest.raises(InvalidInput) as refused:
            register(db, actor, email=None, name="")

        assert problem_messages(refused.value) == {
            "prospect_name": "Enter the prospect's name.",
            "email": "Enter an email address or a phone number, or both.",
        }

    def test_malformed_contacts_are_refused(self, db: Session) -> None:
        actor = admin_actor(db)

        with pytest.raises(InvalidInput) as refused:
            register(db, actor, email="not-an-email", phone="call me")

        assert set(problem_messages(refused.value)) == {"email", "phone"}

    def test_a_phone_alone_is_enough(self, db: Session) -> None:
        actor = admin_actor(db)

        registration = register(db, actor, email=None, phone="+8613800000001")

        assert registration.phone == "+8613800000001"

    def test_no_other_partner_can_register_the_same_email(self, db: Session) -> None:
        first, second = admin_actor(db), admin_actor(db)
        register(db, first)

        with pytest.raises(registrations.ProspectTaken) as refused:
            register(db, second, email="LEAD@example.com")

        assert "already registered by a partner" in str(refused.value)
        assert "15 days" in str(refused.value)

    def test_no_other_partner_can_register_the_same_phone(self, db: Session) -> None:
        first, second = admin_actor(db), admin_actor(db)
        register(db, first, email=None, phone="13800000002")

        with pytest.raises(registrations.ProspectTaken):
            register(db, second, email="other@example.com", phone="138-0000-0002")

        assert (
            db.scalar(
                select(Registration).where(
                    Registration.organisation_id == second.organisation_id
                )
            )
            is None
        )

    def test_a_refused_registration_leaves_the_transaction_usable(
        self, db: Session
    ) -> None:
        first, second = admin_actor(db), admin_actor(db)
        register(db, first)
        with pytest.raises(registrations.ProspectTaken):
            register(db, second)

        other = register(db, second, email="someone-else@example.com")

        db.commit()
        assert db.get(Registration, other.id) is not None

    def test_at_most_100_active_registrations_per_partner(self, db: Session) -> None:
        actor = admin_actor(db)
        for number in range(MAX_ACTIVE_REGISTRATIONS):
            register(db, actor, email=f"lead{number}@example.com")

        with pytest.raises(registrations.RegistrationLimitReached) as refused:
            register(db, actor, email="one-too-many@example.com")

        assert "100 active registrations" in str(refused.value)

    def test_ended_registrations_do_not_count_towards_the_limit(
        self, db: Session
    ) -> None:
        actor = admin_actor(db)
        rows = [
            register(db, actor, email=f"lead{n}@example.com")
            for n in range(MAX_ACTIVE_REGISTRATIONS)
        ]
        registrations.cancel(db, actor, rows[0].id)

        registration = register(db, actor, email="fits-again@example.com")

        assert registration.status is RegistrationStatus.ACTIVE

    def test_a_distributor_cannot_register_prospects(self, db: Session) -> None:
        distributor = admin_actor(db, PartnerType.DISTRIBUTOR)

        with pytest.raises(access.DistributorCannotTakeCustomers) as refused:
            register(db, distributor)

        assert "distributor does not associate customers" in str(refused.value)

    def test_a_reseller_registers_prospects(self, db: Session) -> None:
        reseller = admin_actor(db, PartnerType.RESELLER)

        assert register(db, reseller).status is RegistrationStatus.ACTIVE

    def test_a_project_specialist_cannot_register(self, db: Session) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")

        with pytest.raises(Forbidden):
            register(db, actor_of(db, specialist, partner.organisation.id))


class TestCancel:
    def test_cancelling_frees_the_prospect_for_others(self, db: Session) -> None:
        first, second = admin_actor(db), admin_actor(db)
        registration = register(db, first)

        registrations.cancel(db, first, registration.id)

        assert registration.status is RegistrationStatus.CANCELLED
        assert register(db, second).status is RegistrationStatus.ACTIVE

    def test_an_ended_registration_cannot_be_cancelled_again(self, db: Session) -> None:
        actor = admin_actor(db)
        registration = register(db, actor)
        registrations.cancel(db, actor, registration.id)

        with pytest.raises(registrations.RegistrationClosed):
            registrations.cancel(db, actor, registration.id)


class TestExpiry:
    def test_the_worker_expires_a_registration_after_15_days(
        self,
        app: FastAPI,
        db: Session,
        session_factory: sessionmaker[Session],
        clock: FrozenClock,
    ) -> None:
        actor = admin_actor(db)
        registration = register(db, actor)
        db.commit()

        clock.move(days=14, hours=23)
        run_once(session_factory, app.state.settings)
        assert stored(db, registration.id).status is RegistrationStatus.ACTIVE

        clock.move(hours=1)
        run_once(session_factory, app.state.settings)
        expired = stored(db, registration.id)
        assert expired.status is RegistrationStatus.EXPIRED
        assert expired.ended_at == expired.expires_at
        assert db.scalars(select(RegistrationClaim)).all() == []

    def test_a_worker_stopped_past_the_deadline_expires_it_exactly_once(
        self,
        app: FastAPI,
        db: Session,
        session_factory: sessionmaker[Session],
        clock: FrozenClock,
    ) -> None:
        actor = admin_actor(db)
        registration = register(db, actor)
        db.commit()
        clock.move(days=40)

        first = expire_registrations(session_factory, app.state.settings)
        second = expire_registrations(session_factory, app.state.settings)

        assert (first, second) == (1, 0)
        expired = stored(db, registration.id)
        assert expired.ended_at == expired.expires_at
        events = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "customer.registration_expired"
            )
        ).all()
        assert len(events) == 1

    def test_after_expiry_another_partner_can_register_the_prospect(
        self,
        app: FastAPI,
        db: Session,
        session_factory: sessionmaker[Session],
        clock: FrozenClock,
    ) -> None:
        first, second = admin_actor(db), admin_actor(db)
        register(db, first)
        db.commit()
        clock.move(days=15)
        run_once(session_factory, app.state.settings)

        assert register(db, second).status is RegistrationStatus.ACTIVE

    def test_a_hold_past_its_deadline_does_not_block_before_the_worker_runs(
        self, db: Session, clock: FrozenClock
    ) -> None:
        first, second = admin_actor(db), admin_actor(db)
        stale = register(db, first)
        clock.move(days=16)

        fresh = register(db, second)

        assert fresh.status is RegistrationStatus.ACTIVE
        db.refresh(stale)
        assert stale.status is RegistrationStatus.EXPIRED

    def test_days_left_counts_a_started_day(
        self, db: Session, clock: FrozenClock
    ) -> None:
        registration = register(db, admin_actor(db))

        clock.move(days=14, hours=1)

        from partnercenter.core.clock import utc_now

        assert registrations.days_left(registration, utc_now()) == 1
