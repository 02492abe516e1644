"""Custom roles in the console: listed beside the preset roles, created, edited, deleted."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.audit import AuditQuery
from partnercenter.core.models import AuditEvent
from partnercenter.identity import service as identity
from partnercenter.identity.models import CustomRole, Organisation
from tests import factories
from tests.helpers import csrf_from, post_form, sign_in


def _role(
    db: Session, organisation: Organisation, name: str, *items: str
) -> CustomRole:
    role = CustomRole(
        organisation_id=organisation.id,
        name=name,
        description=None,
        permissions=list(items) or ["members.view"],
        created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )
    db.add(role)
    db.flush()
    return role


def _roles(db: Session, organisation: Organisation) -> list[CustomRole]:
    db.expire_all()
    roles = list(
        db.scalars(
            select(CustomRole).where(CustomRole.organisation_id == organisation.id)
        )
    )
    db.commit()  # SQLite: end the read so that the next request may write
    return roles


def _events(db: Session, organisation: Organisation) -> list[AuditEvent]:
    events = list(
        audit.find(
            db, AuditQuery(organisation_id=organisation.id, action_prefix="role.")
        )
    )
    db.commit()
    return events


def _submit(
    client: TestClient, path: str, name: str, items: list[str], description: str = ""
) -> Response:
    data: dict[str, str | list[str]] = {"name": name, "description": description}
    if items:
        data["permissions"] = items
    return post_form(client, path, data, form_page="/roles")


class TestRoleList:
    def test_preset_roles_are_shown_with_their_permission_items(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get("/roles")

        assert page.status_code == 200
        assert "预置角色" in page.text
        assert "伙伴管理员" in page.text
        assert "项目专员" in page.text
        assert "创建和更新机会点" in page.text

    def test_custom_roles_show_how_many_members_hold_them(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        role = _role(db, partner.organisation, "Channel desk")
        factories.member(db, partner.organisation, f"custom:{role.id}")
        factories.member(db, partner.organisation, f"custom:{role.id}")
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get("/roles")

        assert "Channel desk" in page.text
        assert "2 名成员" in page.text

    def test_project_specialist_may_not_manage_roles(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        sign_in(client, specialist.account_name)

        assert client.get("/roles").status_code == 403
        assert client.get("/roles/new").status_code == 403


class TestCreateRole:
    def test_a_new_role_is_saved_listed_and_audited(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _submit(
            client,
            "/roles/new",
            "  Funds   desk ",
            ["funds.view", "members.view"],
            "Watches balances",
        )

        assert response.status_code == 303
        [role] = _roles(db, partner.organisation)
        assert (role.name, role.description) == ("Funds desk", "Watches balances")
        assert role.permissions == ["members.view", "funds.view"]
        assert "角色 Funds desk 已创建" in client.get("/roles").text
        [event] = _events(db, partner.organisation)
        assert event.action == "role.created"
        assert event.after == {
            "name": "Funds desk",
            "description": "Watches balances",
            "permissions": ["members.view", "funds.view"],
        }

    def test_every_problem_is_reported_at_once_in_chinese(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _submit(client, "/roles/new", "  ", [], "x" * 501)

        assert response.status_code == 400
        text = response.text
        assert "请填写角色名称" in text
        assert "请至少选择一个权限项" in text
        assert "描述最多 500 个字符" in text
        assert _roles(db, partner.organisation) == []

    def test_name_must_be_unique_within_the_company(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        _role(db, partner.organisation, "Funds desk")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _submit(client, "/roles/new", "FUNDS DESK", ["funds.view"])

        assert response.status_code == 400
        assert "贵公司已有同名角色" in response.text
        assert len(_roles(db, partner.organisation)) == 1

    def test_another_company_may_use_the_same_name(
        self, client: TestClient, db: Session
    ) -> None:
        first, second = factories.partner(db), factories.partner(db)
        _role(db, first.organisation, "Funds desk")
        db.commit()
        sign_in(client, second.admin.account_name)

        response = _submit(client, "/roles/new", "Funds desk", ["funds.view"])

        assert response.status_code == 303
        assert [r.name for r in _roles(db, second.organisation)] == ["Funds desk"]

    def test_items_outside_the_partner_list_are_refused(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _submit(
            client, "/roles/new", "Sneaky", ["members.view", "vendor.staff.manage"]
        )

        assert response.status_code == 400
        assert "只能选择列表中的权限项" in response.text
        assert _roles(db, partner.organisation) == []


class TestEditRole:
    def test_changes_are_saved_and_audited_with_before_and_after(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        role = _role(db, partner.organisation, "Desk", "members.view")
        db.commit()
        sign_in(client, partner.admin.account_name)

        form = client.get(f"/roles/{role.id}")
        response = _submit(
            client, f"/roles/{role.id}", "Desk", ["members.view", "profile.view"]
        )

        assert form.status_code == 200
        assert 'value="Desk"' in form.text
        assert response.status_code == 303
        [saved] = _roles(db, partner.organisation)
        assert saved.permissions == ["members.view", "profile.view"]
        [event] = _events(db, partner.organisation)
        assert event.action == "role.updated"
        assert event.before is not None
        assert event.after is not None
        assert event.before["permissions"] == ["members.view"]
        assert event.after["permissions"] == ["members.view", "profile.view"]

    def test_holders_get_the_new_items_at_once(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        role = _role(db, partner.organisation, "Desk", "members.view")
        holder = factories.member(db, partner.organisation, f"custom:{role.id}")
        db.commit()
        sign_in(client, holder.account_name)
        assert client.get("/profile").status_code == 403

        admin = identity.actor_for(db, partner.admin, partner.organisation.id)
        identity.update_custom_role(
            db,
            admin,
            role.id,
            name="Desk",
            description=None,
            permissions=["members.view", "profile.view"],
        )
        db.commit()

        assert client.get("/profile").status_code == 200

    def test_a_clash_with_another_role_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        _role(db, partner.organisation, "Desk")
        other = _role(db, partner.organisation, "Counter")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _submit(client, f"/roles/{other.id}", "desk", ["members.view"])

        assert response.status_code == 400
        assert "贵公司已有同名角色" in response.text


class TestDeleteRole:
    def test_an_unused_role_is_deleted_after_confirmation(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        role = _role(db, partner.organisation, "Desk")
        db.commit()
        sign_in(client, partner.admin.account_name)

        confirm = client.get(f"/roles/{role.id}/delete")
        response = post_form(client, f"/roles/{role.id}/delete", {}, form_page="/roles")

        assert "删除自定义角色 Desk" in confirm.text
        assert response.status_code == 303
        assert _roles(db, partner.organisation) == []
        [event] = _events(db, partner.organisation)
        assert event.action == "role.deleted"
        assert event.before is not None
        assert event.before["name"] == "Desk"

    def test_a_role_held_by_a_member_is_not_deleted(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        role = _role(db, partner.organisation, "Desk")
        factories.member(db, partner.organisation, f"custom:{role.id}")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(client, f"/roles/{role.id}/delete", {}, form_page="/roles")

        assert response.status_code == 409
        assert "仍有成员持有该角色" in response.text
        assert "1 名" in response.text
        assert len(_roles(db, partner.organisation)) == 1
        assert _events(db, partner.organisation) == []

    def test_a_role_held_only_by_former_members_is_deleted(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        role = _role(db, partner.organisation, "Desk")
        former = factories.member(db, partner.organisation, f"custom:{role.id}")
        membership = identity.active_membership(db, former.id, partner.organisation.id)
        assert membership is not None
        membership.left_at = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(client, f"/roles/{role.id}/delete", {}, form_page="/roles")

        assert response.status_code == 303
        assert _roles(db, partner.organisation) == []


class TestRoleTenancy:
    def test_another_partner_can_neither_see_nor_change_your_role(
        self, client: TestClient, db: Session
    ) -> None:
        owner, other = factories.partner(db), factories.partner(db)
        role = _role(db, owner.organisation, "Owner desk")
        db.commit()
        sign_in(client, other.admin.account_name)

        listing = client.get("/roles")
        form = client.get(f"/roles/{role.id}")
        token = csrf_from(client, "/roles")
        update = client.post(
            f"/roles/{role.id}",
            data={
                "name": "Taken",
                "permissions": ["members.view"],
                "csrf_token": token,
            },
        )
        delete = client.post(f"/roles/{role.id}/delete", data={"csrf_token": token})

        assert "Owner desk" not in listing.text
        assert (form.status_code, update.status_code, delete.status_code) == (
            404,
            404,
            404,
        )
        [kept] = _roles(db, owner.organisation)
        assert kept.name == "Owner desk"
