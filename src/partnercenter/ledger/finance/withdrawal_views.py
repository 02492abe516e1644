"""Withdrawal pages: vendor finance's queue with approve, reject and mark paid, and the
partner's own list with its request form.

A partner's request holds the amount at once, and it cannot take a request back; so the
form first shows what will be asked for and only the confirmed submission calls the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from partnercenter.admin.paging import Pager
from partnercenter.core.actor import Actor
from partnercenter.core.errors import DomainError, FieldProblem, Forbidden, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.core.money import to_decimal
from partnercenter.core.security import SecretBox
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, User
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import service, withdrawals
from partnercenter.ledger.errors import (
    InsufficientFunds,
    NoSuchWithdrawal,
    WithdrawalNotPending,
)
from partnercenter.ledger.finance import notices, queries
from partnercenter.ledger.finance.pages import (
    CONFIRMED,
    METHOD_LABELS,
    REASON_MAX,
    TEXT_MAX,
    Confirmation,
    amount_of,
    check_length,
    confirm,
    labels,
    today,
)
from partnercenter.ledger.finance.vendor_views import finance_actor
from partnercenter.ledger.models import Withdrawal, WithdrawalMethod, WithdrawalStatus
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error
from partnercenter.web.navigation import PARTNERS

router = APIRouter()

QUEUE = "/vendor/finance/withdrawals"
OWN = notices.PARTNER_LINK
PAYMENT_REFERENCE_MAX = 100
STATUS_FILTERS = [str(status) for status in WithdrawalStatus]


def _common(page: Page) -> dict[str, Any]:
    return {
        **labels(page, page.settings.currency),
        "today": today(page),
        "is_overdue": queries.is_overdue,
    }


def _box(page: Page) -> SecretBox:
    box: SecretBox = page.request.app.state.secret_box
    return box


# -- vendor finance -------------------------------------------------------------------------


@router.get("/vendor/finance/withdrawals")
def queue_page(
    page: ActingPage, db: DB, status: str = "pending", offset: int = 0
) -> Response:
    finance_actor(page)
    shown = WithdrawalStatus(status) if status in STATUS_FILTERS else None
    found = queries.withdrawal_queue(db, shown, offset=offset)
    return page.render(
        "ledger_finance/withdrawals.html",
        flash=take_flash(page.request),
        status=str(shown) if shown else "all",
        statuses=list(WithdrawalStatus),
        counts=found.counts,
        all_count=sum(found.counts.values()),
        rows=found.rows,
        pager=Pager(
            QUEUE,
            found.total,
            max(offset, 0),
            queries.PAGE_SIZE,
            {"status": str(shown) if shown else "all"},
        ),
        **_common(page),
    )


def _withdrawal(db: DB, actor: Actor, withdrawal_id: str) -> Withdrawal:
    return withdrawals.get(db, actor, withdrawal_id)


@router.get("/vendor/finance/withdrawals/{withdrawal_id}")
def withdrawal_page(page: ActingPage, db: DB, withdrawal_id: str) -> Response:
    actor = finance_actor(page)
    return _detail(page, db, _withdrawal(db, actor, withdrawal_id))


def _detail(
    page: Page,
    db: DB,
    withdrawal: Withdrawal,
    *,
    form: str = "",
    values: dict[str, str] | None = None,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    partner = identity.get_organisation(db, withdrawal.organisation_id)
    people = {
        user.id: user
        for user in (
            db.get(User, user_id)
            for user_id in (
                withdrawal.requested_by_user_id,
                withdrawal.decided_by_user_id,
                withdrawal.paid_by_user_id,
            )
            if user_id
        )
        if user is not None
    }
    account_number = None
    if (
        withdrawal.status is WithdrawalStatus.APPROVED
        and withdrawal.bank_account_encrypted
    ):
        # Finance needs the whole number to pay; it is shown only while payment is due.
        account_number = _box(page).open(withdrawal.bank_account_encrypted)
    return page.render(
        "ledger_finance/withdrawal.html",
        status_code=status_code,
        flash=take_flash(page.request),
        withdrawal=withdrawal,
        partner=partner,
        balances=service.partner_balances(db, partner.id, withdrawal.currency),
        people=people,
        account_number=account_number,
        errors={form: error} if error else {},
        values={form: values or {}},
        **_common(page),
    )


def _decided(page: Page, db: DB, withdrawal: Withdrawal, message: str) -> Response:
    """Tell the partner, and finance (in the flash) what was done and for how much."""
    notices.withdrawal_decided(db, page.settings, withdrawal)
    partner = identity.get_organisation(db, withdrawal.organisation_id)
    amount = page.tr.format_money(to_decimal(withdrawal.amount), withdrawal.currency)
    return page.redirect(
        f"{QUEUE}/{withdrawal.id}",
        message
        % {
            "amount": amount,
            "partner": partner.display_name,
            "pay_by": page.tr.format_date(withdrawal.pay_by),
        },
    )


def _act_refused(
    page: Page,
    db: DB,
    actor: Actor,
    withdrawal_id: str,
    *,
    form: str,
    error: DomainError,
    values: dict[str, str],
) -> Response:
    if isinstance(error, NoSuchWithdrawal):
        raise error
    if isinstance(error, WithdrawalNotPending):
        # Someone else decided first: the form that was sent is no longer on the page.
        form = "state"
    return _detail(
        page,
        db,
        _withdrawal(db, actor, withdrawal_id),
        form=form,
        values=values,
        error=form_error(error, page.tr),
        status_code=error.status,
    )


@router.post("/vendor/finance/withdrawals/{withdrawal_id}/approve")
def approve(page: ActingPage, db: DB, withdrawal_id: str) -> Response:
    actor = finance_actor(page)
    try:
        withdrawal = withdrawals.approve(db, actor, withdrawal_id)
    except DomainError as error:
        return _act_refused(
            page, db, actor, withdrawal_id, form="approve", error=error, values={}
        )
    return _decided(
        page,
        db,
        withdrawal,
        page.tr.gettext(
            "The withdrawal of %(amount)s by %(partner)s is approved; pay it by "
            "%(pay_by)s."
        ),
    )


@router.post("/vendor/finance/withdrawals/{withdrawal_id}/reject")
def reject(
    page: ActingPage,
    db: DB,
    withdrawal_id: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    actor = finance_actor(page)
    try:
        check_length(reason.strip(), "reason", REASON_MAX)
        withdrawal = withdrawals.reject(db, actor, withdrawal_id, reason)
    except DomainError as error:
        return _act_refused(
            page,
            db,
            actor,
            withdrawal_id,
            form="reject",
            error=error,
            values={"reason": reason},
        )
    return _decided(
        page,
        db,
        withdrawal,
        page.tr.gettext(
            "The withdrawal of %(amount)s by %(partner)s is rejected; the amount is "
            "back in its balance."
        ),
    )


@router.post("/vendor/finance/withdrawals/{withdrawal_id}/paid")
def mark_paid(
    page: ActingPage,
    db: DB,
    withdrawal_id: str,
    payment_reference: Annotated[str, Form()] = "",
) -> Response:
    actor = finance_actor(page)
    values = {"payment_reference": payment_reference}
    try:
        check_length(
            payment_reference.strip(), "payment_reference", PAYMENT_REFERENCE_MAX
        )
        withdrawal = withdrawals.mark_paid(db, actor, withdrawal_id, payment_reference)
    except DomainError as error:
        return _act_refused(
            page, db, actor, withdrawal_id, form="paid", error=error, values=values
        )
    return _decided(
        page,
        db,
        withdrawal,
        page.tr.gettext(
            "The withdrawal of %(amount)s by %(partner)s is marked paid; the amount has "
            "left the platform."
        ),
    )


# -- the partner's own ----------------------------------------------------------------------


def _partner_of(db: DB, actor: Actor) -> Organisation:
    return identity.get_organisation(db, actor.organisation_id)


def partner_actor(page: Page, permission: Permission) -> Actor:
    """A member of a partner holding ``permission``; vendor staff and customers are refused."""
    actor = require(page, permission)
    if actor.organisation_kind not in PARTNERS:
        raise Forbidden()
    return actor


@router.get("/funds/withdrawals")
def own_list(page: ActingPage, db: DB, offset: int = 0) -> Response:
    actor = partner_actor(page, Permission.FUNDS_VIEW)
    currency = page.settings.currency
    offset = max(offset, 0)
    rows = withdrawals.list_for(db, actor, offset=offset, limit=queries.PAGE_SIZE)
    return page.render(
        "ledger_finance/own_withdrawals.html",
        flash=take_flash(page.request),
        rows=rows,
        balances=service.partner_balances(db, actor.organisation_id, currency),
        can_request=actor.can(Permission.FUNDS_TRANSFER),
        pager=Pager(
            OWN,
            queries.own_withdrawal_count(db, actor.organisation_id),
            offset,
            queries.PAGE_SIZE,
        ),
        **_common(page),
    )


@router.get("/funds/withdrawals/new")
def request_form(page: ActingPage, db: DB) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    partner = _partner_of(db, actor)
    return _request_form(
        page,
        db,
        actor,
        {"method": str(WithdrawalMethod.BANK), "bank_holder": partner.legal_name or ""},
    )


def _request_form(
    page: Page,
    db: DB,
    actor: Actor,
    values: dict[str, str],
    *,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    return page.render(
        "ledger_finance/request.html",
        status_code=status_code,
        values=values,
        error=error,
        partner=_partner_of(db, actor),
        balances=service.partner_balances(
            db, actor.organisation_id, page.settings.currency
        ),
        methods=list(WithdrawalMethod),
        **_common(page),
    )


@router.post("/funds/withdrawals")
def request_withdrawal(
    *,
    page: ActingPage,
    db: DB,
    amount: Annotated[str, Form()] = "",
    method: Annotated[str, Form()] = "",
    bank_holder: Annotated[str, Form()] = "",
    bank_name: Annotated[str, Form()] = "",
    bank_account: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    currency = page.settings.currency
    gettext = page.tr.gettext
    values = {
        "amount": amount,
        "method": method,
        "bank_holder": bank_holder,
        "bank_name": bank_name,
        "bank_account": bank_account,
        "note": note,
    }
    bank_holder, bank_name, note = bank_holder.strip(), bank_name.strip(), note.strip()
    try:
        minor = amount_of(amount)
        if method not in {str(m) for m in WithdrawalMethod}:
            raise InvalidInput(
                problems=[
                    FieldProblem("method", N_("Choose how the money is paid out."))
                ]
            )
        chosen = WithdrawalMethod(method)
        bank = chosen is WithdrawalMethod.BANK
        check_length(note, "note", REASON_MAX)
        if bank:
            check_length(bank_holder, "bank_holder", TEXT_MAX)
            check_length(bank_name, "bank_name", TEXT_MAX)
        if confirmed != CONFIRMED:
            _preview_checks(
                db,
                actor,
                currency=currency,
                amount=minor,
                bank=bank,
                bank_holder=bank_holder,
                bank_name=bank_name,
                bank_account=bank_account,
            )
            return confirm(
                page,
                Confirmation(
                    title=gettext("Ask for this withdrawal?"),
                    intro=gettext(
                        "The amount leaves your balance at once and is held until vendor "
                        "finance pays or rejects it. A request cannot be taken back."
                    ),
                    rows=[
                        (
                            gettext("Amount"),
                            page.tr.format_money(to_decimal(minor), currency),
                        ),
                        (gettext("Method"), gettext(METHOD_LABELS[chosen])),
                        *(
                            [
                                (gettext("Account holder"), bank_holder),
                                (gettext("Bank"), bank_name),
                                (
                                    gettext("Account number"),
                                    _masked(bank_account),
                                ),
                            ]
                            if bank
                            else []
                        ),
                        (gettext("Note"), note or "—"),
                    ],
                    action=OWN,
                    fields={
                        "amount": str(to_decimal(minor)),
                        "method": str(chosen),
                        "bank_holder": bank_holder if bank else "",
                        "bank_name": bank_name if bank else "",
                        "bank_account": bank_account if bank else "",
                        "note": note,
                    },
                    button=gettext("Ask for the withdrawal"),
                    back=f"{OWN}/new",
                ),
            )
        withdrawal = withdrawals.request(
            db,
            actor,
            _box(page),
            amount=minor,
            method=chosen,
            bank_holder=bank_holder if bank else None,
            bank_name=bank_name if bank else None,
            bank_account=bank_account if bank else None,
            note=note or None,
            currency=currency,
        )
    except DomainError as error:
        return _request_form(
            page,
            db,
            actor,
            values,
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    return page.redirect(
        OWN,
        gettext(
            "You asked to withdraw %(amount)s (request %(withdrawal)s). It is held until "
            "vendor finance decides."
        )
        % {
            "amount": page.tr.format_money(to_decimal(minor), currency),
            "withdrawal": withdrawal.id,
        },
    )


def _masked(account: str) -> str:
    digits = "".join(ch for ch in account if ch.isdigit())
    return f"•••• {digits[-4:]}" if len(digits) > 4 else digits


def _preview_checks(
    db: DB,
    actor: Actor,
    *,
    currency: str,
    amount: int,
    bank: bool,
    bank_holder: str,
    bank_name: str,
    bank_account: str,
) -> None:
    """What can be told before the confirmation; the ledger checks everything again."""
    if bank:
        problems = []
        if not bank_holder:
            problems.append(
                FieldProblem("bank_holder", N_("Enter the account holder."))
            )
        if not bank_name:
            problems.append(FieldProblem("bank_name", N_("Enter the bank.")))
        if not bank_account.strip():
            problems.append(
                FieldProblem(
                    "bank_account", N_("Enter the account number: 8 to 34 digits.")
                )
            )
        if problems:
            raise InvalidInput(problems=problems)
    withdrawable = service.partner_balances(
        db, actor.organisation_id, currency
    ).withdrawable
    if amount > withdrawable:
        raise InsufficientFunds(
            available=str(to_decimal(withdrawable)), currency=currency
        )
