"""Rejecting every opportunity whose deadline passed, in set-based statements.

One ``UPDATE`` closes the overdue rows; the audit events, the in-console notices and the
emails are written by one ``INSERT … SELECT`` each over exactly the rows it closed. On
PostgreSQL the four are one statement (the ``UPDATE … RETURNING`` and the inserts as
data-modifying CTEs), so the closed rows are read once; SQLite has no such CTEs, so there the
``UPDATE`` marks the rows with a token of the pass and the inserts select them by it.

A row already closed is not matched again, so a worker stopped over a deadline rejects it once
when it starts again, and two workers racing on PostgreSQL cannot both close the same row (the
second waits for the first's row locks and then finds the row no longer open).

Every closed row has its audit event, but each reader hears of a pass once: a reader whose
several opportunities expired together (a worker that was stopped over many deadlines, a busy
day) gets one notice pointing at the list of rejected opportunities and one email naming the
first :data:`DIGEST_LINES` by customer, not one of each per opportunity. A single opportunity
is announced like any rejection, with its own link.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.orm import Session

from partnercenter.core import notifications
from partnercenter.core.clock import utc_now
from partnercenter.core.db import UTCDateTime
from partnercenter.core.i18n import LOCALES, N_, translator
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
DIGEST_KIND = "opportunities.expired_digest"
ACTION = "opportunity.expire"
DIGEST_LINES = 50
"""How many opportunities one email lists by name; the rest are counted and linked."""
MORE = N_("… and %(count)s more:")
LIST_LINK = "/opportunities?state=rejected"
"""Where a digest of several points: the partner's list of rejected opportunities."""


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
    digests = _digests(session, settings, pairs).subquery()
    for statement in _writes(session, settings, closed, digests, now):
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
    digests = _digests(session, settings, pairs).cte("digests")
    writes = [
        statement.returning(literal(1)).cte(f"written_{number}")
        for number, statement in enumerate(
            _writes(session, settings, closed, digests, now)
        )
    ]
    counted = select(func.count()).select_from(closed).add_cte(*writes)
    return int(session.scalar(counted) or 0)


