"""Accepting an invitation: the customer's side of an online invitation or a link."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit, notifications
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Conflict, FieldProblem, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.core.logging import get_logger
from partnercenter.core.settings import Settings
from partnercenter.customers import service
from partnercenter.customers.intake import invitations, registrations
from partnercenter.customers.intake.rules import (
    INVITATION_NOT_FOUND,
    NOT_A_CUSTOMER_ACCOUNT,
    agreements_for,
    closed_refusal,
)
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationSource,
    CustomerInvitation,
    CustomerInvitationStatus,
    InvitationKind,
    Registration,
    RegistrationStatus,
)
from partnercenter.customers.rules import Refusal
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    Membership,
    MembershipRole,
    Organisation,
    User,
)
from partnercenter.identity.permissions import Permission

log = get_logger(__name__)

RECORD_KIND = "invitation_accepted"
NEW_CUSTOMER_KINDS = {
    AssociationMode.CONSULTING: "customers.new_customer_consulting",
    AssociationMode.RESALE: "customers.new_customer_resale",
}
notifications.register(
    NEW_CUSTOMER_KINDS[AssociationMode.CONSULTING],
    title=N_("%(customer)s is now your customer (consulting sale)"),
    body=N_("%(customer)s accepted an invitation of %(partner)s."),
)
notifications.register(
    NEW_CUSTOMER_KINDS[AssociationMode.RESALE],
    title=N_("%(customer)s is now your customer (resale)"),
    body=N_("%(customer)s accepted an invitation of %(partner)s."),
)


class AcceptanceRefused(Conflict):
    """The invitation cannot be accepted; ``refusals`` says every reason."""

    code = "invitation_refused"
    default_message = N_("The invitation could not be accepted.")

    def __init__(
        self,
        refusals: list[Refusal],
        *,
        partner_id: str | None = None,
        customer_id: str | None = None,
        invitation_id: str | None = None,
    ) -> None:
        super().__init__(
            problems=[
                FieldProblem("invitation", refusal.message) for refusal in refusals
            ]
        )
        self.refusals = refusals
        self.partner_id = partner_id
        self.customer_id = customer_id
        self.invitation_id = invitation_id


def is_customer(actor: Actor | None) -> bool:
    return (
        actor is not None
        and actor.organisation_kind == "customer"
        and actor.can(Permission.CUSTOMER_SELF)
    )


def accept(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    token: str,
    accepted: Sequence[str],
) -> Association:
    """Associate the actor's customer with the inviting partner, or refuse with why."""
    invitation = invitations.by_token(session, token, lock=True)
    if invitation is None:
        raise AcceptanceRefused([INVITATION_NOT_FOUND], customer_id=_customer_of(actor))
    refused = _refused(invitation, actor)
    if refused:
        raise refused
    _check_agreements(invitation, accepted)

    now = utc_now()
    partner = identity.get_organisation(session, invitation.organisation_id)
    agreements = [
        {"name": a.name, "version": a.version, "accepted_at": now.isoformat()}
        for a in agreements_for(invitation.mode)
    ]
    try:
        association = service.associate(
            session,
            actor,
            customer_id=actor.organisation_id,
            partner=partner,
            mode=invitation.mode,
            source=_source(invitation),
            agreements=agreements,
            invitation_id=invitation.id,
            account_manager_user_id=invitation.account_manager_user_id,
            actor_party="customer",
        )
    except service.AssociationRefused as error:
        raise AcceptanceRefused(
            error.refusals,
            partner_id=partner.id,
            customer_id=actor.organisation_id,
            invitation_id=invitation.id,
        ) from error

    _mark_used(invitation, actor.organisation_id, now)
    _convert_registration(session, actor, invitation)
    audit.record(
        session,
        actor,
        "customer.invitation_accepted",
        subject_type="customer_invitation",
        subject_id=invitation.id,
        organisation_id=partner.id,
        after={"customer_id": actor.organisation_id, "mode": str(invitation.mode)},
    )
    _tell_partner(session, settings, partner, actor, invitation)
    log.info(
        "customer.invitation_accepted",
        invitation_id=invitation.id,
        organisation_id=partner.id,
        customer_id=actor.organisation_id,
    )
    return association


def record_failure(
    session: Session, actor: Actor | None, error: AcceptanceRefused
) -> None:
    """Keep a refused acceptance in the records; call it after rolling the attempt back."""
    service.record_refusal(
        session,
        actor or anonymous_actor(),
        kind=RECORD_KIND,
        partner_id=error.partner_id,
        customer_id=error.customer_id,
        refusals=error.refusals,
        actor_party="customer",
        details={"invitation_id": error.invitation_id},
    )


def anonymous_actor() -> Actor:
    return Actor(
        organisation_id="", organisation_kind="anonymous", permissions=frozenset()
    )


def _customer_of(actor: Actor) -> str | None:
    return actor.organisation_id if is_customer(actor) else None


def _refused(invitation: CustomerInvitation, actor: Actor) -> AcceptanceRefused | None:
    found = []
    closed = closed_refusal(invitation, utc_now())
    if closed is not None:
        found.append(closed)
    if not is_customer(actor):
        found.append(NOT_A_CUSTOMER_ACCOUNT)
    if not found:
        return None
    return AcceptanceRefused(
        found,
        partner_id=invitation.organisation_id,
        customer_id=_customer_of(actor),
        invitation_id=invitation.id,
    )


def _check_agreements(invitation: CustomerInvitation, accepted: Sequence[str]) -> None:
    missing = [a for a in agreements_for(invitation.mode) if a.name not in accepted]
    if missing:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "agreements", N_("Accept every agreement to become the customer.")
                )
            ]
        )


def _source(invitation: CustomerInvitation) -> AssociationSource:
    if invitation.kind is InvitationKind.ONLINE:
        return AssociationSource.ONLINE_INVITATION
    return AssociationSource.INVITATION_LINK


def _mark_used(invitation: CustomerInvitation, customer_id: str, now: Any) -> None:
    invitation.accepted_at = now
    if invitation.kind is InvitationKind.ONLINE:
        invitation.status = CustomerInvitationStatus.ACCEPTED
        invitation.accepted_customer_id = customer_id


def _convert_registration(
    session: Session, actor: Actor, invitation: CustomerInvitation
) -> None:
    registration: Registration | None = None
    if invitation.registration_id:
        registration = session.get(Registration, invitation.registration_id)
    if registration is None or registration.status is not RegistrationStatus.ACTIVE:
        owner = service.owner_of(session, actor.organisation_id)
        registration = registrations.matching_active(
            session,
            invitation.organisation_id,
            owner.email if owner else None,
            owner.phone if owner else None,
        )
    if registration is not None and registration.status is RegistrationStatus.ACTIVE:
        registrations.convert(session, actor, registration, actor.organisation_id)


def partner_admins(session: Session, partner_id: str) -> Sequence[User]:
    return session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .where(
            Membership.organisation_id == partner_id,
            Membership.left_at.is_(None),
            MembershipRole.preset == "partner_admin",
        )
        .distinct()
    ).all()


def _tell_partner(
    session: Session,
    settings: Settings,
    partner: Organisation,
    actor: Actor,
    invitation: CustomerInvitation,
) -> None:
    customer = identity.get_organisation(session, actor.organisation_id)
    for admin in partner_admins(session, partner.id):
        notifications.notify(
            session,
            user=admin,
            kind=NEW_CUSTOMER_KINDS[invitation.mode],
            params={"customer": customer.display_name, "partner": partner.display_name},
            link="/customers/invitations",
            base_url=settings.base_url,
            default_locale=settings.locale,
            organisation_id=partner.id,
        )
