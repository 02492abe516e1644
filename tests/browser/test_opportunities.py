"""A partner submits a PO in Chromium, a PDM reviews it, a BD validates it, the partner sees it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.settings import Settings
from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.test_members import sign_in, sign_out
from tests.opportunities.desk import desk

pytestmark = pytest.mark.browser


def open_opportunities(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="机会点").click()
    expect(page.get_by_role("heading", name="机会点", exact=True)).to_be_visible()


def fill_opportunity(
    page: Page,
    *,
    customer: str,
    contact: tuple[str, str],
    amount_and_date: tuple[str, str],
    need: str,
    solution: str,
) -> None:
    """The opportunity form's fields, for a logistics customer in China wanting compute."""
    page.get_by_label("客户名称").fill(customer)
    page.get_by_label("行业").fill("物流")
    page.get_by_label("客户所在区域").select_option("CN")
    page.get_by_label("联系人").fill(contact[0])
    page.get_by_label("联系电话").fill(contact[1])
    page.get_by_label("预估金额").fill(amount_and_date[0])
    page.get_by_label("预计下单日期").fill(amount_and_date[1])
    page.get_by_label("弹性计算").check()
    page.get_by_label("客户需求").fill(need)
    page.get_by_label("您的解决方案").fill(solution)


def test_a_po_goes_from_the_partner_through_review_and_validation(
    page: Page, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory.begin() as db:
        d = desk(db, settings)
        partner, pdm, bd = (
            d.partner_admin.account_name,
            d.pdm.account_name,
            d.bd.account_name,
        )

    page.goto("/login")
    sign_in(page, partner)
    open_opportunities(page)
    page.get_by_role("link", name="新建机会点").click()
    fill_opportunity(
        page,
        customer="Lotus Freight Ltd",
        contact=("周敏", "13800000000"),
        amount_and_date=("320000", "2026-06-30"),
        need="旺季前把运单跟踪系统迁移上云。",
        solution="分两批迁移。",
    )
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_role("alert")).to_contain_text("请确认已获得客户授权")
    page.get_by_label("我方已获得客户授权").check()
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_test_id("state")).to_have_text("审核中")
    sign_out(page)

    sign_in(page, pdm)
    open_opportunities(page)
    page.get_by_test_id("queue-row").get_by_role(
        "link", name="Lotus Freight Ltd"
    ).click()
    page.get_by_role("button", name="审核通过并转入验证").click()
    expect(page.get_by_test_id("state")).to_have_text("验证中")
    sign_out(page)

    sign_in(page, bd)
    open_opportunities(page)
    page.get_by_test_id("queue-row").get_by_role(
        "link", name="Lotus Freight Ltd"
    ).click()
    expect(page.get_by_test_id("deadline")).to_contain_text("剩余 10 个工作日")
    page.get_by_role("button", name="接受机会点").click()
    expect(page.get_by_test_id("state")).to_have_text("已接受")
    sign_out(page)

    sign_in(page, partner)
    open_opportunities(page)
    page.get_by_test_id("opportunity-row").get_by_role(
        "link", name="Lotus Freight Ltd"
    ).click()
    expect(page.get_by_test_id("state")).to_have_text("已接受")
    expect(page.get_by_test_id("timeline")).to_contain_text("审核通过")
    expect(page.get_by_role("heading", name="更新进展")).to_be_visible()
    screenshot(page, "opportunity-accepted")


def test_a_bd_finds_a_partner_and_shares_an_opportunity_with_it(
    page: Page, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory.begin() as db:
        d = desk(db, settings)
        factories.partner(db)
        bd, partner_id, partner_name = (
            d.bd.account_name,
            d.partner.id,
            d.partner.display_name,
        )

    page.goto("/login")
    sign_in(page, bd)
    open_opportunities(page)
    page.get_by_role("link", name="共享机会点给伙伴").click()
    page.get_by_label("查找合作伙伴").fill(partner_name)
    page.get_by_role("button", name="查找", exact=True).click()
    expect(page.get_by_label("合作伙伴", exact=True)).to_have_value(partner_id)
    fill_opportunity(
        page,
        customer="Harbour Cold Chain",
        contact=("林涛", "13900000000"),
        amount_and_date=("150000", "2026-09-30"),
        need="冷链温控数据上云。",
        solution="先试点一个仓库。",
    )
    page.get_by_role("button", name="共享", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("机会点已共享给伙伴。")
    expect(page.get_by_test_id("state")).to_have_text("待伙伴确认")
    screenshot(page, "opportunity-shared")
