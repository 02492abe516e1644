"""Demo policies: the vendor's catalogue of last month, and this month's changes to it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.billing.service import bill_cycle_of, previous_cycle
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.incentives import service
from partnercenter.incentives.models import IncentivePolicy

# (service type, policy, discounts allowed, rebate rate in percent or "")
LAST_MONTH = [
    ("hws.service.type.ec2", "0", True, "6.00"),
    ("hws.service.type.ebs", "0", True, "6.00"),
    ("hws.service.type.obs", "0", True, "5.00"),
    ("hws.service.type.rds", "1", True, "8.50"),
    ("hws.service.type.vpc", "13", False, ""),
    ("hws.service.type.eip", "13", False, ""),
    ("hws.service.type.cdn", "2", False, ""),
    ("hws.service.type.cce", "1", True, "10.00"),
    ("hws.service.type.dcs", "0", True, "5.00"),
    ("hws.service.type.elb", "0", True, "5.00"),
    ("hws.service.type.waf", "1", False, "12.00"),
]
THIS_MONTH = [
    ("hws.service.type.cdn", "13", False, ""),
    ("hws.service.type.cce", "1", True, "12.00"),
]


def seed(session: Session, actor: Actor) -> None:
    """Publish the demo policies; does nothing when any policy exists."""
    if session.scalar(select(IncentivePolicy.id).limit(1)) is not None:
        return
    this_month = bill_cycle_of(utc_now())
    for month, entries in (
        (previous_cycle(this_month), LAST_MONTH),
        (this_month, THIS_MONTH),
    ):
        service.save_month(
            session,
            actor,
            month=month,
            entries=[
                service.PolicyInput(code, policy, discount, rate)
                for code, policy, discount, rate in entries
            ],
        )
