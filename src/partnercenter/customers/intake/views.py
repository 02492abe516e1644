"""Console pages of customer intake: the partner's registrations and invitations, and the
page where a customer accepts an invitation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlalchemy.orm import Session

from partnercenter.core.clock import utc_now
from partnercenter.core.errors import DomainError
from partnercenter.core.i18n import N_
from partnercenter.customers import service
from partnercenter.customers.intake import (
    accepting,
    access,
    invitations,
    qr,
    registrations,
)
from partnercenter.customers.intake.rules import (
    INVITATION_NOT_FOUND,
    MAX_ACTIVE_REGISTRATIONS,
    ONLINE_INVITATION_DAYS,
    REGISTRATION_DAYS,
    InvitationState,
    agreements_for,
    closed_refusal,
)
from partnercenter.customers.models import (
    AssociationMode,
    CustomerInvitation,
    InvitationKind,
    RegistrationStatus,
)
from partnercenter.identity import service as identity
from partnercenter.web.context import DB, ActingPage, OptionalPage, Page, take_flash
from partnercenter.web.forms import form_error

router = APIRouter()

MODE_LABELS = {
    AssociationMode.CONSULTING: N_("Consulting sale"),
    AssociationMode.RESALE: N_("Resale"),
}
REGISTRATION_LABELS = {
    RegistrationStatus.ACTIVE: N_("Active"),
    RegistrationStatus.EXPIRED: N_("Expired"),
    RegistrationStatus.CONVERTED: N_("Became a customer"),
    RegistrationStatus.CANCELLED: N_("Cancelled"),
}
INVITATION_LABELS = {
    InvitationState.PENDING: N_("Waiting"),
    InvitationState.EXPIRED: N_("Expired"),
    InvitationState.ACCEPTED: N_("Accepted"),
    InvitationState.REVOKED: N_("Withdrawn"),
}
LINK_LABELS = {**INVITATION_LABELS, InvitationState.PENDING: N_("In use")}
"""A link is not waiting for one answer: while it works, it is in use."""
BADGES = {
    "active": "ok",
    "pending": "warn",
    "converted": "ok",
    "accepted": "ok",
    "expired": "bad",
    "revoked": "bad",
}
IdsField = Annotated[list[str] | None, Form()]


@dataclass
class RegistrationForm:
    prospect_name: str = ""
    email: str = ""
    phone: str = ""


@dataclass
class InvitationForm:
    registration_id: str = ""
    mode: str = AssociationMode.CONSULTING.value
    tag: str = ""


# -- registrations ----------------------------------------------------------------------


@router.get("/customers/registrations")
def registration_list(page: ActingPage, db: DB) -> Response:
    return _registrations_page(page, db)


@router.post("/customers/registrations")
def register(
    page: ActingPage,
    db: DB,
    prospect_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
) -> Response:
    assert page.actor is not None
    form = RegistrationForm(prospect_name, email, phone)
    try:
        registration = registrations.register(
            db, page.actor, prospect_name=prospect_name, email=email, phone=phone
        )
    except DomainError as error:
        db.rollback()
        return _registrations_page(page, db, form=form, error=error)
    message = page.tr.gettext("%(name)s is registered for %(days)s days.")
    return page.redirect(
        "/customers/registrations",
        message % {"name": registration.prospect_name, "days": REGISTRATION_DAYS},
    )


@router.post("/customers/registrations/{registration_id}/cancel")
def cancel_registration(page: ActingPage, db: DB, registration_id: str) -> Response:
    assert page.actor is not None
    try:
        registration = registrations.cancel(db, page.actor, registration_id)
    except DomainError as error:
        db.rollback()
        return _registrations_page(page, db, error=error)
    message = page.tr.gettext("The registration of %(name)s was cancelled.")
    return page.redirect(
        "/customers/registrations", message % {"name": registration.prospect_name}
    )


def _registrations_page(
    page: Page,
    db: Session,
    *,
    form: RegistrationForm | None = None,
    error: DomainError | None = None,
) -> Response:
    assert page.actor is not None
    rows = registrations.listing(db, page.actor)
    now = utc_now()
    return page.render(
        "intake/registrations.html",
        status_code=error.status if error else 200,
        flash=take_flash(page.request),
        rows=rows,
        days_left=lambda row: registrations.days_left(row, now),
        form=form or RegistrationForm(),
        error=form_error(error, page.tr) if error else None,
        hold_days=REGISTRATION_DAYS,
        limit=MAX_ACTIVE_REGISTRATIONS,
        status_label=_translated(page, REGISTRATION_LABELS),
        badge=lambda status: BADGES.get(str(status), ""),
    )


# -- invitations and links --------------------------------------------------------------


@router.get("/customers/invitations")
def invitation_list(page: ActingPage, db: DB) -> Response:
    return _invitations_page(page, db)


@router.post("/customers/invitations")
def invite(
    page: ActingPage,
    db: DB,
    registration_id: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "",
) -> Response:
    assert page.actor is not None
    form = InvitationForm(registration_id=registration_id, mode=mode)
    try:
        invitation = invitations.invite_online(
            db, page.actor, page.settings, registration_id=registration_id, mode=mode
        )
    except DomainError as error:
        db.rollback()
        return _invitations_page(page, db, online_form=form, error=error)
    message = page.tr.gettext("An invitation was sent to %(email)s.")
    return page.redirect(
        "/customers/invitations", message % {"email": invitation.email}
    )


@router.post("/customers/invitations/resend")
def resend_many(page: ActingPage, db: DB, invitation_ids: IdsField = None) -> Response:
    assert page.actor is not None
    try:
        sent = invitations.resend_many(
            db, page.actor, page.settings, invitation_ids or []
        )
    except DomainError as error:
        db.rollback()
        return _invitations_page(page, db, error=error)
    message = page.tr.ngettext(
        "%(count)s invitation was sent again.",
        "%(count)s invitations were sent again.",
        len(sent),
    )
    return page.redirect("/customers/invitations", message % {"count": len(sent)})


@router.post("/customers/invitations/{invitation_id}/resend")
def resend(page: ActingPage, db: DB, invitation_id: str) -> Response:
    assert page.actor is not None
    try:
        invitation = invitations.resend(db, page.actor, page.settings, invitation_id)
    except DomainError as error:
        db.rollback()
        return _invitations_page(page, db, error=error)
    message = page.tr.gettext(
        "The invitation to %(email)s was sent again; the same link works for %(days)s "
        "more days."
    )
    return page.redirect(
        "/customers/invitations",
        message % {"email": invitation.email, "days": ONLINE_INVITATION_DAYS},
    )


@router.post("/customers/invitations/{invitation_id}/revoke")
def revoke(page: ActingPage, db: DB, invitation_id: str) -> Response:
    assert page.actor is not None
    try:
        invitations.revoke(db, page.actor, invitation_id)
    except DomainError as error:
        db.rollback()
        return _invitations_page(page, db, error=error)
    return page.redirect(
        "/customers/invitations", page.tr.gettext("The invitation was withdrawn.")
    )


@router.post("/customers/links")
def create_link(
    page: ActingPage,
    db: DB,
    mode: Annotated[str, Form()] = "",
    tag: Annotated[str, Form()] = "",
) -> Response:
    assert page.actor is not None
    form = InvitationForm(mode=mode, tag=tag)
    try:
        invitations.create_link(db, page.actor, mode=mode, tag=tag)
    except DomainError as error:
        db.rollback()
        return _invitations_page(page, db, link_form=form, error=error)
    return page.redirect(
        "/customers/invitations",
        page.tr.gettext("The invitation link is ready. Share it or its QR code."),
    )


def _invitations_page(
    page: Page,
    db: Session,
    *,
    online_form: InvitationForm | None = None,
    link_form: InvitationForm | None = None,
    error: DomainError | None = None,
) -> Response:
    assert page.actor is not None
    views = invitations.listing(db, page.actor)
    invitable = [
        row
        for row in registrations.listing(
            db, page.actor, status=RegistrationStatus.ACTIVE
        )
        if row.email
    ]
    online = [v for v in views if v.invitation.kind is InvitationKind.ONLINE]
    links = [v for v in views if v.invitation.kind is InvitationKind.LINK]
    return page.render(
        "intake/invitations.html",
        status_code=error.status if error else 200,
        flash=take_flash(page.request),
        online=online,
        links=links,
        invitable=invitable,
        online_form=online_form or InvitationForm(),
        link_form=link_form or InvitationForm(),
        error=form_error(error, page.tr) if error else None,
        valid_days=ONLINE_INVITATION_DAYS,
        is_account_manager=access.is_account_manager(page.actor),
        link_url=lambda invitation: invitations.join_url(page.settings, invitation),
        qr_code=lambda invitation: qr.svg(
            invitations.join_url(page.settings, invitation),
            label=page.tr.gettext("QR code of the invitation link"),
        ),
        **_mode_helpers(page),
        state_label=_translated(page, INVITATION_LABELS),
        link_state_label=_translated(page, LINK_LABELS),
        badge=lambda state: BADGES.get(str(state), ""),
    )


# -- the customer's side ----------------------------------------------------------------


@router.get("/join/{token}")
def join_page(page: OptionalPage, db: DB, token: str) -> Response:
    invitation = invitations.by_token(db, token)
    if invitation is None:
        return _join_page(page, db, None, token, refusal_messages=[_not_found(page)])
    return _join_page(page, db, invitation, token)


@router.post("/join/{token}/accept")
def accept(
    page: OptionalPage,
    db: DB,
    token: str,
    agreements: IdsField = None,
) -> Response:
    if page.user is None:
        return page.redirect(f"/login?next={quote('/join/' + token)}")
    actor = page.actor or accepting.anonymous_actor()
    try:
        association = accepting.accept(
            db, actor, page.settings, token=token, accepted=agreements or []
        )
    except accepting.AcceptanceRefused as refused:
        db.rollback()
        accepting.record_failure(db, page.actor, refused)
        messages = [page.tr.gettext(r.message) for r in refused.refusals]
        return _join_page(
            page,
            db,
            invitations.by_token(db, token),
            token,
            refusal_messages=messages,
            status_code=404 if refused.refusals == [INVITATION_NOT_FOUND] else 409,
        )
    except DomainError as error:
        db.rollback()
        return _join_page(page, db, invitations.by_token(db, token), token, error=error)
    partner = identity.get_organisation(db, association.organisation_id)
    message = page.tr.gettext("You are now a customer of %(partner)s.")
    return page.redirect("/console", message % {"partner": partner.display_name})


def _join_page(
    page: Page,
    db: Session,
    invitation: CustomerInvitation | None,
    token: str,
    *,
    refusal_messages: list[str] | None = None,
    error: DomainError | None = None,
    status_code: int | None = None,
) -> Response:
    values: dict[str, Any] = {
        "invitation": invitation,
        "token": token,
        "refusals": refusal_messages or [],
        "error": form_error(error, page.tr) if error else None,
        "is_customer": accepting.is_customer(page.actor),
        "login_url": f"/login?next={quote('/join/' + token)}",
        **_mode_helpers(page),
    }
    if invitation is None:
        return page.render("intake/join.html", status_code=status_code or 404, **values)

    closed = closed_refusal(invitation, utc_now())
    if closed is not None and not refusal_messages:
        values["refusals"] = [page.tr.gettext(closed.message)]
    values |= {
        "partner": identity.get_organisation(db, invitation.organisation_id),
        "terms": service.terms(invitation.mode),
        "agreements": agreements_for(invitation.mode),
        "closed": closed is not None,
    }
    status = status_code or (error.status if error else 200)
    return page.render("intake/join.html", status_code=status, **values)


def _not_found(page: Page) -> str:
    return page.tr.gettext(INVITATION_NOT_FOUND.message)


def _mode_helpers(page: Page) -> dict[str, Any]:
    return {
        "modes": [
            (mode.value, page.tr.gettext(label)) for mode, label in MODE_LABELS.items()
        ],
        "mode_label": _translated(page, MODE_LABELS),
    }


def _translated(page: Page, labels: dict[Any, str]) -> Callable[[Any], str]:
    return lambda key: page.tr.gettext(labels[key]) if key in labels else str(key)
