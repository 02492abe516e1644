"""Console pages of opportunities: the partner's list, form and detail; the vendor's queue,
list, decisions and sharing of HOs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.admin import service as admin
from partnercenter.admin.paging import Pager
from partnercenter.admin.regions import region_choices, region_name
from partnercenter.core.errors import DomainError, NotFound
from partnercenter.core.i18n import N_
from partnercenter.core.money import to_decimal
from partnercenter.identity.models import Organisation, OrganisationKind, User
from partnercenter.identity.permissions import Permission
from partnercenter.ledger.console.common import csv_download
from partnercenter.ledger.queries import csv_stream
from partnercenter.opportunities import queries, service
from partnercenter.opportunities.models import (
    Opportunity,
    Origin,
    RejectionReason,
    State,
)
from partnercenter.opportunities.rules import (
    REASON_LABELS,
    REVIEWER_REASONS,
    SERVICES,
    STATE_LABELS,
    Action,
    actions_from,
)
from partnercenter.opportunities.service import OpportunityForm
from partnercenter.web import navigation
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import form_error

router = APIRouter()
PAGE_SIZE = 50

navigation.register(
    "/opportunities",
    N_("Opportunities"),
    navigation.PARTNERS,
    Permission.OPPORTUNITIES_VIEW,
)
for _permission in (
    Permission.OPPORTUNITIES_REVIEW,
    Permission.OPPORTUNITIES_VALIDATE,
    Permission.OPPORTUNITIES_ALL_REGIONS,
):
    navigation.register(
        "/vendor/opportunities", N_("Opportunities"), navigation.VENDOR, _permission
    )

TextField = Annotated[str, Form()]
BADGES = {
    State.ACCEPTED: "ok",
    State.WON: "ok",
    State.IN_REVIEW: "warn",
    State.IN_VALIDATION: "warn",
    State.SHARED: "warn",
    State.REJECTED: "bad",
    State.CANCELLED: "bad",
    State.LOST: "bad",
}


def _helpers(page: Page, db: Session) -> dict[str, Any]:
    """What every template of this module uses to show states, reasons and deadlines."""
    tr = page.tr

    def amount(minor: int | None, currency: str) -> str:
        return "—" if minor is None else tr.format_money(to_decimal(minor), currency)

    def reason_label(reason: str | None) -> str:
        return tr.gettext(REASON_LABELS[RejectionReason(reason)]) if reason else ""

    def service_label(code: str) -> str:
        return tr.gettext(SERVICES[code]) if code in SERVICES else code

    return {
        "state_label": lambda state: tr.gettext(STATE_LABELS[State(state)]),
        "badge": lambda state: BADGES.get(State(state), ""),
        "reason_label": reason_label,
        "service_label": service_label,
        "region_label": lambda code: region_name(code, tr),
        "amount": amount,
        "clock_of": lambda row: queries.clock(db, row),
        "states": [
            (s.value, tr.gettext(label))
            for s, label in STATE_LABELS.items()
            if s is not State.DELETED
        ],
    }


@dataclass(frozen=True, slots=True)
class ListArgs:
    """The list's filters as they came in the query string."""

    state: str = ""
    q: str = ""
    origin: str = ""
    at_risk: str = ""

    @property
    def filters(self) -> queries.Filters:
        return queries.Filters(
            state=State(self.state) if self.state in set(State) else None,
            origin=Origin(self.origin) if self.origin in set(Origin) else None,
            search=self.q,
            at_risk=self.at_risk == "1",
        )

    @property
    def params(self) -> dict[str, str]:
        values = {
            "state": self.state,
            "q": self.q,
            "origin": self.origin,
            "at_risk": self.at_risk,
        }
        return {key: value for key, value in values.items() if value}


Args = Annotated[ListArgs, Depends()]


# -- lists ------------------------------------------------------------------------------


@router.get("/opportunities")
def partner_list(page: ActingPage, db: DB, args: Args, offset: int = 0) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_VIEW)
    if actor.is_vendor:
        raise NotFound()
    return _list(page, db, "/opportunities", args, offset=offset)


@router.get("/vendor/opportunities")
def vendor_list(page: ActingPage, db: DB, args: Args, offset: int = 0) -> Response:
    actor = _vendor(page)
    return _list(
        page,
        db,
        "/vendor/opportunities",
        args,
        offset=offset,
        waiting=queries.queue(db, actor),
    )


