"""The limits of membership, and how the status of a member or an invitation is read.

Every number the member rules use is here, so that changing one means changing one line.
An invitation's expiry is never written: ``expires_at`` is compared with the clock wherever
the status is read, so no job has to run for an invitation to count as expired.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false

from partnercenter.identity.models import Membership
from partnercenter.members.models import InvitationStatus, MemberInvitation

INVITATIONS_PER_ADMIN_PER_DAY = 100
"""Invitations one admin may send per calendar day of the display time zone."""
INVITATION_VALID_DAYS = 7
PARTNERS_JOINED_LIMIT = 3
"""A person who joined this many partners within the window below cannot join another."""
PARTNERS_JOINED_WINDOW_DAYS = 365


class MemberStatus(StrEnum):
    """What a partner (or the invitee) sees as the state of a member or an invitation."""

    INVITED = "invited"
    EXPIRED = "expired"
    BOUND = "bound"
    """A current member: shares name, account name, phone and email with the partner."""
    UNBOUND = "unbound"
    """A former member: only the name and account name stay visible."""
    ACCEPTED = "accepted"
    """An accepted invitation, seen by the invitee; the partner sees the membership."""
    DECLINED = "declined"
    VOIDED = "voided"
    WITHDRAWN = "withdrawn"


INVITATION_STATUSES = (
    MemberStatus.INVITED,
    MemberStatus.EXPIRED,
    MemberStatus.DECLINED,
    MemberStatus.VOIDED,
    MemberStatus.WITHDRAWN,
)
MEMBERSHIP_STATUSES = (MemberStatus.BOUND, MemberStatus.UNBOUND)


def expiry_for(sent_at: dt.datetime) -> dt.datetime:
    return sent_at + dt.timedelta(days=INVITATION_VALID_DAYS)


def is_open(invitation: MemberInvitation, now: dt.datetime) -> bool:
    """Waiting for an answer and still inside its validity."""
    return (
        invitation.status is InvitationStatus.INVITED and now <= invitation.expires_at
    )


def mark_declined(invitation: MemberInvitation, now: dt.datetime) -> None:
    invitation.status = InvitationStatus.DECLINED
    invitation.responded_at = now


def is_declined(invitation: MemberInvitation) -> bool:
    return invitation.status is InvitationStatus.DECLINED


def invitation_status(invitation: MemberInvitation, now: dt.datetime) -> MemberStatus:
    if invitation.status is InvitationStatus.INVITED:
        return (
            MemberStatus.INVITED if is_open(invitation, now) else MemberStatus.EXPIRED
        )
    if invitation.status is InvitationStatus.ACCEPTED:
        return MemberStatus.ACCEPTED
    if invitation.status is InvitationStatus.WITHDRAWN:
        return MemberStatus.WITHDRAWN
    return MemberStatus.DECLINED if is_declined(invitation) else MemberStatus.VOIDED


def membership_status(membership: Membership) -> MemberStatus:
    return MemberStatus.BOUND if membership.left_at is None else MemberStatus.UNBOUND


def invitation_condition(status: MemberStatus, now: dt.datetime) -> ColumnElement[bool]:
    """The SQL form of :func:`invitation_status` ``== status``."""
    row = MemberInvitation
    conditions: dict[MemberStatus, ColumnElement[bool]] = {
        MemberStatus.INVITED: and_(
            row.status == InvitationStatus.INVITED, row.expires_at >= now
        ),
        MemberStatus.EXPIRED: and_(
            row.status == InvitationStatus.INVITED, row.expires_at < now
        ),
        MemberStatus.ACCEPTED: row.status == InvitationStatus.ACCEPTED,
        MemberStatus.WITHDRAWN: row.status == InvitationStatus.WITHDRAWN,
        MemberStatus.DECLINED: row.status == InvitationStatus.DECLINED,
        MemberStatus.VOIDED: row.status == InvitationStatus.VOIDED,
    }
    return conditions.get(status, false())


def membership_condition(status: MemberStatus) -> ColumnElement[bool]:
    """The SQL form of :func:`membership_status` ``== status``."""
    if status is MemberStatus.BOUND:
        return Membership.left_at.is_(None)
    if status is MemberStatus.UNBOUND:
        return Membership.left_at.is_not(None)
    return false()
