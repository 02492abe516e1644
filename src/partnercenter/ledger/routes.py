"""The ledger in the native API: balances, allocations and reclaims, batches, consumption,
vendor finance and withdrawals.

Amounts go in as JSON numbers or strings with at most two decimals (``100.5``, ``"100.50"``)
and come out as strings with two decimals. Request bodies are parsed here with exact
decimals (a JSON number never passes through a float). Every money write needs an
``Idempotency-Key`` header; a retry with the same key answers what the first request
answered, with ``Idempotent-Replayed: true``.

Allocations and reclaims are the hot path: on PostgreSQL they are one call of the ledger's
database function, on a connection of their own, after a signature check whose key lookup
is cached (the function itself refuses a key revoked since).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.api.auth import ApiActor, raw_body
from partnercenter.api.errors import error_responses
from partnercenter.billing.models import BillType, ChargeMode
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import (
    FieldProblem,
    InvalidInput,
    unstorable_text,
)
from partnercenter.core.i18n import N_
from partnercenter.core.money import (
    AmountError,
    format_minor,
    parse_amount,
    to_decimal,
    to_minor,
    truncate_to_minor,
)
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import (
    batches,
    fastpath,
    idempotency,
    posting,
    service,
    withdrawals,
)
from partnercenter.ledger.errors import BatchTooLarge, NoSuchTransfer
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Batch,
    BatchItemStatus,
    Entry,
    Transfer,
    TransferKind,
    Withdrawal,
    WithdrawalMethod,
    WithdrawalStatus,
)
from partnercenter.web.context import DB, settings_of

router = APIRouter(prefix="/ledger", tags=["ledger"])

Body = Annotated[bytes, Depends(raw_body)]
Config = Annotated[Settings, Depends(settings_of)]
REPLAYED = "Idempotent-Replayed"
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "1-128 visible ASCII characters; a retry with the same key and body "
    "returns the first result.",
    "schema": {"type": "string", "maxLength": 128},
}


# -- request parsing -------------------------------------------------------------------------


def parse_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}", parse_float=Decimal)
    except ValueError:
        raise InvalidInput(N_("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise InvalidInput(N_("The request body must be a JSON object."))
    refusal = unstorable_text(body, data)
    if refusal is not None:
        raise InvalidInput(refusal)
    return data


AMOUNT_PROBLEM = N_("Enter an amount greater than 0 with at most two decimals.")


def amount_of(
    data: dict[str, Any], field: str = "amount", *, zero: bool = False
) -> int:
    try:
        value: Any = data.get(field)
        minor = to_minor(value)
    except AmountError:
        raise InvalidInput(problems=[FieldProblem(field, AMOUNT_PROBLEM)]) from None
    if minor < 0 or (minor == 0 and not zero) or minor > service.MAX_AMOUNT:
        raise InvalidInput(problems=[FieldProblem(field, AMOUNT_PROBLEM)])
    return minor


def text_of(
    data: dict[str, Any], field: str, *, required: bool = False, limit: int = 64
) -> str | None:
    value = data.get(field)
    if value is None or value == "":
        if required:
            raise InvalidInput(
                problems=[FieldProblem(field, N_("This field is required."))]
            )
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    field,
                    N_("Enter text of at most %(limit)s characters."),
                    {"limit": limit},
                )
            ]
        )
    return value.strip() or None


# -- shapes (documented; requests are parsed by hand as above) -------------------------------


class TransferIn(BaseModel):
    customer_id: str = Field(max_length=64)
    amount: Decimal | str = Field(
        description="> 0, at most two decimals.", examples=["100.50"]
    )
    indirect_partner_id: str | None = Field(
        default=None,
        description="A distributor acting on a reseller's customer: the reseller, "
        "whose balance is used.",
    )
    reason: str | None = Field(default=None, max_length=500)


class TransferOut(BaseModel):
    transfer_id: str = Field(examples=["AD2612031530057f3a91c2d4"])
    kind: TransferKind
    amount: str = Field(examples=["100.50"])
    currency: str
    partner_id: str | None
    counterparty_id: str | None
    partner_balance_after: str | None = Field(
        description="The partner's balance right after the transfer."
    )
    created_at: dt.datetime


def _inlined(schema: Any, definitions: dict[str, Any]) -> Any:
    """``schema`` with each ``#/$defs/…`` reference replaced by its definition, so the
    schema stands on its own inside the OpenAPI document."""
    if isinstance(schema, dict):
        reference = schema.get("$ref", "")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inlined(
                definitions[reference.removeprefix("#/$defs/")], definitions
            )
        return {k: _inlined(v, definitions) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    return schema


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _inlined(schema, schema.get("$defs", {}))
                }
            },
        },
        "parameters": [IDEMPOTENCY_HEADER],
    }


def transfer_json(
    transfer_id: str,
    kind: str,
    amount: int,
    currency: str,
    *,
    partner_id: str | None,
    counterparty_id: str | None,
    balance_after: int | None,
    created_at: dt.datetime,
) -> dict[str, Any]:
    return {
        "transfer_id": transfer_id,
        "kind": kind,
        "amount": str(to_decimal(amount)),
        "currency": currency,
        "partner_id": partner_id,
        "counterparty_id": counterparty_id,
        "partner_balance_after": (
            None if balance_after is None else str(to_decimal(balance_after))
        ),
        "created_at": created_at.isoformat(),
    }


def stored_transfer(session: Session, transfer_id: str) -> dict[str, Any]:
    """The answer of a transfer, rebuilt from its rows (how a retry is answered)."""
    transfer = session.get(Transfer, transfer_id)
    if transfer is None:
        raise NoSuchTransfer()
    partner_balance = session.scalar(
        select(Entry.balance_after)
        .join(Account, Account.id == Entry.account_id)
        .where(*posting.entries_of(transfer))
        .where(
            Account.organisation_id == transfer.organisation_id,
            Account.kind == AccountKind.PARTNER_CASH,
        )
    )
    return transfer_json(
        transfer.id,
        transfer.kind.value,
        transfer.amount,
        transfer.currency,
        partner_id=transfer.organisation_id,
        counterparty_id=transfer.counterparty_id,
        balance_after=partner_balance,
        created_at=transfer.created_at,
    )


def _answer(
    payload: dict[str, Any] | list[Any], status: int, *, replayed: bool
) -> Response:
    response = JSONResponse(payload, status_code=status)
    if replayed:
        response.headers[REPLAYED] = "true"
    return response


def idempotent(
    request: Request,
    db: Session,
    actor: Actor,
    body: bytes,
    work: Callable[[], tuple[int, dict[str, Any], str | None]],
) -> Response:
    """Run ``work`` once per Idempotency-Key; it returns (status, payload, transfer id)."""
    key = idempotency.key_of(request)
    fingerprint = idempotency.request_hash(request.method, request.url.path, body)
    found = idempotency.claim(db, actor.organisation_id, key, fingerprint)
    if found is not None:
        if found.response is None and found.transfer_id:
            return _answer(
                stored_transfer(db, found.transfer_id), found.status_code, replayed=True
            )
        return _answer(
            json.loads(found.response or "{}"), found.status_code, replayed=True
        )
    status, payload, transfer_id = work()
    idempotency.settle(
        db,
        actor.organisation_id,
        key,
        status_code=status,
        response=json.dumps(payload),
        transfer_id=transfer_id,
    )
    return _answer(payload, status, replayed=False)


# -- balances --------------------------------------------------------------------------------


class PartnerBalancesOut(BaseModel):
    partner_id: str
    currency: str
    cash: str = Field(
        description="The balance after allocations; below 0 when credit is used."
    )
    credit_limit: str
    credit_used: str
    designated: str
    allocatable: str = Field(description="cash + unused credit - designated.")
    withdrawable: str
    held: str = Field(description="Asked to be withdrawn, not yet paid or rejected.")


class CustomerBalancesOut(BaseModel):
    customer_id: str
    currency: str
    allocated: str = Field(description="Allocated by the partner and not spent.")
    cash: str = Field(description="The customer's own money.")
    resale: bool
    debt: str = Field(description="What the customer owes now (arrears).")


def _partner_balances_out(
    partner_id: str, b: service.PartnerBalances
) -> PartnerBalancesOut:
    return PartnerBalancesOut(
        partner_id=partner_id,
        currency=b.currency,
        cash=str(to_decimal(b.cash)),
        credit_limit=str(to_decimal(b.credit_limit)),
        credit_used=str(to_decimal(b.credit_used)),
        designated=str(to_decimal(b.designated)),
        allocatable=str(to_decimal(b.allocatable)),
        withdrawable=str(to_decimal(b.withdrawable)),
        held=str(to_decimal(b.held)),
    )


@router.get(
    "/balances",
    response_model=PartnerBalancesOut,
    responses=error_responses(),
    summary="The calling partner's balances (or a reseller's, for its distributor)",
)
def partner_balances(
    actor: ApiActor, db: DB, settings: Config, indirect_partner_id: str | None = None
) -> PartnerBalancesOut:
    identity.authorize(actor, Permission.FUNDS_VIEW)
    partner_id = service.funding_partner(db, actor, indirect_partner_id)
    return _partner_balances_out(
        partner_id, service.partner_balances(db, partner_id, settings.currency)
    )


@router.get(
    "/customer-balances",
    response_model=CustomerBalancesOut,
    responses=error_responses(),
    summary="The calling customer's own balances",
)
def customer_balances(actor: ApiActor, db: DB, settings: Config) -> CustomerBalancesOut:
    identity.authorize(actor, Permission.CUSTOMER_SELF)
    b = service.customer_balances(db, actor.organisation_id, settings.currency)
    return CustomerBalancesOut(
        customer_id=actor.organisation_id,
        currency=b.currency,
        allocated=str(to_decimal(b.allocated)),
        cash=str(to_decimal(b.cash)),
        resale=b.resale,
        debt=str(to_decimal(b.debt)),
    )


# -- allocations and reclaims (the hot path) -------------------------------------------------


def _customer_transfer(kind: TransferKind) -> Callable[..., Response]:
    def endpoint(request: Request, body: Body) -> Response:
        return fastpath.through_session(request, body, kind)

    return endpoint


for _path, _kind, _summary in (
    ("/allocations", TransferKind.ALLOCATE, "Allocate to a resale customer (拨款)"),
    ("/reclaims", TransferKind.RECLAIM, "Reclaim from a resale customer (回收)"),
):
    router.add_api_route(
        _path,
        _customer_transfer(_kind),
        methods=["POST"],
        status_code=201,
        summary=_summary,
        response_model=None,
        responses={
            201: {
                "model": TransferOut,
                "description": "The transfer made (or replayed).",
            },
            **error_responses(400, 409),
        },
        openapi_extra=_documented(TransferIn),
        name=f"ledger_{_kind.value}",
    )


# -- distributors and resellers --------------------------------------------------------------


class ResellerTransferIn(BaseModel):
    reseller_id: str
    amount: Decimal | str
    reason: str | None = None


def _reseller_endpoint(kind: TransferKind) -> Callable[..., Response]:
    move = (
        service.allocate_to_reseller
        if kind is TransferKind.INDIRECT_ALLOCATE
        else service.reclaim_from_reseller
    )

    def endpoint(
        request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
    ) -> Response:
        data = parse_object(body)

        def work() -> tuple[int, dict[str, Any], str | None]:
            result = move(
                db,
                actor,
                reseller_id=text_of(data, "reseller_id", required=True) or "",
                amount=amount_of(data),
                reason=text_of(data, "reason", limit=500),
                currency=settings.currency,
            )
            return 201, result_json(result), result.transfer_id

        return idempotent(request, db, actor, body, work)

    return endpoint


def result_json(result: service.TransferResult) -> dict[str, Any]:
    return transfer_json(
        result.transfer_id,
        result.kind.value,
        result.amount,
        result.currency,
        partner_id=result.partner_id,
        counterparty_id=result.counterparty_id,
        balance_after=result.partner_balance_after,
        created_at=result.created_at,
    )


for _path, _kind, _summary in (
    ("/reseller-allocations", TransferKind.INDIRECT_ALLOCATE, "Fund a reseller"),
    ("/reseller-reclaims", TransferKind.INDIRECT_RECLAIM, "Reclaim from a reseller"),
):
    router.add_api_route(
        _path,
        _reseller_endpoint(_kind),
        methods=["POST"],
        status_code=201,
        summary=_summary,
        response_model=None,
        responses={201: {"model": TransferOut}, **error_responses(400, 409)},
        openapi_extra=_documented(ResellerTransferIn),
        name=f"ledger_{_kind.value}",
    )


# -- batches ---------------------------------------------------------------------------------


class BatchItemIn(BaseModel):
    customer_id: str
    amount: Decimal | str


class BatchIn(BaseModel):
    kind: str = Field(default="allocate", description="allocate or reclaim")
    items: list[BatchItemIn] = Field(max_length=batches.MAX_ITEMS)
    indirect_partner_id: str | None = None
    reason: str | None = None


class BatchItemOut(BaseModel):
    position: int
    customer_id: str
    amount: str
    status: BatchItemStatus
    transfer_id: str | None
    error: str | None


class BatchOut(BaseModel):
    batch_id: str
    kind: TransferKind
    status: str
    item_count: int
    done_count: int
    refused_count: int
    done_amount: str
    items: list[BatchItemOut]


def _batch_head(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.id,
        "kind": batch.kind.value,
        "status": batch.status.value,
        "item_count": batch.item_count,
        "done_count": batch.done_count,
        "refused_count": batch.refused_count,
        "done_amount": str(to_decimal(batch.done_amount)),
    }


def _text_or_null(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _batch_answer(
    db: Session, batch_id: str, as_run: list[batches.ItemRow] | None = None
) -> bytes:
    """A batch and its items (:class:`BatchOut`) as JSON text, written item by item: for
    ten thousand items, building their objects and encoding them took longer than the
    rest of the answer. ``as_run``, the items of a batch just run whole, spares reading
    them back."""
    batch = db.get(Batch, batch_id, populate_existing=True)
    assert batch is not None
    items = batches.item_rows(db, batch_id) if as_run is None else as_run
    amounts: dict[int, str] = {}
    statuses = {status: encode_basestring(status.value) for status in BatchItemStatus}
    written = []
    for position, customer_id, amount, status, transfer_id, error in items:
        text = amounts.get(amount)
        if text is None:
            text = amounts[amount] = encode_basestring(format_minor(amount))
        written.append(
            f'{{"position":{position:d},"customer_id":{encode_basestring(customer_id)},'
            f'"amount":{text},"status":{statuses[status]},'
            f'"transfer_id":{_text_or_null(transfer_id)},"error":{_text_or_null(error)}}}'
        )
    head = json.dumps(_batch_head(batch), ensure_ascii=False, separators=(",", ":"))
    return f'{head[:-1]},"items":[{",".join(written)}]}}'.encode()


def _batch_items(data: dict[str, Any]) -> list[tuple[str, int]]:
    raw = data.get("items")
    if not isinstance(raw, list) or not 1 <= len(raw) <= batches.MAX_ITEMS:
        raise BatchTooLarge(limit=batches.MAX_ITEMS)
    items: list[tuple[str, int]] = []
    # A batch's amounts are mostly a few values written the same way: each spelling is
    # read once (by its type and text, so that 1.0 and 1.000 stay apart).
    read: dict[tuple[type, str], int] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise InvalidInput(
                N_("Each item is an object with customer_id and amount.")
            )
        customer_id = entry.get("customer_id")
        raw_amount: Any = entry.get("amount")
        spelling = (type(raw_amount), str(raw_amount))
        amount = read.get(spelling)
        if amount is None:
            try:
                amount = to_minor(raw_amount)
            except AmountError:
                amount = 0
            read[spelling] = amount
        items.append((customer_id if isinstance(customer_id, str) else "", amount))
    return items


@router.post(
    "/allocation-batches",
    status_code=201,
    response_model=None,
    responses={201: {"model": BatchOut}, **error_responses(400, 409)},
    openapi_extra=_documented(BatchIn),
    summary="Allocate to (or reclaim from) up to 10,000 customers, with a result per item",
)
def create_batch(
    request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
) -> Response:
    data = parse_object(body)
    kind_text = data.get("kind", "allocate")
    if kind_text not in {"allocate", "reclaim"}:
        raise InvalidInput(
            problems=[FieldProblem("kind", N_("Choose allocate or reclaim."))]
        )
    items = _batch_items(data)
    factory = request.app.state.session_factory

    def work() -> tuple[int, dict[str, Any], str | None]:
        batch = batches.create(
            db,
            actor,
            kind=TransferKind(kind_text),
            items=items,
            indirect_partner_id=text_of(data, "indirect_partner_id"),
            reason=text_of(data, "reason", limit=500),
            currency=settings.currency,
        )
        return 201, {"batch_id": batch.id}, None

    claimed = idempotent(request, db, actor, body, work)
    batch_id = json.loads(bytes(claimed.body))["batch_id"]
    # The batch and its key commit first; then it runs chunk by chunk, each committed, so
    # a retry after a crash finds the batch and the worker finishes what is left.
    db.commit()
    ran = batches.run(factory, batch_id, streams=settings.batch_streams)
    answer = _batch_answer(db, batch_id, batches.items_as_run(items, ran))
    db.commit()
    response = Response(answer, status_code=201, media_type="application/json")
    if REPLAYED in claimed.headers:
        response.headers[REPLAYED] = "true"
    return response


@router.get(
    "/allocation-batches/{batch_id}",
    response_model=BatchOut,
    responses=error_responses(404),
    summary="A batch's progress and per-item results",
)
def get_batch(actor: ApiActor, db: DB, batch_id: str) -> Response:
    batches.get(db, actor, batch_id)
    return Response(_batch_answer(db, batch_id), media_type="application/json")


# -- consumption -----------------------------------------------------------------------------


class ChargeIn(BaseModel):
    charge_id: str = Field(
        max_length=64, description="Unique per charge: a retry is a duplicate."
    )
    customer_id: str
    amount: Decimal | str = Field(
        description="> 0; up to eight decimals, truncated to the cent when deducted."
    )
    refund: bool = Field(
        default=False,
        description="Money back to the customer (bill type 1 or 2); refunds go back to "
        "cash in full, never to vouchers. Default: what bill_type says.",
    )
    service_type_code: str | None = Field(
        default=None,
        max_length=64,
        description="A code of the service catalogue, such as hws.service.type.ec2.",
    )
    resource_type_code: str | None = Field(
        default=None,
        max_length=64,
        description="A code of the resource catalogue, of the charge's service type.",
    )
    charge_mode: Literal["1", "3", "11"] = Field(
        default="3", description="1 yearly/monthly, 3 on demand, 11 savings plan."
    )
    bill_type: Literal["0", "1", "2"] | None = Field(
        default=None,
        description="0 consumption, 1 unsubscription, 2 write-off (1 and 2 are refunds). "
        "Default: 0, or 1 with refund.",
    )
    occurred_at: dt.datetime | None = Field(
        default=None,
        description="When the usage happened, ISO 8601 with a time zone, at most 15 "
        "minutes after the server's clock; its month in Asia/Shanghai is the bill cycle. "
        "Default: when posted.",
    )


class ChargesIn(BaseModel):
    charges: list[ChargeIn] = Field(max_length=10_000)


class ChargeResultOut(BaseModel):
    charge_id: str
    status: str = Field(description="posted, duplicate or refused")
    transfer_id: str | None = Field(
        description="The cash part's transfer; null when vouchers paid it all."
    )
    error: str | None
    voucher_amount: str = Field(
        description="Paid by vouchers now (0.00 if not posted)."
    )
    cash_amount: str = Field(description="Paid in cash now (0.00 if not posted).")


class ChargesOut(BaseModel):
    results: list[ChargeResultOut]


def _charge_amount(value: object) -> int:
    try:
        return truncate_to_minor(parse_amount(value))
    except AmountError:
        return 0


CODE_PROBLEM = N_("Enter a code of at most 64 characters.")


def _charge_of(
    entry: dict[str, Any], place: int, problems: list[FieldProblem]
) -> service.Charge:
    """A charge of the request, its problems added to ``problems`` under its place."""
    prefix = f"charges[{place}]."

    def code(field: str) -> str | None:
        value = entry.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or len(value) > 64:
            problems.append(FieldProblem(prefix + field, CODE_PROBLEM))
            return None
        return value.strip() or None

    charge_mode = ChargeMode.ON_DEMAND
    raw_mode = entry.get("charge_mode")
    if raw_mode is not None:
        try:
            charge_mode = ChargeMode(str(raw_mode))
        except ValueError:
            problems.append(
                FieldProblem(
                    prefix + "charge_mode",
                    N_("Enter 1 (yearly/monthly), 3 (on demand) or 11 (savings plan)."),
                )
            )
    bill_type = None
    raw_bill_type = entry.get("bill_type")
    if raw_bill_type is not None:
        try:
            bill_type = BillType(str(raw_bill_type))
        except ValueError:
            problems.append(
                FieldProblem(
                    prefix + "bill_type",
                    N_("Enter 0 (consumption), 1 (unsubscription) or 2 (write-off)."),
                )
            )
    # A bill type alone says whether it is a refund; given both, they must agree.
    refund = entry.get("refund", bill_type is not None and bill_type.is_refund)
    if not isinstance(refund, bool):
        problems.append(FieldProblem(prefix + "refund", N_("Enter true or false.")))
        refund = False
    return service.Charge(
        charge_id=entry["charge_id"][:64],
        customer_id=str(entry.get("customer_id") or ""),
        amount=_charge_amount(entry.get("amount")),
        refund=refund,
        service_type_code=code("service_type_code"),
        resource_type_code=code("resource_type_code"),
        charge_mode=charge_mode,
        bill_type=bill_type,
        occurred_at=_occurred_at(entry.get("occurred_at"), prefix, problems),
    )


CLOCK_TOLERANCE = dt.timedelta(minutes=15)
"""How far ahead of this server's clock a charge's ``occurred_at`` may be: the billing
system's clock may run a little ahead, a charge from the future cannot be real."""


