"""A partner shares an invitation link; a customer opens it, signs in and accepts."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def sign_in(page: Page, account: str) -> None:
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录伙伴中心")).to_be_visible()


def test_a_customer_joins_through_a_shared_link(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        partner = factories.partner(db)
        customer = factories.customer(db)
        admin, partner_name = (
            partner.admin.account_name,
            partner.organisation.display_name,
        )
        customer_account = customer.admin.account_name

    page.goto("/login")
    sign_in(page, admin)
    page.get_by_role("navigation").get_by_role("link", name="客户邀请").click()
    form = page.get_by_role("region", name="生成邀请链接")
    form.get_by_role("radio", name="代售").check()
    form.get_by_label("标签").fill("Spring expo")
    form.get_by_role("button", name="生成链接").click()
    expect(page.get_by_role("status")).to_contain_text("邀请链接已生成")
    row = page.get_by_test_id("link-row").filter(has_text="Spring expo")
    expect(row.get_by_role("img", name="邀请链接二维码")).to_be_visible()
    url = row.get_by_test_id("link-url").inner_text()
    screenshot(page, "intake-link-created")
    sign_out(page)

    page.goto(url)
    expect(
        page.get_by_role("heading", name=f"{partner_name} 邀请您成为其客户")
    ).to_be_visible()
    expect(page.get_by_text("由合作伙伴为您开具发票。")).to_be_visible()
    page.get_by_role("link", name="登录").click()
    sign_in(page, customer_account)
    page.get_by_role("checkbox", name="代售协议").check()
    page.get_by_role("checkbox", name="数据授权须知").check()
    screenshot(page, "intake-join")
    page.get_by_role("button", name="接受并成为客户").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"您已成为 {partner_name} 的客户"
    )
    sign_out(page)

    sign_in(page, admin)
    page.goto("/customers/invitations")
    row = page.get_by_test_id("link-row").filter(has_text="Spring expo")
    expect(row.get_by_role("cell").nth(3)).to_have_text("1")
    screenshot(page, "intake-link-used")