def _writes(
    session: Session,
    settings: Settings,
    closed: Any,
    digests: Any,
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

    one = digests.c.count == 1
    notices = select(
        digests.c.user_id,
        digests.c.organisation_id,
        case((one, _text(NOTICE_KIND)), else_=_text(DIGEST_KIND)),
        case(
            (one, _json(session, customer=digests.c.customer_name)),
            else_=_json(session, count=digests.c.count),
        ),
        case(
            (one, _text("/opportunities/") + digests.c.opportunity_id),
            else_=_text(LIST_LINK),
        ),
        at,
    ).select_from(digests)
    emails = _emails(session, settings, digests, at)
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
        .where(
            closed.c.origin == Origin.PARTNER.value,
            User.is_active.is_(True),
            # A semi-join, not a join: the planner cannot know how many closed rows there
            # are, and a join made it compare each with every membership.
            tuple_(User.id, closed.c.organisation_id).in_(
                select(Membership.user_id, Membership.organisation_id).where(
                    Membership.left_at.is_(None)
                )
            ),
        )
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


def _digests(session: Session, settings: Settings, pairs: Any) -> Any:
    """One row per reader and partner: how many of the reader's opportunities closed, the
    customer and id of the first (all there is when it is one), and the email's list of
    the first :data:`DIGEST_LINES`, by customer name."""
    base = _text(settings.base_url.rstrip("/") + "/opportunities/")
    postgresql = session.get_bind().dialect.name == "postgresql"
    # Byte order (SQLite's own): locale-aware comparison costs more than the rest of the pass.
    name = pairs.c.customer_name.collate("C") if postgresql else pairs.c.customer_name
    ranked = select(
        pairs.c.user_id,
        pairs.c.organisation_id,
        pairs.c.email,
        pairs.c.locale,
        pairs.c.customer_name,
        pairs.c.opportunity_id,
        func.row_number()
        .over(
            partition_by=(pairs.c.user_id, pairs.c.organisation_id),
            order_by=(name, pairs.c.opportunity_id),
        )
        .label("rank"),
    ).subquery()
    line = (
        _text("- ")
        + ranked.c.customer_name
        + _text(": ")
        + base
        + ranked.c.opportunity_id
    )
    if postgresql:
        lines = func.string_agg(
            case((ranked.c.rank <= DIGEST_LINES, line)),
            aggregate_order_by(_text("\n"), ranked.c.rank),
        )
    else:
        # SQLite before 3.44 has no ordered aggregate (its group_concat keeps whatever
        # order the rows arrive in), so the list is put together place by place.
        lines = functools.reduce(
            operator.add,
            [
                func.coalesce(
                    func.max(
                        case(
                            (
                                ranked.c.rank == place,
                                (_text("\n") if place > 1 else _text("")) + line,
                            )
                        )
                    ),
                    _text(""),
                )
                for place in range(1, DIGEST_LINES + 1)
            ],
        )
    first = ranked.c.rank == 1
    return select(
        ranked.c.user_id,
        ranked.c.organisation_id,
        ranked.c.email,
        ranked.c.locale,
        func.count().label("count"),
        func.max(case((first, ranked.c.customer_name))).label("customer_name"),
        func.max(case((first, ranked.c.opportunity_id))).label("opportunity_id"),
        lines.label("lines"),
    ).group_by(
        ranked.c.user_id, ranked.c.organisation_id, ranked.c.email, ranked.c.locale
    )


def _emails(session: Session, settings: Settings, digests: Any, at: Any) -> Any:
    """The email of each digest with an address, in the reader's language: one
    opportunity as its notice reads, several as a list of customers and links."""
    site = settings.base_url.rstrip("/")
    language = func.coalesce(digests.c.locale, settings.locale)
    one_title, one_body = _localised(
        language, NOTICE_KIND, customer=digests.c.customer_name
    )
    count = cast(digests.c.count, String)
    many_title, many_body = _localised(language, DIGEST_KIND, count=count)
    more = _localised_text(
        language, MORE, count=cast(digests.c.count - DIGEST_LINES, String)
    )
    single = one_body + _text(f"\n\n{site}/opportunities/") + digests.c.opportunity_id
    several = (
        many_body
        + _text("\n\n")
        + digests.c.lines
        + case(
            (
                digests.c.count > DIGEST_LINES,
                _text("\n") + more + _text(f" {site}{LIST_LINK}"),
            ),
            else_=_text(""),
        )
    )
    one = digests.c.count == 1
    return (
        select(
            _text(MAIL_TOPIC),
            _json(
                session,
                to=digests.c.email,
                subject=case((one, one_title), else_=many_title),
                body=case((one, single), else_=several),
            ),
            at,
            at,
            literal(0),
        )
        .select_from(digests)
        .where(digests.c.email.is_not(None))
    )


_MARK = "\x00"


def _filled(text: str, values: dict[str, ColumnElement[str]]) -> ColumnElement[str]:
    """``text``, rendered with a marker for each parameter, as SQL with the values put in."""
    parts = text.split(_MARK)
    # The marked text alternates: literal, parameter name, literal, …
    expression: ColumnElement[str] = _text(parts[0])
    for index in range(1, len(parts), 2):
        expression = expression + values[parts[index]] + _text(parts[index + 1])
    return expression


def _markers(values: dict[str, Any]) -> dict[str, str]:
    return {name: f"{_MARK}{name}{_MARK}" for name in values}


def _localised(
    language: ColumnElement[str], kind: str, **values: ColumnElement[str]
) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """A notice's title and body in each reader's language, as SQL expressions."""
    titles: list[tuple[ColumnElement[bool], ColumnElement[str]]] = []
    bodies: list[tuple[ColumnElement[bool], ColumnElement[str]]] = []
    for locale in LOCALES:
        title, body = notifications.render(kind, _markers(values), translator(locale))
        titles.append((language == locale, _filled(title, values)))
        bodies.append((language == locale, _filled(body, values)))
    return case(*titles, else_=titles[0][1]), case(*bodies, else_=bodies[0][1])


def _localised_text(
    language: ColumnElement[str], message: str, **values: ColumnElement[str]
) -> ColumnElement[str]:
    """One %-template in each reader's language, as an SQL expression."""
    choices = [
        (
            language == locale,
            _filled(translator(locale).gettext(message) % _markers(values), values),
        )
        for locale in LOCALES
    ]
    return case(*choices, else_=choices[0][1])
