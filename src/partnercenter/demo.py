"""Demo data: a small but real channel, so the console shows something at first start.

Every organisation and person here is fictional.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.security import SecretBox
from partnercenter.core.settings import load_settings
from partnercenter.customers import assignments, tiers
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
from partnercenter.incentives import demo as incentives_demo
from partnercenter.ledger import demo as ledger_demo
from partnercenter.vouchers import demo as vouchers_demo

DEMO_PASSWORD = "Demo-Pass-2026"  # noqa: S105 - printed for the demo on purpose
_VERIFIED = RealNameStatus.VERIFIED


@dataclass(frozen=True, slots=True)
class DemoLogin:
    account_name: str
    role: str
    organisation: str


def _user(
    session: Session,
    account_name: str,
    display_name: str,
    *,
    email: str,
    phone: str | None = None,
    account_type: AccountType = AccountType.PERSONAL,
    locale: str | None = None,
) -> User:
    return identity.create_user(
        session,
        account_name=account_name,
        display_name=display_name,
        password=DEMO_PASSWORD,
        email=email,
        phone=phone,
        account_type=account_type,
        real_name_status=RealNameStatus.VERIFIED,
        locale=locale,
    )


def _partner(
    session: Session,
    *,
    account_name: str,
    display_name: str,
    partner_type: PartnerType,
    admin_name: str,
    parent: Organisation | None = None,
    region: str = "CN",
) -> Organisation:
    admin = _user(
        session,
        account_name,
        admin_name,
        email=f"{account_name}@example.com",
        account_type=AccountType.ENTERPRISE,
    )
    organisation = identity.create_organisation(
        session,
        SYSTEM,
        kind=OrganisationKind.PARTNER,
        partner_type=partner_type,
        account_name=account_name,
        display_name=display_name,
        parent_id=parent.id if parent else None,
        country_region=region,
        legal_name=display_name,
        registration_number=f"91310000{zlib.crc32(account_name.encode()) % 10**10:010d}",
        contact_name=admin_name,
        contact_email=f"{account_name}@example.com",
        main_user=admin,
    )
    identity.add_membership(
        session, admin, organisation, roles=["partner_admin"], is_main_account=True
    )
    return organisation


def seed(session: Session, *, box: SecretBox | None = None) -> list[DemoLogin]:
    """Create the demo channel; returns the logins to print. Refuses a non-empty database.

    ``box`` seals the demo's bank accounts; by default it is built from this process's
    settings, as the server that will show them builds its own.
    """
    if session.scalar(select(Organisation.id).limit(1)) is not None:
        raise RuntimeError(
            "the database already has organisations; demo data is not added"
        )

    logins: list[DemoLogin] = []

    vendor_admin = _user(
        session,
        "nimbus-admin",
        "Nimbus Admin",
        email="admin@nimbus.example.com",
        account_type=AccountType.ENTERPRISE,
    )
    vendor = identity.create_organisation(
        session,
        SYSTEM,
        kind=OrganisationKind.VENDOR,
        account_name="nimbus-cloud",
        display_name="Nimbus Cloud",
        country_region="CN",
        legal_name="Nimbus Cloud Computing Co., Ltd.",
        main_user=vendor_admin,
    )
    identity.add_membership(
        session, vendor_admin, vendor, roles=["vendor_admin"], is_main_account=True
    )
    logins.append(DemoLogin("nimbus-admin", "vendor admin", vendor.display_name))
    for account, name, role in [
        ("nimbus-eco", "Zhao Min", "eco_manager"),
        ("nimbus-pdm", "Qian Hao", "pdm"),
        ("nimbus-bd", "Sun Li", "bd"),
        ("nimbus-finance", "Zhou Yan", "vendor_finance"),
    ]:
        staff = _user(session, account, name, email=f"{account}@nimbus.example.com")
        identity.add_membership(session, staff, vendor, roles=[role])
        logins.append(DemoLogin(account, role.replace("_", " "), vendor.display_name))

    distributor = _partner(
        session,
        account_name="hualian-dist",
        display_name="Hualian Channel Co.",
        partner_type=PartnerType.DISTRIBUTOR,
        admin_name="Wang Fang",
    )
    logins.append(
        DemoLogin("hualian-dist", "partner admin (distributor)", "Hualian Channel Co.")
    )
    for account, name, admin in [
        ("xingyun-tech", "Xingyun Tech", "Liu Yang"),
        ("lanshan-digital", "Lanshan Digital", "Chen Jing"),
    ]:
        _partner(
            session,
            account_name=account,
            display_name=name,
            partner_type=PartnerType.RESELLER,
            admin_name=admin,
            parent=distributor,
        )
        logins.append(DemoLogin(account, "partner admin (reseller)", name))

    provider = _partner(
        session,
        account_name="jade-solutions",
        display_name="Jade Solutions Ltd.",
        partner_type=PartnerType.SOLUTION_PROVIDER,
        admin_name="Huang Lei",
    )
    logins.append(
        DemoLogin(
            "jade-solutions", "partner admin (solution provider)", provider.display_name
        )
    )
    for account, name, role in [
        ("jade-project", "Lin Tao", "project_specialist"),
        ("jade-am", "Guo Mei", "account_manager"),
        ("jade-finance", "He Ping", "partner_finance"),
    ]:
        member = _user(session, account, name, email=f"{account}@example.com")
        identity.add_membership(session, member, provider, roles=[role])
        logins.append(DemoLogin(account, role.replace("_", " "), provider.display_name))

    resellers = list(
        session.scalars(
            select(Organisation)
            .where(Organisation.parent_id == distributor.id)
            .order_by(Organisation.account_name)
        )
    )
    logins += _customers(session, provider, resellers)

    for account, name in [("ma-xiaoyu", "Ma Xiaoyu"), ("tang-jun", "Tang Jun")]:
        _user(session, account, name, email=f"{account}@example.com")
        logins.append(DemoLogin(account, "personal account, not yet a member", "-"))

    ledger_demo.seed(session, box or SecretBox(load_settings().resolved_secret_key))
    vouchers_demo.seed(session)
    incentives_demo.seed(session, _admin_actor(session, vendor))
    return logins


# (account, name, type, real-name status, vendor facts that are true)
_DEMO_CUSTOMERS: list[
    tuple[str, str, CustomerType, RealNameStatus, tuple[str, ...]]
] = [
    ("redwood-trading", "Redwood Trading", CustomerType.ENTERPRISE, _VERIFIED, ()),
    ("bluepeak-studio", "Bluepeak Studio", CustomerType.INDIVIDUAL, _VERIFIED, ()),
    (
        "harbor-foods",
        "Harbor Foods",
        CustomerType.ENTERPRISE,
        _VERIFIED,
        ("owes_invoices",),
    ),
    ("orchid-design", "Orchid Design", CustomerType.ENTERPRISE, _VERIFIED, ()),
    ("pine-logistics", "Pine Logistics", CustomerType.ENTERPRISE, _VERIFIED, ()),
    ("lotus-clinic", "Lotus Clinic", CustomerType.ENTERPRISE, _VERIFIED, ()),
    ("maple-edu", "Maple Education", CustomerType.INDIVIDUAL, _VERIFIED, ()),
    (
        "cedar-labs",
        "Cedar Labs",
        CustomerType.ENTERPRISE,
        RealNameStatus.REVIEWING,
        (),
    ),
    ("meadow-apps", "Meadow Apps", CustomerType.INDIVIDUAL, RealNameStatus.NONE, ()),
]

# customer account → (partner account, mode); the others stay free.
_DEMO_ASSOCIATIONS = {
    "redwood-trading": ("jade-solutions", AssociationMode.RESALE),
    "bluepeak-studio": ("jade-solutions", AssociationMode.CONSULTING),
    "harbor-foods": ("jade-solutions", AssociationMode.CONSULTING),
    "orchid-design": ("xingyun-tech", AssociationMode.RESALE),
    "pine-logistics": ("xingyun-tech", AssociationMode.CONSULTING),
    "lotus-clinic": ("lanshan-digital", AssociationMode.RESALE),
    "maple-edu": ("lanshan-digital", AssociationMode.CONSULTING),
}


def _customers(
    session: Session, provider: Organisation, resellers: list[Organisation]
) -> list[DemoLogin]:
    """Customers in both modes and in every state, with a few association records."""
    partners = {org.account_name: org for org in [provider, *resellers]}
    made: dict[str, Organisation] = {}
    for account, name, kind, status, facts in _DEMO_CUSTOMERS:
        made[account] = customers.create_customer_account(
            session,
            SYSTEM,
            account_name=account,
            display_name=name,
            customer_type=kind,
            email=f"it@{account}.example.com",
            real_name_status=status,
            password=DEMO_PASSWORD,
        )
        record = customers.get_customer(session, made[account].id)
        for fact in facts:
            setattr(record, fact, True)

    agreement = {"name": "Customer association terms", "version": "1.0"}
    for account, (partner_account, mode) in _DEMO_ASSOCIATIONS.items():
        customers.associate(
            session,
            SYSTEM,
            customer_id=made[account].id,
            partner=partners[partner_account],
            mode=mode,
            source=AssociationSource.INVITATION_LINK,
            agreements=[{**agreement, "accepted_at": "2026-01-05T09:30:00+00:00"}],
            actor_party="customer",
        )

    # A refused attempt shows on the records why a customer did not arrive.
    found = customers.refusals_for(
        session, made["meadow-apps"].id, provider, AssociationMode.RESALE
    )
    customers.record_refusal(
        session,
        SYSTEM,
        kind="associated",
        partner_id=provider.id,
        customer_id=made["meadow-apps"].id,
        refusals=found,
        actor_party="customer",
    )

    admin = _admin_actor(session, provider)
    manager = session.scalar(select(User).where(User.account_name == "jade-am"))
    assert manager is not None
    assignments.assign_account_manager(
        session, admin, [made["redwood-trading"].id], manager.id
    )
    assignments.set_label(session, admin, [made["bluepeak-studio"].id], "key account")

    # The first reseller shows its customers to the distributor; the second does not.
    tiers.accept_notice(session, _admin_actor(session, resellers[0]))
    return [DemoLogin("redwood-trading", "customer", "Redwood Trading")]


def _admin_actor(session: Session, organisation: Organisation) -> Actor:
    admin = session.get(User, organisation.main_user_id)
    assert admin is not None
    return identity.actor_for(session, admin, organisation.id)
