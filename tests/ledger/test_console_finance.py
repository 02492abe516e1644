"""Vendor finance's console pages: who may open them, and each form moving money after its
confirmation step, with its refusals shown in the reader's language."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core.i18n import translator
from partnercenter.customers.models import AssociationMode
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
from partnercenter.ledger import service as ledger
from partnercenter.ledger.errors import InvalidAmount, NotCorrectable
from partnercenter.ledger.models import Transfer
from partnercenter.vouchers import spending
from partnercenter.vouchers.spending import VoucherUse
from tests import factories
from tests.helpers import csrf_from, post_form, sign_in


def shown(text: str) -> str:
    """``text`` as the page's HTML carries it."""
    return str(escape(text))


def money(minor: int, locale: str = "zh-CN") -> str:
    return translator(locale).format_money(Decimal(minor).scaleb(-2), "CNY")


def message(locale: str, english: str, **params: str) -> str:
    text = translator(locale).gettext(english)
    return shown(text % params if params else text)


@dataclass
class Finance:
    """The vendor with a finance clerk and a staff member without finance, a partner with
    its admin, and a customer of that partner."""

    vendor: factories.OrgWithAdmin
    clerk: str
    pdm: str
    partner: factories.OrgWithAdmin
    customer: factories.OrgWithAdmin

    @property
    def partner_id(self) -> str:
        return self.partner.organisation.id

    def pages(self) -> list[str]:
        return [
            "/vendor/finance",
            f"/vendor/finance/partners/{self.partner_id}",
            "/vendor/finance/recharges",
            "/vendor/finance/charges",
            "/vendor/finance/withdrawals",
        ]

    def actions(self) -> list[tuple[str, dict[str, str]]]:
        partner = f"/vendor/finance/partners/{self.partner_id}"
        return [
            ("/vendor/finance/verify", {}),
            (f"{partner}/topup", {"amount": "10", "confirmed": "yes"}),
            (f"{partner}/credit", {"amount": "10", "confirmed": "yes"}),
            (f"{partner}/designated", {"amount": "10", "confirmed": "yes"}),
            (
                f"{partner}/correct",
                {"transfer_id": "x", "amount": "1", "reason": "r", "confirmed": "yes"},
            ),
            (
                "/vendor/finance/recharges",
                {
                    "customer": self.customer.organisation.account_name,
                    "amount": "10",
                    "confirmed": "yes",
                },
            ),
        ]


def finance_world(
    db: Session, partner_type: PartnerType = PartnerType.SOLUTION_PROVIDER
) -> Finance:
    vendor = factories.vendor(db)
    clerk = factories.member(db, vendor.organisation, "vendor_finance")
    pdm = factories.member(db, vendor.organisation, "pdm")
    partner = factories.partner(db, partner_type)
    partner.organisation.legal_name = "Acme (Beijing) Technology Co., Ltd."
    customer = factories.associated_customer(
        db, partner.organisation, AssociationMode.RESALE
    )
    world = Finance(vendor, clerk.account_name, pdm.account_name, partner, customer)
    db.commit()
    return world


@pytest.fixture
def world(db: Session) -> Finance:
    return finance_world(db)


def finance_actor(db: Session, world: Finance):  # type: ignore[no-untyped-def]
    return identity.actor_for(db, world.vendor.admin, world.vendor.organisation.id)


@contextmanager
def reading(db: Session) -> Iterator[Session]:
    """A session of its own for reading what requests wrote.

    The test's session keeps the objects it made (and their loaded names) untouched, and no
    transaction of it stays open to block the next request on SQLite.
    """
    with Session(db.get_bind()) as fresh:
        yield fresh


def balances(db: Session, world: Finance) -> ledger.PartnerBalances:
    with reading(db) as fresh:
        return ledger.partner_balances(fresh, world.partner_id)


def transfer_count(db: Session) -> int:
    with reading(db) as fresh:
        return fresh.scalar(select(func.count()).select_from(Transfer)) or 0


