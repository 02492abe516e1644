"""Passwords: the policy, sign-in throttling, changing and resetting by emailed link."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import InvalidInput
from partnercenter.core.models import AuditEvent, MailboxMessage
from partnercenter.identity import passwords
from partnercenter.identity.models import ConsoleSession, User
from partnercenter.worker import run_once
from tests import factories
from tests.helpers import csrf_from, post_form, sign_in

NEW_PASSWORD = "Fresh-Pass-2027"


def _attempt(client: TestClient, identifier: str, password: str) -> int:
    token = csrf_from(client)
    response = client.post(
        "/login",
        data={"identifier": identifier, "password": password, "csrf_token": token},
    )
    return response.status_code


class TestPolicy:
    @pytest.mark.parametrize(
        "weak", ["short1A", "alllowercaseletters", "12345678901", "a" * 129]
    )
    def test_weak_passwords_are_refused(self, weak: str) -> None:
        with pytest.raises(InvalidInput):
            passwords.check_policy(weak)

    def test_the_account_name_or_its_reverse_is_refused(self) -> None:
        with pytest.raises(InvalidInput):
            passwords.check_policy("Alice-2026", account_name="alice-2026")
        with pytest.raises(InvalidInput):
            passwords.check_policy("6202-ecila", account_name="alice-2026")

    def test_hashes_are_argon2id_and_verify(self) -> None:
        hashed = passwords.hash_password("Good-Pass-1")
        assert hashed.startswith("$argon2id$")
        assert passwords.verify_password(hashed, "Good-Pass-1")
        assert not passwords.verify_password(hashed, "good-pass-1")
        assert not passwords.verify_password(None, "Good-Pass-1")

    def test_the_standard_cost_is_64_mib_three_passes_and_weaker_hashes_are_renewed(
        self,
    ) -> None:
        standard = passwords.STANDARD.hash("Good-Pass-1")
        assert standard.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        # What the suite hashes with verifies, and the standard hasher asks to renew it.
        cheap = passwords.hash_password("Good-Pass-1")
        assert passwords.verify_password(cheap, "Good-Pass-1")
        assert passwords.STANDARD.check_needs_rehash(cheap)
        assert not passwords.STANDARD.check_needs_rehash(standard)


class TestThrottling:
    def test_sign_in_pauses_after_five_failures_even_with_the_right_password(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        person = factories.partner(db).admin
        db.commit()

        for _ in range(5):
            assert _attempt(client, person.account_name, "Wrong-Pass-1") == 401
        assert _attempt(client, person.account_name, factories.PASSWORD) == 429

        page = client.get("/login")
        assert page.status_code == 200
        clock.move(minutes=16)
        assert _attempt(client, person.account_name, factories.PASSWORD) == 303

    def test_the_pause_message_is_in_chinese_by_default(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        person = factories.partner(db).admin
        db.commit()
        for _ in range(5):
            _attempt(client, person.account_name, "Wrong-Pass-1")

        token = csrf_from(client)
        response = client.post(
            "/login",
            data={
                "identifier": person.account_name,
                "password": "x",
                "csrf_token": token,
            },
        )
        assert response.status_code == 429
        assert "登录失败次数过多" in response.text


class TestChangePassword:
    def test_changing_signs_out_other_browsers_and_keeps_this_one(
        self, app: FastAPI, db: Session
    ) -> None:
        person = factories.partner(db).admin
        db.commit()
        with (
            TestClient(
                app, base_url="http://testserver", follow_redirects=False
            ) as here,
            TestClient(
                app, base_url="http://testserver", follow_redirects=False
            ) as there,
        ):
            sign_in(here, person.account_name)
            sign_in(there, person.account_name)

            response = post_form(
                here,
                "/account/password",
                {
                    "current_password": factories.PASSWORD,
                    "new_password": NEW_PASSWORD,
                    "confirm_password": NEW_PASSWORD,
                },
                form_page="/account/password",
            )

            assert response.status_code == 200
            assert "密码已修改" in response.text
            assert here.get("/console").status_code == 200
            assert there.get("/console").status_code == 303
        db.expire_all()
        assert (
            db.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "user.password_changed",
                    AuditEvent.subject_id == person.id,
                )
            )
            == 1
        )

    def test_a_wrong_current_password_changes_nothing(
        self, client: TestClient, db: Session
    ) -> None:
        person = factories.partner(db).admin
        db.commit()
        sign_in(client, person.account_name)
        old_hash = person.password_hash

        response = post_form(
            client,
            "/account/password",
            {
                "current_password": "Not-The-One-1",
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
            form_page="/account/password",
        )

        assert response.status_code == 400
        assert "当前密码不正确" in response.text
        db.expire_all()
        assert db.get(User, person.id).password_hash == old_hash  # type: ignore[union-attr]


class TestPasswordReset:
    def _reset_link(self, session_factory: sessionmaker[Session], app: FastAPI) -> str:
        run_once(session_factory, app.state.settings)
        with session_factory() as db:
            mail = db.scalars(
                select(MailboxMessage).order_by(MailboxMessage.id.desc())
            ).first()
        assert mail is not None
        match = re.search(r"http://testserver(/password/reset/\S+)", mail.body)
        assert match, mail.body
        return match.group(1)

    def test_the_emailed_link_sets_a_new_password_once(
        self,
        client: TestClient,
        db: Session,
        session_factory: sessionmaker[Session],
        app: FastAPI,
    ) -> None:
        person = factories.partner(db).admin
        db.commit()
        post_form(
            client,
            "/password/forgot",
            {"identifier": person.account_name},
            form_page="/password/forgot",
        )
        link = self._reset_link(session_factory, app)

        form = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
        response = post_form(client, link, form, form_page=link)
        assert response.status_code == 303

        assert client.get(link).status_code == 404
        assert _attempt(client, person.account_name, factories.PASSWORD) == 401
        assert _attempt(client, person.account_name, NEW_PASSWORD) == 303

    def test_the_link_expires_after_an_hour(
        self,
        client: TestClient,
        db: Session,
        session_factory: sessionmaker[Session],
        app: FastAPI,
        clock: FrozenClock,
    ) -> None:
        person = factories.partner(db).admin
        db.commit()
        post_form(
            client,
            "/password/forgot",
            {"identifier": person.email or ""},
            form_page="/password/forgot",
        )
        link = self._reset_link(session_factory, app)

        clock.move(minutes=61)
        response = client.get(link)
        assert response.status_code == 404
        assert "重置链接已失效" in response.text

    def test_an_unknown_account_gets_the_same_answer_and_no_mail(
        self, client: TestClient, session_factory: sessionmaker[Session], app: FastAPI
    ) -> None:
        response = post_form(
            client,
            "/password/forgot",
            {"identifier": "nobody-here"},
            form_page="/password/forgot",
        )
        assert response.status_code == 200
        assert "设置新密码的链接已发送" in response.text
        run_once(session_factory, app.state.settings)
        with session_factory() as db:
            assert db.scalar(select(func.count()).select_from(MailboxMessage)) == 0

    def test_a_reset_ends_every_session(
        self,
        client: TestClient,
        db: Session,
        session_factory: sessionmaker[Session],
        app: FastAPI,
    ) -> None:
        person = factories.partner(db).admin
        db.commit()
        sign_in(client, person.account_name)
        post_form(
            client,
            "/password/forgot",
            {"identifier": person.account_name},
            form_page="/password/forgot",
        )
        link = self._reset_link(session_factory, app)
        form = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
        post_form(client, link, form, form_page=link)

        with session_factory() as check:
            sessions = check.scalar(
                select(func.count())
                .select_from(ConsoleSession)
                .where(ConsoleSession.user_id == person.id)
            )
        assert sessions == 0
