"""The hot path of the native API: one allocation or reclaim per request, as lean as it can be.

On PostgreSQL a request costs one database round trip: the ledger's function
``ledger_customer_transfer`` checks the key is still valid, the idempotency key, the
association and the balance, and writes the transfer, its entries, the balances, the audit
event and the key, all in one statement on an autocommit connection of its own. The
signature is checked against a short-lived in-process cache of the key's secret; a key
revoked meanwhile is refused by the function itself, so revocation still takes effect at
once. On SQLite the same request goes through the ordinary unit of work.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Engine, create_engine, text

from partnercenter.api import auth
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.identity import signing
from partnercenter.identity.models import ApiCredential, Organisation
from partnercenter.identity.signing import ApiKeyRefused, DomainMismatch, SignatureError
from partnercenter.ledger import idempotency, service
from partnercenter.ledger.errors import NotADistributor
from partnercenter.ledger.models import TransferKind

CACHE_SECONDS = 30.0
"""How long a key's secret is kept in memory between look-ups."""
_lock = threading.Lock()


@dataclass(slots=True)
class _Key:
    credential_id: int
    organisation_id: str
    actor: Actor
    secret: str
    expires: float
    noted: float
    """When ``last_used_at`` was last written for this key (monotonic seconds)."""


def _fast_engine(request: Request) -> Engine:
    state = request.app.state
    engine: Engine | None = getattr(state, "ledger_fast_engine", None)
    if engine is None:
        with _lock:
            engine = getattr(state, "ledger_fast_engine", None)
            if engine is None:
                engine = create_engine(
                    state.settings.database_url,
                    isolation_level="AUTOCOMMIT",
                    pool_size=state.settings.fast_path_pool_size,
                    max_overflow=0,
                    pool_pre_ping=False,
                )
                state.ledger_fast_engine = engine
    return engine


def _cache(request: Request) -> dict[str, _Key]:
    state = request.app.state
    cache: dict[str, _Key] | None = getattr(state, "ledger_key_cache", None)
    if cache is None:
        with _lock:
            cache = getattr(state, "ledger_key_cache", None)
            if cache is None:
                cache = {}
                state.ledger_key_cache = cache
    return cache


def _access_key(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    start = value.find("Access=")
    if start < 0:
        return None
    return value[start + len("Access=") :].split(",", 1)[0].strip() or None


def _principal(request: Request, body: bytes) -> _Key:
    """The key that signed the request, verified against the cached secret when fresh."""
    headers = auth.headers_of(request)
    cache = _cache(request)
    access_key = _access_key(headers)
    now = time.monotonic()
    cached = cache.get(access_key or "")
    if cached is None or cached.expires < now:
        with request.app.state.session_factory() as session:
            credential, organisation = auth.authenticate(request, session, body)
            cached = _remember(request, cache, credential, organisation, now)
        return cached
    try:
        signing.verify(
            method=request.method,
            raw_path=auth.raw_path_of(request),
            raw_query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            secret_for=lambda key: cached.secret if key == access_key else None,
            now=utc_now(),
            window=auth.signature_window(request),
        )
    except SignatureError as error:
        raise ApiKeyRefused.for_failure(error.reason) from None
    domain_id = headers.get("x-domain-id", "").strip()
    if domain_id and domain_id != cached.organisation_id:
        raise DomainMismatch()
    return cached


def _remember(
    request: Request,
    cache: dict[str, _Key],
    credential: ApiCredential,
    organisation: Organisation,
    now: float,
) -> _Key:
    entry = _Key(
        credential_id=credential.id,
        organisation_id=organisation.id,
        actor=auth.actor_for_credential(credential, organisation, None),
        secret=request.app.state.secret_box.open(credential.secret_encrypted),
        expires=now + CACHE_SECONDS,
        noted=0.0,
    )
    cache[credential.access_key] = entry
    return entry


NOTE_USE = text(
    "UPDATE api_credentials SET last_used_at = :at WHERE id = :id "
    "AND (last_used_at IS NULL OR last_used_at < :at - interval '1 minute')"
)


def customer_transfer(request: Request, body: bytes, kind: TransferKind) -> Response:
    from partnercenter.ledger import routes

    engine: Engine = request.app.state.engine
    if engine.dialect.name != "postgresql":
        return _through_session(request, body, kind)
    key = _principal(request, body)
    request_id = getattr(request.state, "request_id", None)
    actor = Actor(
        organisation_id=key.actor.organisation_id,
        organisation_kind=key.actor.organisation_kind,
        permissions=key.actor.permissions,
        credential_id=key.credential_id,
        request_id=request_id,
        roles=key.actor.roles,
    )
    data = routes.parse_object(body)
    customer_id = routes.text_of(data, "customer_id", required=True) or ""
    amount = routes.amount_of(data)
    indirect = routes.text_of(data, "indirect_partner_id")
    reason = routes.text_of(data, "reason", limit=500)
    service.require_partner(actor)
    if indirect and actor.organisation_kind != "distributor":
        raise NotADistributor()
    idem_key = idempotency.key_of(request)
    fingerprint = idempotency.request_hash(request.method, request.url.path, body)
    currency = request.app.state.settings.currency
    at = utc_now()
    transfer_id = service.new_transfer_id(kind, at)
    fast = _fast_engine(request)
    with fast.connect() as connection:
        row = service.call_customer_transfer(
            connection,
            actor,
            kind=kind,
            customer_id=customer_id,
            amount=amount,
            indirect_partner_id=indirect,
            reason=reason,
            currency=currency,
            transfer_id=transfer_id,
            at=at,
            idempotency_key=idem_key,
            request_hash=fingerprint,
        )
        now = time.monotonic()
        if now - key.noted >= 60:
            key.noted = now
            connection.execute(NOTE_USE, {"at": at, "id": key.credential_id})
    if row.outcome == "replay":
        with request.app.state.session_factory() as session:
            payload = routes.stored_transfer(session, row.transfer_id)
        return _json(payload, replayed=True)
    if row.outcome == "credential_revoked":
        _cache(request).pop(_access_key(auth.headers_of(request)) or "", None)
    service.raise_refusal(row.outcome, row.available, currency)
    return _json(
        routes.transfer_json(
            transfer_id,
            kind.value,
            amount,
            currency,
            partner_id=indirect or actor.organisation_id,
            counterparty_id=customer_id,
            balance_after=row.partner_balance_after,
            created_at=at,
        ),
        replayed=False,
    )


def _json(payload: dict[str, Any], *, replayed: bool) -> Response:
    response = Response(
        json.dumps(payload), status_code=201, media_type="application/json"
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _through_session(request: Request, body: bytes, kind: TransferKind) -> Response:
    from partnercenter.ledger import routes

    move = service.allocate if kind is TransferKind.ALLOCATE else service.reclaim
    with request.app.state.session_factory() as session:
        credential, organisation = auth.authenticate(request, session, body)
        actor = auth.actor_for_credential(
            credential, organisation, getattr(request.state, "request_id", None)
        )
        data = routes.parse_object(body)
        currency = request.app.state.settings.currency

        def work() -> tuple[int, dict[str, Any], str | None]:
            result = move(
                session,
                actor,
                customer_id=routes.text_of(data, "customer_id", required=True) or "",
                amount=routes.amount_of(data),
                indirect_partner_id=routes.text_of(data, "indirect_partner_id"),
                reason=routes.text_of(data, "reason", limit=500),
                currency=currency,
            )
            return 201, routes.result_json(result), result.transfer_id

        try:
            response = routes.idempotent(request, session, actor, body, work)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return response
