"""Console pages of billing: monthly bills (partners, customers, the vendor) and the
vendor's service catalogue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from partnercenter.admin.paging import Pager
from partnercenter.billing import queries, service
from partnercenter.billing.models import BillType, ChargeMode
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import DomainError, Forbidden, InvalidInput
from partnercenter.core.i18n import N_, Translator
from partnercenter.identity.permissions import Permission
from partnercenter.ledger.console import labels
from partnercenter.ledger.console.common import csv_download, resellers_of
from partnercenter.ledger.queries import csv_stream
from partnercenter.web import navigation
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

PAGE_SIZE = 50
TextField = Annotated[str, Form()]

CHARGE_MODE_LABELS = {
    ChargeMode.YEARLY_MONTHLY: N_("Yearly/monthly"),
    ChargeMode.ON_DEMAND: N_("On demand"),
    ChargeMode.SAVINGS_PLAN: N_("Savings plan"),
}
BILL_TYPE_LABELS = {
    BillType.CONSUMPTION: N_("Consumption"),
    BillType.UNSUBSCRIBE: N_("Unsubscription"),
    BillType.WRITE_OFF: N_("Write-off"),
}


def charge_mode_label(tr: Translator, code: str) -> str:
    return tr.gettext(CHARGE_MODE_LABELS[ChargeMode(code)])


def bill_type_label(tr: Translator, code: str) -> str:
    return tr.gettext(BILL_TYPE_LABELS[BillType(code)])


# -- who opens which page -------------------------------------------------------------------


def _bills_actor(page: Page, side: str) -> Actor:
    if side == "partner":
        actor = require(page, Permission.FUNDS_VIEW)
        kinds = navigation.PARTNERS
    elif side == "customer":
        actor = require(page, Permission.CUSTOMER_SELF)
        kinds = navigation.CUSTOMERS
    else:
        actor = require(page, Permission.FINANCE_OPERATE)
        kinds = navigation.VENDOR
    if actor.organisation_kind not in kinds:
        raise Forbidden()
    return actor


PATHS = {
    "partner": "/billing/bills",
    "customer": "/my-bills",
    "vendor": "/vendor/billing/bills",
}


def _filters(**given: str) -> dict[str, str]:
    """The filters as given, this month (in Beijing) when no cycle is."""
    filters = {name: value.strip() for name, value in given.items()}
    filters["cycle"] = filters.get("cycle") or service.bill_cycle_of(utc_now())
    return filters


def _arguments(filters: dict[str, str]) -> dict[str, Any]:
    return {
        "cycle": filters["cycle"],
        "charge_mode": filters["charge_mode"] or None,
        "customer_id": filters.get("customer") or None,
        "cloud_service_type": filters["service_type"] or None,
        "bill_type": filters["bill_type"] or None,
        "indirect_partner_id": filters.get("reseller") or None,
    }


def _query(filters: dict[str, str]) -> str:
    kept = {name: value for name, value in filters.items() if value}
    return f"?{urlencode(kept)}" if kept else ""


def _bills_page(
    page: Page, db: Session, side: str, filters: dict[str, str], offset: int
) -> Response:
    actor = _bills_actor(page, side)
    currency = page.settings.currency
    error: FormError | None = None
    rows: list[queries.MonthlyBill] = []
    total = 0
    totals = queries.Totals(0, 0, 0, 0)
    try:
        arguments = _arguments(filters)
        rows, total = queries.monthly_bills(
            db,
            actor,
            offset=max(offset, 0),
            limit=PAGE_SIZE,
            locale=page.locale,
            **arguments,
        )
        totals = queries.monthly_totals(db, actor, **arguments)
    except DomainError as refused:
        # Who may open the page was checked above: a refusal here is about the filters
        # (a bad month, a reseller that is not the distributor's or does not share).
        if refused.status not in (400, 403):
            raise
        error = form_error(refused, page.tr)
    path = PATHS[side]
    return page.render(
        "billing/bills.html",
        status_code=400 if error and error.problems else 200,
        side=side,
        path=path,
        error=error,
        filters=filters,
        rows=rows,
        total=total,
        totals=totals,
        service_types=service.service_types(db),
        resellers=resellers_of(db, actor) if side == "partner" else [],
        charge_modes=[
            (m.value, page.tr.gettext(t)) for m, t in CHARGE_MODE_LABELS.items()
        ],
        bill_types=[(b.value, page.tr.gettext(t)) for b, t in BILL_TYPE_LABELS.items()],
        charge_mode_label=lambda code: charge_mode_label(page.tr, code),
        bill_type_label=lambda code: bill_type_label(page.tr, code),
        money=lambda minor: labels.money(page.tr, minor, currency),
        export_href=f"{path}/export.csv" + _query(filters),
        pager=Pager(
            path,
            total,
            max(offset, 0),
            PAGE_SIZE,
            {name: value for name, value in filters.items() if value},
        ),
        flash=take_flash(page.request),
    )


def _bills_csv(
    request: Request, page: Page, db: Session, side: str, filters: dict[str, str]
) -> Response:
    actor = _bills_actor(page, side)
    arguments = _arguments(filters)
    # A bad filter is refused now, with the error page, not halfway through the file.
    queries.monthly_totals(db, actor, **arguments)
    tr, locale = page.tr, page.locale
    header = [
        tr.gettext(text)
        for text in (
            N_("Bill cycle"),
            N_("Customer ID"),
            N_("Customer"),
            N_("Service type code"),
            N_("Service type"),
            N_("Resource type"),
            N_("Charge mode"),
            N_("Bill type"),
            N_("Amount"),
            N_("Paid in cash"),
            N_("Paid by vouchers"),
            N_("Debt"),
            N_("Currency"),
        )
    ]

    def cells(bill: queries.MonthlyBill) -> list[str]:
        return [
            bill.bill_cycle,
            bill.customer_id,
            bill.customer_name,
            bill.cloud_service_type or "",
            bill.cloud_service_type_name or "",
            bill.resource_type_name or bill.resource_type_code or "",
            charge_mode_label(tr, bill.charge_mode),
            bill_type_label(tr, bill.bill_type),
            labels.plain_amount(bill.amount),
            labels.plain_amount(bill.cash_amount),
            labels.plain_amount(bill.voucher_amount),
            labels.plain_amount(bill.debt_amount),
            bill.currency,
        ]

    def pieces(session: Session) -> Iterator[str]:
        bills = queries.iter_monthly_bills(session, actor, locale=locale, **arguments)
        return csv_stream(header, bills, cells)

    return csv_download(
        request, f"bills-{filters['cycle']}", pieces, page.settings.display_timezone
    )


def bill_filters(
    *,
    cycle: str = "",
    charge_mode: str = "",
    customer: str = "",
    service_type: str = "",
    bill_type: str = "",
    reseller: str = "",
) -> dict[str, str]:
    """The bill filters of the query string (see :func:`_filters`)."""
    return _filters(
        cycle=cycle,
        charge_mode=charge_mode,
        customer=customer,
        service_type=service_type,
        bill_type=bill_type,
        reseller=reseller,
    )


Filters = Annotated[dict[str, str], Depends(bill_filters)]
NOT_OFFERED = {
    "partner": frozenset[str](),
    "customer": frozenset({"customer", "reseller"}),
    "vendor": frozenset({"reseller"}),
}
"""The filters a side's page does not have; a value given for one is ignored."""


