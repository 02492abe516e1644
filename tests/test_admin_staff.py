"""The vendor's staff: adding people, changing their roles, removing them."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.models import AuditEvent, MailboxMessage
from partnercenter.identity import service as identity
from partnercenter.identity.models import AccountType, Membership, User
from partnercenter.worker import run_once
from tests import factories
from tests.helpers import post_form, sign_in


@pytest.fixture
def vendor(client: TestClient, db: Session) -> factories.OrgWithAdmin:
    vendor = factories.vendor(db)
    db.commit()
    sign_in(client, vendor.admin.account_name)
    return vendor


def _staff_membership(db: Session, user: User, vendor_id: str) -> Membership | None:
    db.expire_all()
    return identity.active_membership(db, user.id, vendor_id)


def _event(db: Session, action: str, subject_id: str) -> AuditEvent | None:
    return db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.subject_id == subject_id
        )
    )


class TestAddStaff:
    def test_new_account_joins_with_its_roles_and_gets_a_password_link(
        self,
        client: TestClient,
        db: Session,
        vendor: factories.OrgWithAdmin,
        app: FastAPI,
        session_factory: sessionmaker[Session],
    ) -> None:
        response = post_form(
            client,
            "/vendor/staff/new",
            {
                "account_name": "nimbus-wu",
                "display_name": "Wu Lan",
                "email": "wu.lan@vendor.example.com",
                "roles": ["eco_manager", "pdm"],
            },
            form_page="/vendor/staff",
        )

        assert response.status_code == 303
        user = db.scalar(select(User).where(User.account_name == "nimbus-wu"))
        assert user is not None
        assert user.account_type is AccountType.PERSONAL
        membership = _staff_membership(db, user, vendor.organisation.id)
        assert membership is not None
        assert sorted(identity.role_codes(membership)) == ["eco_manager", "pdm"]
        event = _event(db, "staff.added", user.id)
        assert event is not None
        assert event.after == {
            "account_name": "nimbus-wu",
            "roles": ["eco_manager", "pdm"],
        }
        db.rollback()
        run_once(session_factory, app.state.settings)
        mail = db.scalar(
            select(MailboxMessage).where(
                MailboxMessage.recipient == "wu.lan@vendor.example.com"
            )
        )
        assert mail is not None
        assert "/password/reset/" in mail.body

    def test_existing_account_without_organisation_joins(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        person = factories.user(db, email="zhou.ming@example.com")
        db.commit()

        response = post_form(
            client,
            "/vendor/staff/existing",
            {"identifier": "zhou.ming@example.com", "roles": ["bd"]},
        )

        assert response.status_code == 303
        assert person.display_name in client.get("/vendor/staff").text
        membership = _staff_membership(db, person, vendor.organisation.id)
        assert membership is not None
        assert identity.role_codes(membership) == ["bd"]

    def test_member_of_a_partner_cannot_join_the_staff(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation)
        db.commit()

        response = post_form(
            client,
            "/vendor/staff/existing",
            {"identifier": specialist.account_name, "roles": ["bd"]},
        )

        assert response.status_code == 400
        assert "该账号已属于某个组织" in response.text
        assert _staff_membership(db, specialist, vendor.organisation.id) is None

    def test_roles_are_required_and_every_problem_is_shown(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        response = post_form(
            client,
            "/vendor/staff/new",
            {"account_name": "1bad", "display_name": "", "email": "nope"},
        )

        assert response.status_code == 400
        for message in ("请至少选择一个角色", "这不是有效的邮箱地址", "账号名"):
            assert message in response.text
        assert db.scalar(select(User).where(User.account_name == "1bad")) is None

    def test_partner_roles_cannot_be_given_to_staff(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        person = factories.user(db)
        db.commit()

        response = post_form(
            client,
            "/vendor/staff/existing",
            {"identifier": person.account_name, "roles": ["partner_admin"]},
        )

        assert response.status_code == 400
        assert "请从厂商角色中选择" in response.text


class TestChangeStaffRoles:
    def test_roles_are_replaced_and_recorded(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        pdm = factories.member(db, vendor.organisation, "pdm")
        membership = identity.active_membership(db, pdm.id, vendor.organisation.id)
        assert membership is not None
        db.commit()

        response = post_form(
            client,
            f"/vendor/staff/{membership.id}/roles",
            {"roles": ["bd", "vendor_finance"]},
        )

        assert response.status_code == 303
        changed = _staff_membership(db, pdm, vendor.organisation.id)
        assert changed is not None
        assert sorted(identity.role_codes(changed)) == ["bd", "vendor_finance"]
        event = _event(db, "staff.roles_changed", pdm.id)
        assert event is not None
        assert event.before == {"roles": ["pdm"]}
        assert event.after == {"roles": ["bd", "vendor_finance"]}

    def test_the_last_vendor_admin_keeps_the_admin_role(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        membership = identity.active_membership(
            db, vendor.admin.id, vendor.organisation.id
        )
        assert membership is not None
        db.commit()

        response = post_form(
            client, f"/vendor/staff/{membership.id}/roles", {"roles": ["pdm"]}
        )

        assert response.status_code == 409
        assert "这是最后一位厂商管理员" in response.text
        kept = _staff_membership(db, vendor.admin, vendor.organisation.id)
        assert kept is not None
        assert identity.role_codes(kept) == ["vendor_admin"]

    def test_an_admin_may_step_down_when_another_admin_remains(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        factories.member(db, vendor.organisation, "vendor_admin")
        membership = identity.active_membership(
            db, vendor.admin.id, vendor.organisation.id
        )
        assert membership is not None
        db.commit()

        response = post_form(
            client, f"/vendor/staff/{membership.id}/roles", {"roles": ["eco_manager"]}
        )

        assert response.status_code == 303


class TestRemoveStaff:
    def test_staff_member_is_removed_and_keeps_the_account(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        bd = factories.member(db, vendor.organisation, "bd")
        membership = identity.active_membership(db, bd.id, vendor.organisation.id)
        assert membership is not None
        db.commit()

        response = post_form(client, f"/vendor/staff/{membership.id}/remove", {})

        assert response.status_code == 303
        assert _staff_membership(db, bd, vendor.organisation.id) is None
        assert db.get(User, bd.id) is not None
        assert _event(db, "staff.removed", bd.id) is not None

    def test_the_last_vendor_admin_cannot_be_removed(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        membership = identity.active_membership(
            db, vendor.admin.id, vendor.organisation.id
        )
        assert membership is not None
        db.commit()

        response = post_form(client, f"/vendor/staff/{membership.id}/remove", {})

        assert response.status_code == 409
        assert "不能移除" in response.text
        assert _staff_membership(db, vendor.admin, vendor.organisation.id) is not None

    def test_a_partner_membership_cannot_be_removed_through_the_staff_page(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        partner = factories.partner(db)
        membership = identity.active_membership(
            db, partner.admin.id, partner.organisation.id
        )
        assert membership is not None
        db.commit()

        response = post_form(client, f"/vendor/staff/{membership.id}/remove", {})

        assert response.status_code == 404
        assert _staff_membership(db, partner.admin, partner.organisation.id)