def _occurred_at(
    value: object, prefix: str, problems: list[FieldProblem]
) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        problems.append(
            FieldProblem(
                prefix + "occurred_at",
                N_("Enter a time in ISO 8601 with its time zone, such as %(example)s."),
                {"example": "2026-01-31T17:00:00Z"},
            )
        )
        return None
    if moment > utc_now() + CLOCK_TOLERANCE:
        problems.append(
            FieldProblem(
                prefix + "occurred_at",
                N_(
                    "A charge cannot have happened later than now; a difference of "
                    "up to %(minutes)s minutes between clocks is allowed."
                ),
                {"minutes": CLOCK_TOLERANCE // dt.timedelta(minutes=1)},
            )
        )
        return None
    return moment.astimezone(dt.UTC)


@router.post(
    "/charges",
    response_model=None,
    responses={200: {"model": ChargesOut}, **error_responses(400)},
    openapi_extra=_documented(ChargesIn),
    summary="Usage charges (or refunds) from the vendor's billing, idempotent per charge id",
    description="Vouchers pay a consumption first; the rest is paid in cash, into "
    "arrears if need be. Every charge is kept as a usage line for the monthly bills. "
    "Any problem with the details refuses the whole request, each problem named by its "
    "place (charges[3].bill_type), and nothing is written.",
)
def post_charges(
    request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
) -> Response:
    data = parse_object(body)
    raw = data.get("charges")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 10_000:
        raise InvalidInput(
            problems=[FieldProblem("charges", N_("Send 1 to 10,000 charges."))]
        )
    charges = []
    problems: list[FieldProblem] = []
    for place, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("charge_id"), str):
            raise InvalidInput(
                N_("Each charge has a charge_id, customer_id and amount.")
            )
        charges.append(_charge_of(entry, place, problems))
    if problems:
        raise InvalidInput(problems=problems)

    def work() -> tuple[int, dict[str, Any], str | None]:
        results = service.post_charges(db, actor, charges, currency=settings.currency)
        return (
            200,
            {
                "results": [
                    {
                        "charge_id": r.charge_id,
                        "status": r.status,
                        "transfer_id": r.transfer_id,
                        "error": r.error,
                        "voucher_amount": str(to_decimal(r.voucher_amount)),
                        "cash_amount": str(to_decimal(r.cash_amount)),
                    }
                    for r in results
                ]
            },
            None,
        )

    return idempotent(request, db, actor, body, work)


