"""ASGI middleware: request id, one log line per request, security headers, cookies, the
request size limit, and a 500 that carries the request id.

Written as plain ASGI (not ``BaseHTTPMiddleware``) because it sits on every API request.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from partnercenter.core.errors import DomainError, RequestTooLarge
from partnercenter.core.i18n import best_locale, translator
from partnercenter.core.logging import bind_request, clear_request, get_logger

log = get_logger("partnercenter.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CONSOLE_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        (
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
            b"script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
COMMON_HEADERS = [(b"x-content-type-options", b"nosniff")]
INTERNAL_ERROR_TEXT = b"Internal Server Error"
JSON_TYPE = (b"content-type", b"application/json")
TEXT_TYPE = (b"content-type", b"text/plain; charset=utf-8")


def incoming_request_id(scope: Scope) -> str:
    """The caller's ``X-Request-Id`` when it is a plausible id, else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if _REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


BSS_PREFIXES = ("/v2/", "/v3/")
"""Where the BSS-compatible face answers, in its own error shape."""


async def send_answer(
    send: Send, status: int, content: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """A whole response in its two messages, with its Content-Length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(content)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": content})


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, when it sends a usable one."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`RequestTooLarge` once more than ``limit`` bytes of
    body have come (for a body sent without a Content-Length)."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise RequestTooLarge(limit=limit)
        return message

    return limited_receive


def refusal(
    scope: Scope, error: DomainError, *, api: bool, bss: bool
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and headers of a refusal made before any route, in the caller's
    language: in the BSS shape on that face, as the native API's JSON on the others, as
    text on the console. The connection is closed after it, since the body is not read."""
    from partnercenter.app import error_body
    from partnercenter.bss.errors import from_domain

    settings = scope["app"].state.settings
    headers = Headers(scope=scope)
    closing = (b"connection", b"close")
    if bss:
        language = headers.get("x-language") or headers.get("accept-language")
        status, found = from_domain(
            error, translator(best_locale(language, settings.locale))
        )
        return (
            status,
            json.dumps(found, ensure_ascii=False).encode(),
            [JSON_TYPE, closing],
        )
    locale = best_locale(headers.get("accept-language"), settings.locale)
    if api:
        body = json.dumps(error_body(error, locale), ensure_ascii=False).encode()
        return error.status, body, [JSON_TYPE, closing]
    return error.status, error.render(translator(locale)).encode(), [TEXT_TYPE, closing]


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, api_prefixes: tuple[str, ...], max_body: int
    ) -> None:
        self.app = app
        self.api_prefixes = api_prefixes
        self.max_body = max_body
        """The largest request body taken, in bytes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = incoming_request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["set_cookies"] = []
        bind_request(request_id)
        is_api = scope["path"].startswith(self.api_prefixes)
        started = time.perf_counter()
        status = 500
        responding = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                responding = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(COMMON_HEADERS)
                if not is_api:
                    headers.extend(CONSOLE_SECURITY_HEADERS)
                headers.extend(
                    (b"set-cookie", cookie.encode("latin-1"))
                    for cookie in state.get("set_cookies", [])
                )
                message["headers"] = headers
            await send(message)

        try:
            # Refused at once when the body says it is too large; else counted as it comes,
            # and a route that reads it raises the refusal (for a form the framework reads,
            # the application's handler of the framework's errors answers it the same way).
            declared = declared_length(scope)
            if declared is not None and declared > self.max_body:
                raise RequestTooLarge(limit=self.max_body)
            await self.app(scope, limited(receive, self.max_body), send_with_headers)
        except RequestTooLarge as error:
            if not responding:
                await send_answer(
                    send_with_headers,
                    *refusal(
                        scope,
                        error,
                        api=is_api,
                        bss=scope["path"].startswith(BSS_PREFIXES),
                    ),
                )
        except Exception:
            # Answered here rather than by the framework's last resort, so that the 500
            # too carries the request id; the error goes on to be logged by the server.
            if not responding:
                await send_answer(
                    send_with_headers, 500, INTERNAL_ERROR_TEXT, [TEXT_TYPE]
                )
            status = 500
            raise
        finally:
            log_request(scope, status, started)
            clear_request()


def log_request(scope: Scope, status: int, started: float) -> None:
    """The one log line of a request; ``started`` is its ``time.perf_counter()``."""
    log.info(
        "http.request",
        method=scope["method"],
        path=scope["path"],
        status=status,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )


def cookie_header(
    name: str,
    value: str,
    *,
    max_age: int | None,
    secure: bool,
    http_only: bool = True,
) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = "/"
    morsel["samesite"] = "Lax"
    if http_only:
        morsel["httponly"] = True
    if secure:
        morsel["secure"] = True
    if max_age is not None:
        morsel["max-age"] = max_age
    return morsel.OutputString()
