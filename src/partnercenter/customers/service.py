"""The core use cases of customers: accounts, eligibility, associating, the records.

Registrations, invitations, change requests and the console build on these functions; they
are the only code that creates or ends an association.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Conflict, FieldProblem, NotFound
from partnercenter.core.i18n import N_
from partnercenter.customers import rules
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationRecord,
    AssociationSource,
    AssociationStatus,
    Customer,
    CustomerType,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    AccountType,
    Membership,
    Organisation,
    OrganisationKind,
    RealNameStatus,
    User,
)
from partnercenter.identity.permissions import Permission

MODE_CODES = {AssociationMode.CONSULTING: "1", AssociationMode.RESALE: "2"}
"""The association type codes of the BSS API."""


class AssociationRefused(Conflict):
    """The customer cannot be associated; ``refusals`` lists every reason."""

    code = "association_refused"
    default_message = N_("The customer cannot be associated with this partner.")

    def __init__(self, refusals: list[rules.Refusal]) -> None:
        super().__init__(
            problems=[FieldProblem("customer", refusal.message) for refusal in refusals]
        )
        self.refusals = refusals


@dataclass(frozen=True, slots=True)
class ModeTerms:
    """What an association's mode means for money, invoices and contracts."""

    can_be_funded: bool
    """The partner allocates and reclaims cash; the customer spends only that."""
    invoiced_by_partner: bool
    contract_with_partner: bool
    """Resale contracts are signed offline with the partner; consulting ones online with
    the vendor."""


MODE_TERMS = {
    AssociationMode.CONSULTING: ModeTerms(False, False, False),
    AssociationMode.RESALE: ModeTerms(True, True, True),
}


def terms(mode: AssociationMode) -> ModeTerms:
    return MODE_TERMS[mode]


# -- customer accounts ------------------------------------------------------------------


def create_customer_account(
    session: Session,
    actor: Actor,
    *,
    account_name: str,
    display_name: str,
    customer_type: CustomerType,
    email: str | None = None,
    phone: str | None = None,
    country_region: str | None = "CN",
    real_name_status: RealNameStatus = RealNameStatus.NONE,
    password: str | None = None,
    xaccount_id: str | None = None,
    xaccount_type: str | None = None,
) -> Organisation:
    """A customer organisation with its main account (the cloud account of the customer)."""
    account_type = (
        AccountType.ENTERPRISE
        if customer_type is CustomerType.ENTERPRISE
        else AccountType.PERSONAL
    )
    owner = identity.create_user(
        session,
        account_name=account_name,
        display_name=display_name,
        password=password or _random_password(),
        email=email,
        phone=phone,
        account_type=account_type,
        real_name_status=real_name_status,
    )
    organisation = identity.create_organisation(
        session,
        actor,
        kind=OrganisationKind.CUSTOMER,
        account_name=account_name,
        display_name=display_name,
        country_region=country_region,
        contact_name=display_name,
        contact_email=email,
        contact_phone=phone,
        main_user=owner,
    )
    identity.add_membership(
        session, owner, organisation, roles=["customer"], is_main_account=True
    )
    session.add(
        Customer(
            organisation_id=organisation.id,
            customer_type=customer_type,
            real_name_status=real_name_status,
            xaccount_id=xaccount_id,
            xaccount_type=xaccount_type,
            updated_at=utc_now(),
        )
    )
    session.flush()
    return organisation


def _random_password() -> str:
    # An account created for a customer gets a password nobody knows; its owner sets one
    # through the password-reset link.
    return "Pc-" + secrets.token_urlsafe(24)


def get_customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(N_("No such customer."))
    return customer


# -- associations -----------------------------------------------------------------------


def active_association(session: Session, customer_id: str) -> Association | None:
    return session.scalar(
        select(Association).where(
            Association.customer_id == customer_id,
            Association.status == AssociationStatus.ACTIVE,
        )
    )