# -- vendor finance --------------------------------------------------------------------------


class TopupIn(BaseModel):
    partner_id: str
    amount: Decimal | str
    reference: str | None = Field(
        default=None, description="The remittance's reference."
    )
    reason: str | None = None


class RechargeIn(BaseModel):
    customer_id: str
    amount: Decimal | str
    reference: str | None = None


class FigureIn(BaseModel):
    amount: Decimal | str = Field(description="0 or more, two decimals.")
    reason: str | None = None


class CorrectionIn(BaseModel):
    transfer_id: str
    amount: Decimal | str
    reason: str


@router.post(
    "/topups",
    status_code=201,
    response_model=None,
    responses={201: {"model": TransferOut}, **error_responses(400, 409)},
    openapi_extra=_documented(TopupIn),
    summary="Record a partner's remittance (vendor finance)",
)
def record_topup(
    request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
) -> Response:
    data = parse_object(body)

    def work() -> tuple[int, dict[str, Any], str | None]:
        result = service.record_topup(
            db,
            actor,
            partner_id=text_of(data, "partner_id", required=True) or "",
            amount=amount_of(data),
            reference=text_of(data, "reference"),
            reason=text_of(data, "reason", limit=500),
            currency=settings.currency,
        )
        return 201, result_json(result), result.transfer_id

    return idempotent(request, db, actor, body, work)


