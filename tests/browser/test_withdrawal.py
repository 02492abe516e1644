"""A partner asks in Chromium for a bank withdrawal; vendor finance approves and pays it; the
partner sees it paid and its balance lowered."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.identity import service as identity
from partnercenter.ledger import service as ledger
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

LEGAL_NAME = "云帆科技有限公司"


def sign_in(page: Page, account: str) -> None:
    page.goto("/login")
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()


def open_finance_page(page: Page, name: str) -> None:
    """From anywhere in vendor finance's console, one of the finance pages."""
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="财务"
    ).click()
    page.get_by_role("navigation", name="财务页面").get_by_role(
        "link", name=name
    ).click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录伙伴中心")).to_be_visible()


def test_a_bank_withdrawal_is_asked_approved_and_paid(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        clerk = factories.member(db, vendor.organisation, "vendor_finance")
        partner = factories.partner(db)
        partner.organisation.legal_name = LEGAL_NAME
        ledger.record_topup(
            db,
            identity.actor_for(db, vendor.admin, vendor.organisation.id),
            partner_id=partner.organisation.id,
            amount=1000_00,
        )
        admin, finance = partner.admin.account_name, clerk.account_name
        partner_name = partner.organisation.display_name

    sign_in(page, admin)
    navigation = page.get_by_role("navigation", name="主导航")
    navigation.get_by_role("link", name="提现").click()
    page.get_by_role("link", name="申请提现").click()
    expect(page.get_by_test_id("withdrawable")).to_contain_text("¥1,000.00")
    expect(page.get_by_label("户名", exact=True)).to_have_value(LEGAL_NAME)
    page.get_by_label("金额（CNY）").fill("300")  # noqa: RUF001
    page.get_by_label("转入银行账户").check()
    page.get_by_label("开户银行").fill("中国工商银行北京海淀支行")
    page.get_by_label("银行账号").fill("6222 0200 1234 5678")
    page.get_by_role("button", name="继续").click()
    confirmation = page.get_by_test_id("confirmation")
    expect(confirmation).to_contain_text("¥300.00")
    expect(confirmation).to_contain_text("•••• 5678")
    page.get_by_role("button", name="申请提现").click()
    expect(page.get_by_role("status")).to_contain_text("¥300.00")
    expect(page.get_by_test_id("own-withdrawal")).to_contain_text("待审批")
    expect(page.get_by_test_id("own-cash")).to_have_text("¥700.00")
    expect(page.get_by_test_id("own-held")).to_have_text("¥300.00")
    sign_out(page)

    sign_in(page, finance)
    open_finance_page(page, "提现")
    row = page.get_by_test_id("withdrawal-row").filter(has_text=partner_name)
    expect(row).to_contain_text("¥300.00")
    expect(row).to_contain_text("5678")
    row.get_by_role("link", name=partner_name).click()
    page.get_by_role("button", name="审批通过 ¥300.00 提现").click()
    expect(page.get_by_role("status")).to_contain_text("审批通过")
    expect(page.get_by_test_id("withdrawal-status")).to_have_text("已审批，待打款")  # noqa: RUF001
    expect(page.get_by_test_id("pay-by")).to_be_visible()
    expect(page.get_by_test_id("account-number")).to_have_text("6222020012345678")
    page.get_by_label("付款流水号").fill("ICBC-20260302-001")
    page.get_by_role("button", name="将 ¥300.00 标记为已打款").click()
    expect(page.get_by_role("status")).to_contain_text("已标记为已打款")
    expect(page.get_by_test_id("withdrawal-status")).to_have_text("已打款")
    screenshot(page, "withdrawal-paid")
    sign_out(page)

    sign_in(page, admin)
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="提现"
    ).click()
    paid = page.get_by_test_id("own-withdrawal")
    expect(paid).to_contain_text("已打款")
    expect(paid).to_contain_text("ICBC-20260302-001")
    expect(page.get_by_test_id("own-cash")).to_have_text("¥700.00")
    expect(page.get_by_test_id("own-held")).to_have_text("¥0.00")
    expect(page.get_by_test_id("notifications")).to_contain_text("2")
