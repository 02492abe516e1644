"""Vendor finance's pages: partner accounts with the ledger check, one partner's money with
its top-up, credit line, designated amount and correction forms, customer recharges and
the consumption view.

Each form that changes money first shows a confirmation page with the amount read back;
only the second submission, with ``confirmed``, calls the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from partnercenter.admin.paging import Pager
from partnercenter.admin.service import PARTNER_TYPE_LABELS
from partnercenter.core.actor import Actor
from partnercenter.core.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    Forbidden,
    NotFound,
)
from partnercenter.core.i18n import N_
from partnercenter.core.money import to_decimal
from partnercenter.identity.models import Organisation, OrganisationKind
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import service, verify
from partnercenter.ledger.errors import NoSuchTransfer, NotYourCustomer
from partnercenter.ledger.finance import queries
from partnercenter.ledger.finance.pages import (
    CONFIRMED,
    REASON_MAX,
    REFERENCE_MAX,
    Confirmation,
    amount_of,
    check_length,
    confirm,
    labels,
    required,
    today,
)
from partnercenter.ledger.models import TransferKind
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

SHOWN_PROBLEMS = 20
"""How many of the ledger check's problems the page lists; the command shows them all."""


class ReferenceRecorded(Conflict):
    code = "reference_recorded"
    default_message = N_(
        "This remittance reference is already recorded (transfer %(transfer)s); record "
        "each remittance once."
    )


def finance_actor(page: Page) -> Actor:
    """Vendor staff with the finance permission; anyone else is refused."""
    actor = require(page, Permission.FINANCE_OPERATE)
    if not actor.is_vendor:
        raise Forbidden()
    return actor


def _currency(page: Page) -> str:
    return page.settings.currency


def _common(page: Page) -> dict[str, Any]:
    return {
        **labels(page, _currency(page)),
        "type_labels": PARTNER_TYPE_LABELS,
    }


# -- partner accounts -----------------------------------------------------------------------


@router.get("/vendor/finance")
def accounts_page(page: ActingPage, db: DB, q: str = "", offset: int = 0) -> Response:
    finance_actor(page)
    return _accounts(page, db, q, offset)


def _accounts(
    page: Page,
    db: DB,
    q: str = "",
    offset: int = 0,
    report: verify.Report | None = None,
) -> Response:
    currency = _currency(page)
    found = queries.partner_accounts(db, currency, q, offset)
    return page.render(
        "ledger_finance/accounts.html",
        flash=take_flash(page.request),
        q=q,
        rows=found.rows,
        pager=Pager(
            "/vendor/finance",
            found.total,
            max(offset, 0),
            queries.PAGE_SIZE,
            {"q": q} if q else {},
        ),
        totals=queries.totals(
            db, currency, today(page), page.settings.display_timezone
        ),
        report=report,
        problems=report.problems[:SHOWN_PROBLEMS] if report else [],
        **_common(page),
    )


@router.post("/vendor/finance/verify")
def check_ledger(page: ActingPage, db: DB) -> Response:
    finance_actor(page)
    return _accounts(page, db, report=verify.verify(db))


# -- one partner ----------------------------------------------------------------------------

FORMS = ("topup", "credit", "designated", "correct")


class NoSuchPartner(NotFound):
    code = "no_such_partner"
    default_message = N_("No such partner.")


def _partner(db: DB, partner_id: str) -> Organisation:
    partner = db.get(Organisation, partner_id)
    if partner is None or partner.kind is not OrganisationKind.PARTNER:
        raise NoSuchPartner()
    return partner


@router.get("/vendor/finance/partners/{partner_id}")
def partner_page(page: ActingPage, db: DB, partner_id: str) -> Response:
    finance_actor(page)
    return _partner_page(page, db, partner_id)


