"""Demo vouchers: quotas for the demo partners and a few vouchers held by demo resale
customers, written through the services as the console would write them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.money import to_minor
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, User
from partnercenter.vouchers import service
from partnercenter.vouchers.models import VoucherQuota

FINANCE_LOGIN = "nimbus-finance"
EC2 = "hws.service.type.ec2"

# partner → (amount, largest face value, cloud services it is limited to)
QUOTAS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "jade-solutions": ("5000.00", "1000.00", ()),
    "hualian-dist": ("8000.00", "2000.00", ()),
}

# (distributor, reseller, amount of the distributor's quota handed on)
RESELLER_SHARES = [("hualian-dist", "xingyun-tech", "2000.00")]

# (issuing partner, customer, face value, cloud services)
VOUCHERS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("jade-solutions", "redwood-trading", "300.00", ()),
    ("jade-solutions", "redwood-trading", "120.00", (EC2,)),
    ("xingyun-tech", "orchid-design", "200.00", ()),
]


def seed(session: Session) -> None:
    """Does nothing when any quota exists."""
    if session.scalar(select(VoucherQuota.id).limit(1)) is not None:
        return
    organisations = {
        org.account_name: org for org in session.scalars(select(Organisation))
    }
    users = {user.account_name: user for user in session.scalars(select(User))}
    vendor = identity.vendor_organisation(session)
    finance = identity.actor_for(session, users[FINANCE_LOGIN], vendor.id)

    def admin(account: str) -> Actor:
        organisation = organisations[account]
        user = session.get(User, organisation.main_user_id)
        assert user is not None
        return identity.actor_for(session, user, organisation.id)

    now = utc_now()
    quota_of: dict[str, str] = {}
    for account, (amount, largest, services) in QUOTAS.items():
        quota = service.grant_quota(
            session,
            finance,
            partner_id=organisations[account].id,
            terms=service.QuotaTerms(
                amount=to_minor(amount),
                effective_time=now - dt.timedelta(days=7),
                expire_time=now + dt.timedelta(days=180),
                min_face_value=to_minor("10.00"),
                max_face_value=to_minor(largest),
                max_vouchers=200,
                service_types=services,
                memo="Spring campaign",
            ),
        )
        quota_of[account] = quota.id
    for distributor, reseller, amount in RESELLER_SHARES:
        child = service.grant_to_reseller(
            session,
            admin(distributor),
            quota_id=quota_of[distributor],
            reseller_id=organisations[reseller].id,
            amount=to_minor(amount),
        )
        quota_of[reseller] = child.id
    for account, customer, face_value, services in VOUCHERS:
        outcome = service.issue(
            session,
            admin(account),
            quota_id=quota_of[account],
            customer_ids=[organisations[customer].id],
            face_value=to_minor(face_value),
            service_types=services,
            memo="Welcome voucher",
        )
        assert not outcome.refused, outcome.refused
