"""What every benchmark here needs: scratch databases, a pgbench baseline, a real server
process, a load generator that stays out of the way, signed requests and a report.

The benchmarks answer one question: how close does an API call come to the cheapest way
PostgreSQL can do the same work? The baseline is pgbench running a plain transaction; the
other side is the product served by uvicorn in its own process, driven over HTTP/1.1 by
:func:`measure_rate`. Both run on the same machine as PostgreSQL, so the load generator is
written to cost as little CPU as possible per request: requests are signed and encoded before
the clock starts, and the clients are bare asyncio streams.

Nothing here asserts on timings; a benchmark prints numbers and people judge them.
"""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing
import os
import queue
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

# --------------------------------------------------------------------------------------
# Databases

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
"""The maintenance database of the server the benchmarks use; scratch databases are made
beside it. ``BENCH_POSTGRES_URL`` points the benchmarks at another server."""

_NAME_UNSAFE = re.compile(r"[^a-z0-9_]+")
_MAX_IDENTIFIER = 63


def database_url(name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the benchmark server."""
    return (
        make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    )


def libpq_dsn(database: str) -> str:
    """A ``key=value`` connection string for libpq tools such as pgbench and psql.

    ``database`` may be a SQLAlchemy URL (``postgresql+psycopg://…``), a libpq URI, a
    ``key=value`` string (returned as it is) or a bare database name on the benchmark server;
    the benchmarks pass whichever they hold, and libpq does not understand the SQLAlchemy
    driver suffix.
    """
    if "://" not in database:
        if "=" in database:
            return database
        database = database_url(database)
    url = make_url(database)
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    return make_conninfo(
        **{key: value for key, value in params.items() if value is not None}
    )


def _admin_connection() -> psycopg.Connection[Any]:
    # CREATE and DROP DATABASE refuse to run inside a transaction block.
    return psycopg.connect(libpq_dsn(POSTGRES_URL), autocommit=True)


def drop_database(name: str) -> None:
    """Drop ``name`` even if something still holds a connection to it.

    A benchmark that failed half-way may leave a server or pgbench connected; terminating
    them first means the scratch database never outlives the run.
    """
    with _admin_connection() as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


@contextmanager
def scratch_database(prefix: str = "bench") -> Iterator[str]:
    """A new, empty database for one benchmark; yields its SQLAlchemy URL, drops it after.

    The name carries a random suffix so that runs side by side (or a run next to the test
    suite) never share tables.
    """
    stem = _NAME_UNSAFE.sub("_", prefix.lower()).strip("_") or "bench"
    suffix = uuid.uuid4().hex[:12]
    name = f"{stem[: _MAX_IDENTIFIER - len(suffix) - 1]}_{suffix}"
    with _admin_connection() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        drop_database(name)


def migrate(database: str) -> None:
    """Bring ``database`` (a SQLAlchemy URL) to the newest schema, as ``partnercenter db
    upgrade`` does; the server refuses to start on an older one."""
    from partnercenter.core.db import make_engine
    from partnercenter.core.migrate import upgrade

    engine = make_engine(database)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------
# The pgbench baseline

BENCH_ACCOUNTS = 10_000
"""Accounts in the baseline's table: enough that random transfers rarely meet on a row."""

HOT_ACCOUNT = 1

_TABLES = """
DROP TABLE IF EXISTS bench_history, bench_accounts;
CREATE TABLE bench_accounts (id integer PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE bench_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    debit_id integer NOT NULL,
    credit_id integer NOT NULL,
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

_TPS = re.compile(
    r"^tps = ([0-9.]+) \(without initial connection time\)$", re.MULTILINE
)


class PgbenchFailed(RuntimeError):
    """pgbench exited with an error or printed no rate; the message carries its output."""


def pgbench_transfer_script(*, hot: bool, accounts: int = BENCH_ACCOUNTS) -> str:
    """The pgbench script of one transfer: two balance updates and a history row.

    The two rows are updated in the order of their ids, whichever is debited: two transfers
    crossing the same pair in opposite directions would otherwise deadlock now and then, and
    pgbench aborts a client on a deadlock. A ledger locks in a fixed order for the same
    reason, so the baseline is the cheapest correct transfer, not a cheaper wrong one.

    ``hot``: every transfer debits account 1 and credits a random other, so all clients
    queue on one row lock, as they do on a partner's single funding account.
    """
    if accounts < 2:
        raise ValueError("a transfer needs at least two accounts")
    if hot:
        pick = f"\\set debit {HOT_ACCOUNT}\n\\set credit random(2, {accounts})\n"
    else:
        # Draw the credited account from the others so the two always differ.
        pick = (
            f"\\set debit random(1, {accounts})\n"
            f"\\set credit random(1, {accounts - 1})\n"
            "\\if :credit >= :debit\n"
            "\\set credit :credit + 1\n"
            "\\endif\n"
        )
    debit = "UPDATE bench_accounts SET balance = balance - :amount WHERE id = :debit;\n"
    credit = (
        "UPDATE bench_accounts SET balance = balance + :amount WHERE id = :credit;\n"
    )
    return (
        pick
        + "\\set amount random(1, 1000)\n"
        + "BEGIN;\n"
        + "\\if :debit < :credit\n"
        + debit
        + credit
        + "\\else\n"
        + credit
        + debit
        + "\\endif\n"
        + "INSERT INTO bench_history (debit_id, credit_id, amount) "
        + "VALUES (:debit, :credit, :amount);\n"
        + "END;\n"
    )


def _create_transfer_tables(dsn: str, accounts: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(_TABLES)
        connection.execute(
            "INSERT INTO bench_accounts (id, balance) "
            "SELECT n, 0 FROM generate_series(1, %s) AS n",
            (accounts,),
        )
        # Fresh statistics and visibility map, so the first seconds do not run on a
        # sequential-scan plan or pay for hint bits.
        connection.execute("VACUUM ANALYZE bench_accounts")


def pgbench_transfer_rate(
    database: str,
    *,
    clients: int = 8,
    seconds: int = 10,
    hot: bool = False,
    threads: int = 2,
    accounts: int = BENCH_ACCOUNTS,
) -> float:
    """Transfers per second that pgbench reaches in ``database``: the baseline.

    ``database`` is anything :func:`libpq_dsn` takes. The tables ``bench_accounts`` and
    ``bench_history`` are (re)created in it first, so every call starts from the same state
    and the product's own tables in a shared database are left alone. Simple protocol
    (``-M simple``) because the product's driver sends each statement as text too.
    """
    dsn = libpq_dsn(database)
    _create_transfer_tables(dsn, accounts)
    with tempfile.NamedTemporaryFile(
        "w", prefix="bench-transfer-", suffix=".sql", encoding="utf-8"
    ) as script:
        script.write(pgbench_transfer_script(hot=hot, accounts=accounts))
        script.flush()
        command = [
            "pgbench",
            "-n",
            "-M",
            "simple",
            "-c",
            str(clients),
            "-j",
            str(min(threads, clients)),
            "-T",
            str(seconds),
            "-f",
            script.name,
            dsn,
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 120,
        )
    found = _TPS.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise PgbenchFailed(
            f"pgbench exited with {done.returncode}\n"
            f"--- stderr ---\n{done.stderr.strip()}\n--- stdout ---\n{done.stdout.strip()}"
        )
    return float(found.group(1))


# --------------------------------------------------------------------------------------
# The server under test

BENCH_SECRET_KEY = "bench-secret-key-not-for-production"  # noqa: S105 - a scratch key
"""The server's secret key in benchmarks; API keys issued with it can be verified by it."""

ENV_PREFIX = "PARTNERCENTER_"
HEALTH_PATH = "/healthz"


class ServerFailed(RuntimeError):
    """The server did not come up; the message ends with the tail of its log."""


def free_port() -> int:
    """A TCP port nobody listens on right now (it may be taken again before use)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_environment(
    database: str, data_dir: Path, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a benchmark server: this process's, minus its ``PARTNERCENTER_*``
    settings, plus the benchmark's.

    The caller's own settings (a config file, a SQLite data folder, a log level) are dropped
    so that a run measures the same configuration on every machine. Production mode, because
    that is what is deployed; no embedded worker, because production runs it beside the
    servers. The log level stays the product's default (INFO: one JSON line per request, to
    the server's log file), since a deployment pays for that line too. ``overrides`` win over
    everything.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ENV_PREFIX)
    }
    env.update(
        {
            f"{ENV_PREFIX}DATABASE_URL": database,
            f"{ENV_PREFIX}DATA_DIR": str(data_dir),
            f"{ENV_PREFIX}SECRET_KEY": BENCH_SECRET_KEY,
            f"{ENV_PREFIX}ENVIRONMENT": "production",
            f"{ENV_PREFIX}EMBEDDED_WORKER": "false",
        }
    )
    env.update(overrides or {})
    return env


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone since the listing
        # The command name is in parentheses and may itself hold spaces or parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its living descendants, read from /proc."""
    children = _children_by_parent()
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def peak_rss_kb(pid: int) -> int:
    """The high-water mark of resident memory of one process (``VmHWM``), 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Server:
    """A product server in its own process, as deployed: uvicorn, the app factory, a port.

    A separate process, rather than a thread of the benchmark, so that the benchmark's own
    Python does not share the server's GIL and the server's memory can be read on its own.
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        port: int,
        workers: int,
        log_path: Path,
        startup_timeout: float,
    ) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        """What clients put in the Host header, and so what requests are signed for."""
        self.url = f"http://{self.host}"
        self.workers = workers
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._earlier_peak_kb = 0

    @property
    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "partnercenter.app:serve_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        return command

    @property
    def pid(self) -> int:
        """The uvicorn process (with several workers, their supervisor)."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the process and return once ``/healthz`` answers 200."""
        if self.running:
            raise RuntimeError("the server is already running")
        if not self.log_path.parent.is_dir():
            raise RuntimeError("the server's block has ended; start a new one")
        if self._log is None:
            # Appended to across restarts, so a crash test keeps the whole story.
            self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self.command,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: kill() reaches every worker, and a Ctrl-C in the
            # terminal reaches the benchmark, which then stops the server in order.
            start_new_session=True,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self._kill_group()
            raise

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise ServerFailed(f"the server exited with {code}\n{self.log_tail()}")
            if self._answers_health():
                return
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"the server did not answer {HEALTH_PATH} within "
                    f"{self.startup_timeout:.0f} s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _answers_health(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", HEALTH_PATH)
            response = connection.getresponse()
            response.read()
        except OSError:
            return False
        finally:
            connection.close()
        return response.status == 200

    def peak_rss_mb(self) -> float:
        """Peak resident memory in MiB: the sum of ``VmHWM`` over the server's processes.

        With several workers the supervisor and every worker count, since a deployment pays
        for all of them. A sum of per-process peaks can exceed what was ever resident at one
        moment, so it is an upper bound. After kill() or restart() the largest figure of an
        earlier process is kept, so a crash in the middle does not hide a peak.
        """
        return max(self._earlier_peak_kb, self._current_peak_kb()) / 1024

    def _current_peak_kb(self) -> int:
        if not self.running:
            return 0
        return sum(peak_rss_kb(pid) for pid in process_tree(self.pid))

    def _remember_peak(self) -> None:
        self._earlier_peak_kb = max(self._earlier_peak_kb, self._current_peak_kb())

    def kill(self) -> None:
        """SIGKILL the whole server at once, as a crash or an OOM kill would."""
        if self._process is None:
            return
        self._remember_peak()
        self._kill_group()

    def _kill_group(self) -> None:
        if self._process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        # Forgotten once its group is gone, so no later call signals a reused process id.
        self._process = None

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the server to shut down (SIGTERM), and kill it if it does not in time."""
        if self._process is None:
            return
        self._remember_peak()
        if self._process.poll() is None:
            self._process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout)
        # Kills what is left: a hung server, or a worker its supervisor left behind.
        self._kill_group()

    def restart(self) -> None:
        """Start again on the same port, so clients and signed requests keep their Host.

        Works after kill(), after stop(), and after the server died on its own (which the
        stop() first reaps).
        """
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(the server log is empty)"


@contextmanager
def run_server(
    database: str,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    workers: int = 1,
    startup_timeout: float = 60.0,
) -> Iterator[Server]:
    """A running server on ``database`` (a migrated SQLAlchemy URL) until the block ends.

    ``env`` adds or overrides ``PARTNERCENTER_*`` settings (see :func:`server_environment`).
    The data folder and the server's log live in a temporary folder removed afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="bench-server-") as scratch:
        folder = Path(scratch)
        server = Server(
            env=server_environment(database, folder / "data", env),
            port=port or free_port(),
            workers=workers,
            log_path=folder / "server.log",
            startup_timeout=startup_timeout,
        )
        try:
            server.start()
            yield server
        finally:
            server.close()


