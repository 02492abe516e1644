"""Factories that read like the domain: a partner with its admin, a member, a customer."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import SYSTEM
from partnercenter.customers import service as customers
from partnercenter.customers.models import (
    AssociationMode,
    AssociationSource,
    CustomerType,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    AccountType,
    Organisation,
    OrganisationKind,
    PartnerType,
    RealNameStatus,
    User,
)

PASSWORD = "Test-Pass-2026"
_numbers = itertools.count(1)


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_numbers):04d}"


def user(
    db: Session,
    account_name: str | None = None,
    *,
    email: str | None = None,
    phone: str | None = None,
    account_type: AccountType = AccountType.PERSONAL,
    real_name_status: RealNameStatus = RealNameStatus.VERIFIED,
    locale: str | None = None,
) -> User:
    account_name = account_name or _name("person")
    return identity.create_user(
        db,
        account_name=account_name,
        display_name=account_name.replace("-", " ").title(),
        password=PASSWORD,
        email=email or f"{account_name}@example.com",
        phone=phone,
        account_type=account_type,
        real_name_status=real_name_status,
        locale=locale,
    )


@dataclass
class OrgWithAdmin:
    organisation: Organisation
    admin: User


def vendor(db: Session) -> OrgWithAdmin:
    admin = user(db, _name("vendor-admin"), account_type=AccountType.ENTERPRISE)
    organisation = identity.create_organisation(
        db,
        SYSTEM,
        kind=OrganisationKind.VENDOR,
        account_name=_name("vendor"),
        display_name="Test Vendor",
        main_user=admin,
    )
    identity.add_membership(
        db, admin, organisation, roles=["vendor_admin"], is_main_account=True
    )
    return OrgWithAdmin(organisation, admin)


def partner(
    db: Session,
    partner_type: PartnerType = PartnerType.SOLUTION_PROVIDER,
    *,
    parent: Organisation | None = None,
    region: str = "CN",
) -> OrgWithAdmin:
    account_name = _name(str(partner_type).replace("_", "-"))
    admin = user(db, account_name, account_type=AccountType.ENTERPRISE)
    organisation = identity.create_organisation(
        db,
        SYSTEM,
        kind=OrganisationKind.PARTNER,
        partner_type=partner_type,
        account_name=account_name,
        display_name=account_name.title(),
        parent_id=parent.id if parent else None,
        country_region=region,
        main_user=admin,
    )
    identity.add_membership(
        db, admin, organisation, roles=["partner_admin"], is_main_account=True
    )
    return OrgWithAdmin(organisation, admin)


def member(db: Session, organisation: Organisation, *roles: str) -> User:
    person = user(db)
    identity.add_membership(
        db, person, organisation, roles=list(roles) or ["project_specialist"]
    )
    return person


def customer(
    db: Session,
    *,
    customer_type: CustomerType = CustomerType.ENTERPRISE,
    real_name_status: RealNameStatus = RealNameStatus.VERIFIED,
    region: str = "CN",
    **flags: bool,
) -> OrgWithAdmin:
    """A customer with its own account; ``flags`` set eligibility facts such as owes_invoices."""
    account_name = _name("customer")
    organisation = customers.create_customer_account(
        db,
        SYSTEM,
        account_name=account_name,
        display_name=account_name.title(),
        customer_type=customer_type,
        email=f"{account_name}@example.com",
        country_region=region,
        real_name_status=real_name_status,
        password=PASSWORD,
    )
    record = customers.get_customer(db, organisation.id)
    for flag, value in flags.items():
        assert hasattr(record, flag), flag
        setattr(record, flag, value)
    db.flush()
    owner = db.get(User, organisation.main_user_id)
    assert owner is not None
    return OrgWithAdmin(organisation, owner)


def associated_customer(
    db: Session,
    partner: Organisation,
    mode: AssociationMode = AssociationMode.RESALE,
    **flags: bool,
) -> OrgWithAdmin:
    """A customer already associated with ``partner`` in ``mode``; ``in_arrears=True``
    charges it 1.00 more than it has, through the ledger."""
    in_arrears = flags.pop("in_arrears", False)
    made = customer(db, **flags)
    customers.associate(
        db,
        SYSTEM,
        customer_id=made.organisation.id,
        partner=partner,
        mode=mode,
        source=AssociationSource.INVITATION_LINK,
        actor_party="system",
    )
    if in_arrears:
        put_in_arrears(db, made.organisation)
    return made


def put_in_arrears(db: Session, organisation: Organisation, minor: int = 100) -> None:
    """Charge the customer ``minor`` through the vendor's billing, as usage it cannot pay."""
    from partnercenter.core.actor import Actor
    from partnercenter.identity.models import Organisation as Org
    from partnercenter.identity.permissions import Permission
    from partnercenter.ledger import service as ledger

    if db.scalar(select(Org.id).where(Org.kind == OrganisationKind.VENDOR)) is None:
        vendor(db)
    billing = Actor(
        organisation_id="",
        organisation_kind="vendor",
        permissions=frozenset({Permission.FINANCE_OPERATE}),
    )
    balances = ledger.customer_balances(db, organisation.id)
    [result] = ledger.post_charges(
        db,
        billing,
        [
            ledger.Charge(
                charge_id=f"arrears-{next(_numbers)}",
                customer_id=organisation.id,
                amount=max(balances.spendable, 0) + minor,
            )
        ],
    )
    assert result.status == "posted"
    db.flush()