def _list(
    page: Page,
    db: Session,
    path: str,
    args: ListArgs,
    *,
    offset: int,
    waiting: object = None,
) -> Response:
    assert page.actor is not None
    offset = max(offset, 0)
    rows, total = queries.find(
        db, page.actor, args.filters, offset=offset, limit=PAGE_SIZE
    )
    return page.render(
        "opportunities/list.html",
        flash=take_flash(page.request),
        path=path,
        rows=rows,
        pager=Pager(path, total, offset, PAGE_SIZE, args.params),
        filters=args,
        export_url=f"{path}/export.csv",
        params=args.params,
        pipeline=queries.pipeline(db, page.actor),
        waiting=waiting,
        is_vendor=page.actor.is_vendor,
        can_create=page.can(Permission.OPPORTUNITIES_MANAGE)
        and not page.actor.is_vendor,
        can_cover=page.actor.is_vendor and page.can(Permission.STAFF_MANAGE),
        can_share=page.actor.is_vendor and page.can(Permission.OPPORTUNITIES_VALIDATE),
        **_helpers(page, db),
    )


@router.get("/opportunities/export.csv")
@router.get("/vendor/opportunities/export.csv")
def export(page: ActingPage, args: Args) -> Response:
    assert page.actor is not None
    if page.actor.is_vendor:
        _vendor(page)
    else:
        require(page, Permission.OPPORTUNITIES_VIEW)
    actor, filters, tr = page.actor, args.filters, page.tr
    header = [
        tr.gettext(text)
        for text in (
            N_("Customer"),
            N_("Kind"),
            N_("State"),
            N_("Region"),
            N_("Services"),
            N_("Estimated amount"),
            N_("Currency"),
            N_("Submitted"),
            N_("Deadline"),
            N_("Rejection reason"),
        )
    ]

    def pieces(session: Session) -> Iterator[str]:
        rows = queries.every(session, actor, filters)
        return csv_stream(header, rows, lambda row: _csv_cells(page, row))

    return csv_download(
        page.request, "opportunities", pieces, page.settings.display_timezone
    )


def _csv_cells(page: Page, row: Opportunity) -> list[str]:
    tr = page.tr
    return [
        row.customer_name,
        "PO" if row.origin is Origin.PARTNER else "HO",
        tr.gettext(STATE_LABELS[row.state]),
        row.routing_region,
        " ".join(row.services),
        str(to_decimal(row.estimated_amount_minor))
        if row.estimated_amount_minor is not None
        else "",
        row.currency,
        page.format_time(row.submitted_at or row.shared_at),
        page.format_time(row.due_at),
        tr.gettext(REASON_LABELS[row.rejection_reason]) if row.rejection_reason else "",
    ]


# -- the partner's form -----------------------------------------------------------------


async def _read_form(page: Page) -> tuple[OpportunityForm, str]:
    data = await page.request.form()

    def text(name: str) -> str:
        value = data.get(name, "")
        return value if isinstance(value, str) else ""

    form = OpportunityForm(
        customer_name=text("customer_name"),
        customer_industry=text("customer_industry"),
        customer_region=text("customer_region"),
        is_existing_customer=text("is_existing_customer") == "yes",
        contact_name=text("contact_name"),
        contact_phone=text("contact_phone"),
        budget=text("budget"),
        estimated_amount=text("estimated_amount"),
        expected_order_date=text("expected_order_date"),
        services=[v for v in data.getlist("services") if isinstance(v, str)],
        need_description=text("need_description"),
        solution_description=text("solution_description"),
        customer_authorised=text("customer_authorised") == "yes",
    )
    return form, text("intent")


def _form_page(
    page: Page,
    db: Session,
    form: OpportunityForm,
    *,
    action: str,
    error: DomainError | None = None,
    editing: Opportunity | None = None,
    partners: list[Organisation] | None = None,
    partner_id: str = "",
    more_partners: bool = False,
    partner_q: str = "",
) -> Response:
    return page.render(
        "opportunities/form.html",
        status_code=error.status if error else 200,
        form=form,
        action=action,
        editing=editing,
        error=form_error(error, page.tr) if error else None,
        regions=region_choices(page.tr),
        services=[(code, page.tr.gettext(label)) for code, label in SERVICES.items()],
        partners=partners,
        partner_id=partner_id,
        more_partners=more_partners,
        partner_q=partner_q,
        picker_limit=PICKER_LIMIT,
        **_helpers(page, db),
    )


@router.get("/opportunities/new")
def new_form(page: ActingPage, db: DB) -> Response:
    require(page, Permission.OPPORTUNITIES_MANAGE)
    return _form_page(page, db, OpportunityForm(), action="/opportunities")


