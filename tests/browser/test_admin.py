"""The vendor admin registers a reseller under a distributor and finds it in the audit log."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.identity.models import PartnerType
from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_vendor_admin_registers_a_reseller_and_sees_its_audit_event(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        account = vendor.admin.account_name
        distributor_id = distributor.organisation.id
        distributor_name = distributor.organisation.display_name

    page.goto("/login")
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()
    navigation = page.get_by_role("navigation", name="主导航")
    navigation.get_by_role("link", name="合作伙伴").click()
    page.get_by_role("link", name="登记合作伙伴").click()

    expect(page.get_by_role("heading", name="登记合作伙伴")).to_be_visible()
    page.get_by_label("显示名称", exact=True).fill("Yunfan Channel Services")
    page.get_by_label("账号名", exact=True).fill("yunfan-channel")
    page.get_by_label("伙伴类型").select_option("reseller")
    page.get_by_label("业务开展地区").select_option("CN")
    page.get_by_label("总经销商").select_option(distributor_id)
    page.get_by_label("法人实体名称").fill("Yunfan Channel Services Co., Ltd.")
    page.get_by_label("注册号").fill("91440300MA5G00000Y")
    page.get_by_label("联系人", exact=True).fill("He Ping")
    page.get_by_label("联系邮箱").fill("heping@yunfan.example.com")
    page.get_by_label("联系电话").fill("+86 755 0000 0000")
    page.get_by_label("主账号邮箱").fill("admin@yunfan.example.com")
    page.get_by_role("button", name="登记合作伙伴").click()

    expect(page.get_by_role("status")).to_contain_text("已登记 Yunfan Channel Services")
    expect(page.get_by_role("heading", name="Yunfan Channel Services")).to_be_visible()

    page.get_by_role("link", name="返回合作伙伴列表").click()
    row = page.get_by_test_id("partner-row").filter(has_text="yunfan-channel")
    expect(row).to_contain_text("云经销商")
    expect(row).to_contain_text(distributor_name)
    screenshot(page, "vendor-partners")

    navigation.get_by_role("link", name="审计日志").click()
    event = (
        page.get_by_test_id("audit-row")
        .filter(has_text="组织已创建")
        .filter(has_text="Yunfan Channel Services")
    )
    expect(event).to_have_count(1)
    expect(event).to_contain_text(account)