@router.post(
    "/recharges",
    status_code=201,
    response_model=None,
    responses={201: {"model": TransferOut}, **error_responses(400, 409)},
    openapi_extra=_documented(RechargeIn),
    summary="Record a customer's own payment (vendor finance)",
)
def record_recharge(
    request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
) -> Response:
    data = parse_object(body)

    def work() -> tuple[int, dict[str, Any], str | None]:
        result = service.record_recharge(
            db,
            actor,
            customer_id=text_of(data, "customer_id", required=True) or "",
            amount=amount_of(data),
            reference=text_of(data, "reference"),
            currency=settings.currency,
        )
        return 201, result_json(result), result.transfer_id

    return idempotent(request, db, actor, body, work)


@router.post(
    "/corrections",
    status_code=201,
    response_model=None,
    responses={201: {"model": TransferOut}, **error_responses(400, 404, 409)},
    openapi_extra=_documented(CorrectionIn),
    summary="Reverse part or all of a top-up or recharge (vendor finance)",
)
def correct(request: Request, actor: ApiActor, db: DB, body: Body) -> Response:
    data = parse_object(body)

    def work() -> tuple[int, dict[str, Any], str | None]:
        result = service.correct(
            db,
            actor,
            transfer_id=text_of(data, "transfer_id", required=True, limit=32) or "",
            amount=amount_of(data),
            reason=text_of(data, "reason", required=True, limit=500) or "",
        )
        return 201, result_json(result), result.transfer_id

    return idempotent(request, db, actor, body, work)


