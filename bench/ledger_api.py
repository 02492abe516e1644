"""Single allocations over the API beside pgbench's plain two-account transfer.

One scratch database, seeded with a partner, ten thousand resale customers and enough money
(:mod:`bench.seed`). The server runs as deployed (uvicorn in its own process, production
settings, request logging on) and is driven by keep-alive clients sending pre-signed
``POST /api/v1/ledger/allocations`` of 1.00 each, every request with its own
``Idempotency-Key`` and spread over all the customers. Each pair is pgbench (8 clients,
simple protocol, random distinct accounts) measured right before the API on the same
database; the report is the median of the pairs' ratios, the server's peak RSS, the status
counts (every answer must say the allocation was made: 201 natively, 200 through the
BSS path), the CPU the server used, and ``ledger verify`` at the end.
After the pairs come three references that are not part of the ratio: pgbench with one hot
debit account, pgbench calling the ledger's allocation function itself, and the same with
eight calls per transaction (see :func:`pgbench_function_rate`).

Every request is sent exactly once: the pool of signed requests for a measurement is sized
from the rate seen so far, so a measurement lasts about ``--seconds``, and the number of
allocations in the ledger afterwards must equal the number of answers that made one.

    python -m bench.ledger_api                       # the benchmark (~3 minutes)
    python -m bench.ledger_api --workers 1 --clients 8 --processes 0
    python -m bench.ledger_api --sweep               # one short pair per server/client setup
    python -m bench.ledger_api --profile             # py-spy on the server during a run
    python -m bench.ledger_api --face bss            # the same through the BSS adjust-amount
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.harness import (
    LoadResult,
    PreparedRequest,
    Server,
    busy_cores,
    free_port,
    libpq_dsn,
    measure_rate,
    migrate,
    pgbench_transfer_rate,
    process_tree,
    report,
    scratch_database,
    server_environment,
    sign_request,
)
from bench.seed import LedgerCheck, Seeded, check_ledger, seed, source_state

AMOUNT = "1.00"
AMOUNT_MINOR = 100


@dataclass(frozen=True)
class Face:
    """The API an allocation is sent to, and what it answers when it is made."""

    name: str
    path: str
    created: int
    env: Mapping[str, str] = field(default_factory=dict)

    def body(self, customer_id: str) -> bytes:
        if self.name == "bss":
            # The SDK sends amounts as JSON numbers.
            return (f'{{"customer_id": "{customer_id}", "amount": {AMOUNT}}}').encode()
        return json.dumps({"customer_id": customer_id, "amount": AMOUNT}).encode()


FACES = {
    "native": Face("native", "/api/v1/ledger/allocations", 201),
    "bss": Face(
        "bss",
        "/v2/accounts/partner-accounts/adjust-amount",
        200,
        # Flow control would answer most of the load with 429 at its default of 10 a
        # second; the guard against repeated signed writes stays on.
        {"PARTNERCENTER_BSS_RATE_LIMIT": "0"},
    ),
}


# --------------------------------------------------------------------------------------
# The server and the load, as tuned


@dataclass(frozen=True)
class Setup:
    """One way of running the server and the load generator."""

    workers: int = 2
    """uvicorn worker processes."""
    clients: int = 32
    """Keep-alive connections of the load generator."""
    processes: int = 1
    """Load processes (0: the clients run in this process)."""
    loop: str = "auto"
    """uvicorn's --loop: auto picks uvloop when it is installed."""
    http: str = "auto"
    """uvicorn's --http: auto picks httptools when it is installed."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra ``PARTNERCENTER_*`` settings of the server."""
    face: Face = FACES["native"]
    """Which API the allocations go to."""

    @property
    def label(self) -> str:
        parts = [
            f"{self.workers}w",
            f"{self.clients}c",
            f"{self.processes}p" if self.processes else "in-proc",
        ]
        if (self.loop, self.http) != ("auto", "auto"):
            parts.append(f"{self.loop}/{self.http}")
        if self.face.name != "native":
            parts.append(self.face.name)
        parts.extend(
            f"{k.removeprefix('PARTNERCENTER_')}={v}" for k, v in self.env.items()
        )
        return " ".join(parts)


