"""The allocation and reclaim requests on PostgreSQL, served below the web framework.

A plain ASGI layer takes ``POST /api/v1/ledger/allocations`` and ``/reclaims`` before routing:
it reads the body, checks the signature against the cached key (:mod:`fastpath`), hands the
request to its partner's group, and answers. A group sends its requests to the database
function ``ledger_customer_transfers`` on an asynchronous autocommit connection of its own:
while one call is at the database, the requests that arrive for the same partner queue and
go together in the next call, so a partner's allocations share one lock of its balance and
one commit instead of queueing for them one by one, and a request costs no thread hop.
Everything else, and every request on SQLite, goes on to the application. The answers,
errors and their translations are those of the routes in :mod:`routes`, which also document
these paths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from anyio import to_thread
from fastapi import Request
from sqlalchemy.engine import make_url
from starlette.types import Receive, Scope, Send

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.db import pg_array
from partnercenter.core.errors import DomainError, RequestTooLarge
from partnercenter.core.i18n import best_locale
from partnercenter.core.logging import bind_request, clear_request, get_logger
from partnercenter.ledger import fastpath, idempotency, service
from partnercenter.ledger.errors import NotADistributor
from partnercenter.ledger.models import TransferKind
from partnercenter.web.middleware import (
    COMMON_HEADERS,
    INTERNAL_ERROR_TEXT,
    JSON_TYPE,
    TEXT_TYPE,
    declared_length,
    incoming_request_id,
    log_request,
    refusal,
    send_answer,
)

log = get_logger("partnercenter.ledger")

PATHS = {
    "/api/v1/ledger/allocations": TransferKind.ALLOCATE,
    "/api/v1/ledger/reclaims": TransferKind.RECLAIM,
}
CALL = (
    "SELECT outcome, transfer_id, partner_balance_after, available FROM "
    "ledger_customer_transfers(%s, %s, %s, %s::text[], %s::text[], %s::bigint[], "
    "%s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::bigint[], %s::text[], "
    "%s::text[], %s::text[])"
)
GROUP_LIMIT = 64
"""At most this many requests of one partner go to the database in one call."""


NOTE_EVERY = 60.0
NOTE_USE = (
    "UPDATE api_credentials SET last_used_at = %s WHERE id = %s "
    "AND (last_used_at IS NULL OR last_used_at < %s - interval '1 minute')"
)
"""A key's "last used" time is written at most once a minute, as on the other routes."""


class _Pool:
    """Autocommit connections for one event loop, opened on demand up to ``size``."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn, self.size = dsn, size
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self.opened = 0
        self.every: list[psycopg.AsyncConnection[Any]] = []
        """Every connection opened and not yet closed, idle or lent out."""
        self.groups: dict[tuple[str, str | None, str], _Group] = {}
        self.tasks: set[asyncio.Future[None]] = set()

    def group(self, key: tuple[str, str | None, str]) -> _Group:
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = _Group(self, key)
        return found

    def unanswered(self) -> int:
        """Requests queued or in a call at the database (the tests watch it)."""
        return sum(len(group.waiting) + group.calling for group in self.groups.values())

    async def take(self) -> psycopg.AsyncConnection[Any]:
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True
                )
                self.every.append(connection)
                return connection
            except BaseException:
                self.opened -= 1
                raise
        return await self.idle.get()

    def give(self, connection: psycopg.AsyncConnection[Any]) -> None:
        if connection.closed or connection.broken:
            if connection in self.every:  # not when the pool was closed meanwhile
                self.opened -= 1
                self.every.remove(connection)
            self.closing(connection)
        else:
            self.idle.put_nowait(connection)

    @staticmethod
    def closing(connection: psycopg.AsyncConnection[Any]) -> None:
        # Closing frees the socket at once and waits for nothing, so it needs no loop.
        connection.pgconn.finish()

    def close(self) -> None:
        """Close every connection, idle or lent out, from any thread or event loop.

        The pool's loop may already be gone (a test client's loop ends with the client),
        so this only ends each connection's socket, which waits for nothing.
        """
        for connection in self.every:
            if not connection.closed:
                self.closing(connection)
        self.every.clear()
        self.opened = 0


@dataclass(slots=True)
class Item:
    """One request waiting for its partner's next call of the database function."""

    kind: str
    customer_id: str
    amount: int
    transfer_id: str
    at: dt.datetime
    reason: str | None
    actor_user: str | None
    credential_id: int | None
    request_id: str | None
    idem_key: str | None
    fingerprint: str
    note: bool
    """Whether the key's "last used" time is due to be written."""
    answer: asyncio.Future[tuple[str, Any, Any, Any]]


