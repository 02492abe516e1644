"""Accepting an invitation on /join/<token>: the customer's side, and every refusal."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.core.models import Notification
from partnercenter.customers.intake import invitations, registrations
from partnercenter.customers.models import (
    Association,
    AssociationRecord,
    AssociationSource,
    CustomerInvitation,
    Registration,
    RegistrationStatus,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import RealNameStatus
from tests import factories
from tests.factories import OrgWithAdmin
from tests.helpers import post_form, sign_in

BOTH_CONSULTING = ["partner_customer_agreement", "data_authorisation_notice"]
BOTH_RESALE = ["resale_agreement", "data_authorisation_notice"]


def admin_actor(db: Session, partner: OrgWithAdmin) -> Actor:
    return identity.actor_for(db, partner.admin, partner.organisation.id)


def link_of(
    db: Session, partner: OrgWithAdmin, mode: str = "consulting", tag: str | None = None
) -> CustomerInvitation:
    link = invitations.create_link(db, admin_actor(db, partner), mode=mode, tag=tag)
    db.commit()
    return link


def online_invitation(
    app: FastAPI, db: Session, partner: OrgWithAdmin, email: str, mode: str = "resale"
) -> CustomerInvitation:
    actor = admin_actor(db, partner)
    registration = registrations.register(
        db, actor, prospect_name="Lanting Trading", email=email, phone=None
    )
    invitation = invitations.invite_online(
        db, actor, app.state.settings, registration_id=registration.id, mode=mode
    )
    db.commit()
    return invitation


def accept(
    client: TestClient, token: str, agreements: list[str] | None = None
) -> Response:
    return post_form(
        client,
        f"/join/{token}/accept",
        {"agreements": agreements if agreements is not None else BOTH_CONSULTING},
        form_page=f"/join/{token}",
    )


def refusals(db: Session) -> list[AssociationRecord]:
    rows = db.scalars(
        select(AssociationRecord)
        .where(AssociationRecord.outcome == "refused")
        .order_by(AssociationRecord.id)
    ).all()
    db.commit()
    return list(rows)


def association_of(db: Session, customer_id: str) -> Association | None:
    association = db.scalar(
        select(Association).where(Association.customer_id == customer_id)
    )
    db.commit()
    return association


class TestJoinPage:
    def test_anyone_sees_the_partner_the_mode_and_what_it_means(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        link = link_of(db, partner, mode="resale")

        page = client.get(f"/join/{link.token}")

        assert page.status_code == 200
        assert partner.organisation.display_name in page.text
        assert "代售" in page.text
        assert "由合作伙伴为您开具发票。" in page.text
        assert "代售协议" in page.text
        assert f"/login?next=/join/{link.token}" in page.text

    def test_a_partner_user_is_told_only_customers_can_accept(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        other = factories.partner(db)
        link = link_of(db, partner)
        sign_in(client, other.admin.account_name)

        page = client.get(f"/join/{link.token}")

        assert "只有客户账号可以接受邀请" in page.text
        assert "接受并成为客户" not in page.text

    def test_an_unknown_link_says_so(self, client: TestClient) -> None:
        page = client.get("/join/no-such-token")

        assert page.status_code == 404
        assert "该邀请链接不存在" in page.text

    def test_signing_in_is_asked_before_accepting(
        self, client: TestClient, db: Session
    ) -> None:
        link = link_of(db, factories.partner(db))

        response = accept(client, link.token)

        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


class TestAccepting:
    def test_a_customer_accepts_a_link_and_is_associated(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        link = link_of(db, partner)
        db.commit()
        sign_in(client, customer.admin.account_name)

        response = accept(client, link.token)

        assert response.status_code == 303
        association = association_of(db, customer.organisation.id)
        assert association is not None
        assert association.organisation_id == partner.organisation.id
        assert association.source is AssociationSource.INVITATION_LINK
        assert association.invitation_id == link.id
        assert [(a["name"], a["version"]) for a in association.agreements] == [
            ("partner_customer_agreement", "2026-01"),
            ("data_authorisation_notice", "2026-01"),
        ]
        assert all(a["accepted_at"] for a in association.agreements)
        assert "您已成为" in client.get("/console").text

    def test_the_partner_admins_are_told_of_the_new_customer(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        link = link_of(db, partner, mode="resale")
        sign_in(client, customer.admin.account_name)

        accept(client, link.token, BOTH_RESALE)

        notice = db.scalars(
            select(Notification).where(Notification.user_id == partner.admin.id)
        ).one()
        assert notice.kind == "customers.new_customer_resale"
        db.commit()

    def test_a_link_serves_many_customers(self, app: FastAPI, db: Session) -> None:
        partner = factories.partner(db)
        link = link_of(db, partner)
        customers = [factories.customer(db), factories.customer(db)]
        db.commit()

        for customer in customers:
            with TestClient(app, follow_redirects=False) as client:
                sign_in(client, customer.admin.account_name)
                assert accept(client, link.token).status_code == 303

        assert invitations.view_of(db, link).uses == 2

    def test_every_agreement_must_be_accepted(
        self, client: TestClient, db: Session
    ) -> None:
        customer = factories.customer(db)
        link = link_of(db, factories.partner(db))
        sign_in(client, customer.admin.account_name)

        response = accept(client, link.token, ["data_authorisation_notice"])

        assert response.status_code == 400
        assert "请接受全部协议" in response.text
        assert association_of(db, customer.organisation.id) is None

    def test_a_link_of_an_account_manager_assigns_the_customer_to_it(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        link = invitations.create_link(
            db,
            identity.actor_for(db, manager, partner.organisation.id),
            mode="consulting",
            tag="Spring expo",
        )
        customer = factories.customer(db)
        db.commit()
        sign_in(client, customer.admin.account_name)

        accept(client, link.token)

        association = association_of(db, customer.organisation.id)
        assert association is not None
        assert association.account_manager_user_id == manager.id

    def test_an_online_invitation_converts_its_registration(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        invitation = online_invitation(app, db, partner, customer.admin.email or "")
        sign_in(client, customer.admin.account_name)

        accept(client, invitation.token, BOTH_RESALE)

        registration = db.get(Registration, invitation.registration_id)
        assert registration is not None
        db.refresh(registration)
        assert registration.status is RegistrationStatus.CONVERTED
        assert registration.customer_id == customer.organisation.id
        association = association_of(db, customer.organisation.id)
        assert association is not None
        assert association.source is AssociationSource.ONLINE_INVITATION

    def test_a_link_converts_the_registration_of_the_same_email(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        registration = registrations.register(
            db,
            admin_actor(db, partner),
            prospect_name="Lanting",
            email=customer.admin.email,
            phone=None,
        )
        link = link_of(db, partner)
        sign_in(client, customer.admin.account_name)

        accept(client, link.token)

        db.refresh(registration)
        assert registration.status is RegistrationStatus.CONVERTED
        db.commit()


class TestRefusals:
    def test_an_unknown_link_is_refused_and_recorded(
        self, client: TestClient, db: Session
    ) -> None:
        customer = factories.customer(db)
        db.commit()
        sign_in(client, customer.admin.account_name)

        response = post_form(
            client, "/join/no-such-token/accept", {"agreements": BOTH_CONSULTING}
        )

        assert response.status_code == 404
        assert "该邀请链接不存在" in response.text
        [record] = refusals(db)
        assert record.kind == "invitation_accepted"
        assert record.organisation_id is None
        assert record.customer_id == customer.organisation.id
        assert record.details["refusals"] == ["invitation_not_found"]

    def test_an_expired_online_invitation_is_refused(
        self, app: FastAPI, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        invitation = online_invitation(app, db, partner, "lead@example.com")
        clock.move(days=7, seconds=1)
        sign_in(client, customer.admin.account_name)

        response = accept(client, invitation.token, BOTH_RESALE)

        assert response.status_code == 409
        assert "该邀请已过期" in response.text
        [record] = refusals(db)
        assert record.organisation_id == partner.organisation.id
        assert record.details["refusals"] == ["invitation_expired"]
        assert association_of(db, customer.organisation.id) is None

    def test_an_online_invitation_accepted_twice_is_refused_as_used(
        self, app: FastAPI, db: Session
    ) -> None:
        partner = factories.partner(db)
        first, second = factories.customer(db), factories.customer(db)
        invitation = online_invitation(app, db, partner, "lead@example.com")
        db.commit()
        with TestClient(app, follow_redirects=False) as client:
            sign_in(client, first.admin.account_name)
            assert accept(client, invitation.token, BOTH_RESALE).status_code == 303

        with TestClient(app, follow_redirects=False) as client:
            sign_in(client, second.admin.account_name)
            response = accept(client, invitation.token, BOTH_RESALE)

        assert response.status_code == 409
        assert "该邀请已被使用" in response.text
        assert refusals(db)[0].details["refusals"] == ["invitation_used"]
        assert association_of(db, second.organisation.id) is None

    def test_a_revoked_link_is_refused(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        link = link_of(db, partner)
        invitations.revoke(db, admin_actor(db, partner), link.id)
        customer = factories.customer(db)
        db.commit()
        sign_in(client, customer.admin.account_name)

        response = accept(client, link.token)

        assert "合作伙伴已撤回该邀请链接" in response.text
        assert refusals(db)[0].details["refusals"] == ["invitation_revoked"]

    def test_a_partner_account_cannot_accept(
        self, client: TestClient, db: Session
    ) -> None:
        link = link_of(db, factories.partner(db))
        other = factories.partner(db)
        db.commit()
        sign_in(client, other.admin.account_name)

        response = accept(client, link.token)

        assert response.status_code == 409
        assert refusals(db)[0].details["refusals"] == ["not_customer_account"]

    def test_every_eligibility_reason_is_shown_and_recorded(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(
            db,
            real_name_status=RealNameStatus.REVIEWING,
            owes_invoices=True,
            referral_program_member=True,
        )
        link = link_of(db, partner, mode="resale")
        sign_in(client, customer.admin.account_name)

        response = accept(client, link.token, BOTH_RESALE)

        assert response.status_code == 409
        text = response.text
        for reason in (
            "该客户尚未在云厂商官网完成实名认证。",
            "该客户存在欠票。",
            "该账号已加入云厂商的推荐有礼计划。",
        ):
            assert reason in text
        [record] = refusals(db)
        assert set(record.details["refusals"]) == {
            "not_real_name_verified",
            "owes_invoices",
            "referral_program_member",
        }
        assert record.organisation_id == partner.organisation.id
        assert association_of(db, customer.organisation.id) is None

    def test_a_customer_of_another_partner_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        first, second = factories.partner(db), factories.partner(db)
        customer = factories.associated_customer(db, first.organisation)
        link = link_of(db, second)
        sign_in(client, customer.admin.account_name)

        accept(client, link.token)

        assert refusals(db)[0].details["refusals"] == ["already_associated"]