# --------------------------------------------------------------------------------------
# Requests, signed as the official SDK signs them


IDEMPOTENCY_HEADER = "Idempotency-Key"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """One request exactly as it goes on the wire, encoded before the timed part."""

    method: str
    target: str
    """Path and query as sent."""
    raw: bytes
    """Request line, headers and body."""
    idempotency_key: str | None = None


def prepare_request(
    method: str,
    target: str,
    *,
    host: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    header_encoding: str = "utf-8",
    idempotency_key: str | None = None,
) -> PreparedRequest:
    """Encode an HTTP/1.1 request, keep-alive by default, with ``Content-Length`` added.

    ``header_encoding`` is latin-1 for headers that the SDK signer left as UTF-8 bytes spelt
    as latin-1 text, so that the bytes sent are the bytes it signed.
    """
    method = method.upper()
    headers = dict(headers or {})
    names = {name.lower() for name in headers}
    if "host" not in names:
        headers = {"Host": host, **headers}
    if (body or method in _BODY_METHODS) and "content-length" not in names:
        headers["Content-Length"] = str(len(body))
    lines = [f"{method} {target} HTTP/1.1".encode("ascii")]
    for name, value in headers.items():
        if any(char in name + value for char in "\r\n"):
            raise ValueError(f"line break in header {name!r}")
        lines.append(name.encode("ascii") + b": " + value.encode(header_encoding))
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    return PreparedRequest(method, target, raw, idempotency_key)


