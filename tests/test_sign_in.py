"""Signing in and out of the console, throttling, CSRF."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import factories
from tests.helpers import csrf_from, sign_in


class TestSignIn:
    def test_right_password_opens_the_console(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()

        sign_in(client, partner.admin.account_name)

        page = client.get("/console")
        assert page.status_code == 200
        assert partner.organisation.display_name in page.text

    def test_email_works_as_the_identifier(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()

        sign_in(client, partner.admin.email or "")

        assert client.get("/console").status_code == 200

    def test_wrong_password_is_refused_in_the_callers_language(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        token = csrf_from(client)

        response = client.post(
            "/login",
            data={
                "identifier": partner.admin.account_name,
                "password": "wrong-password-1",
                "csrf_token": token,
            },
        )

        assert response.status_code == 401
        assert "账号或密码不正确" in response.text
        assert client.get("/console").status_code == 303

    def test_console_without_session_redirects_to_sign_in(
        self, client: TestClient
    ) -> None:
        response = client.get("/console")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/console")

    def test_form_without_csrf_token_is_rejected(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        client.get("/login")

        response = client.post(
            "/login",
            data={
                "identifier": partner.admin.account_name,
                "password": factories.PASSWORD,
            },
        )

        assert response.status_code == 403
        assert client.get("/console").status_code == 303

    def test_sign_out_ends_the_session(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        token = csrf_from(client, "/console")
        response = client.post("/logout", data={"csrf_token": token})

        assert response.status_code == 303
        assert "您已退出登录" in client.get("/login").text
        assert client.get("/console").status_code == 303
