"""Invitations: emailed to one registered prospect, or a link (and QR code) for many."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core import audit, mail, notifications
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from partnercenter.core.i18n import N_, translator
from partnercenter.core.ids import new_token
from partnercenter.core.logging import get_logger
from partnercenter.core.settings import Settings
from partnercenter.customers.intake import access, registrations
from partnercenter.customers.intake.rules import (
    MAX_BATCH_RESEND,
    MAX_TAG_LENGTH,
    ONLINE_INVITATION_DAYS,
    invitation_state,
)
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    CustomerInvitation,
    CustomerInvitationStatus,
    InvitationKind,
    Registration,
    RegistrationStatus,
)
from partnercenter.identity.models import Organisation, User

log = get_logger(__name__)

# One kind of notice per mode, so that the mode is translated with the rest of the text.
INVITED_KINDS = {
    AssociationMode.CONSULTING: "customers.invited_consulting",
    AssociationMode.RESALE: "customers.invited_resale",
}
notifications.register(
    INVITED_KINDS[AssociationMode.CONSULTING],
    title=N_("%(partner)s invites you to become its customer (consulting sale)"),
    body=N_(
        "%(partner)s invites you to become its customer by consulting sale: you keep "
        "paying the vendor yourself and the partner advises you. The invitation is valid "
        "for %(days)s days. Open the link to read the agreements and to accept."
    ),
)
notifications.register(
    INVITED_KINDS[AssociationMode.RESALE],
    title=N_("%(partner)s invites you to become its customer (resale)"),
    body=N_(
        "%(partner)s invites you to become its customer by resale: the partner funds "
        "your account and invoices you. The invitation is valid for %(days)s days. Open "
        "the link to read the agreements and to accept."
    ),
)


class InvitationClosed(Conflict):
    code = "invitation_closed"
    default_message = N_("This invitation can no longer be changed.")


class InvitationWaiting(Conflict):
    code = "invitation_pending"
    default_message = N_(
        "This prospect already has an invitation waiting for an answer. Send that one "
        "again instead."
    )


def join_path(invitation: CustomerInvitation) -> str:
    return f"/join/{invitation.token}"


def join_url(settings: Settings, invitation: CustomerInvitation) -> str:
    return settings.base_url.rstrip("/") + join_path(invitation)


# -- online invitations -----------------------------------------------------------------


def invite_online(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    registration_id: str,
    mode: str,
) -> CustomerInvitation:
    """Email an invitation to a registered prospect."""
    partner = access.intake_partner(session, actor)
    chosen = _mode(mode)
    registration = registrations.get(session, actor, registration_id)
    if registration.status is not RegistrationStatus.ACTIVE:
        raise registrations.RegistrationClosed()
    if not registration.email:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "registration_id",
                    N_(
                        "The prospect has no email address; share a link with it instead."
                    ),
                )
            ]
        )
    now = utc_now()
    _check_nothing_waiting(session, registration, now)

    invitation = CustomerInvitation(
        organisation_id=partner.id,
        kind=InvitationKind.ONLINE,
        mode=chosen,
        registration_id=registration.id,
        email=registration.email,
        token=new_token(),
        status=CustomerInvitationStatus.PENDING,
        created_by_user_id=actor.user_id,
        account_manager_user_id=_account_manager(actor),
        created_at=now,
        send_count=0,
    )
    session.add(invitation)
    _send(session, settings, partner, invitation, now)
    audit.record(
        session,
        actor,
        "customer.invitation_sent",
        subject_type="customer_invitation",
        subject_id=invitation.id,
        organisation_id=partner.id,
        after=snapshot(invitation),
    )
    log.info(
        "customer.invitation_sent",
        invitation_id=invitation.id,
        organisation_id=partner.id,
    )
    return invitation


def resend(
    session: Session, actor: Actor, settings: Settings, invitation_id: str
) -> CustomerInvitation:
    """Send an online invitation again: the same link, valid for a new period."""
    partner = access.intake_partner(session, actor)
    invitation = get(session, actor, invitation_id)
    if invitation.kind is not InvitationKind.ONLINE:
        raise InvitationClosed(N_("Only an emailed invitation can be sent again."))
    if invitation.status is not CustomerInvitationStatus.PENDING:
        raise InvitationClosed(
            N_("This invitation has already been accepted or withdrawn.")
        )

    before = snapshot(invitation)
    _send(session, settings, partner, invitation, utc_now())
    audit.record(
        session,
        actor,
        "customer.invitation_resent",
        subject_type="customer_invitation",
        subject_id=invitation.id,
        organisation_id=partner.id,
        before=before,
        after=snapshot(invitation),
    )
    log.info("customer.invitation_resent", invitation_id=invitation.id)
    return invitation


def resend_many(
    session: Session, actor: Actor, settings: Settings, invitation_ids: Sequence[str]
) -> list[CustomerInvitation]:
    """Send several online invitations again; all or none."""
    wanted = list(dict.fromkeys(invitation_ids))
    if not wanted:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "invitation_ids", N_("Choose the invitations to send again.")
                )
            ]
        )
    if len(wanted) > MAX_BATCH_RESEND:
        raise InvalidInput(
            N_("At most %(limit)s invitations can be sent again at once."),
            limit=MAX_BATCH_RESEND,
        )
    return [resend(session, actor, settings, one) for one in wanted]


def _send(
    session: Session,
    settings: Settings,
    partner: Organisation,
    invitation: CustomerInvitation,
    now: dt.datetime,
) -> None:
    assert invitation.email is not None
    invitation.expires_at = now + dt.timedelta(days=ONLINE_INVITATION_DAYS)
    invitation.last_sent_at = now
    invitation.send_count += 1
    session.flush()

    kind = INVITED_KINDS[invitation.mode]
    params = {"partner": partner.display_name, "days": ONLINE_INVITATION_DAYS}
    account = session.scalar(select(User).where(User.email == invitation.email))
    if account is not None:
        notifications.notify(
            session,
            user=account,
            kind=kind,
            params=params,
            link=join_path(invitation),
            base_url=settings.base_url,
            default_locale=settings.locale,
        )
        return
    tr = translator(settings.locale)
    title, body = notifications.render(kind, params, tr)
    mail.queue_email(
        session,
        to=invitation.email,
        subject=title,
        body=f"{body}\n\n{join_url(settings, invitation)}",
    )


def _check_nothing_waiting(
    session: Session, registration: Registration, now: dt.datetime
) -> None:
    waiting = session.scalar(
        select(CustomerInvitation.id).where(
            CustomerInvitation.registration_id == registration.id,
            CustomerInvitation.status == CustomerInvitationStatus.PENDING,
            CustomerInvitation.expires_at > now,
        )
    )
    if waiting is not None:
        raise InvitationWaiting()


# -- links ------------------------------------------------------------------------------


def create_link(
    session: Session, actor: Actor, *, mode: str, tag: str | None = None
) -> CustomerInvitation:
    """A link (and QR code) that never expires and brings in any number of customers."""
    partner = access.intake_partner(session, actor)
    chosen = _mode(mode)
    label = (tag or "").strip() or None
    if label and len(label) > MAX_TAG_LENGTH:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "tag",
                    N_("A tag can have at most %(limit)s characters."),
                    {"limit": MAX_TAG_LENGTH},
                )
            ]
        )

    link = CustomerInvitation(
        organisation_id=partner.id,
        kind=InvitationKind.LINK,
        mode=chosen,
        tag=label,
        token=new_token(),
        status=CustomerInvitationStatus.PENDING,
        created_by_user_id=actor.user_id,
        account_manager_user_id=_account_manager(actor),
        created_at=utc_now(),
        send_count=0,
    )
    session.add(link)
    session.flush()
    audit.record(
        session,
        actor,
        "customer.invitation_link_created",
        subject_type="customer_invitation",
        subject_id=link.id,
        organisation_id=partner.id,
        after=snapshot(link),
    )
    log.info("customer.invitation_link_created", invitation_id=link.id)
    return link


def revoke(session: Session, actor: Actor, invitation_id: str) -> CustomerInvitation:
    """Stop an invitation or link from bringing in customers; those it brought stay."""
    partner = access.intake_partner(session, actor)
    invitation = get(session, actor, invitation_id)
    if invitation.status is not CustomerInvitationStatus.PENDING:
        raise InvitationClosed(
            N_("This invitation has already been accepted or withdrawn.")
        )

    before = snapshot(invitation)
    invitation.status = CustomerInvitationStatus.REVOKED
    session.flush()
    audit.record(
        session,
        actor,
        "customer.invitation_revoked",
        subject_type="customer_invitation",
        subject_id=invitation.id,
        organisation_id=partner.id,
        before=before,
        after=snapshot(invitation),
    )
    log.info("customer.invitation_revoked", invitation_id=invitation.id)
    return invitation


def _account_manager(actor: Actor) -> str | None:
    return actor.user_id if access.is_account_manager(actor) else None


def _mode(value: str) -> AssociationMode:
    try:
        return AssociationMode(value)
    except ValueError:
        raise InvalidInput(
            problems=[FieldProblem("mode", N_("Choose consulting sale or resale."))]
        ) from None


# -- reading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvitationView:
    invitation: CustomerInvitation
    state: str
    uses: int
    prospect_name: str | None


def get(session: Session, actor: Actor, invitation_id: str) -> CustomerInvitation:
    invitation = session.scalar(
        access.visible(
            select(CustomerInvitation).where(CustomerInvitation.id == invitation_id),
            CustomerInvitation,
            actor,
        )
    )
    if invitation is None:
        raise NotFound(N_("No such invitation."))
    return invitation


def by_token(
    session: Session, token: str, *, lock: bool = False
) -> CustomerInvitation | None:
    statement = select(CustomerInvitation).where(CustomerInvitation.token == token)
    if lock:
        statement = statement.with_for_update()
    return session.scalar(statement)


def listing(
    session: Session, actor: Actor, *, kind: InvitationKind | None = None
) -> list[InvitationView]:
    access.intake_partner(session, actor)
    statement = access.visible(select(CustomerInvitation), CustomerInvitation, actor)
    if kind is not None:
        statement = statement.where(CustomerInvitation.kind == kind)
    rows = session.scalars(
        statement.order_by(CustomerInvitation.created_at.desc(), CustomerInvitation.id)
    ).all()
    uses = _uses(session, [row.id for row in rows])
    names = _prospect_names(
        session, [r.registration_id for r in rows if r.registration_id]
    )
    now = utc_now()
    return [
        InvitationView(
            invitation=row,
            state=invitation_state(row, now),
            uses=uses.get(row.id, 0),
            prospect_name=names.get(row.registration_id or ""),
        )
        for row in rows
    ]


def view_of(session: Session, invitation: CustomerInvitation) -> InvitationView:
    names = _prospect_names(session, [invitation.registration_id or ""])
    return InvitationView(
        invitation=invitation,
        state=invitation_state(invitation, utc_now()),
        uses=_uses(session, [invitation.id]).get(invitation.id, 0),
        prospect_name=names.get(invitation.registration_id or ""),
    )


def _uses(session: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(Association.invitation_id, func.count())
        .where(Association.invitation_id.in_(ids))
        .group_by(Association.invitation_id)
    ).all()
    return {invitation_id: count for invitation_id, count in rows if invitation_id}


def _prospect_names(session: Session, ids: list[str]) -> dict[str, str]:
    wanted = [one for one in ids if one]
    if not wanted:
        return {}
    rows = session.execute(
        select(Registration.id, Registration.prospect_name).where(
            Registration.id.in_(wanted)
        )
    ).all()
    return {str(registration_id): str(name) for registration_id, name in rows}


def snapshot(invitation: CustomerInvitation) -> dict[str, object]:
    return {
        "kind": str(invitation.kind),
        "mode": str(invitation.mode),
        "status": str(invitation.status),
        "email": invitation.email,
        "tag": invitation.tag,
        "expires_at": invitation.expires_at.isoformat()
        if invitation.expires_at
        else None,
        "send_count": invitation.send_count,
    }
