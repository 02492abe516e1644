"""The outbox: side effects recorded with the change that causes them, performed after commit.

A message is a row written in the caller's transaction, so it exists exactly when the change
does. The worker claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers
share the work), hands each to the handler of its topic and marks it sent. Delivery is at least
once: a handler must tolerate being called again for a message whose earlier run crashed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import utc_now
from partnercenter.core.logging import get_logger
from partnercenter.core.models import OutboxMessage

log = get_logger(__name__)

MAX_ATTEMPTS = 8
Handler = Callable[[Session, dict[str, Any]], None]


def enqueue(
    session: Session,
    topic: str,
    payload: dict[str, Any],
    *,
    available_at: dt.datetime | None = None,
) -> OutboxMessage:
    now = utc_now()
    message = OutboxMessage(
        topic=topic,
        payload=payload,
        created_at=now,
        available_at=available_at or now,
        attempts=0,
    )
    session.add(message)
    return message


def _retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def deliver_due(
    factory: sessionmaker[Session],
    handlers: Mapping[str, Handler],
    *,
    batch_size: int = 50,
) -> int:
    """Deliver up to ``batch_size`` due messages; returns how many were sent."""
    sent = 0
    with factory() as session, session.begin():
        now = utc_now()
        rows = session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                OutboxMessage.available_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        for message in rows:
            handler = handlers.get(message.topic)
            if handler is None:
                continue
            message.attempts += 1
            try:
                with session.begin_nested():
                    handler(session, message.payload)
            except Exception as error:  # noqa: BLE001 - any failure is retried later
                message.last_error = f"{type(error).__name__}: {error}"[:2000]
                if message.attempts >= MAX_ATTEMPTS:
                    message.failed_at = now
                    log.error(
                        "outbox.gave_up", message_id=message.id, topic=message.topic
                    )
                else:
                    message.available_at = now + _retry_delay(message.attempts)
                    log.warning(
                        "outbox.retry", message_id=message.id, attempts=message.attempts
                    )
                continue
            message.sent_at = now
            sent += 1
    return sent
