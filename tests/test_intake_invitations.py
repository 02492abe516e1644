"""Invitations: emailed to a registered prospect for 7 days, or links that never expire."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock, utc_now
from partnercenter.core.errors import InvalidInput, NotFound
from partnercenter.core.models import MailboxMessage, Notification
from partnercenter.core.settings import Settings
from partnercenter.customers.intake import invitations, registrations
from partnercenter.customers.intake.rules import InvitationState, invitation_state
from partnercenter.customers.models import (
    CustomerInvitationStatus,
    InvitationKind,
    Registration,
)
from partnercenter.identity import service as identity
from partnercenter.worker import run_once
from tests import factories


def partner_actor(db: Session) -> Actor:
    partner = factories.partner(db)
    return identity.actor_for(db, partner.admin, partner.organisation.id)


def registered(
    db: Session, actor: Actor, email: str | None = "lead@example.com"
) -> Registration:
    return registrations.register(
        db,
        actor,
        prospect_name="Lanting Trading",
        email=email,
        phone=None if email else "13800000009",
    )


def settings_of(app: FastAPI) -> Settings:
    settings: Settings = app.state.settings
    return settings


class TestOnlineInvitation:
    def test_the_prospect_receives_an_email_with_the_join_link(
        self, app: FastAPI, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        actor = partner_actor(db)
        invitation = invitations.invite_online(
            db,
            actor,
            settings_of(app),
            registration_id=registered(db, actor).id,
            mode="resale",
        )
        db.commit()

        run_once(session_factory, settings_of(app))

        mail = db.scalars(select(MailboxMessage)).one()
        assert mail.recipient == "lead@example.com"
        assert f"/join/{invitation.token}" in mail.body
        assert "邀请您成为其客户（代售）" in mail.subject  # noqa: RUF001
        assert "代售" in mail.body
        assert invitation.send_count == 1
        assert invitation.expires_at == invitation.created_at + dt.timedelta(days=7)

    def test_a_prospect_with_an_account_is_also_notified_in_the_console(
        self, app: FastAPI, db: Session
    ) -> None:
        actor = partner_actor(db)
        person = factories.customer(db).admin
        registration = registered(db, actor, email=person.email)

        invitations.invite_online(
            db,
            actor,
            settings_of(app),
            registration_id=registration.id,
            mode="consulting",
        )
        db.flush()

        notice = db.scalars(
            select(Notification).where(Notification.user_id == person.id)
        ).one()
        assert notice.kind == "customers.invited_consulting"
        assert (notice.link or "").startswith("/join/")

    def test_a_prospect_without_email_cannot_be_invited_by_email(
        self, app: FastAPI, db: Session
    ) -> None:
        actor = partner_actor(db)
        registration = registered(db, actor, email=None)

        with pytest.raises(InvalidInput) as refused:
            invitations.invite_online(
                db,
                actor,
                settings_of(app),
                registration_id=registration.id,
                mode="resale",
            )

        assert refused.value.problems[0].field == "registration_id"

    def test_an_unknown_mode_is_refused(self, app: FastAPI, db: Session) -> None:
        actor = partner_actor(db)

        with pytest.raises(InvalidInput) as refused:
            invitations.invite_online(
                db,
                actor,
                settings_of(app),
                registration_id=registered(db, actor).id,
                mode="wholesale",
            )

        assert refused.value.problems[0].message == "Choose consulting sale or resale."

    def test_a_second_invitation_while_one_waits_is_refused(
        self, app: FastAPI, db: Session
    ) -> None:
        actor = partner_actor(db)
        registration = registered(db, actor)
        invitations.invite_online(
            db, actor, settings_of(app), registration_id=registration.id, mode="resale"
        )

        with pytest.raises(invitations.InvitationWaiting):
            invitations.invite_online(
                db,
                actor,
                settings_of(app),
                registration_id=registration.id,
                mode="resale",
            )

    def test_an_ended_registration_cannot_be_invited(
        self, app: FastAPI, db: Session
    ) -> None:
        actor = partner_actor(db)
        registration = registered(db, actor)
        registrations.cancel(db, actor, registration.id)

        with pytest.raises(registrations.RegistrationClosed):
            invitations.invite_online(
                db,
                actor,
                settings_of(app),
                registration_id=registration.id,
                mode="resale",
            )

    def test_the_invitation_expires_after_7_days(
        self, app: FastAPI, db: Session, clock: FrozenClock
    ) -> None:
        actor = partner_actor(db)
        invitation = invitations.invite_online(
            db,
            actor,
            settings_of(app),
            registration_id=registered(db, actor).id,
            mode="resale",
        )

        clock.move(days=7)

        assert invitation_state(invitation, utc_now()) == InvitationState.EXPIRED


class TestResend:
    def test_resending_keeps_the_link_and_starts_a_new_week(
        self,
        app: FastAPI,
        db: Session,
        session_factory: sessionmaker[Session],
        clock: FrozenClock,
    ) -> None:
        actor = partner_actor(db)
        invitation = invitations.invite_online(
            db,
            actor,
            settings_of(app),
            registration_id=registered(db, actor).id,
            mode="resale",
        )
        token = invitation.token
        clock.move(days=9)

        invitations.resend(db, actor, settings_of(app), invitation.id)
        db.commit()
        run_once(session_factory, settings_of(app))

        assert invitation.token == token
        assert invitation.send_count == 2
        assert invitation.expires_at == utc_now() + dt.timedelta(days=7)
        assert invitation_state(invitation, utc_now()) == InvitationState.PENDING
        bodies = [m.body for m in db.scalars(select(MailboxMessage))]
        assert len(bodies) == 2
        assert all(f"/join/{token}" in body for body in bodies)

    def test_a_batch_resend_sends_every_chosen_invitation(
        self, app: FastAPI, db: Session
    ) -> None:
        actor = partner_actor(db)
        chosen = [
            invitations.invite_online(
                db,
                actor,
                settings_of(app),
                registration_id=registered(db, actor, email=f"lead{n}@example.com").id,
                mode="consulting",
            )
            for n in range(3)
        ]

        sent = invitations.resend_many(
            db, actor, settings_of(app), [c.id for c in chosen]
        )

        assert [one.send_count for one in sent] == [2, 2, 2]

    def test_a_batch_resend_with_nothing_chosen_is_refused(
        self, app: FastAPI, db: Session
    ) -> None:
        with pytest.raises(InvalidInput):
            invitations.resend_many(db, partner_actor(db), settings_of(app), [])

    def test_a_link_cannot_be_resent(self, app: FastAPI, db: Session) -> None:
        actor = partner_actor(db)
        link = invitations.create_link(db, actor, mode="resale")

        with pytest.raises(invitations.InvitationClosed):
            invitations.resend(db, actor, settings_of(app), link.id)


class TestLinks:
    def test_a_link_never_expires(self, db: Session, clock: FrozenClock) -> None:
        link = invitations.create_link(
            db, partner_actor(db), mode="consulting", tag="Expo 2026"
        )

        clock.move(days=3650)

        assert link.kind is InvitationKind.LINK
        assert link.expires_at is None
        assert link.tag == "Expo 2026"
        assert invitation_state(link, utc_now()) == InvitationState.PENDING

    def test_a_link_made_by_an_account_manager_names_that_manager(
        self, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        actor = identity.actor_for(db, manager, partner.organisation.id)

        link = invitations.create_link(db, actor, mode="resale", tag="Manager's link")

        assert link.account_manager_user_id == manager.id

    def test_a_link_made_by_the_admin_names_no_manager(self, db: Session) -> None:
        link = invitations.create_link(db, partner_actor(db), mode="resale")

        assert link.account_manager_user_id is None

    def test_a_tag_longer_than_64_characters_is_refused(self, db: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            invitations.create_link(db, partner_actor(db), mode="resale", tag="x" * 65)

        assert refused.value.problems[0].field == "tag"

    def test_revoking_a_link_withdraws_it(self, db: Session) -> None:
        actor = partner_actor(db)
        link = invitations.create_link(db, actor, mode="resale")

        invitations.revoke(db, actor, link.id)

        assert link.status is CustomerInvitationStatus.REVOKED
        with pytest.raises(invitations.InvitationClosed):
            invitations.revoke(db, actor, link.id)


class TestAccountManagerScope:
    def test_an_account_manager_sees_only_its_own_invitations(
        self, db: Session
    ) -> None:
        partner = factories.partner(db)
        admin = identity.actor_for(db, partner.admin, partner.organisation.id)
        manager = factories.member(db, partner.organisation, "account_manager")
        manager_actor = identity.actor_for(db, manager, partner.organisation.id)
        admins_link = invitations.create_link(db, admin, mode="resale")
        own = invitations.create_link(db, manager_actor, mode="resale")

        seen = [view.invitation.id for view in invitations.listing(db, manager_actor)]

        assert seen == [own.id]
        with pytest.raises(NotFound):
            invitations.revoke(db, manager_actor, admins_link.id)
        assert {v.invitation.id for v in invitations.listing(db, admin)} == {
            own.id,
            admins_link.id,
        }
