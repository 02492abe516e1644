"""A partner admin creates an API key in Chromium and a program then calls the API with it."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx2
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.browser.conftest import screenshot
from tests.live import LiveServer
from tests.signing import sign

pytestmark = pytest.mark.browser


def test_admin_creates_a_key_and_signs_api_calls_with_it(
    page: Page, live_server: LiveServer, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        partner = factories.partner(db)
        account, organisation_id = partner.admin.account_name, partner.organisation.id

    page.goto("/login")
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("navigation").get_by_role("link", name="API 密钥").click()
    expect(page.get_by_role("heading", name="API 密钥", exact=True)).to_be_visible()
    page.get_by_label("描述").fill("订单同步程序")
    page.get_by_role("button", name="创建 API 密钥").click()

    expect(page.get_by_role("heading", name="API 密钥已创建")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("只在本页显示一次")
    access_key = page.get_by_test_id("access-key").inner_text().strip()
    secret_key = page.get_by_test_id("secret-key").inner_text().strip()
    assert page.get_by_test_id("domain-id").inner_text().strip() == organisation_id
    screenshot(page, "credential-created")

    page.get_by_role("link", name="我已复制秘密访问密钥").click()
    row = page.get_by_test_id(f"credential-{access_key}")
    expect(row).to_contain_text("订单同步程序")
    expect(row).to_contain_text("有效")
    assert secret_key not in page.content()

    request = sign(
        "GET",
        "/api/v1/organisation",
        ak=access_key,
        sk=secret_key,
        host=urlsplit(live_server.url).netloc,
        domain_id=organisation_id,
    )
    response = httpx2.request(
        request.method,
        live_server.url + request.url,
        headers={k: v.encode("latin-1") for k, v in request.headers.items()},
        content=request.body,
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"] == organisation_id
    assert response.json()["kind"] == "solution_provider"
    page.reload()
    expect(row).not_to_contain_text("从未使用")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "credentials-phone")