def _on(side: str, filters: dict[str, str]) -> dict[str, str]:
    return {
        name: "" if name in NOT_OFFERED[side] else value
        for name, value in filters.items()
    }


@router.get("/billing/bills")
def partner_bills(
    page: ActingPage, db: DB, filters: Filters, offset: int = 0
) -> Response:
    return _bills_page(page, db, "partner", _on("partner", filters), offset)


@router.get("/billing/bills/export.csv")
def partner_bills_export(
    request: Request, page: ActingPage, db: DB, filters: Filters
) -> Response:
    return _bills_csv(request, page, db, "partner", _on("partner", filters))


@router.get("/my-bills")
def customer_bills(
    page: ActingPage, db: DB, filters: Filters, offset: int = 0
) -> Response:
    return _bills_page(page, db, "customer", _on("customer", filters), offset)


@router.get("/my-bills/export.csv")
def customer_bills_export(
    request: Request, page: ActingPage, db: DB, filters: Filters
) -> Response:
    return _bills_csv(request, page, db, "customer", _on("customer", filters))


@router.get("/vendor/billing/bills")
def vendor_bills(
    page: ActingPage, db: DB, filters: Filters, offset: int = 0
) -> Response:
    return _bills_page(page, db, "vendor", _on("vendor", filters), offset)