def new_item(
    key: fastpath.Key,
    actor: Actor,
    *,
    kind: TransferKind,
    customer_id: str,
    amount: int,
    reason: str | None,
    idem_key: str | None,
    fingerprint: str,
) -> Item:
    """A request for its partner's group, with its transfer id and time; notes that the
    key's "last used" time is due when a minute has passed since it was last written."""
    at = utc_now()
    item = Item(
        kind=kind.value,
        customer_id=customer_id,
        amount=amount,
        transfer_id=service.new_transfer_id(kind, at),
        at=at,
        reason=reason,
        actor_user=actor.user_id,
        credential_id=actor.credential_id,
        request_id=actor.request_id,
        idem_key=idem_key,
        fingerprint=fingerprint,
        note=time.monotonic() - key.noted >= NOTE_EVERY,
        answer=asyncio.get_running_loop().create_future(),
    )
    if item.note:
        key.noted = time.monotonic()
    return item


class _Group:
    """The requests of one partner (and reseller, and currency) in one event loop.

    While a call for the partner is at the database, the requests that arrive wait here and
    go together in the next call: one lock of the partner's balance and one commit for all of
    them, which is what bounds a partner's allocations per second. A request that finds no
    call running goes at once, alone.
    """

    def __init__(self, pool: _Pool, key: tuple[str, str | None, str]) -> None:
        self.pool, self.key = pool, key
        self.waiting: list[Item] = []
        self.calling = 0
        """How many requests the running call carries."""
        self.running = False

    def submit(self, item: Item) -> None:
        self.waiting.append(item)
        if not self.running:
            self.running = True
            # Held until it ends: the loop keeps only a weak reference to its tasks.
            self.pool.tasks.add(asyncio.ensure_future(self._drain()))

    async def _drain(self) -> None:
        try:
            while self.waiting:
                items = self.waiting[:GROUP_LIMIT]
                del self.waiting[:GROUP_LIMIT]
                self.calling = len(items)
                try:
                    rows = await self._call(items)
                except BaseException as error:
                    self.calling = 0
                    for item in items:
                        if not item.answer.done():
                            item.answer.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                self.calling = 0
                for item, row in zip(items, rows, strict=True):
                    if not item.answer.done():
                        item.answer.set_result(row)
        finally:
            self.running = False
            self.pool.tasks.discard(asyncio.current_task())

    async def _call(self, items: list[Item]) -> list[tuple[str, Any, Any, Any]]:
        partner, reseller, currency = self.key
        connection = await self.pool.take()
        try:
            cursor = await connection.execute(
                CALL,
                (
                    partner,
                    reseller,
                    currency,
                    # Arrays as text literals: the driver's adaptation of each list,
                    # element by element, was a quarter of the call's time.
                    pg_array([i.kind for i in items]),
                    pg_array([i.customer_id for i in items]),
                    pg_array([i.amount for i in items]),
                    pg_array([i.transfer_id for i in items]),
                    pg_array([i.at.isoformat() for i in items]),
                    pg_array([i.reason for i in items]),
                    pg_array([i.actor_user for i in items]),
                    pg_array([i.credential_id for i in items]),
                    pg_array([i.request_id for i in items]),
                    pg_array([i.idem_key for i in items]),
                    pg_array([i.fingerprint for i in items]),
                ),
            )
            rows = [tuple(row) for row in await cursor.fetchall()]
            for item in items:
                if item.note and item.credential_id is not None:
                    # The transfers are committed by now; a failure here must not make
                    # their answers errors.
                    try:
                        await connection.execute(
                            NOTE_USE, (item.at, item.credential_id, item.at)
                        )
                    except psycopg.Error as error:
                        log.warning(
                            "ledger.key_use_not_noted",
                            credential_id=item.credential_id,
                            error=type(error).__name__,
                        )
        finally:
            self.pool.give(connection)
        if len(rows) != len(items):
            raise RuntimeError(
                "the ledger function answered a different number of items"
            )
        return rows


Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
"""Status, body and headers of a response."""
Lane = Callable[["FastLane", Request, bytes], Awaitable[Answer]]
"""Serves one more path in the lane (the BSS-compatible face's allocations do)."""


