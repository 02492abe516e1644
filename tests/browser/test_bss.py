"""A partner admin creates a key in the console, points the official BSS SDK at the endpoint
the console shows, and finds the SDK's allocation in the console's records."""

from __future__ import annotations

from decimal import Decimal

import pytest
from huaweicloudsdkbss.v2 import AdjustAccountReq, UpdateCustomerAccountAmountRequest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.customers.models import AssociationMode
from partnercenter.ledger import service as ledger
from tests import factories
from tests.browser.conftest import screenshot
from tests.bss.conftest import sdk_client
from tests.ledger.world import actor_of
from tests.live import LiveServer
from tests.signing import ApiKey

pytestmark = pytest.mark.browser


def test_a_key_from_the_console_drives_the_official_sdk(
    page: Page, live_server: LiveServer, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        vendor = factories.vendor(db)
        partner = factories.partner(db)
        ledger.record_topup(
            db,
            actor_of(db, vendor),
            partner_id=partner.organisation.id,
            amount=500_00,
            reference=None,
        )
        customer = factories.associated_customer(
            db, partner.organisation, AssociationMode.RESALE
        )
        account, organisation_id = partner.admin.account_name, partner.organisation.id
        customer_id = customer.organisation.id
        customer_name = customer.organisation.display_name

    page.goto("/login")
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_label("语言").select_option("en")
    page.get_by_role("button", name="切换语言").click()
    page.get_by_role("navigation").get_by_role("link", name="API keys").click()
    panel = page.get_by_test_id("bss-endpoint")
    expect(panel).to_contain_text("Programs written for the BSS v2 API")
    expect(panel.get_by_test_id("bss-url")).to_have_text(live_server.url)
    expect(panel).to_contain_text(organisation_id)
    page.get_by_label("Description").fill("billing sync")
    page.get_by_role("button", name="Create an API key").click()
    key = ApiKey(
        page.get_by_test_id("access-key").inner_text().strip(),
        page.get_by_test_id("secret-key").inner_text().strip(),
        page.get_by_test_id("domain-id").inner_text().strip(),
    )

    answer = sdk_client(live_server, key).update_customer_account_amount(
        UpdateCustomerAccountAmountRequest(
            body=AdjustAccountReq(customer_id=customer_id, amount=Decimal("12.34"))
        )
    )

    page.goto("/funds/adjust-records")
    row = page.get_by_role("row").filter(has_text=answer.transfer_id)
    expect(row).to_contain_text(customer_name)
    expect(row).to_contain_text("12.34")
    screenshot(page, "bss-allocation-in-records-en")
    page.get_by_label("Language").select_option("zh-CN")
    page.get_by_role("button", name="Change language").click()
    page.goto("/credentials")
    expect(page.get_by_test_id("bss-endpoint")).to_contain_text(
        "为 BSS v2 接口编写的程序"
    )
