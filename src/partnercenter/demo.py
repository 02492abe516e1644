"""Demo data: a small but real channel, so the console shows something at first start.

Every organisation and person here is fictional.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import SYSTEM
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    AccountType,
    Organisation,
    OrganisationKind,
    PartnerType,
    RealNameStatus,
    User,
)

DEMO_PASSWORD = "Demo-Pass-2026"  # noqa: S105 - printed for the demo on purpose


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


def seed(session: Session) -> list[DemoLogin]:
    """Create the demo channel; returns the logins to print. Refuses a non-empty database."""
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

    customer_user = _user(
        session,
        "redwood-trading",
        "Redwood Trading",
        email="it@redwood.example.com",
        account_type=AccountType.ENTERPRISE,
    )
    customer = identity.create_organisation(
        session,
        SYSTEM,
        kind=OrganisationKind.CUSTOMER,
        account_name="redwood-trading",
        display_name="Redwood Trading",
        country_region="CN",
        main_user=customer_user,
    )
    identity.add_membership(
        session, customer_user, customer, roles=["customer"], is_main_account=True
    )
    logins.append(DemoLogin("redwood-trading", "customer", customer.display_name))

    for account, name in [("ma-xiaoyu", "Ma Xiaoyu"), ("tang-jun", "Tang Jun")]:
        _user(session, account, name, email=f"{account}@example.com")
        logins.append(DemoLogin(account, "personal account, not yet a member", "-"))

    return logins
