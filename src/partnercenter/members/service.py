"""Use cases of partner members: invitations and their answers, roles, removal, leaving."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core import audit, notifications
from partnercenter.core.actor import Actor
from partnercenter.core.clock import start_of_local_day, utc_now
from partnercenter.core.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
)
from partnercenter.core.i18n import N_
from partnercenter.core.ids import new_token
from partnercenter.core.logging import get_logger
from partnercenter.core.scoping import owned_by
from partnercenter.core.security import token_hash
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    CustomRole,
    Membership,
    Organisation,
    OrganisationKind,
    User,
)
from partnercenter.identity.permissions import INVITABLE_PARTNER_ROLES, Permission
from partnercenter.members import eligibility
from partnercenter.members.models import (
    IdentifierKind,
    InvitationStatus,
    MemberInvitation,
)
from partnercenter.members.rules import (
    INVITATION_VALID_DAYS,
    INVITATIONS_PER_ADMIN_PER_DAY,
    MemberStatus,
    expiry_for,
    invitation_status,
    is_open,
    mark_declined,
)

log = get_logger(__name__)

INVITABLE_ROLE_CODES = frozenset(role.code for role in INVITABLE_PARTNER_ROLES)
CUSTOM_PREFIX = identity.CUSTOM_ROLE_PREFIX

notifications.register(
    "member.invited",
    title=N_("%(partner)s invites you to become a member"),
    body=N_(
        "%(inviter)s has invited you to become a member of %(partner)s in Partner Center. "
        "The invitation is valid for %(days)s days. Open it to see the roles offered and "
        "to accept or decline."
    ),
)
notifications.register(
    "member.invitation_accepted",
    title=N_("%(name)s has joined %(partner)s"),
    body=N_("%(name)s (%(account)s) accepted your invitation and is now a member."),
)
notifications.register(
    "member.invitation_declined",
    title=N_("An invitation to %(partner)s was declined"),
    body=N_("The invitation you sent to %(identifier)s was declined."),
)
notifications.register(
    "member.removed",
    title=N_("You are no longer a member of %(partner)s"),
    body=N_(
        "%(partner)s has removed you from its members. Your account itself is unchanged."
    ),
)


class NotEligible(Conflict):
    code = "not_eligible"
    default_message = N_("This account cannot become a member of this partner.")


class AlreadyMember(Conflict):
    code = "already_member"
    default_message = N_("This account is already a member of this partner.")


class InvitationPending(Conflict):
    code = "invitation_pending"
    default_message = N_(
        "This account already has an invitation waiting for an answer. Send that one "
        "again instead of a new one."
    )

    def __init__(self, invitation_id: str) -> None:
        super().__init__()
        self.invitation_id = invitation_id


class InvitationClosed(Conflict):
    code = "invitation_closed"
    default_message = N_("This invitation can no longer be answered.")


class InvitationLimitReached(RateLimited):
    code = "invitation_limit"
    default_message = N_(
        "You have sent %(limit)s invitations today, the most allowed in one day. "
        "Try again tomorrow."
    )


class MemberProtected(Conflict):
    code = "member_protected"


# -- inviting ---------------------------------------------------------------------------


def invite(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    identifier_kind: str,
    identifier: str,
    roles: Sequence[str],
) -> MemberInvitation:
    """Invite the personal account found by ``identifier`` to join the actor's partner."""
    organisation = _managed_partner(session, actor)
    inviter = _lock_inviter(session, actor, organisation)
    now = utc_now()

    codes = _distinct(roles)
    kind, invitee, problems = _find_invitee(session, identifier_kind, identifier)
    problems += role_problems(session, organisation.id, codes)
    if problems:
        raise InvalidInput(problems=problems)
    assert kind is not None
    assert invitee is not None

    _check_can_join(session, invitee, organisation, now)
    _check_nothing_pending(session, organisation, invitee, now)
    _check_daily_limit(session, settings, inviter, now)

    invitation = _send(
        session,
        settings,
        organisation=organisation,
        inviter=inviter,
        invitee=invitee,
        identifier_kind=kind,
        identifier=_normalised(kind, identifier),
        roles=codes,
        now=now,
    )
    audit.record(
        session,
        actor,
        "member.invited",
        subject_type="member_invitation",
        subject_id=invitation.id,
        organisation_id=organisation.id,
        after=invitation_snapshot(invitation, now),
    )
    log.info(
        "member.invited",
        invitation_id=invitation.id,
        organisation_id=organisation.id,
        invitee_user_id=invitee.id,
    )
    return invitation


