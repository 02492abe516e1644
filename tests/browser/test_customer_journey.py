"""The whole association story in Chromium: a partner invites, the customer accepts in its
console, later asks to leave, and the partner admin agrees."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

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


def test_invite_accept_ask_to_leave_and_agree(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        partner = factories.partner(db)
        customer = factories.customer(db)
        admin, partner_name = (
            partner.admin.account_name,
            partner.organisation.display_name,
        )
        owner, customer_name = (
            customer.admin.account_name,
            customer.organisation.display_name,
        )

    # The partner admin makes a resale invitation link.
    sign_in(page, admin)
    page.get_by_role("navigation").get_by_role("link", name="客户邀请").click()
    form = page.get_by_role("region", name="生成邀请链接")
    form.get_by_role("radio", name="代售").check()
    form.get_by_label("标签").fill("Partner day")
    form.get_by_role("button", name="生成链接").click()
    url = (
        page.get_by_test_id("link-row")
        .filter(has_text="Partner day")
        .get_by_test_id("link-url")
        .inner_text()
    )
    sign_out(page)

    # The customer opens it, signs in to its console and accepts.
    page.goto(url)
    page.get_by_role("link", name="登录").click()
    page.get_by_label("账号名、邮箱或手机号").fill(owner)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("checkbox", name="代售协议").check()
    page.get_by_role("checkbox", name="数据授权须知").check()
    page.get_by_role("button", name="接受并成为客户").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"您已成为 {partner_name} 的客户"
    )

    # Later it asks to leave.
    page.get_by_role("navigation").get_by_role("link", name="我的合作伙伴").click()
    expect(page.get_by_test_id("partner-name")).to_have_text(partner_name)
    page.get_by_label("原因（选填）").fill("预算调整")  # noqa: RUF001
    page.get_by_role("button", name="申请解除关联").click()
    expect(page.get_by_role("status")).to_contain_text("申请已发送")
    sign_out(page)

    # The partner admin agrees.
    sign_in(page, admin)
    page.get_by_role("navigation").get_by_role("link", name="客户申请").click()
    request = page.get_by_test_id("request-to-answer")
    expect(request).to_contain_text(customer_name)
    request.get_by_role("button", name="同意").click()
    expect(page.get_by_role("status")).to_contain_text("已同意该申请")
    sign_out(page)

    # The customer has no partner any more; its records tell the story.
    sign_in(page, owner)
    page.goto("/my-partner")
    expect(page.get_by_role("heading", name="您没有合作伙伴")).to_be_visible()
    rows = page.get_by_test_id("record-row")
    expect(rows.first).to_contain_text("解除关联")
    expect(rows.filter(has_text="已关联").first).to_be_visible()
    screenshot(page, "customer-journey")
