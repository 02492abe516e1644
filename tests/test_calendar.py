"""Working days across the Spring Festival and National Day, and provisional years."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from partnercenter.cli import main
from partnercenter.core import calendar
from partnercenter.core.clock import utc_now
from partnercenter.core.models import CalendarDay, CalendarYear

D = dt.date.fromisoformat


def _due(db: Session, start: str, count: int) -> tuple[str, bool]:
    due = calendar.working_days_after(db, D(start), count)
    return due.day.isoformat(), due.provisional


class TestOfficialYears:
    @pytest.mark.parametrize(
        ("start", "count", "expected"),
        [
            # 2025 Spring Festival: 28 Jan - 4 Feb off; Sunday 26 Jan and Saturday 8 Feb worked.
            ("2025-01-24", 1, "2025-01-26"),
            ("2025-01-26", 1, "2025-01-27"),
            ("2025-01-27", 1, "2025-02-05"),
            ("2025-02-05", 3, "2025-02-08"),
            ("2025-01-27", 10, "2025-02-17"),
            # 2025 National Day: 1-8 Oct off; Sunday 28 Sep and Saturday 11 Oct worked.
            ("2025-09-26", 1, "2025-09-28"),
            ("2025-09-30", 1, "2025-10-09"),
            ("2025-10-09", 2, "2025-10-11"),
            # 2026 Spring Festival: 15-23 Feb off; Saturdays 14 Feb and 28 Feb worked.
            ("2026-02-13", 1, "2026-02-14"),
            ("2026-02-14", 1, "2026-02-24"),
            ("2026-02-24", 4, "2026-02-28"),
            # 2026 National Day: 1-7 Oct off; Sunday 20 Sep and Saturday 10 Oct worked.
            ("2026-09-19", 1, "2026-09-20"),
            ("2026-09-30", 1, "2026-10-08"),
            ("2026-10-09", 1, "2026-10-10"),
        ],
    )
    def test_deadlines_follow_the_official_schedule(
        self, db: Session, start: str, count: int, expected: str
    ) -> None:
        assert _due(db, start, count) == (expected, False)

    def test_a_day_off_as_the_start_is_not_counted(self, db: Session) -> None:
        # Saturday 7 Mar 2026: the first working day after it is Monday 9 Mar.
        assert _due(db, "2026-03-07", 1) == ("2026-03-09", False)
        assert _due(db, "2026-03-07", 0) == ("2026-03-07", False)

    def test_a_deadline_is_the_end_of_the_due_day_in_shanghai(
        self, db: Session
    ) -> None:
        # 20:00 UTC on Friday 6 Mar is already Saturday 7 Mar in Shanghai.
        moment = dt.datetime(2026, 3, 6, 20, 0, tzinfo=dt.UTC)
        deadline = calendar.deadline_after(db, moment, 1, "Asia/Shanghai")
        assert deadline.day == D("2026-03-09")
        assert deadline.at == dt.datetime(2026, 3, 9, 15, 59, 59, 999999, tzinfo=dt.UTC)
        assert not deadline.provisional


class TestProvisionalYears:
    def test_a_year_without_schedule_uses_the_statutory_rules_and_says_so(
        self, db: Session
    ) -> None:
        # 2027: Spring Festival holidays are 5-8 Feb (eve and three days); no declared
        # working weekends are known, so Saturday 13 Feb is off.
        assert _due(db, "2027-02-04", 1) == ("2027-02-09", True)
        assert _due(db, "2027-02-12", 1) == ("2027-02-15", True)
        assert _due(db, "2027-09-30", 1) == ("2027-10-04", True)

    def test_a_count_that_ends_in_an_official_year_but_passes_a_provisional_one(
        self, db: Session
    ) -> None:
        assert _due(db, "2026-12-30", 3)[1] is True
        assert _due(db, "2026-12-28", 2) == ("2026-12-30", False)

    def test_entering_and_publishing_the_schedule_makes_it_official(
        self, db: Session
    ) -> None:
        # Suppose the official 2027 schedule declares Saturday 13 Feb a working day.
        db.add(
            CalendarDay(
                day=D("2027-02-13"),
                is_working_day=True,
                name="Spring Festival",
                updated_at=utc_now(),
            )
        )
        db.flush()
        assert _due(db, "2027-02-12", 1) == ("2027-02-13", True)

        db.add(CalendarYear(year=2027, published_at=utc_now()))
        db.flush()
        assert _due(db, "2027-02-12", 1) == ("2027-02-13", False)

    def test_entered_days_override_the_library(self, db: Session) -> None:
        db.add(
            CalendarDay(
                day=D("2026-03-09"),
                is_working_day=False,
                name="Closure",
                updated_at=utc_now(),
            )
        )
        db.flush()
        assert _due(db, "2026-03-06", 1) == ("2026-03-10", False)

    def test_the_warning_for_next_year_starts_in_november(self, db: Session) -> None:
        assert calendar.next_year_missing(db, D("2026-10-31")) is None
        assert calendar.next_year_missing(db, D("2026-11-01")) == 2027
        assert calendar.next_year_missing(db, D("2025-11-15")) is None


class TestCalendarCommand:
    def test_prints_the_due_date_and_marks_provisional(self, database_url: str) -> None:
        env = {
            "PARTNERCENTER_DATABASE_URL": database_url,
            "PARTNERCENTER_LOG_LEVEL": "ERROR",
        }
        runner = CliRunner()

        official = runner.invoke(main, ["calendar", "due", "2026-09-30", "1"], env=env)
        provisional = runner.invoke(
            main, ["calendar", "due", "2027-09-30", "1"], env=env
        )

        assert official.output == "2026-10-08\n"
        assert provisional.output == "2027-10-04 provisional\n"
