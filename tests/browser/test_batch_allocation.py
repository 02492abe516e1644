"""Batch allocation in Chromium: a partner pastes a batch that names a consulting customer
and an unknown id besides its resale customers, follows the batch to its result with the
reasons for the refused lines, and finds the allocations in its statement."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.customers.models import AssociationMode
from partnercenter.identity import service as identity
from partnercenter.ledger import service as ledger
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def sign_in(page: Page, account: str) -> None:
    page.goto("/login")
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_a_pasted_batch_runs_to_its_result_and_reaches_the_statement(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        finance = identity.actor_for(db, vendor.admin, vendor.organisation.id)
        partner = factories.partner(db)
        resale = [
            factories.associated_customer(db, partner.organisation) for _ in "abc"
        ]
        consulting = factories.associated_customer(
            db, partner.organisation, AssociationMode.CONSULTING
        )
        ledger.record_topup(
            db, finance, partner_id=partner.organisation.id, amount=1000_00
        )
        admin = partner.admin.account_name
        resale_ids = [customer.organisation.id for customer in resale]
        consulting_id = consulting.organisation.id
    lines = "\n".join(
        [
            f"{resale_ids[0]},100",
            f"{resale_ids[1]},200.50",
            f"{consulting_id},10",
            "no-such-customer,10",
            f"{resale_ids[2]},50",
        ]
    )

    sign_in(page, admin)
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="资金管理"
    ).click()
    expect(page.get_by_test_id("balance-cash")).to_have_text("¥1,000.00")
    page.get_by_role("link", name="新建批次").first.click()
    page.get_by_label("明细行：客户 ID，金额").fill(lines)  # noqa: RUF001
    page.get_by_label("原因（选填）").fill("四月预算")  # noqa: RUF001
    page.get_by_role("button", name="开始执行").click()

    # The batch's own page follows it, reloading itself until the batch is done.
    expect(page).to_have_url(re.compile(r"/funds/batches/[0-9a-f]{32}$"))
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.get_by_test_id("batch-status")).to_have_text("已完成", timeout=20_000)
    expect(page.get_by_role("heading", name="执行结果")).to_be_visible()
    expect(page.get_by_test_id("batch-total")).to_have_text("5")
    expect(page.get_by_test_id("batch-done")).to_have_text("3")
    expect(page.get_by_test_id("batch-refused")).to_have_text("2")
    expect(page.get_by_test_id("batch-amount")).to_have_text("¥350.50")
    reasons = page.get_by_test_id("refusal-reasons")
    expect(reasons).to_contain_text("顾问销售客户：只能向代售客户拨款或从代售客户回收")  # noqa: RUF001
    expect(reasons).to_contain_text("不是与您关联的客户")
    expect(
        page.get_by_test_id("batch-line").filter(has_text="no-such-customer")
    ).to_contain_text("未通过")
    screenshot(page, "funds-batch-result")

    # The statement shows the three allocations and what the balance was after each.
    page.get_by_role("link", name="收支明细").first.click()
    allocations = page.get_by_test_id("statement-row").filter(has_text="拨款")
    expect(allocations).to_have_count(3)
    expect(page.get_by_test_id("statement-row").first).to_contain_text("¥649.50")
    expect(allocations.filter(has_text="四月预算")).to_have_count(3)
    screenshot(page, "funds-statement")
