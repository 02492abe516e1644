"""Console pages of the partner's funds (overview, allocation, resellers, adjust records,
statement) and of the customer's own funds; the batch pages are in :mod:`batch_views`."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from partnercenter.admin.paging import Pager
from partnercenter.core.actor import Actor
from partnercenter.core.clock import local_date, utc_now
from partnercenter.core.errors import DomainError, FieldProblem, Forbidden, InvalidInput
from partnercenter.core.i18n import N_, Translator
from partnercenter.identity.models import Organisation
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import queries, service
from partnercenter.ledger.console import inputs, labels
from partnercenter.ledger.console.batch_views import router as batch_router
from partnercenter.ledger.console.chart import balance_chart
from partnercenter.ledger.console.common import (
    csv_download,
    customer_actor,
    is_distributor,
    partner_actor,
    resale_customers,
    resellers_of,
    template_values,
)
from partnercenter.ledger.models import AccountKind, TransferKind
from partnercenter.web import navigation
from partnercenter.web.context import DB, ActingPage, Page, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()
router.include_router(batch_router)

TextField = Annotated[str, Form()]
CHART_DAYS = 30
PAGE_SIZE = 50

DIRECTION_LABELS = {"in": N_("Money in"), "out": N_("Money out")}


# -- helpers ----------------------------------------------------------------------------


def _kinds(value: str, allowed: Collection[TransferKind]) -> set[TransferKind] | None:
    """The kind chosen in a filter; anything not offered there means every kind."""
    return {TransferKind(value)} if value in {str(k) for k in allowed} else None


def _direction(value: str) -> queries.Direction | None:
    if value == "in":
        return "in"
    if value == "out":
        return "out"
    return None


def _query(values: dict[str, str]) -> str:
    kept = {name: value for name, value in values.items() if value}
    return f"?{urlencode(kept)}" if kept else ""


def _actor_label(tr: Translator, record: queries.AdjustRecord) -> str:
    if record.actor_name:
        return record.actor_name
    if record.actor_credential_id is not None:
        return tr.gettext("API key")
    return tr.gettext("System")


def _name_of(db: Session, organisation_id: str) -> str:
    organisation = db.get(Organisation, organisation_id)
    return organisation.display_name if organisation else organisation_id


# -- overview ---------------------------------------------------------------------------


@router.get("/funds")
def overview(page: ActingPage, db: DB) -> Response:
    actor = partner_actor(page)
    currency = page.settings.currency
    timezone = page.settings.display_timezone
    values = template_values(page, currency)
    balances = service.partner_balances(db, actor.organisation_id, currency)
    account = service.find_account(
        db, actor.organisation_id, AccountKind.PARTNER_CASH, currency
    )
    series = queries.balance_series(
        db,
        account.id if account else None,
        days=CHART_DAYS,
        today=local_date(utc_now(), timezone),
        timezone=timezone,
    )
    latest = queries.statement(
        db, actor.organisation_id, AccountKind.PARTNER_CASH, limit=10, currency=currency
    )
    return page.render(
        "ledger/funds_overview.html",
        flash=take_flash(page.request),
        balances=balances,
        series=series,
        chart=balance_chart(series, values["money"]),
        latest=latest,
        distributor=is_distributor(actor),
        **values,
    )


# -- allocate or reclaim for one customer -----------------------------------------------


def _allocate_page(
    page: Page,
    db: Session,
    actor: Actor,
    form: dict[str, str],
    *,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    currency = page.settings.currency
    resellers = resellers_of(db, actor)
    # Only one of the distributor's own resellers can be acted for; any other id is ignored
    # here (and refused by the service), so that no other partner's balance shows.
    indirect = form.get("indirect_partner_id", "")
    if indirect not in {reseller.id for reseller in resellers}:
        indirect = ""
    funding = indirect or actor.organisation_id
    return page.render(
        "ledger/funds_allocate.html",
        status_code=status_code,
        flash=take_flash(page.request),
        error=error,
        form={**form, "indirect_partner_id": indirect},
        balances=service.partner_balances(db, funding, currency),
        customers=resale_customers(db, actor, indirect or None),
        resellers=resellers,
        distributor=is_distributor(actor),
        **template_values(page, currency),
    )


@router.get("/funds/allocate")
def allocate_form(
    page: ActingPage,
    db: DB,
    customer_id: str = "",
    indirect_partner_id: str = "",
    action: str = "allocate",
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    form = {
        "customer_id": customer_id.strip(),
        "indirect_partner_id": indirect_partner_id.strip(),
        "action": "reclaim" if action == "reclaim" else "allocate",
        "amount": "",
        "reason": "",
    }
    return _allocate_page(page, db, actor, form)


@router.post("/funds/allocate")
def allocate(
    *,
    page: ActingPage,
    db: DB,
    action: TextField = "allocate",
    customer_id: TextField = "",
    amount: TextField = "",
    reason: TextField = "",
    indirect_partner_id: TextField = "",
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    form = {
        "action": "reclaim" if action == "reclaim" else "allocate",
        "customer_id": customer_id.strip(),
        "amount": amount.strip(),
        "reason": reason.strip(),
        "indirect_partner_id": indirect_partner_id.strip(),
    }
    try:
        problems: list[FieldProblem] = []
        if not form["customer_id"]:
            problems.append(
                FieldProblem("customer_id", N_("Choose a customer or enter its ID."))
            )
        try:
            minor = inputs.amount(form["amount"])
        except InvalidInput as invalid:
            problems += invalid.problems
        if problems:
            raise InvalidInput(problems=problems)
        move = service.reclaim if form["action"] == "reclaim" else service.allocate
        result = move(
            db,
            actor,
            customer_id=form["customer_id"],
            amount=minor,
            indirect_partner_id=form["indirect_partner_id"] or None,
            reason=inputs.reason(reason),
            currency=page.settings.currency,
        )
    except DomainError as error:
        db.rollback()
        return _allocate_page(
            page,
            db,
            actor,
            form,
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    text = (
        N_("%(amount)s reclaimed from %(customer)s. Transfer ID: %(transfer)s.")
        if result.kind is TransferKind.RECLAIM
        else N_("%(amount)s allocated to %(customer)s. Transfer ID: %(transfer)s.")
    )
    message = page.tr.gettext(text) % {
        "amount": labels.money(page.tr, result.amount, result.currency),
        "customer": _name_of(db, result.counterparty_id),
        "transfer": result.transfer_id,
    }
    keep = {
        "action": form["action"],
        "indirect_partner_id": form["indirect_partner_id"],
    }
    return page.redirect("/funds/allocate" + _query(keep), message)


# -- a distributor's resellers ----------------------------------------------------------


def _distributor(page: Page, permission: Permission = Permission.FUNDS_VIEW) -> Actor:
    actor = partner_actor(page, permission)
    if not is_distributor(actor):
        raise Forbidden()
    return actor


def _resellers_page(
    page: Page,
    db: Session,
    actor: Actor,
    form: dict[str, str],
    *,
    offset: int = 0,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    currency = page.settings.currency
    found = queries.reseller_balances(
        db, actor.organisation_id, currency=currency, offset=offset, limit=PAGE_SIZE
    )
    return page.render(
        "ledger/funds_resellers.html",
        status_code=status_code,
        flash=take_flash(page.request),
        error=error,
        form=form,
        found=found,
        resellers=resellers_of(db, actor),
        balances=service.partner_balances(db, actor.organisation_id, currency),
        pager=Pager("/funds/resellers", found.total, found.offset, found.limit),
        **template_values(page, currency),
    )


@router.get("/funds/resellers")
def resellers_page(
    page: ActingPage, db: DB, reseller_id: str = "", offset: int = 0
) -> Response:
    actor = _distributor(page)
    form = {"reseller_id": reseller_id, "action": "fund", "amount": "", "reason": ""}
    return _resellers_page(page, db, actor, form, offset=offset)


@router.post("/funds/resellers")
def move_reseller_funds(
    *,
    page: ActingPage,
    db: DB,
    action: TextField = "fund",
    reseller_id: TextField = "",
    amount: TextField = "",
    reason: TextField = "",
) -> Response:
    actor = _distributor(page, Permission.FUNDS_TRANSFER)
    form = {
        "action": "reclaim" if action == "reclaim" else "fund",
        "reseller_id": reseller_id.strip(),
        "amount": amount.strip(),
        "reason": reason.strip(),
    }
    try:
        problems: list[FieldProblem] = []
        if not form["reseller_id"]:
            problems.append(FieldProblem("reseller_id", N_("Choose a reseller.")))
        try:
            minor = inputs.amount(form["amount"])
        except InvalidInput as invalid:
            problems += invalid.problems
        if problems:
            raise InvalidInput(problems=problems)
        move = (
            service.reclaim_from_reseller
            if form["action"] == "reclaim"
            else service.allocate_to_reseller
        )
        result = move(
            db,
            actor,
            reseller_id=form["reseller_id"],
            amount=minor,
            reason=inputs.reason(reason),
            currency=page.settings.currency,
        )
    except DomainError as error:
        db.rollback()
        return _resellers_page(
            page,
            db,
            actor,
            form,
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    text = (
        N_("%(amount)s reclaimed from %(reseller)s. Transfer ID: %(transfer)s.")
        if result.kind is TransferKind.INDIRECT_RECLAIM
        else N_("%(amount)s moved to %(reseller)s. Transfer ID: %(transfer)s.")
    )
    message = page.tr.gettext(text) % {
        "amount": labels.money(page.tr, result.amount, result.currency),
        "reseller": _name_of(db, result.counterparty_id),
        "transfer": result.transfer_id,
    }
    return page.redirect("/funds/resellers", message)


# -- adjust records (调账记录) ------------------------------------------------------------


def _adjust_filters(
    *, customer: str, kind: str, since: str, until: str, transfer: str
) -> dict[str, str]:
    return {
        "customer": customer.strip(),
        "kind": kind,
        "since": since.strip(),
        "until": until.strip(),
        "transfer": transfer.strip(),
    }


def _adjust_arguments(filters: dict[str, str], timezone: str) -> dict[str, Any]:
    start, end = inputs.time_range(filters["since"], filters["until"], timezone)
    return {
        "customer_id": filters["customer"] or None,
        "kinds": _kinds(filters["kind"], queries.ADJUST_KINDS),
        "since": start,
        "until": end,
        "transfer_id": filters["transfer"] or None,
    }


@router.get("/funds/adjust-records")
def adjust_records_page(
    page: ActingPage,
    db: DB,
    *,
    customer: str = "",
    kind: str = "",
    since: str = "",
    until: str = "",
    transfer: str = "",
    offset: int = 0,
) -> Response:
    actor = partner_actor(page)
    filters = _adjust_filters(
        customer=customer, kind=kind, since=since, until=until, transfer=transfer
    )
    error: FormError | None = None
    try:
        arguments = _adjust_arguments(filters, page.settings.display_timezone)
    except InvalidInput as invalid:
        error, arguments = form_error(invalid, page.tr), {}
    found = queries.adjust_records(
        db, actor.organisation_id, offset=offset, limit=PAGE_SIZE, **arguments
    )
    return page.render(
        "ledger/funds_adjust_records.html",
        status_code=400 if error else 200,
        error=error,
        filters=filters,
        found=found,
        kinds=queries.ADJUST_KINDS,
        actor_label=lambda record: _actor_label(page.tr, record),
        export_href="/funds/adjust-records/export.csv" + _query(filters),
        pager=Pager(
            "/funds/adjust-records",
            found.total,
            found.offset,
            found.limit,
            {name: value for name, value in filters.items() if value},
        ),
        **template_values(page, page.settings.currency),
    )


@router.get("/funds/adjust-records/export.csv")
def adjust_records_export(
    request: Request,
    page: ActingPage,
    *,
    customer: str = "",
    kind: str = "",
    since: str = "",
    until: str = "",
    transfer: str = "",
) -> Response:
    actor = partner_actor(page)
    timezone = page.settings.display_timezone
    filters = _adjust_filters(
        customer=customer, kind=kind, since=since, until=until, transfer=transfer
    )
    arguments = _adjust_arguments(filters, timezone)
    tr = page.tr
    header = [
        tr.gettext(text)
        for text in (
            N_("Time"),
            N_("Transfer ID"),
            N_("Type"),
            N_("Counterparty"),
            N_("Counterparty ID"),
            N_("Amount"),
            N_("Currency"),
            N_("Reason"),
            N_("Operator"),
        )
    ]

    def cells(record: queries.AdjustRecord) -> list[str]:
        return [
            tr.format_datetime(record.created_at, timezone),
            record.transfer_id,
            labels.kind_label(tr, record.kind, not record.own),
            record.counterparty_name or "",
            record.counterparty_id or "",
            labels.plain_amount(record.signed_amount),
            record.currency,
            record.reason or "",
            _actor_label(tr, record),
        ]

    def pieces(session: Session) -> Iterator[str]:
        rows = queries.iter_adjust_records(session, actor.organisation_id, **arguments)
        return queries.csv_stream(header, rows, cells)

    return csv_download(request, "adjust-records", pieces, timezone)


# -- statements (收支明细) ----------------------------------------------------------------


def _statement_filters(
    *, kind: str, direction: str, since: str, until: str
) -> dict[str, str]:
    return {
        "kind": kind,
        "direction": direction if direction in DIRECTION_LABELS else "",
        "since": since.strip(),
        "until": until.strip(),
    }


def _statement_arguments(
    filters: dict[str, str], kinds: Collection[TransferKind], timezone: str
) -> dict[str, Any]:
    start, end = inputs.time_range(filters["since"], filters["until"], timezone)
    return {
        "kinds": _kinds(filters["kind"], kinds),
        "direction": _direction(filters["direction"]),
        "since": start,
        "until": end,
    }


def _statement_csv(
    request: Request,
    page: Page,
    *,
    organisation_id: str,
    account_kind: AccountKind,
    arguments: dict[str, Any],
    name: str,
) -> Response:
    tr = page.tr
    timezone = page.settings.display_timezone
    currency = page.settings.currency
    header = [
        tr.gettext(text)
        for text in (
            N_("Time"),
            N_("Transfer ID"),
            N_("Type"),
            N_("Amount"),
            N_("Balance after"),
            N_("Currency"),
            N_("Counterparty"),
            N_("Counterparty ID"),
            N_("Reason"),
        )
    ]

    def cells(line: queries.StatementLine) -> list[str]:
        return [
            tr.format_datetime(line.created_at, timezone),
            line.transfer_id,
            labels.kind_label(tr, line.kind, line.organisation_id != organisation_id),
            labels.plain_amount(line.amount),
            labels.plain_amount(line.balance_after),
            line.currency,
            line.counterparty_name or "",
            line.counterparty_id or "",
            line.reason or "",
        ]

    def pieces(session: Session) -> Iterator[str]:
        rows = queries.iter_statement(
            session, organisation_id, account_kind, currency=currency, **arguments
        )
        return queries.csv_stream(header, rows, cells)

    return csv_download(request, name, pieces, timezone)


@router.get("/funds/statement")
def statement_page(
    page: ActingPage,
    db: DB,
    *,
    kind: str = "",
    direction: str = "",
    since: str = "",
    until: str = "",
    offset: int = 0,
) -> Response:
    actor = partner_actor(page)
    currency = page.settings.currency
    filters = _statement_filters(
        kind=kind, direction=direction, since=since, until=until
    )
    error: FormError | None = None
    try:
        arguments = _statement_arguments(
            filters, labels.PARTNER_STATEMENT_KINDS, page.settings.display_timezone
        )
    except InvalidInput as invalid:
        error, arguments = form_error(invalid, page.tr), {}
    found = queries.statement(
        db,
        actor.organisation_id,
        AccountKind.PARTNER_CASH,
        offset=offset,
        limit=PAGE_SIZE,
        currency=currency,
        **arguments,
    )
    return page.render(
        "ledger/funds_statement.html",
        status_code=400 if error else 200,
        error=error,
        filters=filters,
        found=found,
        kinds=labels.PARTNER_STATEMENT_KINDS,
        directions=[(code, page.tr.gettext(t)) for code, t in DIRECTION_LABELS.items()],
        balances=service.partner_balances(db, actor.organisation_id, currency),
        export_href="/funds/statement/export.csv" + _query(filters),
        pager=Pager(
            "/funds/statement",
            found.total,
            found.offset,
            found.limit,
            {name: value for name, value in filters.items() if value},
        ),
        **template_values(page, currency),
    )


@router.get("/funds/statement/export.csv")
def statement_export(
    request: Request,
    page: ActingPage,
    *,
    kind: str = "",
    direction: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    actor = partner_actor(page)
    filters = _statement_filters(
        kind=kind, direction=direction, since=since, until=until
    )
    arguments = _statement_arguments(
        filters, labels.PARTNER_STATEMENT_KINDS, page.settings.display_timezone
    )
    return _statement_csv(
        request,
        page,
        organisation_id=actor.organisation_id,
        account_kind=AccountKind.PARTNER_CASH,
        arguments=arguments,
        name="statement",
    )


# -- the customer's own funds -----------------------------------------------------------

POCKETS = {
    "allocated": AccountKind.CUSTOMER_ALLOCATED,
    "cash": AccountKind.CUSTOMER_CASH,
}


def _pocket(value: str, balances: service.CustomerBalances) -> str:
    """The statement shown: the one asked for, else the pocket the customer spends from."""
    if value in POCKETS:
        return value
    return "allocated" if balances.resale else "cash"


@router.get("/my-funds")
def my_funds(
    page: ActingPage,
    db: DB,
    *,
    pocket: str = "",
    kind: str = "",
    direction: str = "",
    since: str = "",
    until: str = "",
    offset: int = 0,
) -> Response:
    actor = customer_actor(page)
    currency = page.settings.currency
    balances = service.customer_balances(db, actor.organisation_id, currency)
    shown = _pocket(pocket, balances)
    filters = {
        "pocket": shown,
        **_statement_filters(kind=kind, direction=direction, since=since, until=until),
    }
    error: FormError | None = None
    try:
        arguments = _statement_arguments(
            filters, labels.CUSTOMER_STATEMENT_KINDS, page.settings.display_timezone
        )
    except InvalidInput as invalid:
        error, arguments = form_error(invalid, page.tr), {}
    found = queries.statement(
        db,
        actor.organisation_id,
        POCKETS[shown],
        offset=offset,
        limit=PAGE_SIZE,
        currency=currency,
        **arguments,
    )
    return page.render(
        "ledger/my_funds.html",
        status_code=400 if error else 200,
        error=error,
        balances=balances,
        filters=filters,
        found=found,
        kinds=labels.CUSTOMER_STATEMENT_KINDS,
        directions=[(code, page.tr.gettext(t)) for code, t in DIRECTION_LABELS.items()],
        export_href="/my-funds/export.csv" + _query(filters),
        pager=Pager(
            "/my-funds",
            found.total,
            found.offset,
            found.limit,
            {name: value for name, value in filters.items() if value},
        ),
        **template_values(page, currency),
    )


@router.get("/my-funds/export.csv")
def my_funds_export(
    request: Request,
    page: ActingPage,
    db: DB,
    *,
    pocket: str = "",
    kind: str = "",
    direction: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    actor = customer_actor(page)
    balances = service.customer_balances(
        db, actor.organisation_id, page.settings.currency
    )
    shown = _pocket(pocket, balances)
    filters = _statement_filters(
        kind=kind, direction=direction, since=since, until=until
    )
    arguments = _statement_arguments(
        filters, labels.CUSTOMER_STATEMENT_KINDS, page.settings.display_timezone
    )
    return _statement_csv(
        request,
        page,
        organisation_id=actor.organisation_id,
        account_kind=POCKETS[shown],
        arguments=arguments,
        name=f"funds-{shown}",
    )


navigation.register("/funds", N_("Funds"), navigation.PARTNERS, Permission.FUNDS_VIEW)
navigation.register(
    "/my-funds", N_("My funds"), navigation.CUSTOMERS, Permission.CUSTOMER_SELF
)