@router.get("/vendor/billing/bills/export.csv")
def vendor_bills_export(
    request: Request, page: ActingPage, db: DB, filters: Filters
) -> Response:
    return _bills_csv(request, page, db, "vendor", _on("vendor", filters))


# -- the vendor's service catalogue ---------------------------------------------------------


def _catalogue_page(
    page: Page,
    db: Session,
    *,
    error: FormError | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return page.render(
        "billing/service_types.html",
        status_code=status_code,
        error=error,
        form=form or {},
        service_types=service.service_types(db),
        resource_types=service.resource_types(db),
        can_edit=page.can(Permission.CATALOGUE_MANAGE),
        flash=take_flash(page.request),
    )


def _catalogue_reader(page: Page) -> Actor:
    actor = require(page, Permission.PARTNERS_VIEW)
    if not actor.is_vendor:
        raise Forbidden()
    return actor


@router.get("/vendor/billing/service-types")
def service_types_page(page: ActingPage, db: DB) -> Response:
    _catalogue_reader(page)
    return _catalogue_page(page, db)


@router.post("/vendor/billing/service-types")
def add_service_type(
    page: ActingPage,
    db: DB,
    *,
    code: TextField = "",
    name_zh: TextField = "",
    name_en: TextField = "",
) -> Response:
    actor = require(page, Permission.CATALOGUE_MANAGE)
    try:
        service.add_service_type(db, actor, code=code, name_zh=name_zh, name_en=name_en)
    except DomainError as refused:
        if refused.status not in (400, 409):
            raise
        return _catalogue_page(
            page,
            db,
            error=form_error(refused, page.tr),
            form={"code": code, "name_zh": name_zh, "name_en": name_en},
            status_code=refused.status,
        )
    return page.redirect(
        "/vendor/billing/service-types",
        page.tr.gettext("The service type %(code)s has been added.") % {"code": code},
    )


@router.post("/vendor/billing/service-types/{code}")
def rename_service_type(
    page: ActingPage,
    db: DB,
    code: str,
    *,
    name_zh: TextField = "",
    name_en: TextField = "",
) -> Response:
    actor = require(page, Permission.CATALOGUE_MANAGE)
    try:
        service.rename_service_type(db, actor, code, name_zh=name_zh, name_en=name_en)
    except InvalidInput as refused:
        return _catalogue_page(
            page, db, error=form_error(refused, page.tr), status_code=400
        )
    return page.redirect(
        "/vendor/billing/service-types",
        page.tr.gettext("The service type %(code)s has been saved.") % {"code": code},
    )


navigation.register(
    "/billing/bills", N_("Monthly bills"), navigation.PARTNERS, Permission.FUNDS_VIEW
)
navigation.register(
    "/my-bills", N_("My bills"), navigation.CUSTOMERS, Permission.CUSTOMER_SELF
)
navigation.register(
    "/vendor/billing/bills",
    N_("Monthly bills"),
    navigation.VENDOR,
    Permission.FINANCE_OPERATE,
)
navigation.register(
    "/vendor/billing/service-types",
    N_("Service types"),
    navigation.VENDOR,
    Permission.PARTNERS_VIEW,
)