def sdk_date(moment: float | None = None) -> str:
    """An ``X-Sdk-Date`` value (``20260302T020000Z``) for now or for a Unix time."""
    from partnercenter.identity.signing import DATE_FORMAT

    return time.strftime(DATE_FORMAT, time.gmtime(moment))


def sign_request(  # noqa: PLR0917 - a request's parts, then whose keys sign it
    method: str,
    url_path: str,
    body: bytes,
    ak: str,
    sk: str,
    extra_headers: Mapping[str, str] | None = None,
    *,
    host: str,
    domain_id: str | None = None,
    date: str | None = None,
    idempotency_key: str | None = None,
) -> PreparedRequest:
    """A request signed ``SDK-HMAC-SHA256`` by the cloud's official SDK signer itself.

    The SDK's own code signs it (``GlobalCredentials.sign_request`` over an ``SdkRequest``),
    so the server is measured against what real clients send, not against a re-implementation
    that could agree with the server's verifier on a mistake.

    ``url_path`` is the path as sent, optionally with ``?query`` (the SDK re-encodes the
    query in canonical order). ``host`` must be what the client sends as Host
    (:attr:`Server.host`). ``domain_id`` adds ``X-Domain-Id`` as the SDK does for global
    services. Every request gets a fresh ``Idempotency-Key`` unless one is given; like every
    header present before signing, the SDK signs it. The date defaults to now: a pool
    signed during setup stays valid for the server's signature window (15 minutes).
    """
    from huaweicloudsdkcore.auth.credentials import (  # type: ignore[import-untyped]
        GlobalCredentials,
    )
    from huaweicloudsdkcore.sdk_request import SdkRequest  # type: ignore[import-untyped]

    method = method.upper()
    parts = urlsplit(url_path)
    key = idempotency_key or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Sdk-Date": date or sdk_date(),
        IDEMPOTENCY_HEADER: key,
        **(extra_headers or {}),
    }
    request = SdkRequest(
        method=method,
        schema="http",
        host=host,
        resource_path=parts.path,
        query_params=parse_qsl(parts.query, keep_blank_values=True),
        header_params=headers,
        body=body,
    )
    GlobalCredentials(ak, sk, domain_id).sign_request(request)
    return prepare_request(
        method,
        request.uri,
        host=host,
        headers=request.header_params,
        body=request.body or b"",
        header_encoding="latin-1",
        idempotency_key=key,
    )