def _figure_endpoint(setter: Callable[..., Any]) -> Callable[..., Response]:
    def endpoint(
        request: Request,
        *,
        actor: ApiActor,
        db: DB,
        settings: Config,
        body: Body,
        partner_id: str,
    ) -> Response:
        data = parse_object(body)

        def work() -> tuple[int, dict[str, Any], str | None]:
            setter(
                db,
                actor,
                partner_id=partner_id,
                amount=amount_of(data, zero=True),
                reason=text_of(data, "reason", limit=500),
                currency=settings.currency,
            )
            balances = service.partner_balances(db, partner_id, settings.currency)
            return 200, _partner_balances_out(partner_id, balances).model_dump(), None

        return idempotent(request, db, actor, body, work)

    return endpoint


for _path, _setter, _summary in (
    (
        "/partners/{partner_id}/credit-line",
        service.set_credit_limit,
        "Set a credit line",
    ),
    (
        "/partners/{partner_id}/designated",
        service.set_designated,
        "Set the designated amount",
    ),
):
    router.add_api_route(
        _path,
        _figure_endpoint(_setter),
        methods=["PUT"],
        summary=f"{_summary} (vendor finance)",
        response_model=None,
        responses={200: {"model": PartnerBalancesOut}, **error_responses(400, 409)},
        openapi_extra=_documented(FigureIn),
    )