class FastLane:
    """Serves the lane's paths on PostgreSQL, in front of the framework's middleware.

    The application hands a request over before any middleware sees it (see
    :class:`partnercenter.app.Application`), so the lane does itself what the request
    middleware does for every other path: the request id (bound for the logs and sent back
    as ``X-Request-Id``), the common headers, the request's log line, and a 500 for an
    unexpected error, which is then raised on for the server to log.
    """

    def __init__(self, lanes: Mapping[str, Lane], *, max_body: int) -> None:
        self.lanes = dict(lanes)
        self.paths = frozenset(PATHS).union(self.lanes)
        self.max_body = max_body
        """The largest request body taken, in bytes, as for every other path."""

    def takes(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.paths
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = incoming_request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["set_cookies"] = []
        bind_request(request_id)
        ours = [(b"x-request-id", request_id.encode()), *COMMON_HEADERS]
        started = time.perf_counter()
        status = 500
        sending = False
        try:
            status, content, headers = await self._answer(scope, receive)
            sending = True
            await send_answer(send, status, content, [*headers, *ours])
        except Exception:
            if not sending:
                await send_answer(send, 500, INTERNAL_ERROR_TEXT, [TEXT_TYPE, *ours])
            raise
        finally:
            log_request(scope, status, started)
            clear_request()

    async def _answer(self, scope: Scope, receive: Receive) -> Answer:
        lane = self.lanes.get(scope["path"])
        try:
            body = await _body(scope, receive, self.max_body)
        except RequestTooLarge as error:
            return refusal(scope, error, api=True, bss=lane is not None)
        request = Request(scope)
        if lane is not None:
            return await lane(self, request, body)
        try:
            status, payload, replayed = await self._transfer(
                request, body, PATHS[scope["path"]]
            )
        except DomainError as error:
            from partnercenter.app import error_body

            settings = scope["app"].state.settings
            locale = best_locale(
                request.headers.get("accept-language"), settings.locale
            )
            status, payload, replayed = error.status, error_body(error, locale), False
        headers = [JSON_TYPE]
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
        return status, json.dumps(payload).encode(), headers

    def pool(self, request: Request) -> _Pool:
        """The pool of the running event loop, opened on first use."""
        pools = pools_of(request.app)
        loop = id(asyncio.get_running_loop())
        pool = pools.get(loop)
        if pool is None:
            settings = request.app.state.settings
            url = make_url(settings.resolved_database_url).set(drivername="postgresql")
            pool = _Pool(
                url.render_as_string(hide_password=False), settings.fast_path_pool_size
            )
            pools[loop] = pool
        return pool

    async def _transfer(
        self, request: Request, body: bytes, kind: TransferKind
    ) -> tuple[int, dict[str, Any], bool]:
        from partnercenter.ledger import routes

        key = await principal(request, body)
        actor = fastpath.actor_of(key, getattr(request.state, "request_id", None))
        data = routes.parse_object(body)
        # The same order as the other money writes: the body, the key, then the fields.
        idem_key = idempotency.key_of(request)
        customer_id = routes.text_of(data, "customer_id", required=True) or ""
        amount = routes.amount_of(data)
        indirect = routes.text_of(data, "indirect_partner_id")
        reason = routes.text_of(data, "reason", limit=500)
        service.require_partner(actor)
        if indirect and actor.organisation_kind != "distributor":
            raise NotADistributor()
        # The lane's paths hold nothing that the URL would escape: this is the URL's path.
        fingerprint = idempotency.request_hash("POST", request.scope["path"], body)
        currency = request.app.state.settings.currency
        item = new_item(
            key,
            actor,
            kind=kind,
            customer_id=customer_id,
            amount=amount,
            reason=reason,
            idem_key=idem_key,
            fingerprint=fingerprint,
        )
        transfer_id, at = item.transfer_id, item.at
        outcome, found_id, balance_after, available = await self.submit(
            request, (actor.organisation_id, indirect, currency), item
        )
        if outcome == "replay":

            def stored() -> dict[str, Any]:
                with request.app.state.session_factory() as session:
                    return routes.stored_transfer(session, str(found_id))

            return 201, await to_thread.run_sync(stored), True
        if outcome == "credential_revoked":
            fastpath.forget(request)
        service.raise_refusal(outcome, available, currency)
        payload = routes.transfer_json(
            transfer_id,
            kind.value,
            amount,
            currency,
            partner_id=indirect or actor.organisation_id,
            counterparty_id=customer_id,
            balance_after=balance_after,
            created_at=at,
        )
        return 201, payload, False

    async def submit(
        self, request: Request, group: tuple[str, str | None, str], item: Item
    ) -> tuple[str, Any, Any, Any]:
        """Send ``item`` with its group's next call; the function's row for it."""
        self.pool(request).group(group).submit(item)
        return await item.answer


def pools_of(app: Any) -> dict[int, _Pool]:
    """The app's connection pools, one per event loop (a test client runs its own loop)."""
    pools: dict[int, _Pool] | None = getattr(app.state, "ledger_pools", None)
    if pools is None:
        pools = {}
        app.state.ledger_pools = pools
    return pools


def close_pools(app: Any) -> None:
    """Close every connection of the app's pools; the app calls it as it stops."""
    pools = pools_of(app)
    for pool in list(pools.values()):
        pool.close()
    pools.clear()


async def _body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request's body, or :class:`RequestTooLarge` past ``limit`` bytes (before
    reading any when the Content-Length says so)."""
    declared = declared_length(scope)
    if declared is not None and declared > limit:
        raise RequestTooLarge(limit=limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(limit=limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def principal(request: Request, body: bytes) -> fastpath.Key:
    """The key that signed the request: from the cache, else looked up in a thread."""
    cached = fastpath.cached_principal(request, body)
    if cached is not None:
        return cached
    return await to_thread.run_sync(fastpath.looked_up_principal, request, body)
