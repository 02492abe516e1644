"""A batch allocation to ten thousand customers beside pgbench's hot-row transfers.

One partner allocates 1.00 to each of ten thousand resale customers in one signed request to
``POST /api/v1/ledger/allocation-batches``; its rate is 10,000 transfers over the time from
sending the request to having read the whole answer (with a result per item, every one of
which must be ``done``). The baseline is pgbench with every transfer debiting one account
(8 clients, simple protocol), which is what allocating from one partner's balance is one
transfer at a time. Three interleaved pairs on one scratch database, after one warm-up
batch; the report gives the rates, the ratios, their median, the server's peak RSS and
``ledger verify`` at the end.

    python -m bench.ledger_batch                 # the benchmark (~1-2 minutes)
    python -m bench.ledger_batch --profile       # where a batch's time goes, in-process
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import gc
import http.client
import json
import pstats
import re
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.harness import (
    Server,
    busy_cores,
    libpq_dsn,
    migrate,
    pgbench_transfer_rate,
    report,
    run_server,
    scratch_database,
    sign_request,
)
from bench.seed import Seeded, check_ledger, seed, source_state

PATH = "/api/v1/ledger/allocation-batches"
AMOUNT = "1.00"
AMOUNT_MINOR = 100


def batch_body(customer_ids: Sequence[str]) -> bytes:
    items = [{"customer_id": c, "amount": AMOUNT} for c in customer_ids]
    return json.dumps({"kind": "allocate", "items": items}).encode()


@dataclass(frozen=True)
class BatchAnswer:
    status: int
    seconds: float
    """From the first byte sent to the last byte of the answer read."""
    done: int
    refused: int
    errors: dict[str, int]
    answer_bytes: int
    detail: str = ""

    @property
    def all_done(self) -> bool:
        return self.status == 201 and self.refused == 0


def send_batch(
    server: Server, seeded: Seeded, customer_ids: Sequence[str]
) -> BatchAnswer:
    """One signed batch request over a connection opened before the clock starts."""
    body = batch_body(customer_ids)
    request = sign_request(
        "POST",
        PATH,
        body,
        seeded.partner.ak,
        seeded.partner.sk,
        host=server.host,
        domain_id=seeded.partner.domain_id,
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=600) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(request.raw)
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        raw = response.read()
        seconds = time.perf_counter() - started
    if response.status != 201:
        return BatchAnswer(
            response.status,
            seconds,
            0,
            0,
            {},
            len(raw),
            raw[:500].decode("utf-8", "replace"),
        )
    payload = json.loads(raw)
    errors: dict[str, int] = defaultdict(int)
    done = 0
    for item in payload["items"]:
        if item["status"] == "done":
            done += 1
        else:
            errors[str(item["error"])] += 1
    return BatchAnswer(
        response.status,
        seconds,
        done,
        len(payload["items"]) - done,
        dict(errors),
        len(raw),
    )


def _describe(name: str, answer: BatchAnswer) -> str:
    text = (
        f"{name}: status {answer.status}, {answer.done} done, {answer.refused} refused"
        f"{' ' + str(answer.errors) if answer.errors else ''}, {answer.seconds:.2f} s "
        f"→ {answer.done / answer.seconds:.0f} transfers/s, "
        f"answer {answer.answer_bytes / 1e6:.1f} MB"
    )
    return text + (f"\n  {answer.detail}" if answer.detail else "")


# --------------------------------------------------------------------------------------
# The benchmark


def benchmark(args: argparse.Namespace) -> int:
    print(f"machine busy before the run: {busy_cores():.2f} cores")
    print(f"source: {source_state()}")
    with scratch_database("bench_ledger_batch") as database:
        migrate(database)
        started = time.perf_counter()
        seeded = seed(database, customers=args.customers)
        print(
            f"seeded {len(seeded.customer_ids)} resale customers "
            f"in {time.perf_counter() - started:.1f} s"
        )
        answers: list[BatchAnswer] = []
        pairs: list[tuple[float, float]] = []
        with run_server(database, workers=1) as server:
            warm = send_batch(server, seeded, seeded.customer_ids)
            answers.append(warm)
            print(_describe("warm-up batch", warm))
            for index in range(args.pairs):
                baseline = pgbench_transfer_rate(
                    database, clients=8, seconds=args.seconds, hot=True
                )
                answer = send_batch(server, seeded, seeded.customer_ids)
                answers.append(answer)
                rate = answer.done / answer.seconds if answer.all_done else 0.0
                pairs.append((baseline, rate))
                print(
                    f"pair {index + 1}: pgbench hot {baseline:.1f} tps; "
                    + _describe("batch", answer)
                    + f"; ratio {rate / baseline:.2f}"
                )
            peak = server.peak_rss_mb()
            if not all(a.all_done for a in answers):
                print(server.log_tail(20))
        check = check_ledger(seeded)
    print()
    report(
        f"Batch allocation of {len(seeded.customer_ids)} vs pgbench hot-row transfers",
        pairs,
        peak_rss_mb=peak,
        baseline_name="pgbench tps",
        api_name="transfers/s",
    )
    print(check.describe())
    done = sum(a.done for a in answers)
    expected = seeded.topup - done * AMOUNT_MINOR
    agree = check.allocations == done and check.partner_balance == expected
    print(
        f"items done {done}, allocations in the ledger {check.allocations}, "
        f"partner balance {'as expected' if check.partner_balance == expected else 'WRONG'}"
    )
    return 0 if check.clean and agree and all(a.all_done for a in answers) else 1


# --------------------------------------------------------------------------------------
# Where the time goes


@dataclass
class _Tally:
    seconds: float = 0.0
    calls: int = 0
    rows: int = 0


@dataclass
class Timings:
    """Inclusive time per wrapped function and per kind of SQL statement."""

    parts: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    statements: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))

    def wrap(
        self, owner: Any, name: str, label: str | None = None
    ) -> Callable[[], None]:
        """Time every call of ``owner.name`` (looked up by name at each call, as the
        product's modules do); returns the undo."""
        original = getattr(owner, name)
        key = label or f"{owner.__name__.rsplit('.', 1)[-1]}.{name}"

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                tally = self.parts[key]  # looked up now: clear() may have run since
                tally.seconds += time.perf_counter() - started
                tally.calls += 1

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)

    @contextmanager
    def part(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.parts[label].seconds += time.perf_counter() - started
            self.parts[label].calls += 1

    def listen(self, engine: Any) -> None:
        """Time each statement (an executemany counts once) by what it does to which table."""
        from sqlalchemy import event

        # SQLAlchemy calls these with (connection, cursor, statement, parameters, context,
        # executemany).
        @event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, *_: Any) -> None:
            conn.info.setdefault("bench_started", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def after(
            conn: Any, _cursor: Any, statement: str, params: Any, *rest: Any
        ) -> None:
            many = bool(rest[1])
            took = time.perf_counter() - conn.info["bench_started"].pop()
            tally = self.statements[_statement_kind(statement, many)]
            tally.seconds += took
            tally.calls += 1
            tally.rows += len(params) if many and isinstance(params, list) else 1


_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+([a-z_]+)", re.IGNORECASE)


def _statement_kind(statement: str, many: bool) -> str:
    words = statement.split(None, 1)
    verb = words[0].upper() if words else "?"
    found = _TABLE.search(statement)
    table = found.group(1) if found else ""
    extra = ""
    if "FOR UPDATE" in statement:
        extra = " FOR UPDATE"
    elif "FOR SHARE" in statement:
        extra = " FOR SHARE"
    return f"{verb} {table}{extra}{' (executemany)' if many else ''}"


# --------------------------------------------------------------------------------------
# What the proposed set-based writes would give, measured without changing the product

WRAPPED = [
    # (module, function, depth in the call tree), in the order the route calls them.
    ("batches", "create", 1),
    ("batches", "_order_free", 1),
    # PostgreSQL, a batch whose chunks may overlap: its chunks on several threads (the
    # parts below it then add up the threads' time, which is more than the wall clock's).
    ("batches", "_run_side_by_side", 1),
    ("batches", "run_chunk", 1),
    ("batches", "plan_of", 2),
    # PostgreSQL: the chunk as one call of ledger_batch_chunk.
    ("batches", "_run_chunk_in_database", 2),
    ("service", "new_transfer_ids", 3),
    # The Python path (SQLite, or transfer_many called on its own).
    ("service", "transfer_many", 2),
    ("service", "funding_partner", 3),
    ("service", "_resale_modes", 3),
    ("service", "ensure_accounts", 3),
    ("posting", "post", 3),
    ("posting", "lock_accounts", 4),
    ("posting", "entry_hash", 4),
    ("posting", "_transfer_row", 4),
    ("posting", "_write", 4),
    ("posting", "copy_rows", 5),
    ("posting", "forget_accounts", 5),
]
STEPS = [
    "1 parse body",
    "2 claim key + create batch + commit",
    "3 run (chunks of 1,000, a transaction each)",
    "4 answer: items and outcomes as JSON",
]


FLOOR_COPIES = {
    "insert transfers (COPY)": (
        "COPY ledger_transfers (id, kind, debit_account_id, credit_account_id, amount, "
        "currency, organisation_id, counterparty_id, actor_organisation_id, "
        "actor_credential_id, request_id, created_at) FROM STDIN"
    ),
    "insert entries (COPY)": (
        "COPY ledger_entries (transfer_id, account_id, seq, amount, balance_after, "
        "created_at, hash) FROM STDIN"
    ),
}
"""How the product writes a chunk's transfers and entries (``posting.copy_rows``)."""
FLOOR_STATEMENTS = {
    "lock accounts (SELECT … FOR UPDATE, = ANY)": (
        "SELECT id, balance FROM ledger_accounts WHERE id = ANY(%(accounts)s) "
        "ORDER BY id FOR UPDATE"
    ),
    "update accounts (UPDATE … FROM unnest)": (
        "UPDATE ledger_accounts AS a SET balance = a.balance + u.delta, "
        "entry_count = u.seq, last_hash = u.hash, updated_at = %(at)s "
        "FROM unnest(%(accounts)s::bigint[], %(deltas)s::bigint[], %(seqs)s::bigint[], "
        "%(hashes)s::text[]) AS u(id, delta, seq, hash) WHERE a.id = u.id"
    ),
}


def _copy(connection: Any, statement: str, rows: Sequence[tuple[object, ...]]) -> None:
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def sql_floor(seeded: Seeded, *, rounds: int = 5, chunk: int = 1000) -> None:
    """What one chunk's writes cost in PostgreSQL alone, as four set-based statements.

    The rows a chunk of ``chunk`` allocations writes (transfers, two entries each, the
    accounts' new figures): the accounts locked and updated by one statement each with
    array parameters, the transfers and entries sent by ``COPY`` as the product does, built
    before the clock starts, in a transaction that is rolled back, so the books are
    untouched. Entry sequence numbers
    and hashes are placeholders: the indexes, foreign keys and constraints do the same
    work as for real ones. This is the floor that posting the chunk inside the database
    (one function call, like the single allocation's) would approach.
    """
    import psycopg

    from partnercenter.core.db import pg_array
    from partnercenter.ledger.models import AccountKind

    dsn = libpq_dsn(seeded.database)
    customers = seeded.customer_ids[:chunk]
    totals: dict[str, float] = defaultdict(float)
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT organisation_id, id, entry_count FROM ledger_accounts "
            "WHERE organisation_id = ANY(%s) AND kind IN (%s, %s)",
            (
                [seeded.partner.domain_id, *customers],
                AccountKind.PARTNER_CASH.value,
                AccountKind.CUSTOMER_ALLOCATED.value,
            ),
        ).fetchall()
        account_of = {
            organisation: (account, count) for organisation, account, count in rows
        }
        credential = connection.execute(
            "SELECT id FROM api_credentials WHERE access_key = %s", (seeded.partner.ak,)
        ).fetchone()
        assert credential is not None
        connection.rollback()
        partner_account, partner_count = account_of[seeded.partner.domain_id]
        for index in range(rounds + 1):
            ids = [f"FL{index:02d}{n:06d}{uuid.uuid4().hex[:10]}" for n in range(chunk)]
            credits = [account_of[c][0] for c in customers]
            params = {
                "partner": seeded.partner.domain_id,
                "partner_account": partner_account,
                "credential": credential[0],
                "amount": AMOUNT_MINOR,
                "at": dt.datetime.now(dt.UTC),
                "ids": ids,
                "credits": credits,
                "customers": list(customers),
                "entry_transfers": ids + ids,
                "entry_accounts": [partner_account] * chunk + credits,
                "entry_seqs": [partner_count + 1 + n for n in range(chunk)]
                + [account_of[c][1] + 1 for c in customers],
                "entry_amounts": [-AMOUNT_MINOR] * chunk + [AMOUNT_MINOR] * chunk,
                "entry_hashes": ["0" * 64] * (2 * chunk),
                "accounts": [partner_account, *credits],
                "deltas": [-AMOUNT_MINOR * chunk] + [AMOUNT_MINOR] * chunk,
                "seqs": [partner_count + chunk]
                + [account_of[c][1] + 1 for c in customers],
                "hashes": ["0" * 64] * (chunk + 1),
            }
            # Lists go as array literals, as the product sends them, so that the time
            # below is the server's and not the driver's adaptation of each element.
            params = {
                name: pg_array(value) if isinstance(value, list) else value
                for name, value in params.items()
            }
            at = params["at"]
            partner = seeded.partner.domain_id
            copied = {
                "insert transfers (COPY)": [
                    (
                        *(t, "allocate", partner_account, credit, AMOUNT_MINOR, "CNY"),
                        *(partner, customer, partner, credential[0], "bench", at),
                    )
                    for t, credit, customer in zip(ids, credits, customers, strict=True)
                ],
                "insert entries (COPY)": [
                    (t, account, seq, amount, 0, at, "0" * 64)
                    for t, account, seq, amount in zip(
                        ids + ids,
                        [partner_account] * chunk + credits,
                        [partner_count + 1 + n for n in range(chunk)]
                        + [account_of[c][1] + 1 for c in customers],
                        [-AMOUNT_MINOR] * chunk + [AMOUNT_MINOR] * chunk,
                        strict=True,
                    )
                ],
            }
            [lock, update] = FLOOR_STATEMENTS.items()
            steps: list[tuple[str, Callable[[], object]]] = [
                (lock[0], functools.partial(connection.execute, lock[1], params)),
                *(
                    (label, functools.partial(_copy, connection, copy, copied[label]))
                    for label, copy in FLOOR_COPIES.items()
                ),
                (update[0], functools.partial(connection.execute, update[1], params)),
            ]
            for label, step in steps:
                started = time.perf_counter()
                step()
                if index:
                    totals[label] += time.perf_counter() - started
            started = time.perf_counter()
            connection.rollback()
            if index:
                totals["roll back (a commit would flush the WAL instead)"] += (
                    time.perf_counter() - started
                )
    print(
        f"\nSQL floor of one chunk of {chunk} allocations (mean of {rounds}, rolled back):"
    )
    for label, seconds in totals.items():
        print(f"  {label:<58} {1000 * seconds / rounds:7.1f} ms")
    per_chunk = sum(totals.values()) / rounds
    print(
        f"  {'all':<58} {1000 * per_chunk:7.1f} ms → "
        f"{chunk / per_chunk:.0f} transfers/s before any Python"
    )