@router.get(
    "/partners/{partner_id}/balances",
    response_model=PartnerBalancesOut,
    responses=error_responses(),
    summary="A partner's balances (vendor finance)",
)
def vendor_partner_balances(
    actor: ApiActor, db: DB, settings: Config, partner_id: str
) -> PartnerBalancesOut:
    identity.authorize(actor, Permission.FINANCE_OPERATE)
    return _partner_balances_out(
        partner_id, service.partner_balances(db, partner_id, settings.currency)
    )


# -- withdrawals -----------------------------------------------------------------------------


class WithdrawalIn(BaseModel):
    amount: Decimal | str
    method: WithdrawalMethod
    bank_holder: str | None = None
    bank_name: str | None = None
    bank_account: str | None = None
    note: str | None = None


class WithdrawalOut(BaseModel):
    id: str
    partner_id: str
    amount: str
    currency: str
    method: WithdrawalMethod
    bank_holder: str | None
    bank_name: str | None
    bank_account_last4: str | None
    status: WithdrawalStatus
    rejection_reason: str | None
    payment_reference: str | None
    requested_at: dt.datetime
    decided_at: dt.datetime | None
    pay_by: dt.date | None
    paid_at: dt.datetime | None


def _withdrawal_json(w: Withdrawal) -> dict[str, Any]:
    return WithdrawalOut(
        id=w.id,
        partner_id=w.organisation_id,
        amount=str(to_decimal(w.amount)),
        currency=w.currency,
        method=w.method,
        bank_holder=w.bank_holder,
        bank_name=w.bank_name,
        bank_account_last4=w.bank_account_last4,
        status=w.status,
        rejection_reason=w.rejection_reason,
        payment_reference=w.payment_reference,
        requested_at=w.requested_at,
        decided_at=w.decided_at,
        pay_by=w.pay_by,
        paid_at=w.paid_at,
    ).model_dump(mode="json")