class TunedServer(Server):
    """The harness's server with uvicorn's event loop and HTTP parser chosen."""

    def __init__(self, *, loop: str, http: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.loop = loop
        self.http = http

    @property
    def command(self) -> list[str]:
        return [*super().command, "--loop", self.loop, "--http", self.http]


@contextmanager
def serve(database: str, setup: Setup) -> Iterator[Server]:
    """Like ``harness.run_server``, with the setup's loop, parser, workers and settings."""
    with tempfile.TemporaryDirectory(prefix="bench-server-") as scratch:
        folder = Path(scratch)
        server = TunedServer(
            env=server_environment(
                database, folder / "data", {**setup.face.env, **setup.env}
            ),
            port=free_port(),
            workers=setup.workers,
            log_path=folder / "server.log",
            startup_timeout=60.0,
            loop=setup.loop,
            http=setup.http,
        )
        try:
            server.start()
            yield server
        finally:
            server.close()


# --------------------------------------------------------------------------------------
# Signed requests


@dataclass(frozen=True)
class _SignJob:
    ak: str
    sk: str
    domain_id: str
    host: str
    customer_ids: Sequence[str]
    face: Face


def _sign_part(job: _SignJob) -> list[PreparedRequest]:
    return [
        sign_request(
            "POST",
            job.face.path,
            job.face.body(customer_id),
            job.ak,
            job.sk,
            host=job.host,
            domain_id=job.domain_id,
        )
        for customer_id in job.customer_ids
    ]


class Allocations:
    """Signed allocation requests, each to the next customer of a shuffled round.

    The official signer takes about a millisecond a request, so large pools are signed in
    one process per core, before the clock starts. Requests stay valid for the server's
    signature window (15 minutes), far longer than a run.
    """

    def __init__(self, seeded: Seeded, host: str, face: Face) -> None:
        self.seeded = seeded
        self.host = host
        self.face = face
        self._order = list(seeded.customer_ids)
        # A fixed seed: the same order on every run. Not a secret.
        random.Random(20261203).shuffle(self._order)  # noqa: S311
        self._next = 0

    def _customers(self, count: int) -> list[str]:
        picked = [
            self._order[(self._next + i) % len(self._order)] for i in range(count)
        ]
        self._next += count
        return picked

    def sign(self, count: int) -> list[PreparedRequest]:
        customers = self._customers(count)
        key = self.seeded.partner
        cores = os.cpu_count() or 1
        if count < 2000 or cores == 1:
            return _sign_part(
                _SignJob(key.ak, key.sk, key.domain_id, self.host, customers, self.face)
            )
        jobs = [
            _SignJob(
                key.ak,
                key.sk,
                key.domain_id,
                self.host,
                customers[i::cores],
                self.face,
            )
            for i in range(cores)
        ]
        with multiprocessing.get_context("spawn").Pool(cores) as pool:
            parts = pool.map(_sign_part, jobs)
        # Put back in the order of the customers, so consecutive requests still go to
        # different customers.
        signed: list[PreparedRequest] = [parts[0][0]] * count
        for index, part in enumerate(parts):
            signed[index::cores] = part
        return signed


# --------------------------------------------------------------------------------------
# The ledger's database function without the server


FUNCTION_CALL = """\\set n{i} random(1, {customers})
SELECT outcome FROM ledger_customer_transfers('{partner}', NULL, 'CNY', ARRAY['allocate'],
    ARRAY[(SELECT customer_id FROM bench_customers WHERE n = :n{i})], ARRAY[{amount}::bigint],
    ARRAY['AD' || to_char(now() AT TIME ZONE 'UTC', 'YYMMDDHH24MISS')
        || substr(md5(random()::text), 1, 10)],
    ARRAY[now()], ARRAY[NULL::text], ARRAY[NULL::text], ARRAY[{credential}::bigint],
    ARRAY[NULL::text], ARRAY['pgbench-' || md5(random()::text)], ARRAY[md5('pgbench')]);
"""
"""One request a call of the ledger's function, as the console sends it (the API server
sends the requests of a partner that queued meanwhile together)."""


REFERENCE_SECONDS = 10
"""Each reference runs once, after the pairs, so shorter than a measurement of a pair."""
GROUPED = 8
"""Calls per transaction of the grouped reference: one per client of the default setup's
load process, as many as can be waiting for the partner's lock at once."""


def _pgbench_keys(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        found = connection.execute(
            "SELECT count(*) FROM idempotency_keys "
            "WHERE key LIKE 'pgbench-%%' AND transfer_id IS NOT NULL"
        ).fetchone()
    assert found is not None
    return int(found[0])


def pgbench_function_rate(
    seeded: Seeded, *, clients: int, seconds: int, per_transaction: int = 1
) -> tuple[float, int]:
    """Allocations per second of pgbench calling ``ledger_customer_transfers`` itself, one
    request a call, and how many it posted (counted by their idempotency keys).

    The statement the console sends for a request (the API server groups the requests of a
    partner that queue meanwhile), with the same partner, customers, key and idempotency
    keys, from pgbench's clients (simple protocol): what the database side allows when every
    allocation has a lock and a commit of its own.

    ``per_transaction`` > 1 makes that many calls in one transaction: one lock of the
    partner's account and one commit for all of them, roughly what a server that gathered
    the concurrent requests of one partner into one call would get (pgbench sends the calls
    one after another, so the lock is also held across its round trips). pgbench retries a
    transaction that deadlocks (two such transactions may meet on a customer), as a
    set-based call that locks all its accounts in id order at once would not need to.
    """
    dsn = libpq_dsn(seeded.database)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_customers "
            "(n integer PRIMARY KEY, customer_id text NOT NULL)"
        )
        connection.execute("TRUNCATE bench_customers")
        with connection.cursor().copy(
            "COPY bench_customers (n, customer_id) FROM STDIN"
        ) as copy:
            for n, customer_id in enumerate(seeded.customer_ids, start=1):
                copy.write_row((n, customer_id))
        connection.execute("ANALYZE bench_customers")
        credential = connection.execute(
            "SELECT id FROM api_credentials WHERE access_key = %s", (seeded.partner.ak,)
        ).fetchone()
    assert credential is not None
    calls = "".join(
        FUNCTION_CALL.format(
            i=i,
            customers=len(seeded.customer_ids),
            partner=seeded.partner.domain_id,
            amount=AMOUNT_MINOR,
            credential=credential[0],
        )
        for i in range(per_transaction)
    )
    script = calls if per_transaction == 1 else f"BEGIN;\n{calls}END;\n"
    before = _pgbench_keys(dsn)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as file:
        file.write(script)
        file.flush()
        done = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "simple",
                "-c",
                str(clients),
                "-j",
                str(min(2, clients)),
                "-T",
                str(seconds),
                "--max-tries",
                "20",
                "-f",
                file.name,
                dsn,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 120,
        )
    found = re.search(r"^tps = ([0-9.]+) \(without", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"pgbench failed: {done.stderr.strip()}\n{done.stdout}")
    return float(found.group(1)) * per_transaction, _pgbench_keys(dsn) - before


