"""The vendor's page for the working-day calendar: a year's days off and declared working
days, corrections, and publishing next year's official schedule."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from partnercenter.core import calendar
from partnercenter.core.clock import local_date, utc_now
from partnercenter.core.errors import FieldProblem, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.identity.permissions import Permission
from partnercenter.web.context import DB, ActingPage, require, take_flash

router = APIRouter()


def _today(page: ActingPage) -> dt.date:
    return local_date(utc_now(), page.settings.display_timezone)


def _year_or_default(page: ActingPage, year: int | None) -> int:
    today = _today(page)
    if year is None or not 2000 <= year <= today.year + 5:
        return today.year
    return year


@router.get("/vendor/calendar")
def calendar_page(page: ActingPage, db: DB, year: int | None = None) -> Response:
    require(page, Permission.CALENDAR_MANAGE)
    shown = _year_or_default(page, year)
    days = calendar.year_days(db, shown)
    official = calendar.WorkingCalendar.load(
        db, _today(page), _today(page)
    ).is_official_year(shown)
    return page.render(
        "admin/calendar.html",
        year=shown,
        years=list(range(_today(page).year - 1, _today(page).year + 3)),
        days=days,
        official=official,
        library_year=calendar.library_covers(shown),
        missing_next=calendar.next_year_missing(db, _today(page)),
        flash=take_flash(page.request),
        error=None,
    )


def _parse_day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            problems=[FieldProblem("day", N_("Enter a date such as 2027-02-13."))]
        ) from None


@router.post("/vendor/calendar/days")
def set_day(
    *,
    page: ActingPage,
    db: DB,
    day: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "off",
    name: Annotated[str, Form()] = "",
) -> Response:
    actor = require(page, Permission.CALENDAR_MANAGE)
    parsed = _parse_day(day)
    calendar.set_day(db, actor, parsed, is_working_day=status == "working", name=name)
    return page.redirect(
        f"/vendor/calendar?year={parsed.year}",
        page.tr.gettext("The day %(day)s has been saved.")
        % {"day": parsed.isoformat()},
    )


@router.post("/vendor/calendar/days/{day}/clear")
def clear_day(page: ActingPage, db: DB, day: str) -> Response:
    actor = require(page, Permission.CALENDAR_MANAGE)
    parsed = _parse_day(day)
    calendar.clear_day(db, actor, parsed)
    return page.redirect(
        f"/vendor/calendar?year={parsed.year}",
        page.tr.gettext("The entry for %(day)s has been removed.")
        % {"day": parsed.isoformat()},
    )


@router.post("/vendor/calendar/years/{year}/publish")
def publish_year(page: ActingPage, db: DB, year: int) -> Response:
    actor = require(page, Permission.CALENDAR_MANAGE)
    calendar.publish_year(db, actor, year)
    return page.redirect(
        f"/vendor/calendar?year={year}",
        page.tr.gettext("The schedule of %(year)s is now official.") % {"year": year},
    )
