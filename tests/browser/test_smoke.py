"""A person signs in to the console in Chromium and switches the language."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_sign_in_and_switch_language(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        partner = factories.partner(db)
        account, name = partner.admin.account_name, partner.organisation.display_name

    page.goto("/")
    expect(page.get_by_role("heading", name="登录伙伴中心")).to_be_visible()
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()

    expect(page.get_by_role("heading", name="概览")).to_be_visible()
    expect(page.get_by_test_id("organisation")).to_have_text(name)

    page.get_by_label("语言").select_option("en")
    page.get_by_role("button", name="切换语言").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    screenshot(page, "overview-en")
