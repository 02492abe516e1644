"""The partner admin's side of members: who may act, roles, removal, leaving, the list."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core.models import AuditEvent, Notification
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import CustomRole, Membership, User
from partnercenter.members import service
from partnercenter.members.models import InvitationStatus, MemberInvitation
from tests import factories
from tests.factories import OrgWithAdmin
from tests.helpers import post_form, sign_in


def membership_of(db: Session, partner: OrgWithAdmin, person: User) -> Membership:
    """The person's latest membership of the partner, current or ended, as stored now."""
    membership = db.scalar(
        select(Membership)
        .where(
            Membership.user_id == person.id,
            Membership.organisation_id == partner.organisation.id,
        )
        .order_by(Membership.id.desc())
        .execution_options(populate_existing=True)
    )
    db.commit()
    assert membership is not None
    return membership


def events(db: Session, action: str) -> list[AuditEvent]:
    rows = list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))
    db.commit()
    return rows


def invite(
    db: Session, settings: Settings, partner: OrgWithAdmin, person: User
) -> MemberInvitation:
    actor = identity.actor_for(db, partner.admin, partner.organisation.id)
    invitation = service.invite(
        db,
        actor,
        settings,
        identifier_kind="email",
        identifier=person.email or "",
        roles=["project_specialist"],
    )
    db.commit()
    return invitation


def custom_role(db: Session, partner: OrgWithAdmin, name: str, *items: str) -> str:
    from partnercenter.core.clock import utc_now

    role = CustomRole(
        organisation_id=partner.organisation.id,
        name=name,
        permissions=list(items),
        created_at=utc_now(),
    )
    db.add(role)
    db.flush()
    return f"custom:{role.id}"


