"""A partner admin invites a person in Chromium; the person accepts from the email."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

MAIL_WAIT_MS = 15_000


def sign_in(page: Page, account: str) -> None:
    page.get_by_label("账号名、邮箱或手机号").fill(account)
    page.get_by_label("密码").fill(factories.PASSWORD)
    page.get_by_role("button", name="登录").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录伙伴中心")).to_be_visible()


def open_invitation_mail(page: Page, recipient: str) -> None:
    """Wait on the demo mailbox until the worker has delivered the invitation."""
    mail = page.get_by_test_id("mail")
    waited = 0
    while waited < MAIL_WAIT_MS:
        page.goto(f"/mailbox?to={recipient}")
        if mail.count():
            break
        page.wait_for_timeout(250)
        waited += 250
    expect(mail.first).to_contain_text("邀请您成为成员")
    mail.first.locator('a[href*="/invitations/"]').click()


def test_admin_invites_and_the_invitee_joins_from_the_email(
    page: Page, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        partner = factories.partner(db)
        person = factories.user(db, "chen-xiaoling")
        admin, partner_name = (
            partner.admin.account_name,
            partner.organisation.display_name,
        )
        email, name = person.email or "", person.display_name
        invitee = person.account_name

    page.goto("/login")
    sign_in(page, admin)
    page.get_by_role("navigation").get_by_role("link", name="成员").click()
    expect(page.get_by_role("heading", name="成员", exact=True)).to_be_visible()
    page.get_by_role("radio", name="邮箱").check()
    page.get_by_label("邮箱、手机号或账号名").fill(email)
    page.get_by_role("checkbox", name="项目专员").check()
    page.get_by_role("button", name="发送邀请").click()
    expect(page.get_by_role("status")).to_contain_text(f"已向 {email} 发送邀请")
    sign_out(page)

    open_invitation_mail(page, email)
    expect(page.get_by_role("heading", name="登录伙伴中心")).to_be_visible()
    sign_in(page, invitee)
    invitation = page.get_by_test_id("invitation")
    expect(invitation).to_contain_text(partner_name)
    expect(invitation).to_contain_text("项目专员")
    invitation.get_by_role("button", name="接受").click()

    expect(page.get_by_role("status")).to_contain_text(f"欢迎加入 {partner_name}")
    expect(page.get_by_test_id("organisation")).to_have_text(partner_name)
    sign_out(page)

    sign_in(page, admin)
    page.goto("/members")
    row = page.get_by_test_id("member-row").filter(has_text=name)
    expect(row).to_contain_text("已绑定")
    expect(row).to_contain_text(email)
    expect(row).to_contain_text("项目专员")
    screenshot(page, "members")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row).to_be_visible()
    screenshot(page, "members-phone")
