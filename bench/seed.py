"""A scratch database made ready for the ledger benchmarks, in seconds rather than minutes.

What a benchmark needs: the vendor (with a finance member, who records the top-up, and an API
key of its own), one partner with an API key, and up to ten thousand resale customers
associated with it, their ledger accounts already open, and enough money on the partner's
balance that no allocation ever runs short.

The vendor and the partner are made through the product's services (they are two). The
customers are not: the factories give each one a user with a hashed password, which would take
minutes for ten thousand, and a benchmark only needs the three rows an allocation looks at
(the organisation, its customer record and the active resale association). Those are written
with multi-row INSERTs through SQLAlchemy Core, so the models' column defaults still apply.
The accounts and the top-up go through the ledger service, so the books start as the product
would have written them and ``verify`` must stay clean after any benchmark.

    python -m bench.seed [--customers 10000]    # seeds a scratch database, verifies, drops it
"""

from __future__ import annotations

import argparse
import enum
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from bench.harness import (
    BENCH_SECRET_KEY,
    ApiKey,
    create_partner_with_key,
    libpq_dsn,
    migrate,
    scratch_database,
)
from partnercenter.core.actor import Actor

DEFAULT_CUSTOMERS = 10_000
DEFAULT_TOPUP = 10**13
"""One hundred billion yuan in fen: a million benchmark runs of allocations would not spend it,
and it is well below the service's largest single amount (10**15)."""


@dataclass(frozen=True)
class Seeded:
    """What a seeded database holds, as a benchmark needs it."""

    database: str
    vendor_id: str
    vendor_key: ApiKey
    """The vendor's own API key (vendor finance may top up over the API with it)."""
    partner: ApiKey
    """The partner's key: ``domain_id`` is the partner's organisation id."""
    customer_ids: list[str]
    """Resale customers of the partner, each with its allocated account open."""
    topup: int
    """What the partner's balance was topped up with, in fen."""
    topup_transfer_id: str


def _vendor(session: Session, secret_key: str) -> tuple[str, ApiKey, Actor]:
    """The vendor with one finance member and one API key; returns the finance actor too."""
    from partnercenter.core.actor import SYSTEM
    from partnercenter.core.security import SecretBox
    from partnercenter.identity import credentials
    from partnercenter.identity import service as identity
    from partnercenter.identity.models import AccountType, OrganisationKind

    name = f"bench-vendor-{uuid.uuid4().hex[:8]}"
    finance = identity.create_user(
        session,
        account_name=name,
        display_name="Benchmark vendor finance",
        password=f"{secrets.token_urlsafe(18)}-Aa9",
        email=f"{name}@example.com",
        account_type=AccountType.ENTERPRISE,
    )
    vendor = identity.create_organisation(
        session,
        SYSTEM,
        kind=OrganisationKind.VENDOR,
        account_name=name,
        display_name="Benchmark vendor",
        main_user=finance,
    )
    identity.add_membership(
        session, finance, vendor, roles=["vendor_finance"], is_main_account=True
    )
    issued = credentials.create(
        session, SecretBox(secret_key), SYSTEM, vendor, description="benchmark vendor"
    )
    key = ApiKey(issued.credential.access_key, issued.secret_key, vendor.id)
    return vendor.id, key, identity.actor_for(session, finance, vendor.id)


