"""The native intake API: registrations and invitations, signed with the SDK signer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from partnercenter.identity.models import PartnerType
from tests import factories
from tests.signing import ApiKey, api_key, signed


def key_for(
    app: FastAPI, db: Session, kind: PartnerType = PartnerType.SOLUTION_PROVIDER
) -> ApiKey:
    parent = (
        factories.partner(db, PartnerType.DISTRIBUTOR).organisation
        if kind is PartnerType.RESELLER
        else None
    )
    partner = factories.partner(db, kind, parent=parent)
    key = api_key(app, db, partner.organisation)
    db.commit()
    return key


def call(
    client: TestClient,
    key: ApiKey,
    method: str,
    path: str,
    body: Any = None,
    **extra: Any,
) -> Any:
    return signed(
        client,
        method,
        f"/api/v1/customers{path}",
        ak=key.ak,
        sk=key.sk,
        body=body,
        **extra,
    )


def registered(
    client: TestClient, key: ApiKey, email: str = "lead@example.com"
) -> dict[str, Any]:
    response = call(
        client,
        key,
        "POST",
        "/registrations",
        {"prospect_name": "Lanting", "email": email},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestRegistrationsApi:
    def test_a_registration_is_created_and_listed(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        key = key_for(app, db)

        created = registered(client, key)
        listed = call(client, key, "GET", "/registrations").json()

        assert created["status"] == "active"
        assert created["days_left"] == 15
        assert [item["id"] for item in listed["items"]] == [created["id"]]

    def test_a_second_partner_is_refused_in_the_callers_language(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        first, second = key_for(app, db), key_for(app, db)
        registered(client, first)

        zh = call(
            client,
            second,
            "POST",
            "/registrations",
            {"prospect_name": "X", "email": "lead@example.com"},
        )
        en = call(
            client,
            second,
            "POST",
            "/registrations",
            {"prospect_name": "X", "email": "lead@example.com"},
            headers={"Accept-Language": "en"},
        )

        assert zh.status_code == 409
        assert zh.json()["code"] == "prospect_registered"
        assert "已被合作伙伴报备" in zh.json()["message"]
        assert "already registered by a partner" in en.json()["message"]

    def test_missing_contacts_list_the_problem(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        key = key_for(app, db)

        response = call(client, key, "POST", "/registrations", {"prospect_name": "X"})

        assert response.status_code == 400
        assert response.json()["problems"][0]["field"] == "email"

    def test_a_registration_is_cancelled(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        key = key_for(app, db)
        created = registered(client, key)

        response = call(client, key, "POST", f"/registrations/{created['id']}/cancel")

        assert response.json()["status"] == "cancelled"

    def test_a_distributor_is_refused(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        key = key_for(app, db, PartnerType.DISTRIBUTOR)

        response = call(
            client,
            key,
            "POST",
            "/registrations",
            {"prospect_name": "X", "email": "a@example.com"},
        )

        assert response.status_code == 409
        assert response.json()["code"] == "distributor_cannot_associate"


class TestInvitationsApi:
    def test_an_online_invitation_is_created_resent_and_listed(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        key = key_for(app, db)
        registration = registered(client, key)

        created = call(
            client,
            key,
            "POST",
            "/invitations",
            {"registration_id": registration["id"], "mode": "resale"},
        ).json()
        resent = call(
            client, key, "POST", f"/invitations/{created['id']}/resend"
        ).json()
        batch = call(
            client,
            key,
            "POST",
            "/invitations/resend",
            {"invitation_ids": [created["id"]]},
        ).json()
        listed = call(
            client, key, "GET", "/invitations", query={"kind": "online"}
        ).json()

        assert created["state"] == "pending"
        assert created["url"].endswith(created["url"].rsplit("/", 1)[1])
        assert "/join/" in created["url"]
        assert resent["send_count"] == 2
        assert resent["url"] == created["url"]
        assert batch["items"][0]["send_count"] == 3
        assert [item["id"] for item in listed["items"]] == [created["id"]]

    def test_a_link_is_created_and_revoked(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        key = key_for(app, db)

        link = call(
            client,
            key,
            "POST",
            "/invitation-links",
            {"mode": "consulting", "tag": "Expo"},
        )
        revoked = call(client, key, "POST", f"/invitations/{link.json()['id']}/revoke")

        assert link.status_code == 201
        assert link.json()["expires_at"] is None
        assert link.json()["tag"] == "Expo"
        assert revoked.json()["state"] == "revoked"

    def test_the_openapi_document_describes_the_intake_routes(
        self, client: TestClient
    ) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]

        assert "/api/v1/customers/registrations" in paths
        assert "/api/v1/customers/invitation-links" in paths
        schema = paths["/api/v1/customers/invitations"]["post"]["responses"]["201"]
        assert schema["content"]["application/json"]["schema"]["$ref"].endswith(
            "InvitationOut"
        )


class TestApiTenancy:
    def test_another_partner_cannot_see_or_change_registrations_or_invitations(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        owner, stranger = key_for(app, db), key_for(app, db)
        registration = registered(client, owner)
        invitation = call(
            client,
            owner,
            "POST",
            "/invitations",
            {"registration_id": registration["id"], "mode": "resale"},
        ).json()
        link = call(
            client, owner, "POST", "/invitation-links", {"mode": "resale"}
        ).json()

        answers = [
            call(
                client, stranger, "POST", f"/registrations/{registration['id']}/cancel"
            ),
            call(
                client,
                stranger,
                "POST",
                "/invitations",
                {"registration_id": registration["id"], "mode": "resale"},
            ),
            call(client, stranger, "POST", f"/invitations/{invitation['id']}/resend"),
            call(
                client,
                stranger,
                "POST",
                "/invitations/resend",
                {"invitation_ids": [invitation["id"]]},
            ),
            call(client, stranger, "POST", f"/invitations/{link['id']}/revoke"),
        ]

        assert [answer.status_code for answer in answers] == [404] * 5
        assert call(client, stranger, "GET", "/registrations").json()["items"] == []
        assert call(client, stranger, "GET", "/invitations").json()["items"] == []
        assert (
            call(client, owner, "GET", "/invitations").json()["items"][0]["state"]
            == "pending"
        )
