"""Working days: the one calendar of the product (mainland China's official schedule).

Three sources, in order of precedence:

1. days the vendor entered (``calendar_days``), for corrections and for years the library does
   not know yet;
2. the ``chinesecalendar`` library, which carries the official schedule, public holidays and
   the weekend days declared working days (调休), for the years it covers;
3. for a year neither covers, the statutory rules alone: weekends off and the statutory public
   holidays (from the ``holidays`` library) off, with no declared working weekends.

A year is **official** when the library covers it or the vendor has published its schedule
(``calendar_years``); any other year is **provisional**, and every date computed through a
provisional day says so, so that nobody mistakes a guess for the official schedule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.i18n import N_
from partnercenter.core.models import CalendarDay, CalendarYear

WARN_FROM_MONTH = 11
"""From this month on, the vendor console warns when next year's schedule is missing."""
_LOOKAHEAD_DAYS = 62


@dataclass(frozen=True, slots=True)
class Day:
    day: dt.date
    is_working_day: bool
    name: str | None
    provisional: bool


@dataclass(frozen=True, slots=True)
class DueDate:
    day: dt.date
    provisional: bool
    """True when the count went through a year without an official schedule."""


@dataclass(frozen=True, slots=True)
class Deadline:
    at: dt.datetime
    """The end of the due day in the calendar's time zone, as an aware UTC time."""
    day: dt.date
    provisional: bool


HOLIDAY_NAMES = {
    "New Year's Day": N_("New Year's Day"),
    "Spring Festival": N_("Spring Festival"),
    "Chinese New Year (Spring Festival)": N_("Spring Festival"),
    "Chinese New Year's Eve": N_("Spring Festival"),
    "Tomb-sweeping Day": N_("Qingming Festival"),
    "Tomb-Sweeping Day": N_("Qingming Festival"),
    "Labour Day": N_("Labour Day"),
    "Labor Day": N_("Labour Day"),
    "Dragon Boat Festival": N_("Dragon Boat Festival"),
    "Mid-autumn Festival": N_("Mid-Autumn Festival"),
    "Mid-Autumn Festival": N_("Mid-Autumn Festival"),
    "Mid-Autumn Festival; National Day": N_("National Day"),
    "National Day": N_("National Day"),
    "Anti-Fascist 70th Day": N_("Victory Day"),
}
"""The libraries' holiday names mapped to the product's own, which are translated."""


def _holiday_name(name: str | None) -> str | None:
    return HOLIDAY_NAMES.get(name, name) if name else None


@cache
def library_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@cache
def _statutory_holidays(year: int) -> dict[dt.date, str]:
    return dict(holidays.country_holidays("CN", years=year, observed=False).items())


def _library_day(day: dt.date) -> tuple[bool, str | None]:
    _on_holiday, name = chinese_calendar.get_holiday_detail(day)
    return chinese_calendar.is_workday(day), _holiday_name(name)


def _statutory_day(day: dt.date) -> tuple[bool, str | None]:
    name = _statutory_holidays(day.year).get(day)
    if name is not None:
        return False, _holiday_name(name)
    return day.weekday() < 5, None


