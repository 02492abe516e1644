"""Withdrawals: the amount is held at once, finance approves or rejects, then pays; a bank
account must belong to the partner's legal entity, and payment is due by the calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import Forbidden, InvalidInput
from partnercenter.core.security import SecretBox
from partnercenter.ledger import service as ledger
from partnercenter.ledger import withdrawals
from partnercenter.ledger.errors import (
    BankHolderMismatch,
    InsufficientFunds,
    InvalidAmount,
    NoLegalEntity,
    NoSuchWithdrawal,
    WithdrawalNotPending,
)
from partnercenter.ledger.models import (
    AccountKind,
    Transfer,
    TransferKind,
    Withdrawal,
    WithdrawalMethod,
    WithdrawalStatus,
)
from partnercenter.ledger.verify import verify
from tests import factories
from tests.ledger.world import World, actor_of, world

BOX = SecretBox("test-secret-key-not-for-production")
LEGAL_NAME = "Lanting (Beijing) Technology Co., Ltd."


def _clean(db: Session) -> None:
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == report.inflow


def _ask(w: World, minor: int) -> Withdrawal:
    return withdrawals.request(
        w.db, w.actor, BOX, amount=minor, method=WithdrawalMethod.ORIGINAL_PATH
    )


def _ask_bank(w: World, minor: int, holder: str = LEGAL_NAME) -> Withdrawal:
    return withdrawals.request(
        w.db,
        w.actor,
        BOX,
        amount=minor,
        method=WithdrawalMethod.BANK,
        bank_holder=holder,
        bank_name="ICBC Beijing Branch",
        bank_account="6222 0212 3456 7890",
    )


def _transfer(db: Session, transfer_id: str | None) -> Transfer:
    assert transfer_id is not None
    transfer = db.get(Transfer, transfer_id)
    assert transfer is not None
    return transfer


class TestRequest:
    def test_asking_holds_the_amount_at_once(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)

        withdrawal = _ask(w, 30_00)

        assert withdrawal.status is WithdrawalStatus.PENDING
        balances = w.balances()
        assert (balances.cash, balances.held, balances.withdrawable) == (
            70_00,
            30_00,
            70_00,
        )
        hold = _transfer(db, withdrawal.hold_transfer_id)
        assert (hold.kind, hold.amount, hold.external_ref) == (
            TransferKind.WITHDRAWAL_HOLD,
            30_00,
            withdrawal.id,
        )
        # What is held can be neither allocated nor asked for again.
        customer = w.customer()
        with pytest.raises(InsufficientFunds, match=r"70\.00"):
            ledger.allocate(db, w.actor, customer_id=customer, amount=70_01)
        with pytest.raises(InsufficientFunds, match=r"70\.00"):
            _ask(w, 70_01)
        _clean(db)

    def test_at_most_the_balance_less_the_designated_amount_and_no_credit(
        self, db: Session
    ) -> None:
        w = world(db)
        partner_id = w.partner.organisation.id
        w.topup(100_00)
        ledger.set_credit_limit(db, w.finance, partner_id=partner_id, amount=500_00)
        ledger.set_designated(db, w.finance, partner_id=partner_id, amount=20_00)
        assert w.balances().withdrawable == 80_00

        with pytest.raises(InsufficientFunds, match=r"80\.00 CNY"):
            _ask(w, 80_01)
        assert (w.balances().cash, w.balances().held) == (100_00, 0)

        _ask(w, 80_00)
        assert w.balances().withdrawable == 0
        with pytest.raises(InsufficientFunds, match=r"0\.00"):
            _ask(w, 1)

    def test_a_partner_living_on_credit_has_nothing_to_withdraw(
        self, db: Session
    ) -> None:
        w = world(db)
        ledger.set_credit_limit(
            db, w.finance, partner_id=w.partner.organisation.id, amount=50_00
        )
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=20_00)

        with pytest.raises(InsufficientFunds, match=r"0\.00"):
            _ask(w, 1)

    @pytest.mark.parametrize("amount", [0, -1_00])
    def test_the_amount_must_be_above_zero(self, db: Session, amount: int) -> None:
        w = world(db)
        w.topup(100_00)

        with pytest.raises(InvalidAmount):
            _ask(w, amount)

    def test_a_member_without_the_funds_transfer_permission_cannot_ask(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        manager = w.member("account_manager")

        with pytest.raises(Forbidden):
            withdrawals.request(
                db, manager, BOX, amount=1_00, method=WithdrawalMethod.ORIGINAL_PATH
            )


class TestBankAccount:
    @pytest.mark.parametrize(
        "holder",
        [
            LEGAL_NAME,
            "lanting (beijing) technology co., ltd.",
            "  LANTING(BEIJING)TECHNOLOGY CO., LTD. ",
            "Lanting\uff08Beijing\uff09 Technology Co., Ltd.",
        ],
    )
    def test_the_holder_matches_the_legal_name_whatever_the_case_spaces_brackets(
        self, db: Session, holder: str
    ) -> None:
        w = world(db)
        w.partner.organisation.legal_name = LEGAL_NAME
        w.topup(100_00)

        withdrawal = _ask_bank(w, 10_00, holder)

        assert withdrawal.method is WithdrawalMethod.BANK
        assert withdrawal.bank_account_last4 == "7890"
        assert withdrawal.bank_account_encrypted is not None
        assert "6222" not in withdrawal.bank_account_encrypted
        assert BOX.open(withdrawal.bank_account_encrypted) == "6222021234567890"
        assert w.balances().held == 10_00

    def test_another_holder_is_refused_and_nothing_is_held(self, db: Session) -> None:
        w = world(db)
        w.partner.organisation.legal_name = LEGAL_NAME
        w.topup(100_00)

        with pytest.raises(BankHolderMismatch) as refused:
            _ask_bank(w, 10_00, "Lanting Technology Co., Ltd.")

        assert refused.value.params == {"legal_name": LEGAL_NAME}
        assert (w.balances().cash, w.balances().held) == (100_00, 0)

    def test_a_partner_without_a_legal_name_cannot_withdraw_to_a_bank(
        self, db: Session
    ) -> None:
        w = world(db)
        w.partner.organisation.legal_name = None
        w.topup(100_00)

        with pytest.raises(NoLegalEntity):
            _ask_bank(w, 10_00)

        assert (w.balances().cash, w.balances().held) == (100_00, 0)

    def test_missing_bank_details_are_field_problems(self, db: Session) -> None:
        w = world(db)
        w.partner.organisation.legal_name = LEGAL_NAME
        w.topup(100_00)

        with pytest.raises(InvalidInput) as refused:
            withdrawals.request(
                db,
                w.actor,
                BOX,
                amount=10_00,
                method=WithdrawalMethod.BANK,
                bank_holder=" ",
                bank_name="",
                bank_account="1234-567",
            )

        assert [p.field for p in refused.value.problems] == [
            "bank_holder",
            "bank_name",
            "bank_account",
        ]
        assert w.balances().held == 0


class TestDecisions:
    def test_approval_sets_the_payment_due_seven_working_days_later(
        self, db: Session, clock: FrozenClock
    ) -> None:
        w = world(db)
        w.topup(100_00)
        withdrawal = _ask(w, 30_00)
        # Thursday 5 March 2026, 10:00 in Beijing: the weekend does not count.
        clock.set(dt.datetime(2026, 3, 5, 2, 0, tzinfo=dt.UTC))

        approved = withdrawals.approve(db, w.finance, withdrawal.id)

        assert approved.status is WithdrawalStatus.APPROVED
        assert approved.pay_by == dt.date(2026, 3, 16)
        assert approved.decided_at == clock.now()
        assert approved.decided_by_user_id == w.vendor.admin.id
        # Approving moves no money: it stays held until it is paid.
        assert (w.balances().cash, w.balances().held) == (70_00, 30_00)

    def test_the_working_day_of_an_approval_is_the_day_in_beijing(
        self, db: Session, clock: FrozenClock
    ) -> None:
        w = world(db)
        w.topup(100_00)
        withdrawal = _ask(w, 30_00)
        # Thursday 17:30 UTC is already Friday 6 March, 01:30, in Beijing.
        clock.set(dt.datetime(2026, 3, 5, 17, 30, tzinfo=dt.UTC))

        approved = withdrawals.approve(db, w.finance, withdrawal.id)

        assert approved.pay_by == dt.date(2026, 3, 17)

    def test_the_calendar_skips_the_spring_festival(
        self, db: Session, clock: FrozenClock
    ) -> None:
        w = world(db)
        w.topup(100_00)
        withdrawal = _ask(w, 30_00)
        # Friday 13 February 2026; 15-23 February are off, Saturday 14 and 28 worked.
        clock.set(dt.datetime(2026, 2, 13, 2, 0, tzinfo=dt.UTC))

        approved = withdrawals.approve(db, w.finance, withdrawal.id)

        assert approved.pay_by == dt.date(2026, 3, 2)

    def test_a_rejection_needs_a_reason_and_returns_the_money(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        withdrawal = _ask(w, 30_00)

        with pytest.raises(InvalidInput) as refused:
            withdrawals.reject(db, w.finance, withdrawal.id, "  ")
        assert [p.field for p in refused.value.problems] == ["reason"]
        assert w.balances().held == 30_00

        rejected = withdrawals.reject(db, w.finance, withdrawal.id, " Wrong account ")

        assert rejected.status is WithdrawalStatus.REJECTED
        assert rejected.rejection_reason == "Wrong account"
        assert (w.balances().cash, w.balances().held) == (100_00, 0)
        release = _transfer(db, rejected.settle_transfer_id)
        assert (release.kind, release.amount) == (
            TransferKind.WITHDRAWAL_RELEASE,
            30_00,
        )
        _clean(db)

    def test_payment_needs_a_reference_and_takes_the_money_out(
        self, db: Session
    ) -> None:
        w = world(db)
        w.topup(100_00)
        withdrawal = _ask(w, 30_00)
        withdrawals.approve(db, w.finance, withdrawal.id)
        clearing = ledger.find_account(
            db, w.vendor.organisation.id, AccountKind.VENDOR_CLEARING
        )
        assert clearing is not None
        clearing_before = clearing.balance

        with pytest.raises(InvalidInput) as refused:
            withdrawals.mark_paid(db, w.finance, withdrawal.id, "")
        assert [p.field for p in refused.value.problems] == ["payment_reference"]

        paid = withdrawals.mark_paid(db, w.finance, withdrawal.id, " ICBC-2026-0001 ")

        assert paid.status is WithdrawalStatus.PAID
        assert paid.payment_reference == "ICBC-2026-0001"
        assert paid.paid_by_user_id == w.vendor.admin.id
        assert (w.balances().cash, w.balances().held) == (70_00, 0)
        payout = _transfer(db, paid.settle_transfer_id)
        assert (payout.kind, payout.amount) == (TransferKind.WITHDRAWAL_PAYOUT, 30_00)
        db.refresh(clearing)
        assert clearing.balance == clearing_before + 30_00
        _clean(db)
        assert verify(db).inflow == 70_00

    def test_each_step_is_taken_once_and_in_order(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        pending = _ask(w, 10_00)

        with pytest.raises(WithdrawalNotPending):
            withdrawals.mark_paid(db, w.finance, pending.id, "REF-1")
        withdrawals.approve(db, w.finance, pending.id)
        with pytest.raises(WithdrawalNotPending):
            withdrawals.approve(db, w.finance, pending.id)
        with pytest.raises(WithdrawalNotPending):
            withdrawals.reject(db, w.finance, pending.id, "Too late")
        withdrawals.mark_paid(db, w.finance, pending.id, "REF-1")
        with pytest.raises(WithdrawalNotPending):
            withdrawals.mark_paid(db, w.finance, pending.id, "REF-2")

        rejected = _ask(w, 10_00)
        withdrawals.reject(db, w.finance, rejected.id, "No")
        steps: list[Callable[[], Withdrawal]] = [
            lambda: withdrawals.reject(db, w.finance, rejected.id, "Again"),
            lambda: withdrawals.approve(db, w.finance, rejected.id),
            lambda: withdrawals.mark_paid(db, w.finance, rejected.id, "REF-3"),
        ]
        for step in steps:
            with pytest.raises(WithdrawalNotPending):
                step()

        assert (w.balances().cash, w.balances().held) == (90_00, 0)
        with pytest.raises(NoSuchWithdrawal):
            withdrawals.approve(db, w.finance, "no-such-withdrawal")
        _clean(db)

    def test_a_partner_cannot_decide_its_own_withdrawal(self, db: Session) -> None:
        w = world(db)
        w.topup(100_00)
        withdrawal = _ask(w, 10_00)

        steps: list[Callable[[], Withdrawal]] = [
            lambda: withdrawals.approve(db, w.actor, withdrawal.id),
            lambda: withdrawals.reject(db, w.actor, withdrawal.id, "Changed mind"),
            lambda: withdrawals.mark_paid(db, w.actor, withdrawal.id, "REF"),
        ]
        for step in steps:
            with pytest.raises(Forbidden):
                step()
        assert withdrawal.status is WithdrawalStatus.PENDING


class TestVisibility:
    def test_a_partner_sees_only_its_own_withdrawals(self, db: Session) -> None:
        w = world(db)
        other = factories.partner(db)
        other_actor = actor_of(db, other)
        w.topup(100_00)
        w.topup(100_00, partner=other.organisation)
        mine = _ask(w, 10_00)
        theirs = withdrawals.request(
            db, other_actor, BOX, amount=20_00, method=WithdrawalMethod.ORIGINAL_PATH
        )

        assert withdrawals.get(db, w.actor, mine.id) is mine
        with pytest.raises(NoSuchWithdrawal):
            withdrawals.get(db, w.actor, theirs.id)
        assert [x.id for x in withdrawals.list_for(db, w.actor)] == [mine.id]
        # Asking for another partner's list still shows only one's own.
        assert [
            x.id
            for x in withdrawals.list_for(db, w.actor, partner_id=other.organisation.id)
        ] == [mine.id]
        assert {x.id for x in withdrawals.list_for(db, w.finance)} == {
            mine.id,
            theirs.id,
        }
        assert [
            x.id
            for x in withdrawals.list_for(
                db, w.finance, partner_id=other.organisation.id
            )
        ] == [theirs.id]
        assert withdrawals.get(db, w.finance, theirs.id) is theirs
        assert (
            withdrawals.list_for(db, w.finance, status=WithdrawalStatus.APPROVED) == []
        )

    def test_a_member_without_funds_view_sees_no_list(self, db: Session) -> None:
        w = world(db)

        with pytest.raises(Forbidden):
            withdrawals.list_for(db, w.member("account_manager"))
