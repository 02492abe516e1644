"""Periodic jobs of vouchers: expiring vouchers past their expiry time.

The deadline is each voucher's ``expire_time``; a worker stopped past it expires the voucher
on its next pass, and only an active voucher is expired, so it happens once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.actor import SYSTEM
from partnercenter.core.clock import utc_now
from partnercenter.core.settings import Settings
from partnercenter.vouchers import service
from partnercenter.worker import periodic

BATCH = 200
"""Vouchers expired per transaction, so that a long backlog never holds locks long."""


@periodic("vouchers.expire")
def expire_vouchers(factory: sessionmaker[Session], _settings: Settings) -> int:
    """Expire every voucher past its expiry time; returns how many were expired."""
    done = 0
    while True:
        with factory() as session, session.begin():
            expired = service.expire_due(session, SYSTEM, utc_now(), BATCH)
        done += expired
        if expired < BATCH:
            return done
