"""A reseller shows its customers to its distributor in Chromium, then takes that back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.identity.models import PartnerType
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


def open_resellers_tab(page: Page) -> None:
    nav = page.get_by_role("navigation", name="主导航")
    nav.get_by_role("link", name="客户", exact=True).click()
    page.get_by_role("link", name="云经销商的客户").click()
    expect(page.get_by_role("heading", name="客户", exact=True)).to_be_visible()


def test_the_distributor_sees_a_resellers_customers_only_while_the_notice_holds(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        customer = factories.associated_customer(db, reseller.organisation)
        reseller_admin = reseller.admin.account_name
        distributor_admin = distributor.admin.account_name
        customer_name = customer.organisation.display_name

    sign_in(page, reseller_admin)
    nav = page.get_by_role("navigation", name="主导航")
    nav.get_by_role("link", name="客户信息授权须知").click()
    page.get_by_role("button", name="接受须知").click()
    expect(page.get_by_role("status")).to_contain_text(
        "您的总经销商现在可以查看您的客户"
    )
    sign_out(page)

    sign_in(page, distributor_admin)
    open_resellers_tab(page)
    rows = page.get_by_test_id("customer-row")
    expect(rows.filter(has_text=customer_name)).to_have_count(1)
    screenshot(page, "customers-resellers-tab")
    sign_out(page)

    sign_in(page, reseller_admin)
    page.goto("/customers/notice")
    page.get_by_role("button", name="撤销授权").click()
    expect(page.get_by_role("status")).to_contain_text("已不能再查看您的客户")
    sign_out(page)

    sign_in(page, distributor_admin)
    open_resellers_tab(page)
    expect(rows).to_have_count(0)
    expect(page.get_by_text("没有符合条件的客户。")).to_be_visible()