def resend_invitation(
    session: Session, actor: Actor, settings: Settings, invitation_id: str
) -> MemberInvitation:
    """Send a waiting (or expired) invitation again: a new link, the old one withdrawn."""
    organisation = _managed_partner(session, actor)
    inviter = _lock_inviter(session, actor, organisation)
    previous = _owned_invitation(session, actor, invitation_id)
    now = utc_now()

    if previous.status is not InvitationStatus.INVITED:
        raise InvitationClosed(
            N_("Only an invitation that has not been answered can be sent again.")
        )
    invitee = identity.get_user(session, previous.invitee_user_id)
    problems = role_problems(session, organisation.id, previous.roles)
    if problems:
        raise InvalidInput(problems=problems)
    _check_can_join(session, invitee, organisation, now)
    _check_daily_limit(session, settings, inviter, now)

    before = invitation_snapshot(previous, now)
    previous.status = InvitationStatus.WITHDRAWN
    invitation = _send(
        session,
        settings,
        organisation=organisation,
        inviter=inviter,
        invitee=invitee,
        identifier_kind=previous.identifier_kind,
        identifier=previous.identifier,
        roles=previous.roles,
        now=now,
    )
    audit.record(
        session,
        actor,
        "member.invitation_resent",
        subject_type="member_invitation",
        subject_id=invitation.id,
        organisation_id=organisation.id,
        before=before,
        after={**invitation_snapshot(invitation, now), "replaces": previous.id},
    )
    log.info(
        "member.invitation_resent",
        invitation_id=invitation.id,
        replaces=previous.id,
        organisation_id=organisation.id,
    )
    return invitation


def withdraw_invitation(
    session: Session, actor: Actor, invitation_id: str
) -> MemberInvitation:
    organisation = _managed_partner(session, actor)
    invitation = _owned_invitation(session, actor, invitation_id)
    now = utc_now()
    if invitation.status is not InvitationStatus.INVITED:
        raise InvitationClosed(
            N_("This invitation has already been answered or taken back.")
        )

    before = invitation_snapshot(invitation, now)
    invitation.status = InvitationStatus.WITHDRAWN
    audit.record(
        session,
        actor,
        "member.invitation_withdrawn",
        subject_type="member_invitation",
        subject_id=invitation.id,
        organisation_id=organisation.id,
        before=before,
        after=invitation_snapshot(invitation, now),
    )
    log.info("member.invitation_withdrawn", invitation_id=invitation.id)
    return invitation


def _send(
    session: Session,
    settings: Settings,
    *,
    organisation: Organisation,
    inviter: User,
    invitee: User,
    identifier_kind: IdentifierKind,
    identifier: str,
    roles: list[str],
    now: dt.datetime,
) -> MemberInvitation:
    token = new_token()
    invitation = MemberInvitation(
        organisation_id=organisation.id,
        invited_by_user_id=inviter.id,
        invitee_user_id=invitee.id,
        identifier_kind=identifier_kind,
        identifier=identifier,
        roles=roles,
        token_hash=token_hash(token),
        status=InvitationStatus.INVITED,
        created_at=now,
        expires_at=expiry_for(now),
    )
    session.add(invitation)
    session.flush()
    notifications.notify(
        session,
        user=invitee,
        kind="member.invited",
        params={
            "partner": organisation.display_name,
            "inviter": inviter.display_name,
            "days": INVITATION_VALID_DAYS,
        },
        link=f"/invitations/{token}",
        base_url=settings.base_url,
        default_locale=settings.locale,
        organisation_id=organisation.id,
    )
    return invitation


def _find_invitee(
    session: Session, identifier_kind: str, identifier: str
) -> tuple[IdentifierKind | None, User | None, list[FieldProblem]]:
    try:
        kind = IdentifierKind(identifier_kind)
    except ValueError:
        problem = FieldProblem(
            "identifier_kind",
            N_("Choose whether to find the person by email, phone or account name."),
        )
        return None, None, [problem]
    if not identifier.strip():
        problem = FieldProblem(
            "identifier",
            N_("Enter the email address, phone number or account name to invite."),
        )
        return kind, None, [problem]

    invitee = _account_by(session, kind, _normalised(kind, identifier))
    if invitee is None or not invitee.is_active:
        return kind, None, [FieldProblem("identifier", _UNKNOWN_ACCOUNT[kind])]
    return kind, invitee, []