@router.post("/opportunities")
async def create(page: ActingPage, db: DB) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_MANAGE)
    form, intent = await _read_form(page)
    try:
        row = service.save_draft(db, actor, page.settings, form)
        if intent == "submit":
            service.submit(db, actor, page.settings, row.id)
    except DomainError as error:
        db.rollback()
        return _form_page(page, db, form, action="/opportunities", error=error)
    return page.redirect(f"/opportunities/{row.id}", _saved_message(page, intent))


def _saved_message(page: Page, intent: str) -> str:
    if intent == "submit":
        return page.tr.gettext("The opportunity was submitted for review.")
    return page.tr.gettext("The draft was saved.")


@router.get("/opportunities/{opportunity_id}/edit")
def edit_form(page: ActingPage, db: DB, opportunity_id: str) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_MANAGE)
    row = queries.get(db, actor, opportunity_id)
    if row.state is not State.DRAFT:
        return page.redirect(f"/opportunities/{row.id}")
    return _form_page(
        page,
        db,
        OpportunityForm.of(row),
        action=f"/opportunities/{row.id}",
        editing=row,
    )


@router.post("/opportunities/{opportunity_id}")
async def update(page: ActingPage, db: DB, opportunity_id: str) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_MANAGE)
    form, intent = await _read_form(page)
    try:
        row = service.save_draft(db, actor, page.settings, form, opportunity_id)
        if intent == "submit":
            service.submit(db, actor, page.settings, row.id)
    except DomainError as error:
        db.rollback()
        editing = queries.get(db, actor, opportunity_id)
        return _form_page(
            page,
            db,
            form,
            action=f"/opportunities/{opportunity_id}",
            error=error,
            editing=editing,
        )
    return page.redirect(f"/opportunities/{row.id}", _saved_message(page, intent))


# -- detail pages -----------------------------------------------------------------------


@router.get("/opportunities/{opportunity_id}")
def partner_detail(page: ActingPage, db: DB, opportunity_id: str) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_VIEW)
    if actor.is_vendor:
        raise NotFound()
    return _detail(page, db, queries.get(db, actor, opportunity_id))


@router.get("/vendor/opportunities/{opportunity_id}")
def vendor_detail(page: ActingPage, db: DB, opportunity_id: str) -> Response:
    actor = _vendor(page)
    return _detail(page, db, queries.get(db, actor, opportunity_id))


def _detail(
    page: Page,
    db: Session,
    row: Opportunity,
    *,
    error: DomainError | None = None,
) -> Response:
    assert page.actor is not None
    vendor = page.actor.is_vendor
    names = _user_names(db, row, vendor)
    possible = actions_from(row.state)
    return page.render(
        "opportunities/detail.html",
        status_code=error.status if error else 200,
        flash=take_flash(page.request),
        row=row,
        is_vendor=vendor,
        base="/vendor/opportunities" if vendor else "/opportunities",
        clock=queries.clock(db, row),
        timeline=queries.timeline(db, row),
        duplicates=queries.duplicates(db, row) if vendor else [],
        names=names,
        can=_allowed(page, row, possible),
        reasons=[
            (r.value, page.tr.gettext(REASON_LABELS[r])) for r in REVIEWER_REASONS
        ],
        error=form_error(error, page.tr) if error else None,
        event_label=_event_label(page),
        **_helpers(page, db),
    )


def _allowed(page: Page, row: Opportunity, possible: dict[Action, Any]) -> set[str]:
    """Which action forms to show; the service still decides."""
    assert page.actor is not None
    shown: set[str] = set()
    vendor = page.actor.is_vendor
    holds = {
        "partner": not vendor and page.can(Permission.OPPORTUNITIES_MANAGE),
        "pdm": vendor and page.can(Permission.OPPORTUNITIES_REVIEW),
        "bd": vendor and page.can(Permission.OPPORTUNITIES_VALIDATE),
        "system": False,
    }
    for action, found in possible.items():
        if holds[found.party.value]:
            shown.add(action.value)
    return shown


def _user_names(db: Session, row: Opportunity, vendor: bool) -> dict[str, str]:
    ids = {row.created_by_user_id, row.reviewer_user_id, row.validator_user_id}
    users = db.scalars(select(User).where(User.id.in_([i for i in ids if i]))).all()
    # A partner sees the vendor's decisions, not the names of the staff who took them.
    own_side = (
        {row.created_by_user_id}
        if not vendor and row.origin is Origin.PARTNER
        else None
    )
    return {
        user.id: user.display_name
        for user in users
        if own_side is None or user.id in own_side
    }


