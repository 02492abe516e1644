"""One partner cannot see or change another partner's members or invitations by any id."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core.models import AuditEvent
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import Membership
from partnercenter.members import service
from partnercenter.members.models import InvitationStatus, MemberInvitation
from tests import factories
from tests.factories import OrgWithAdmin
from tests.helpers import post_form, sign_in
from tests.signing import ApiKey, api_key, signed


@dataclass
class PartnerA:
    partner: OrgWithAdmin
    invitation_id: str
    membership_id: int
    member_email: str


@pytest.fixture
def partner_a(db: Session, settings: Settings) -> PartnerA:
    """Partner A with a waiting invitation and a bound member."""
    partner = factories.partner(db)
    member = factories.member(db, partner.organisation, "account_manager")
    invitee = factories.user(db)
    actor = identity.actor_for(db, partner.admin, partner.organisation.id)
    invitation = service.invite(
        db,
        actor,
        settings,
        identifier_kind="email",
        identifier=invitee.email or "",
        roles=["project_specialist"],
    )
    membership = identity.active_membership(db, member.id, partner.organisation.id)
    assert membership is not None
    db.commit()
    return PartnerA(partner, invitation.id, membership.id, member.email or "")


def assert_untouched(db: Session, a: PartnerA) -> None:
    invitation = db.scalar(
        select(MemberInvitation)
        .where(MemberInvitation.id == a.invitation_id)
        .execution_options(populate_existing=True)
    )
    membership = db.scalar(
        select(Membership)
        .where(Membership.id == a.membership_id)
        .execution_options(populate_existing=True)
    )
    changes = db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action != "member.invited")
        .where(AuditEvent.action.startswith("member."))
    )
    db.commit()
    assert invitation is not None
    assert invitation.status is InvitationStatus.INVITED
    assert membership is not None
    assert membership.left_at is None
    assert identity.role_codes(membership) == ["account_manager"]
    assert changes == 0


class TestConsoleTenancy:
    def test_partner_b_gets_not_found_for_every_id_of_partner_a(
        self, client: TestClient, db: Session, partner_a: PartnerA
    ) -> None:
        b = factories.partner(db)
        db.commit()
        sign_in(client, b.admin.account_name)
        invitation, membership = partner_a.invitation_id, partner_a.membership_id

        def post(path: str, data: dict[str, str | list[str]]) -> int:
            return post_form(client, path, data, form_page="/members").status_code

        statuses = {
            "resend": post(f"/members/invitations/{invitation}/resend", {}),
            "withdraw": post(f"/members/invitations/{invitation}/withdraw", {}),
            "roles form": client.get(f"/members/{membership}/roles").status_code,
            "roles": post(
                f"/members/{membership}/roles", {"roles": ["partner_finance"]}
            ),
            "remove form": client.get(f"/members/{membership}/remove").status_code,
            "remove": post(f"/members/{membership}/remove", {}),
        }
        listing = client.get("/members").text

        assert set(statuses.values()) == {404}, statuses
        assert partner_a.member_email not in listing
        assert partner_a.partner.admin.account_name not in listing
        assert_untouched(db, partner_a)


class TestApiTenancy:
    def test_partner_bs_key_gets_not_found_for_every_id_of_partner_a(
        self, client: TestClient, db: Session, app: FastAPI, partner_a: PartnerA
    ) -> None:
        b = factories.partner(db)
        key: ApiKey = api_key(app, db, b.organisation)
        db.commit()
        invitation, membership = partner_a.invitation_id, partner_a.membership_id

        def call(method: str, path: str, body: object = None) -> int:
            return signed(
                client, method, path, ak=key.ak, sk=key.sk, body=body
            ).status_code

        statuses = {
            "withdraw": call("DELETE", f"/api/v1/members/invitations/{invitation}"),
            "remove": call("DELETE", f"/api/v1/members/{membership}"),
            "roles": call(
                "PUT",
                f"/api/v1/members/{membership}/roles",
                {"roles": ["partner_finance"]},
            ),
        }
        listing = signed(client, "GET", "/api/v1/members", ak=key.ak, sk=key.sk)

        assert set(statuses.values()) == {404}, statuses
        assert listing.status_code == 200
        assert listing.json()["total"] == 1
        assert partner_a.member_email not in listing.text
        assert_untouched(db, partner_a)

    def test_a_key_cannot_act_for_another_organisation_by_domain_id(
        self, client: TestClient, db: Session, app: FastAPI, partner_a: PartnerA
    ) -> None:
        b = factories.partner(db)
        key = api_key(app, db, b.organisation)
        db.commit()

        response = signed(
            client,
            "GET",
            "/api/v1/members",
            ak=key.ak,
            sk=key.sk,
            domain_id=partner_a.partner.organisation.id,
        )

        assert response.status_code == 401
        assert partner_a.member_email not in response.text