def _plain(value: object) -> object:
    """A value as COPY's text format wants it: enums by value, JSON columns as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def copy_rows(
    session: Session, table: Table, rows: Sequence[dict[str, object]]
) -> None:
    """Write ``rows`` into ``table`` with one COPY, in the session's transaction.

    Columns a row leaves out get the model's scalar default (``default=False``, ``"V0"``),
    as an ORM insert would give them, so a column added to a model with a default needs no
    change here.
    """
    if not rows:
        return
    given = list(rows[0])
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if column.name not in given
        and isinstance(column.default, ScalarElementColumnDefault)
    }
    names = given + list(defaults)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    tail = [_plain(value) for value in defaults.values()]
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_plain(row[name]) for name in given] + tail)


def insert_resale_customers(session: Session, partner_id: str, count: int) -> list[str]:
    """``count`` customer organisations in active resale association with ``partner_id``.

    Three tables, one COPY each: a second or two for ten thousand customers, where the
    account factories would take minutes.
    """
    from partnercenter.core.clock import utc_now
    from partnercenter.customers.models import (
        Association,
        AssociationMode,
        AssociationSource,
        AssociationStatus,
        Customer,
        CustomerType,
    )
    from partnercenter.identity.models import (
        Organisation,
        OrganisationKind,
        RealNameStatus,
    )

    now = utc_now()
    ids = [uuid.uuid4().hex for _ in range(count)]
    copy_rows(
        session,
        _table(Organisation),
        [
            {
                "id": customer_id,
                "kind": OrganisationKind.CUSTOMER,
                "account_name": f"bench-customer-{customer_id}",
                "display_name": f"Benchmark customer {customer_id[:8]}",
                "country_region": "CN",
                "created_at": now,
            }
            for customer_id in ids
        ],
    )
    copy_rows(
        session,
        _table(Customer),
        [
            {
                "organisation_id": customer_id,
                "customer_type": CustomerType.ENTERPRISE,
                "real_name_status": RealNameStatus.VERIFIED,
                "updated_at": now,
            }
            for customer_id in ids
        ],
    )
    copy_rows(
        session,
        _table(Association),
        [
            {
                "organisation_id": partner_id,
                "customer_id": customer_id,
                "mode": AssociationMode.RESALE,
                "status": AssociationStatus.ACTIVE,
                "source": AssociationSource.INVITATION_LINK,
                "started_at": now,
                "mode_changed_at": now,
                "agreements": [],
            }
            for customer_id in ids
        ],
    )
    return ids


def open_customer_accounts(session: Session, customer_ids: Sequence[str]) -> None:
    """Open each customer's allocated account with one COPY, as ``ensure_accounts`` opens
    it on first use (zero figures, the genesis hash), in a fraction of its time."""
    from partnercenter.core.clock import utc_now
    from partnercenter.ledger import service as ledger
    from partnercenter.ledger.models import GENESIS_HASH, Account, AccountKind

    now = utc_now()
    copy_rows(
        session,
        _table(Account),
        [
            {
                "organisation_id": customer_id,
                "kind": AccountKind.CUSTOMER_ALLOCATED,
                "currency": ledger.DEFAULT_CURRENCY,
                "balance": 0,
                "credit_limit": 0,
                "designated": 0,
                "entry_count": 0,
                "last_hash": GENESIS_HASH,
                "created_at": now,
                "updated_at": now,
            }
            for customer_id in customer_ids
        ],
    )


def _table(model: type[object]) -> Table:
    table = getattr(model, "__table__", None)
    assert isinstance(table, Table)
    return table


def seed(
    database: str,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    topup: int = DEFAULT_TOPUP,
    open_accounts: bool = True,
    secret_key: str = BENCH_SECRET_KEY,
) -> Seeded:
    """Seed ``database`` (a migrated, empty SQLAlchemy URL) and commit.

    ``open_accounts`` opens every customer's allocated account now, as a partner's earlier
    allocations would have, so a benchmark measures allocations to existing customers and
    not the first-use insert of an account. The secret keys are sealed with ``secret_key``:
    the benchmark server must run with the same one (``run_server`` does by default).
    """
    from partnercenter.core.db import make_engine, make_session_factory, unit_of_work
    from partnercenter.ledger import service as ledger
    from partnercenter.ledger.models import AccountKind

    if customers < 1:
        raise ValueError("at least one customer is needed")
    partner = create_partner_with_key(database, secret_key=secret_key)
    engine = make_engine(database)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            vendor_id, vendor_key, finance = _vendor(session, secret_key)
            customer_ids = insert_resale_customers(
                session, partner.domain_id, customers
            )
            if open_accounts:
                open_customer_accounts(session, customer_ids)
            wanted = [(partner.domain_id, AccountKind.PARTNER_CASH)]
            wanted += [(c, AccountKind.CUSTOMER_ALLOCATED) for c in customer_ids]
            # The product's own look-up (and first-use insert, without open_accounts) must
            # find every account, so it is the judge of what was copied.
            accounts = ledger.ensure_accounts(session, wanted)
            assert len(accounts) == len(wanted)
            result = ledger.record_topup(
                session,
                finance,
                partner_id=partner.domain_id,
                amount=topup,
                reference="bench-seed",
                reason="Benchmark funds",
            )
    finally:
        engine.dispose()
    analyze(database)
    return Seeded(
        database=database,
        vendor_id=vendor_id,
        vendor_key=vendor_key,
        partner=partner,
        customer_ids=customer_ids,
        topup=topup,
        topup_transfer_id=result.transfer_id,
    )


SEEDED_TABLES = (
    "organisations",
    "customers",
    "associations",
    "ledger_accounts",
    "api_credentials",
)


def analyze(database: str) -> None:
    """Fresh planner statistics (and visibility map) for the tables just filled.

    A deployed database has them from autovacuum; the test server here runs with autovacuum
    off, and without statistics the planner believes the partner has one association, which
    changes plans the benchmarks then measure (see bench/README.md).
    """
    with psycopg.connect(libpq_dsn(database), autocommit=True) as connection:
        for table in SEEDED_TABLES:
            connection.execute(
                sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table))
            )


@dataclass(frozen=True)
class LedgerCheck:
    """The ledger's own verification after a benchmark, plus the allocation count."""

    clean: bool
    transfers: int
    entries: int
    accounts: int
    allocations: int
    partner_balance: int
    problems: list[str]

    def describe(self) -> str:
        head = (
            f"ledger verify: {'clean' if self.clean else 'PROBLEMS'} "
            f"({self.transfers} transfers, {self.entries} entries, "
            f"{self.accounts} accounts; {self.allocations} allocations)"
        )
        return "\n".join([head, *(f"  {p}" for p in self.problems[:20])])