EVENT_LABELS = {
    "opportunity.created": N_("Draft created"),
    "opportunity.edit": N_("Draft edited"),
    "opportunity.delete": N_("Draft deleted"),
    "opportunity.submit": N_("Submitted"),
    "opportunity.pass_review": N_("Passed review"),
    "opportunity.accept": N_("Accepted"),
    "opportunity.reject": N_("Rejected"),
    "opportunity.expire": N_("Rejected automatically: deadline passed"),
    "opportunity.rejected_as_duplicate": N_("Rejected as a duplicate"),
    "opportunity.cancel": N_("Cancelled"),
    "opportunity.update_progress": N_("Progress reported"),
    "opportunity.win": N_("Won"),
    "opportunity.lose": N_("Lost"),
    "opportunity.shared": N_("Shared with the partner"),
    "opportunity.deadline_recounted": N_("Deadline recounted after a calendar change"),
}


def _event_label(page: Page) -> Callable[[str], str]:
    return lambda action: page.tr.gettext(EVENT_LABELS.get(action, action))


# -- actions ----------------------------------------------------------------------------


def _act(
    page: Page,
    db: Session,
    opportunity_id: str,
    step: Callable[[], object],
    message: str,
) -> Response:
    assert page.actor is not None
    base = "/vendor/opportunities" if page.actor.is_vendor else "/opportunities"
    try:
        step()
    except DomainError as error:
        db.rollback()
        if isinstance(error, NotFound):
            raise
        row = queries.get(db, page.actor, opportunity_id)
        return _detail(page, db, row, error=error)
    return page.redirect(f"{base}/{opportunity_id}", page.tr.gettext(message))


@router.post("/opportunities/{opportunity_id}/submit")
def submit(page: ActingPage, db: DB, opportunity_id: str) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_MANAGE)
    return _act(
        page,
        db,
        opportunity_id,
        lambda: service.submit(db, actor, page.settings, opportunity_id),
        N_("The opportunity was submitted for review."),
    )


@router.post("/opportunities/{opportunity_id}/delete")
def delete(page: ActingPage, db: DB, opportunity_id: str) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_MANAGE)
    try:
        service.delete_draft(db, actor, opportunity_id)
    except DomainError as error:
        db.rollback()
        return _detail(page, db, queries.get(db, actor, opportunity_id), error=error)
    return page.redirect("/opportunities", page.tr.gettext("The draft was deleted."))


@router.post("/opportunities/{opportunity_id}/progress")
def progress(
    page: ActingPage,
    db: DB,
    opportunity_id: str,
    note: TextField = "",
    outcome: TextField = "",
) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_MANAGE)
    return _act(
        page,
        db,
        opportunity_id,
        lambda: service.update_progress(db, actor, opportunity_id, note, outcome),
        N_("The progress was saved."),
    )


@router.post("/opportunities/{opportunity_id}/accept")
@router.post("/vendor/opportunities/{opportunity_id}/accept")
def accept(
    page: ActingPage, db: DB, opportunity_id: str, comment: TextField = ""
) -> Response:
    assert page.actor is not None
    actor = page.actor
    return _act(
        page,
        db,
        opportunity_id,
        lambda: service.accept(db, actor, page.settings, opportunity_id, comment),
        N_("The opportunity was accepted."),
    )


@router.post("/opportunities/{opportunity_id}/reject")
@router.post("/vendor/opportunities/{opportunity_id}/reject")
def reject(
    page: ActingPage,
    db: DB,
    opportunity_id: str,
    reason: TextField = "",
    comment: TextField = "",
) -> Response:
    assert page.actor is not None
    actor = page.actor
    return _act(
        page,
        db,
        opportunity_id,
        lambda: service.reject(
            db, actor, page.settings, opportunity_id, reason=reason, comment=comment
        ),
        N_("The opportunity was rejected."),
    )


@router.post("/vendor/opportunities/{opportunity_id}/review")
def pass_review(
    page: ActingPage, db: DB, opportunity_id: str, comment: TextField = ""
) -> Response:
    actor = _vendor(page)
    return _act(
        page,
        db,
        opportunity_id,
        lambda: service.pass_review(db, actor, page.settings, opportunity_id, comment),
        N_("The opportunity passed review and is now in validation."),
    )