def signed_in(client: TestClient, account: str, locale: str = "zh-CN") -> TestClient:
    client.cookies.set("pc_lang", locale)
    sign_in(client, account)
    return client


class TestWhoMayOpenThePages:
    def test_finance_staff_open_every_page_and_see_the_entry(
        self, client: TestClient, world: Finance
    ) -> None:
        signed_in(client, world.clerk)

        for path in world.pages():
            response = client.get(path)
            assert response.status_code == 200, path
        assert 'href="/vendor/finance"' in client.get("/console").text

    def test_the_vendor_admin_holds_finance_too(
        self, client: TestClient, world: Finance
    ) -> None:
        signed_in(client, world.vendor.admin.account_name)

        assert client.get("/vendor/finance").status_code == 200

    @pytest.mark.parametrize("who", ["pdm", "partner", "customer"])
    def test_others_are_refused_every_page_and_action(
        self, client: TestClient, db: Session, world: Finance, who: str
    ) -> None:
        account = {
            "pdm": world.pdm,
            "partner": world.partner.admin.account_name,
            "customer": world.customer.admin.account_name,
        }[who]
        signed_in(client, account)
        before = transfer_count(db)

        for path in world.pages():
            assert client.get(path).status_code == 403, path
        token = csrf_from(client, "/console")
        for path, data in world.actions():
            response = client.post(path, data={**data, "csrf_token": token})
            assert response.status_code == 403, path
        assert 'href="/vendor/finance"' not in client.get("/console").text
        assert transfer_count(db) == before

    def test_a_signed_out_visitor_is_sent_to_sign_in(
        self, client: TestClient, world: Finance
    ) -> None:
        for path in world.pages():
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")


