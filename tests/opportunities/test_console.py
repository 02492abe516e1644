"""The console pages: the partner's form and list, the vendor's queue and decisions, CSV."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.settings import Settings
from partnercenter.opportunities import queries, service, views
from partnercenter.opportunities.models import Opportunity, State
from tests import factories
from tests.helpers import post_form, sign_in
from tests.opportunities.desk import complete_form, desk, submitted

FORM = {
    "customer_name": "Lotus Freight Ltd",
    "customer_industry": "Logistics",
    "customer_region": "CN",
    "contact_name": "Zhou Min",
    "contact_phone": "13800000000",
    "budget": "500000",
    "estimated_amount": "320000",
    "expected_order_date": "2026-06-30",
    "services": ["compute", "storage"],
    "need_description": "Tracking system to the cloud.",
    "solution_description": "Two-wave migration.",
}


class TestPartnerPages:
    def test_the_partner_submits_from_the_form_and_sees_the_deadline_later(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        db.commit()
        sign_in(client, d.partner_admin.account_name)

        refused = post_form(client, "/opportunities", {**FORM, "intent": "submit"})
        assert refused.status_code == 400
        assert "授权" in refused.text

        response = post_form(
            client,
            "/opportunities",
            {**FORM, "intent": "submit", "customer_authorised": "yes"},
        )
        assert response.status_code == 303
        row = db.scalars(select(Opportunity)).one()
        assert row.state is State.IN_REVIEW
        db.rollback()

        page = client.get(response.headers["location"])
        assert page.status_code == 200
        assert "Lotus Freight Ltd" in page.text
        assert "审核中" in page.text
        listing = client.get("/opportunities")
        assert listing.status_code == 200
        assert 'data-testid="opportunity-row"' in listing.text

    def test_the_list_exports_csv_and_reads_in_english(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        submitted(d)
        d.partner_admin.locale = "en"
        db.commit()
        sign_in(client, d.partner_admin.account_name)

        listing = client.get("/opportunities")
        exported = client.get("/opportunities/export.csv?state=in_review")

        assert "In review" in listing.text
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.lstrip("\ufeff").splitlines()
        assert lines[0].startswith("Customer,")
        assert lines[1].startswith("Lotus Freight Ltd,PO,In review")

    def test_the_export_streams_every_row_of_the_partner_only(
        self,
        client: TestClient,
        db: Session,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(queries, "EXPORT_PAGE", 2)
        d = desk(db, settings)
        for name in ("Alpha Ltd", "Beta Ltd", "Gamma Ltd", "Delta Ltd", "Epsilon Ltd"):
            submitted(d, customer_name=name)
        other = factories.partner(db)
        stranger = d.actor(other.admin, other.organisation)
        draft = service.save_draft(
            db, stranger, settings, complete_form(customer_name="Not Yours Ltd")
        )
        service.submit(db, stranger, settings, draft.id)
        db.commit()
        sign_in(client, d.partner_admin.account_name)

        exported = client.get("/opportunities/export.csv")

        assert exported.status_code == 200
        lines = exported.text.lstrip("\ufeff").splitlines()
        names = sorted(line.split(",")[0] for line in lines[1:])
        assert names == [
            "Alpha Ltd",
            "Beta Ltd",
            "Delta Ltd",
            "Epsilon Ltd",
            "Gamma Ltd",
        ]

    def test_another_partner_gets_not_found(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        other = factories.partner(db)
        db.commit()
        sign_in(client, other.admin.account_name)
        assert client.get(f"/opportunities/{row.id}").status_code == 404


class TestVendorPages:
    def test_the_pdm_reviews_and_the_bd_validates_from_the_queue(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        db.commit()

        sign_in(client, d.pdm.account_name)
        queue = client.get("/vendor/opportunities")
        assert 'data-testid="queue-row"' in queue.text
        reviewed = post_form(
            client, f"/vendor/opportunities/{row.id}/review", {"comment": "Fine."}
        )
        assert reviewed.status_code == 303
        client.cookies.clear()

        sign_in(client, d.bd.account_name)
        detail = client.get(f"/vendor/opportunities/{row.id}")
        assert 'data-testid="deadline"' in detail.text
        refused = post_form(client, f"/vendor/opportunities/{row.id}/reject", {})
        assert refused.status_code == 400
        accepted = post_form(client, f"/vendor/opportunities/{row.id}/accept", {})
        assert accepted.status_code == 303

        db.expire_all()
        assert db.get(Opportunity, row.id).state is State.ACCEPTED  # type: ignore[union-attr]

    def test_a_pdm_of_another_region_gets_not_found(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        db.commit()
        from partnercenter.opportunities import service

        service.set_staff_regions(db, d.as_vendor_admin, d.pdm.id, ["SG"])
        db.commit()
        sign_in(client, d.pdm.account_name)
        assert client.get(f"/vendor/opportunities/{row.id}").status_code == 404


class TestCoveragePage:
    def test_the_vendor_admin_sets_a_pdms_regions(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        db.commit()
        sign_in(client, d.vendor_admin.account_name)

        page = client.get("/vendor/opportunities/coverage/regions")
        assert page.text.count('data-testid="coverage-row"') == 2
        saved = post_form(
            client,
            "/vendor/opportunities/coverage/regions",
            {"user_id": d.pdm.id, "regions": "cn, sg"},
        )
        refused = post_form(
            client,
            "/vendor/opportunities/coverage/regions",
            {"user_id": d.pdm.id, "regions": "XX"},
        )

        assert saved.status_code == 303
        assert refused.status_code == 400
        from partnercenter.opportunities import queries

        assert queries.staff_regions(db, d.pdm.id) == {"CN", "SG"}

    def test_a_pdm_cannot_set_regions(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        db.commit()
        sign_in(client, d.pdm.account_name)
        assert client.get("/vendor/opportunities/coverage/regions").status_code == 403


class TestSharing:
    def test_the_bd_finds_the_partner_by_name_and_shares_an_opportunity(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        other = factories.partner(db)
        db.commit()
        sign_in(client, d.bd.account_name)
        client.cookies.set("pc_lang", "en")

        everyone = client.get("/vendor/opportunities/share/new")
        found = client.get(
            "/vendor/opportunities/share/new",
            params={"partner_q": d.partner.display_name.upper()},
        )
        nobody = client.get(
            "/vendor/opportunities/share/new", params={"partner_q": "no such 100%"}
        )
        shared = post_form(
            client,
            "/vendor/opportunities/share",
            {**FORM, "partner_id": d.partner.id},
        )

        assert other.organisation.display_name in everyone.text
        assert d.partner.display_name in found.text
        assert other.organisation.display_name not in found.text
        assert f'<option value="{d.partner.id}" selected>' in found.text
        assert "No active partner matches." in nobody.text
        assert shared.status_code == 303, shared.text
        row = db.scalars(select(Opportunity)).one()
        assert (row.organisation_id, row.state) == (d.partner.id, State.SHARED)

    def test_a_refused_share_keeps_the_chosen_partner_and_speaks_chinese(
        self, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        db.commit()
        sign_in(client, d.bd.account_name)

        refused = post_form(
            client,
            "/vendor/opportunities/share",
            {**FORM, "customer_name": "", "partner_id": d.partner.id},
        )

        assert refused.status_code == 400
        assert f'<option value="{d.partner.id}" selected>' in refused.text
        assert "查找合作伙伴" in refused.text

    def test_more_partners_than_the_picker_shows_are_announced(
        self,
        client: TestClient,
        db: Session,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        d = desk(db, settings)
        factories.partner(db)
        factories.partner(db)
        db.commit()
        monkeypatch.setattr(views, "PICKER_LIMIT", 2)
        sign_in(client, d.bd.account_name)
        client.cookies.set("pc_lang", "en")

        page = client.get("/vendor/opportunities/share/new")

        assert "Only the first 2 partners are listed" in page.text
        assert (
            page.text.count('<option value="') - page.text.count('<option value="">')
            >= 2
        )
