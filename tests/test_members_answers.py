"""Answering invitations: accepting, declining, expiry, withdrawal and re-sending."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.core.models import AuditEvent, Notification
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import Membership, RealNameStatus, User
from partnercenter.members import service
from partnercenter.members.models import InvitationStatus, MemberInvitation
from tests import factories
from tests.factories import OrgWithAdmin
from tests.helpers import post_form, sign_in


def send_invitation(
    db: Session,
    settings: Settings,
    partner: OrgWithAdmin,
    person: User,
    roles: tuple[str, ...] = ("project_specialist",),
) -> str:
    """Invite ``person`` as the partner's admin; the link from the invitee's notice."""
    actor = identity.actor_for(db, partner.admin, partner.organisation.id)
    service.invite(
        db,
        actor,
        settings,
        identifier_kind="email",
        identifier=person.email or "",
        roles=list(roles),
    )
    db.commit()
    return latest_link(db, person)


def latest_link(db: Session, person: User) -> str:
    link = db.scalar(
        select(Notification.link)
        .where(Notification.user_id == person.id, Notification.kind == "member.invited")
        .order_by(Notification.id.desc())
    )
    db.commit()
    assert link is not None
    return link


def invitation_of(db: Session, partner: OrgWithAdmin, person: User) -> MemberInvitation:
    """The partner's latest invitation to ``person``, as stored now."""
    invitation = db.scalar(
        select(MemberInvitation)
        .where(
            MemberInvitation.organisation_id == partner.organisation.id,
            MemberInvitation.invitee_user_id == person.id,
        )
        .order_by(MemberInvitation.created_at.desc(), MemberInvitation.id.desc())
        .execution_options(populate_existing=True)
    )
    db.commit()
    assert invitation is not None
    return invitation


def status_of(db: Session, invitation_id: str) -> InvitationStatus:
    status = db.scalar(
        select(MemberInvitation.status).where(MemberInvitation.id == invitation_id)
    )
    db.commit()
    assert status is not None
    return status


def membership_in(
    db: Session, partner: OrgWithAdmin, person: User
) -> Membership | None:
    membership = db.scalar(
        select(Membership)
        .where(
            Membership.user_id == person.id,
            Membership.organisation_id == partner.organisation.id,
            Membership.left_at.is_(None),
        )
        .execution_options(populate_existing=True)
    )
    db.commit()
    return membership


def actions(db: Session, subject_id: str) -> list[str]:
    rows = db.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)
    ).all()
    db.commit()
    return list(rows)


def act_as(client: TestClient, person: User) -> None:
    client.cookies.clear()
    sign_in(client, person.account_name)


def answer(
    client: TestClient, invitation: MemberInvitation, verb: str = "accept"
) -> Response:
    return post_form(
        client, f"/invitations/{invitation.id}/{verb}", {}, form_page="/invitations"
    )


