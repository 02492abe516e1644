"""The demo channel starts with voucher quotas and a few vouchers held by resale customers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter import demo
from partnercenter.core.clock import frozen
from partnercenter.core.security import SecretBox
from partnercenter.identity.models import Organisation
from partnercenter.vouchers.models import Voucher, VoucherQuota, VoucherStatus

NOW = dt.datetime(2026, 12, 3, 4, 30, tzinfo=dt.UTC)


def test_demo_partners_hold_quotas_and_resale_customers_hold_vouchers(
    db: Session,
) -> None:
    with frozen(NOW):
        demo.seed(db, box=SecretBox("test-secret-key-not-for-production"))
    db.flush()

    names = dict(db.execute(select(Organisation.id, Organisation.account_name)).all())
    quotas = db.scalars(select(VoucherQuota)).all()
    assert {names[q.organisation_id] for q in quotas} == {
        "jade-solutions",
        "hualian-dist",
        "xingyun-tech",
    }
    vouchers = db.scalars(select(Voucher)).all()
    assert sorted(names[v.customer_id] for v in vouchers) == [
        "orchid-design",
        "redwood-trading",
        "redwood-trading",
    ]
    assert all(v.status is VoucherStatus.ACTIVE for v in vouchers)
    jade = next(q for q in quotas if names[q.organisation_id] == "jade-solutions")
    assert jade.balance == 5000_00 - 300_00 - 120_00