@dataclass(frozen=True, slots=True)
class ApiKey:
    ak: str
    sk: str
    domain_id: str
    """The organisation the key belongs to."""


def create_partner_with_key(
    database: str, *, secret_key: str = BENCH_SECRET_KEY, name: str | None = None
) -> ApiKey:
    """A solution provider with its admin account and one API key, committed.

    The secret is sealed with ``secret_key``, so it must be the key of the server that will
    verify the requests (the default is the one :func:`run_server` gives its server).
    """
    from partnercenter.core.actor import SYSTEM
    from partnercenter.core.db import make_engine, make_session_factory, unit_of_work
    from partnercenter.core.security import SecretBox
    from partnercenter.identity import credentials
    from partnercenter.identity import service as identity
    from partnercenter.identity.models import AccountType, OrganisationKind, PartnerType

    account_name = name or f"bench-{uuid.uuid4().hex[:10]}"
    engine = make_engine(database)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            admin = identity.create_user(
                session,
                account_name=account_name,
                display_name=account_name,
                password=f"{secrets.token_urlsafe(18)}-Aa9",
                email=f"{account_name}@example.com",
                account_type=AccountType.ENTERPRISE,
            )
            organisation = identity.create_organisation(
                session,
                SYSTEM,
                kind=OrganisationKind.PARTNER,
                partner_type=PartnerType.SOLUTION_PROVIDER,
                account_name=account_name,
                display_name=account_name,
                country_region="CN",
                main_user=admin,
            )
            identity.add_membership(
                session,
                admin,
                organisation,
                roles=["partner_admin"],
                is_main_account=True,
            )
            issued = credentials.create(
                session,
                SecretBox(secret_key),
                SYSTEM,
                organisation,
                description="benchmark key",
            )
            key = ApiKey(
                issued.credential.access_key, issued.secret_key, organisation.id
            )
    finally:
        engine.dispose()
    return key


