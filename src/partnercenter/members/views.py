"""Console pages of members: the partner's member list and the invitee's invitations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlalchemy.orm import Session

from partnercenter.core.clock import utc_now
from partnercenter.core.errors import DomainError
from partnercenter.core.i18n import N_
from partnercenter.identity import service as identity
from partnercenter.identity.models import Membership
from partnercenter.identity.permissions import Permission
from partnercenter.members import roster, service
from partnercenter.members.models import IdentifierKind
from partnercenter.members.rules import (
    INVITATION_STATUSES,
    INVITATION_VALID_DAYS,
    MEMBERSHIP_STATUSES,
    MemberStatus,
)
from partnercenter.web.context import (
    DB,
    ActingPage,
    Page,
    SignedInPage,
    require,
    take_flash,
)
from partnercenter.web.forms import form_error

router = APIRouter()

PAGE_SIZE = 50
IDENTIFIER_KINDS = [
    (IdentifierKind.EMAIL, N_("Email")),
    (IdentifierKind.PHONE, N_("Phone")),
    (IdentifierKind.ACCOUNT_NAME, N_("Account name")),
]
STATUS_LABELS = {
    MemberStatus.INVITED: N_("Invited"),
    MemberStatus.EXPIRED: N_("Expired"),
    MemberStatus.BOUND: N_("Bound"),
    MemberStatus.UNBOUND: N_("Unbound"),
    MemberStatus.ACCEPTED: N_("Accepted"),
    MemberStatus.DECLINED: N_("Declined"),
    MemberStatus.VOIDED: N_("Voided"),
    MemberStatus.WITHDRAWN: N_("Withdrawn"),
}
STATUS_BADGES = {
    MemberStatus.BOUND: "ok",
    MemberStatus.INVITED: "warn",
    MemberStatus.EXPIRED: "bad",
}

RolesField = Annotated[list[str] | None, Form()]


@dataclass
class InviteForm:
    identifier_kind: str = IdentifierKind.EMAIL.value
    identifier: str = ""
    roles: list[str] = field(default_factory=list)


# -- the partner's member list ----------------------------------------------------------


@router.get("/members")
def member_list(
    page: ActingPage,
    db: DB,
    status: str | None = None,
    q: str = "",
    offset: int = 0,
) -> Response:
    return _list_page(page, db, status=status, q=q, offset=offset)


@router.post("/members/invitations")
def invite(
    page: ActingPage,
    db: DB,
    identifier_kind: Annotated[str, Form()] = "",
    identifier: Annotated[str, Form()] = "",
    roles: RolesField = None,
) -> Response:
    actor = require(page, Permission.MEMBERS_MANAGE)
    form = InviteForm(identifier_kind, identifier, roles or [])
    try:
        invitation = service.invite(
            db,
            actor,
            page.settings,
            identifier_kind=form.identifier_kind,
            identifier=form.identifier,
            roles=form.roles,
        )
    except DomainError as error:
        db.rollback()
        pending = getattr(error, "invitation_id", None)
        return _list_page(page, db, form=form, error=error, pending_id=pending)
    message = page.tr.gettext("An invitation was sent to %(identifier)s.")
    return page.redirect("/members", message % {"identifier": invitation.identifier})


@router.post("/members/invitations/{invitation_id}/resend")
def resend(page: ActingPage, db: DB, invitation_id: str) -> Response:
    actor = require(page, Permission.MEMBERS_MANAGE)
    try:
        invitation = service.resend_invitation(db, actor, page.settings, invitation_id)
    except DomainError as error:
        db.rollback()
        return _list_page(page, db, error=error)
    message = page.tr.gettext(
        "A new invitation was sent to %(identifier)s; the earlier link no longer works."
    )
    return page.redirect("/members", message % {"identifier": invitation.identifier})


@router.post("/members/invitations/{invitation_id}/withdraw")
def withdraw(page: ActingPage, db: DB, invitation_id: str) -> Response:
    actor = require(page, Permission.MEMBERS_MANAGE)
    try:
        invitation = service.withdraw_invitation(db, actor, invitation_id)
    except DomainError as error:
        db.rollback()
        return _list_page(page, db, error=error)
    message = page.tr.gettext("The invitation to %(identifier)s was withdrawn.")
    return page.redirect("/members", message % {"identifier": invitation.identifier})


def _list_page(
    page: Page,
    db: Session,
    *,
    status: str | None = None,
    q: str = "",
    offset: int = 0,
    form: InviteForm | None = None,
    error: DomainError | None = None,
    pending_id: str | None = None,
) -> Response:
    actor = require(page, Permission.MEMBERS_VIEW)
    assert page.user is not None
    result = roster.roster(
        db,
        actor,
        status=roster.parse_status(status),
        search=q,
        offset=offset,
        limit=PAGE_SIZE,
    )
    own = identity.active_membership(db, page.user.id, actor.organisation_id)
    return page.render(
        "members/list.html",
        status_code=error.status if error else 200,
        flash=take_flash(page.request),
        roster=result,
        status=status or "",
        q=q,
        statuses=[*MEMBERSHIP_STATUSES, *INVITATION_STATUSES],
        can_manage=actor.can(Permission.MEMBERS_MANAGE),
        can_leave=own is not None and not own.is_main_account,
        form=form or InviteForm(),
        error=form_error(error, page.tr) if error else None,
        pending_id=pending_id,
        choices=roster.role_choices(db, actor.organisation_id),
        valid_days=INVITATION_VALID_DAYS,
        **_display_helpers(page, db, actor.organisation_id),
    )


def _display_helpers(page: Page, db: Session, organisation_id: str) -> dict[str, Any]:
    """Callables the templates use to show roles, statuses and identifier kinds."""
    known = roster.role_names(db, organisation_id)

    def role_label(code: str) -> str:
        choice = known.get(code)
        if choice is None:
            return code
        return choice.label if choice.is_custom else page.tr.gettext(choice.label)

    return {
        "role_label": role_label,
        "status_label": _translated(page, STATUS_LABELS),
        "badge": lambda status: STATUS_BADGES.get(status, ""),
        "identifier_kinds": [
            (kind.value, page.tr.gettext(label)) for kind, label in IDENTIFIER_KINDS
        ],
        "kind_label": _translated(page, dict(IDENTIFIER_KINDS)),
    }


def _translated(page: Page, labels: dict[Any, str]) -> Callable[[Any], str]:
    return lambda key: page.tr.gettext(labels[key]) if key in labels else str(key)


# -- one member: roles and removal ------------------------------------------------------


@router.get("/members/{membership_id}/roles")
def roles_form(page: ActingPage, db: DB, membership_id: int) -> Response:
    actor = require(page, Permission.MEMBERS_MANAGE)
    membership = roster.member(db, actor, membership_id)
    return _roles_page(page, db, membership, identity.role_codes(membership))


@router.post("/members/{membership_id}/roles")
def change_roles(
    page: ActingPage, db: DB, membership_id: int, roles: RolesField = None
) -> Response:
    actor = require(page, Permission.MEMBERS_MANAGE)
    try:
        membership = service.change_roles(db, actor, membership_id, roles or [])
    except DomainError as error:
        db.rollback()
        membership = roster.member(db, actor, membership_id)
        return _roles_page(page, db, membership, roles or [], error=error)
    message = page.tr.gettext("The roles of %(name)s were saved.")
    return page.redirect("/members", message % {"name": membership.user.display_name})


def _roles_page(
    page: Page,
    db: Session,
    membership: Membership,
    selected: list[str],
    *,
    error: DomainError | None = None,
) -> Response:
    return page.render(
        "members/roles.html",
        status_code=error.status if error else 200,
        membership=membership,
        selected=selected,
        choices=roster.role_choices(db, membership.organisation_id),
        error=form_error(error, page.tr) if error else None,
        **_display_helpers(page, db, membership.organisation_id),
    )


@router.get("/members/{membership_id}/remove")
def remove_form(page: ActingPage, db: DB, membership_id: int) -> Response:
    actor = require(page, Permission.MEMBERS_MANAGE)
    membership = roster.member(db, actor, membership_id)
    return page.render("members/remove.html", membership=membership, error=None)


@router.post("/members/{membership_id}/remove")
def remove(page: ActingPage, db: DB, membership_id: int) -> Response:
    actor = require(page, Permission.MEMBERS_MANAGE)
    try:
        membership = service.remove_member(db, actor, page.settings, membership_id)
    except DomainError as error:
        db.rollback()
        membership = roster.member(db, actor, membership_id)
        return page.render(
            "members/remove.html",
            status_code=error.status,
            membership=membership,
            error=form_error(error, page.tr),
        )
    message = page.tr.gettext("%(name)s is no longer a member.")
    return page.redirect("/members", message % {"name": membership.user.display_name})


# -- leaving ----------------------------------------------------------------------------


@router.get("/members/leave")
def leave_form(page: ActingPage) -> Response:
    return page.render("members/leave.html", error=None)


@router.post("/members/leave")
def leave(page: ActingPage, db: DB) -> Response:
    assert page.user is not None
    assert page.actor is not None
    assert page.console_session is not None
    assert page.organisation is not None
    try:
        service.leave_partner(
            db,
            page.user,
            page.actor.organisation_id,
            request_id=page.request.state.request_id,
        )
    except DomainError as error:
        db.rollback()
        return page.render(
            "members/leave.html",
            status_code=error.status,
            error=form_error(error, page.tr),
        )
    remaining = identity.active_memberships(db, page.user.id)
    page.console_session.organisation_id = (
        remaining[0].organisation_id if remaining else None
    )
    message = page.tr.gettext("You have left %(partner)s.")
    return page.redirect(
        "/console", message % {"partner": page.organisation.display_name}
    )


# -- the invitee's side -----------------------------------------------------------------


@router.get("/invitations")
def my_invitations(page: SignedInPage, db: DB) -> Response:
    return _invitations_page(page, db)


def _invitations_page(
    page: Page, db: Session, *, error: DomainError | None = None
) -> Response:
    assert page.user is not None
    pending = roster.pending_for(db, page.user)
    labels = {
        item.invitation.id: _role_labels(page, db, item.invitation.organisation_id)
        for item in pending
    }
    return page.render(
        "members/invitations.html",
        status_code=error.status if error else 200,
        flash=take_flash(page.request),
        pending=pending,
        role_labels=labels,
        error=form_error(error, page.tr) if error else None,
    )


@router.get("/invitations/{token}")
def invitation_page(page: SignedInPage, db: DB, token: str) -> Response:
    assert page.user is not None
    invitation = service.invitation_by_token(db, page.user, token)
    parties = roster.invitation_parties(db, invitation)
    reason = service.closed_reason(db, invitation, utc_now())
    return page.render(
        "members/invitation.html",
        status_code=409 if reason else 200,
        item=parties,
        closed=page.tr.gettext(reason) if reason else None,
        role_label=_role_labels(page, db, invitation.organisation_id),
    )


@router.post("/invitations/{invitation_id}/accept")
def accept(page: SignedInPage, db: DB, invitation_id: str) -> Response:
    assert page.user is not None
    assert page.console_session is not None
    try:
        membership = service.accept_invitation(
            db,
            page.settings,
            page.user,
            invitation_id,
            request_id=page.request.state.request_id,
        )
    except DomainError as error:
        db.rollback()
        return _invitations_page(page, db, error=error)
    identity.switch_organisation(db, page.console_session, membership.organisation_id)
    partner = identity.get_organisation(db, membership.organisation_id)
    message = page.tr.gettext("Welcome to %(partner)s. You are now a member.")
    return page.redirect("/console", message % {"partner": partner.display_name})


@router.post("/invitations/{invitation_id}/decline")
def decline(page: SignedInPage, db: DB, invitation_id: str) -> Response:
    assert page.user is not None
    try:
        invitation = service.decline_invitation(
            db,
            page.settings,
            page.user,
            invitation_id,
            request_id=page.request.state.request_id,
        )
    except DomainError as error:
        db.rollback()
        return _invitations_page(page, db, error=error)
    partner = identity.get_organisation(db, invitation.organisation_id)
    message = page.tr.gettext("You declined the invitation of %(partner)s.")
    return page.redirect("/invitations", message % {"partner": partner.display_name})


def _role_labels(page: Page, db: Session, organisation_id: str) -> Callable[[str], str]:
    helpers = _display_helpers(page, db, organisation_id)
    role_label: Callable[[str], str] = helpers["role_label"]
    return role_label
