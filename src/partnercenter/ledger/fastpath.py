"""The key cache of the hot path, and the allocation route's unit of work.

:mod:`fastlane` serves single allocations and reclaims on PostgreSQL; it checks each
request's signature against a short-lived in-process cache of the key's secret, kept here.
A key revoked meanwhile is refused by the database function itself, so revocation still takes
effect at once. On SQLite the same requests reach the routes, which run them in the ordinary
unit of work (:func:`through_session`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from partnercenter.api import auth
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.identity import signing
from partnercenter.identity.models import ApiCredential, Organisation
from partnercenter.identity.signing import ApiKeyRefused, DomainMismatch, SignatureError
from partnercenter.ledger import service
from partnercenter.ledger.models import TransferKind

CACHE_SECONDS = 30.0
"""How long a key's secret is kept in memory between look-ups."""
_lock = threading.Lock()


@dataclass(slots=True)
class Key:
    credential_id: int
    organisation_id: str
    actor: Actor
    secret: str
    expires: float
    noted: float
    """When ``last_used_at`` was last written for this key (monotonic seconds)."""


def _cache(request: Request) -> dict[str, Key]:
    state = request.app.state
    cache: dict[str, Key] | None = getattr(state, "ledger_key_cache", None)
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


def cached_principal(request: Request, body: bytes) -> Key | None:
    """The key that signed the request, verified against its cached secret; None when the
    key is not cached (or no longer fresh), so the caller looks it up."""
    headers = auth.headers_of(request)
    access_key = _access_key(headers)
    cached = _cache(request).get(access_key or "")
    if cached is None or cached.expires < time.monotonic():
        return None
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


def looked_up_principal(request: Request, body: bytes) -> Key:
    """The key that signed the request, checked against the database, and now cached."""
    with request.app.state.session_factory() as session:
        credential, organisation = auth.authenticate(request, session, body)
        return _remember(
            request, _cache(request), credential, organisation, time.monotonic()
        )


def forget(request: Request) -> None:
    _cache(request).pop(_access_key(auth.headers_of(request)) or "", None)


def actor_of(key: Key, request_id: str | None) -> Actor:
    return Actor(
        organisation_id=key.actor.organisation_id,
        organisation_kind=key.actor.organisation_kind,
        permissions=key.actor.permissions,
        credential_id=key.credential_id,
        request_id=request_id,
        roles=key.actor.roles,
    )


def _remember(
    request: Request,
    cache: dict[str, Key],
    credential: ApiCredential,
    organisation: Organisation,
    now: float,
) -> Key:
    entry = Key(
        credential_id=credential.id,
        organisation_id=organisation.id,
        actor=auth.actor_for_credential(credential, organisation, None),
        secret=request.app.state.secret_box.open(credential.secret_encrypted),
        expires=now + CACHE_SECONDS,
        noted=0.0,
    )
    cache[credential.access_key] = entry
    return entry


def through_session(request: Request, body: bytes, kind: TransferKind) -> Response:
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