_UNKNOWN_ACCOUNT = {
    IdentifierKind.EMAIL: N_("No account has this email address."),
    IdentifierKind.PHONE: N_("No account has this phone number."),
    IdentifierKind.ACCOUNT_NAME: N_("No account has this account name."),
}


def _normalised(kind: IdentifierKind, identifier: str) -> str:
    if kind is IdentifierKind.EMAIL:
        return identity.normalise_email(identifier) or ""
    if kind is IdentifierKind.PHONE:
        return identity.normalise_phone(identifier) or ""
    return identifier.strip()


def _account_by(session: Session, kind: IdentifierKind, value: str) -> User | None:
    if kind is IdentifierKind.EMAIL:
        condition = User.email == value
    elif kind is IdentifierKind.PHONE:
        condition = User.phone == value
    else:
        condition = func.lower(User.account_name) == value.lower()
    return session.scalar(select(User).where(condition))


def _check_can_join(
    session: Session, person: User, organisation: Organisation, now: dt.datetime
) -> None:
    if eligibility.is_member(session, person, organisation):
        raise AlreadyMember()
    problems = eligibility.refusals(session, person, organisation, now)
    if problems:
        raise NotEligible(problems=problems)


def _check_nothing_pending(
    session: Session, organisation: Organisation, invitee: User, now: dt.datetime
) -> None:
    pending = session.scalar(
        select(MemberInvitation.id).where(
            MemberInvitation.organisation_id == organisation.id,
            MemberInvitation.invitee_user_id == invitee.id,
            MemberInvitation.status == InvitationStatus.INVITED,
            MemberInvitation.expires_at >= now,
        )
    )
    if pending is not None:
        raise InvitationPending(pending)


def _check_daily_limit(
    session: Session, settings: Settings, inviter: User, now: dt.datetime
) -> None:
    day_start = start_of_local_day(now, settings.display_timezone)
    sent = session.scalar(
        select(func.count())
        .select_from(MemberInvitation)
        .where(
            MemberInvitation.invited_by_user_id == inviter.id,
            MemberInvitation.created_at >= day_start,
        )
    )
    if (sent or 0) < INVITATIONS_PER_ADMIN_PER_DAY:
        return
    # A day is 23 to 25 hours where clocks change; a day and an hour on always lands in
    # the next one, whose start is when sending is allowed again.
    next_day = start_of_local_day(
        day_start + dt.timedelta(days=1, hours=1), settings.display_timezone
    )
    raise InvitationLimitReached(
        retry_after=max(int((next_day - now).total_seconds()), 1),
        limit=INVITATIONS_PER_ADMIN_PER_DAY,
    )


# -- answering --------------------------------------------------------------------------


def invitation_by_token(session: Session, person: User, token: str) -> MemberInvitation:
    """The invitation of an emailed link, if it was sent to ``person``."""
    invitation = session.scalar(
        select(MemberInvitation).where(MemberInvitation.token_hash == token_hash(token))
    )
    if invitation is None:
        raise NotFound(
            N_(
                "This invitation link is not valid. Check that the whole link from the "
                "email was opened."
            )
        )
    if invitation.invitee_user_id != person.id:
        raise Forbidden(
            N_(
                "This invitation was sent to another account. Sign in with the account "
                "it was sent to."
            )
        )
    return invitation


def closed_reason(
    session: Session, invitation: MemberInvitation, now: dt.datetime
) -> str | None:
    """Why the invitee can no longer answer ``invitation``; None while it is open."""
    if is_open(invitation, now):
        return None
    status = invitation_status(invitation, now)
    if status is MemberStatus.WITHDRAWN and _has_newer_invitation(
        session, invitation, now
    ):
        return N_(
            "The partner has sent you a newer invitation, which replaces this one. "
            "Open the latest email or your list of invitations."
        )
    return _CLOSED_REASONS[status]


_CLOSED_REASONS = {
    MemberStatus.EXPIRED: N_(
        "This invitation has expired. Ask the partner to invite you again."
    ),
    MemberStatus.ACCEPTED: N_("You have already accepted this invitation."),
    MemberStatus.DECLINED: N_("You have declined this invitation."),
    MemberStatus.VOIDED: N_(
        "This invitation is void because you joined another partner."
    ),
    MemberStatus.WITHDRAWN: N_("The partner has withdrawn this invitation."),
}


