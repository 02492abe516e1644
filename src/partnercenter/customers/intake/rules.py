"""The numbers and texts of customer intake: how long holds last, how many a partner keeps,
and which agreements a customer accepts in each mode."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from partnercenter.core.i18n import N_
from partnercenter.customers.models import (
    AssociationMode,
    CustomerInvitation,
    CustomerInvitationStatus,
    InvitationKind,
)
from partnercenter.customers.rules import Refusal

REGISTRATION_DAYS = 15
"""How long a registration holds a prospect for its partner."""
MAX_ACTIVE_REGISTRATIONS = 100
"""How many active registrations one partner may hold at once."""
ONLINE_INVITATION_DAYS = 7
"""How long an emailed invitation can be accepted; a re-send starts the period again."""
MAX_BATCH_RESEND = 100
"""How many invitations one batch re-send may name (the list shows no more on one page)."""
MAX_TAG_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Agreement:
    name: str
    """A stable name, kept in the association with the version accepted."""
    version: str
    title: str
    summary: str


PARTNER_CUSTOMER_AGREEMENT = Agreement(
    "partner_customer_agreement",
    "2026-01",
    N_("Partner and customer agreement"),
    N_(
        "The partner advises you on the vendor's services. You keep buying from and paying "
        "the vendor yourself, and the vendor invoices you."
    ),
)
RESALE_AGREEMENT = Agreement(
    "resale_agreement",
    "2026-01",
    N_("Resale agreement"),
    N_(
        "The partner funds your account and invoices you. You can spend only what the "
        "partner allocates and cannot top up yourself. The contract is signed with the "
        "partner, outside this site."
    ),
)
DATA_AUTHORISATION = Agreement(
    "data_authorisation_notice",
    "2026-01",
    N_("Data authorisation notice"),
    N_(
        "You allow the partner to see your account name, contact details, consumption and "
        "orders for as long as you are its customer."
    ),
)
AGREEMENTS: dict[AssociationMode, tuple[Agreement, ...]] = {
    AssociationMode.CONSULTING: (PARTNER_CUSTOMER_AGREEMENT, DATA_AUTHORISATION),
    AssociationMode.RESALE: (RESALE_AGREEMENT, DATA_AUTHORISATION),
}


def agreements_for(mode: AssociationMode) -> tuple[Agreement, ...]:
    return AGREEMENTS[mode]


# Why an invitation cannot be accepted, next to the eligibility refusals of customers.
INVITATION_NOT_FOUND = Refusal(
    "invitation_not_found",
    N_("This invitation link does not exist. Check that the whole link was opened."),
)
INVITATION_EXPIRED = Refusal(
    "invitation_expired",
    N_("This invitation has expired. Ask the partner to send it again."),
)
INVITATION_USED = Refusal(
    "invitation_used",
    N_("This invitation has already been used."),
)
INVITATION_REVOKED = Refusal(
    "invitation_revoked",
    N_("The partner has withdrawn this invitation link."),
)
NOT_A_CUSTOMER_ACCOUNT = Refusal(
    "not_customer_account",
    N_(
        "Only a customer account can accept an invitation. Partner and vendor accounts "
        "cannot become customers; sign in with the customer's own account."
    ),
)


class InvitationState:
    PENDING = "pending"
    EXPIRED = "expired"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


def invitation_state(invitation: CustomerInvitation, now: dt.datetime) -> str:
    """The state a person sees: expiry is read from the clock, never written."""
    if invitation.status is CustomerInvitationStatus.REVOKED:
        return InvitationState.REVOKED
    if invitation.status is CustomerInvitationStatus.ACCEPTED:
        return InvitationState.ACCEPTED
    if invitation.expires_at is not None and invitation.expires_at <= now:
        return InvitationState.EXPIRED
    return InvitationState.PENDING


def closed_refusal(invitation: CustomerInvitation, now: dt.datetime) -> Refusal | None:
    """Why the invitation cannot be accepted any more, if it cannot."""
    state = invitation_state(invitation, now)
    if state == InvitationState.REVOKED:
        return INVITATION_REVOKED
    if state == InvitationState.ACCEPTED and invitation.kind is InvitationKind.ONLINE:
        return INVITATION_USED
    if state == InvitationState.EXPIRED:
        return INVITATION_EXPIRED
    return None
