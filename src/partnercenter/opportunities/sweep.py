"""Rejecting every opportunity whose deadline passed, in set-based statements.

One ``UPDATE`` closes the overdue rows; the audit events, the in-console notices and the
emails are written by one ``INSERT … SELECT`` each over exactly the rows it closed. On
PostgreSQL the four are one statement (the ``UPDATE … RETURNING`` and the inserts as
data-modifying CTEs), so the closed rows are read once; SQLite has no such CTEs, so there the
``UPDATE`` marks the rows with a token of the pass and the inserts select them by it.

A row already closed is not matched again, so a worker stopped over a deadline rejects it once
when it starts again, and two workers racing on PostgreSQL cannot both close the same row (the
second waits for the first's row locks and then finds the row no longer open).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from partnercenter.core import notifications
from partnercenter.core.clock import utc_now
from partnercenter.core.db import UTCDateTime
from partnercenter.core.i18n import LOCALES, translator
from partnercenter.core.ids import new_id
from partnercenter.core.mail import TOPIC as MAIL_TOPIC
from partnercenter.core.models import AuditEvent, Notification, OutboxMessage
from partnercenter.core.settings import Settings
from partnercenter.identity.models import Membership, Organisation, User
from partnercenter.opportunities.models import (
    CLOCKED_STATES,
    Opportunity,
    Origin,
    RejectionReason,
    State,
)

NOTICE_KIND = "opportunities.expired"
ACTION = "opportunity.expire"


def _text(value: str) -> ColumnElement[str]:
    # Typed, so that PostgreSQL knows what a bare parameter inside a JSON builder is.
    return cast(literal(value), String)


def _json(session: Session, **members: Any) -> ColumnElement[Any]:
    builder = (
        func.jsonb_build_object
        if session.get_bind().dialect.name == "postgresql"
        else func.json_object
    )
    arguments: list[ColumnElement[Any]] = []
    for key, value in members.items():
        arguments += [_text(key), value]
    return builder(*arguments)


def _constant(session: Session, value: dict[str, Any]) -> ColumnElement[Any]:
    encoded = _text(json.dumps(value))
    if session.get_bind().dialect.name == "postgresql":
        return cast(encoded, JSONB)
    return encoded


def expire_overdue(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> int:
    """Reject every PO and HO whose deadline passed; returns how many were rejected."""
    now = now or utc_now()
    closing = (
        update(Opportunity)
        .where(Opportunity.state.in_(CLOCKED_STATES), Opportunity.due_at < now)
        .values(
            state=State.REJECTED,
            rejection_reason=RejectionReason.SLA_EXPIRED,
            decided_at=now,
            updated_at=now,
            remind_at=None,
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        return _in_one_statement(session, settings, closing, now)

    token = new_id()
    result = session.execute(
        closing.values(sweep_token=token).execution_options(synchronize_session=False)
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count == 0:
        return 0
    closed = select(*_CLOSED_COLUMNS).where(Opportunity.sweep_token == token).subquery()
    pairs = _recipients(closed).subquery()
    for statement in _writes(session, settings, closed, pairs, now):
        session.execute(statement)
    return count


_CLOSED_COLUMNS = (
    Opportunity.id,
    Opportunity.organisation_id,
    Opportunity.origin,
    Opportunity.created_by_user_id,
    Opportunity.customer_name,
)


def _in_one_statement(
    session: Session, settings: Settings, closing: Any, now: dt.datetime
) -> int:
    closed = closing.returning(*_CLOSED_COLUMNS).cte("closed")
    pairs = _recipients(closed).cte("recipients")
    writes = [
        statement.returning(literal(1)).cte(f"written_{number}")
        for number, statement in enumerate(
            _writes(session, settings, closed, pairs, now)
        )
    ]
    counted = select(func.count()).select_from(closed).add_cte(*writes)
    return int(session.scalar(counted) or 0)


def _writes(
    session: Session,
    settings: Settings,
    closed: Any,
    pairs: Any,
    now: dt.datetime,
) -> list[Any]:
    """The audit events, notices and emails of the closed rows, as INSERT … SELECT."""
    at = literal(now, UTCDateTime())
    # The events' before and after are the same for every row of an origin: constants,
    # so that no JSON is built row by row.
    before = case(
        (
            closed.c.origin == Origin.PARTNER.value,
            _constant(session, {"state": State.IN_VALIDATION.value}),
        ),
        else_=_constant(session, {"state": State.SHARED.value}),
    )
    after = _constant(
        session,
        {
            "state": State.REJECTED.value,
            "rejection_reason": RejectionReason.SLA_EXPIRED.value,
        },
    )
    events = select(
        at,
        closed.c.organisation_id,
        _text(ACTION),
        _text("opportunity"),
        closed.c.id,
        before,
        after,
        _text(RejectionReason.SLA_EXPIRED.value),
    ).select_from(closed)

    link = _text("/opportunities/") + pairs.c.opportunity_id
    notices = select(
        pairs.c.user_id,
        pairs.c.organisation_id,
        _text(NOTICE_KIND),
        _json(session, customer=pairs.c.customer_name),
        link,
        at,
    ).select_from(pairs)

    subject, body = _localised(settings, pairs.c.locale, pairs.c.customer_name)
    url = _text(settings.base_url.rstrip("/")) + link
    emails = (
        select(
            _text(MAIL_TOPIC),
            _json(
                session,
                to=pairs.c.email,
                subject=subject,
                body=body + _text("\n\n") + url,
            ),
            at,
            at,
            literal(0),
        )
        .select_from(pairs)
        .where(pairs.c.email.is_not(None))
    )
    return [
        insert(AuditEvent).from_select(
            [
                "occurred_at",
                "organisation_id",
                "action",
                "subject_type",
                "subject_id",
                "before",
                "after",
                "reason",
            ],
            events,
        ),
        insert(Notification).from_select(
            ["user_id", "organisation_id", "kind", "params", "link", "created_at"],
            notices,
        ),
        insert(OutboxMessage).from_select(
            ["topic", "payload", "created_at", "available_at", "attempts"], emails
        ),
    ]


def _recipients(closed: Any) -> Any:
    """Who hears of each closed row: a PO's author while still a member, and the partner's
    main account (once, when it is also the author)."""
    columns = (
        closed.c.id.label("opportunity_id"),
        closed.c.organisation_id,
        closed.c.customer_name,
        User.id.label("user_id"),
        User.email,
        User.locale,
    )
    authors = (
        select(*columns)
        .select_from(closed)
        .join(User, User.id == closed.c.created_by_user_id)
        .join(
            Membership,
            and_(
                Membership.user_id == User.id,
                Membership.organisation_id == closed.c.organisation_id,
                Membership.left_at.is_(None),
            ),
        )
        .where(closed.c.origin == Origin.PARTNER.value, User.is_active.is_(True))
    )
    main_accounts = (
        select(*columns)
        .select_from(closed)
        .join(Organisation, Organisation.id == closed.c.organisation_id)
        .join(User, User.id == Organisation.main_user_id)
        .where(
            User.is_active.is_(True),
            or_(
                closed.c.origin != Origin.PARTNER.value,
                closed.c.created_by_user_id.is_(None),
                closed.c.created_by_user_id != Organisation.main_user_id,
            ),
        )
    )
    return union_all(authors, main_accounts)


def _localised(
    settings: Settings, reader_locale: Any, customer: Any
) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """The notice's title and body in each reader's language, as SQL expressions."""
    language = func.coalesce(reader_locale, settings.locale)
    titles: list[tuple[ColumnElement[bool], ColumnElement[str]]] = []
    bodies: list[tuple[ColumnElement[bool], ColumnElement[str]]] = []
    marker = "\x00"
    for locale in LOCALES:
        title, text = notifications.render(
            NOTICE_KIND, {"customer": marker}, translator(locale)
        )
        before, _, after = text.partition(marker)
        titles.append((language == locale, _text(title)))
        bodies.append((language == locale, _text(before) + customer + _text(after)))
    default_title, default_body = titles[0][1], bodies[0][1]
    return case(*titles, else_=default_title), case(*bodies, else_=default_body)
