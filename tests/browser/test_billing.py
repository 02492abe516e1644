"""In Chromium: the vendor sets this month's policy of a service, the partner reads it, then
opens the monthly bills of its resale customer and narrows them by charge mode; vendor
finance finds on its consumption page a charge that vouchers paid whole."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.billing.models import ChargeMode
from partnercenter.billing.service import bill_cycle_of
from partnercenter.core.clock import utc_now
from partnercenter.identity import service as identity
from partnercenter.ledger import service as ledger
from partnercenter.ledger.service import Charge
from partnercenter.vouchers import spending
from partnercenter.vouchers.spending import VoucherUse
from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.test_withdrawal import open_finance_page, sign_in, sign_out

pytestmark = pytest.mark.browser

ECS = "hws.service.type.ec2"


def test_the_vendor_sets_a_policy_and_the_partner_reads_it_and_its_bills(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        partner = factories.partner(db)
        customer = factories.associated_customer(db, partner.organisation)
        finance = identity.actor_for(db, vendor.admin, vendor.organisation.id)
        ledger.post_charges(
            db,
            finance,
            [
                Charge("b-1", customer.organisation.id, 12_34, service_type_code=ECS),
                Charge(
                    "b-2",
                    customer.organisation.id,
                    56_00,
                    service_type_code="hws.service.type.rds",
                    charge_mode=ChargeMode.YEARLY_MONTHLY,
                ),
            ],
        )
        vendor_login, partner_login = (
            vendor.admin.account_name,
            partner.admin.account_name,
        )
        customer_name = customer.organisation.display_name
    month = bill_cycle_of(utc_now())

    sign_in(page, vendor_login)
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="激励政策"
    ).click()
    row = page.get_by_test_id("policy-row").filter(has_text=ECS)
    row.get_by_label("本月政策").select_option("1")
    row.get_by_label("允许折扣").select_option("YES")
    row.get_by_label("返点率（%）").fill("9.5")  # noqa: RUF001
    page.get_by_role("button", name=f"保存 {month} 的政策").click()
    expect(page.get_by_role("status")).to_contain_text("已保存")
    expect(page.get_by_test_id("policy-row").filter(has_text=ECS)).to_contain_text(
        "特定产品"
    )
    sign_out(page)

    sign_in(page, partner_login)
    navigation = page.get_by_role("navigation", name="主导航")
    navigation.get_by_role("link", name="激励政策").click()
    policy = page.get_by_test_id("policy-row").filter(has_text=ECS)
    expect(policy).to_contain_text("弹性云服务器")
    expect(policy).to_contain_text("特定产品")
    expect(policy).to_contain_text("9.50%")

    navigation.get_by_role("link", name="月度账单").click()
    bills = page.get_by_test_id("bill-row")
    expect(bills).to_have_count(2)
    expect(bills.filter(has_text="弹性云服务器")).to_contain_text("¥12.34")
    expect(page.get_by_test_id("bill-totals")).to_contain_text("¥68.34")
    page.get_by_label("计费模式").select_option("1")
    page.get_by_role("button", name="筛选").click()
    expect(bills).to_have_count(1)
    expect(bills.first).to_contain_text(customer_name)
    expect(bills.first).to_contain_text("包年/包月")
    expect(page.get_by_test_id("bill-totals")).to_contain_text("¥56.00")
    screenshot(page, "monthly-bills")


def test_finance_finds_a_charge_that_vouchers_paid_whole(
    page: Page, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The customer's vouchers pay the whole of b-v and nothing of b-c.
    monkeypatch.setattr(
        spending,
        "cover",
        lambda session, **kw: (
            [VoucherUse("v-1", kw["amount"])] if kw["charge_id"] == "b-v" else []
        ),
    )
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        clerk = factories.member(db, vendor.organisation, "vendor_finance")
        partner = factories.partner(db)
        customer = factories.associated_customer(db, partner.organisation)
        ledger.post_charges(
            db,
            identity.actor_for(db, vendor.admin, vendor.organisation.id),
            [
                Charge("b-v", customer.organisation.id, 8_00),
                Charge("b-c", customer.organisation.id, 3_00),
            ],
        )
        finance = clerk.account_name

    sign_in(page, finance)
    open_finance_page(page, "消费")
    expect(page.get_by_test_id("charge-row")).to_have_count(2)
    expect(page.get_by_test_id("charges-total")).to_contain_text("¥11.00")
    expect(page.get_by_test_id("charges-total")).to_contain_text("现金 ¥3.00")

    page.get_by_label("消费单号或客户").fill("b-v")
    page.get_by_role("button", name="筛选").click()
    row = page.get_by_test_id("charge-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("¥8.00")
    expect(row).to_contain_text("无：全部由代金券支付")  # noqa: RUF001
    screenshot(page, "finance-consumption-vouchers")