class TestAccepting:
    def test_invitee_joins_with_the_roles_offered_and_works_for_the_partner(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        link = send_invitation(
            db, settings, partner, person, ("account_manager", "partner_finance")
        )
        invitation = invitation_of(db, partner, person)
        act_as(client, person)

        shown = client.get(link)
        accepted = post_form(
            client, f"/invitations/{invitation.id}/accept", {}, form_page=link
        )
        console = client.get("/console")

        assert shown.status_code == 200
        assert partner.organisation.display_name in shown.text
        assert "客户经理" in shown.text
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/console"
        assert "欢迎加入" in console.text
        assert partner.organisation.display_name in console.text
        membership = membership_in(db, partner, person)
        assert membership is not None
        assert identity.role_codes(membership) == ["account_manager", "partner_finance"]
        stored = invitation_of(db, partner, person)
        assert stored.status is InvitationStatus.ACCEPTED
        assert stored.responded_at is not None
        assert actions(db, str(membership.id)) == ["member.joined"]

    def test_partner_admin_is_told_and_sees_the_member_bound_with_contact_details(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db, phone="13800138000")
        db.commit()
        send_invitation(db, settings, partner, person)
        act_as(client, person)
        answer(client, invitation_of(db, partner, person))

        act_as(client, partner.admin)
        listing = client.get("/members").text
        notices = client.get("/notifications").text

        assert 'class="badge ok">已绑定<' in listing
        assert person.email in listing
        assert "13800138000" in listing
        assert f"{person.display_name} 已加入 {partner.organisation.display_name}" in (
            notices
        )

    def test_accepting_voids_the_invitees_other_open_invitations(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        first = factories.partner(db)
        second = factories.partner(db)
        person = factories.user(db)
        db.commit()
        send_invitation(db, settings, first, person)
        other_link = send_invitation(db, settings, second, person)
        act_as(client, person)

        answer(client, invitation_of(db, first, person))
        other_page = client.get(other_link)

        other = invitation_of(db, second, person)
        assert other.status is InvitationStatus.VOIDED
        assert other.responded_at is None
        assert other_page.status_code == 409
        assert "这份邀请已作废" in other_page.text
        assert membership_in(db, second, person) is None
        event = db.scalar(
            select(AuditEvent).where(AuditEvent.action == "member.invitation_voided")
        )
        db.commit()
        assert event is not None
        assert event.organisation_id == second.organisation.id
        assert event.subject_id == other.id
        assert event.before is not None
        assert event.after is not None
        assert (event.before["status"], event.after["status"]) == ("invited", "voided")
        act_as(client, second.admin)
        assert 'class="badge ">已作废<' in client.get("/members").text

    def test_accepting_on_the_seventh_day_works(
        self,
        client: TestClient,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        send_invitation(db, settings, partner, person)

        clock.move(days=7)
        act_as(client, person)
        response = answer(client, invitation_of(db, partner, person))

        assert response.status_code == 303
        assert membership_in(db, partner, person) is not None

    def test_after_seven_days_the_link_is_refused_and_a_new_invitation_works(
        self,
        client: TestClient,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        old_link = send_invitation(db, settings, partner, person)
        old = invitation_of(db, partner, person)

        clock.move(days=7, seconds=1)
        act_as(client, person)
        page = client.get(old_link)
        refused = answer(client, old)
        new_link = send_invitation(db, settings, partner, person)
        accepted = post_form(
            client,
            f"/invitations/{invitation_of(db, partner, person).id}/accept",
            {},
            form_page=new_link,
        )

        assert page.status_code == 409
        assert "这份邀请已过期" in page.text
        assert refused.status_code == 409
        assert "这份邀请已过期" in refused.text
        assert accepted.status_code == 303
        assert membership_in(db, partner, person) is not None

    def test_the_rules_are_checked_again_when_accepting(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        send_invitation(db, settings, partner, person)
        person.real_name_status = RealNameStatus.FAILED
        db.commit()
        act_as(client, person)

        response = answer(client, invitation_of(db, partner, person))

        assert response.status_code == 409
        assert "该账号尚未完成实名认证" in response.text
        assert membership_in(db, partner, person) is None
        assert invitation_of(db, partner, person).status is InvitationStatus.INVITED

    def test_someone_elses_link_is_refused_and_changes_nothing(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        intruder = factories.user(db)
        db.commit()
        link = send_invitation(db, settings, partner, person)
        invitation = invitation_of(db, partner, person)
        act_as(client, intruder)

        page = client.get(link)
        accept = answer(client, invitation, "accept")
        decline = answer(client, invitation, "decline")

        assert page.status_code == 403
        assert "这份邀请是发给其他账号的" in page.text
        assert partner.organisation.display_name not in page.text
        assert accept.status_code == decline.status_code == 404
        assert membership_in(db, partner, intruder) is None
        assert invitation_of(db, partner, person).status is InvitationStatus.INVITED

    def test_an_unknown_link_is_refused(self, client: TestClient, db: Session) -> None:
        person = factories.user(db)
        db.commit()
        act_as(client, person)

        response = client.get("/invitations/not-a-real-token")

        assert response.status_code == 404
        assert "此邀请链接无效" in response.text

    def test_the_link_goes_through_sign_in_and_back(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        link = send_invitation(db, settings, partner, person)

        signed_out = client.get(link)

        assert signed_out.status_code == 303
        assert signed_out.headers["location"] == f"/login?next={link}"
        token = client.get(signed_out.headers["location"]).text
        assert f'value="{link}"' in token

    def test_an_accepted_link_says_so(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        link = send_invitation(db, settings, partner, person)
        act_as(client, person)
        answer(client, invitation_of(db, partner, person))

        again = client.get(link)

        assert again.status_code == 409
        assert "您已接受这份邀请" in again.text

    def test_the_invitee_lists_only_invitations_it_can_still_answer(
        self,
        client: TestClient,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
    ) -> None:
        stale = factories.partner(db)
        fresh = factories.partner(db)
        person = factories.user(db)
        db.commit()
        send_invitation(db, settings, stale, person)
        clock.move(days=8)
        send_invitation(db, settings, fresh, person)
        act_as(client, person)

        page = client.get("/invitations")

        assert page.status_code == 200
        assert fresh.organisation.display_name in page.text
        assert stale.organisation.display_name not in page.text
        assert page.text.count('data-testid="invitation"') == 1


class TestDeclining:
    def test_declined_invitation_is_closed_and_the_admin_is_told(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        link = send_invitation(db, settings, partner, person)
        invitation = invitation_of(db, partner, person)
        act_as(client, person)

        declined = answer(client, invitation, "decline")
        listing = client.get("/invitations")
        page = client.get(link)

        assert declined.status_code == 303
        assert declined.headers["location"] == "/invitations"
        assert "您已拒绝" in listing.text
        assert "您已拒绝这份邀请" in page.text
        assert membership_in(db, partner, person) is None
        assert actions(db, invitation.id) == [
            "member.invited",
            "member.invitation_declined",
        ]
        act_as(client, partner.admin)
        assert 'class="badge ">已拒绝<' in client.get("/members").text
        assert "的一份邀请被拒绝" in client.get("/notifications").text


class TestWithdrawing:
    def test_withdrawn_invitation_can_no_longer_be_accepted(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        link = send_invitation(db, settings, partner, person)
        invitation = invitation_of(db, partner, person)
        act_as(client, partner.admin)

        withdrawn = post_form(
            client,
            f"/members/invitations/{invitation.id}/withdraw",
            {},
            form_page="/members",
        )
        listing = client.get("/members").text
        act_as(client, person)
        page = client.get(link)
        accept = answer(client, invitation)

        assert withdrawn.status_code == 303
        assert 'class="badge ">已撤回<' in listing
        assert "合作伙伴已撤回这份邀请" in page.text
        assert accept.status_code == 409
        assert membership_in(db, partner, person) is None
        event = db.scalar(
            select(AuditEvent).where(AuditEvent.action == "member.invitation_withdrawn")
        )
        db.commit()
        assert event is not None
        assert event.actor_user_id == partner.admin.id
        assert event.before is not None
        assert event.after is not None
        assert (event.before["status"], event.after["status"]) == (
            "invited",
            "withdrawn",
        )

    def test_an_answered_invitation_cannot_be_withdrawn(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        send_invitation(db, settings, partner, person)
        invitation = invitation_of(db, partner, person)
        act_as(client, person)
        answer(client, invitation)
        act_as(client, partner.admin)

        response = post_form(
            client,
            f"/members/invitations/{invitation.id}/withdraw",
            {},
            form_page="/members",
        )

        assert response.status_code == 409
        assert "这份邀请已被回复或已撤回" in response.text
        assert invitation_of(db, partner, person).status is InvitationStatus.ACCEPTED


class TestResending:
    def test_resending_issues_a_new_link_and_retires_the_old_one(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        old_link = send_invitation(db, settings, partner, person, ("partner_finance",))
        old = invitation_of(db, partner, person)
        act_as(client, partner.admin)

        resent = post_form(
            client,
            f"/members/invitations/{old.id}/resend",
            {},
            form_page="/members",
        )
        new_link = latest_link(db, person)
        new = invitation_of(db, partner, person)
        act_as(client, person)
        old_page = client.get(old_link)
        accepted = post_form(
            client, f"/invitations/{new.id}/accept", {}, form_page=new_link
        )

        assert resent.status_code == 303
        assert new_link != old_link
        assert new.id != old.id
        assert new.roles == ["partner_finance"]
        assert status_of(db, old.id) is InvitationStatus.WITHDRAWN
        assert old_page.status_code == 409
        assert "更新的邀请" in old_page.text
        assert accepted.status_code == 303
        assert actions(db, new.id)[0] == "member.invitation_resent"

    def test_an_expired_invitation_can_be_sent_again_for_seven_more_days(
        self,
        client: TestClient,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
    ) -> None:
        partner = factories.partner(db)
        person = factories.user(db)
        db.commit()
        send_invitation(db, settings, partner, person)
        old = invitation_of(db, partner, person)

        clock.move(days=10)
        act_as(client, partner.admin)
        resent = post_form(
            client,
            f"/members/invitations/{old.id}/resend",
            {},
            form_page="/members",
        )

        assert resent.status_code == 303
        new = invitation_of(db, partner, person)
        assert new.id != old.id
        assert new.created_at == clock.now()
        assert new.expires_at == clock.now() + dt.timedelta(days=7)
