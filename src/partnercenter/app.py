"""The ASGI application: the console, the native API and the BSS-compatible API over one
database."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from partnercenter import __version__
from partnercenter.core import logging as pc_logging
from partnercenter.core.db import make_engine, make_session_factory
from partnercenter.core.errors import (
    NUL_IN_TEXT,
    DomainError,
    InvalidInput,
    NotAuthenticated,
    RequestTooLarge,
    is_nul_refusal,
)
from partnercenter.core.i18n import best_locale, translator
from partnercenter.core.migrate import require_migrated
from partnercenter.core.security import CsrfSigner, SecretBox
from partnercenter.core.settings import Settings, load_settings
from partnercenter.ledger.fastlane import FastLane, Lane, close_pools
from partnercenter.web.middleware import (
    BSS_PREFIXES,
    RequestContextMiddleware,
    refusal,
)
from partnercenter.web.templating import make_environment

API_PREFIXES = ("/api/", "/v2/", "/v3/")
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"


class Application(FastAPI):
    """The FastAPI application, with the ledger's lane in front of its middleware.

    On PostgreSQL the lane's paths (single allocations and reclaims, native and BSS) are
    the busiest writes; they are handed to :class:`FastLane` before the framework's
    middleware stack, which would cost them more than the lane's own work.
    """

    lane: FastLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lane
        if lane is not None and lane.takes(scope):
            scope["app"] = self
            await lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, check_migrated: bool = True
) -> FastAPI:
    settings = settings or load_settings()
    pc_logging.configure(settings.resolved_log_format, settings.log_level)
    engine = make_engine(settings.resolved_database_url)
    if check_migrated:
        try:
            require_migrated(engine)
        except BaseException:
            engine.dispose()
            raise

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.runs_embedded_worker and app.state.start_embedded_worker:
            from partnercenter.worker import EmbeddedWorker

            worker = EmbeddedWorker(settings, app.state.session_factory)
            worker.start()
        if app.state.freeze_at_start:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            close_pools(app)
            if app.state.dispose_engine_on_shutdown:
                engine.dispose()

    app = Application(
        title="Partner Center native API",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.freeze_at_start = False
    app.state.session_factory = make_session_factory(engine)
    app.state.templates = make_environment()
    app.state.csrf_signer = CsrfSigner(settings.resolved_secret_key)
    app.state.secret_box = SecretBox(settings.resolved_secret_key)
    app.state.start_embedded_worker = True
    app.state.dispose_engine_on_shutdown = True
    """False where the app's owner outlives its server and disposes the engine itself."""

    max_body = settings.max_request_kb * 1024
    if engine.dialect.name == "postgresql":
        app.lane = FastLane(bss_lanes(), max_body=max_body)
    app.add_middleware(
        RequestContextMiddleware, api_prefixes=API_PREFIXES, max_body=max_body
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_error_handlers(app)
    _include_routers(app)
    return app


def serve_app() -> FastAPI:
    """:func:`create_app` for a server process (``partnercenter serve``, once per worker).

    Once the server has started, what is alive then (modules, the application, its
    templates and catalogues: objects that live as long as the process) is put out of the
    garbage collector's way with :func:`gc.freeze`. A large request makes many objects (a
    batch of 10,000 items more than a hundred thousand) and now and then sets off a full
    collection, which then looks only at what requests made: 5-15 ms of such a batch
    instead of 100-130.
    """
    app = create_app()
    app.state.freeze_at_start = True
    return app


def bss_lanes() -> dict[str, Lane]:
    from partnercenter.bss.fastlane import LANES

    return LANES


def _include_routers(app: FastAPI) -> None:
    from partnercenter.api.routes import router as api_router
    from partnercenter.bss import router as bss_router
    from partnercenter.web.views import router as console_router

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        factory = request.app.state.session_factory
        try:
            with factory() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means the database is unreachable
            return JSONResponse({"status": "error", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    app.include_router(api_router)
    app.include_router(bss_router())
    app.include_router(console_router)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def _api_locale(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return best_locale(request.headers.get("accept-language"), settings.locale)


def error_body(error: DomainError, locale: str) -> dict[str, Any]:
    tr = translator(locale)
    body: dict[str, Any] = {"code": error.code, "message": error.render(tr)}
    if error.problems:
        body["problems"] = [
            {"field": problem.field, "message": problem.render(tr)}
            for problem in error.problems
        ]
    return body


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> Response:
        if _is_api(request):
            headers = {}
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            return JSONResponse(
                error_body(error, _api_locale(request)), error.status, headers=headers
            )
        if isinstance(error, NotAuthenticated):
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
        return _console_error(request, error)

    async def nul_in_text(request: Request, error: Exception) -> Response:
        # Text that reached the database unchecked: the driver refuses a NUL character
        # before sending anything, and the request's transaction is rolled back.
        if not is_nul_refusal(error):
            raise error
        return await domain_error(request, InvalidInput(NUL_IN_TEXT))

    app.add_exception_handler(sqlalchemy.exc.DataError, nul_in_text)
    app.add_exception_handler(psycopg.DataError, nul_in_text)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        # The framework reads a form itself and turns any failure into a 400; a body
        # that ran past the size limit (sent without a Content-Length) gets the same
        # refusal as one whose length said so.
        if isinstance(error.__cause__, RequestTooLarge):
            status, body, headers = refusal(
                request.scope,
                error.__cause__,
                api=_is_api(request),
                bss=request.url.path.startswith(BSS_PREFIXES),
            )
            return Response(
                body, status, headers={k.decode(): v.decode() for k, v in headers}
            )
        return await http_exception_handler(request, error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(
        request: Request, error: RequestValidationError
    ) -> Response:
        tr = translator(_api_locale(request))
        problems = [
            {
                "field": ".".join(str(part) for part in item["loc"] if part != "body"),
                "message": tr.gettext("This value is missing or not valid."),
                "detail": item.get("msg", ""),
            }
            for item in error.errors()
        ]
        body = {
            "code": "invalid_input",
            "message": tr.gettext("Some fields are not valid."),
            "problems": problems,
        }
        if _is_api(request):
            return JSONResponse(body, 422)
        return _console_error(request, None, status=400)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _console_error(
    request: Request, error: DomainError | None, status: int | None = None
) -> Response:
    from partnercenter.web.context import anonymous_page

    page = anonymous_page(request)
    message = (
        error.render(page.tr)
        if error
        else page.tr.gettext("Some fields are not valid.")
    )
    problems = [problem.render(page.tr) for problem in error.problems] if error else []
    return page.render(
        "web/error.html",
        status_code=status or (error.status if error else 400),
        message=message,
        problems=problems,
    )


def session_for(app: FastAPI) -> Session:
    """A session on the app's database, for scripts and tests."""
    session: Session = app.state.session_factory()
    return session