def _has_newer_invitation(
    session: Session, invitation: MemberInvitation, now: dt.datetime
) -> bool:
    newer = session.scalar(
        select(MemberInvitation.id).where(
            MemberInvitation.organisation_id == invitation.organisation_id,
            MemberInvitation.invitee_user_id == invitation.invitee_user_id,
            MemberInvitation.status == InvitationStatus.INVITED,
            MemberInvitation.expires_at >= now,
            MemberInvitation.created_at >= invitation.created_at,
            MemberInvitation.id != invitation.id,
        )
    )
    return newer is not None


def accept_invitation(
    session: Session,
    settings: Settings,
    person: User,
    invitation_id: str,
    *,
    request_id: str | None = None,
) -> Membership:
    """Join the inviting partner with the roles offered; other open invitations are void."""
    # Locking the invitee first serialises its answers: two invitations accepted at once in
    # two tabs cannot make it a member of two partners.
    _lock_user(session, person.id)
    invitation = _own_invitation(session, person, invitation_id)
    organisation = identity.get_organisation(session, invitation.organisation_id)
    now = utc_now()

    _check_answerable(session, invitation, now)
    if not organisation.is_active:
        raise InvitationClosed(N_("This partner no longer works in Partner Center."))
    _check_can_join(session, person, organisation, now)
    roles = _surviving_roles(session, invitation)
    if not roles:
        raise InvitationClosed(
            N_(
                "The roles this invitation offered no longer exist. Ask the partner to "
                "invite you again."
            )
        )

    before = invitation_snapshot(invitation, now)
    membership = identity.add_membership(session, person, organisation, roles=roles)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.responded_at = now
    actor = _person_actor(person, organisation.id, request_id)
    _void_other_invitations(session, actor, person, invitation, now)
    audit.record(
        session,
        actor,
        "member.joined",
        subject_type="membership",
        subject_id=str(membership.id),
        organisation_id=organisation.id,
        before=before,
        after=membership_snapshot(membership),
    )
    _notify_inviter(
        session,
        settings,
        invitation,
        kind="member.invitation_accepted",
        params={
            "name": person.display_name,
            "account": person.account_name,
            "partner": organisation.display_name,
        },
    )
    log.info(
        "member.joined",
        membership_id=membership.id,
        invitation_id=invitation.id,
        organisation_id=organisation.id,
    )
    return membership


def decline_invitation(
    session: Session,
    settings: Settings,
    person: User,
    invitation_id: str,
    *,
    request_id: str | None = None,
) -> MemberInvitation:
    _lock_user(session, person.id)
    invitation = _own_invitation(session, person, invitation_id)
    organisation = identity.get_organisation(session, invitation.organisation_id)
    now = utc_now()
    _check_answerable(session, invitation, now)

    before = invitation_snapshot(invitation, now)
    mark_declined(invitation, now)
    audit.record(
        session,
        _person_actor(person, None, request_id),
        "member.invitation_declined",
        subject_type="member_invitation",
        subject_id=invitation.id,
        organisation_id=organisation.id,
        before=before,
        after=invitation_snapshot(invitation, now),
    )
    _notify_inviter(
        session,
        settings,
        invitation,
        kind="member.invitation_declined",
        params={
            "identifier": invitation.identifier,
            "partner": organisation.display_name,
        },
    )
    log.info("member.invitation_declined", invitation_id=invitation.id)
    return invitation


def _check_answerable(
    session: Session, invitation: MemberInvitation, now: dt.datetime
) -> None:
    reason = closed_reason(session, invitation, now)
    if reason is not None:
        raise InvitationClosed(reason)


def _surviving_roles(session: Session, invitation: MemberInvitation) -> list[str]:
    """The offered roles, less custom roles the partner deleted since inviting."""
    custom_ids = _custom_role_ids(session, invitation.organisation_id)
    return [
        code
        for code in invitation.roles
        if code in INVITABLE_ROLE_CODES or _custom_id(code) in custom_ids
    ]


