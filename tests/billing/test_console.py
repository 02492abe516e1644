"""The billing and incentive pages of the console, in both languages."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.billing.models import ChargeMode, ServiceType
from partnercenter.core.i18n import translator
from partnercenter.customers.models import AssociationMode
from partnercenter.identity import service as identity
from partnercenter.incentives import service as incentives
from partnercenter.incentives.models import IncentivePolicy
from partnercenter.ledger import service as ledger
from partnercenter.ledger.service import Charge
from tests import factories
from tests.helpers import post_form, sign_in
from tests.ledger.world import World, world

ECS = "hws.service.type.ec2"
LOCALES = ["zh-CN", "en"]


def text(locale: str, english: str) -> str:
    return str(escape(translator(locale).gettext(english)))


def signed_in(client: TestClient, account: str, locale: str) -> TestClient:
    client.cookies.set("pc_lang", locale)
    sign_in(client, account)
    return client


def billed(db: Session) -> tuple[World, str, str]:
    """A partner with a resale customer charged in February 2026, and a stranger's
    customer charged the same month."""
    w = world(db)
    customer = factories.associated_customer(db, w.partner.organisation)
    stranger = factories.partner(db)
    theirs = factories.associated_customer(db, stranger.organisation)
    day = dt.datetime(2026, 2, 10, 4, tzinfo=dt.UTC)
    ledger.post_charges(
        db,
        w.finance,
        [
            Charge(
                "a",
                customer.organisation.id,
                12_34,
                service_type_code=ECS,
                occurred_at=day,
            ),
            Charge(
                "b",
                customer.organisation.id,
                5_00,
                service_type_code=ECS,
                charge_mode=ChargeMode.YEARLY_MONTHLY,
                occurred_at=day,
            ),
            Charge("c", theirs.organisation.id, 99_00, occurred_at=day),
        ],
    )
    db.commit()
    return w, customer.organisation.id, customer.admin.account_name


class TestMonthlyBillsPages:
    @pytest.mark.parametrize("locale", LOCALES)
    def test_the_partner_sees_its_customers_bills_with_totals(
        self, client: TestClient, db: Session, locale: str
    ) -> None:
        w, customer, _ = billed(db)
        signed_in(client, w.partner.admin.account_name, locale)

        page = client.get("/billing/bills?cycle=2026-02")

        assert page.status_code == 200, page.text
        assert text(locale, "Monthly bills") in page.text
        assert page.text.count('data-testid="bill-row"') == 2
        assert customer in page.text
        ecs = "弹性云服务器" if locale == "zh-CN" else "Elastic Cloud Server"
        assert ecs in page.text
        assert text(locale, "Yearly/monthly") in page.text
        assert "17.34" in page.text
        assert "99.00" not in page.text
        one_mode = client.get("/billing/bills?cycle=2026-02&charge_mode=1")
        assert one_mode.text.count('data-testid="bill-row"') == 1
        march = client.get("/billing/bills?cycle=2026-03")
        assert text(locale, "No bills in this month.") in march.text

    def test_a_bad_month_is_shown_beside_the_filters(
        self, client: TestClient, db: Session
    ) -> None:
        w, _, _ = billed(db)
        signed_in(client, w.partner.admin.account_name, "en")

        page = client.get("/billing/bills?cycle=2026-2")

        assert page.status_code == 400
        assert "Enter a month as YYYY-MM." in page.text

    @pytest.mark.parametrize("locale", LOCALES)
    def test_the_export_has_the_rows_of_the_filter(
        self, client: TestClient, db: Session, locale: str
    ) -> None:
        w, customer, _ = billed(db)
        signed_in(client, w.partner.admin.account_name, locale)

        response = client.get("/billing/bills/export.csv?cycle=2026-02")

        assert response.status_code == 200
        assert "bills-2026-02" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
        assert rows[0][0] == translator(locale).gettext("Bill cycle")
        assert [(r[0], r[1], r[3], r[8]) for r in rows[1:]] == [
            ("2026-02", customer, ECS, "5.00"),
            ("2026-02", customer, ECS, "12.34"),
        ]

    @pytest.mark.parametrize("locale", LOCALES)
    def test_the_customer_sees_its_own_bills(
        self, client: TestClient, db: Session, locale: str
    ) -> None:
        _, _, login = billed(db)
        signed_in(client, login, locale)

        page = client.get("/my-bills?cycle=2026-02")

        assert page.status_code == 200
        assert text(locale, "My bills") in page.text
        assert page.text.count('data-testid="bill-row"') == 2
        assert client.get("/billing/bills").status_code == 403

    def test_vendor_finance_sees_every_bill_and_partners_not_the_vendor_page(
        self, client: TestClient, db: Session
    ) -> None:
        w, _, _ = billed(db)
        clerk = factories.member(db, w.vendor.organisation, "vendor_finance")
        db.commit()
        signed_in(client, clerk.account_name, "en")

        page = client.get("/vendor/billing/bills?cycle=2026-02")

        assert page.text.count('data-testid="bill-row"') == 3
        client.post("/logout", data={})
        other = TestClient(
            client.app, base_url="http://testserver", follow_redirects=False
        )
        signed_in(other, w.partner.admin.account_name, "en")
        assert other.get("/vendor/billing/bills").status_code == 403


class TestServiceTypesPage:
    @pytest.mark.parametrize("locale", LOCALES)
    def test_the_vendor_adds_and_renames_a_service_type(
        self, client: TestClient, db: Session, locale: str
    ) -> None:
        w = world(db)
        db.commit()
        signed_in(client, w.vendor.admin.account_name, locale)

        page = client.get("/vendor/billing/service-types")
        assert page.status_code == 200
        assert text(locale, "Add a service type") in page.text
        added = post_form(
            client,
            "/vendor/billing/service-types",
            {
                "code": "hws.service.type.dws",
                "name_zh": "数据仓库服务",
                "name_en": "Data Warehouse",
            },
        )
        assert added.status_code == 303
        renamed = post_form(
            client,
            "/vendor/billing/service-types/hws.service.type.dws",
            {"name_zh": "数据仓库", "name_en": "Data Warehouse Service"},
        )
        assert renamed.status_code == 303
        refused = post_form(
            client,
            "/vendor/billing/service-types",
            {"code": "Bad Code", "name_zh": "x", "name_en": ""},
        )

        assert refused.status_code == 400
        assert text(locale, "Enter a name of 1 to 100 characters.") in refused.text
        with Session(db.get_bind()) as fresh:
            row = fresh.get(ServiceType, "hws.service.type.dws")
            assert row is not None
            assert (row.name_zh, row.name_en) == ("数据仓库", "Data Warehouse Service")
            assert fresh.get(ServiceType, "Bad Code") is None


class TestPolicyPages:
    @pytest.mark.parametrize("locale", LOCALES)
    def test_the_vendor_edits_a_month_and_the_partner_reads_it(
        self, client: TestClient, db: Session, locale: str
    ) -> None:
        w = world(db)
        db.commit()
        signed_in(client, w.vendor.admin.account_name, locale)

        page = client.get("/vendor/incentives/policies?month=2026-03")
        assert page.status_code == 200
        assert text(locale, "As in earlier months") in page.text
        with Session(db.get_bind()) as fresh:
            codes = [row.code for row in fresh.scalars(select(ServiceType))]
        saved = post_form(
            client,
            "/vendor/incentives/policies",
            {
                "month": "2026-03",
                "service_type": codes,
                f"policy:{ECS}": "1",
                f"discount:{ECS}": "YES",
                f"rate:{ECS}": "7.5",
            },
        )
        assert saved.status_code == 303
        refused = post_form(
            client,
            "/vendor/incentives/policies",
            {
                "month": "2026-03",
                "service_type": [ECS],
                f"policy:{ECS}": "1",
                f"rate:{ECS}": "x",
            },
        )
        assert refused.status_code == 400
        assert (
            text(locale, "Enter a percentage from 0 to 100 with at most two decimals.")
            in refused.text
        )

        reader = TestClient(
            client.app, base_url="http://testserver", follow_redirects=False
        )
        signed_in(reader, w.partner.admin.account_name, locale)
        shown = reader.get("/incentives/policies?month=2026-05")

        assert shown.status_code == 200
        assert shown.text.count('data-testid="policy-row"') == 1
        assert text(locale, "Specific product") in shown.text
        assert "7.50%" in shown.text
        assert reader.get("/vendor/incentives/policies").status_code == 403
        with Session(db.get_bind()) as fresh:
            [policy] = fresh.scalars(select(IncentivePolicy)).all()
            assert (policy.month, policy.rebate_rate_bp) == ("2026-03", 750)

    def test_a_partner_without_the_incentives_right_cannot_read(
        self, client: TestClient, db: Session
    ) -> None:
        w = world(db)
        specialist = factories.member(db, w.partner.organisation, "project_specialist")
        incentives.save_month(
            db,
            identity.actor_for(db, w.vendor.admin, w.vendor.organisation.id),
            month="2026-03",
            entries=[incentives.PolicyInput(ECS, "0", True, "")],
        )
        consulting = w.customer(AssociationMode.CONSULTING)
        assert consulting
        db.commit()
        signed_in(client, specialist.account_name, "en")

        assert client.get("/incentives/policies").status_code == 403
