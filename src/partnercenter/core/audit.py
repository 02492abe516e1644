"""Audit events: who did what to which record, with before and after, kept for good.

Unlike logs they live in the database, in the same transaction as the change, so an action
and its record of it commit or vanish together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.models import AuditEvent


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    subject_type: str,
    subject_id: str,
    organisation_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=utc_now(),
        organisation_id=organisation_id,
        actor_user_id=actor.user_id,
        actor_organisation_id=actor.organisation_id or None,
        actor_credential_id=actor.credential_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=before,
        after=after,
        reason=reason,
        request_id=actor.request_id,
    )
    session.add(event)
    return event


@dataclass(frozen=True, slots=True)
class AuditQuery:
    organisation_id: str | None = None
    """None only for vendor staff allowed to read every organisation's events."""
    action_prefix: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    actor_user_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    offset: int = 0
    limit: int = 50


def _filtered(query: AuditQuery) -> Select[AuditEvent]:
    statement = select(AuditEvent)
    if query.organisation_id is not None:
        statement = statement.where(AuditEvent.organisation_id == query.organisation_id)
    if query.action_prefix:
        statement = statement.where(AuditEvent.action.startswith(query.action_prefix))
    if query.subject_type:
        statement = statement.where(AuditEvent.subject_type == query.subject_type)
    if query.subject_id:
        statement = statement.where(AuditEvent.subject_id == query.subject_id)
    if query.actor_user_id:
        statement = statement.where(AuditEvent.actor_user_id == query.actor_user_id)
    if query.since:
        statement = statement.where(AuditEvent.occurred_at >= query.since)
    if query.until:
        statement = statement.where(AuditEvent.occurred_at < query.until)
    return statement


def find(session: Session, query: AuditQuery) -> Sequence[AuditEvent]:
    """Events matching ``query``, newest first."""
    statement = (
        _filtered(query)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .offset(query.offset)
        .limit(query.limit)
    )
    return session.scalars(statement).all()


def count(session: Session, query: AuditQuery) -> int:
    """How many events match ``query``, whatever its offset and limit."""
    statement = select(func.count()).select_from(_filtered(query).subquery())
    return session.scalar(statement) or 0
