"""The native members API, called with requests signed by the official SDK signer."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.models import AuditEvent
from partnercenter.identity import service as identity
from partnercenter.identity.models import AccountType, Membership, User
from partnercenter.members.models import InvitationStatus, MemberInvitation
from tests import factories
from tests.factories import OrgWithAdmin
from tests.signing import ApiKey, api_key, signed


def membership_of(db: Session, partner: OrgWithAdmin, person: User) -> Membership:
    membership = db.scalar(
        select(Membership)
        .where(
            Membership.user_id == person.id,
            Membership.organisation_id == partner.organisation.id,
        )
        .execution_options(populate_existing=True)
    )
    db.commit()
    assert membership is not None
    return membership


def stored_invitation(db: Session, invitation_id: str) -> MemberInvitation:
    invitation = db.scalar(
        select(MemberInvitation)
        .where(MemberInvitation.id == invitation_id)
        .execution_options(populate_existing=True)
    )
    db.commit()
    assert invitation is not None
    return invitation


def partner_with_key(app: FastAPI, db: Session) -> tuple[OrgWithAdmin, ApiKey]:
    partner = factories.partner(db)
    key = api_key(app, db, partner.organisation)
    return partner, key


def invite(
    client: TestClient, key: ApiKey, identifier: str, **extra: object
) -> dict[str, object]:
    body = {
        "identifier_kind": "email",
        "identifier": identifier,
        "roles": ["project_specialist"],
        **extra,
    }
    response = signed(
        client,
        "POST",
        "/api/v1/members/invitations",
        ak=key.ak,
        sk=key.sk,
        body=body,
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


class TestInvitingThroughTheApi:
    def test_invitation_is_sent_in_the_name_of_the_main_account(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        partner, key = partner_with_key(app, db)
        person = factories.user(db)
        db.commit()

        created = invite(client, key, person.email or "")

        assert created["kind"] == "invitation"
        assert created["status"] == "invited"
        assert created["identifier"] == person.email
        assert created["roles"] == ["project_specialist"]
        assert created["name"] is None
        invitation = stored_invitation(db, str(created["invitation_id"]))
        assert invitation.invited_by_user_id == partner.admin.id
        event = db.scalar(
            select(AuditEvent).where(AuditEvent.action == "member.invited")
        )
        db.commit()
        assert event is not None
        assert event.actor_credential_id is not None
        assert event.actor_user_id is None

    def test_refusals_carry_a_code_and_the_problems_in_the_callers_language(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        _partner, key = partner_with_key(app, db)
        company = factories.user(db, account_type=AccountType.ENTERPRISE)
        db.commit()

        unknown = signed(
            client,
            "POST",
            "/api/v1/members/invitations",
            ak=key.ak,
            sk=key.sk,
            body={
                "identifier_kind": "phone",
                "identifier": "13900000000",
                "roles": [],
            },
        )
        ineligible = signed(
            client,
            "POST",
            "/api/v1/members/invitations",
            ak=key.ak,
            sk=key.sk,
            body={
                "identifier_kind": "email",
                "identifier": company.email,
                "roles": ["project_specialist"],
            },
            headers={"Accept-Language": "en"},
        )

        assert unknown.status_code == 400
        assert unknown.json()["code"] == "invalid_input"
        assert {p["field"]: p["message"] for p in unknown.json()["problems"]} == {
            "identifier": "没有账号使用此手机号。",
            "roles": "请至少选择一个角色。",
        }
        assert ineligible.status_code == 409
        assert ineligible.json()["code"] == "not_eligible"
        assert ineligible.json()["problems"][0]["message"].startswith(
            "Only personal accounts can become members"
        )

    def test_a_second_invitation_while_one_waits_is_a_conflict(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        _partner, key = partner_with_key(app, db)
        person = factories.user(db)
        db.commit()
        invite(client, key, person.email or "")

        again = signed(
            client,
            "POST",
            "/api/v1/members/invitations",
            ak=key.ak,
            sk=key.sk,
            body={
                "identifier_kind": "account_name",
                "identifier": person.account_name,
                "roles": ["account_manager"],
            },
        )

        assert again.status_code == 409
        assert again.json()["code"] == "invitation_pending"

    def test_withdrawing_an_invitation(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        _partner, key = partner_with_key(app, db)
        person = factories.user(db)
        db.commit()
        created = invite(client, key, person.email or "")

        withdrawn = signed(
            client,
            "DELETE",
            f"/api/v1/members/invitations/{created['invitation_id']}",
            ak=key.ak,
            sk=key.sk,
        )
        twice = signed(
            client,
            "DELETE",
            f"/api/v1/members/invitations/{created['invitation_id']}",
            ak=key.ak,
            sk=key.sk,
        )

        assert withdrawn.status_code == 200
        assert withdrawn.json()["status"] == "withdrawn"
        assert twice.status_code == 409
        invitation = stored_invitation(db, str(created["invitation_id"]))
        assert invitation.status is InvitationStatus.WITHDRAWN


class TestMembersThroughTheApi:
    def test_list_shows_members_and_invitations_with_paging(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        partner, key = partner_with_key(app, db)
        member = factories.member(db, partner.organisation, "account_manager")
        person = factories.user(db)
        db.commit()
        invite(client, key, person.email or "")

        everything = signed(client, "GET", "/api/v1/members", ak=key.ak, sk=key.sk)
        first = signed(
            client,
            "GET",
            "/api/v1/members",
            ak=key.ak,
            sk=key.sk,
            query={"limit": "1"},
        )
        bound = signed(
            client,
            "GET",
            "/api/v1/members",
            ak=key.ak,
            sk=key.sk,
            query={"status": "bound", "q": member.account_name},
        )

        assert everything.status_code == 200
        body = everything.json()
        assert body["total"] == 3
        kinds = sorted(item["kind"] for item in body["items"])
        assert kinds == ["invitation", "member", "member"]
        assert first.json()["total"] == 3
        assert len(first.json()["items"]) == 1
        [found] = bound.json()["items"]
        assert found["account_name"] == member.account_name
        assert found["email"] == member.email
        assert found["roles"] == ["account_manager"]
        assert found["status"] == "bound"

    def test_setting_roles_and_removing_a_member(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        partner, key = partner_with_key(app, db)
        member = factories.member(db, partner.organisation, "account_manager")
        db.commit()
        target = membership_of(db, partner, member)

        roles = signed(
            client,
            "PUT",
            f"/api/v1/members/{target.id}/roles",
            ak=key.ak,
            sk=key.sk,
            body={"roles": ["partner_finance"]},
        )
        empty = signed(
            client,
            "PUT",
            f"/api/v1/members/{target.id}/roles",
            ak=key.ak,
            sk=key.sk,
            body={"roles": []},
        )
        removed = signed(
            client, "DELETE", f"/api/v1/members/{target.id}", ak=key.ak, sk=key.sk
        )

        assert roles.status_code == 200
        assert roles.json()["roles"] == ["partner_finance"]
        assert empty.status_code == 400
        assert removed.status_code == 200
        assert removed.json()["status"] == "unbound"
        assert removed.json()["email"] is None
        assert removed.json()["name"] == member.display_name
        stored = membership_of(db, partner, member)
        assert stored.left_at is not None
        assert identity.role_codes(stored) == ["partner_finance"]

    def test_the_main_account_cannot_be_removed(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        partner, key = partner_with_key(app, db)
        db.commit()
        main = membership_of(db, partner, partner.admin)

        response = signed(
            client, "DELETE", f"/api/v1/members/{main.id}", ak=key.ak, sk=key.sk
        )

        assert response.status_code == 409
        assert response.json()["code"] == "member_protected"
        assert membership_of(db, partner, partner.admin).left_at is None

    def test_a_customers_key_has_no_members(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        customer = factories.customer(db)
        key = api_key(app, db, customer.organisation)
        db.commit()

        response = signed(client, "GET", "/api/v1/members", ak=key.ak, sk=key.sk)

        assert response.status_code == 403

    def test_unsigned_calls_are_refused(self, client: TestClient) -> None:
        response = client.get("/api/v1/members")

        assert response.status_code == 401


class TestOpenApiDocument:
    def test_every_members_endpoint_is_described_with_its_models(
        self, client: TestClient
    ) -> None:
        document = client.get("/api/v1/openapi.json").json()

        paths = document["paths"]
        assert set(paths["/api/v1/members"]) == {"get"}
        assert set(paths["/api/v1/members/invitations"]) == {"post"}
        assert set(paths["/api/v1/members/invitations/{invitation_id}"]) == {"delete"}
        assert set(paths["/api/v1/members/{membership_id}"]) == {"delete"}
        assert set(paths["/api/v1/members/{membership_id}/roles"]) == {"put"}
        created = paths["/api/v1/members/invitations"]["post"]["responses"]["201"]
        schema = created["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/MemberOut"}
        assert "MemberPage" in document["components"]["schemas"]