def _partner_actor(factory: Any, seeded: Seeded) -> Any:
    """The partner's key as the API sees it: the actor the route acts as."""
    from sqlalchemy import select

    from partnercenter.api import auth
    from partnercenter.identity.models import ApiCredential, Organisation

    with factory() as session:
        credential = session.scalar(
            select(ApiCredential).where(ApiCredential.access_key == seeded.partner.ak)
        )
        organisation = session.get(Organisation, seeded.partner.domain_id)
        assert credential is not None
        assert organisation is not None
        return auth.actor_for_credential(credential, organisation, "bench")


def _one_batch(
    factory: Any,
    actor: Any,
    body: bytes,
    timings: Timings,
    index: int,
    *,
    streams: int,
) -> tuple[float, int]:
    """What ``routes.create_batch`` does, step by step; returns (seconds, answer bytes)."""
    from partnercenter.ledger import batches, idempotency, routes
    from partnercenter.ledger.models import TransferKind

    started = time.perf_counter()
    with factory() as db:
        with timings.part(STEPS[0]):
            data = routes.parse_object(body)
            items = routes._batch_items(data)
        with timings.part(STEPS[1]):
            key = f"profile-{index}-{time.time_ns()}"
            fingerprint = idempotency.request_hash("POST", PATH, body)
            assert (
                idempotency.claim(db, actor.organisation_id, key, fingerprint) is None
            )
            batch = batches.create(
                db, actor, kind=TransferKind.ALLOCATE, items=items, currency="CNY"
            )
            batch_id = batch.id
            idempotency.settle(
                db,
                actor.organisation_id,
                key,
                status_code=201,
                response=json.dumps({"batch_id": batch_id}),
                transfer_id=None,
            )
            db.commit()
        with timings.part(STEPS[2]):
            ran = batches.run(factory, batch_id, streams=streams)
        with timings.part(STEPS[3]):
            answer = routes._batch_answer(
                db, batch_id, batches.items_as_run(items, ran)
            )
            db.commit()
    took = time.perf_counter() - started
    payload = json.loads(answer)
    assert payload["done_count"] == len(items), payload["refused_count"]
    return took, len(answer)


