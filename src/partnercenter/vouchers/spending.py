"""How consumption draws on a customer's vouchers before its cash."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session


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
    return []
