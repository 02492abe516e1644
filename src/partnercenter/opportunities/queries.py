"""Reading opportunities: who sees which, lists, queues, duplicates, timelines, the pipeline.

One rule decides visibility (:func:`visible`): a partner sees its own opportunities; vendor
staff see those of the regions they cover, or every region with the permission for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from partnercenter.core import calendar
from partnercenter.core.actor import Actor
from partnercenter.core.clock import local_date, utc_now
from partnercenter.core.errors import NotFound
from partnercenter.core.models import AuditEvent
from partnercenter.core.scoping import owned_by
from partnercenter.identity.permissions import Permission
from partnercenter.opportunities.models import (
    CLOCKED_STATES,
    Opportunity,
    Origin,
    StaffRegion,
    State,
)
from partnercenter.opportunities.rules import (
    CALENDAR_TIMEZONE,
    REMIND_WORKING_DAYS_BEFORE,
)

_VENDOR_PERMISSIONS = (
    Permission.OPPORTUNITIES_REVIEW,
    Permission.OPPORTUNITIES_VALIDATE,
    Permission.OPPORTUNITIES_ALL_REGIONS,
)


def staff_regions(session: Session, user_id: str | None) -> set[str]:
    if user_id is None:
        return set()
    return set(
        session.scalars(
            select(StaffRegion.region).where(StaffRegion.user_id == user_id)
        )
    )


def visible(
    session: Session, actor: Actor, statement: Select[Opportunity]
) -> Select[Opportunity]:
    """Limit ``statement`` to the opportunities ``actor`` may see (never drafts of others,
    never deleted drafts)."""
    statement = statement.where(Opportunity.state != State.DELETED)
    if not actor.is_vendor:
        if not actor.can(Permission.OPPORTUNITIES_VIEW):
            return statement.where(false())
        return owned_by(statement, Opportunity, actor)
    if not any(actor.can(p) for p in _VENDOR_PERMISSIONS):
        return statement.where(false())
    # The vendor never sees a partner's drafts.
    statement = statement.where(Opportunity.state != State.DRAFT)
    if actor.can(Permission.OPPORTUNITIES_ALL_REGIONS):
        return statement
    regions = staff_regions(session, actor.user_id)
    return statement.where(Opportunity.routing_region.in_(regions))


def can_see(session: Session, actor: Actor, row: Opportunity) -> bool:
    statement = visible(session, actor, select(Opportunity)).where(
        Opportunity.id == row.id
    )
    return session.scalar(statement) is not None


def get(session: Session, actor: Actor, opportunity_id: str) -> Opportunity:
    row = session.scalar(
        visible(session, actor, select(Opportunity)).where(
            Opportunity.id == opportunity_id
        )
    )
    if row is None:
        raise NotFound()
    return row


@dataclass(frozen=True, slots=True)
class Filters:
    state: State | None = None
    origin: Origin | None = None
    region: str = ""
    search: str = ""
    at_risk: bool = False
    """Only open ones whose reminder time has come (two working days or fewer left)."""


def _filtered(session: Session, actor: Actor, filters: Filters) -> Select[Opportunity]:
    statement = visible(session, actor, select(Opportunity))
    if filters.state is not None:
        statement = statement.where(Opportunity.state == filters.state)
    if filters.origin is not None:
        statement = statement.where(Opportunity.origin == filters.origin)
    if filters.region:
        statement = statement.where(Opportunity.routing_region == filters.region)
    if filters.search.strip():
        pattern = f"%{filters.search.strip().casefold()}%"
        statement = statement.where(Opportunity.customer_key.like(pattern))
    if filters.at_risk:
        statement = statement.where(
            Opportunity.state.in_(CLOCKED_STATES), Opportunity.remind_at <= utc_now()
        )
    return statement


def find(
    session: Session,
    actor: Actor,
    filters: Filters,
    *,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Opportunity], int]:
    """A page of the list, newest first, and how many match in all."""
    statement = _filtered(session, actor, filters)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(Opportunity.created_at.desc(), Opportunity.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return rows, total


EXPORT_PAGE = 500
"""Rows the CSV export reads from the database at a time."""


def every(session: Session, actor: Actor, filters: Filters) -> Iterator[Opportunity]:
    """All matching rows, newest first, read a page at a time for the CSV export."""
    statement = (
        _filtered(session, actor, filters)
        .order_by(Opportunity.created_at.desc(), Opportunity.id)
        .execution_options(yield_per=EXPORT_PAGE)
    )
    yield from session.scalars(statement)


def queue(session: Session, actor: Actor) -> Sequence[Opportunity]:
    """What waits for this PDM or BD, the nearest deadline first."""
    waiting: list[State] = []
    if actor.can(Permission.OPPORTUNITIES_REVIEW):
        waiting.append(State.IN_REVIEW)
    if actor.can(Permission.OPPORTUNITIES_VALIDATE):
        waiting.append(State.IN_VALIDATION)
    if not actor.is_vendor or not waiting:
        return []
    statement = visible(session, actor, select(Opportunity)).where(
        Opportunity.state.in_(waiting)
    )
    return session.scalars(
        statement.order_by(
            Opportunity.due_at.is_(None),
            Opportunity.due_at,
            Opportunity.submitted_at,
        ).limit(200)
    ).all()


# -- duplicates -------------------------------------------------------------------------


def _same_lead(row: Opportunity) -> Select[Opportunity]:
    return select(Opportunity).where(
        Opportunity.customer_key == row.customer_key,
        Opportunity.id != row.id,
        Opportunity.state.not_in([State.DRAFT, State.DELETED]),
    )


def _overlaps(row: Opportunity, other: Opportunity) -> bool:
    return bool(set(row.services) & set(other.services))


def duplicates(session: Session, row: Opportunity) -> list[Opportunity]:
    """Other opportunities for the same customer and at least one shared service.

    The list is shown to vendor staff only: it spans partners."""
    # Services are compared in Python because a JSON array cannot be intersected the
    # same way on both databases; one customer rarely has more than a handful of leads.
    found = session.scalars(_same_lead(row).order_by(Opportunity.created_at)).all()
    return [other for other in found if _overlaps(row, other)]


def winning_duplicate(session: Session, row: Opportunity) -> Opportunity | None:
    """The duplicate that came first and stands: a PO validated earlier, or an HO shared
    earlier that the partner has not turned down."""
    for other in duplicates(session, row):
        if other.origin is Origin.PARTNER and other.state in (
            State.ACCEPTED,
            State.WON,
        ):
            return other
        if other.origin is Origin.VENDOR and other.state in (
            State.SHARED,
            State.ACCEPTED,
            State.WON,
        ):
            return other
    return None


def open_duplicates(
    session: Session, winner: Opportunity, *, lock: bool = False
) -> list[Opportunity]:
    """POs still waiting for a decision that duplicate ``winner``."""
    statement = _same_lead(winner).where(
        Opportunity.origin == Origin.PARTNER,
        Opportunity.state.in_([State.IN_REVIEW, State.IN_VALIDATION]),
    )
    if lock:
        statement = statement.with_for_update()
    return [other for other in session.scalars(statement) if _overlaps(winner, other)]


# -- timeline, deadline, pipeline -------------------------------------------------------


def timeline(session: Session, row: Opportunity) -> Sequence[AuditEvent]:
    return session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == "opportunity", AuditEvent.subject_id == row.id
        )
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    ).all()


@dataclass(frozen=True, slots=True)
class Clock:
    due_at: dt.datetime
    due_day: dt.date
    provisional: bool
    working_days_left: int
    """Working days from today (counted if it is one, and not the day the clock started)
    to the due day; 0 once it passed."""

    @property
    def at_risk(self) -> bool:
        return self.working_days_left <= REMIND_WORKING_DAYS_BEFORE


def clock(
    session: Session, row: Opportunity, now: dt.datetime | None = None
) -> Clock | None:
    """The running deadline of an open opportunity, or None when none runs."""
    if row.state not in CLOCKED_STATES or row.due_at is None:
        return None
    now = now or utc_now()
    today = local_date(now, CALENDAR_TIMEZONE)
    due_day = local_date(row.due_at, CALENDAR_TIMEZONE)
    left = 0
    if now <= row.due_at:
        # The day the clock started is not one of the days allowed, as in the count.
        first = today
        if row.clock_started_at is not None:
            started = local_date(row.clock_started_at, CALENDAR_TIMEZONE)
            first = max(today, started + dt.timedelta(days=1))
        days = calendar.WorkingCalendar.load(session, first, due_day)
        day = first
        while day <= due_day:
            left += days.day(day).is_working_day
            day += dt.timedelta(days=1)
    return Clock(row.due_at, due_day, row.due_provisional, left)


@dataclass
class PipelineRow:
    state: State
    count: int = 0
    amounts: dict[str, int] = field(default_factory=dict)
    """Estimated amounts in minor units, per currency."""


@dataclass
class Pipeline:
    rows: list[PipelineRow]
    at_risk: int
    overdue: int


def pipeline(session: Session, actor: Actor) -> Pipeline:
    """Counts and estimated amounts per state, and how many deadlines are near."""
    base = visible(session, actor, select(Opportunity)).subquery()
    grouped = session.execute(
        select(
            base.c.state,
            base.c.currency,
            func.count(),
            func.coalesce(func.sum(base.c.estimated_amount_minor), 0),
        ).group_by(base.c.state, base.c.currency)
    ).all()
    by_state: dict[State, PipelineRow] = {}
    for state, currency, count, amount in grouped:
        row = by_state.setdefault(State(state), PipelineRow(State(state)))
        row.count += int(count)
        row.amounts[currency] = int(amount)
    now = utc_now()
    clocked = base.c.state.in_([s.value for s in CLOCKED_STATES])
    at_risk = session.scalar(
        select(func.count()).where(
            clocked, base.c.remind_at <= now, base.c.due_at > now
        )
    )
    overdue = session.scalar(select(func.count()).where(clocked, base.c.due_at <= now))
    order = list(State)
    rows = sorted(by_state.values(), key=lambda row: order.index(row.state))
    return Pipeline(rows, int(at_risk or 0), int(overdue or 0))
