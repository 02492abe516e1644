"""BSS operation on the monthly bills of a partner's resale customers."""

from __future__ import annotations

from typing import Any

from partnercenter.billing import queries
from partnercenter.bss import wire
from partnercenter.bss.gateway import Call, operation

ID_LENGTH = 64
MEASURE_YUAN = 1
CHARGE_MODES = ("1", "3", "11")
"""1 yearly/monthly, 3 on demand, 11 savings plan."""
BILL_TYPES = ("0", "1", "2")
"""0 consumption, 1 unsubscription (refund), 2 write-off."""


@operation(
    "ListSubcustomerMonthlyBills",
    "GET",
    "/v2/bills/partner-bills/subcustomer-bills/monthly-sum",
)
def subcustomer_monthly_bills(call: Call) -> dict[str, Any]:
    query = call.query
    cycle = query.month("cycle", required=True)
    assert cycle is not None
    charge_mode = query.required_text("charge_mode", choices=CHARGE_MODES)
    customer_id = query.text("customer_id", max_length=ID_LENGTH)
    service_type = query.text("cloud_service_type", max_length=ID_LENGTH)
    bill_type = query.text("bill_type", choices=BILL_TYPES)
    indirect = query.text("indirect_partner_id", max_length=ID_LENGTH)
    offset, limit = query.page(max_limit=1000)
    rows, total = queries.monthly_bills(
        call.session,
        call.actor,
        cycle=cycle,
        charge_mode=charge_mode,
        customer_id=customer_id,
        cloud_service_type=service_type,
        bill_type=bill_type,
        offset=offset,
        limit=limit,
        indirect_partner_id=indirect,
        locale=call.tr.locale,
    )
    return {
        "bill_sums": [_bill(row) for row in rows],
        "count": total,
        "currency": rows[0].currency if rows else call.settings.currency,
    }


def _bill(row: queries.MonthlyBill) -> dict[str, Any]:
    return {
        "customer_id": row.customer_id,
        "cloud_service_type": row.cloud_service_type,
        "cloud_service_type_name": row.cloud_service_type_name,
        "bill_type": row.bill_type,
        "charge_mode": row.charge_mode,
        "amount": wire.money(row.amount),
        "debt_amount": wire.money(row.debt_amount),
        "adjustment_amount": wire.money(row.adjustment_amount),
        "discount_amount": wire.money(row.discount_amount),
        "measure_id": MEASURE_YUAN,
        "account_details": [
            {
                "balance_type": detail.balance_type,
                "amount": wire.money(detail.amount),
                "bill_type": detail.bill_type,
            }
            for detail in row.account_details
        ],
        "resource_type_code": row.resource_type_code,
        "resource_type_name": row.resource_type_name,
    }
