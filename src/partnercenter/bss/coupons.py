"""BSS operations on vouchers (代金券): issuing them to resale customers from a quota,
listing those issued, and reclaiming one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from partnercenter.bss import wire
from partnercenter.bss.errors import BadParameter
from partnercenter.bss.gateway import Call, Reply, operation
from partnercenter.core.i18n import N_
from partnercenter.vouchers import errors as voucher_errors
from partnercenter.vouchers import queries, service
from partnercenter.vouchers.queries import VOUCHER_API_STATUS, Between

ID_LENGTH = 64
MEASURE_YUAN = 1
VOUCHER = 1
"""``coupon_type`` 1: a cash voucher (代金券), the only kind partners issue here."""
ISSUED_BY_PARTNER = 5
"""``fetch_method`` of a voucher a partner issued."""
ELECTRONIC = 1
"""``media_type`` 1: an electronic voucher."""

REFUSAL_CODES = {
    voucher_errors.NOT_YOUR_CUSTOMER: "CBC.99000035",
    voucher_errors.CONSULTING_CUSTOMER: "CBC.99000014",
    voucher_errors.QUOTA_NOT_EFFECTIVE: "CBC.99000017",
    voucher_errors.QUOTA_INSUFFICIENT: "CBC.99000013",
    voucher_errors.FACE_VALUE_TOO_SMALL: "CBC.99000018",
    voucher_errors.FACE_VALUE_TOO_LARGE: "CBC.99000019",
    voucher_errors.TOO_MANY_VOUCHERS: "CBC.99000020",
    voucher_errors.ONLY_NEW_CUSTOMERS: "CBC.99000022",
    voucher_errors.SERVICE_TYPES_OUTSIDE_QUOTA: "CBC.99000023",
    voucher_errors.VALIDITY_OUTSIDE_QUOTA: "CBC.99000017",
    voucher_errors.CANNOT_ISSUE_TO_SELF: "CBC.99000025",
}
"""Why one customer got no voucher → the code the original puts in ``error_details``."""
STATE_OF_STATUS = {status: state for state, status in VOUCHER_API_STATUS.items()}


@operation(
    "CreatePartnerCoupons",
    "POST",
    "/v2/promotions/benefits/partner-coupons",
    writes=True,
)
def create_partner_coupons(call: Call) -> dict[str, Any]:
    body = call.body
    quota_id = body.required_text("quota_id", max_length=ID_LENGTH)
    customer_ids = body.strings("customer_ids", required=True, maximum=100)
    face_value = body.amount("face_value")
    valid_time = body.time("valid_time")
    expire_time = body.time("expire_time")
    service_types = body.strings("cloud_service_types", maximum=10)
    if body.strings("product_ids", maximum=10):
        raise BadParameter(
            N_(
                "product_ids is not supported here; limit vouchers by "
                "cloud_service_types instead."
            )
        )
    memo = body.text("memo", max_length=256)
    outcome = service.issue(
        call.session,
        call.actor,
        quota_id=quota_id,
        customer_ids=customer_ids,
        face_value=face_value,
        valid_time=valid_time,
        expire_time=expire_time,
        service_types=service_types,
        memo=memo,
        indirect_partner_id=body.text("indirect_partner_id", max_length=ID_LENGTH),
    )
    return {
        "error_details": [
            {
                "error_code": REFUSAL_CODES.get(code, "CBC.0150"),
                "error_msg": call.tr.gettext(message),
                "id": customer_id,
            }
            for customer_id, code, message in outcome.refused
        ],
        "coupon_infos": [
            {"id": customer_id, "coupon_id": voucher_id}
            for customer_id, voucher_id in outcome.issued
        ],
    }


def _between(fields: wire.Fields, name: str) -> Between | None:
    start = fields.time(f"{name}_begin")
    end = fields.time(f"{name}_end")
    if start is None and end is None:
        return None
    return Between(start, end + dt.timedelta(seconds=1) if end else None)


@operation("ListIssuedPartnerCoupons", "GET", "/v2/promotions/benefits/partner-coupons")
def list_issued_partner_coupons(call: Call) -> dict[str, Any]:
    query = call.query
    status = query.integer("status", default=0, minimum=1, maximum=5)
    coupon_type = query.integer("coupon_type", default=VOUCHER, minimum=1, maximum=4)
    order_id = query.text("order_id", max_length=ID_LENGTH)
    offset, limit = query.page()
    voucher_id = query.text("coupon_id", max_length=ID_LENGTH)
    customer_id = query.text("customer_id", max_length=ID_LENGTH)
    created = _between(query, "create_time")
    effective = _between(query, "effective_time")
    expire = _between(query, "expire_time")
    indirect = query.text("indirect_partner_id", max_length=ID_LENGTH)

    def issued(offset: int, limit: int) -> tuple[list[queries.VoucherView], int]:
        return queries.issued_vouchers(
            call.session,
            call.actor,
            voucher_id=voucher_id,
            customer_id=customer_id,
            state=STATE_OF_STATUS[status] if status else None,
            created=created,
            effective=effective,
            expire=expire,
            offset=offset,
            limit=limit,
            indirect_partner_id=indirect,
        )

    if coupon_type != VOUCHER or order_id:
        # Partners issue only cash vouchers, and none is bound to an order: nothing
        # matches, but the caller's right to read is still checked.
        issued(0, 1)
        return {"total_count": 0, "user_coupons": []}
    rows, total = issued(offset, limit)
    return {
        "total_count": total,
        "user_coupons": [_coupon(row) for row in rows],
    }


def _coupon(row: queries.VoucherView) -> dict[str, Any]:
    return {
        "coupon_id": row.voucher_id,
        "status": row.api_status,
        "customer_id": row.customer_id,
        "coupon_type": VOUCHER,
        "measure_id": MEASURE_YUAN,
        "face_value": wire.money(row.face_value),
        "effective_time": wire.time_text(row.effective_time),
        "expire_time": wire.time_text(row.expire_time),
        "order_id": None,
        "promotion_plan_id": row.quota_id,
        "promotion_plan_name": None,
        "promotion_plan_desc": row.memo,
        "media_type": ELECTRONIC,
        "fetch_method": ISSUED_BY_PARTNER,
        "use_limits": [
            {
                "use_limiti_info_id": f"{row.voucher_id}-{index}",
                "limit_key": "cloudServiceTypeCode",
                "value1": code,
                "value2": None,
                "value_unit": None,
                "limit_type": "1",
                "promotion_plan_id": row.quota_id,
            }
            for index, code in enumerate(row.service_types, start=1)
        ],
        "active_time": wire.time_text(row.created_at),
        "last_used_time": wire.time_text(row.last_used_at),
        "promotion_id": row.quota_id,
        "create_time": wire.time_text(row.created_at),
        "balance": wire.money(row.balance),
        "lock_order_id": None,
        "is_frozen": "0",
    }


@operation(
    "ReclaimPartnerCoupons",
    "POST",
    "/v2/promotions/benefits/partner-coupons/reclaim",
    writes=True,
)
def reclaim_partner_coupons(call: Call) -> Reply:
    body = call.body
    voucher_id = body.required_text("coupon_id", max_length=ID_LENGTH)
    indirect = body.text("indirect_partner_id", max_length=100)
    if indirect == "":
        raise BadParameter(
            N_("%(field)s may not be empty."), field="indirect_partner_id"
        )
    service.reclaim(
        call.session, call.actor, voucher_id, indirect_partner_id=indirect or None
    )
    return Reply(204)