def _print_timings(timings: Timings, rounds: int) -> None:
    print(
        "\nparts (inclusive seconds per batch; indented parts are inside the one above):"
    )
    for step in STEPS:
        tally = timings.parts[step]
        print(f"  {step:<52} {tally.seconds / rounds:7.3f} s")
        if not step.startswith("2") and not step.startswith("3"):
            continue
        for module, name, depth in WRAPPED:
            if (module, name) == ("batches", "create") and not step.startswith("2"):
                continue
            if (module, name) != ("batches", "create") and step.startswith("2"):
                continue
            tally = timings.parts[f"{module}.{name}"]
            if not tally.calls:
                continue  # a part of the path this database does not take
            label = "  " * depth + f"{module}.{name}"
            print(
                f"  {label:<52} {tally.seconds / rounds:7.3f} s "
                f"{tally.calls / rounds:8.0f} calls"
            )
    print("\nSQL statements (seconds per batch; an executemany is one call):")
    total = 0.0
    for label, tally in sorted(
        timings.statements.items(), key=lambda kv: -kv[1].seconds
    ):
        total += tally.seconds
        print(
            f"  {label:<58} {tally.seconds / rounds:7.3f} s {tally.calls / rounds:6.0f} "
            f"calls {tally.rows / rounds:7.0f} rows"
        )
    print(f"  {'all SQL':<58} {total / rounds:7.3f} s")