def _partner_page(
    page: Page,
    db: DB,
    partner_id: str,
    *,
    form: str = "",
    values: dict[str, str] | None = None,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    currency = _currency(page)
    partner = _partner(db, partner_id)
    balances = service.partner_balances(db, partner.id, currency)
    return page.render(
        "ledger_finance/partner.html",
        status_code=status_code,
        flash=take_flash(page.request),
        partner=partner,
        balances=balances,
        entries=queries.partner_entries(db, partner.id, currency),
        topups=[
            c
            for c in queries.correctable_topups(db, partner.id, currency)
            if c.left > 0
        ],
        withdrawals=queries.withdrawal_queue(db, None, partner_id=partner.id, limit=5),
        errors={form: error} if error else {},
        values={form: values or {}},
        **_common(page),
    )


def _refused(
    page: Page,
    db: DB,
    partner_id: str,
    *,
    form: str,
    error: DomainError,
    values: dict[str, str],
) -> Response:
    return _partner_page(
        page,
        db,
        partner_id,
        form=form,
        values=values,
        error=form_error(error, page.tr),
        status_code=error.status,
    )


def _money_text(page: Page, minor: int) -> str:
    return page.tr.format_money(to_decimal(minor), _currency(page))


@router.post("/vendor/finance/partners/{partner_id}/topup")
def record_topup(
    *,
    page: ActingPage,
    db: DB,
    partner_id: str,
    amount: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    actor = finance_actor(page)
    partner = _partner(db, partner_id)
    values = {"amount": amount, "reference": reference, "note": note}
    reference, note = reference.strip(), note.strip()
    try:
        minor = amount_of(amount)
        check_length(reference, "reference", REFERENCE_MAX)
        check_length(note, "note", REASON_MAX)
        if reference:
            known = queries.recorded_reference(db, TransferKind.TOPUP, reference)
            if known is not None:
                raise ReferenceRecorded(
                    transfer=known.id,
                    problems=[
                        FieldProblem(
                            "reference",
                            N_("This reference is already recorded."),
                        )
                    ],
                )
        if confirmed != CONFIRMED:
            gettext = page.tr.gettext
            return confirm(
                page,
                Confirmation(
                    title=gettext("Record this top-up?"),
                    intro=gettext(
                        "The partner's balance grows by this amount at once. Check it "
                        "against the remittance."
                    ),
                    rows=[
                        (gettext("Partner"), partner.display_name),
                        (gettext("Amount"), _money_text(page, minor)),
                        (gettext("Remittance reference"), reference or "—"),
                        (gettext("Note"), note or "—"),
                    ],
                    action=f"/vendor/finance/partners/{partner.id}/topup",
                    fields={
                        "amount": str(to_decimal(minor)),
                        "reference": reference,
                        "note": note,
                    },
                    button=gettext("Record the top-up"),
                    back=f"/vendor/finance/partners/{partner.id}",
                ),
            )
        result = service.record_topup(
            db,
            actor,
            partner_id=partner.id,
            amount=minor,
            reference=reference or None,
            reason=note or None,
            currency=_currency(page),
        )
    except DomainError as error:
        return _refused(page, db, partner_id, form="topup", error=error, values=values)
    return page.redirect(
        f"/vendor/finance/partners/{partner.id}",
        page.tr.gettext(
            "Top-up of %(amount)s recorded for %(partner)s (transfer %(transfer)s). "
            "Its balance is now %(balance)s."
        )
        % {
            "amount": _money_text(page, minor),
            "partner": partner.display_name,
            "transfer": result.transfer_id,
            "balance": _money_text(page, result.partner_balance_after),
        },
    )


@router.post("/vendor/finance/partners/{partner_id}/credit")
def set_credit(
    *,
    page: ActingPage,
    db: DB,
    partner_id: str,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    return _set_figure(
        page,
        db,
        partner_id,
        form="credit",
        amount=amount,
        reason=reason,
        confirmed=confirmed,
    )


@router.post("/vendor/finance/partners/{partner_id}/designated")
def set_designated(
    *,
    page: ActingPage,
    db: DB,
    partner_id: str,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    return _set_figure(
        page,
        db,
        partner_id,
        form="designated",
        amount=amount,
        reason=reason,
        confirmed=confirmed,
    )


def _set_figure(
    page: Page,
    db: DB,
    partner_id: str,
    *,
    form: str,
    amount: str,
    reason: str,
    confirmed: str,
) -> Response:
    """The credit line or the designated amount: both set one figure of the account."""
    actor = finance_actor(page)
    partner = _partner(db, partner_id)
    gettext = page.tr.gettext
    values = {"amount": amount, "reason": reason}
    reason = reason.strip()
    credit = form == "credit"
    current = service.partner_balances(db, partner.id, _currency(page))
    try:
        minor = amount_of(amount, zero_allowed=True)
        check_length(reason, "reason", REASON_MAX)
        if confirmed != CONFIRMED:
            return confirm(
                page,
                Confirmation(
                    title=gettext("Set the credit line?")
                    if credit
                    else gettext("Set the designated amount?"),
                    intro=gettext(
                        "The partner may go below zero by up to its credit line."
                    )
                    if credit
                    else gettext(
                        "The designated amount stays in the balance but cannot be "
                        "allocated or withdrawn."
                    ),
                    rows=[
                        (gettext("Partner"), partner.display_name),
                        (
                            gettext("Now"),
                            _money_text(
                                page,
                                current.credit_limit if credit else current.designated,
                            ),
                        ),
                        (gettext("New amount"), _money_text(page, minor)),
                        (gettext("Reason"), reason or "—"),
                    ],
                    action=f"/vendor/finance/partners/{partner.id}/{form}",
                    fields={"amount": str(to_decimal(minor)), "reason": reason},
                    button=gettext("Set the credit line")
                    if credit
                    else gettext("Set the designated amount"),
                    back=f"/vendor/finance/partners/{partner.id}",
                ),
            )
        setter = service.set_credit_limit if credit else service.set_designated
        setter(
            db,
            actor,
            partner_id=partner.id,
            amount=minor,
            reason=reason or None,
            currency=_currency(page),
        )
    except DomainError as error:
        return _refused(page, db, partner_id, form=form, error=error, values=values)
    message = (
        gettext("The credit line of %(partner)s is now %(amount)s.")
        if credit
        else gettext("The designated amount of %(partner)s is now %(amount)s.")
    )
    return page.redirect(
        f"/vendor/finance/partners/{partner.id}",
        message % {"partner": partner.display_name, "amount": _money_text(page, minor)},
    )


@router.post("/vendor/finance/partners/{partner_id}/correct")
def correct_topup(
    *,
    page: ActingPage,
    db: DB,
    partner_id: str,
    transfer_id: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    actor = finance_actor(page)
    partner = _partner(db, partner_id)
    gettext = page.tr.gettext
    values = {"transfer_id": transfer_id, "amount": amount, "reason": reason}
    reason = reason.strip()
    try:
        original = queries.correctable(db, transfer_id.strip())
        if (
            original is None
            or original.transfer.kind is not TransferKind.TOPUP
            or original.transfer.organisation_id != partner.id
        ):
            raise NoSuchTransfer(
                problems=[
                    FieldProblem(
                        "transfer_id", N_("Choose one of the partner's top-ups.")
                    )
                ]
            )
        minor = amount_of(amount)
        required(reason, "reason", N_("Say why the top-up is corrected."))
        check_length(reason, "reason", REASON_MAX)
        if confirmed != CONFIRMED:
            return confirm(
                page,
                Confirmation(
                    title=gettext("Correct this top-up?"),
                    intro=gettext(
                        "The amount is taken back from the partner's balance; the "
                        "top-up itself stays on record."
                    ),
                    rows=[
                        (gettext("Partner"), partner.display_name),
                        (gettext("Top-up"), original.transfer.id),
                        (
                            gettext("Top-up amount"),
                            _money_text(page, original.transfer.amount),
                        ),
                        (
                            gettext("Not yet corrected"),
                            _money_text(page, original.left),
                        ),
                        (gettext("Amount taken back"), _money_text(page, minor)),
                        (gettext("Reason"), reason),
                    ],
                    action=f"/vendor/finance/partners/{partner.id}/correct",
                    fields={
                        "transfer_id": original.transfer.id,
                        "amount": str(to_decimal(minor)),
                        "reason": reason,
                    },
                    button=gettext("Correct the top-up"),
                    back=f"/vendor/finance/partners/{partner.id}",
                ),
            )
        result = service.correct(
            db, actor, transfer_id=original.transfer.id, amount=minor, reason=reason
        )
    except DomainError as error:
        return _refused(
            page, db, partner_id, form="correct", error=error, values=values
        )
    return page.redirect(
        f"/vendor/finance/partners/{partner.id}",
        gettext(
            "%(amount)s taken back from %(partner)s by correcting %(original)s "
            "(transfer %(transfer)s). Its balance is now %(balance)s."
        )
        % {
            "amount": _money_text(page, minor),
            "partner": partner.display_name,
            "original": original.transfer.id,
            "transfer": result.transfer_id,
            "balance": _money_text(page, result.partner_balance_after),
        },
    )


# -- customer recharges ---------------------------------------------------------------------


@router.get("/vendor/finance/recharges")
def recharges_page(page: ActingPage, db: DB) -> Response:
    finance_actor(page)
    return _recharges(page, db)


def _recharges(
    page: Page,
    db: DB,
    values: dict[str, str] | None = None,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    return page.render(
        "ledger_finance/recharges.html",
        status_code=status_code,
        flash=take_flash(page.request),
        values=values or {},
        error=error,
        rows=queries.recent_recharges(db, _currency(page)),
        **_common(page),
    )


@router.post("/vendor/finance/recharges")
def record_recharge(
    *,
    page: ActingPage,
    db: DB,
    customer: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    actor = finance_actor(page)
    gettext = page.tr.gettext
    values = {
        "customer": customer,
        "amount": amount,
        "reference": reference,
        "note": note,
    }
    reference, note = reference.strip(), note.strip()
    try:
        found = queries.find_customer(db, customer)
        if found is None:
            raise NotYourCustomer(
                N_("No customer has this id or account name."),
                problems=[
                    FieldProblem(
                        "customer", N_("No customer has this id or account name.")
                    )
                ],
            )
        minor = amount_of(amount)
        check_length(reference, "reference", REFERENCE_MAX)
        check_length(note, "note", REASON_MAX)
        if reference:
            known = queries.recorded_reference(db, TransferKind.RECHARGE, reference)
            if known is not None:
                raise ReferenceRecorded(
                    transfer=known.id,
                    problems=[
                        FieldProblem(
                            "reference", N_("This reference is already recorded.")
                        )
                    ],
                )
        if confirmed != CONFIRMED:
            return confirm(
                page,
                Confirmation(
                    title=gettext("Record this recharge?"),
                    intro=gettext(
                        "The customer paid the vendor itself; the amount becomes the "
                        "customer's own money, not a partner's."
                    ),
                    rows=[
                        (
                            gettext("Customer"),
                            f"{found.display_name} ({found.account_name})",
                        ),
                        (gettext("Amount"), _money_text(page, minor)),
                        (gettext("Payment reference"), reference or "—"),
                        (gettext("Note"), note or "—"),
                    ],
                    action="/vendor/finance/recharges",
                    fields={
                        "customer": found.id,
                        "amount": str(to_decimal(minor)),
                        "reference": reference,
                        "note": note,
                    },
                    button=gettext("Record the recharge"),
                    back="/vendor/finance/recharges",
                ),
            )
        result = service.record_recharge(
            db,
            actor,
            customer_id=found.id,
            amount=minor,
            reference=reference or None,
            reason=note or None,
            currency=_currency(page),
        )
    except DomainError as error:
        return _recharges(page, db, values, form_error(error, page.tr), error.status)
    return page.redirect(
        "/vendor/finance/recharges",
        gettext(
            "Recharge of %(amount)s recorded for %(customer)s (transfer %(transfer)s). "
            "Its own balance is now %(balance)s."
        )
        % {
            "amount": _money_text(page, minor),
            "customer": found.display_name,
            "transfer": result.transfer_id,
            "balance": _money_text(page, result.partner_balance_after),
        },
    )


# -- consumption ----------------------------------------------------------------------------


@router.get("/vendor/finance/charges")
def charges_page(
    *,
    page: ActingPage,
    db: DB,
    kind: str = "",
    q: str = "",
    since: str = "",
    until: str = "",
    offset: int = 0,
) -> Response:
    finance_actor(page)
    filters = queries.ChargeFilter(
        kind=kind if kind in queries.CHARGE_KINDS else "",
        search=q,
        since=_date(since),
        until=_date(until),
        offset=max(offset, 0),
    )
    found = queries.charges(
        db, _currency(page), page.settings.display_timezone, filters
    )
    params = {
        "kind": filters.kind,
        "q": q,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
    }
    return page.render(
        "ledger_finance/charges.html",
        filters=filters,
        params=params,
        rows=found.rows,
        amount=found.amount,
        cash=found.cash,
        pager=Pager(
            "/vendor/finance/charges",
            found.total,
            filters.offset,
            filters.limit,
            {key: value for key, value in params.items() if value},
        ),
        **_common(page),
    )


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None
