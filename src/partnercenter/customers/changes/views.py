"""Console pages for changing associations: the partner's requests, records and change
forms, and the customer's own partner page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import DomainError, FieldProblem, Forbidden, InvalidInput
from partnercenter.core.i18n import N_, Translator
from partnercenter.customers import service as customers
from partnercenter.customers.changes import records, rules, service
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationRequest,
    RequestKind,
    RequestParty,
    RequestStatus,
)
from partnercenter.customers.visibility import can_view_customers, has_resellers_tab
from partnercenter.identity.models import Organisation
from partnercenter.identity.permissions import Permission
from partnercenter.web import navigation
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

TextField = Annotated[str, Form()]

REQUEST_LABELS = {
    (RequestKind.DISASSOCIATE, None): N_("Disassociate"),
    (RequestKind.SWITCH_MODE, AssociationMode.RESALE): N_("Switch to resale"),
    (RequestKind.SWITCH_MODE, AssociationMode.CONSULTING): N_(
        "Switch to consulting sale"
    ),
    (RequestKind.ASSOCIATE, AssociationMode.RESALE): N_("Associate (resale)"),
    (RequestKind.ASSOCIATE, AssociationMode.CONSULTING): N_(
        "Associate (consulting sale)"
    ),
}
STATUS_LABELS = {
    RequestStatus.PENDING: N_("Waiting for an answer"),
    RequestStatus.ACCEPTED: N_("Agreed"),
    RequestStatus.REJECTED: N_("Rejected"),
    RequestStatus.CANCELLED: N_("Withdrawn"),
}
STATUS_BADGES = {
    RequestStatus.PENDING: "warn",
    RequestStatus.ACCEPTED: "ok",
    RequestStatus.REJECTED: "bad",
}
MODE_MEANINGS = {
    AssociationMode.CONSULTING: [
        N_("You pay the vendor yourself; your partner advises you."),
        N_("The vendor invoices you."),
        N_("You sign the contract online with the vendor."),
    ],
    AssociationMode.RESALE: [
        N_("Your partner allocates funds to you; you spend only what it allocates."),
        N_("Your partner invoices you."),
        N_("You sign the contract offline with your partner."),
    ],
}


def _request_label(request: AssociationRequest, tr: Translator) -> str:
    target = None if request.kind is RequestKind.DISASSOCIATE else request.target_mode
    return tr.gettext(REQUEST_LABELS.get((request.kind, target), str(request.kind)))


def _error(error: DomainError, tr: Translator) -> FormError:
    """A form error listing every reason, also when several share one field."""
    shown = form_error(error, tr)
    if isinstance(error, customers.AssociationRefused):
        shown.problems = {r.code: tr.gettext(r.message) for r in error.refusals}
    return shown


def _mode(value: str) -> AssociationMode | None:
    try:
        return AssociationMode(value)
    except ValueError:
        return None


def _names(db: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = db.execute(
        select(Organisation.id, Organisation.display_name).where(
            Organisation.id.in_(wanted)
        )
    )
    return {row.id: row.display_name for row in rows}


def _common(page: Page) -> dict[str, Any]:
    tr = page.tr
    return {
        "flash": take_flash(page.request),
        "request_label": lambda request: _request_label(request, tr),
        "status_label": lambda status: tr.gettext(STATUS_LABELS[status]),
        "status_badges": STATUS_BADGES,
        "mode_label": lambda mode: records.label(records.MODE_LABELS, mode, tr),
        "kind_label": lambda kind: records.label(records.KIND_LABELS, kind, tr),
        "outcome_label": lambda value: records.label(records.OUTCOME_LABELS, value, tr),
        "party_label": lambda value: records.label(records.PARTY_LABELS, value, tr),
        "problem_text": lambda problem: problem.render(tr),
    }


# -- the partner's requests -------------------------------------------------------------


@router.get("/customers/requests")
def requests_page(page: ActingPage, db: DB) -> Response:
    return _requests_page(page, db)


def _requests_page(
    page: Page, db: Session, *, error: DomainError | None = None, status: int = 200
) -> Response:
    actor = require(page, Permission.CUSTOMERS_MANAGE)
    rows = service.partner_requests(db, actor)
    pending = [r for r in rows if r.status is RequestStatus.PENDING]
    blockers: dict[str, list[FieldProblem]] = {}
    for request in pending:
        association = customers.active_association(db, request.customer_id)
        if request.kind is not RequestKind.ASSOCIATE and association is not None:
            blockers[request.id] = service.blockers_for(
                db, association, request.kind, request.target_mode
            )
    return page.render(
        "changes/requests.html",
        status_code=status,
        to_answer=[r for r in pending if r.initiated_by is RequestParty.CUSTOMER],
        waiting=[r for r in pending if r.initiated_by is RequestParty.PARTNER],
        answered=[r for r in rows if r.status is not RequestStatus.PENDING][:50],
        blockers=blockers,
        names=_names(db, (r.customer_id for r in rows)),
        error=_error(error, page.tr) if error else None,
        **_common(page),
    )


@router.post("/customers/requests/{request_id}/agree")
def agree(page: ActingPage, db: DB, request_id: str) -> Response:
    actor = require(page, Permission.CUSTOMERS_MANAGE)
    try:
        service.decide_customer_request(
            db, actor, page.settings, request_id, agree=True
        )
    except DomainError as error:
        _keep_refusal_records(db, error)
        return _requests_page(page, db, error=error, status=error.status)
    return page.redirect(
        "/customers/requests", page.tr.gettext("The request was accepted.")
    )


@router.post("/customers/requests/{request_id}/reject")
def reject(
    page: ActingPage, db: DB, request_id: str, decision_reason: TextField = ""
) -> Response:
    actor = require(page, Permission.CUSTOMERS_MANAGE)
    try:
        service.decide_customer_request(
            db, actor, page.settings, request_id, agree=False, reason=decision_reason
        )
    except DomainError as error:
        db.rollback()
        return _requests_page(page, db, error=error, status=error.status)
    return page.redirect(
        "/customers/requests", page.tr.gettext("The request was rejected.")
    )


@router.post("/customers/requests/{request_id}/cancel")
def cancel(page: ActingPage, db: DB, request_id: str) -> Response:
    actor = require(page, Permission.CUSTOMERS_MANAGE)
    try:
        service.cancel_request(db, actor, page.settings, request_id)
    except DomainError as error:
        db.rollback()
        return _requests_page(page, db, error=error, status=error.status)
    return page.redirect(
        "/customers/requests", page.tr.gettext("Your request was withdrawn.")
    )


def _keep_refusal_records(db: Session, error: DomainError) -> None:
    # A refused change keeps its record (written before the error was raised); anything
    # else that failed is undone.
    if isinstance(error, rules.ChangeRefused | customers.AssociationRefused):
        db.commit()
    else:
        db.rollback()


# -- the partner's change page for one customer -----------------------------------------


@router.get("/customers/changes/{customer_id}")
def change_page(page: ActingPage, db: DB, customer_id: str) -> Response:
    return _change_page(page, db, customer_id)


def _change_page(
    page: Page,
    db: Session,
    customer_id: str,
    *,
    error: DomainError | None = None,
    status: int = 200,
) -> Response:
    actor = require(page, Permission.CUSTOMERS_MANAGE)
    association = service.partners_association(db, actor, customer_id)
    other = (
        AssociationMode.CONSULTING
        if association.mode is AssociationMode.RESALE
        else AssociationMode.RESALE
    )
    return page.render(
        "changes/change.html",
        status_code=status,
        association=association,
        customer_name=_names(db, [customer_id]).get(customer_id, customer_id),
        other_mode=other,
        pending=service.pending_request(db, association),
        too_soon=rules.partner_frequency(
            db,
            partner_id=actor.organisation_id,
            customer_id=customer_id,
            now=utc_now(),
        ),
        leave_blockers=service.blockers_for(db, association, RequestKind.DISASSOCIATE),
        switch_blockers=service.blockers_for(
            db, association, RequestKind.SWITCH_MODE, other
        ),
        error=_error(error, page.tr) if error else None,
        **_common(page),
    )


@router.post("/customers/changes/{customer_id}/disassociate")
def start_disassociation(
    page: ActingPage, db: DB, customer_id: str, reason: TextField = ""
) -> Response:
    return _start(
        page,
        db,
        customer_id,
        kind=RequestKind.DISASSOCIATE,
        target_mode=None,
        reason=reason,
    )


@router.post("/customers/changes/{customer_id}/switch")
def start_switch(
    page: ActingPage,
    db: DB,
    customer_id: str,
    target_mode: TextField = "",
    reason: TextField = "",
) -> Response:
    mode = _mode(target_mode)
    return _start(
        page,
        db,
        customer_id,
        kind=RequestKind.SWITCH_MODE,
        target_mode=mode,
        reason=reason,
    )


def _start(
    page: Page,
    db: Session,
    customer_id: str,
    *,
    kind: RequestKind,
    target_mode: AssociationMode | None,
    reason: str,
) -> Response:
    actor = require(page, Permission.CUSTOMERS_MANAGE)
    try:
        service.start_partner_request(
            db,
            actor,
            page.settings,
            customer_id=customer_id,
            kind=kind,
            target_mode=target_mode,
            reason=reason,
        )
    except DomainError as error:
        db.rollback()
        return _change_page(page, db, customer_id, error=error, status=error.status)
    return page.redirect(
        f"/customers/changes/{customer_id}",
        page.tr.gettext("The request was sent; the customer must confirm it."),
    )


# -- association records: the partner's, an account manager's, the vendor's ----------------


def _day(value: str, field: str, timezone: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            problems=[FieldProblem(field, N_("Enter a date as YYYY-MM-DD."))]
        ) from None
    local = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC)


def record_query(
    *,
    customer: str,
    kind: str,
    outcome: str,
    since: str,
    until: str,
    offset: int,
    timezone: str,
    partner: str = "",
) -> records.RecordQuery:
    """The query of the filter form; ``until`` is a day included in the results."""
    last = _day(until, "until", timezone)
    return records.RecordQuery(
        partner_id=partner.strip() or None,
        customer_id=customer.strip() or None,
        kind=kind or None,
        outcome=outcome or None,
        since=_day(since, "since", timezone),
        until=last + dt.timedelta(days=1) if last else None,
        offset=max(offset, 0),
        limit=records.MAX_PAGE // 4,
    )


def _partner_reader(page: Page) -> Actor:
    """A partner's user who may see its customers, all of them or those assigned."""
    if page.actor is None or page.actor.is_vendor or not can_view_customers(page.actor):
        raise Forbidden()
    return page.actor


