"""Native API of members: the list, invitations, roles and removal."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.core.clock import utc_now
from partnercenter.core.settings import Settings
from partnercenter.members import roster, service
from partnercenter.members.models import IdentifierKind, MemberInvitation
from partnercenter.members.rules import MemberStatus
from partnercenter.web.context import DB, settings_of

router = APIRouter(prefix="/members", tags=["members"])

AppSettings = Annotated[Settings, Depends(settings_of)]
ListedStatus = Literal[
    "invited", "expired", "bound", "unbound", "declined", "voided", "withdrawn"
]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(
        *statuses,
        descriptions={429: "The daily invitation limit is reached; see Retry-After."},
    )


class MemberOut(BaseModel):
    """A member (``membership_id`` set) or an invitation not yet accepted."""

    model_config = ConfigDict(from_attributes=True)

    kind: Literal["member", "invitation"]
    status: MemberStatus
    membership_id: int | None
    invitation_id: str | None
    name: str | None = Field(description="A member's name; invitations show none.")
    account_name: str | None
    email: str | None = Field(description="Shared only while the member is bound.")
    phone: str | None = Field(description="Shared only while the member is bound.")
    is_main_account: bool
    identifier_kind: IdentifierKind | None = Field(
        description="How the invitee was found."
    )
    identifier: str | None = Field(description="What the invitee was found by.")
    roles: list[str] = Field(
        description="Preset role codes and custom:<id> for custom roles."
    )
    invited_at: dt.datetime | None
    expires_at: dt.datetime | None
    joined_at: dt.datetime | None
    left_at: dt.datetime | None


class MemberPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[MemberOut]


class InvitationIn(BaseModel):
    identifier_kind: IdentifierKind
    identifier: str = Field(max_length=320, examples=["li.na@example.com"])
    roles: list[str] = Field(examples=[["project_specialist"]])


class RolesIn(BaseModel):
    roles: list[str] = Field(examples=[["account_manager", "custom:12"]])


@router.get(
    "",
    response_model=MemberPage,
    summary="Members and invitations, newest first",
    responses=_errors(),
)
def list_members(
    *,
    actor: ApiActor,
    db: DB,
    status: ListedStatus | None = None,
    q: Annotated[str, Query(description="Part of a name or account name.")] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=roster.MAX_PAGE)] = 50,
) -> MemberPage:
    result = roster.roster(
        db,
        actor,
        status=MemberStatus(status) if status else None,
        search=q,
        offset=offset,
        limit=limit,
    )
    return MemberPage(
        total=result.total,
        offset=result.offset,
        limit=result.limit,
        items=[MemberOut.model_validate(entry) for entry in result.entries],
    )


@router.post(
    "/invitations",
    response_model=MemberOut,
    status_code=201,
    summary="Invite a personal account to become a member",
    responses=_errors(400, 409, 429),
)
def create_invitation(
    actor: ApiActor, db: DB, settings: AppSettings, body: InvitationIn
) -> MemberOut:
    invitation = service.invite(
        db,
        actor,
        settings,
        identifier_kind=body.identifier_kind.value,
        identifier=body.identifier,
        roles=body.roles,
    )
    return _invitation_out(invitation)


@router.delete(
    "/invitations/{invitation_id}",
    response_model=MemberOut,
    summary="Withdraw an invitation not yet answered",
    responses=_errors(404, 409),
)
def withdraw_invitation(actor: ApiActor, db: DB, invitation_id: str) -> MemberOut:
    return _invitation_out(service.withdraw_invitation(db, actor, invitation_id))


@router.delete(
    "/{membership_id}",
    response_model=MemberOut,
    summary="Remove a member; the record stays, unbound",
    responses=_errors(404, 409),
)
def remove_member(
    actor: ApiActor, db: DB, settings: AppSettings, membership_id: int
) -> MemberOut:
    membership = service.remove_member(db, actor, settings, membership_id)
    return MemberOut.model_validate(roster.entry_for_membership(membership))


@router.put(
    "/{membership_id}/roles",
    response_model=MemberOut,
    summary="Set a member's roles",
    responses=_errors(400, 404, 409),
)
def set_roles(actor: ApiActor, db: DB, membership_id: int, body: RolesIn) -> MemberOut:
    membership = service.change_roles(db, actor, membership_id, body.roles)
    return MemberOut.model_validate(roster.entry_for_membership(membership))


def _invitation_out(invitation: MemberInvitation) -> MemberOut:
    return MemberOut.model_validate(roster.entry_for_invitation(invitation, utc_now()))
