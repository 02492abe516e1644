"""In Chromium: the vendor grants a voucher quota, the partner issues a voucher from it to a
resale customer, the customer sees it, and the partner reclaims it."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import local_date, utc_now
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


def test_a_voucher_is_granted_issued_seen_and_reclaimed(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        partner = factories.partner(db)
        customer = factories.associated_customer(db, partner.organisation)
        vendor_admin, partner_admin = (
            vendor.admin.account_name,
            partner.admin.account_name,
        )
        customer_login, customer_id = (
            customer.admin.account_name,
            customer.organisation.id,
        )
        partner_id = partner.organisation.id
    today = local_date(utc_now(), "Asia/Shanghai")

    sign_in(page, vendor_admin)
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="代金券额度"
    ).click()
    page.get_by_role("link", name="发放额度").click()
    page.get_by_label("合作伙伴", exact=True).select_option(partner_id)
    page.get_by_label("金额（CNY）").fill("1000")  # noqa: RUF001
    page.get_by_label("生效日期", exact=True).fill(today.isoformat())
    page.get_by_label("有效至（含当日）").fill(  # noqa: RUF001
        (today + dt.timedelta(days=60)).isoformat()
    )
    page.get_by_label("单张代金券最小面值").fill("1")
    page.get_by_label("单张代金券最大面值").fill("500")
    page.get_by_label("最多发放张数").fill("10")
    page.get_by_role("button", name="发放额度").click()
    expect(page.get_by_role("status")).to_contain_text("已发放额度")
    expect(page.get_by_test_id("quota-row")).to_contain_text("¥1,000.00")
    sign_out(page)

    sign_in(page, partner_admin)
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="代金券", exact=True
    ).click()
    expect(page.get_by_test_id("quota-balance")).to_have_text("¥1,000.00")
    page.get_by_role("navigation", name="代金券页面").get_by_role(
        "link", name="发放代金券"
    ).click()
    page.get_by_label("代售客户").select_option(customer_id)
    page.get_by_label("面值（CNY）").fill("88")  # noqa: RUF001
    page.get_by_label("备注（可选）").fill("欢迎")  # noqa: RUF001
    page.get_by_role("button", name="发放", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("已发放 1 张代金券")
    row = page.get_by_test_id("voucher-row")
    expect(row).to_contain_text("¥88.00")
    expect(row.get_by_test_id("voucher-state")).to_have_text("可使用")
    sign_out(page)

    sign_in(page, customer_login)
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="我的代金券"
    ).click()
    mine = page.get_by_test_id("voucher-row")
    expect(mine.get_by_test_id("voucher-balance")).to_have_text("¥88.00")
    expect(mine.get_by_test_id("voucher-state")).to_have_text("可使用")
    screenshot(page, "customer-vouchers")
    sign_out(page)

    sign_in(page, partner_admin)
    page.goto("/vouchers/issued")
    page.get_by_test_id("voucher-row").get_by_role("button", name="回收").click()
    expect(page.get_by_role("status")).to_contain_text("已回收")
    expect(page.get_by_test_id("voucher-state")).to_have_text("已回收")
    page.goto("/vouchers")
    expect(page.get_by_test_id("quota-balance")).to_have_text("¥1,000.00")