class TestTopUp:
    def test_the_confirmation_shows_the_amount_and_records_nothing(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        signed_in(client, world.clerk)
        path = f"/vendor/finance/partners/{world.partner_id}/topup"

        page = post_form(client, path, {"amount": "1,234.5", "reference": "BANK-77"})

        assert page.status_code == 200
        assert "确认" in page.text
        assert money(123450) in page.text
        assert 'name="confirmed" value="yes"' in page.text
        assert balances(db, world).cash == 0

    def test_confirming_records_the_top_up_and_says_how_much(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        signed_in(client, world.clerk)
        path = f"/vendor/finance/partners/{world.partner_id}/topup"

        done = post_form(
            client,
            path,
            {"amount": "1234.50", "reference": "BANK-77", "confirmed": "yes"},
        )

        assert done.status_code == 303
        assert balances(db, world).cash == 123450
        detail = client.get(done.headers["location"])
        assert money(123450) in detail.text
        assert "BANK-77" in detail.text
        assert "充值" in detail.text

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_a_bad_amount_is_refused_in_the_readers_language(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        signed_in(client, world.clerk, locale)
        path = f"/vendor/finance/partners/{world.partner_id}/topup"

        for typed in ["12.345", "-5", "0", "ten"]:
            refused = post_form(client, path, {"amount": typed, "confirmed": "yes"})
            assert refused.status_code == 400, typed
            assert message(locale, InvalidAmount.default_message) in refused.text
        assert balances(db, world).cash == 0

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_a_remittance_is_recorded_once(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        signed_in(client, world.clerk, locale)
        path = f"/vendor/finance/partners/{world.partner_id}/topup"
        data = {"amount": "100", "reference": "BANK-1", "confirmed": "yes"}
        assert post_form(client, path, data).status_code == 303

        again = post_form(client, path, data)

        assert again.status_code == 409
        assert message(locale, "This reference is already recorded.") in again.text
        assert balances(db, world).cash == 10000
        if locale == "zh-CN":
            assert "该汇款流水号已登记" in again.text


class TestCreditAndDesignated:
    def test_the_credit_line_raises_what_can_be_allocated(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        signed_in(client, world.clerk)
        base = f"/vendor/finance/partners/{world.partner_id}"

        preview = post_form(client, f"{base}/credit", {"amount": "500"})
        assert money(50000) in preview.text
        assert balances(db, world).credit_limit == 0
        done = post_form(
            client, f"{base}/credit", {"amount": "500", "confirmed": "yes"}
        )

        assert done.status_code == 303
        after = balances(db, world)
        assert (after.credit_limit, after.allocatable) == (50000, 50000)
        assert money(50000) in client.get(base).text

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_the_credit_line_cannot_drop_below_the_credit_in_use(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        actor = finance_actor(db, world)
        ledger.set_credit_limit(db, actor, partner_id=world.partner_id, amount=100_00)
        partner = identity.actor_for(
            db, world.partner.admin, world.partner.organisation.id
        )
        ledger.allocate(
            db,
            partner,
            customer_id=world.customer.organisation.id,
            amount=60_00,
        )
        db.commit()
        signed_in(client, world.clerk, locale)

        refused = post_form(
            client,
            f"/vendor/finance/partners/{world.partner_id}/credit",
            {"amount": "50", "confirmed": "yes"},
        )

        assert refused.status_code == 409
        expected = message(
            locale,
            "The partner uses %(used)s %(currency)s of credit; the credit line cannot "
            "be set lower than that.",
            used="60.00",
            currency="CNY",
        )
        assert expected in refused.text
        assert balances(db, world).credit_limit == 100_00

    def test_the_designated_amount_is_set_aside(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        ledger.record_topup(
            db, finance_actor(db, world), partner_id=world.partner_id, amount=1000_00
        )
        db.commit()
        signed_in(client, world.clerk)

        done = post_form(
            client,
            f"/vendor/finance/partners/{world.partner_id}/designated",
            {"amount": "300", "reason": "Project A", "confirmed": "yes"},
        )

        assert done.status_code == 303
        after = balances(db, world)
        assert (after.designated, after.allocatable, after.withdrawable) == (
            300_00,
            700_00,
            700_00,
        )

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_a_negative_figure_is_refused(
        self, client: TestClient, world: Finance, locale: str
    ) -> None:
        signed_in(client, world.clerk, locale)

        refused = post_form(
            client,
            f"/vendor/finance/partners/{world.partner_id}/designated",
            {"amount": "-1", "confirmed": "yes"},
        )

        assert refused.status_code == 400
        assert (
            message(locale, "Enter an amount of 0 or more with at most two decimals.")
            in refused.text
        )


class TestCorrection:
    def _topup(self, db: Session, world: Finance, minor: int) -> str:
        result = ledger.record_topup(
            db,
            finance_actor(db, world),
            partner_id=world.partner_id,
            amount=minor,
            reference="WRONG-1",
        )
        db.commit()
        return result.transfer_id

    def test_part_of_a_top_up_is_taken_back(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        topup = self._topup(db, world, 1000_00)
        signed_in(client, world.clerk)
        path = f"/vendor/finance/partners/{world.partner_id}/correct"
        data = {"transfer_id": topup, "amount": "300", "reason": "Typed 1000, paid 700"}

        preview = post_form(client, path, data)
        assert preview.status_code == 200
        assert money(300_00) in preview.text
        assert money(1000_00) in preview.text
        done = post_form(client, path, {**data, "confirmed": "yes"})

        assert done.status_code == 303
        assert balances(db, world).cash == 700_00
        detail = client.get(done.headers["location"])
        assert money(700_00) in detail.text
        assert "Typed 1000, paid 700" in detail.text

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_a_reason_is_required_and_no_more_than_is_left(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        topup = self._topup(db, world, 100_00)
        signed_in(client, world.clerk, locale)
        path = f"/vendor/finance/partners/{world.partner_id}/correct"

        no_reason = post_form(
            client,
            path,
            {"transfer_id": topup, "amount": "10", "reason": " ", "confirmed": "yes"},
        )
        too_much = post_form(
            client,
            path,
            {"transfer_id": topup, "amount": "101", "reason": "x", "confirmed": "yes"},
        )

        assert no_reason.status_code == 400
        assert message(locale, "Say why the top-up is corrected.") in no_reason.text
        assert too_much.status_code == 409
        assert (
            message(
                locale, NotCorrectable.default_message, left="100.00", currency="CNY"
            )
            in too_much.text
        )
        assert balances(db, world).cash == 100_00

    def test_only_this_partners_top_ups_can_be_picked(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        other = factories.partner(db)
        foreign = ledger.record_topup(
            db, finance_actor(db, world), partner_id=other.organisation.id, amount=500
        ).transfer_id
        db.commit()
        signed_in(client, world.clerk)

        refused = post_form(
            client,
            f"/vendor/finance/partners/{world.partner_id}/correct",
            {"transfer_id": foreign, "amount": "1", "reason": "x", "confirmed": "yes"},
        )

        assert refused.status_code == 404
        assert "请选择该合作伙伴的一笔充值" in refused.text


class TestRecharge:
    def test_a_customer_recharge_is_found_by_account_name(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        signed_in(client, world.clerk)
        account = world.customer.organisation.account_name
        data = {"customer": account.upper(), "amount": "88.80", "reference": "PAY-9"}

        preview = post_form(client, "/vendor/finance/recharges", data)
        assert world.customer.organisation.display_name in preview.text
        assert money(8880) in preview.text
        done = post_form(
            client,
            "/vendor/finance/recharges",
            {**data, "customer": world.customer.organisation.id, "confirmed": "yes"},
        )

        assert done.status_code == 303
        with reading(db) as fresh:
            customer = ledger.customer_balances(fresh, world.customer.organisation.id)
        assert customer.cash == 8880
        listed = client.get("/vendor/finance/recharges")
        assert "PAY-9" in listed.text
        assert money(8880) in listed.text

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_an_unknown_customer_is_refused(
        self, client: TestClient, world: Finance, locale: str
    ) -> None:
        signed_in(client, world.clerk, locale)

        refused = post_form(
            client,
            "/vendor/finance/recharges",
            {"customer": "nobody-here", "amount": "1"},
        )

        assert refused.status_code == 403
        assert (
            message(locale, "No customer has this id or account name.") in refused.text
        )


class TestAccountsAndConsumption:
    def test_the_list_shows_each_partners_figures_and_the_totals(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        actor = finance_actor(db, world)
        ledger.record_topup(db, actor, partner_id=world.partner_id, amount=900_00)
        ledger.set_credit_limit(db, actor, partner_id=world.partner_id, amount=100_00)
        ledger.set_designated(db, actor, partner_id=world.partner_id, amount=200_00)
        partner = identity.actor_for(
            db, world.partner.admin, world.partner.organisation.id
        )
        ledger.allocate(
            db, partner, customer_id=world.customer.organisation.id, amount=150_00
        )
        ledger.post_charges(
            db, actor, [ledger.Charge("BILL-1", world.customer.organisation.id, 40_00)]
        )
        other = factories.partner(db)
        db.commit()
        signed_in(client, world.clerk)

        page = client.get("/vendor/finance")
        found = client.get(
            "/vendor/finance", params={"q": other.organisation.account_name}
        )

        row = page.text.split('data-testid="account-row"')[1]
        assert world.partner.organisation.display_name in row
        for figure in (750_00, 100_00, 200_00, 650_00):
            assert money(figure) in row
        assert money(110_00) in page.text  # what the customer holds
        assert money(40_00) in page.text  # consumption this month
        assert world.partner.organisation.display_name not in found.text
        assert other.organisation.display_name in found.text

    def test_the_ledger_check_runs_on_demand(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        ledger.record_topup(
            db, finance_actor(db, world), partner_id=world.partner_id, amount=5_00
        )
        db.commit()
        signed_in(client, world.clerk)

        page = client.get("/vendor/finance")
        assert "耗时" in page.text
        checked = post_form(client, "/vendor/finance/verify", {})

        assert checked.status_code == 200
        assert "无误" in checked.text

    def test_charges_are_listed_and_filtered(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        actor = finance_actor(db, world)
        customer = world.customer.organisation.id
        ledger.post_charges(
            db,
            actor,
            [
                ledger.Charge("BILL-100", customer, 12_34),
                ledger.Charge("BILL-101", customer, 1_00),
                ledger.Charge("BILL-100", customer, 2_00, refund=True),
            ],
        )
        db.commit()
        signed_in(client, world.clerk)

        every = client.get("/vendor/finance/charges")
        refunds = client.get("/vendor/finance/charges", params={"kind": "refund"})
        one = client.get("/vendor/finance/charges", params={"q": "BILL-101"})
        later = client.get("/vendor/finance/charges", params={"since": "2999-01-01"})

        assert every.text.count('data-testid="charge-row"') == 3
        assert world.customer.organisation.display_name in every.text
        assert money(11_34) in every.text  # charges less refunds
        assert refunds.text.count('data-testid="charge-row"') == 1
        assert one.text.count('data-testid="charge-row"') == 1
        assert "BILL-101" in one.text
        assert later.text.count('data-testid="charge-row"') == 0

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_a_charge_vouchers_paid_whole_is_listed_with_how_it_was_paid(
        self,
        client: TestClient,
        db: Session,
        world: Finance,
        monkeypatch: pytest.MonkeyPatch,
        locale: str,
    ) -> None:
        customer = world.customer.organisation.id
        paid: dict[str, int] = {"BILL-V": 5_00, "BILL-M": 1_00}
        monkeypatch.setattr(
            spending,
            "cover",
            lambda session, **kw: (
                [VoucherUse("v-1", paid.get(kw["charge_id"], 0))]
                if kw["charge_id"] in paid
                else []
            ),
        )
        ledger.post_charges(
            db,
            finance_actor(db, world),
            [
                ledger.Charge("BILL-V", customer, 5_00),
                ledger.Charge("BILL-M", customer, 3_00),
                ledger.Charge("BILL-C", customer, 2_00),
            ],
        )
        mixed = db.scalar(select(Transfer.id).where(Transfer.external_ref == "BILL-M"))
        db.commit()
        signed_in(client, world.clerk, locale)
        tr = translator(locale)

        every = client.get("/vendor/finance/charges")
        found = client.get("/vendor/finance/charges", params={"q": mixed})

        rows = {
            row.split("</td>")[0].rsplit(">", 1)[-1]: row
            for row in every.text.split('data-testid="charge-row">')[1:]
        }
        assert set(rows) == {"BILL-V", "BILL-M", "BILL-C"}
        assert str(escape(tr.gettext("none: vouchers paid it all"))) in rows["BILL-V"]
        assert money(5_00, locale) in rows["BILL-V"]
        assert mixed in rows["BILL-M"]
        assert money(1_00, locale) in rows["BILL-M"]
        total = every.text.split('data-testid="charges-total">')[1].split("</p>")[0]
        assert money(10_00, locale) in total
        assert money(4_00, locale) in total
        assert found.text.count('data-testid="charge-row"') == 1
        assert "BILL-M" in found.text

    def test_the_consumption_page_pages(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        customer = world.customer.organisation.id
        ledger.post_charges(
            db,
            finance_actor(db, world),
            [ledger.Charge(f"B-{i:03d}", customer, 1) for i in range(30)],
        )
        db.commit()
        signed_in(client, world.clerk)

        first = client.get("/vendor/finance/charges")
        second = client.get("/vendor/finance/charges", params={"offset": "25"})

        assert first.text.count('data-testid="charge-row"') == 25
        assert 'rel="next"' in first.text
        assert second.text.count('data-testid="charge-row"') == 5