class TestOnlyTheAdminManagesMembers:
    def test_project_specialist_sees_the_list_without_the_admin_controls(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        sign_in(client, specialist.account_name)

        page = client.get("/members")

        assert page.status_code == 200
        assert partner.admin.account_name in page.text
        assert 'action="/members/invitations"' not in page.text
        assert "/remove" not in page.text
        assert "/roles" not in page.text

    def test_project_specialist_is_refused_every_change(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        colleague = factories.member(db, partner.organisation, "account_manager")
        person = factories.user(db)
        outsider = factories.user(db)
        db.commit()
        invitation = invite(db, settings, partner, person)
        target = membership_of(db, partner, colleague)
        sign_in(client, specialist.account_name)

        def post(path: str, data: dict[str, str | list[str]]) -> int:
            return post_form(client, path, data, form_page="/members").status_code

        statuses = {
            "invite": post(
                "/members/invitations",
                {
                    "identifier_kind": "email",
                    "identifier": outsider.email or "",
                    "roles": ["project_specialist"],
                },
            ),
            "resend": post(f"/members/invitations/{invitation.id}/resend", {}),
            "withdraw": post(f"/members/invitations/{invitation.id}/withdraw", {}),
            "roles form": client.get(f"/members/{target.id}/roles").status_code,
            "roles": post(
                f"/members/{target.id}/roles", {"roles": ["partner_finance"]}
            ),
            "remove form": client.get(f"/members/{target.id}/remove").status_code,
            "remove": post(f"/members/{target.id}/remove", {}),
        }

        assert set(statuses.values()) == {403}, statuses
        assert db.scalar(select(func.count()).select_from(MemberInvitation)) == 1
        db.commit()
        assert membership_of(db, partner, colleague).left_at is None
        assert identity.role_codes(membership_of(db, partner, colleague)) == [
            "account_manager"
        ]

    def test_a_custom_role_with_the_members_permission_may_manage(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        recruiter_role = custom_role(
            db, partner, "Recruiter", "members.view", "members.manage"
        )
        recruiter = factories.member(db, partner.organisation, recruiter_role)
        person = factories.user(db)
        db.commit()
        sign_in(client, recruiter.account_name)

        response = post_form(
            client,
            "/members/invitations",
            {
                "identifier_kind": "email",
                "identifier": person.email or "",
                "roles": ["project_specialist"],
            },
            form_page="/members",
        )

        assert response.status_code == 303


class TestRemoval:
    def test_removed_member_keeps_its_history_but_not_its_contact_details(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        member = factories.user(db, phone="13700137000")
        identity.add_membership(
            db, member, partner.organisation, roles=["account_manager"]
        )
        db.commit()
        target = membership_of(db, partner, member)
        sign_in(client, partner.admin.account_name)

        confirm = client.get(f"/members/{target.id}/remove")
        removed = post_form(
            client, f"/members/{target.id}/remove", {}, form_page="/members"
        )
        listing = client.get("/members").text

        assert confirm.status_code == 200
        assert member.display_name in confirm.text
        assert removed.status_code == 303
        assert f"{member.display_name} 已不再是成员" in listing
        assert 'class="badge ">已解绑<' in listing
        assert member.display_name in listing
        assert member.account_name in listing
        assert (member.email or "") not in listing
        assert "13700137000" not in listing
        stored = membership_of(db, partner, member)
        assert stored.id == target.id
        assert stored.left_at is not None
        [event] = events(db, "member.removed")
        assert event.subject_id == str(target.id)
        assert event.actor_user_id == partner.admin.id
        assert event.before is not None
        assert event.after is not None
        assert event.before["left_at"] is None
        assert event.after["left_at"] is not None
        assert event.before["roles"] == ["account_manager"]

    def test_removed_member_is_told_and_can_no_longer_act_for_the_partner(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        member = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        target = membership_of(db, partner, member)
        sign_in(client, partner.admin.account_name)
        post_form(client, f"/members/{target.id}/remove", {}, form_page="/members")

        client.cookies.clear()
        sign_in(client, member.account_name)

        assert client.get("/members").status_code == 403
        assert "您的账号尚未加入任何组织" in client.get("/console").text
        notice = db.scalar(
            select(Notification).where(
                Notification.user_id == member.id,
                Notification.kind == "member.removed",
            )
        )
        db.commit()
        assert notice is not None

    def test_main_account_cannot_be_removed(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager_role = custom_role(
            db, partner, "Member desk", "members.view", "members.manage"
        )
        manager = factories.member(db, partner.organisation, manager_role)
        db.commit()
        main = membership_of(db, partner, partner.admin)
        sign_in(client, manager.account_name)

        response = post_form(
            client, f"/members/{main.id}/remove", {}, form_page="/members"
        )

        assert response.status_code == 409
        assert "合作伙伴的主账号不能被移除" in response.text
        assert membership_of(db, partner, partner.admin).left_at is None
        assert events(db, "member.removed") == []

    def test_nobody_removes_themselves_from_the_admin_page(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager_role = custom_role(
            db, partner, "Member desk", "members.view", "members.manage"
        )
        manager = factories.member(db, partner.organisation, manager_role)
        db.commit()
        own = membership_of(db, partner, manager)
        sign_in(client, manager.account_name)

        response = post_form(
            client, f"/members/{own.id}/remove", {}, form_page="/members"
        )

        assert response.status_code == 409
        assert "您不能在此移除自己" in response.text
        assert membership_of(db, partner, manager).left_at is None

    def test_a_removed_member_cannot_be_removed_twice(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        member = factories.member(db, partner.organisation)
        db.commit()
        target = membership_of(db, partner, member)
        sign_in(client, partner.admin.account_name)
        post_form(client, f"/members/{target.id}/remove", {}, form_page="/members")

        again = post_form(
            client, f"/members/{target.id}/remove", {}, form_page="/members"
        )

        assert again.status_code == 409
        assert "此人已不再是成员" in again.text
        assert len(events(db, "member.removed")) == 1


class TestRoleChanges:
    def test_admin_replaces_a_members_roles(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        desk = custom_role(db, partner, "Channel desk", "members.view")
        member = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        target = membership_of(db, partner, member)
        sign_in(client, partner.admin.account_name)

        form = client.get(f"/members/{target.id}/roles")
        saved = post_form(
            client,
            f"/members/{target.id}/roles",
            {"roles": ["account_manager", desk]},
            form_page="/members",
        )

        assert form.status_code == 200
        assert "Channel desk" in form.text
        assert saved.status_code == 303
        stored = membership_of(db, partner, member)
        assert sorted(identity.role_codes(stored)) == sorted(["account_manager", desk])
        [event] = events(db, "member.roles_changed")
        assert event.before == {"roles": ["project_specialist"]}
        assert event.after is not None
        assert sorted(event.after["roles"]) == sorted(["account_manager", desk])
        assert "客户经理" in client.get("/members").text

    def test_at_least_one_known_role_is_required(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        member = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        target = membership_of(db, partner, member)
        sign_in(client, partner.admin.account_name)

        empty = post_form(
            client, f"/members/{target.id}/roles", {}, form_page="/members"
        )
        admin = post_form(
            client,
            f"/members/{target.id}/roles",
            {"roles": ["partner_admin"]},
            form_page="/members",
        )

        assert empty.status_code == admin.status_code == 400
        assert "请至少选择一个角色" in empty.text
        assert "partner_admin 不是本合作伙伴的角色" in admin.text
        stored = membership_of(db, partner, member)
        assert identity.role_codes(stored) == ["project_specialist"]
        assert events(db, "member.roles_changed") == []

    def test_the_main_accounts_roles_cannot_be_changed(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager_role = custom_role(
            db, partner, "Member desk", "members.view", "members.manage"
        )
        manager = factories.member(db, partner.organisation, manager_role)
        db.commit()
        main = membership_of(db, partner, partner.admin)
        sign_in(client, manager.account_name)

        response = post_form(
            client,
            f"/members/{main.id}/roles",
            {"roles": ["project_specialist"]},
            form_page="/members",
        )

        assert response.status_code == 409
        assert "主账号的角色不能更改" in response.text
        stored = membership_of(db, partner, partner.admin)
        assert identity.role_codes(stored) == ["partner_admin"]


class TestLeaving:
    def test_a_member_leaves_the_partner_itself(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        member = factories.member(db, partner.organisation, "account_manager")
        db.commit()
        sign_in(client, member.account_name)

        confirm = client.get("/members/leave")
        left = post_form(client, "/members/leave", {}, form_page="/members/leave")
        console = client.get("/console")

        assert confirm.status_code == 200
        assert left.status_code == 303
        assert left.headers["location"] == "/console"
        assert f"您已退出 {partner.organisation.display_name}" in console.text
        assert membership_of(db, partner, member).left_at is not None
        [event] = events(db, "member.left")
        assert event.actor_user_id == member.id
        assert event.organisation_id == partner.organisation.id

    def test_the_main_account_cannot_leave(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        members_page = client.get("/members").text
        response = post_form(client, "/members/leave", {}, form_page="/members")

        assert 'href="/members/leave"' not in members_page
        assert response.status_code == 409
        assert "主账号不能退出自己的合作伙伴" in response.text
        assert membership_of(db, partner, partner.admin).left_at is None


class TestMemberList:
    def test_search_by_name_or_account_name(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        alice = factories.user(db, "alice-zhou")
        bob = factories.user(db, "bob-qian")
        for person in (alice, bob):
            identity.add_membership(
                db, person, partner.organisation, roles=["account_manager"]
            )
        db.commit()
        sign_in(client, partner.admin.account_name)

        by_name = client.get("/members", params={"q": "Alice"}).text
        by_account = client.get("/members", params={"q": "bob-q"}).text
        nothing = client.get("/members", params={"q": "carol"}).text

        assert "alice-zhou" in by_name
        assert "bob-qian" not in by_name
        assert "bob-qian" in by_account
        assert "alice-zhou" not in by_account
        assert "没有匹配的结果" in nothing

    def test_filter_by_status(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        bound = factories.member(db, partner.organisation)
        waiting = factories.user(db)
        db.commit()
        invite(db, settings, partner, waiting)
        sign_in(client, partner.admin.account_name)

        invited = client.get("/members", params={"status": "invited"}).text
        members = client.get("/members", params={"status": "bound"}).text

        assert waiting.email in invited
        assert bound.account_name not in invited
        assert bound.account_name in members
        assert waiting.email not in members

    def test_accepted_invitations_show_as_the_membership_only(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        invitation = invite(db, settings, partner, person)
        service.accept_invitation(db, settings, person, invitation.id)
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get("/members").text

        assert invitation.status is InvitationStatus.ACCEPTED
        assert page.count('data-testid="member-row"') == 2
        assert 'class="badge ok">已绑定<' in page
        assert "已接受" not in page
