"""What stands before every BSS operation: the signature, who may call, flow control and
the guard against repeated writes; and the registry that turns an operation into a route.

A request goes through these steps, each answering in the BSS shape when it refuses:

1. **Signature** (:func:`_authenticate`): the AK/SK signature of the request as received,
   checked like the native API's (:mod:`partnercenter.identity.signing`); a missing or bad
   signature, an unknown or revoked key, a date off by more than the window, or an
   ``X-Domain-Id`` of another organisation answers 401 ``APIG.0301``, as the original's
   gateway does.
2. **Caller** (:class:`Callers`): partner operations are for solution providers and
   distributors, customer operations for customers; any other key gets 403 ``CBC.0151``.
3. **Flow control** (:func:`_count`): one counter per organisation, operation and second, in
   the database, so the limit holds across server processes; over the limit answers 429
   ``CBC.0250`` with ``Retry-After``. Every answer carries ``X-RateLimit-Limit``,
   ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``.
4. **Repeated writes** (:func:`_guard`): the signature of a write is kept for the signature
   window; the very same signed bytes again answer 409 ``PC.0409``. The signature covers
   the time to the second, so two equal requests meant as two are signed differently once
   a second has passed.
5. **The operation**, in one unit of work with the guard's row: a refusal rolls both back,
   so a refused write may be sent again as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from partnercenter.api import auth
from partnercenter.bss import errors, wire
from partnercenter.bss.errors import BadParameter, BssError
from partnercenter.bss.models import SeenSignature
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import (
    NUL_IN_TEXT,
    DomainError,
    RequestTooLarge,
    is_nul_refusal,
)
from partnercenter.core.i18n import N_, Translator, best_locale, translator
from partnercenter.core.logging import get_logger
from partnercenter.core.settings import Settings
from partnercenter.identity.models import ApiCredential, Organisation
from partnercenter.identity.signing import ApiKeyRefused, parse_authorization

log = get_logger("partnercenter.bss")

router = APIRouter(include_in_schema=False)


class Callers(StrEnum):
    PARTNERS = "partners"
    """Solution providers and distributors."""
    CUSTOMERS = "customers"


CALLER_KINDS = {
    Callers.PARTNERS: frozenset({"solution_provider", "distributor"}),
    Callers.CUSTOMERS: frozenset({"customer"}),
}

_FLOW_COUNT = text(
    "INSERT INTO bss_flow_windows (organisation_id, operation, second, hits) "
    "VALUES (:organisation_id, :operation, :second, 1) "
    "ON CONFLICT (organisation_id, operation, second) "
    "DO UPDATE SET hits = bss_flow_windows.hits + 1 RETURNING hits"
)


@dataclass(slots=True)
class Call:
    """One request to an operation, as its handler sees it."""

    session: Session
    actor: Actor
    organisation: Organisation
    body: wire.Fields
    query: wire.Fields
    settings: Settings
    tr: Translator


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer other than 200 with a JSON body."""

    status: int
    data: Any = None


Handler = Callable[[Call], Any]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    method: str
    path: str
    callers: Callers
    writes: bool
    handler: Handler


OPERATIONS: dict[str, Operation] = {}
"""Every operation served, by its name in the SDK."""


def operation(
    name: str,
    method: str,
    path: str,
    *,
    callers: Callers = Callers.PARTNERS,
    writes: bool = False,
) -> Callable[[Handler], Handler]:
    """Serve ``handler`` as the BSS operation ``name`` at ``method path``."""

    def register(handler: Handler) -> Handler:
        op = Operation(name, method, path, callers, writes, handler)
        OPERATIONS[name] = op

        async def endpoint(request: Request) -> Response:
            try:
                body = await request.body()
            except RequestTooLarge as error:
                # Sent without a Content-Length (one that says too much is refused before
                # any route): the refusal in this face's shape.
                tr = translator(locale_of(request, request.app.state.settings))
                status, data = errors.from_domain(error, tr)
                return wire.json_response(data, status, {"Connection": "close"})
            return await to_thread.run_sync(_serve, request, op, body)

        endpoint.__name__ = f"bss_{name}"
        router.add_api_route(path, endpoint, methods=[method], name=f"bss.{name}")
        return handler

    return register


def locale_of(request: Request, settings: Settings) -> str:
    """The caller's language: ``X-Language`` (as the original reads it), else
    ``Accept-Language``, else the product's default."""
    language = request.headers.get("x-language") or request.headers.get(
        "accept-language"
    )
    return best_locale(language, settings.locale)


