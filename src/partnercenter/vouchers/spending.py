"""How consumption draws on a customer's vouchers before its cash.

A charge is paid first by the customer's usable vouchers, earliest expiry first (then by
voucher id), and the rest in cash. A voucher is usable for a charge when it is active, in
effect at the charge's time, has a balance, is in the charge's currency and allows the
charge's cloud service type (a voucher limited to service types pays nothing for a charge
without one). Each voucher records what it paid of each charge once: a charge id seen
before answers the draws it made then, without drawing again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.clock import utc_now
from partnercenter.vouchers.models import Voucher, VoucherDraw, VoucherStatus


@dataclass(frozen=True, slots=True)
class VoucherUse:
    """Part of one charge paid by one voucher, in minor units."""

    voucher_id: str
    amount: int


def cover(
    session: Session,
    *,
    customer_id: str,
    charge_id: str,
    amount: int,
    currency: str,
    service_type_code: str | None,
    at: dt.datetime,
) -> list[VoucherUse]:
    """The vouchers that pay for (part of) a charge; the rest is paid in cash.

    The caller has already locked the customer's ledger accounts. The sum of the uses is
    at most ``amount``.
    """
    if amount <= 0:
        return []
    earlier = session.scalars(
        select(VoucherDraw)
        .where(
            VoucherDraw.customer_id == customer_id, VoucherDraw.charge_id == charge_id
        )
        .order_by(VoucherDraw.id)
    ).all()
    if earlier:
        return [VoucherUse(draw.voucher_id, draw.amount) for draw in earlier]

    # Locked in the one order of voucher rows (expiry, then id), after the caller's
    # ledger accounts and before any quota.
    candidates = session.scalars(
        select(Voucher)
        .where(
            Voucher.customer_id == customer_id,
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.currency == currency,
            Voucher.balance > 0,
            Voucher.effective_time <= at,
            Voucher.expire_time > at,
        )
        .order_by(Voucher.expire_time, Voucher.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()

    now = utc_now()
    uses: list[VoucherUse] = []
    left = amount
    for voucher in candidates:
        if left == 0:
            break
        if voucher.service_types and service_type_code not in voucher.service_types:
            continue
        drawn = min(voucher.balance, left)
        voucher.balance -= drawn
        voucher.last_used_at = now
        if voucher.balance == 0:
            voucher.status = VoucherStatus.USED_UP
            voucher.ended_at = now
        session.add(
            VoucherDraw(
                voucher_id=voucher.id,
                customer_id=customer_id,
                charge_id=charge_id,
                amount=drawn,
                service_type_code=service_type_code,
                created_at=now,
            )
        )
        uses.append(VoucherUse(voucher.id, drawn))
        left -= drawn
    session.flush()
    return uses