# --------------------------------------------------------------------------------------
# Measuring

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of the processes so far (dead ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _machine_busy_seconds() -> tuple[float, float]:
    """(busy, elapsed) CPU seconds of the whole machine so far, summed over cores."""
    ticks = [
        int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    ]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS


@dataclass(frozen=True)
class CpuUse:
    """Where the CPU went during one API measurement."""

    server_cores: float
    """Cores kept busy by the server's processes (supervisor and workers)."""
    machine_cores: float
    """Cores kept busy on the whole machine: the server, PostgreSQL, the load generator
    and anything else running."""
    server_ms_per_request: float

    def describe(self) -> str:
        return (
            f"CPU: server {self.server_cores:.2f} cores "
            f"({self.server_ms_per_request:.2f} ms per request), "
            f"machine {self.machine_cores:.2f} of {os.cpu_count()} cores"
        )


class CpuMeter:
    """Measures :class:`CpuUse` between ``start()`` and ``stop(requests)``."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def start(self) -> None:
        self.pids = process_tree(self.server.pid)
        self.server_before = _cpu_seconds(self.pids)
        self.machine_before = _machine_busy_seconds()
        self.started = time.monotonic()

    def stop(self, requests: int) -> CpuUse:
        wall = max(time.monotonic() - self.started, 1e-9)
        server = _cpu_seconds(self.pids) - self.server_before
        busy, total = _machine_busy_seconds()
        machine = (busy - self.machine_before[0]) / max(
            total - self.machine_before[1], 1e-9
        )
        return CpuUse(
            server_cores=server / wall,
            machine_cores=machine * (os.cpu_count() or 1),
            server_ms_per_request=server * 1000 / max(requests, 1),
        )


def describe(name: str, result: LoadResult) -> str:
    latency = ", ".join(f"{k} {v:.1f}" for k, v in result.latency_ms.items())
    head = (
        f"{name}: {result.rate:.1f}/s ({result.ok} in {result.seconds:.1f} s), "
        f"statuses {result.status_counts}, latency ms {latency}"
    )
    lines = [head]
    lines.extend(f"  {sample}" for sample in result.error_samples)
    return "\n".join(lines)


@dataclass
class Run:
    """What one setup measured."""

    setup: Setup
    pairs: list[tuple[float, float]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    peak_rss_mb: float = 0.0
    hot_reference: float | None = None
    """pgbench with one hot debit account, measured once after the pairs."""
    function_reference: float | None = None
    """pgbench calling the ledger's allocation function, measured once after the pairs."""
    grouped_reference: float | None = None
    """The same with GROUPED calls per transaction."""
    function_allocations: int = 0
    """The allocations that pgbench made through the function."""
    notes: list[str] = field(default_factory=list)

    @property
    def all_created(self) -> bool:
        return set(self.statuses) == {self.setup.face.created}


def measure(
    seeded: Seeded,
    setup: Setup,
    *,
    pairs: int,
    seconds: float,
    warmup: int,
    baseline_clients: int = 8,
    profile_to: Path | None = None,
    hot_reference: bool = False,
) -> Run:
    """``pairs`` interleaved (pgbench, API) measurements of one setup on a fresh server."""
    run = Run(setup)
    with serve(seeded.database, setup) as server:
        allocations = Allocations(seeded, server.host, setup.face)
        warm = measure_rate(
            server.url,
            allocations.sign(warmup),
            clients=setup.clients,
            processes=setup.processes,
        )
        print(describe(f"  warm-up [{setup.label}]", warm))
        run.statuses.update(warm.status_counts)
        run.sent += warm.ok + warm.failed
        estimate = max(warm.rate, 50.0)
        for index in range(pairs):
            # Sized from the latest rate, plus a margin, so the API side lasts about as
            # long as pgbench's fixed duration and no request is ever sent twice.
            pool = allocations.sign(math.ceil(estimate * seconds * 1.1))
            baseline = pgbench_transfer_rate(
                seeded.database,
                clients=baseline_clients,
                seconds=round(seconds),
                hot=False,
            )
            profiler = (
                _start_profiler(server, profile_to, seconds, index + 1)
                if profile_to
                else None
            )
            meter = CpuMeter(server)
            meter.start()
            api = measure_rate(
                server.url, pool, clients=setup.clients, processes=setup.processes
            )
            cpu = meter.stop(api.ok + api.failed)
            if profiler is not None and profile_to is not None:
                profiler.wait()
                recording = profile_to / f"server-{index + 1}.txt"
                if recording.exists():
                    run.notes.append(summarise_profile(recording))
            run.pairs.append((baseline, api.rate))
            run.statuses.update(api.status_counts)
            run.sent += api.ok + api.failed
            estimate = max(api.rate, 50.0)
            print(
                f"  pair {index + 1}: pgbench {baseline:.1f} tps; "
                + describe("API", api).removeprefix("API: ")
                + f"; ratio {api.rate / baseline:.3f}\n    {cpu.describe()}"
            )
        run.peak_rss_mb = server.peak_rss_mb()
        if hot_reference:
            # Not part of the ratio: every allocation debits the one partner's account, so
            # the hot-row shape of the same baseline shows what that lock alone allows.
            run.hot_reference = pgbench_transfer_rate(
                seeded.database,
                clients=baseline_clients,
                seconds=REFERENCE_SECONDS,
                hot=True,
            )
            print(
                f"  reference: pgbench, one hot debit account: {run.hot_reference:.1f} tps"
            )
            run.function_reference, run.function_allocations = pgbench_function_rate(
                seeded, clients=baseline_clients, seconds=REFERENCE_SECONDS
            )
            print(
                "  reference: pgbench calling ledger_customer_transfers: "
                f"{run.function_reference:.1f} allocations/s"
            )
            run.grouped_reference, grouped = pgbench_function_rate(
                seeded,
                clients=baseline_clients,
                seconds=REFERENCE_SECONDS,
                per_transaction=GROUPED,
            )
            run.function_allocations += grouped
            print(
                f"  reference: the same, {GROUPED} calls per transaction: "
                f"{run.grouped_reference:.1f} allocations/s"
            )
        if not run.all_created:
            run.notes.append("server log tail:\n" + server.log_tail(15))
    return run


def _start_profiler(
    server: Server, folder: Path | None, seconds: float, pair: int
) -> subprocess.Popen[bytes] | None:
    """py-spy recording every worker of the server for the API measurement."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if folder is None or not Path(spy).exists():
        print("  (py-spy not found: pip install py-spy)")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"server-{pair}.txt"
    print(f"  py-spy → {out}")
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(server.pid),
            "--subprocesses",
            "--duration",
            str(max(1, round(seconds * 0.8))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            # Only samples holding the GIL: where the server spends CPU, not where it waits.
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


PROFILE_CATEGORIES = [
    # (category, markers in a frame); a sample counts for the deepest frame that matches.
    ("DB call (psycopg, async connection)", ("psycopg/", "psycopg_binary")),
    ("JSON encode/decode", ("json/", "_json", "parse_object")),
    ("logging (structlog, core/logging.py)", ("structlog/", "core/logging.py")),
    ("signature check (identity/signing.py)", ("identity/signing.py", "hmac.py")),
    ("key cache look-up (ledger/fastpath.py)", ("ledger/fastpath.py",)),
    ("request-id middleware (web/middleware.py)", ("web/middleware.py",)),
    (
        "ledger fast lane (parse, ids, answer)",
        ("ledger/", "core/money.py", "core/clock"),
    ),
    ("FastAPI/Starlette middleware stack", ("starlette/", "fastapi/")),
    ("uvicorn + httptools (HTTP parsing, transport)", ("uvicorn/", "httptools")),
    ("event loop (uvloop/asyncio)", ("asyncio/", "uvloop")),
]


def summarise_profile(path: Path) -> str:
    """Where a py-spy ``raw`` recording of the server spent its samples, by category."""
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        samples = int(number)
        total += samples
        category = "other"
        for frame in reversed(stack.split(";")):
            found = next(
                (
                    name
                    for name, markers in PROFILE_CATEGORIES
                    if any(marker in frame for marker in markers)
                ),
                None,
            )
            if found:
                category = found
                break
        counts[category] += samples
    lines = [f"server CPU samples by category ({path}, {total} samples):"]
    lines.extend(
        f"  {100 * n / max(total, 1):5.1f}%  {name}" for name, n in counts.most_common()
    )
    return "\n".join(lines)


SWEEP = [
    Setup(workers=1, clients=8, processes=0),
    Setup(workers=1, clients=8, processes=1),
    Setup(workers=1, clients=16, processes=1),
    Setup(workers=1, clients=16, processes=1, loop="asyncio", http="h11"),
    Setup(workers=2, clients=8, processes=1),
    Setup(workers=2, clients=16, processes=1),
    Setup(workers=2, clients=32, processes=1),
    Setup(workers=2, clients=64, processes=1),
    Setup(workers=2, clients=16, processes=0),
    Setup(workers=2, clients=16, processes=1, loop="asyncio", http="h11"),
]
"""The setups ``--sweep`` compares; the default setup is the best of them on this machine."""


def print_runs(runs: Sequence[Run], seeded: Seeded, check: LedgerCheck) -> bool:
    """The report of every setup, the references and the books; True if all is well."""
    print()
    for run in runs:
        report(
            f"Single allocations over the API vs pgbench transfers [{run.setup.label}]",
            run.pairs,
            peak_rss_mb=run.peak_rss_mb,
            baseline_name="pgbench tps",
            api_name="alloc/s",
        )
        print(f"status counts (warm-up included): {dict(sorted(run.statuses.items()))}")
        median_api = statistics.median(api for _, api in run.pairs)
        median_baseline = statistics.median(baseline for baseline, _ in run.pairs)
        if run.hot_reference:
            print(
                f"reference, pgbench with one hot debit account: {run.hot_reference:.1f} "
                f"tps (median API rate / that: {median_api / run.hot_reference:.3f})"
            )
        if run.function_reference:
            print(
                "reference, pgbench calling the ledger function: "
                f"{run.function_reference:.1f} allocations/s (median API rate / that: "
                f"{median_api / run.function_reference:.3f}; that / median pgbench: "
                f"{run.function_reference / median_baseline:.3f})"
            )
        if run.grouped_reference:
            print(
                f"reference, the same with {GROUPED} calls per transaction: "
                f"{run.grouped_reference:.1f} allocations/s (that / median pgbench: "
                f"{run.grouped_reference / median_baseline:.3f})"
            )
        for note in run.notes:
            print(note)
        print()
    sent = sum(run.sent for run in runs)
    created = sum(run.statuses[run.setup.face.created] for run in runs)
    by_pgbench = sum(run.function_allocations for run in runs)
    print(check.describe())
    expected_balance = seeded.topup - (created + by_pgbench) * AMOUNT_MINOR
    books_agree = (
        check.allocations == created + by_pgbench
        and check.partner_balance == expected_balance
    )
    print(
        f"requests sent {sent}, allocations answered {created}, by pgbench through "
        f"the function {by_pgbench}, allocations in the ledger "
        f"{check.allocations}, partner balance "
        f"{'as expected' if check.partner_balance == expected_balance else 'WRONG'}"
    )
    return check.clean and books_agree and all(run.all_created for run in runs)


def main(argv: Sequence[str] | None = None) -> int:
    defaults = Setup()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=int, default=1500, help="requests")
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--processes", type=int, default=defaults.processes)
    parser.add_argument("--loop", default=defaults.loop)
    parser.add_argument("--http", default=defaults.http)
    parser.add_argument(
        "--face",
        choices=sorted(FACES),
        default="native",
        help="native: POST /api/v1/ledger/allocations; bss: the BSS adjust-amount path",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="one short pair for each setup in SWEEP instead of the benchmark",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        nargs="?",
        const=Path(tempfile.gettempdir()) / "bench-profiles",
        default=None,
        help="record the server with py-spy during each API measurement (folder)",
    )
    args = parser.parse_args(argv)

    print(f"machine busy before the run: {busy_cores():.2f} cores of {os.cpu_count()}")
    print(f"source: {source_state()}")
    with scratch_database("bench_ledger_api") as database:
        migrate(database)
        started = time.perf_counter()
        seeded = seed(database, customers=args.customers)
        print(
            f"seeded {len(seeded.customer_ids)} resale customers "
            f"in {time.perf_counter() - started:.1f} s"
        )
        if args.sweep:
            setups = SWEEP
            pairs, seconds, warmup = 1, min(args.seconds, 10.0), min(args.warmup, 800)
        else:
            setups = [
                Setup(
                    workers=args.workers,
                    clients=args.clients,
                    processes=args.processes,
                    loop=args.loop,
                    http=args.http,
                    face=FACES[args.face],
                )
            ]
            pairs, seconds, warmup = args.pairs, args.seconds, args.warmup
        runs = []
        for setup in setups:
            print(f"setup {setup.label}:")
            runs.append(
                measure(
                    seeded,
                    setup,
                    pairs=pairs,
                    seconds=seconds,
                    warmup=warmup,
                    profile_to=args.profile,
                    hot_reference=not args.sweep,
                )
            )
        check = check_ledger(seeded)

    return 0 if print_runs(runs, seeded, check) else 1


if __name__ == "__main__":
    raise SystemExit(main())
