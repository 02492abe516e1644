"""Periodic jobs of the ledger: finishing batches cut short, forgetting old idempotency keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import utc_now
from partnercenter.core.settings import Settings
from partnercenter.ledger import batches
from partnercenter.ledger.models import IdempotencyKey
from partnercenter.worker import periodic

KEEP_IDEMPOTENCY_KEYS = dt.timedelta(hours=24)
"""How long a retry with the same key returns the first result."""


@periodic("ledger.finish_batches")
def finish_batches(factory: sessionmaker[Session], settings: Settings) -> int:
    """Run every batch a restart left unfinished; returns how many were run."""
    with factory() as session:
        waiting = batches.unfinished(session)
    for batch_id in waiting:
        batches.run(factory, batch_id, streams=settings.batch_streams)
    return len(waiting)


@periodic("ledger.forget_idempotency_keys")
def forget_idempotency_keys(factory: sessionmaker[Session], _settings: Settings) -> int:
    with factory() as session, session.begin():
        result = session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.created_at < utc_now() - KEEP_IDEMPOTENCY_KEYS
            )
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