def check_ledger(seeded: Seeded) -> LedgerCheck:
    """Run ``partnercenter.ledger.verify`` on the database and count the allocations.

    The partner's balance must be the top-up less one amount per allocation; ``verify``
    already checks that every balance is the sum of its entries, so this only adds the
    count a benchmark compares with the 201 answers it received.
    """
    from partnercenter.core.db import make_engine, make_session_factory
    from partnercenter.ledger import service as ledger
    from partnercenter.ledger.models import Transfer, TransferKind
    from partnercenter.ledger.verify import verify

    engine = make_engine(seeded.database)
    try:
        with make_session_factory(engine)() as session:
            report = verify(session)
            allocations = session.scalar(
                select(func.count())
                .select_from(Transfer)
                .where(Transfer.kind == TransferKind.ALLOCATE)
            )
            balances = ledger.partner_balances(session, seeded.partner.domain_id)
    finally:
        engine.dispose()
    return LedgerCheck(
        clean=report.clean,
        transfers=report.transfers,
        entries=report.entries,
        accounts=report.accounts,
        allocations=int(allocations or 0),
        partner_balance=balances.cash,
        problems=[str(problem) for problem in report.problems],
    )


def source_state() -> str:
    """The commit measured, and whether the product's source differs from it.

    Printed with every benchmark result, because a figure means nothing without the code
    it was measured on.
    """
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "(no git)"
    changed = [
        line for line in git("status", "--porcelain", "--", "src").splitlines() if line
    ]
    if not changed:
        return f"commit {commit}, src/ as committed"
    return f"commit {commit} + uncommitted changes to {len(changed)} files under src/"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    args = parser.parse_args(argv)
    with scratch_database("bench_seed") as database:
        migrate(database)
        started = time.perf_counter()
        seeded = seed(database, customers=args.customers)
        took = time.perf_counter() - started
        print(f"seeded {len(seeded.customer_ids)} resale customers in {took:.1f} s")
        check = check_ledger(seeded)
        print(check.describe())
    return 0 if check.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