def profile(args: argparse.Namespace) -> int:
    """The batch request's work, in this process, with each part timed.

    The same calls the route makes, in its order: parse the body, claim the idempotency key
    and store the batch (``batches.create``), commit, run it chunk by chunk
    (``batches.run`` → ``run_chunk`` → ``service.transfer_many`` → ``posting.post``), and
    read the per-item answer back. Functions are timed by wrapping them; every SQL statement
    is timed through SQLAlchemy's cursor events, so the time between is Python.
    """
    from partnercenter.core.db import make_engine, make_session_factory
    from partnercenter.ledger import batches, posting, service

    modules = {"batches": batches, "service": service, "posting": posting}
    print(f"machine busy before the run: {busy_cores():.2f} cores")
    print(f"source: {source_state()}")
    with scratch_database("bench_batch_profile") as database:
        migrate(database)
        seeded = seed(database, customers=args.customers)
        engine = make_engine(database)
        factory = make_session_factory(engine)
        timings = Timings()
        undo = [
            timings.wrap(modules[module], name, f"{module}.{name}")
            for module, name, _ in WRAPPED
        ]
        timings.listen(engine)
        body = batch_body(seeded.customer_ids)
        actor = _partner_actor(factory, seeded)
        profiler = cProfile.Profile() if args.cprofile else None
        # What the server process does once started (partnercenter.app.serve_app), so
        # that a full collection costs here what it costs there.
        gc.collect()
        gc.freeze()
        seconds: list[float] = []
        try:
            for index in range(args.rounds + 1):
                if index == 1:
                    # The first round warms caches (statement compilation, imports, the
                    # server's buffers); only the later ones are tallied.
                    timings.parts.clear()
                    timings.statements.clear()
                    if profiler is not None:
                        profiler.enable()
                took, size = _one_batch(
                    factory, actor, body, timings, index, streams=args.streams
                )
                if index:
                    seconds.append(took)
                print(
                    f"round {index}{' (warm-up)' if not index else ''}: {took:.2f} s, "
                    f"{len(seeded.customer_ids) / took:.0f} transfers/s, "
                    f"answer {size / 1e6:.1f} MB"
                )
        finally:
            if profiler is not None:
                profiler.disable()
            for restore in undo:
                restore()
            engine.dispose()
            gc.unfreeze()
        sql_floor(seeded)
        check = check_ledger(seeded)

    rounds = len(seeded.customer_ids) and len(seconds)
    print(
        f"\nbatch of {len(seeded.customer_ids)}: mean {sum(seconds) / rounds:.2f} s over "
        f"{rounds} rounds"
    )
    _print_timings(timings, rounds)
    if profiler is not None:
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.cprofile)
    print(check.describe())
    return 0 if check.clean else 1


def main(argv: Sequence[str] | None = None) -> int:
    from partnercenter.core.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15, help="per pgbench run")
    parser.add_argument(
        "--profile", action="store_true", help="time the batch's parts in-process"
    )
    parser.add_argument("--rounds", type=int, default=3, help="batches with --profile")
    parser.add_argument(
        "--streams",
        type=int,
        default=Settings.model_fields["batch_streams"].default,
        help="with --profile: chunks run at a time (the server uses its setting)",
    )
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="with --profile: also print the N functions of most own time",
    )
    args = parser.parse_args(argv)
    return profile(args) if args.profile else benchmark(args)


if __name__ == "__main__":
    raise SystemExit(main())