def _void_other_invitations(
    session: Session,
    actor: Actor,
    person: User,
    accepted: MemberInvitation,
    now: dt.datetime,
) -> None:
    others = session.scalars(
        select(MemberInvitation).where(
            MemberInvitation.invitee_user_id == person.id,
            MemberInvitation.status == InvitationStatus.INVITED,
            MemberInvitation.expires_at >= now,
            MemberInvitation.id != accepted.id,
        )
    ).all()
    for other in others:
        before = invitation_snapshot(other, now)
        other.status = InvitationStatus.VOIDED
        audit.record(
            session,
            actor,
            "member.invitation_voided",
            subject_type="member_invitation",
            subject_id=other.id,
            organisation_id=other.organisation_id,
            before=before,
            after=invitation_snapshot(other, now),
        )
        log.info("member.invitation_voided", invitation_id=other.id)


def _notify_inviter(
    session: Session,
    settings: Settings,
    invitation: MemberInvitation,
    *,
    kind: str,
    params: dict[str, Any],
) -> None:
    inviter = session.get(User, invitation.invited_by_user_id)
    if inviter is None or not inviter.is_active:
        return
    notifications.notify(
        session,
        user=inviter,
        kind=kind,
        params=params,
        link="/members",
        base_url=settings.base_url,
        default_locale=settings.locale,
        organisation_id=invitation.organisation_id,
    )


# -- roles, removal, leaving ------------------------------------------------------------


def change_roles(
    session: Session, actor: Actor, membership_id: int, roles: Sequence[str]
) -> Membership:
    """Give a member exactly ``roles`` (preset codes and ``custom:<id>``)."""
    _managed_partner(session, actor)
    membership = _owned_membership(session, actor, membership_id)
    _check_changeable(membership)
    if membership.is_main_account:
        raise MemberProtected(N_("The roles of the main account cannot be changed."))
    if membership.user_id == actor.user_id:
        raise MemberProtected(N_("You cannot change your own roles."))
    codes = _distinct(roles)
    problems = role_problems(session, membership.organisation_id, codes)
    if problems:
        raise InvalidInput(problems=problems)

    before = identity.role_codes(membership)
    if set(before) == set(codes):
        return membership
    _replace_roles(membership, codes)
    session.flush()
    audit.record(
        session,
        actor,
        "member.roles_changed",
        subject_type="membership",
        subject_id=str(membership.id),
        organisation_id=membership.organisation_id,
        before={"roles": before},
        after={"roles": identity.role_codes(membership)},
    )
    log.info("member.roles_changed", membership_id=membership.id)
    return membership


def _replace_roles(membership: Membership, codes: list[str]) -> None:
    # Rows of roles kept stay as they are; only the difference is written.
    wanted = set(codes)
    kept = [row for row in membership.roles if identity.role_code(row) in wanted]
    held = {identity.role_code(row) for row in kept}
    added = [identity.role_row(code) for code in codes if code not in held]
    membership.roles = kept + added


def remove_member(
    session: Session, actor: Actor, settings: Settings, membership_id: int
) -> Membership:
    """End a membership; the row stays, so the partner's history keeps the person."""
    organisation = _managed_partner(session, actor)
    membership = _owned_membership(session, actor, membership_id)
    _check_changeable(membership)
    if membership.is_main_account:
        raise MemberProtected(N_("The main account of the partner cannot be removed."))
    if membership.user_id == actor.user_id:
        raise MemberProtected(
            N_(
                "You cannot remove yourself here. Use Leave this partner on the members "
                "page instead."
            )
        )

    before = membership_snapshot(membership)
    membership.left_at = utc_now()
    audit.record(
        session,
        actor,
        "member.removed",
        subject_type="membership",
        subject_id=str(membership.id),
        organisation_id=organisation.id,
        before=before,
        after=membership_snapshot(membership),
    )
    notifications.notify(
        session,
        user=membership.user,
        kind="member.removed",
        params={"partner": organisation.display_name},
        link=None,
        base_url=settings.base_url,
        default_locale=settings.locale,
        organisation_id=organisation.id,
    )
    log.info("member.removed", membership_id=membership.id)
    return membership


def leave_partner(
    session: Session,
    person: User,
    organisation_id: str,
    *,
    request_id: str | None = None,
) -> Membership:
    membership = identity.active_membership(session, person.id, organisation_id)
    if membership is None:
        raise NotFound()
    if membership.is_main_account:
        raise MemberProtected(N_("The main account cannot leave its own partner."))

    before = membership_snapshot(membership)
    membership.left_at = utc_now()
    audit.record(
        session,
        _person_actor(person, organisation_id, request_id),
        "member.left",
        subject_type="membership",
        subject_id=str(membership.id),
        organisation_id=organisation_id,
        before=before,
        after=membership_snapshot(membership),
    )
    log.info("member.left", membership_id=membership.id)
    return membership


