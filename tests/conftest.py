"""Test fixtures: a migrated database per test, on SQLite and on PostgreSQL.

The schema is built once per test worker by running the migrations into a template (a file
for SQLite, a template database for PostgreSQL); each test then gets its own copy, so tests
commit freely, run in parallel and never see each other's rows.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.app import create_app
from partnercenter.core import clock as clock_module
from partnercenter.core.db import make_engine, make_session_factory
from partnercenter.core.migrate import upgrade
from partnercenter.core.settings import Environment, Settings
from partnercenter.identity import passwords
from partnercenter.ledger.fastlane import close_pools

# Hashing at the standard cost takes a third of a second, for every user a test creates and
# every sign-in; the tests hash with argon2's cheapest parameters instead (test_passwords
# checks the standard ones).
passwords.use_hasher(PasswordHasher.from_parameters(CHEAPEST))

hypothesis_settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

POSTGRES_ADMIN_URL = os.environ.get(
    "PARTNERCENTER_TEST_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)
REQUIRE_POSTGRES = (
    os.environ.get("CI") == "true"
    or os.environ.get("PARTNERCENTER_TEST_REQUIRE_POSTGRES") == "1"
)
BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Browser and server-process tests run on PostgreSQL only: drop their SQLite copies."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        only_pg = item.get_closest_marker("browser") or item.get_closest_marker(
            "postgresql_only"
        )
        (dropped if only_pg and backend == "sqlite" else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@dataclass
class Template:
    backend: str
    location: str
    """A file path (SQLite) or a database name (PostgreSQL)."""


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        return str(error)
    return None


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[object]:
    problem = _postgres_reachable()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required here but not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _postgres_url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return Template("sqlite", str(path))


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: object) -> Iterator[Template]:
    name = f"pc_tmpl_{_worker_id()}_{uuid.uuid4().hex[:8]}"
    with postgres_admin.connect() as connection:  # type: ignore[attr-defined]
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(_postgres_url(name))
    upgrade(engine)
    engine.dispose()
    yield Template("postgresql", name)
    with postgres_admin.connect() as connection:  # type: ignore[attr-defined]
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    if backend == "sqlite":
        template: Template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.sqlite3"
        shutil.copyfile(template.location, target)
        yield f"sqlite:///{target}"
        return

    template = request.getfixturevalue("postgres_template")
    admin = request.getfixturevalue("postgres_admin")
    name = f"pc_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(
            text(f'CREATE DATABASE "{name}" TEMPLATE "{template.location}"')
        )
    yield _postgres_url(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-not-for-production",
        base_url="http://testserver",
        environment=Environment.TEST,
        embedded_worker=False,
        smtp_url="",
        locale="zh-CN",
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    application.state.start_embedded_worker = False
    # A test may serve the app and stop the server while its own session still holds a
    # connection; the engine is disposed here, after every session of the test has closed.
    application.state.dispose_engine_on_shutdown = False
    yield application
    # A test that never started the app's lifespan leaves its fast-lane pool to close here.
    close_pools(application)
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(
        app, base_url="http://testserver", follow_redirects=False
    ) as test_client:
        yield test_client


@pytest.fixture
def session_factory(app: FastAPI) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = app.state.session_factory
    return factory


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and inspecting; call ``db.commit()`` before requests."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def clock() -> Iterator[clock_module.FrozenClock]:
    frozen = clock_module.FrozenClock(dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))
    previous = clock_module.set_clock(frozen)
    yield frozen
    clock_module.set_clock(previous)


@pytest.fixture
def fresh_engine_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()
