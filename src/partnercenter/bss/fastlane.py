"""Allocations and reclaims of the BSS-compatible face on PostgreSQL, in the ledger's lane.

``adjust-amount`` and ``reclaim`` are the busiest BSS writes, so on PostgreSQL they take the
same way as the native API's allocations (:mod:`partnercenter.ledger.fastlane`): below the
web framework, the signature checked against the cached key, the request grouped with the
partner's others in one call of the ledger's database function. Every step of
:mod:`gateway` still applies, in the same order and with the same answers:

- the signature, the caller's kind, flow control (its counter is written on one of the
  lane's connections) and the fields, refused in the BSS shape;
- the guard against repeated signed writes: the request's signature is its idempotency key
  in the ledger function, so the same signed bytes again find the first request's key and
  are refused with ``PC.0409``; a refused request keeps no key and may be sent again.

On SQLite the same paths reach the ordinary operations in :mod:`accounts`.
"""

from __future__ import annotations

import math

import simplejson
from fastapi import Request

from partnercenter.bss import errors, gateway, wire
from partnercenter.bss.errors import BssError
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import DomainError
from partnercenter.core.i18n import translator
from partnercenter.identity.signing import parse_authorization
from partnercenter.ledger import fastpath, idempotency, service
from partnercenter.ledger.errors import NotADistributor
from partnercenter.ledger.fastlane import Answer, FastLane, Lane, new_item, principal
from partnercenter.ledger.models import TransferKind

ADJUST = "/v2/accounts/partner-accounts/adjust-amount"
RECLAIM = "/v2/accounts/partner-accounts/reclaim"
ID_LENGTH = 64
FLOW_COUNT = (
    "INSERT INTO bss_flow_windows (organisation_id, operation, second, hits) "
    "VALUES (%s, %s, %s, 1) ON CONFLICT (organisation_id, operation, second) "
    "DO UPDATE SET hits = bss_flow_windows.hits + 1 RETURNING hits"
)


def _lane(kind: TransferKind, operation: str, answer_field: str) -> Lane:
    async def serve(lane: FastLane, request: Request, body: bytes) -> Answer:
        settings = request.app.state.settings
        tr = translator(gateway.locale_of(request, settings))
        headers: dict[str, str] = {}
        """Filled as the request goes: the flow-control headers are sent with refusals."""
        try:
            transfer_id = await _transfer(
                lane, request, body, kind=kind, operation=operation, headers=headers
            )
            status, data = 200, simplejson.dumps({answer_field: transfer_id})
        except BssError as error:
            headers.update(error.headers)
            status, data = error.status, simplejson.dumps(error.body(tr))
        except DomainError as error:
            status, found = errors.from_domain(error, tr)
            data = simplejson.dumps(found, ensure_ascii=False)
        return (
            status,
            data.encode("utf-8"),
            [(b"content-type", b"application/json")]
            + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        )

    return serve


async def _transfer(
    lane: FastLane,
    request: Request,
    body: bytes,
    *,
    kind: TransferKind,
    operation: str,
    headers: dict[str, str],
) -> str:
    """The id of the transfer made, or the refusal in the BSS shape."""
    settings = request.app.state.settings
    key = await principal(request, body)
    actor = fastpath.actor_of(key, getattr(request.state, "request_id", None))
    gateway.check_caller(gateway.Callers.PARTNERS, actor)
    if settings.bss_rate_limit > 0:
        headers.update(await _count(lane, request, actor.organisation_id, operation))
    fields = wire.Fields(wire.parse_body(body))
    customer_id = fields.required_text("customer_id", max_length=ID_LENGTH)
    amount = fields.amount("amount")
    indirect = fields.text("indirect_partner_id", max_length=ID_LENGTH)
    service.require_partner(actor)
    if indirect and actor.organisation_kind != "distributor":
        raise NotADistributor()
    signature = parse_authorization(request.headers.get("authorization")).signature
    currency = settings.currency
    item = new_item(
        key,
        actor,
        kind=kind,
        customer_id=customer_id,
        amount=amount,
        reason=None,
        idem_key=f"bss:{signature.lower()}" if settings.bss_duplicate_guard else None,
        fingerprint=idempotency.request_hash(request.method, request.url.path, body),
    )
    outcome, _found, _balance, available = await lane.submit(
        request, (actor.organisation_id, indirect, currency), item
    )
    if outcome == "replay":
        raise gateway.duplicate()
    if outcome == "credential_revoked":
        fastpath.forget(request)
    service.raise_refusal(outcome, available, currency)
    return item.transfer_id


async def _count(
    lane: FastLane, request: Request, organisation_id: str, operation: str
) -> dict[str, str]:
    pool = lane.pool(request)
    connection = await pool.take()
    try:
        cursor = await connection.execute(
            FLOW_COUNT,
            (organisation_id, operation, math.floor(utc_now().timestamp())),
        )
        row = await cursor.fetchone()
    finally:
        pool.give(connection)
    assert row is not None
    return gateway.flow_headers(int(row[0]), request.app.state.settings.bss_rate_limit)


LANES: dict[str, Lane] = {
    ADJUST: _lane(TransferKind.ALLOCATE, "UpdateCustomerAccountAmount", "transfer_id"),
    RECLAIM: _lane(TransferKind.RECLAIM, "ReclaimToPartnerAccount", "trans_id"),
}
"""The BSS paths the ledger's lane serves on PostgreSQL."""