def _serve(request: Request, op: Operation, body: bytes) -> Response:
    settings: Settings = request.app.state.settings
    tr = translator(locale_of(request, settings))
    flow_headers: dict[str, str] = {}
    try:
        actor, organisation, signed, flow_headers = _admit(request, op, body, settings)
        return _run(
            request,
            op,
            body=body,
            actor=actor,
            organisation=organisation,
            signed=signed,
            settings=settings,
            tr=tr,
            flow_headers=flow_headers,
        )
    except BssError as error:
        return wire.json_response(
            error.body(tr), error.status, {**flow_headers, **error.headers}
        )
    except DomainError as error:
        status, data = errors.from_domain(error, tr)
        return wire.json_response(data, status, flow_headers)
    except Exception as error:
        if is_nul_refusal(error):
            refused = BadParameter(NUL_IN_TEXT)
            return wire.json_response(refused.body(tr), refused.status, flow_headers)
        log.exception("bss.failed", operation=op.name)
        return wire.json_response(
            {
                "error_code": errors.OTHER_ERROR,
                "error_msg": tr.gettext("An unexpected error occurred."),
            },
            500,
            flow_headers,
        )


@dataclass(frozen=True, slots=True)
class Signed:
    access_key: str
    signature: str
    use_due: bool
    """Whether the call, if it succeeds, moves the key's "last used" time."""


def _admit(
    request: Request, op: Operation, body: bytes, settings: Settings
) -> tuple[Actor, Organisation, Signed, dict[str, str]]:
    """The signature, the caller's kind and flow control, in one short transaction of
    their own: the flow counter is committed whether or not the operation succeeds."""
    factory = request.app.state.session_factory
    with factory() as session:
        try:
            credential, organisation = auth.authenticate(request, session, body)
        except ApiKeyRefused as error:
            raise BssError(
                401,
                errors.GATEWAY_AUTH,
                error.message,
                prefix=errors.GATEWAY_PREFIX,
                **error.params,
            ) from None
        actor = auth.actor_for_credential(
            credential, organisation, getattr(request.state, "request_id", None)
        )
        check_caller(op.callers, actor)
        hits = _count(session, op, actor, settings)
        session.commit()
        session.expunge(organisation)
        signed = Signed(
            credential.access_key,
            parse_authorization(request.headers.get("authorization")).signature.lower(),
            auth.use_is_due(credential),
        )
    headers = flow_headers(hits, settings.bss_rate_limit) if hits else {}
    return actor, organisation, signed, headers


def check_caller(callers: Callers, actor: Actor) -> None:
    if actor.organisation_kind not in CALLER_KINDS[callers]:
        raise errors.CallerRefused()


def _count(session: Session, op: Operation, actor: Actor, settings: Settings) -> int:
    """This request's number in its organisation's second for the operation; 0 when flow
    control is off."""
    if settings.bss_rate_limit <= 0:
        return 0
    return int(
        session.execute(
            _FLOW_COUNT,
            {
                "organisation_id": actor.organisation_id,
                "operation": op.name,
                "second": math.floor(utc_now().timestamp()),
            },
        ).scalar_one()
    )


def flow_headers(hits: int, limit: int) -> dict[str, str]:
    """The rate-limit headers of the ``hits``-th request of a second; refuses it when that
    is over ``limit``."""
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(limit - hits, 0)),
        "X-RateLimit-Reset": "1",
    }
    if hits > limit:
        raise BssError(
            429,
            errors.FLOW_CONTROL,
            N_(
                "Flow control: at most %(limit)d requests per second to this operation. "
                "Please try again in a second."
            ),
            headers={**headers, "Retry-After": "1"},
            limit=limit,
        )
    return headers


def duplicate() -> BssError:
    return BssError(
        409,
        errors.DUPLICATE_REQUEST,
        N_(
            "This signed request was already received. To make the same change "
            "again, sign a new request (the signature covers the time to the second)."
        ),
    )


def _guard(session: Session, signed: Signed) -> None:
    session.add(
        SeenSignature(
            signature=signed.signature, access_key=signed.access_key, seen_at=utc_now()
        )
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise duplicate() from None


def _run(
    request: Request,
    op: Operation,
    *,
    body: bytes,
    actor: Actor,
    organisation: Organisation,
    signed: Signed,
    settings: Settings,
    tr: Translator,
    flow_headers: dict[str, str],
) -> Response:
    fields = (
        wire.Fields(wire.parse_body(body)) if op.method != "GET" else wire.Fields({})
    )
    query = wire.Fields(dict(request.query_params), from_query=True)
    factory = request.app.state.session_factory
    with factory() as session:
        try:
            if op.writes and settings.bss_duplicate_guard:
                _guard(session, signed)
            result = op.handler(
                Call(session, actor, organisation, fields, query, settings, tr)
            )
            if signed.use_due:
                credential = session.get(ApiCredential, actor.credential_id)
                if credential is not None:
                    auth.note_use(credential)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    if isinstance(result, Reply):
        if result.data is None:
            return Response(status_code=result.status, headers=flow_headers)
        return wire.json_response(result.data, result.status, flow_headers)
    return wire.json_response(result, 200, flow_headers)
