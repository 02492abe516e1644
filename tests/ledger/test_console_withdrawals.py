"""Withdrawals from the console: the partner asks (refused when the holder is not its legal
entity, when it has no legal name or not enough money), vendor finance approves, pays or
rejects, and the partner is told each time."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.core.i18n import translator
from partnercenter.core.models import Notification
from partnercenter.ledger import service as ledger
from partnercenter.ledger.errors import (
    BankHolderMismatch,
    InsufficientFunds,
    NoLegalEntity,
    WithdrawalNotPending,
)
from partnercenter.ledger.models import Withdrawal, WithdrawalStatus
from tests import factories
from tests.helpers import csrf_from, post_form
from tests.ledger.test_console_finance import (
    Finance,
    balances,
    finance_actor,
    finance_world,
    message,
    money,
    reading,
    signed_in,
)

LEGAL_NAME = "Acme (Beijing) Technology Co., Ltd."
BANK = {
    "method": "bank",
    "bank_holder": "ACME (Beijing) Technology Co.,Ltd.",
    "bank_name": "ICBC Haidian",
    "bank_account": "6222 0200 1234 5678",
}


@pytest.fixture
def world(db: Session) -> Finance:
    made = finance_world(db)
    ledger.record_topup(
        db, finance_actor(db, made), partner_id=made.partner_id, amount=1000_00
    )
    db.commit()
    return made


def only_withdrawal(db: Session) -> Withdrawal:
    with reading(db) as fresh:
        return fresh.scalars(select(Withdrawal)).one()


def notices_of(db: Session, user_id: str) -> list[str]:
    with reading(db) as fresh:
        return list(
            fresh.scalars(
                select(Notification.kind)
                .where(Notification.user_id == user_id)
                .order_by(Notification.id)
            )
        )


def ask(client: TestClient, amount: str, **fields: str) -> Response:
    data = {**BANK, "amount": amount, "confirmed": "yes", **fields}
    return post_form(client, "/funds/withdrawals", data)


class TestThePartnerAsks:
    def test_the_form_shows_what_can_be_withdrawn_and_the_legal_entity(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        ledger.set_designated(
            db, finance_actor(db, world), partner_id=world.partner_id, amount=100_00
        )
        db.commit()
        signed_in(client, world.partner.admin.account_name)

        form = client.get("/funds/withdrawals/new")

        assert form.status_code == 200
        assert money(900_00) in form.text
        assert f'value="{message("zh-CN", LEGAL_NAME)}"' in form.text
        assert "法人实体" in form.text
        assert 'href="/funds/withdrawals"' in client.get("/console").text

    def test_the_confirmation_holds_nothing_yet(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        signed_in(client, world.partner.admin.account_name)

        preview = ask(client, "400", confirmed="")

        assert preview.status_code == 200
        text = preview.text
        assert money(400_00) in text
        assert "<td>•••• 5678</td>" in text
        assert balances(db, world).held == 0

    def test_a_bank_withdrawal_is_asked_and_held(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        signed_in(client, world.partner.admin.account_name)

        done = ask(client, "400")

        assert done.status_code == 303
        after = balances(db, world)
        assert (after.cash, after.held) == (600_00, 400_00)
        withdrawal = only_withdrawal(db)
        assert withdrawal.bank_account_last4 == "5678"
        listed = client.get("/funds/withdrawals")
        assert "待审批" in listed.text
        assert money(400_00) in listed.text

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_an_account_not_held_by_the_legal_entity_is_refused(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        signed_in(client, world.partner.admin.account_name, locale)

        refused = ask(client, "100", bank_holder="Zhang San")

        assert refused.status_code == 400
        expected = message(
            locale, BankHolderMismatch.default_message, legal_name=LEGAL_NAME
        )
        assert expected in refused.text
        assert balances(db, world).held == 0

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_more_than_can_be_withdrawn_is_refused(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        signed_in(client, world.partner.admin.account_name, locale)
        expected = message(
            locale,
            InsufficientFunds.default_message,
            available="1000.00",
            currency="CNY",
        )

        at_preview = ask(client, "1000.01", confirmed="")
        at_request = ask(client, "1000.01")

        for refused in (at_preview, at_request):
            assert refused.status_code == 409
            assert expected in refused.text
        assert balances(db, world).cash == 1000_00

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_a_partner_without_a_legal_name_cannot_withdraw_to_a_bank(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        world.partner.organisation.legal_name = None
        db.commit()
        signed_in(client, world.partner.admin.account_name, locale)

        refused = ask(client, "100")

        assert refused.status_code == 409
        assert message(locale, NoLegalEntity.default_message) in refused.text

    def test_missing_bank_details_are_named_before_the_confirmation(
        self, client: TestClient, world: Finance
    ) -> None:
        signed_in(client, world.partner.admin.account_name)

        refused = ask(
            client, "100", bank_holder="", bank_name="", bank_account="", confirmed=""
        )

        assert refused.status_code == 400
        for english in (
            "Enter the account holder.",
            "Enter the bank.",
            "Enter the account number: 8 to 34 digits.",
        ):
            assert message("zh-CN", english) in refused.text

    def test_back_along_the_original_path_needs_no_bank(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        signed_in(client, world.partner.admin.account_name)

        done = ask(
            client,
            "50",
            method="original_path",
            bank_holder="",
            bank_name="",
            bank_account="",
        )

        assert done.status_code == 303
        assert only_withdrawal(db).bank_account_encrypted is None
        assert balances(db, world).held == 50_00


def _requested(db: Session, client: TestClient, world: Finance, amount: str) -> str:
    signed_in(client, world.partner.admin.account_name)
    assert ask(client, amount).status_code == 303
    client.cookies.clear()
    return only_withdrawal(db).id


class TestFinanceDecides:
    def test_approve_then_pay(
        self,
        client: TestClient,
        db: Session,
        world: Finance,
        clock: FrozenClock,
    ) -> None:
        withdrawal_id = _requested(db, client, world, "400")
        signed_in(client, world.clerk)

        queue = client.get("/vendor/finance/withdrawals")
        assert "5678" in queue.text
        assert "ICBC Haidian" in queue.text
        assert world.partner.organisation.display_name in queue.text
        detail = f"/vendor/finance/withdrawals/{withdrawal_id}"
        approved = post_form(client, f"{detail}/approve", {})

        assert approved.status_code == 303
        withdrawal = only_withdrawal(db)
        assert withdrawal.status is WithdrawalStatus.APPROVED
        assert withdrawal.pay_by == dt.date(2026, 3, 11)
        page = client.get(detail)
        assert translator("zh-CN").format_date(dt.date(2026, 3, 11)) in page.text
        assert "6222020012345678" in page.text  # the whole number, to pay it
        assert 'data-testid="overdue"' not in page.text

        unpaid = post_form(client, f"{detail}/paid", {"payment_reference": " "})
        assert unpaid.status_code == 400
        assert (
            message("zh-CN", "Enter the bank's reference of the payment.")
            in unpaid.text
        )
        paid = post_form(client, f"{detail}/paid", {"payment_reference": "ICBC-9"})

        assert paid.status_code == 303
        assert money(400_00) in client.get(paid.headers["location"]).text
        after = balances(db, world)
        assert (after.cash, after.held) == (600_00, 0)
        assert only_withdrawal(db).status is WithdrawalStatus.PAID
        assert notices_of(db, world.partner.admin.id) == [
            "ledger.withdrawal_approved",
            "ledger.withdrawal_paid",
        ]
        client.cookies.clear()
        signed_in(client, world.partner.admin.account_name)
        own = client.get("/funds/withdrawals")
        assert "已打款" in own.text
        assert "ICBC-9" in own.text
        notices = client.get("/notifications")
        assert "已打款" in notices.text

    def test_an_approved_withdrawal_not_paid_in_time_is_overdue(
        self,
        client: TestClient,
        db: Session,
        world: Finance,
        clock: FrozenClock,
    ) -> None:
        withdrawal_id = _requested(db, client, world, "10")
        signed_in(client, world.clerk)
        detail = f"/vendor/finance/withdrawals/{withdrawal_id}"
        post_form(client, f"{detail}/approve", {})

        clock.move(days=10)
        client.cookies.clear()
        signed_in(client, world.clerk)

        assert 'data-testid="overdue"' in client.get(detail).text
        queue = client.get("/vendor/finance/withdrawals", params={"status": "approved"})
        assert 'data-testid="overdue"' in queue.text

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_reject_returns_the_money_with_the_reason(
        self, client: TestClient, db: Session, world: Finance, locale: str
    ) -> None:
        withdrawal_id = _requested(db, client, world, "400")
        signed_in(client, world.clerk, locale)
        detail = f"/vendor/finance/withdrawals/{withdrawal_id}"

        no_reason = post_form(client, f"{detail}/reject", {"reason": ""})
        assert no_reason.status_code == 400
        assert message(locale, "Say why the withdrawal is rejected.") in no_reason.text
        rejected = post_form(
            client, f"{detail}/reject", {"reason": "Account frozen by the bank"}
        )

        assert rejected.status_code == 303
        after = balances(db, world)
        assert (after.cash, after.held) == (1000_00, 0)
        assert notices_of(db, world.partner.admin.id) == ["ledger.withdrawal_rejected"]
        again = post_form(client, f"{detail}/approve", {})
        assert again.status_code == 409
        assert message(locale, WithdrawalNotPending.default_message) in again.text
        client.cookies.clear()
        signed_in(client, world.partner.admin.account_name, locale)
        own = client.get("/funds/withdrawals")
        assert "Account frozen by the bank" in own.text

    def test_the_queue_filters_by_status(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        withdrawal_id = _requested(db, client, world, "10")
        signed_in(client, world.clerk)

        pending = client.get("/vendor/finance/withdrawals")
        paid = client.get("/vendor/finance/withdrawals", params={"status": "paid"})
        every = client.get("/vendor/finance/withdrawals", params={"status": "all"})

        assert withdrawal_id in pending.text
        assert withdrawal_id not in paid.text
        assert withdrawal_id in every.text

    def test_a_requester_who_is_not_an_admin_is_told_too(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        clerk = factories.member(db, world.partner.organisation, "partner_finance")
        db.commit()
        signed_in(client, clerk.account_name)
        assert ask(client, "10").status_code == 303
        client.cookies.clear()
        signed_in(client, world.clerk)

        post_form(
            client,
            f"/vendor/finance/withdrawals/{only_withdrawal(db).id}/approve",
            {},
        )

        assert notices_of(db, clerk.id) == ["ledger.withdrawal_approved"]
        assert notices_of(db, world.partner.admin.id) == ["ledger.withdrawal_approved"]


class TestWhoMayDoWhat:
    @pytest.mark.parametrize("who", ["pdm", "partner"])
    def test_only_finance_sees_and_decides(
        self, client: TestClient, db: Session, world: Finance, who: str
    ) -> None:
        withdrawal_id = _requested(db, client, world, "10")
        account = world.pdm if who == "pdm" else world.partner.admin.account_name
        signed_in(client, account)
        detail = f"/vendor/finance/withdrawals/{withdrawal_id}"

        assert client.get(detail).status_code == 403
        token = csrf_from(client, "/console")
        for action, data in [
            ("approve", {}),
            ("reject", {"reason": "no"}),
            ("paid", {"payment_reference": "x"}),
        ]:
            response = client.post(
                f"{detail}/{action}", data={**data, "csrf_token": token}
            )
            assert response.status_code == 403, action
        assert only_withdrawal(db).status is WithdrawalStatus.PENDING

    def test_members_without_funds_and_vendor_staff_are_refused_the_partner_pages(
        self, client: TestClient, db: Session, world: Finance
    ) -> None:
        specialist = factories.member(db, world.partner.organisation)
        db.commit()
        for account in (specialist.account_name, world.clerk):
            client.cookies.clear()
            signed_in(client, account)
            for path in ("/funds/withdrawals", "/funds/withdrawals/new"):
                assert client.get(path).status_code == 403, (account, path)
            refused = ask(client, "10")
            assert refused.status_code == 403
            assert 'href="/funds/withdrawals"' not in client.get("/console").text
        assert balances(db, world).held == 0

    def test_an_unknown_withdrawal_is_not_found(
        self, client: TestClient, world: Finance
    ) -> None:
        signed_in(client, world.clerk)

        assert client.get("/vendor/finance/withdrawals/nope").status_code == 404
