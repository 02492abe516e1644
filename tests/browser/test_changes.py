"""A resale customer asks to leave its partner in Chromium, and the partner admin agrees."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.customers.models import AssociationMode
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def sign_in(page: Page, account: str) -> None:
    page.goto("/login")
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录伙伴中心")).to_be_visible()


def test_the_customer_asks_to_leave_and_the_partner_admin_agrees(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        partner = factories.partner(db)
        customer = factories.associated_customer(
            db, partner.organisation, AssociationMode.RESALE
        )
        admin, partner_name = (
            partner.admin.account_name,
            partner.organisation.display_name,
        )
        owner, customer_name = (
            customer.admin.account_name,
            customer.organisation.display_name,
        )

    sign_in(page, owner)
    page.get_by_role("navigation").get_by_role("link", name="我的合作伙伴").click()
    expect(page.get_by_test_id("partner-name")).to_have_text(partner_name)
    expect(page.get_by_text("合作伙伴向您拨款")).to_be_visible()
    page.get_by_label("原因（选填）").fill("业务调整")  # noqa: RUF001
    page.get_by_role("button", name="申请解除关联").click()
    expect(page.get_by_role("status")).to_contain_text("申请已发送")
    expect(page.get_by_test_id("own-request")).to_contain_text("解除关联")
    sign_out(page)

    sign_in(page, admin)
    page.get_by_role("navigation").get_by_role("link", name="客户申请").click()
    request = page.get_by_test_id("request-to-answer")
    expect(request).to_contain_text(customer_name)
    expect(request).to_contain_text("业务调整")
    request.get_by_role("button", name="同意").click()
    expect(page.get_by_role("status")).to_contain_text("已同意该申请")
    sign_out(page)

    sign_in(page, owner)
    page.goto("/my-partner")
    expect(page.get_by_role("heading", name="您没有合作伙伴")).to_be_visible()
    expect(page.get_by_test_id("record-row").first).to_contain_text("解除关联")
    screenshot(page, "changes-customer-left")


def test_vendor_staff_read_one_partners_records_in_both_languages(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        partner, other = factories.partner(db), factories.partner(db)
        shown = factories.associated_customer(db, partner.organisation)
        hidden = factories.associated_customer(db, other.organisation)
        staff, partner_id = vendor.admin.account_name, partner.organisation.id
        shown_name = shown.organisation.display_name
        hidden_name = hidden.organisation.display_name

    sign_in(page, staff)
    page.get_by_role("navigation").get_by_role("link", name="关联关系操作记录").click()
    expect(page.get_by_role("heading", name="关联关系操作记录")).to_be_visible()
    expect(
        page.get_by_test_id("record-row").filter(has_text=hidden_name)
    ).to_have_count(1)
    page.get_by_label("合作伙伴 ID").fill(partner_id)
    page.get_by_role("button", name="筛选").click()
    rows = page.get_by_test_id("record-row")
    expect(rows.filter(has_text=shown_name)).to_have_count(1)
    expect(rows.filter(has_text=hidden_name)).to_have_count(0)
    screenshot(page, "changes-vendor-records-zh")

    page.get_by_label("语言").select_option("en")
    page.get_by_role("button", name="切换语言").click()
    expect(page.get_by_role("heading", name="Association records")).to_be_visible()
    expect(page.get_by_label("Partner ID")).to_have_value(partner_id)
    expect(
        page.get_by_test_id("record-row").filter(has_text=shown_name)
    ).to_contain_text("Associated")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as CSV").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    assert shown_name in text
    assert hidden_name not in text
    screenshot(page, "changes-vendor-records-en")