class WorkingCalendar:
    """The calendar as stored for a range of dates; cheap to build per use case."""

    def __init__(
        self, entered: dict[dt.date, CalendarDay], published: set[int]
    ) -> None:
        self._entered = entered
        self._published = published

    @classmethod
    def load(cls, session: Session, start: dt.date, end: dt.date) -> WorkingCalendar:
        entered = {
            row.day: row
            for row in session.scalars(
                select(CalendarDay).where(
                    CalendarDay.day >= start, CalendarDay.day <= end
                )
            )
        }
        published = set(session.scalars(select(CalendarYear.year)))
        return cls(entered, published)

    @property
    def entered_days(self) -> dict[dt.date, CalendarDay]:
        return self._entered

    def is_official_year(self, year: int) -> bool:
        return year in self._published or library_covers(year)

    def day(self, day: dt.date) -> Day:
        provisional = not self.is_official_year(day.year)
        if day in self._entered:
            row = self._entered[day]
            return Day(day, row.is_working_day, row.name, provisional)
        if library_covers(day.year):
            working, name = _library_day(day)
        else:
            working, name = _statutory_day(day)
        return Day(day, working, name, provisional)

    def add_working_days(self, start: dt.date, count: int) -> DueDate:
        """The date ``count`` working days after ``start`` (``start`` itself not counted;
        it may be a day off)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day, provisional, left = start, False, count
        while left:
            day += dt.timedelta(days=1)
            info = self.day(day)
            if info.is_working_day:
                left -= 1
                provisional = provisional or info.provisional
        return DueDate(day, provisional or (count == 0 and self.day(start).provisional))


def working_days_after(session: Session, start: dt.date, count: int) -> DueDate:
    # Ten working days never span more than about a month, even across the Spring
    # Festival; the window grows for longer counts.
    span = _LOOKAHEAD_DAYS + count * 2
    return WorkingCalendar.load(
        session, start, start + dt.timedelta(days=span)
    ).add_working_days(start, count)


def deadline_after(
    session: Session, moment: dt.datetime, count: int, timezone: str
) -> Deadline:
    """The end of the ``count``-th working day after the day of ``moment`` in ``timezone``."""
    zone = ZoneInfo(timezone)
    start = moment.astimezone(zone).date()
    due = working_days_after(session, start, count)
    end = dt.datetime.combine(due.day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    at = (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC)
    return Deadline(at, due.day, due.provisional)


def next_year_missing(session: Session, today: dt.date) -> int | None:
    """Next year, when its schedule should be entered and is not; else None."""
    if today.month < WARN_FROM_MONTH:
        return None
    year = today.year + 1
    calendar = WorkingCalendar.load(session, today, today)
    return None if calendar.is_official_year(year) else year


# -- entering the schedule --------------------------------------------------------------

CalendarListener = Callable[[Session, int], None]
"""Called with the year whose days changed, in the same transaction, so that whatever stores
deadlines computed from the calendar can compute them again."""

_listeners: list[CalendarListener] = []


def on_change(listener: CalendarListener) -> CalendarListener:
    """Register a listener (used as a decorator by modules that store deadlines)."""
    _listeners.append(listener)
    return listener


def _changed(session: Session, year: int) -> None:
    for listener in _listeners:
        listener(session, year)


def year_days(session: Session, year: int) -> list[tuple[Day, str]]:
    """The year's holidays and declared working weekends, each with its source
    (``entered``, ``library`` or ``statutory``)."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    calendar = WorkingCalendar.load(session, start, end)
    found = []
    day = start
    while day <= end:
        info = calendar.day(day)
        is_weekend = day.weekday() >= 5
        if day in calendar.entered_days:
            found.append((info, "entered"))
        elif info.is_working_day == is_weekend:
            found.append((info, "library" if library_covers(year) else "statutory"))
        day += dt.timedelta(days=1)
    return found


def set_day(
    session: Session,
    actor: Actor,
    day: dt.date,
    *,
    is_working_day: bool,
    name: str | None,
) -> CalendarDay:
    row = session.get(CalendarDay, day)
    before = (
        {"is_working_day": row.is_working_day, "name": row.name}
        if row is not None
        else None
    )
    if row is None:
        row = CalendarDay(day=day, is_working_day=is_working_day, updated_at=utc_now())
        session.add(row)
    row.is_working_day = is_working_day
    row.name = (name or "").strip()[:100] or None
    row.updated_at = utc_now()
    row.updated_by_user_id = actor.user_id
    session.flush()
    audit.record(
        session,
        actor,
        "calendar.day_set",
        subject_type="calendar_day",
        subject_id=day.isoformat(),
        organisation_id=actor.organisation_id or None,
        before=before,
        after={"is_working_day": is_working_day, "name": row.name},
    )
    _changed(session, day.year)
    return row


def clear_day(session: Session, actor: Actor, day: dt.date) -> None:
    row = session.get(CalendarDay, day)
    if row is None:
        return
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor,
        "calendar.day_cleared",
        subject_type="calendar_day",
        subject_id=day.isoformat(),
        organisation_id=actor.organisation_id or None,
        before={"is_working_day": row.is_working_day, "name": row.name},
    )
    _changed(session, day.year)


def publish_year(session: Session, actor: Actor, year: int) -> None:
    """Declare the entered schedule of ``year`` official: its dates stop being provisional."""
    if session.get(CalendarYear, year) is not None:
        return
    session.add(
        CalendarYear(
            year=year, published_at=utc_now(), published_by_user_id=actor.user_id
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        "calendar.year_published",
        subject_type="calendar_year",
        subject_id=str(year),
        organisation_id=actor.organisation_id or None,
    )
    _changed(session, year)