def _vendor_reader(page: Page) -> Actor:
    actor = require(page, Permission.PARTNERS_VIEW)
    if not actor.is_vendor:
        raise Forbidden()
    return actor


@dataclass
class RecordFilters:
    """The filter form of a records page, as query parameters. The partner is asked of
    those who read several partners' rows: vendor staff, and a distributor (its
    resellers')."""

    partner: str = ""
    customer: str = ""
    kind: str = ""
    outcome: str = ""
    since: str = ""
    until: str = ""


def _reads_several_partners(actor: Actor) -> bool:
    return actor.is_vendor or has_resellers_tab(actor)


def _filters(actor: Actor, form: RecordFilters) -> dict[str, str]:
    filters = asdict(form)
    if not _reads_several_partners(actor):
        del filters["partner"]
    return filters


def _records_page(
    page: Page, db: Session, actor: Actor, form: RecordFilters, offset: int
) -> Response:
    vendor = actor.is_vendor
    base_path = "/vendor/association-records" if vendor else "/customers/records"
    filters = _filters(actor, form)
    error: FormError | None = None
    status = 200
    try:
        query = record_query(
            **filters, offset=offset, timezone=page.settings.display_timezone
        )
    except InvalidInput as invalid:
        error, query = form_error(invalid, page.tr), records.RecordQuery()
        status = invalid.status
    found = records.find(db, actor, query)
    export = urlencode({name: value for name, value in filters.items() if value})
    return page.render(
        "changes/records.html",
        found=found,
        filters=filters,
        names=records.names(db, found.rows),
        kinds=records.KIND_LABELS,
        outcomes=records.OUTCOME_LABELS,
        base_path=base_path,
        show_partner=_reads_several_partners(actor),
        export_href=f"{base_path}/export.csv" + (f"?{export}" if export else ""),
        error=error,
        status_code=status,
        **_common(page),
    )


