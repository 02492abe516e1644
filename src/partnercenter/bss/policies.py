"""BSS operation on the vendor's incentive policy catalogue."""

from __future__ import annotations

from typing import Any

from partnercenter.bss.gateway import Call, operation
from partnercenter.incentives import service as incentives

SERVICE_TYPE_LENGTH = 64


@operation(
    "ListIncentiveDiscountPolicies", "GET", "/v2/products/incentive-discount-policies"
)
def incentive_discount_policies(call: Call) -> dict[str, Any]:
    query = call.query
    month = query.month("time", required=True)
    assert month is not None
    service_type = query.text("service_type_code", max_length=SERVICE_TYPE_LENGTH)
    offset, limit = query.page()
    rows, total = incentives.policies_for_month(
        call.session,
        call.actor,
        month=month,
        service_type_code=service_type,
        offset=offset,
        limit=limit,
        locale=call.tr.locale,
    )
    return {
        "policies": [
            {
                "service_type_code": row.service_type_code,
                "service_type_name": row.service_type_name,
                "incentive_policy": row.incentive_policy,
                "allow_discount": row.allow_discount,
            }
            for row in rows
        ],
        "total_count": total,
    }
