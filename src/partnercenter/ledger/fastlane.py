"""The allocation and reclaim requests on PostgreSQL, served below the web framework.

A plain ASGI layer takes ``POST /api/v1/ledger/allocations`` and ``/reclaims`` before routing:
it reads the body, checks the signature against the cached key (:mod:`fastpath`), calls the
ledger's database function on an asynchronous autocommit connection of its own, and answers,
so a request costs one round trip to the database and no thread hop. Everything else, and
every request on SQLite, goes on to the application. The answers, errors and their
translations are those of the routes in :mod:`routes`, which also document these paths.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg
from anyio import to_thread
from fastapi import Request
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from partnercenter.core.clock import utc_now
from partnercenter.core.errors import DomainError
from partnercenter.core.i18n import best_locale
from partnercenter.core.logging import get_logger
from partnercenter.ledger import fastpath, idempotency, service
from partnercenter.ledger.errors import NotADistributor
from partnercenter.ledger.models import TransferKind

log = get_logger("partnercenter.ledger")

PATHS = {
    "/api/v1/ledger/allocations": TransferKind.ALLOCATE,
    "/api/v1/ledger/reclaims": TransferKind.RECLAIM,
}
CALL = (
    "SELECT outcome, transfer_id, partner_balance_after, available FROM "
    "ledger_customer_transfer(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


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


class FastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in PATHS
            or scope["app"].state.engine.dialect.name != "postgresql"
        ):
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        request = Request(scope)
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
        headers = [(b"content-type", b"application/json")]
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})

    def _pool(self, request: Request) -> _Pool:
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

        key = await _principal(request, body)
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
        fingerprint = idempotency.request_hash(request.method, request.url.path, body)
        currency = request.app.state.settings.currency
        at = utc_now()
        transfer_id = service.new_transfer_id(kind, at)
        pool = self._pool(request)
        connection = await pool.take()
        try:
            cursor = await connection.execute(
                CALL,
                (
                    kind.value,
                    actor.organisation_id,
                    indirect,
                    customer_id,
                    amount,
                    currency,
                    transfer_id,
                    at,
                    reason,
                    actor.user_id,
                    actor.organisation_id,
                    actor.credential_id,
                    actor.request_id,
                    idem_key,
                    fingerprint,
                ),
            )
            outcome, found_id, balance_after, available = await cursor.fetchone() or (
                "error",
                None,
                None,
                None,
            )
        except psycopg.Error as error:
            shortfall = service.shortfall_of(error)
            if shortfall is None:
                raise
            outcome, found_id, balance_after, available = shortfall
        else:
            now = time.monotonic()
            if now - key.noted >= NOTE_EVERY:
                key.noted = now
                await connection.execute(NOTE_USE, (at, key.credential_id, at))
        finally:
            pool.give(connection)
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


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _principal(request: Request, body: bytes) -> fastpath.Key:
    cached = fastpath.cached_principal(request, body)
    if cached is not None:
        return cached
    return await to_thread.run_sync(fastpath.looked_up_principal, request, body)