@router.post(
    "/withdrawals",
    status_code=201,
    response_model=None,
    responses={201: {"model": WithdrawalOut}, **error_responses(400, 409)},
    openapi_extra=_documented(WithdrawalIn),
    summary="Ask to withdraw money (提现); the amount is held until finance decides",
)
def request_withdrawal(
    request: Request, actor: ApiActor, db: DB, settings: Config, body: Body
) -> Response:
    data = parse_object(body)
    try:
        method = WithdrawalMethod(str(data.get("method")))
    except ValueError:
        raise InvalidInput(
            problems=[FieldProblem("method", N_("Choose original_path or bank."))]
        ) from None

    def work() -> tuple[int, dict[str, Any], str | None]:
        withdrawal = withdrawals.request(
            db,
            actor,
            request.app.state.secret_box,
            amount=amount_of(data),
            method=method,
            bank_holder=text_of(data, "bank_holder", limit=200),
            bank_name=text_of(data, "bank_name", limit=200),
            bank_account=text_of(data, "bank_account", limit=64),
            note=text_of(data, "note", limit=500),
            currency=settings.currency,
        )
        return 201, _withdrawal_json(withdrawal), None

    return idempotent(request, db, actor, body, work)


@router.get(
    "/withdrawals",
    response_model=list[WithdrawalOut],
    responses=error_responses(),
    summary="Withdrawals: the partner's own, or every partner's for vendor finance",
)
def list_withdrawals(
    actor: ApiActor,
    *,
    db: DB,
    status: WithdrawalStatus | None = None,
    partner_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Any:
    found = withdrawals.list_for(
        db,
        actor,
        partner_id=partner_id,
        status=status,
        offset=max(offset, 0),
        limit=min(max(limit, 1), 100),
    )
    return [_withdrawal_json(w) for w in found]


class DecisionIn(BaseModel):
    reason: str | None = Field(default=None, description="Required to reject.")
    payment_reference: str | None = Field(default=None, description="Required to pay.")


def _decision_endpoint(action: str) -> Callable[..., Response]:
    def endpoint(
        request: Request, *, actor: ApiActor, db: DB, body: Body, withdrawal_id: str
    ) -> Response:
        data = parse_object(body)

        def work() -> tuple[int, dict[str, Any], str | None]:
            if action == "approve":
                done = withdrawals.approve(db, actor, withdrawal_id)
            elif action == "reject":
                done = withdrawals.reject(
                    db, actor, withdrawal_id, text_of(data, "reason", limit=500) or ""
                )
            else:
                done = withdrawals.mark_paid(
                    db,
                    actor,
                    withdrawal_id,
                    text_of(data, "payment_reference", limit=100) or "",
                )
            return 200, _withdrawal_json(done), None

        return idempotent(request, db, actor, body, work)

    return endpoint


for _action, _summary in (
    ("approve", "Approve a withdrawal (vendor finance)"),
    ("reject", "Reject a withdrawal, with a reason (vendor finance)"),
    ("pay", "Record a withdrawal's payment (vendor finance)"),
):
    router.add_api_route(
        f"/withdrawals/{{withdrawal_id}}/{_action}",
        _decision_endpoint(_action),
        methods=["POST"],
        summary=_summary,
        response_model=None,
        responses={200: {"model": WithdrawalOut}, **error_responses(400, 404, 409)},
        openapi_extra=_documented(DecisionIn),
        name=f"ledger_withdrawal_{_action}",
    )
