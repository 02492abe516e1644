"""People create their own personal accounts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.models import AuditEvent
from partnercenter.identity.models import AccountType, RealNameStatus, User
from tests.helpers import post_form

FORM = {
    "account_name": "li-lei-2026",
    "display_name": "Li Lei",
    "email": "li.lei@example.com",
    "phone": "",
    "password": "Good-Pass-2026",
    "confirm_password": "Good-Pass-2026",
}


def _register(client: TestClient, **changes: str) -> object:
    return post_form(client, "/register", {**FORM, **changes}, form_page="/register")


class TestRegistration:
    def test_a_new_personal_account_is_signed_in_and_unverified(
        self, client: TestClient, db: Session
    ) -> None:
        response = _register(client)

        assert response.status_code == 303  # type: ignore[attr-defined]
        page = client.get("/console")
        assert page.status_code == 200
        assert "您的账号已创建" in page.text
        user = db.scalars(select(User).where(User.account_name == "li-lei-2026")).one()
        assert user.account_type is AccountType.PERSONAL
        assert user.real_name_status is RealNameStatus.NONE
        assert (
            db.scalars(select(AuditEvent).where(AuditEvent.action == "user.registered"))
            .one()
            .subject_id
            == user.id
        )

    def test_every_problem_is_shown_at_once_and_nothing_is_created(
        self, client: TestClient, db: Session
    ) -> None:
        response = _register(
            client,
            account_name="1bad",
            email="not-an-email",
            password="short",
            confirm_password="short",
        )

        assert response.status_code == 400  # type: ignore[attr-defined]
        text = response.text  # type: ignore[attr-defined]
        assert "账号名由 5 到 32 个字母" in text
        assert "这不是有效的邮箱地址" in text
        assert "密码长度为 8 到 128 个字符" in text
        assert db.scalars(select(User)).all() == []

    def test_a_taken_account_name_or_email_is_refused(self, client: TestClient) -> None:
        _register(client)
        client.cookies.clear()

        response = _register(
            client, account_name="Li-Lei-2026", email="LI.LEI@example.com"
        )

        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "该账号名已被使用" in response.text  # type: ignore[attr-defined]
        assert "该邮箱地址已被使用" in response.text  # type: ignore[attr-defined]

    def test_passwords_must_match(self, client: TestClient) -> None:
        response = _register(client, confirm_password="Other-Pass-2026")
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "两次输入的密码不一致" in response.text  # type: ignore[attr-defined]

    def test_one_address_may_create_ten_accounts_an_hour(
        self, client: TestClient
    ) -> None:
        for n in range(10):
            client.cookies.clear()
            done = _register(
                client, account_name=f"person-{n:02d}", email=f"p{n}@example.com"
            )
            assert done.status_code == 303  # type: ignore[attr-defined]

        client.cookies.clear()
        refused = _register(client, account_name="person-99", email="p99@example.com")
        assert refused.status_code == 429  # type: ignore[attr-defined]
        assert "创建的账号过多" in refused.text  # type: ignore[attr-defined]
