"""What partners and invitees read: the member list, pending invitations, role choices."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, contains_eager

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import NotFound
from partnercenter.core.scoping import owned_by
from partnercenter.identity import service as identity
from partnercenter.identity.models import CustomRole, Membership, Organisation, User
from partnercenter.identity.permissions import (
    INVITABLE_PARTNER_ROLES,
    PRESET_ROLES,
    Permission,
)
from partnercenter.members.models import (
    IdentifierKind,
    InvitationStatus,
    MemberInvitation,
)
from partnercenter.members.rules import (
    INVITATION_STATUSES,
    MEMBERSHIP_STATUSES,
    MemberStatus,
    invitation_condition,
    invitation_status,
    membership_condition,
    membership_status,
)

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One line of a partner's member list: a membership, or an unanswered invitation.

    Accepted invitations are not listed: the membership they created is.
    """

    status: MemberStatus
    roles: tuple[str, ...]
    since: dt.datetime
    """When the line began (joined, or invited); the list is ordered by it, newest first."""
    membership_id: int | None = None
    invitation_id: str | None = None
    name: str | None = None
    account_name: str | None = None
    email: str | None = None
    """Contact details are shared only while the member is bound."""
    phone: str | None = None
    is_main_account: bool = False
    identifier_kind: IdentifierKind | None = None
    identifier: str | None = None
    """What the admin typed to find an invitee; an invitee's own name is not shown."""
    joined_at: dt.datetime | None = None
    left_at: dt.datetime | None = None
    invited_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None

    @property
    def kind(self) -> str:
        return "member" if self.membership_id is not None else "invitation"


@dataclass(frozen=True, slots=True)
class Roster:
    entries: list[RosterEntry]
    total: int
    offset: int
    limit: int


def roster(
    session: Session,
    actor: Actor,
    *,
    status: MemberStatus | None = None,
    search: str = "",
    offset: int = 0,
    limit: int = 50,
) -> Roster:
    """The actor's partner's members and invitations, newest first."""
    identity.authorize(actor, Permission.MEMBERS_VIEW)
    now = utc_now()
    offset, limit = max(offset, 0), min(max(limit, 1), MAX_PAGE)
    term = search.strip().lower()

    members = _member_query(actor, status, term)
    invitations = _invitation_query(actor, status, term, now)
    # Each source is sorted the same way, so the first offset+limit lines of both hold the
    # page; merging them costs two bounded queries instead of a UNION of unlike rows.
    # Deep pages are the cost: page n reads n pages of rows from each source, which a partner
    # with tens of thousands of old invitations would feel; keyset paging would remove it.
    window = offset + limit
    entries = [
        entry_for_membership(row)
        for row in session.scalars(members.limit(window)).unique().all()
    ] + [
        entry_for_invitation(row, now)
        for row in session.scalars(invitations.limit(window)).all()
    ]
    entries.sort(key=lambda entry: entry.since, reverse=True)
    total = _count(session, members) + _count(session, invitations)
    return Roster(entries[offset:window], total, offset, limit)


def member(session: Session, actor: Actor, membership_id: int) -> Membership:
    """One membership of the actor's partner, current or ended."""
    found = session.scalar(
        owned_by(
            select(Membership).where(Membership.id == membership_id), Membership, actor
        )
    )
    if found is None:
        raise NotFound()
    return found


def _member_query(
    actor: Actor, status: MemberStatus | None, term: str
) -> Select[Membership]:
    statement = (
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .options(contains_eager(Membership.user))
        .order_by(Membership.joined_at.desc(), Membership.id.desc())
    )
    statement = owned_by(statement, Membership, actor)
    if status is not None:
        statement = statement.where(membership_condition(status))
    if term:
        statement = statement.where(
            or_(_contains(User.display_name, term), _contains(User.account_name, term))
        )
    return statement


