"""The demo starts with bills of this month and the last, and a policy catalogue."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter import demo
from partnercenter.billing import queries
from partnercenter.billing.models import UsageLine
from partnercenter.core.actor import Actor
from partnercenter.core.clock import frozen
from partnercenter.core.security import SecretBox
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, User
from partnercenter.incentives import service as incentives

NOW = dt.datetime(2026, 12, 3, 4, 30, tzinfo=dt.UTC)


def admin_of(db: Session, account_name: str) -> Actor:
    organisation = db.scalars(
        select(Organisation).where(Organisation.account_name == account_name)
    ).one()
    admin = db.get(User, organisation.main_user_id)
    assert admin is not None
    return identity.actor_for(db, admin, organisation.id)


def test_the_demo_has_bills_in_two_months_and_policies(db: Session) -> None:
    with frozen(NOW):
        demo.seed(db, box=SecretBox("test-secret-key-not-for-production"))
    db.flush()
    lines = db.scalars(select(UsageLine)).all()
    partner = admin_of(db, "jade-solutions")

    assert {line.bill_cycle for line in lines} == {"2026-11", "2026-12"}
    assert all(line.service_type_code for line in lines)
    assert {line.charge_mode.value for line in lines} == {"1", "3", "11"}
    rows, count = queries.monthly_bills(db, partner, cycle="2026-11", charge_mode=None)
    assert count > 0
    assert all(row.amount for row in rows)
    november, _ = incentives.policies_for_month(db, partner, month="2026-11", limit=100)
    december, _ = incentives.policies_for_month(db, partner, month="2026-12", limit=100)
    assert len(november) == len(december) == 11
    changed = {p.service_type_code for p in december if p.effective_month == "2026-12"}
    assert changed == {"hws.service.type.cdn", "hws.service.type.cce"}
