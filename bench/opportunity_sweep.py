"""The worker's rejection of overdue opportunities beside a plain UPDATE of the same rows.

A scratch database holds 100,000 POs in validation, 10,000 of them past their deadline,
spread over a few partners (each PO written by the partner's main account, so every rejected
PO gets one notice and one email). Each pair runs, on the same data and in the same run:

- the baseline: ``UPDATE opportunities SET state = 'rejected' … WHERE state = … AND due_at <
  now()``, nothing else;
- the sweep: ``opportunities.sweep.expire_overdue``, which also writes an audit event, an
  in-console notice and an email (to the outbox) for every row it rejects.

Both run in a transaction that is rolled back, and the tables they wrote are vacuumed before
the next measurement, so every measurement starts from the same rows and pages; the commit
itself is therefore not part of either time. The report gives both times, their ratio
(target: the sweep within 2x the baseline) and the rows each touched.

    python -m bench.opportunity_sweep              # ~1 minute
    python -m bench.opportunity_sweep --open 20000 --overdue 2000 --pairs 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import uuid

import psycopg
from psycopg import sql
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.harness import busy_cores, libpq_dsn, migrate, scratch_database
from bench.seed import copy_rows, source_state
from partnercenter.core.actor import SYSTEM
from partnercenter.core.clock import utc_now
from partnercenter.core.db import make_engine, make_session_factory
from partnercenter.core.models import AuditEvent, Notification, OutboxMessage
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    AccountType,
    OrganisationKind,
    PartnerType,
    RealNameStatus,
)
from partnercenter.opportunities import sweep
from partnercenter.opportunities.models import Opportunity, Origin, State

PARTNERS = 10
BASELINE = text(
    "UPDATE opportunities SET state = 'rejected', rejection_reason = 'sla_expired', "
    "decided_at = now(), updated_at = now() "
    "WHERE state IN ('in_validation', 'shared') AND due_at < now()"
)


def _partners(session: Session) -> list[tuple[str, str]]:
    """(organisation id, main user id) of a few partners, each with its admin."""
    made = []
    for number in range(PARTNERS):
        name = f"bench-partner-{number:02d}"
        admin = identity.create_user(
            session,
            account_name=name,
            display_name=name,
            password=uuid.uuid4().hex,
            email=f"{name}@example.com",
            phone=None,
            account_type=AccountType.ENTERPRISE,
            real_name_status=RealNameStatus.VERIFIED,
        )
        partner = identity.create_organisation(
            session,
            SYSTEM,
            kind=OrganisationKind.PARTNER,
            partner_type=PartnerType.SOLUTION_PROVIDER,
            account_name=name,
            display_name=name.title(),
            country_region="CN",
            main_user=admin,
        )
        identity.add_membership(
            session, admin, partner, roles=["partner_admin"], is_main_account=True
        )
        made.append((partner.id, admin.id))
    return made


def seed(
    factory: sessionmaker[Session], database: str, open_count: int, overdue: int
) -> None:
    now = utc_now()
    with factory() as session, session.begin():
        partners = _partners(session)
        rows = []
        for number in range(open_count):
            partner_id, user_id = partners[number % len(partners)]
            late = number < overdue
            due = now - dt.timedelta(hours=1) if late else now + dt.timedelta(days=9)
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "organisation_id": partner_id,
                    "origin": Origin.PARTNER,
                    "state": State.IN_VALIDATION,
                    "customer_name": f"Customer {number}",
                    "customer_key": f"customer {number}",
                    "customer_industry": "Retail",
                    "customer_region": "CN",
                    "is_existing_customer": False,
                    "contact_name": "Contact",
                    "contact_phone": "13800000000",
                    "currency": "CNY",
                    "budget_minor": None,
                    "estimated_amount_minor": 100_000,
                    "expected_order_date": None,
                    "services": ["compute"],
                    "need_description": "Need.",
                    "solution_description": "Solution.",
                    "customer_authorised": True,
                    "routing_region": "CN",
                    "created_by_user_id": user_id,
                    "created_at": now - dt.timedelta(days=12),
                    "updated_at": now - dt.timedelta(days=12),
                    "submitted_at": now - dt.timedelta(days=12),
                    "validation_started_at": now - dt.timedelta(days=12),
                    "clock_started_at": now - dt.timedelta(days=12),
                    "due_at": due,
                    "due_provisional": False,
                    "remind_at": due - dt.timedelta(days=2),
                }
            )
        copy_rows(session, Opportunity.__table__, rows)  # type: ignore[arg-type]
    vacuum(database, ("opportunities", "users", "organisations", "memberships"))


WRITTEN = ("opportunities", "audit_events", "notifications", "outbox_messages")
"""The tables a measurement writes; its rolled-back rows are vacuumed before the next."""


def vacuum(database: str, tables: tuple[str, ...] = WRITTEN) -> None:
    """``VACUUM ANALYZE`` of ``tables`` and a checkpoint: the rows a rolled-back measurement
    left behind are cleared, so that every measurement starts from the same pages and indexes
    (autovacuum may be off, and would run at unknown times if it were on)."""
    with psycopg.connect(libpq_dsn(database), autocommit=True) as connection:
        for table in tables:
            connection.execute(
                sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table))
            )
        # The pages the vacuum dirtied are written now, not by the checkpointer during
        # the next measurement; and both measurements then start right after a checkpoint.
        connection.execute("CHECKPOINT")


def _count(session: Session, table: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def run_baseline(factory: sessionmaker[Session]) -> tuple[float, int]:
    with factory() as session:
        session.begin()
        started = time.perf_counter()
        result = session.execute(BASELINE)
        seconds = time.perf_counter() - started
        session.rollback()
    return seconds, int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_sweep(
    factory: sessionmaker[Session], settings: Settings
) -> tuple[float, int, dict[str, int]]:
    with factory() as session:
        session.begin()
        before = {
            name: _count(session, table)
            for name, table in (
                ("audit events", AuditEvent),
                ("notices", Notification),
                ("emails", OutboxMessage),
            )
        }
        started = time.perf_counter()
        rejected = sweep.expire_overdue(session, settings)
        seconds = time.perf_counter() - started
        written = {
            name: _count(session, table) - before[name]
            for name, table in (
                ("audit events", AuditEvent),
                ("notices", Notification),
                ("emails", OutboxMessage),
            )
        }
        session.rollback()
    return seconds, rejected, written


def benchmark(args: argparse.Namespace) -> int:
    print(f"machine busy before the run: {busy_cores():.2f} cores")
    print(f"source: {source_state()}")
    with scratch_database("opportunity_sweep") as database:
        migrate(database)
        engine = make_engine(database)
        factory = make_session_factory(engine)
        settings = Settings(database_url=database, base_url="http://bench.invalid")
        try:
            started = time.perf_counter()
            seed(factory, database, args.open, args.overdue)
            print(
                f"seeded {args.open:,} open POs, {args.overdue:,} overdue, "
                f"in {time.perf_counter() - started:.1f} s"
            )
            run_sweep(factory, settings)  # warm-up
            ratios = []
            print(f"{'pair':<5} {'UPDATE s':>9} {'sweep s':>9} {'ratio':>7}  rows")
            for pair in range(1, args.pairs + 1):
                vacuum(database)
                plain, updated = run_baseline(factory)
                vacuum(database)
                swept, rejected, written = run_sweep(factory, settings)
                ratios.append(swept / plain)
                details = ", ".join(f"{v:,} {k}" for k, v in written.items())
                print(
                    f"{pair:<5} {plain:>9.3f} {swept:>9.3f} {swept / plain:>7.2f}  "
                    f"UPDATE {updated:,}; sweep {rejected:,} rejected, {details}"
                )
            median = statistics.median(ratios)
            verdict = "within" if median <= 2 else "NOT within"
            print(f"median ratio: {median:.2f} ({verdict} the target of 2x)")
        finally:
            engine.dispose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--overdue", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=5)
    return benchmark(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
