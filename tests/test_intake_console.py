"""The partner's registration and invitation pages, and that they stay within a partner."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.customers.intake import invitations, registrations
from partnercenter.customers.models import (
    CustomerInvitation,
    CustomerInvitationStatus,
    Registration,
    RegistrationStatus,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
from tests import factories
from tests.factories import OrgWithAdmin
from tests.helpers import post_form, sign_in


def registration_of(db: Session, partner: OrgWithAdmin, email: str) -> Registration:
    actor = identity.actor_for(db, partner.admin, partner.organisation.id)
    return registrations.register(
        db, actor, prospect_name="Lanting", email=email, phone=None
    )


def stored_status(
    db: Session, model: type[Registration] | type[CustomerInvitation], row_id: str
) -> object:
    status = db.scalar(
        select(model.status)
        .where(model.id == row_id)
        .execution_options(populate_existing=True)
    )
    db.commit()
    return status


class TestRegistrationPage:
    def test_a_partner_registers_a_prospect_and_sees_the_days_left(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            "/customers/registrations",
            {
                "prospect_name": "Lanting Trading",
                "email": "lead@example.com",
                "phone": "",
            },
            form_page="/customers/registrations",
        )
        page = client.get("/customers/registrations")

        assert response.status_code == 303
        assert "已报备 Lanting Trading" in page.text
        assert "有效期 15 天" in page.text
        assert "剩余 15 天" in page.text

    def test_a_taken_prospect_is_refused_with_a_message(
        self, client: TestClient, db: Session
    ) -> None:
        first, second = factories.partner(db), factories.partner(db)
        registration_of(db, first, "lead@example.com")
        db.commit()
        sign_in(client, second.admin.account_name)

        response = post_form(
            client,
            "/customers/registrations",
            {"prospect_name": "Lanting", "email": "lead@example.com", "phone": ""},
            form_page="/customers/registrations",
        )

        assert response.status_code == 409
        assert "该潜在客户已被合作伙伴报备" in response.text

    def test_a_registration_is_cancelled_from_the_list(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        registration = registration_of(db, partner, "lead@example.com")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            f"/customers/registrations/{registration.id}/cancel",
            {},
            form_page="/customers/registrations",
        )

        assert response.status_code == 303
        assert (
            stored_status(db, Registration, registration.id)
            is RegistrationStatus.CANCELLED
        )

    def test_a_distributor_is_told_it_does_not_take_customers(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        db.commit()
        sign_in(client, distributor.admin.account_name)

        page = client.get("/customers/registrations")

        assert page.status_code == 409
        assert "/customers/registrations" not in client.get("/console").text


class TestInvitationPage:
    def test_an_invitation_is_emailed_to_a_registered_prospect(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        registration = registration_of(db, partner, "lead@example.com")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            "/customers/invitations",
            {"registration_id": registration.id, "mode": "resale"},
            form_page="/customers/invitations",
        )
        page = client.get("/customers/invitations")

        assert response.status_code == 303
        assert "已向 lead@example.com 发送邀请。" in page.text
        assert "待接受" in page.text

    def test_a_link_shows_its_url_and_qr_code(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        post_form(
            client,
            "/customers/links",
            {"mode": "consulting", "tag": "Spring expo"},
            form_page="/customers/invitations",
        )
        page = client.get("/customers/invitations")

        link = db.scalars(select(CustomerInvitation)).one()
        db.commit()
        assert f"http://testserver/join/{link.token}" in page.text
        assert '<svg class="qr"' in page.text
        assert "Spring expo" in page.text

    def test_chosen_invitations_are_sent_again_together(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        actor = identity.actor_for(db, partner.admin, partner.organisation.id)
        sent = [
            invitations.invite_online(
                db,
                actor,
                app.state.settings,
                registration_id=registration_of(db, partner, f"lead{n}@example.com").id,
                mode="consulting",
            ).id
            for n in range(2)
        ]
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            "/customers/invitations/resend",
            {"invitation_ids": sent},
            form_page="/customers/invitations",
        )

        assert response.status_code == 303
        assert "已重新发送 2 个邀请。" in client.get("/customers/invitations").text
        counts = db.scalars(select(CustomerInvitation.send_count)).all()
        db.commit()
        assert counts == [2, 2]

    def test_a_project_specialist_cannot_open_the_pages(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        sign_in(client, specialist.account_name)

        assert client.get("/customers/invitations").status_code == 403


class TestConsoleTenancy:
    def test_another_partner_cannot_see_cancel_resend_or_revoke(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        owner, stranger = factories.partner(db), factories.partner(db)
        actor = identity.actor_for(db, owner.admin, owner.organisation.id)
        registration = registration_of(db, owner, "lead@example.com")
        other = registration_of(db, owner, "other@example.com")
        invitation = invitations.invite_online(
            db,
            actor,
            app.state.settings,
            registration_id=registration.id,
            mode="resale",
        )
        link = invitations.create_link(db, actor, mode="resale", tag="Owner's link")
        db.commit()
        sign_in(client, stranger.admin.account_name)

        attempts: list[tuple[str, dict[str, str | list[str]]]] = [
            (f"/customers/registrations/{other.id}/cancel", {}),
            ("/customers/invitations", {"registration_id": other.id, "mode": "resale"}),
            (f"/customers/invitations/{invitation.id}/resend", {}),
            ("/customers/invitations/resend", {"invitation_ids": [invitation.id]}),
            (f"/customers/invitations/{link.id}/revoke", {}),
        ]

        answers = [
            post_form(client, path, data, form_page="/customers/invitations")
            for path, data in attempts
        ]
        pages = (
            client.get("/customers/registrations").text
            + client.get("/customers/invitations").text
        )

        assert [answer.status_code for answer in answers] == [404] * 5
        assert "lead@example.com" not in pages
        assert "Owner's link" not in pages
        assert stored_status(db, Registration, other.id) is RegistrationStatus.ACTIVE
        assert (
            stored_status(db, CustomerInvitation, link.id)
            is CustomerInvitationStatus.PENDING
        )
