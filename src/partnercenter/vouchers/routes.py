"""Vouchers in the native API: quotas, issuing, the issued list, reclaiming, and a
customer's own vouchers.

Amounts go in as JSON numbers or strings with at most two decimals and come out as strings
with two decimals; bodies are parsed with exact decimals. Times are ISO 8601 with a zone.
An issue request answers 200 with the vouchers issued and the customers refused, each
refusal with its code (see ``docs/vouchers.md``). Every write that moves value (granting,
handing on and reclaiming a quota, issuing and reclaiming vouchers) takes an
``Idempotency-Key``, as the ledger's money writes do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from partnercenter.api.auth import ApiActor, raw_body
from partnercenter.api.errors import error_responses
from partnercenter.core.actor import Actor
from partnercenter.core.errors import FieldProblem, InvalidInput
from partnercenter.core.i18n import N_, best_locale, translator
from partnercenter.core.money import to_decimal
from partnercenter.core.settings import Settings
from partnercenter.ledger.routes import (
    IDEMPOTENCY_HEADER,
    amount_of,
    idempotent,
    parse_object,
    text_of,
)
from partnercenter.vouchers import queries, service
from partnercenter.web.context import DB, settings_of

router = APIRouter(prefix="/vouchers", tags=["vouchers"])

Body = Annotated[bytes, Depends(raw_body)]
Config = Annotated[Settings, Depends(settings_of)]
TIME_PROBLEM = N_("Enter a time in ISO 8601 with its time zone, such as %(example)s.")


# -- parsing --------------------------------------------------------------------------------


def _time(
    data: dict[str, Any], name: str, *, required: bool = False
) -> dt.datetime | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(
                problems=[FieldProblem(name, N_("This field is required."))]
            )
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            problems=[
                FieldProblem(name, TIME_PROBLEM, {"example": "2026-05-06T08:05:01Z"})
            ]
        )
    return moment.astimezone(dt.UTC)


def _strings(data: dict[str, Any], name: str, limit: int) -> list[str]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            problems=[FieldProblem(name, N_("Give a list of text values."))]
        )
    if len(value) > limit:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    name, N_("Give at most %(limit)s values."), {"limit": limit}
                )
            ]
        )
    return value


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(problems=[FieldProblem(name, N_("Enter a whole number."))])
    return value


def _query_time(value: str | None, name: str) -> dt.datetime | None:
    return _time({name: value}, name) if value else None


def _span(start: str | None, end: str | None, name: str) -> queries.Between | None:
    if not start and not end:
        return None
    return queries.Between(
        _query_time(start, f"{name}_begin"), _query_time(end, f"{name}_end")
    )


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        },
        "parameters": [IDEMPOTENCY_HEADER],
    }


ONCE = {"parameters": [IDEMPOTENCY_HEADER]}
"""The OpenAPI of a write without a body that still takes an Idempotency-Key."""


def _once(
    request: Request,
    db: Session,
    actor: Actor,
    body: bytes,
    *,
    status: int,
    answer: Callable[[], BaseModel],
) -> Response:
    """Run a write that moves quota or voucher value once per ``Idempotency-Key``, as the
    ledger's money writes are: a retry with the same key and body answers what the first
    request answered, with ``Idempotent-Replayed: true``."""
    return idempotent(
        request,
        db,
        actor,
        body,
        lambda: (status, answer().model_dump(mode="json"), None),
    )


# -- shapes ---------------------------------------------------------------------------------


class QuotaOut(BaseModel):
    quota_id: str
    partner_id: str
    parent_quota_id: str | None = Field(
        description="For a reseller's quota: the distributor's quota it came from."
    )
    status: int = Field(description="0 normal, 3 expired or reclaimed, 5 frozen.")
    state: str = Field(
        description="effective, not_yet_effective, expired, frozen or reclaimed."
    )
    currency: str
    amount: str
    balance: str
    effective_time: dt.datetime
    expire_time: dt.datetime
    min_face_value: str
    max_face_value: str
    max_vouchers: int
    issued_count: int
    service_types: list[str]
    new_customers_only: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class QuotasOut(BaseModel):
    total_count: int
    quotas: list[QuotaOut]


class VoucherOut(BaseModel):
    voucher_id: str
    partner_id: str
    customer_id: str
    quota_id: str
    status: int = Field(
        description="1 not yet effective, 2 usable, 3 used up, 4 expired, 5 reclaimed."
    )
    state: str
    currency: str
    face_value: str
    balance: str
    effective_time: dt.datetime
    expire_time: dt.datetime
    service_types: list[str]
    memo: str | None
    created_at: dt.datetime
    last_used_time: dt.datetime | None


class VouchersOut(BaseModel):
    total_count: int
    vouchers: list[VoucherOut]


class GrantQuotaIn(BaseModel):
    partner_id: str
    amount: Decimal | str
    effective_time: dt.datetime
    expire_time: dt.datetime
    min_face_value: Decimal | str
    max_face_value: Decimal | str
    max_vouchers: int
    service_types: list[str] = Field(default_factory=list, max_length=10)
    new_customers_only: bool = False
    memo: str | None = Field(default=None, max_length=256)


class ResellerGrantIn(BaseModel):
    reseller_id: str
    amount: Decimal | str
    memo: str | None = Field(default=None, max_length=256)


class IssueIn(BaseModel):
    quota_id: str
    customer_ids: list[str] = Field(min_length=1, max_length=100)
    face_value: Decimal | str = Field(description="> 0, at most two decimals.")
    valid_time: dt.datetime | None = Field(
        default=None, description="Default: the quota's effective time."
    )
    expire_time: dt.datetime | None = Field(
        default=None, description="Default: the quota's expiry time."
    )
    service_types: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="Within the quota's; empty inherits the quota's.",
    )
    memo: str | None = Field(default=None, max_length=256)
    indirect_partner_id: str | None = Field(
        default=None, description="A distributor issuing for one of its resellers."
    )


class Issued(BaseModel):
    customer_id: str
    voucher_id: str


class Refused(BaseModel):
    customer_id: str
    code: str
    message: str


class IssueOut(BaseModel):
    issued: list[Issued]
    refused: list[Refused]


class ReclaimedOut(BaseModel):
    voucher_id: str
    returned: str


class QuotaReclaimedOut(BaseModel):
    quota_id: str
    returned: str


def _money(minor: int) -> str:
    return str(to_decimal(minor))


def _quota_out(view: queries.QuotaView) -> QuotaOut:
    return QuotaOut(
        quota_id=view.quota_id,
        partner_id=view.partner_id,
        parent_quota_id=view.parent_quota_id,
        status=view.api_status,
        state=str(view.state),
        currency=view.currency,
        amount=_money(view.amount),
        balance=_money(view.balance),
        effective_time=view.effective_time,
        expire_time=view.expire_time,
        min_face_value=_money(view.min_face_value),
        max_face_value=_money(view.max_face_value),
        max_vouchers=view.max_vouchers,
        issued_count=view.issued_count,
        service_types=view.service_types,
        new_customers_only=view.new_customers_only,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def _voucher_out(view: queries.VoucherView) -> VoucherOut:
    return VoucherOut(
        voucher_id=view.voucher_id,
        partner_id=view.partner_id,
        customer_id=view.customer_id,
        quota_id=view.quota_id,
        status=view.api_status,
        state=str(view.state),
        currency=view.currency,
        face_value=_money(view.face_value),
        balance=_money(view.balance),
        effective_time=view.effective_time,
        expire_time=view.expire_time,
        service_types=view.service_types,
        memo=view.memo,
        created_at=view.created_at,
        last_used_time=view.last_used_at,
    )


STATES_BY_STATUS = {code: state for state, code in queries.VOUCHER_API_STATUS.items()}


# -- quotas ---------------------------------------------------------------------------------


@router.get(
    "/quotas",
    response_model=QuotasOut,
    responses=error_responses(),
    summary="Voucher quotas of the caller (a reseller's for its distributor; all for "
    "vendor finance)",
)
def list_quotas(
    *,
    actor: ApiActor,
    db: DB,
    quota_id: Annotated[list[str] | None, Query()] = None,
    state: Annotated[list[queries.QuotaState] | None, Query()] = None,
    partner_id: str | None = None,
    indirect_partner_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> QuotasOut:
    rows, total = queries.quotas(
        db,
        actor,
        quota_ids=quota_id,
        states=set(state) if state else None,
        partner_id=partner_id,
        offset=offset,
        limit=limit,
        indirect_partner_id=indirect_partner_id,
    )
    return QuotasOut(total_count=total, quotas=[_quota_out(row) for row in rows])


@router.post(
    "/quotas",
    status_code=201,
    response_model=QuotaOut,
    responses=error_responses(400, 404),
    openapi_extra=_documented(GrantQuotaIn),
    summary="Vendor finance grants a partner a voucher quota",
)
def grant_quota(
    request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
) -> Response:
    return _once(
        request,
        db,
        actor,
        body,
        status=201,
        answer=lambda: _grant_quota(actor, db, settings, body),
    )


def _grant_quota(
    actor: Actor, db: Session, settings: Settings, body: bytes
) -> QuotaOut:
    data = parse_object(body)
    effective = _time(data, "effective_time", required=True)
    expire = _time(data, "expire_time", required=True)
    assert effective is not None
    assert expire is not None
    terms = service.QuotaTerms(
        amount=amount_of(data, "amount"),
        effective_time=effective,
        expire_time=expire,
        min_face_value=amount_of(data, "min_face_value"),
        max_face_value=amount_of(data, "max_face_value"),
        max_vouchers=_int(data, "max_vouchers"),
        service_types=_strings(data, "service_types", service.MAX_SERVICE_TYPES),
        new_customers_only=data.get("new_customers_only") is True,
        currency=settings.currency,
        memo=text_of(data, "memo", limit=service.MEMO_LIMIT),
    )
    partner_id = text_of(data, "partner_id", required=True) or ""
    quota = service.grant_quota(db, actor, partner_id=partner_id, terms=terms)
    [view], _ = queries.quotas(db, actor, quota_ids=[quota.id])
    return _quota_out(view)


def _set_frozen(actor: Actor, db: Session, quota_id: str, *, frozen: bool) -> QuotaOut:
    service.set_quota_frozen(db, actor, quota_id, frozen=frozen)
    [view], _ = queries.quotas(db, actor, quota_ids=[quota_id])
    return _quota_out(view)


@router.post(
    "/quotas/{quota_id}/freeze",
    response_model=QuotaOut,
    responses=error_responses(404, 409),
    summary="Vendor finance freezes a quota",
)
def freeze_quota(actor: ApiActor, db: DB, quota_id: str) -> QuotaOut:
    return _set_frozen(actor, db, quota_id, frozen=True)


@router.post(
    "/quotas/{quota_id}/unfreeze",
    response_model=QuotaOut,
    responses=error_responses(404, 409),
    summary="Vendor finance unfreezes a quota",
)
def unfreeze_quota(actor: ApiActor, db: DB, quota_id: str) -> QuotaOut:
    return _set_frozen(actor, db, quota_id, frozen=False)


@router.post(
    "/quotas/{quota_id}/grants",
    status_code=201,
    response_model=QuotaOut,
    responses=error_responses(400, 404, 409),
    openapi_extra=_documented(ResellerGrantIn),
    summary="A distributor grants part of its quota to one of its resellers",
)
def grant_to_reseller(
    request: Request, actor: ApiActor, db: DB, quota_id: str, body: Body
) -> Response:
    return _once(
        request,
        db,
        actor,
        body,
        status=201,
        answer=lambda: _grant_to_reseller(actor, db, quota_id, body),
    )


def _grant_to_reseller(
    actor: Actor, db: Session, quota_id: str, body: bytes
) -> QuotaOut:
    data = parse_object(body)
    child = service.grant_to_reseller(
        db,
        actor,
        quota_id=quota_id,
        reseller_id=text_of(data, "reseller_id", required=True) or "",
        amount=amount_of(data, "amount"),
        memo=text_of(data, "memo", limit=service.MEMO_LIMIT),
    )
    [view], _ = queries.quotas(
        db, actor, quota_ids=[child.id], indirect_partner_id=child.organisation_id
    )
    return _quota_out(view)


@router.post(
    "/quotas/{quota_id}/reclaim",
    response_model=QuotaReclaimedOut,
    responses=error_responses(404, 409),
    summary="A distributor takes back the unused balance of a reseller's quota",
    openapi_extra=ONCE,
)
def reclaim_quota(
    request: Request, actor: ApiActor, db: DB, quota_id: str, body: Body
) -> Response:
    def answer() -> QuotaReclaimedOut:
        returned = service.reclaim_from_reseller(db, actor, quota_id)
        return QuotaReclaimedOut(quota_id=quota_id, returned=_money(returned))

    return _once(request, db, actor, body, status=200, answer=answer)


# -- vouchers -------------------------------------------------------------------------------


@router.post(
    "",
    response_model=IssueOut,
    responses=error_responses(400, 404),
    openapi_extra=_documented(IssueIn),
    summary="Issue vouchers from a quota to resale customers (per-customer results)",
)
def issue(
    request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
) -> Response:
    return _once(
        request,
        db,
        actor,
        body,
        status=200,
        answer=lambda: _issue(request, actor, db, settings, body),
    )


def _issue(
    request: Request, actor: Actor, db: Session, settings: Settings, body: bytes
) -> IssueOut:
    data = parse_object(body)
    customer_ids = _strings(data, "customer_ids", service.MAX_CUSTOMERS)
    outcome = service.issue(
        db,
        actor,
        quota_id=text_of(data, "quota_id", required=True) or "",
        customer_ids=customer_ids,
        face_value=amount_of(data, "face_value"),
        valid_time=_time(data, "valid_time"),
        expire_time=_time(data, "expire_time"),
        service_types=_strings(data, "service_types", service.MAX_SERVICE_TYPES),
        memo=text_of(data, "memo", limit=service.MEMO_LIMIT),
        indirect_partner_id=text_of(data, "indirect_partner_id"),
    )
    tr = translator(
        best_locale(request.headers.get("accept-language"), settings.locale)
    )
    return IssueOut(
        issued=[Issued(customer_id=c, voucher_id=v) for c, v in outcome.issued],
        refused=[
            Refused(customer_id=c, code=code, message=tr.gettext(message))
            for c, code, message in outcome.refused
        ],
    )


@router.get(
    "",
    response_model=VouchersOut,
    responses=error_responses(400),
    summary="The vouchers the caller issued (a reseller's for its distributor)",
)
def list_issued(
    *,
    actor: ApiActor,
    db: DB,
    voucher_id: str | None = None,
    customer_id: str | None = None,
    status: Annotated[int | None, Query(ge=1, le=5)] = None,
    create_time_begin: str | None = None,
    create_time_end: str | None = None,
    effective_time_begin: str | None = None,
    effective_time_end: str | None = None,
    expire_time_begin: str | None = None,
    expire_time_end: str | None = None,
    indirect_partner_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> VouchersOut:
    rows, total = queries.issued_vouchers(
        db,
        actor,
        voucher_id=voucher_id,
        customer_id=customer_id,
        state=STATES_BY_STATUS[status] if status else None,
        created=_span(create_time_begin, create_time_end, "create_time"),
        effective=_span(effective_time_begin, effective_time_end, "effective_time"),
        expire=_span(expire_time_begin, expire_time_end, "expire_time"),
        offset=offset,
        limit=limit,
        indirect_partner_id=indirect_partner_id,
    )
    return VouchersOut(total_count=total, vouchers=[_voucher_out(row) for row in rows])


@router.get(
    "/mine",
    response_model=VouchersOut,
    responses=error_responses(),
    summary="The calling customer's own vouchers",
)
def list_mine(
    actor: ApiActor,
    db: DB,
    status: Annotated[int | None, Query(ge=1, le=5)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> VouchersOut:
    rows, total = queries.customer_vouchers(
        db,
        actor,
        state=STATES_BY_STATUS[status] if status else None,
        offset=offset,
        limit=limit,
    )
    return VouchersOut(total_count=total, vouchers=[_voucher_out(row) for row in rows])


@router.post(
    "/{voucher_id}/reclaim",
    response_model=ReclaimedOut,
    responses=error_responses(404, 409),
    summary="Reclaim a voucher; what is left of it returns to its quota",
    openapi_extra=ONCE,
)
def reclaim(
    *,
    request: Request,
    actor: ApiActor,
    db: DB,
    voucher_id: str,
    body: Body,
    indirect_partner_id: str | None = None,
) -> Response:
    def answer() -> ReclaimedOut:
        returned = service.reclaim(
            db, actor, voucher_id, indirect_partner_id=indirect_partner_id
        )
        return ReclaimedOut(voucher_id=voucher_id, returned=_money(returned))

    return _once(request, db, actor, body, status=200, answer=answer)