def _check_changeable(membership: Membership) -> None:
    if membership.left_at is not None:
        raise Conflict(N_("This person is no longer a member."))


# -- roles ------------------------------------------------------------------------------


def role_problems(
    session: Session, organisation_id: str, codes: Sequence[str]
) -> list[FieldProblem]:
    """Problems with ``codes`` as the roles of a member of ``organisation_id``."""
    if not codes:
        return [FieldProblem("roles", N_("Choose at least one role."))]
    custom_ids = _custom_role_ids(session, organisation_id)
    return [
        FieldProblem(
            "roles", N_("%(role)s is not a role of this partner."), {"role": code}
        )
        for code in codes
        if code not in INVITABLE_ROLE_CODES and _custom_id(code) not in custom_ids
    ]


def _custom_role_ids(session: Session, organisation_id: str) -> set[int]:
    return set(
        session.scalars(
            select(CustomRole.id).where(CustomRole.organisation_id == organisation_id)
        )
    )


def _custom_id(code: str) -> int | None:
    number = code.removeprefix(CUSTOM_PREFIX)
    if not code.startswith(CUSTOM_PREFIX) or not number.isdigit():
        return None
    return int(number)


def _distinct(codes: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(code.strip() for code in codes if code.strip()))


# -- lookups and snapshots --------------------------------------------------------------


def _managed_partner(session: Session, actor: Actor) -> Organisation:
    identity.authorize(actor, Permission.MEMBERS_MANAGE)
    organisation = identity.get_organisation(session, actor.organisation_id)
    if organisation.kind is not OrganisationKind.PARTNER:
        raise Forbidden()
    return organisation


def _lock_inviter(session: Session, actor: Actor, organisation: Organisation) -> User:
    """The user who invites, locked so that its daily count holds under parallel requests.

    An API key acts for the whole partner, so its invitations are sent in the name of (and
    counted against) the partner's main account.
    """
    user_id = actor.user_id or organisation.main_user_id
    if user_id is None:
        raise Forbidden()
    return _lock_user(session, user_id)


def _lock_user(session: Session, user_id: str) -> User:
    user = session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if user is None:
        raise NotFound()
    return user


def _owned_invitation(
    session: Session, actor: Actor, invitation_id: str
) -> MemberInvitation:
    invitation = session.scalar(
        owned_by(
            select(MemberInvitation).where(MemberInvitation.id == invitation_id),
            MemberInvitation,
            actor,
        )
    )
    if invitation is None:
        raise NotFound()
    return invitation


def _own_invitation(
    session: Session, person: User, invitation_id: str
) -> MemberInvitation:
    invitation = session.scalar(
        select(MemberInvitation)
        .where(MemberInvitation.id == invitation_id)
        .execution_options(populate_existing=True)
    )
    if invitation is None or invitation.invitee_user_id != person.id:
        raise NotFound()
    return invitation


def _owned_membership(session: Session, actor: Actor, membership_id: int) -> Membership:
    membership = session.scalar(
        owned_by(
            select(Membership).where(Membership.id == membership_id), Membership, actor
        )
    )
    if membership is None:
        raise NotFound()
    return membership


def _person_actor(
    person: User, organisation_id: str | None, request_id: str | None
) -> Actor:
    """A person answering for itself, with no permissions in any organisation."""
    return Actor(
        organisation_id=organisation_id or "",
        organisation_kind="user",
        permissions=frozenset(),
        user_id=person.id,
        request_id=request_id,
    )


def invitation_snapshot(
    invitation: MemberInvitation, now: dt.datetime
) -> dict[str, object]:
    return {
        "status": str(invitation_status(invitation, now)),
        "invitee_user_id": invitation.invitee_user_id,
        "identifier_kind": str(invitation.identifier_kind),
        "identifier": invitation.identifier,
        "roles": list(invitation.roles),
        "expires_at": invitation.expires_at.isoformat(),
    }


def membership_snapshot(membership: Membership) -> dict[str, object]:
    return {
        "user_id": membership.user_id,
        "roles": identity.role_codes(membership),
        "joined_at": membership.joined_at.isoformat(),
        "left_at": membership.left_at.isoformat() if membership.left_at else None,
    }
