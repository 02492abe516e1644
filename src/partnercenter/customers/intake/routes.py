"""Native API of customer intake: registrations, emailed invitations and links."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.core.clock import utc_now
from partnercenter.core.settings import Settings
from partnercenter.customers.intake import invitations, registrations
from partnercenter.customers.intake.rules import MAX_BATCH_RESEND, MAX_TAG_LENGTH
from partnercenter.customers.models import (
    AssociationMode,
    CustomerInvitation,
    InvitationKind,
    Registration,
    RegistrationStatus,
)
from partnercenter.web.context import DB, settings_of

router = APIRouter(prefix="/customers", tags=["customer intake"])

AppSettings = Annotated[Settings, Depends(settings_of)]


_errors = error_responses


class RegistrationIn(BaseModel):
    prospect_name: str = Field(max_length=200, examples=["Lanting Trading"])
    email: str | None = Field(default=None, max_length=320, examples=["it@example.com"])
    phone: str | None = Field(default=None, max_length=32, examples=["13800000000"])


class RegistrationOut(BaseModel):
    id: str
    prospect_name: str
    email: str | None
    phone: str | None
    status: RegistrationStatus
    created_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    days_left: int = Field(description="Whole days until the hold ends; 0 once ended.")
    customer_id: str | None = Field(description="Set once the prospect is a customer.")


class RegistrationList(BaseModel):
    items: list[RegistrationOut]


class OnlineInvitationIn(BaseModel):
    registration_id: str
    mode: AssociationMode


class LinkIn(BaseModel):
    mode: AssociationMode
    tag: str | None = Field(default=None, max_length=MAX_TAG_LENGTH)


class ResendIn(BaseModel):
    invitation_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH_RESEND)


class InvitationOut(BaseModel):
    id: str
    kind: InvitationKind
    mode: AssociationMode
    state: str = Field(description="pending, expired, accepted or revoked.")
    url: str = Field(description="The page where the customer accepts.")
    email: str | None
    tag: str | None
    registration_id: str | None
    account_manager_user_id: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None = Field(description="Links never expire.")
    last_sent_at: dt.datetime | None
    send_count: int
    customers: int = Field(description="Customers associated through it.")


class InvitationList(BaseModel):
    items: list[InvitationOut]


@router.post(
    "/registrations",
    response_model=RegistrationOut,
    status_code=201,
    summary="Register a prospect for 15 days",
    responses=_errors(400, 409),
)
def create_registration(
    actor: ApiActor, db: DB, body: RegistrationIn
) -> RegistrationOut:
    registration = registrations.register(
        db, actor, prospect_name=body.prospect_name, email=body.email, phone=body.phone
    )
    return _registration_out(registration)


@router.get(
    "/registrations",
    response_model=RegistrationList,
    summary="The calling partner's registrations, newest first",
    responses=_errors(409),
)
def list_registrations(
    actor: ApiActor, db: DB, status: RegistrationStatus | None = None
) -> RegistrationList:
    rows = registrations.listing(db, actor, status=status)
    return RegistrationList(items=[_registration_out(row) for row in rows])


@router.post(
    "/registrations/{registration_id}/cancel",
    response_model=RegistrationOut,
    summary="Cancel an active registration",
    responses=_errors(404, 409),
)
def cancel_registration(
    actor: ApiActor, db: DB, registration_id: str
) -> RegistrationOut:
    return _registration_out(registrations.cancel(db, actor, registration_id))


@router.post(
    "/invitations",
    response_model=InvitationOut,
    status_code=201,
    summary="Email an invitation to a registered prospect",
    responses=_errors(400, 404, 409),
)
def create_invitation(
    actor: ApiActor, db: DB, settings: AppSettings, body: OnlineInvitationIn
) -> InvitationOut:
    invitation = invitations.invite_online(
        db,
        actor,
        settings,
        registration_id=body.registration_id,
        mode=body.mode.value,
    )
    return _invitation_out(db, settings, invitation)


@router.post(
    "/invitation-links",
    response_model=InvitationOut,
    status_code=201,
    summary="Create an invitation link (and QR code) that never expires",
    responses=_errors(400, 409),
)
def create_link(
    actor: ApiActor, db: DB, settings: AppSettings, body: LinkIn
) -> InvitationOut:
    link = invitations.create_link(db, actor, mode=body.mode.value, tag=body.tag)
    return _invitation_out(db, settings, link)


@router.get(
    "/invitations",
    response_model=InvitationList,
    summary="Emailed invitations and links, newest first",
    responses=_errors(409),
)
def list_invitations(
    actor: ApiActor, db: DB, settings: AppSettings, kind: InvitationKind | None = None
) -> InvitationList:
    views = invitations.listing(db, actor, kind=kind)
    return InvitationList(items=[_view_out(settings, view) for view in views])


@router.post(
    "/invitations/resend",
    response_model=InvitationList,
    summary="Send several emailed invitations again; all or none",
    responses=_errors(400, 404, 409),
)
def resend_invitations(
    actor: ApiActor, db: DB, settings: AppSettings, body: ResendIn
) -> InvitationList:
    sent = invitations.resend_many(db, actor, settings, body.invitation_ids)
    return InvitationList(items=[_invitation_out(db, settings, one) for one in sent])


@router.post(
    "/invitations/{invitation_id}/resend",
    response_model=InvitationOut,
    summary="Send an emailed invitation again: same link, new validity",
    responses=_errors(404, 409),
)
def resend_invitation(
    actor: ApiActor, db: DB, settings: AppSettings, invitation_id: str
) -> InvitationOut:
    invitation = invitations.resend(db, actor, settings, invitation_id)
    return _invitation_out(db, settings, invitation)


@router.post(
    "/invitations/{invitation_id}/revoke",
    response_model=InvitationOut,
    summary="Withdraw an invitation or link; customers it brought stay",
    responses=_errors(404, 409),
)
def revoke_invitation(
    actor: ApiActor, db: DB, settings: AppSettings, invitation_id: str
) -> InvitationOut:
    invitation = invitations.revoke(db, actor, invitation_id)
    return _invitation_out(db, settings, invitation)


def _registration_out(registration: Registration) -> RegistrationOut:
    return RegistrationOut(
        id=registration.id,
        prospect_name=registration.prospect_name,
        email=registration.email,
        phone=registration.phone,
        status=registration.status,
        created_at=registration.created_at,
        expires_at=registration.expires_at,
        ended_at=registration.ended_at,
        days_left=registrations.days_left(registration, utc_now()),
        customer_id=registration.customer_id,
    )


def _invitation_out(
    db: DB, settings: Settings, invitation: CustomerInvitation
) -> InvitationOut:
    return _view_out(settings, invitations.view_of(db, invitation))


def _view_out(settings: Settings, view: invitations.InvitationView) -> InvitationOut:
    row = view.invitation
    return InvitationOut(
        id=row.id,
        kind=row.kind,
        mode=row.mode,
        state=view.state,
        url=invitations.join_url(settings, row),
        email=row.email,
        tag=row.tag,
        registration_id=row.registration_id,
        account_manager_user_id=row.account_manager_user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_sent_at=row.last_sent_at,
        send_count=row.send_count,
        customers=view.uses,
    )
