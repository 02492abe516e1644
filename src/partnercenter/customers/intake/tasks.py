"""Periodic jobs of customer intake: ending registrations whose hold has run out."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import utc_now
from partnercenter.core.settings import Settings
from partnercenter.customers.intake import registrations
from partnercenter.worker import periodic

BATCH = 200
"""Registrations expired per transaction, so that a long backlog never holds locks long."""


@periodic("customers.expire_registrations")
def expire_registrations(factory: sessionmaker[Session], _settings: Settings) -> int:
    """Expire every registration past its deadline; returns how many were expired."""
    done = 0
    while True:
        with factory() as session, session.begin():
            due = registrations.due_ids(session, utc_now(), BATCH)
            expired = sum(registrations.expire(session, rid) for rid in due)
        done += expired
        if len(due) < BATCH or expired == 0:
            return done
