"""The validation deadline: ten working days of mainland China's calendar, stored and recounted."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from partnercenter.core import calendar
from partnercenter.core.clock import FrozenClock
from partnercenter.core.settings import Settings
from partnercenter.opportunities import queries
from tests.opportunities.desk import desk, in_validation

BEIJING = ZoneInfo("Asia/Shanghai")


def _at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), BEIJING)


class TestValidationDeadline:
    @pytest.mark.parametrize(
        ("reviewed_on", "due_on"),
        [
            # Spring Festival 2025: 28 Jan - 4 Feb off; Sunday 26 Jan and Saturday 8 Feb work.
            ("2025-01-24", "2025-02-13"),
            # National Day 2025: 1 - 8 Oct off; Sunday 28 Sep and Saturday 11 Oct work.
            ("2025-09-26", "2025-10-16"),
            # Spring Festival 2026: 15 - 23 Feb off; Saturdays 14 and 28 Feb work.
            ("2026-02-12", "2026-03-04"),
            # National Day 2026: 1 - 7 Oct off; Saturday 10 Oct works.
            ("2026-09-30", "2026-10-20"),
        ],
    )
    def test_ten_working_days_across_the_long_holidays(
        self,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
        reviewed_on: str,
        due_on: str,
    ) -> None:
        d = desk(db, settings)
        clock.set(_at(reviewed_on))

        row = in_validation(d)

        assert row.due_at is not None
        assert row.due_at.astimezone(BEIJING).date() == dt.date.fromisoformat(due_on)
        assert row.due_at.astimezone(BEIJING).time() == dt.time(23, 59, 59, 999999)
        assert row.due_provisional is False

    def test_a_review_after_midnight_in_beijing_counts_from_that_day(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        d = desk(db, settings)
        # 00:30 on Friday 30 Jan 2026 in Beijing is still Thursday in UTC.
        clock.set(_at("2026-01-30", 0).replace(minute=30))
        row = in_validation(d)
        assert row.due_at is not None
        assert row.due_at.astimezone(BEIJING).date() == dt.date(2026, 2, 13)

    def test_working_days_left_are_shown_until_the_deadline(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        d = desk(db, settings)
        clock.set(_at("2026-02-12"))
        row = in_validation(d)

        start = queries.clock(db, row)
        clock.set(_at("2026-03-03"))
        near = queries.clock(db, row)
        clock.set(_at("2026-03-05"))
        after = queries.clock(db, row)

        assert start is not None
        assert near is not None
        assert after is not None
        assert start.working_days_left == 10
        assert near.working_days_left == 2
        assert near.at_risk
        assert after.working_days_left == 0


class TestProvisionalDeadline:
    def test_a_year_without_a_schedule_gives_a_provisional_deadline(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        d = desk(db, settings)
        clock.set(_at("2027-03-01"))

        row = in_validation(d)

        assert row.due_provisional is True
        assert row.due_at is not None
        assert row.due_at.astimezone(BEIJING).date() == dt.date(2027, 3, 15)

    def test_entering_and_publishing_the_year_recounts_open_deadlines(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        d = desk(db, settings)
        clock.set(_at("2027-03-01"))
        row = in_validation(d)
        admin = d.as_vendor_admin

        calendar.set_day(
            db, admin, dt.date(2027, 3, 5), is_working_day=False, name="Made-up day"
        )
        moved = row.due_at
        calendar.publish_year(db, admin, 2027)

        assert moved is not None
        assert moved.astimezone(BEIJING).date() == dt.date(2027, 3, 16)
        assert row.due_provisional is False
        assert row.due_at == moved
