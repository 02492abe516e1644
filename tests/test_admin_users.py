"""User accounts seen by the vendor: search, memberships, recorded facts, deactivation."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.clock import utc_now
from partnercenter.core.models import AuditEvent
from partnercenter.identity.models import (
    AccountType,
    ConsoleSession,
    RealNameStatus,
    User,
)
from partnercenter.members import eligibility
from tests import factories
from tests.helpers import csrf_from, post_form, sign_in


@pytest.fixture
def vendor(client: TestClient, db: Session) -> factories.OrgWithAdmin:
    vendor = factories.vendor(db)
    db.commit()
    sign_in(client, vendor.admin.account_name)
    return vendor


@pytest.fixture
def other_client(app: FastAPI) -> TestClient:
    """A second browser, for the account's owner; the first client runs the lifespan."""
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def _events(db: Session, action: str, subject_id: str) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.subject_id == subject_id
            )
        )
    )


def _reload(db: Session, user: User) -> User:
    db.expire_all()
    found = db.get(User, user.id)
    assert found is not None
    return found


@pytest.mark.usefixtures("vendor")
class TestSearchAccounts:
    @pytest.mark.parametrize("field", ["account_name", "email", "phone"])
    def test_accounts_are_found_by_each_identifier(
        self, client: TestClient, db: Session, field: str
    ) -> None:
        wanted = factories.user(db, "tang-yu", phone="+86 139 1234 5678")
        other = factories.user(db, "song-jia")
        db.commit()
        term = {
            "account_name": "TANG",
            "email": "tang-yu@example",
            "phone": "139 1234",
        }[field]

        page = client.get("/vendor/users", params={"q": term})

        assert page.status_code == 200
        assert wanted.account_name in page.text
        assert other.account_name not in page.text

    def test_account_page_lists_its_memberships(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation)
        db.commit()

        page = client.get(f"/vendor/users/{specialist.id}")

        assert page.status_code == 200
        assert partner.organisation.display_name in page.text
        assert "项目专员" in page.text


@pytest.mark.usefixtures("vendor")
class TestRecordAccountFacts:
    def test_real_name_status_is_recorded_and_read_by_the_member_rules(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db, real_name_status=RealNameStatus.NONE)
        db.commit()

        response = post_form(
            client,
            f"/vendor/users/{person.id}/account",
            {"real_name_status": "verified", "account_type": "personal"},
        )

        assert response.status_code == 303
        assert "已实名认证" in client.get(f"/vendor/users/{person.id}").text
        recorded = _reload(db, person)
        assert recorded.real_name_status is RealNameStatus.VERIFIED
        [event] = _events(db, "user.real_name_status_changed", person.id)
        assert event.before == {"real_name_status": "none"}
        assert event.after == {"real_name_status": "verified"}
        assert eligibility.refusals(db, recorded, partner.organisation, utc_now()) == []

    def test_account_type_change_is_recorded(
        self, client: TestClient, db: Session
    ) -> None:
        person = factories.user(db)
        db.commit()

        post_form(
            client,
            f"/vendor/users/{person.id}/account",
            {"real_name_status": "verified", "account_type": "sub_user"},
        )

        assert _reload(db, person).account_type is AccountType.SUB_USER
        [event] = _events(db, "user.account_type_changed", person.id)
        assert event.after == {"account_type": "sub_user"}
        assert _events(db, "user.real_name_status_changed", person.id) == []

    def test_unknown_status_is_refused(self, client: TestClient, db: Session) -> None:
        person = factories.user(db)
        db.commit()

        response = post_form(
            client,
            f"/vendor/users/{person.id}/account",
            {"real_name_status": "maybe", "account_type": "personal"},
        )

        assert response.status_code == 400
        assert "请选择实名认证状态" in response.text


@pytest.mark.usefixtures("vendor")
class TestDeactivateAccount:
    def test_deactivation_ends_sessions_and_blocks_sign_in(
        self, client: TestClient, other_client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(other_client, partner.admin.account_name)
        assert other_client.get("/console").status_code == 200

        response = post_form(
            client,
            f"/vendor/users/{partner.admin.id}/deactivate",
            {"reason": "Reported as compromised"},
        )

        assert response.status_code == 303
        assert other_client.get("/console").status_code == 303
        token = csrf_from(other_client)
        refused = other_client.post(
            "/login",
            data={
                "identifier": partner.admin.account_name,
                "password": factories.PASSWORD,
                "csrf_token": token,
            },
        )
        assert refused.status_code == 401
        sessions = db.scalars(
            select(ConsoleSession).where(ConsoleSession.user_id == partner.admin.id)
        ).all()
        assert sessions == []
        [event] = _events(db, "user.deactivated", partner.admin.id)
        assert event.reason == "Reported as compromised"

    def test_reactivated_account_can_sign_in_again(
        self, client: TestClient, other_client: TestClient, db: Session
    ) -> None:
        person = factories.user(db)
        person.is_active = False
        db.commit()

        response = post_form(client, f"/vendor/users/{person.id}/reactivate", {})

        assert response.status_code == 303
        sign_in(other_client, person.account_name)
        assert _events(db, "user.reactivated", person.id)

    def test_deactivation_needs_a_reason(self, client: TestClient, db: Session) -> None:
        person = factories.user(db)
        db.commit()

        response = post_form(client, f"/vendor/users/{person.id}/deactivate", {})

        assert response.status_code == 400
        assert "请说明停用该账号的原因" in response.text
        assert _reload(db, person).is_active

    def test_vendor_admin_cannot_deactivate_its_own_account(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        response = post_form(
            client,
            f"/vendor/users/{vendor.admin.id}/deactivate",
            {"reason": "Testing"},
        )

        assert response.status_code == 409
        assert _reload(db, vendor.admin).is_active
