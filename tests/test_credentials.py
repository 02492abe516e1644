"""API keys in the console: created with the secret shown once, listed, revoked."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.audit import AuditQuery
from partnercenter.core.clock import FrozenClock
from partnercenter.identity.models import ApiCredential
from tests import factories
from tests.helpers import csrf_from, post_form, sign_in
from tests.signing import signed

_SHOWN = re.compile(r'data-testid="(access-key|secret-key|domain-id)"[^>]*>([^<]+)<')


def _create_key(client: TestClient, description: str = "ERP sync") -> dict[str, str]:
    response = post_form(
        client, "/credentials", {"description": description}, form_page="/credentials"
    )
    assert response.status_code == 200, response.text
    shown = dict(_SHOWN.findall(response.text))
    assert set(shown) == {"access-key", "secret-key", "domain-id"}
    return {name: value.strip() for name, value in shown.items()}


def _credential(db: Session, access_key: str) -> ApiCredential:
    db.expire_all()
    credential = db.scalar(
        select(ApiCredential).where(ApiCredential.access_key == access_key)
    )
    assert credential is not None
    db.commit()  # SQLite: end the read so that the next request may write
    return credential


class TestCredentialConsole:
    def test_creating_a_key_shows_its_secret_once_and_never_caches_it(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client, "/credentials", {"description": "ERP"}, form_page="/credentials"
        )

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert "请立即复制秘密访问密钥" in response.text
        shown = dict(_SHOWN.findall(response.text))
        assert len(shown["secret-key"].strip()) == 40
        assert shown["domain-id"].strip() == partner.organisation.id

    def test_the_list_never_shows_the_secret_and_the_database_keeps_it_sealed(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        key = _create_key(client)

        listing = client.get("/credentials")

        assert listing.status_code == 200
        assert key["access-key"] in listing.text
        assert "ERP sync" in listing.text
        assert "有效" in listing.text
        assert key["secret-key"] not in listing.text
        assert (
            key["secret-key"] not in _credential(db, key["access-key"]).secret_encrypted
        )

    def test_a_created_key_signs_api_calls(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        key = _create_key(client)

        response = signed(
            client,
            "GET",
            "/api/v1/organisation",
            ak=key["access-key"],
            sk=key["secret-key"],
            domain_id=key["domain-id"],
        )

        assert response.status_code == 200, response.text
        assert response.json()["id"] == partner.organisation.id
        listing = client.get("/credentials")
        assert "从未使用" not in listing.text

    def test_creating_a_key_is_audited(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        key = _create_key(client)

        events = audit.find(
            db,
            AuditQuery(
                organisation_id=partner.organisation.id, action_prefix="credential."
            ),
        )

        assert [(e.action, e.subject_id, e.actor_user_id) for e in events] == [
            ("credential.created", key["access-key"], partner.admin.id)
        ]

    def test_revoking_asks_for_confirmation_first(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        key = _create_key(client)

        page = client.get(f"/credentials/{key['access-key']}/revoke")

        assert page.status_code == 200
        assert f"撤销访问密钥 {key['access-key']}" in page.text
        assert _credential(db, key["access-key"]).revoked_at is None

    def test_revoking_stops_the_key_working(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        key = _create_key(client)
        path = f"/credentials/{key['access-key']}/revoke"

        response = post_form(client, path, {}, form_page=path)

        assert response.status_code == 303
        assert "已撤销" in client.get("/credentials").text
        call = signed(
            client,
            "GET",
            "/api/v1/organisation",
            ak=key["access-key"],
            sk=key["secret-key"],
        )
        assert call.status_code == 401
        assert call.json()["code"] == "credential_revoked"
        actions = [
            event.action
            for event in audit.find(
                db, AuditQuery(organisation_id=partner.organisation.id)
            )
        ]
        assert "credential.revoked" in actions

    def test_another_partner_neither_sees_nor_revokes_your_keys(
        self, client: TestClient, db: Session
    ) -> None:
        owner, other = factories.partner(db), factories.partner(db)
        db.commit()
        sign_in(client, owner.admin.account_name)
        key = _create_key(client)
        client.cookies.clear()
        sign_in(client, other.admin.account_name)

        listing = client.get("/credentials")
        confirm = client.get(f"/credentials/{key['access-key']}/revoke")
        token = csrf_from(client, "/credentials")
        revoke = client.post(
            f"/credentials/{key['access-key']}/revoke", data={"csrf_token": token}
        )

        assert key["access-key"] not in listing.text
        assert confirm.status_code == 404
        assert revoke.status_code == 404
        assert _credential(db, key["access-key"]).revoked_at is None

    def test_project_specialist_may_not_manage_keys(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        sign_in(client, specialist.account_name)

        listing = client.get("/credentials")
        token = csrf_from(client, "/console")
        create = client.post(
            "/credentials", data={"description": "x", "csrf_token": token}
        )

        assert listing.status_code == 403
        assert create.status_code == 403
        assert db.scalar(select(ApiCredential.id)) is None

    def test_a_customer_manages_its_own_keys(
        self, client: TestClient, db: Session
    ) -> None:
        customer = factories.customer(db)
        db.commit()
        sign_in(client, customer.admin.account_name)

        key = _create_key(client, "own scripts")

        assert key["domain-id"] == customer.organisation.id
        assert key["access-key"] in client.get("/credentials").text
