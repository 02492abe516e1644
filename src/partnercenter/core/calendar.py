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
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

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
    on_holiday, name = chinese_calendar.get_holiday_detail(day)
    return chinese_calendar.is_workday(day), (name if on_holiday or name else None)


def _statutory_day(day: dt.date) -> tuple[bool, str | None]:
    name = _statutory_holidays(day.year).get(day)
    if name is not None:
        return False, name
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