# --------------------------------------------------------------------------------------
# The load generator

MAX_ERROR_SAMPLES = 5
TRANSPORT_ERROR = 0
"""The status recorded for a request that got no HTTP answer (refused, reset, timed out)."""


@dataclass(frozen=True)
class LoadResult:
    rate: float
    """Successful (2xx) requests per second. Failures do not count: a server that answers
    500 quickly must not look fast."""
    ok: int
    failed: int
    """Non-2xx answers plus requests without an answer."""
    status_counts: dict[int, int]
    """Requests by status; ``0`` counts those that got no HTTP answer."""
    seconds: float
    """From the first request sent to the last answer received."""
    error_samples: list[str] = field(default_factory=list)
    """The first few failures, with the start of their bodies."""
    latency_ms: dict[str, float] = field(default_factory=dict)
    """p50, p90, p99 and max of the time to a full answer, over every answered request."""


class _ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as this client reads it."""


@dataclass
class _Tally:
    """What one event loop saw; tallies of several processes are added up."""

    started: float = 0.0
    finished: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def note_error(self, text: str) -> None:
        if len(self.errors) < MAX_ERROR_SAMPLES:
            self.errors.append(text)


class _Feed:
    """Hands out requests in turn to the clients of one event loop.

    Without a deadline each request goes out once; with one the list is cycled until it
    passes. No lock: the clients of one loop only switch at an ``await``.
    """

    def __init__(
        self, items: Sequence[tuple[bytes, bool]], deadline: float | None
    ) -> None:
        self.items = items
        self.deadline = deadline
        self.index = 0

    def next(self) -> tuple[bytes, bool] | None:
        if self.deadline is None:
            if self.index >= len(self.items):
                return None
        elif time.monotonic() >= self.deadline:
            return None
        item = self.items[self.index % len(self.items)]
        self.index += 1
        return item


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one event loop of clients is to do; pickled as it is to a load process."""

    host: str
    port: int
    items: Sequence[tuple[bytes, bool]]
    """Each request's bytes, and whether it is a HEAD (whose answer has no body)."""
    clients: int
    seconds: float | None
    request_timeout: float


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(host: str, port: int) -> Streams:
    # Room for large header blocks; the default 64 KiB would do for this product.
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _read_response(
    reader: asyncio.StreamReader, *, head_request: bool
) -> tuple[int, bytes, bool]:
    """Status, body and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or len(head) < 12:
        raise _ProtocolError(f"not an HTTP/1.x status line: {head[:40]!r}")
    try:
        status = int(head[9:12])
        length, chunked, closing = -1, False, head.startswith(b"HTTP/1.0")
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                closing = b"close" in value.lower()
    except ValueError as error:
        raise _ProtocolError(f"unreadable answer head: {head[:200]!r}") from error
    if head_request or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif chunked:
        body = await _read_chunked(reader)
    elif length >= 0:
        body = await reader.readexactly(length)
    else:
        body, closing = await reader.read(), True
    return status, body, closing


def _close(streams: Streams | None) -> None:
    if streams is not None:
        streams[1].close()


async def _client(plan: _Plan, streams: Streams, feed: _Feed, tally: _Tally) -> None:
    """One keep-alive connection sending one request after another."""
    current: Streams | None = streams
    try:
        while (item := feed.next()) is not None:
            raw, head_request = item
            begun = time.perf_counter()
            try:
                async with asyncio.timeout(plan.request_timeout):
                    if current is None:
                        current = await _connect(plan.host, plan.port)
                    reader, writer = current
                    writer.write(raw)
                    if len(raw) > 1 << 16:
                        await writer.drain()
                    status, body, closing = await _read_response(
                        reader, head_request=head_request
                    )
            except (
                OSError,
                TimeoutError,
                EOFError,
                asyncio.LimitOverrunError,
                _ProtocolError,
            ) as error:
                # No answer: count it, drop the connection and try a new one for the next
                # request, which is what lets a crash test run through a server restart.
                tally.statuses[TRANSPORT_ERROR] += 1
                tally.note_error(f"no answer: {type(error).__name__}: {error}")
                _close(current)
                current = None
                await asyncio.sleep(0.05)
                continue
            tally.latencies.append(time.perf_counter() - begun)
            tally.statuses[status] += 1
            if not 200 <= status < 300:
                tally.note_error(f"{status}: {body[:500].decode('utf-8', 'replace')}")
            if closing:
                _close(current)
                current = None
    finally:
        _close(current)


async def _drive(plan: _Plan, ready: Callable[[], object] | None) -> _Tally:
    # Connections are opened before the clock starts: the rate is of requests, not of
    # TCP handshakes.
    connections = await asyncio.gather(
        *(_connect(plan.host, plan.port) for _ in range(plan.clients))
    )
    if ready is not None:
        ready()  # blocks until every process has connected; nothing else runs yet
    tally = _Tally(started=time.monotonic())
    deadline = None if plan.seconds is None else tally.started + plan.seconds
    feed = _Feed(plan.items, deadline)
    await asyncio.gather(*(_client(plan, conn, feed, tally) for conn in connections))
    tally.finished = time.monotonic()
    return tally


def _run_loop(plan: _Plan, ready: Callable[[], object] | None = None) -> _Tally:
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # the standard loop is only slower
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_drive(plan, ready))


def _load_process(plan: _Plan, barrier: Any, results: Any) -> None:
    """Entry point of a load process: run the clients and send the tally home."""
    try:
        tally = _run_loop(plan, barrier.wait)
    except BaseException as error:
        barrier.abort()  # releases the other processes instead of leaving them waiting
        results.put(("error", f"{type(error).__name__}: {error}"))
        raise
    results.put(("ok", tally))


def _in_processes(plan: _Plan, processes: int) -> _Tally:
    # Spawned, not forked: the benchmark may hold threads and database connections that a
    # forked child would inherit half-way.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes, timeout=120)
    results = context.Queue()
    plans = [
        replace(
            plan,
            clients=plan.clients // processes + (i < plan.clients % processes),
            # Each process its own slice, so no request is sent twice in a single pass.
            items=plan.items[i::processes]
            if len(plan.items) >= processes
            else plan.items,
        )
        for i in range(processes)
    ]
    workers = [
        context.Process(
            target=_load_process, args=(part, barrier, results), daemon=True
        )
        for part in plans
    ]
    for worker in workers:
        worker.start()
    tallies: list[_Tally] = []
    try:
        while len(tallies) < processes:
            try:
                kind, payload = results.get(timeout=1.0)
            except queue.Empty:
                if not any(worker.is_alive() for worker in workers) and results.empty():
                    raise RuntimeError("a load process died without a result") from None
                continue
            if kind != "ok":
                raise RuntimeError(f"a load process failed: {payload}")
            tallies.append(payload)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
                worker.join()
    total = _Tally(
        started=min(t.started for t in tallies),
        finished=max(t.finished for t in tallies),
    )
    for tally in tallies:
        total.statuses.update(tally.statuses)
        total.latencies.extend(tally.latencies)
        for error in tally.errors:
            total.note_error(error)
    return total


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": ordered[-1] * 1000,
    }


def measure_rate(
    url: str,
    requests: Sequence[PreparedRequest],
    *,
    clients: int = 8,
    seconds: float | None = None,
    processes: int = 0,
    timeout: float = 30.0,
) -> LoadResult:
    """Send ``requests`` to the server at ``url`` from ``clients`` keep-alive connections.

    ``seconds=None`` sends every request exactly once (each carries its own idempotency key,
    so that is what write benchmarks want); with ``seconds`` the list is cycled until the
    time is up, and the answers still in flight are waited for. Requests are taken in turn
    by whichever client is free.

    ``processes=0`` runs the clients on an event loop in this process; ``processes=N`` in N
    spawned processes, splitting clients and requests between them, for when this process
    is busy with other work; the script that calls it then needs the usual
    ``if __name__ == "__main__":`` guard, since each process imports it afresh. Blocking:
    call it from synchronous code, not from a running event loop.
    """
    if not requests:
        raise ValueError("no requests to send")
    if clients < 1:
        raise ValueError("at least one client is needed")
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"an http:// URL is needed, not {url!r}")
    host, port = parts.hostname, parts.port or 80
    plan = _Plan(
        host=host,
        port=port,
        items=[(request.raw, request.method == "HEAD") for request in requests],
        clients=clients,
        seconds=seconds,
        request_timeout=timeout,
    )
    tally = (
        _in_processes(plan, min(processes, clients))
        if processes > 0
        else _run_loop(plan)
    )
    elapsed = max(tally.finished - tally.started, 1e-9)
    ok = sum(count for status, count in tally.statuses.items() if 200 <= status < 300)
    return LoadResult(
        rate=ok / elapsed,
        ok=ok,
        failed=sum(tally.statuses.values()) - ok,
        status_counts=dict(sorted(tally.statuses.items())),
        seconds=elapsed,
        error_samples=list(tally.errors),
        latency_ms=_percentiles(tally.latencies),
    )


# --------------------------------------------------------------------------------------
# Reporting


def busy_cores(sample: float = 1.0) -> float:
    """How many cores the whole machine kept busy over the next ``sample`` seconds.

    On a shared two-core box a test suite running beside the benchmark halves every rate;
    printing this before a run says whether its numbers can be compared with others.
    """

    def busy_and_total() -> tuple[int, int]:
        # user nice system idle iowait irq softirq steal; guest time is already in user.
        first = Path("/proc/stat").read_text().split("\n", 1)[0]
        ticks = [int(n) for n in first.split()[1:9]]
        idle = ticks[3] + ticks[4]
        return sum(ticks) - idle, sum(ticks)

    busy_before, total_before = busy_and_total()
    time.sleep(sample)
    busy_after, total_after = busy_and_total()
    cores = os.cpu_count() or 1
    elapsed = max(total_after - total_before, 1)
    return cores * (busy_after - busy_before) / elapsed


def ratio(baseline: float, api: float) -> float:
    """The API's rate as a fraction of the baseline's: 1.0 would be "as fast as pgbench"."""
    if baseline <= 0:
        raise ValueError("the baseline rate must be positive")
    return api / baseline


def median_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """The median of api/baseline over (baseline, api) pairs.

    Runs are paired (baseline and API measured back to back) and the median taken of the
    ratios, because the machine's speed drifts between runs and the median of paired ratios
    cancels most of the drift and ignores one disturbed run.
    """
    if not pairs:
        raise ValueError("no pairs to take the median of")
    return statistics.median(ratio(baseline, api) for baseline, api in pairs)


def report(
    title: str,
    pairs: Sequence[tuple[float, float]],
    *,
    labels: Sequence[str] | None = None,
    peak_rss_mb: float | None = None,
    baseline_name: str = "baseline/s",
    api_name: str = "API/s",
) -> str:
    """Print a table of the paired runs, their ratios and the median ratio; return it."""
    labels = (
        list(labels) if labels is not None else [str(i + 1) for i in range(len(pairs))]
    )
    if len(labels) != len(pairs):
        raise ValueError("one label per pair")
    width = max([len("run"), *(len(label) for label in labels)])
    lines = [
        title,
        "=" * len(title),
        f"{'run':<{width}}  {baseline_name:>12}  {api_name:>12}  {'ratio':>7}",
    ]
    lines.extend(
        f"{label:<{width}}  {baseline:>12.1f}  {api:>12.1f}  {ratio(baseline, api):>7.3f}"
        for label, (baseline, api) in zip(labels, pairs, strict=True)
    )
    lines.append(f"median ratio: {median_ratio(pairs):.3f}")
    if peak_rss_mb is not None:
        lines.append(f"peak RSS of the server: {peak_rss_mb:.1f} MiB")
    text = "\n".join(lines)
    print(text)
    return text
