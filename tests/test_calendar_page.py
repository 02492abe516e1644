"""The vendor enters next year's working-day schedule in the console."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import calendar
from partnercenter.core.clock import FrozenClock
from partnercenter.core.models import AuditEvent, CalendarDay
from tests import factories
from tests.helpers import post_form, sign_in

PAGE = "/vendor/calendar"


class TestCalendarPage:
    def test_a_year_without_schedule_is_marked_provisional(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)

        page = client.get(f"{PAGE}?year=2026")
        assert page.status_code == 200
        assert "正式" in page.text
        assert "本年的安排来自日历库" in page.text
        assert "春节" in page.text or "Spring Festival" in page.text

    def test_entering_a_working_weekend_and_publishing(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        clock.set(dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC))
        vendor = factories.vendor(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)
        assert "2027" in client.get("/console").text

        saved = post_form(
            client,
            f"{PAGE}/days",
            {"day": "2027-02-13", "status": "working", "name": "春节调休"},
            form_page=PAGE,
        )
        assert saved.status_code == 303
        page = client.get(f"{PAGE}?year=2027")
        assert "暂定" in page.text
        assert "春节调休" in page.text

        published = post_form(client, f"{PAGE}/years/2027/publish", {}, form_page=PAGE)
        assert published.status_code == 303
        db.expire_all()
        due = calendar.working_days_after(db, dt.date(2027, 2, 12), 1)
        assert (due.day, due.provisional) == (dt.date(2027, 2, 13), False)
        assert calendar.next_year_missing(db, dt.date(2026, 11, 20)) is None
        db.rollback()  # SQLite: end the read before the next request writes
        assert "calendar-warning" not in client.get("/console").text
        actions = set(db.scalars(select(AuditEvent.action)))
        assert {"calendar.day_set", "calendar.year_published"} <= actions

    def test_removing_an_entry_restores_the_rules(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)
        post_form(
            client,
            f"{PAGE}/days",
            {"day": "2026-03-09", "status": "off"},
            form_page=PAGE,
        )

        post_form(client, f"{PAGE}/days/2026-03-09/clear", {}, form_page=PAGE)

        db.expire_all()
        assert db.scalars(select(CalendarDay)).all() == []
        assert calendar.working_days_after(db, dt.date(2026, 3, 6), 1).day == dt.date(
            2026, 3, 9
        )

    def test_a_malformed_date_is_refused(self, client: TestClient, db: Session) -> None:
        vendor = factories.vendor(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)

        response = post_form(
            client, f"{PAGE}/days", {"day": "13/02/2027"}, form_page=PAGE
        )

        assert response.status_code == 400
        assert "请输入日期" in response.text

    def test_partners_and_other_staff_cannot_edit_it(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        pdm = factories.member(db, vendor.organisation, "pdm")
        partner = factories.partner(db)
        db.commit()

        for account in (pdm.account_name, partner.admin.account_name):
            client.cookies.clear()
            sign_in(client, account)
            assert client.get(PAGE).status_code == 403
            refused = post_form(client, f"{PAGE}/days", {"day": "2027-02-13"})
            assert refused.status_code == 403
        db.expire_all()
        assert db.scalars(select(CalendarDay)).all() == []