def _records_export(
    page: Page, db: Session, actor: Actor, form: RecordFilters
) -> Response:
    timezone = page.settings.display_timezone
    query = record_query(**_filters(actor, form), offset=0, timezone=timezone)
    text = records.export_csv(db, actor, query, page.tr, timezone=timezone)
    return csv_response(text)


@router.get("/customers/records")
def records_page(
    page: ActingPage,
    db: DB,
    form: Annotated[RecordFilters, Depends()],
    offset: int = 0,
) -> Response:
    return _records_page(page, db, _partner_reader(page), form, offset)


@router.get("/customers/records/export.csv")
def export_records(
    page: ActingPage, db: DB, form: Annotated[RecordFilters, Depends()]
) -> Response:
    return _records_export(page, db, _partner_reader(page), form)


@router.get("/vendor/association-records")
def vendor_records_page(
    page: ActingPage,
    db: DB,
    form: Annotated[RecordFilters, Depends()],
    offset: int = 0,
) -> Response:
    return _records_page(page, db, _vendor_reader(page), form, offset)


@router.get("/vendor/association-records/export.csv")
def vendor_export_records(
    page: ActingPage, db: DB, form: Annotated[RecordFilters, Depends()]
) -> Response:
    return _records_export(page, db, _vendor_reader(page), form)


def csv_response(text: str) -> Response:
    day = utc_now().date().isoformat()
    return Response(
        ("\ufeff" + text).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="association-records-{day}.csv"'
        },
    )


# -- the customer's partner page --------------------------------------------------------


@router.get("/my-partner")
def my_partner(page: ActingPage, db: DB) -> Response:
    return _my_partner(page, db)