@router.post("/vendor/opportunities/{opportunity_id}/cancel")
def cancel(
    page: ActingPage, db: DB, opportunity_id: str, comment: TextField = ""
) -> Response:
    actor = _vendor(page)
    return _act(
        page,
        db,
        opportunity_id,
        lambda: service.cancel(db, actor, page.settings, opportunity_id, comment),
        N_("The opportunity was cancelled."),
    )


# -- sharing an HO ----------------------------------------------------------------------


PICKER_LIMIT = 200
"""Partners offered at once by the share form's picker; a search narrows them."""


def _partners(
    db: Session, search: str = "", chosen: str = ""
) -> tuple[list[Organisation], bool]:
    """Active partners whose name or account name holds ``search``, by name, at most
    :data:`PICKER_LIMIT` (and whether more matched); the ``chosen`` one is always there."""
    statement = admin.partner_statement(
        admin.PartnerFilter(search=search, status="active")
    )
    found = list(
        db.scalars(
            statement.order_by(Organisation.display_name, Organisation.id).limit(
                PICKER_LIMIT + 1
            )
        )
    )
    more = len(found) > PICKER_LIMIT
    found = found[:PICKER_LIMIT]
    if chosen and all(partner.id != chosen for partner in found):
        kept = db.get(Organisation, chosen)
        if kept is not None and kept.kind == OrganisationKind.PARTNER:
            found.insert(0, kept)
    return found, more


@router.get("/vendor/opportunities/share/new")
def share_form(page: ActingPage, db: DB, partner_q: str = "") -> Response:
    require(page, Permission.OPPORTUNITIES_VALIDATE)
    partners, more = _partners(db, partner_q)
    return _form_page(
        page,
        db,
        OpportunityForm(),
        action="/vendor/opportunities/share",
        partners=partners,
        more_partners=more,
        partner_q=partner_q,
        # One match is the partner looked for.
        partner_id=partners[0].id if partner_q.strip() and len(partners) == 1 else "",
    )


@router.post("/vendor/opportunities/share")
async def share(page: ActingPage, db: DB) -> Response:
    actor = require(page, Permission.OPPORTUNITIES_VALIDATE)
    form, _intent = await _read_form(page)
    data = await page.request.form()
    partner_id = str(data.get("partner_id", ""))
    try:
        row = service.share_with_partner(db, actor, page.settings, partner_id, form)
    except DomainError as error:
        db.rollback()
        partners, more = _partners(db, chosen=partner_id)
        return _form_page(
            page,
            db,
            form,
            action="/vendor/opportunities/share",
            error=error,
            partners=partners,
            more_partners=more,
            partner_id=partner_id,
        )
    return page.redirect(
        f"/vendor/opportunities/{row.id}",
        page.tr.gettext("The opportunity was shared with the partner."),
    )


def _vendor(page: Page) -> Any:
    actor = page.actor
    if actor is None or not actor.is_vendor:
        raise NotFound()
    if not any(
        actor.can(p)
        for p in (
            Permission.OPPORTUNITIES_REVIEW,
            Permission.OPPORTUNITIES_VALIDATE,
            Permission.OPPORTUNITIES_ALL_REGIONS,
        )
    ):
        require(page, Permission.OPPORTUNITIES_REVIEW)
    return actor


# -- which regions each PDM and BD covers -----------------------------------------------


@router.get("/vendor/opportunities/coverage/regions")
def coverage(page: ActingPage, db: DB) -> Response:
    actor = require(page, Permission.STAFF_MANAGE)
    return _coverage_page(page, db, actor)


@router.post("/vendor/opportunities/coverage/regions")
def set_coverage(
    page: ActingPage, db: DB, user_id: TextField = "", regions: TextField = ""
) -> Response:
    actor = require(page, Permission.STAFF_MANAGE)
    # Commas are accepted too, the full-width one of Chinese input included.
    codes = regions.replace(",", " ").replace("\uff0c", " ").split()
    try:
        service.set_staff_regions(db, actor, user_id, codes)
    except DomainError as error:
        db.rollback()
        return _coverage_page(page, db, actor, error=error)
    return page.redirect(
        "/vendor/opportunities/coverage/regions",
        page.tr.gettext("The regions were saved."),
    )


def _coverage_page(
    page: Page, db: Session, actor: Any, *, error: DomainError | None = None
) -> Response:
    staff = service.reviewing_staff(db, actor)
    return page.render(
        "opportunities/coverage.html",
        status_code=error.status if error else 200,
        flash=take_flash(page.request),
        staff=staff,
        error=form_error(error, page.tr) if error else None,
        **_helpers(page, db),
    )
