"""Inviting members: who can be found, who may join, the daily limit and the email."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import FrozenClock, utc_now
from partnercenter.core.ids import new_token
from partnercenter.core.models import AuditEvent, MailboxMessage, Notification
from partnercenter.core.security import token_hash
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    AccountType,
    Organisation,
    RealNameStatus,
    User,
)
from partnercenter.members.models import (
    IdentifierKind,
    InvitationStatus,
    MemberInvitation,
)
from partnercenter.worker import run_once
from tests import factories
from tests.helpers import post_form, sign_in


def invite_form(
    client: TestClient,
    identifier: str,
    kind: str = "email",
    roles: tuple[str, ...] = ("project_specialist",),
) -> Response:
    return post_form(
        client,
        "/members/invitations",
        {"identifier_kind": kind, "identifier": identifier, "roles": list(roles)},
        form_page="/members",
    )


def invitations_to(db: Session, person: User) -> list[MemberInvitation]:
    """The invitations as stored now; the read ends its transaction (SQLite locks)."""
    rows = list(
        db.scalars(
            select(MemberInvitation)
            .where(MemberInvitation.invitee_user_id == person.id)
            .order_by(MemberInvitation.created_at)
            .execution_options(populate_existing=True)
        )
    )
    db.commit()
    return rows


def joined_in_the_past(
    db: Session, person: User, partner: Organisation, *, days_ago: int, now: dt.datetime
) -> None:
    membership = identity.add_membership(
        db, person, partner, roles=["project_specialist"]
    )
    membership.joined_at = now - dt.timedelta(days=days_ago)
    membership.left_at = now - dt.timedelta(days=1)


class TestInvitingByIdentifier:
    def test_by_email(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        person = factories.user(db, email="Li.Na@Example.com")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, " li.na@example.com ", "email")

        assert response.status_code == 303
        assert "li.na@example.com" in client.get("/members").text
        [invitation] = invitations_to(db, person)
        assert invitation.organisation_id == partner.organisation.id
        assert invitation.identifier_kind is IdentifierKind.EMAIL
        assert invitation.identifier == "li.na@example.com"
        assert invitation.roles == ["project_specialist"]
        assert invitation.status is InvitationStatus.INVITED

    def test_by_phone(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        person = factories.user(db, phone="+86 138-0000-1234")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, "+86 13800001234", "phone")

        assert response.status_code == 303
        [invitation] = invitations_to(db, person)
        assert invitation.identifier_kind is IdentifierKind.PHONE
        assert invitation.identifier == "+8613800001234"

    def test_by_account_name(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        person = factories.user(db, "wang-fang")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(
            client, "Wang-Fang", "account_name", ("account_manager", "partner_finance")
        )

        assert response.status_code == 303
        [invitation] = invitations_to(db, person)
        assert invitation.identifier_kind is IdentifierKind.ACCOUNT_NAME
        assert invitation.roles == ["account_manager", "partner_finance"]

    def test_with_a_custom_role_of_the_partner(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        role = _custom_role(db, partner.organisation, "Channel desk")
        person = factories.user(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(
            client, person.account_name, "account_name", (f"custom:{role}",)
        )

        assert response.status_code == 303
        [invitation] = invitations_to(db, person)
        assert invitation.roles == [f"custom:{role}"]
        assert "Channel desk" in client.get("/members").text

    def test_the_identifier_is_matched_only_in_the_kind_chosen(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db, "zhao-lei")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, "zhao-lei", "email")

        assert response.status_code == 400
        assert "没有账号使用此邮箱地址" in response.text
        assert invitations_to(db, person) == []

    def test_unknown_account_is_refused_for_each_kind(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        by_email = invite_form(client, "nobody@example.com", "email")
        by_phone = invite_form(client, "13900000000", "phone")
        by_name = invite_form(client, "no-such-person", "account_name")

        assert by_email.status_code == by_phone.status_code == by_name.status_code
        assert by_email.status_code == 400
        assert "没有账号使用此邮箱地址" in by_email.text
        assert "没有账号使用此手机号" in by_phone.text
        assert "没有使用此账号名的账号" in by_name.text
        assert db.scalar(select(func.count()).select_from(MemberInvitation)) == 0

    def test_missing_identifier_and_roles_are_reported_together(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, "  ", "email", ())

        assert response.status_code == 400
        assert "请输入要邀请的人的邮箱地址、手机号或账号名" in response.text
        assert "请至少选择一个角色" in response.text

    def test_partner_admin_role_cannot_be_offered(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        other = factories.partner(db)
        foreign_role = _custom_role(db, other.organisation, "Not ours")
        db.commit()
        sign_in(client, partner.admin.account_name)

        admin_role = invite_form(
            client, person.account_name, "account_name", ("partner_admin",)
        )
        foreign = invite_form(
            client, person.account_name, "account_name", (f"custom:{foreign_role}",)
        )

        assert admin_role.status_code == foreign.status_code == 400
        assert "partner_admin 不是本合作伙伴的角色" in admin_role.text
        assert f"custom:{foreign_role} 不是本合作伙伴的角色" in foreign.text
        assert invitations_to(db, person) == []


class TestInviteeEligibility:
    def test_enterprise_account_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        company = factories.user(db, account_type=AccountType.ENTERPRISE)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, company.email or "")

        assert response.status_code == 409
        assert "只有个人账号可以成为成员" in response.text
        assert invitations_to(db, company) == []

    def test_sub_user_is_refused(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        sub_user = factories.user(db, account_type=AccountType.SUB_USER)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, sub_user.email or "")

        assert response.status_code == 409
        assert "只有个人账号可以成为成员" in response.text

    def test_account_without_real_name_verification_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        reviewing = factories.user(db, real_name_status=RealNameStatus.REVIEWING)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, reviewing.email or "")

        assert response.status_code == 409
        assert "该账号尚未完成实名认证" in response.text
        assert invitations_to(db, reviewing) == []

    def test_main_account_of_a_partner_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        other = factories.partner(db)
        other.admin.account_type = AccountType.PERSONAL
        other.admin.real_name_status = RealNameStatus.VERIFIED
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, other.admin.email or "")

        assert response.status_code == 409
        assert "该账号是合作伙伴的主账号" in response.text
        assert invitations_to(db, other.admin) == []

    def test_member_of_another_partner_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        other = factories.partner(db)
        busy = factories.member(db, other.organisation, "account_manager")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, busy.email or "")

        assert response.status_code == 409
        assert "该账号已是其他合作伙伴的成员" in response.text
        assert "只有个人账号" not in response.text
        assert invitations_to(db, busy) == []

    def test_member_of_a_customer_organisation_may_be_invited(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        person = factories.user(db)
        identity.add_membership(db, person, customer.organisation, roles=["customer"])
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, person.email or "")

        assert response.status_code == 303
        assert len(invitations_to(db, person)) == 1

    def test_three_partners_joined_within_a_year_is_refused_until_the_oldest_ages(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        now = clock.now()
        for days_ago in (300, 120, 30):
            other = factories.partner(db)
            joined_in_the_past(
                db, person, other.organisation, days_ago=days_ago, now=now
            )
        db.commit()
        sign_in(client, partner.admin.account_name)

        refused = invite_form(client, person.email or "")
        clock.move(days=66)
        sign_in(client, partner.admin.account_name)
        allowed = invite_form(client, person.email or "")

        assert refused.status_code == 409
        assert "该账号在最近 365 天内已加入 3 个合作伙伴" in refused.text
        assert allowed.status_code == 303
        assert len(invitations_to(db, person)) == 1

    def test_two_partners_joined_within_a_year_is_allowed(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        for days_ago in (200, 20):
            other = factories.partner(db)
            joined_in_the_past(
                db, person, other.organisation, days_ago=days_ago, now=clock.now()
            )
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, person.email or "")

        assert response.status_code == 303

    def test_current_member_cannot_be_invited_again(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        member = factories.member(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, member.email or "")

        assert response.status_code == 409
        assert "该账号已是本合作伙伴的成员" in response.text
        assert invitations_to(db, member) == []

    def test_removed_member_can_be_invited_again(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        former = factories.member(db, partner.organisation)
        membership = identity.active_membership(db, former.id, partner.organisation.id)
        assert membership is not None
        membership.left_at = membership.joined_at + dt.timedelta(days=3)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = invite_form(client, former.email or "")

        assert response.status_code == 303
        assert len(invitations_to(db, former)) == 1

    def test_second_invitation_while_one_waits_offers_sending_it_again(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        invite_form(client, person.email or "")
        [first] = invitations_to(db, person)

        response = invite_form(client, person.account_name, "account_name")

        assert response.status_code == 409
        assert "该账号已有一份待回复的邀请" in response.text
        assert f'action="/members/invitations/{first.id}/resend"' in response.text
        assert len(invitations_to(db, person)) == 1

    def test_expired_invitation_does_not_block_a_new_one(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        invite_form(client, person.email or "")

        clock.move(days=7, seconds=1)
        sign_in(client, partner.admin.account_name)
        response = invite_form(client, person.email or "")

        assert response.status_code == 303
        statuses = [row.status for row in invitations_to(db, person)]
        assert statuses == [InvitationStatus.INVITED, InvitationStatus.INVITED]
        listing = client.get("/members").text
        assert 'class="badge bad">已过期<' in listing
        assert 'class="badge warn">已邀请<' in listing


class TestDailyLimit:
    def test_the_hundred_and_first_invitation_of_a_day_waits_for_the_next_day(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        # 02:00 UTC is 10:00 in Shanghai; the Shanghai day ends at 16:00 UTC.
        partner = factories.partner(db)
        earlier = factories.user(db)
        person = factories.user(db)
        _already_sent(
            db,
            organisation=partner.organisation,
            admin=partner.admin,
            invitee=earlier,
            count=100,
            clock=clock,
        )
        db.commit()

        clock.set(dt.datetime(2026, 3, 2, 15, 59, tzinfo=dt.UTC))
        sign_in(client, partner.admin.account_name)
        refused = invite_form(client, person.email or "")
        clock.set(dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.UTC))
        allowed = invite_form(client, person.email or "")

        assert refused.status_code == 429
        assert "您今天已发送 100 份邀请" in refused.text
        assert allowed.status_code == 303
        assert len(invitations_to(db, person)) == 1

    def test_invitations_of_the_previous_day_do_not_count(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        earlier = factories.user(db)
        person = factories.user(db)
        clock.set(dt.datetime(2026, 3, 1, 15, 59, tzinfo=dt.UTC))
        _already_sent(
            db,
            organisation=partner.organisation,
            admin=partner.admin,
            invitee=earlier,
            count=100,
            clock=clock,
        )
        db.commit()

        clock.set(dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC))
        sign_in(client, partner.admin.account_name)
        response = invite_form(client, person.email or "")

        assert response.status_code == 303

    def test_the_limit_is_per_admin(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        second_admin = factories.user(db)
        role = _custom_role(
            db, partner.organisation, "Recruiter", ["members.view", "members.manage"]
        )
        identity.add_membership(
            db, second_admin, partner.organisation, roles=[f"custom:{role}"]
        )
        earlier = factories.user(db)
        person = factories.user(db)
        _already_sent(
            db,
            organisation=partner.organisation,
            admin=partner.admin,
            invitee=earlier,
            count=100,
            clock=clock,
        )
        db.commit()
        sign_in(client, second_admin.account_name)

        response = invite_form(client, person.email or "")

        assert response.status_code == 303


class TestInvitationMessage:
    def test_email_arrives_in_the_invitees_language_with_the_link(
        self,
        client: TestClient,
        db: Session,
        app: FastAPI,
        session_factory: sessionmaker[Session],
    ) -> None:
        partner = factories.partner(db)
        english = factories.user(db, locale="en")
        chinese = factories.user(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        invite_form(client, english.email or "")
        invite_form(client, chinese.email or "")

        run_once(session_factory, app.state.settings)

        mail = {row.recipient: row for row in db.scalars(select(MailboxMessage)).all()}
        name = partner.organisation.display_name
        assert mail[english.email or ""].subject == (
            f"{name} invites you to become a member"
        )
        assert "valid for 7 days" in mail[english.email or ""].body
        assert mail[chinese.email or ""].subject == f"{name} 邀请您成为成员"
        assert "有效期 7 天" in mail[chinese.email or ""].body
        link = _invitation_link(db, chinese)
        assert f"http://testserver{link}" in mail[chinese.email or ""].body

    def test_invitee_sees_the_notice_and_only_a_hash_of_the_token_is_stored(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        invite_form(client, person.email or "")
        link = _invitation_link(db, person)
        token = link.rsplit("/", 1)[1]

        client.cookies.clear()
        sign_in(client, person.account_name)
        notices = client.get("/notifications").text

        assert link in notices
        assert partner.organisation.display_name in notices
        [invitation] = invitations_to(db, person)
        assert invitation.token_hash != token
        assert token not in invitation.token_hash
        assert len(invitation.token_hash) == 64

    def test_invitation_is_an_audit_event_of_the_partner(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        invite_form(client, person.email or "")

        [invitation] = invitations_to(db, person)
        event = db.scalar(
            select(AuditEvent).where(AuditEvent.action == "member.invited")
        )
        assert event is not None
        assert event.organisation_id == partner.organisation.id
        assert event.actor_user_id == partner.admin.id
        assert event.subject_id == invitation.id
        assert event.before is None
        assert event.after is not None
        assert event.after["status"] == "invited"
        assert event.after["roles"] == ["project_specialist"]


def _custom_role(
    db: Session,
    organisation: Organisation,
    name: str,
    permissions: list[str] | None = None,
) -> int:
    from partnercenter.identity.models import CustomRole

    role = CustomRole(
        organisation_id=organisation.id,
        name=name,
        permissions=permissions or ["members.view"],
        created_at=utc_now(),
    )
    db.add(role)
    db.flush()
    return role.id


def _already_sent(
    db: Session,
    *,
    organisation: Organisation,
    admin: User,
    invitee: User,
    count: int,
    clock: FrozenClock,
) -> None:
    """``count`` invitations sent by ``admin`` at the clock's time, all withdrawn since."""
    now = clock.now()
    db.add_all(
        MemberInvitation(
            organisation_id=organisation.id,
            invited_by_user_id=admin.id,
            invitee_user_id=invitee.id,
            identifier_kind=IdentifierKind.EMAIL,
            identifier=invitee.email or "",
            roles=["project_specialist"],
            token_hash=token_hash(new_token()),
            status=InvitationStatus.WITHDRAWN,
            created_at=now,
            expires_at=now + dt.timedelta(days=7),
        )
        for _ in range(count)
    )
    db.flush()


def _invitation_link(db: Session, person: User) -> str:
    link = db.scalar(
        select(Notification.link)
        .where(Notification.user_id == person.id, Notification.kind == "member.invited")
        .order_by(Notification.id.desc())
    )
    db.commit()
    assert link is not None
    return link