def _is_partner_account(session: Session, owner_id: str | None) -> bool:
    """Whether the customer's own account is the main account of a partner."""
    if owner_id is None:
        return False
    return (
        session.scalar(
            select(Membership.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(
                Membership.user_id == owner_id,
                Membership.left_at.is_(None),
                Membership.is_main_account.is_(True),
                Organisation.kind == OrganisationKind.PARTNER,
            )
        )
        is not None
    )


PARTNER_CREATED_SOURCES = frozenset(
    {AssociationSource.CREATED_BY_API, AssociationSource.FEDERATION}
)
"""Customers that arrive these ways are accounts the partner made; they come as resale."""


def refusals_for(
    session: Session,
    customer_id: str,
    partner: Organisation,
    mode: AssociationMode,
    *,
    created_by_partner: bool = False,
) -> list[rules.Refusal]:
    customer = get_customer(session, customer_id)
    organisation = identity.get_organisation(session, customer_id)
    return rules.refusals(
        customer=customer,
        customer_organisation=organisation,
        partner=partner,
        mode=mode,
        is_associated=active_association(session, customer_id) is not None,
        is_partner_account=_is_partner_account(session, organisation.main_user_id),
        created_by_partner=created_by_partner,
    )


def associate(
    session: Session,
    actor: Actor,
    *,
    customer_id: str,
    partner: Organisation,
    mode: AssociationMode,
    source: AssociationSource,
    agreements: list[dict[str, Any]] | None = None,
    invitation_id: str | None = None,
    account_manager_user_id: str | None = None,
    actor_party: str,
) -> Association:
    """Tie the customer to ``partner`` in ``mode``, or refuse with every reason.

    A refusal is written to the association records too, so that the partner can see why a
    customer did not arrive.
    """
    # Lock the customer row, so that two partners racing for one customer queue up here.
    customer = session.scalar(
        select(Customer)
        .where(Customer.organisation_id == customer_id)
        .with_for_update()
    )
    if customer is None:
        raise NotFound(N_("No such customer."))
    found = refusals_for(
        session,
        customer_id,
        partner,
        mode,
        created_by_partner=source in PARTNER_CREATED_SOURCES,
    )
    if found:
        raise AssociationRefused(found)

    now = utc_now()
    association = Association(
        organisation_id=partner.id,
        customer_id=customer_id,
        mode=mode,
        status=AssociationStatus.ACTIVE,
        source=source,
        started_at=now,
        mode_changed_at=now,
        agreements=agreements or [],
        invitation_id=invitation_id,
        account_manager_user_id=account_manager_user_id,
    )
    session.add(association)
    session.flush()
    write_record(
        session,
        actor,
        kind="associated",
        outcome="succeeded",
        partner_id=partner.id,
        customer_id=customer_id,
        mode_after=mode,
        actor_party=actor_party,
        details={"source": str(source), "agreements": agreements or []},
    )
    audit.record(
        session,
        actor,
        "customer.associated",
        subject_type="customer",
        subject_id=customer_id,
        organisation_id=partner.id,
        after={"partner_id": partner.id, "mode": str(mode), "source": str(source)},
    )
    return association


def record_refusal(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    partner_id: str | None,
    customer_id: str | None,
    refusals: list[rules.Refusal],
    actor_party: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Keep a refused attempt in the records, with the codes of its reasons."""
    write_record(
        session,
        actor,
        kind=kind,
        outcome="refused",
        partner_id=partner_id,
        customer_id=customer_id,
        actor_party=actor_party,
        details={**(details or {}), "refusals": [r.code for r in refusals]},
    )


def write_record(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    outcome: str,
    partner_id: str | None,
    customer_id: str | None,
    actor_party: str,
    mode_before: AssociationMode | None = None,
    mode_after: AssociationMode | None = None,
    request_id: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AssociationRecord:
    record = AssociationRecord(
        organisation_id=partner_id,
        customer_id=customer_id,
        kind=kind,
        outcome=outcome,
        mode_before=str(mode_before) if mode_before else None,
        mode_after=str(mode_after) if mode_after else None,
        actor_user_id=actor.user_id,
        actor_party=actor_party,
        request_id=request_id,
        reason=reason,
        details=details or {},
        occurred_at=at or utc_now(),
    )
    session.add(record)
    return record


class ExternalAccountTaken(Conflict):
    code = "external_account_taken"
    default_message = N_(
        "A customer with this external account id already exists for this platform."
    )


def create_for_partner(
    session: Session,
    actor: Actor,
    *,
    account_name: str,
    display_name: str,
    customer_type: CustomerType,
    email: str | None = None,
    phone: str | None = None,
    country_region: str | None = None,
    xaccount_id: str | None = None,
    xaccount_type: str | None = None,
    source: AssociationSource = AssociationSource.CREATED_BY_API,
    password: str | None = None,
) -> tuple[Organisation, Association]:
    """A partner creates its customer's account; it is associated with the partner in resale
    at once, in the same transaction (a refusal leaves no account behind)."""
    identity.authorize(actor, Permission.CUSTOMERS_MANAGE)
    if source not in PARTNER_CREATED_SOURCES:
        raise ValueError(f"{source} is not a way partners create customers")
    partner = identity.get_organisation(session, actor.organisation_id)
    if xaccount_id and session.scalar(
        select(Customer.organisation_id).where(
            Customer.xaccount_id == xaccount_id, Customer.xaccount_type == xaccount_type
        )
    ):
        raise ExternalAccountTaken()

    customer = create_customer_account(
        session,
        actor,
        account_name=account_name,
        display_name=display_name,
        customer_type=customer_type,
        email=email,
        phone=phone,
        country_region=country_region or partner.country_region,
        xaccount_id=xaccount_id,
        xaccount_type=xaccount_type,
        password=password,
    )
    association = associate(
        session,
        actor,
        customer_id=customer.id,
        partner=partner,
        mode=AssociationMode.RESALE,
        source=source,
        actor_party="partner",
    )
    return customer, association


def owner_of(session: Session, customer_id: str) -> User | None:
    organisation = identity.get_organisation(session, customer_id)
    if organisation.main_user_id is None:
        return None
    return session.get(User, organisation.main_user_id)