def _invitation_query(
    actor: Actor, status: MemberStatus | None, term: str, now: dt.datetime
) -> Select[MemberInvitation]:
    statement = select(MemberInvitation).where(
        MemberInvitation.status != InvitationStatus.ACCEPTED
    )
    statement = owned_by(statement, MemberInvitation, actor).order_by(
        MemberInvitation.created_at.desc(), MemberInvitation.id.desc()
    )
    if status is not None:
        statement = statement.where(invitation_condition(status, now))
    if term:
        statement = statement.where(_contains(MemberInvitation.identifier, term))
    return statement


def _contains(column: object, term: str) -> ColumnElement[bool]:
    return func.lower(column).contains(term, autoescape=True)


def _count(session: Session, statement: Select[Any]) -> int:
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return session.scalar(counted) or 0


def entry_for_membership(membership: Membership) -> RosterEntry:
    person = membership.user
    status = membership_status(membership)
    shares_contact = status is MemberStatus.BOUND
    return RosterEntry(
        status=status,
        roles=tuple(identity.role_codes(membership)),
        since=membership.joined_at,
        membership_id=membership.id,
        name=person.display_name,
        account_name=person.account_name,
        email=person.email if shares_contact else None,
        phone=person.phone if shares_contact else None,
        is_main_account=membership.is_main_account,
        joined_at=membership.joined_at,
        left_at=membership.left_at,
    )


def entry_for_invitation(invitation: MemberInvitation, now: dt.datetime) -> RosterEntry:
    return RosterEntry(
        status=invitation_status(invitation, now),
        roles=tuple(invitation.roles),
        since=invitation.created_at,
        invitation_id=invitation.id,
        identifier_kind=invitation.identifier_kind,
        identifier=invitation.identifier,
        invited_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


def parse_status(value: str | None) -> MemberStatus | None:
    """A status filter from a query string; anything unknown means no filter."""
    listed = (*MEMBERSHIP_STATUSES, *INVITATION_STATUSES)
    return next((status for status in listed if status.value == value), None)


# -- the invitee's side -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingInvitation:
    invitation: MemberInvitation
    partner_name: str
    inviter_name: str


def pending_for(session: Session, person: User) -> list[PendingInvitation]:
    """Invitations ``person`` can still answer, newest first."""
    now = utc_now()
    inviter = User.__table__.alias("inviter")
    rows = session.execute(
        select(MemberInvitation, Organisation.display_name, inviter.c.display_name)
        .join(Organisation, Organisation.id == MemberInvitation.organisation_id)
        .join(inviter, inviter.c.id == MemberInvitation.invited_by_user_id)
        .where(
            MemberInvitation.invitee_user_id == person.id,
            invitation_condition(MemberStatus.INVITED, now),
        )
        .order_by(MemberInvitation.created_at.desc())
    ).all()
    return [PendingInvitation(row[0], row[1], row[2]) for row in rows]


def invitation_parties(
    session: Session, invitation: MemberInvitation
) -> PendingInvitation:
    """The invitation with the names of its partner and of who sent it."""
    organisation = identity.get_organisation(session, invitation.organisation_id)
    inviter = identity.get_user(session, invitation.invited_by_user_id)
    return PendingInvitation(
        invitation, organisation.display_name, inviter.display_name
    )


# -- roles ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleChoice:
    code: str
    label: str
    """An English template for a preset role (translate it), the name of a custom role."""
    is_custom: bool


def role_choices(session: Session, organisation_id: str) -> list[RoleChoice]:
    """The roles a member of this partner can be given: presets, then custom roles."""
    presets = [
        RoleChoice(role.code, role.label, False) for role in INVITABLE_PARTNER_ROLES
    ]
    custom = [
        RoleChoice(f"custom:{role.id}", role.name, True)
        for role in session.scalars(
            select(CustomRole)
            .where(CustomRole.organisation_id == organisation_id)
            .order_by(CustomRole.name)
        )
    ]
    return presets + custom


def role_names(session: Session, organisation_id: str) -> dict[str, RoleChoice]:
    """Every role a member of this partner may hold, the main account's included."""
    choices = {choice.code: choice for choice in role_choices(session, organisation_id)}
    admin = PRESET_ROLES["partner_admin"]
    choices[admin.code] = RoleChoice(admin.code, admin.label, False)
    return choices