def _my_partner(
    page: Page, db: Session, *, error: DomainError | None = None, status: int = 200
) -> Response:
    actor = require(page, Permission.CUSTOMER_SELF)
    association = customers.active_association(db, actor.organisation_id)
    rows = service.customer_requests(db, actor)
    pending = [r for r in rows if r.status is RequestStatus.PENDING]
    own_records = records.find(db, actor, records.RecordQuery(limit=20))
    return page.render(
        "changes/my_partner.html",
        status_code=status,
        association=association,
        meanings=[page.tr.gettext(line) for line in MODE_MEANINGS[association.mode]]
        if association
        else [],
        to_answer=[r for r in pending if r.initiated_by is RequestParty.PARTNER],
        waiting=[r for r in pending if r.initiated_by is RequestParty.CUSTOMER],
        blockers=_customer_blockers(db, association, pending),
        too_soon=rules.customer_frequency(
            db, customer_id=actor.organisation_id, now=utc_now()
        ),
        own_records=own_records.rows,
        names=_names(
            db,
            [association.organisation_id if association else None]
            + [r.organisation_id for r in rows]
            + [r.organisation_id for r in own_records.rows],
        ),
        modes=list(AssociationMode),
        error=_error(error, page.tr) if error else None,
        **_common(page),
    )


def _customer_blockers(
    db: Session, association: Association | None, pending: list[AssociationRequest]
) -> dict[str, list[FieldProblem]]:
    if association is None:
        return {}
    return {
        r.id: service.blockers_for(db, association, r.kind, r.target_mode)
        for r in pending
        if r.kind is not RequestKind.ASSOCIATE
    }


@router.post("/my-partner/disassociate")
def ask_to_leave(page: ActingPage, db: DB, reason: TextField = "") -> Response:
    actor = require(page, Permission.CUSTOMER_SELF)
    try:
        service.request_disassociation(db, actor, page.settings, reason=reason)
    except DomainError as error:
        db.rollback()
        return _my_partner(page, db, error=error, status=error.status)
    return page.redirect(
        "/my-partner",
        page.tr.gettext("Your request was sent; your partner will answer it."),
    )


@router.post("/my-partner/associate")
def ask_to_join(
    page: ActingPage, db: DB, partner: TextField = "", mode: TextField = ""
) -> Response:
    actor = require(page, Permission.CUSTOMER_SELF)
    chosen = _mode(mode)
    try:
        service.request_association(
            db,
            actor,
            page.settings,
            partner_account_name=partner,
            mode=chosen or AssociationMode.CONSULTING,
        )
    except DomainError as error:
        db.rollback()
        return _my_partner(page, db, error=error, status=error.status)
    return page.redirect(
        "/my-partner",
        page.tr.gettext("Your request was sent; the partner will answer it."),
    )


@router.post("/my-partner/requests/{request_id}/confirm")
def confirm(page: ActingPage, db: DB, request_id: str) -> Response:
    actor = require(page, Permission.CUSTOMER_SELF)
    try:
        service.answer_partner_request(
            db, actor, page.settings, request_id, confirm=True
        )
    except DomainError as error:
        _keep_refusal_records(db, error)
        return _my_partner(page, db, error=error, status=error.status)
    return page.redirect(
        "/my-partner", page.tr.gettext("You confirmed the change; it is now in effect.")
    )


@router.post("/my-partner/requests/{request_id}/refuse")
def refuse(
    page: ActingPage, db: DB, request_id: str, decision_reason: TextField = ""
) -> Response:
    actor = require(page, Permission.CUSTOMER_SELF)
    try:
        service.answer_partner_request(
            db, actor, page.settings, request_id, confirm=False, reason=decision_reason
        )
    except DomainError as error:
        db.rollback()
        return _my_partner(page, db, error=error, status=error.status)
    return page.redirect(
        "/my-partner", page.tr.gettext("You refused the change; nothing changes.")
    )


ASSOCIATING_PARTNERS = frozenset({"solution_provider", "reseller"})
"""Partners that associate customers; a distributor's resellers do it for it."""

navigation.register(
    "/customers/requests",
    N_("Customer requests"),
    ASSOCIATING_PARTNERS,
    Permission.CUSTOMERS_MANAGE,
)
navigation.register(
    "/customers/records",
    N_("Association records"),
    navigation.PARTNERS,
    Permission.CUSTOMERS_VIEW_ALL,
)
navigation.register(
    "/customers/records",
    N_("Association records"),
    navigation.PARTNERS,
    Permission.CUSTOMERS_VIEW_ASSIGNED,
)
navigation.register(
    "/vendor/association-records",
    N_("Association records"),
    navigation.VENDOR,
    Permission.PARTNERS_VIEW,
)
navigation.register(
    "/my-partner", N_("My partner"), navigation.CUSTOMERS, Permission.CUSTOMER_SELF
)
