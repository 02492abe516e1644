"""What the finance and withdrawal pages share: reading amounts from forms, labels, money
as the reader reads it, and the confirmation step of every form that moves money."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from partnercenter.core.clock import local_date, utc_now
from partnercenter.core.errors import FieldProblem, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.core.money import AmountError, to_decimal, to_minor
from partnercenter.ledger.errors import InvalidAmount
from partnercenter.ledger.models import (
    AccountKind,
    TransferKind,
    WithdrawalMethod,
    WithdrawalStatus,
)
from partnercenter.ledger.service import MAX_AMOUNT
from partnercenter.web.context import Page

CONFIRMED = "yes"
"""The value of the ``confirmed`` field sent by a confirmation page."""

REFERENCE_MAX = 64
"""The length of a transfer's external reference column."""
TEXT_MAX = 200
"""The length of the bank holder and bank name columns of a withdrawal."""
REASON_MAX = 500

KIND_LABELS: dict[TransferKind, str] = {
    TransferKind.TOPUP: N_("Top-up"),
    TransferKind.RECHARGE: N_("Customer recharge"),
    TransferKind.ALLOCATE: N_("Allocation"),
    TransferKind.RECLAIM: N_("Reclaim"),
    TransferKind.UNBIND_RECLAIM: N_("Unbind reclaim"),
    TransferKind.INDIRECT_ALLOCATE: N_("Allocation to a reseller"),
    TransferKind.INDIRECT_RECLAIM: N_("Reclaim from a reseller"),
    TransferKind.CONSUME: N_("Consumption"),
    TransferKind.REFUND: N_("Refund"),
    TransferKind.WITHDRAWAL_HOLD: N_("Withdrawal held"),
    TransferKind.WITHDRAWAL_RELEASE: N_("Withdrawal returned"),
    TransferKind.WITHDRAWAL_PAYOUT: N_("Withdrawal paid out"),
    TransferKind.CORRECTION: N_("Correction"),
}
ACCOUNT_LABELS: dict[AccountKind, str] = {
    AccountKind.PARTNER_CASH: N_("Balance"),
    AccountKind.PARTNER_HOLD: N_("Held for withdrawal"),
}
STATUS_LABELS: dict[WithdrawalStatus, str] = {
    WithdrawalStatus.PENDING: N_("Awaiting approval"),
    WithdrawalStatus.APPROVED: N_("Approved, awaiting payment"),
    WithdrawalStatus.REJECTED: N_("Rejected"),
    WithdrawalStatus.PAID: N_("Paid"),
}
STATUS_BADGES: dict[WithdrawalStatus, str] = {
    WithdrawalStatus.PENDING: "warn",
    WithdrawalStatus.APPROVED: "",
    WithdrawalStatus.REJECTED: "bad",
    WithdrawalStatus.PAID: "ok",
}
METHOD_LABELS: dict[WithdrawalMethod, str] = {
    WithdrawalMethod.ORIGINAL_PATH: N_("Back along the original payment path"),
    WithdrawalMethod.BANK: N_("To a bank account"),
}


def labels(page: Page, currency: str) -> dict[str, Any]:
    """The helpers every template of this area uses."""
    tr = page.tr.gettext

    def money(minor: int | None) -> str:
        return page.tr.format_money(to_decimal(minor or 0), currency)

    return {
        "money": money,
        "currency": currency,
        "kind_label": lambda kind: tr(KIND_LABELS[TransferKind(kind)]),
        "account_label": lambda kind: tr(ACCOUNT_LABELS[AccountKind(kind)]),
        "status_label": lambda status: tr(STATUS_LABELS[WithdrawalStatus(status)]),
        "status_badge": lambda status: STATUS_BADGES[WithdrawalStatus(status)],
        "method_label": lambda method: tr(METHOD_LABELS[WithdrawalMethod(method)]),
    }


def today(page: Page) -> dt.date:
    """The date in the console's time zone, for pay-by days and the month's totals."""
    return local_date(utc_now(), page.settings.display_timezone)


def amount_of(text: str, field: str = "amount", *, zero_allowed: bool = False) -> int:
    """Minor units from what was typed: digits, at most two decimals, commas allowed."""
    cleaned = text.replace(",", "").replace(" ", "").strip()
    message = (
        N_("Enter an amount of 0 or more with at most two decimals.")
        if zero_allowed
        else InvalidAmount.default_message
    )
    try:
        minor = to_minor(cleaned)
    except AmountError:
        minor = -1
    if minor < (0 if zero_allowed else 1) or minor > MAX_AMOUNT:
        raise InvalidAmount(message, problems=[FieldProblem(field, message)])
    return minor


def check_length(value: str, field: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    field,
                    N_("Enter at most %(limit)s characters."),
                    {"limit": limit},
                )
            ]
        )


def required(value: str, field: str, message: str) -> None:
    if not value.strip():
        raise InvalidInput(problems=[FieldProblem(field, message)])


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A summary of what a form is about to do, and its values to send again."""

    title: str
    intro: str
    rows: Sequence[tuple[str, str]]
    action: str
    fields: dict[str, str]
    button: str
    back: str


def confirm(page: Page, confirmation: Confirmation) -> Response:
    """The confirmation step: nothing has changed yet; the button sends the form again."""
    return page.render(
        "ledger_finance/confirm.html",
        confirmation=confirmation,
        confirmed=CONFIRMED,
    )
