"""Console pages of customers: the partner's list and detail, the reseller's notice and the
vendor's look-up."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from partnercenter.admin.paging import Pager
from partnercenter.core.actor import Actor
from partnercenter.core.errors import DomainError, FieldProblem, Forbidden, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.customers import assignments, queries, tiers
from partnercenter.customers.models import AssociationMode, CustomerType
from partnercenter.customers.queries import CUSTOMER_PATH, CustomerFilter
from partnercenter.customers.visibility import (
    Tab,
    can_view_customers,
    has_resellers_tab,
)
from partnercenter.identity.models import RealNameStatus
from partnercenter.identity.permissions import Permission
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

MODE_LABELS = {
    AssociationMode.CONSULTING: N_("Consulting sale"),
    AssociationMode.RESALE: N_("Resale"),
}
TYPE_LABELS = {
    CustomerType.INDIVIDUAL: N_("Individual"),
    CustomerType.ENTERPRISE: N_("Enterprise"),
}
REAL_NAME_LABELS = {
    RealNameStatus.NONE: N_("Not verified"),
    RealNameStatus.REVIEWING: N_("Under review"),
    RealNameStatus.FAILED: N_("Verification failed"),
    RealNameStatus.VERIFIED: N_("Verified"),
}
FACT_LABELS = {
    "registered_by_vendor_sales": N_("Registered by the vendor's sales"),
    "other_site_account": N_("Account of another site"),
    "consumer_cloud_account": N_("Consumer-cloud account"),
    "vendor_internal_account": N_("Vendor-internal account"),
    "referral_program_member": N_("Referral-reward program member"),
    "holds_reserved_instances": N_("Holds unexpired reserved instances"),
    "owes_invoices": N_("Owes invoices"),
    "has_unspent_prepaid_cards": N_("Has unspent prepaid cards"),
    "has_unused_recharge_bonus": N_("Has an unused recharge bonus"),
    "has_special_contract": N_("Has a special contract"),
    "enterprise_master_with_non_custody_subs": N_(
        "Enterprise master with sub-accounts not in custody"
    ),
    "enterprise_sub_account": N_("Enterprise sub-account"),
}
RECORD_KINDS = {
    "associated": N_("Associated"),
    "account_manager_assigned": N_("Account manager assigned"),
    "disassociated": N_("Disassociated"),
    "mode_switched": N_("Mode switched"),
}
PARTIES = {
    "partner": N_("Partner"),
    "customer": N_("Customer"),
    "vendor": N_("Vendor"),
    "system": N_("System"),
}
OUTCOMES = {
    "succeeded": N_("Succeeded"),
    "refused": N_("Refused"),
    "pending": N_("Pending"),
}


def _labels(page: Page) -> dict[str, Any]:
    tr = page.tr.gettext
    return {
        "mode_label": lambda mode: (
            tr(MODE_LABELS[AssociationMode(mode)]) if mode else "—"
        ),
        "type_label": lambda kind: tr(TYPE_LABELS[kind]),
        "real_name_label": lambda status: tr(REAL_NAME_LABELS[status]),
        "record_kind": lambda kind: _known(page, RECORD_KINDS, kind),
        "outcome_label": lambda outcome: _known(page, OUTCOMES, outcome),
        "party_label": lambda party: _known(page, PARTIES, party),
        "modes": [(str(mode), tr(label)) for mode, label in MODE_LABELS.items()],
    }


def _known(page: Page, labels: dict[str, str], code: str) -> str:
    # Kinds added elsewhere before their label is here still show, by their code.
    label = labels.get(code)
    return page.tr.gettext(label) if label else code


def _viewer(page: Page) -> Actor:
    if page.actor is None or page.actor.is_vendor or not can_view_customers(page.actor):
        raise Forbidden()
    return page.actor


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


# -- the partner's list -----------------------------------------------------------------


@router.get("/customers")
def customer_list(
    *,
    page: ActingPage,
    db: DB,
    tab: str = "own",
    q: str = "",
    mode: str = "",
    label: str = "",
    manager: str = "",
    since: str = "",
    until: str = "",
    offset: int = 0,
) -> Response:
    actor = _viewer(page)
    shown_tab = (
        Tab.RESELLERS if tab == "resellers" and has_resellers_tab(actor) else Tab.OWN
    )
    filters = CustomerFilter(
        search=q,
        mode=mode,
        label=label,
        account_manager_id=manager,
        associated_from=_date(since),
        associated_to=_date(until),
        tab=shown_tab,
        offset=max(offset, 0),
    )
    return _list_page(page, db, actor, filters)


def _list_page(
    page: Page,
    db: DB,
    actor: Actor,
    filters: CustomerFilter,
    *,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    found = queries.list_customers(db, actor, filters)
    params = {
        "tab": str(filters.tab) if filters.tab is Tab.RESELLERS else "",
        "q": filters.search,
        "mode": filters.mode,
        "label": filters.label,
        "manager": filters.account_manager_id,
        "since": filters.associated_from.isoformat() if filters.associated_from else "",
        "until": filters.associated_to.isoformat() if filters.associated_to else "",
    }
    can_assign = (
        filters.tab is Tab.OWN
        and actor.can(Permission.CUSTOMERS_ASSIGN)
        and actor.can(Permission.CUSTOMERS_VIEW_ALL)
    )
    return page.render(
        "customers/list.html",
        status_code=status_code,
        flash=take_flash(page.request),
        error=error,
        filters=filters,
        params=params,
        rows=found.rows,
        pager=Pager(
            "/customers",
            found.total,
            filters.offset,
            filters.limit,
            {key: value for key, value in params.items() if value},
        ),
        tab=str(filters.tab),
        resellers_tab=has_resellers_tab(actor),
        can_assign=can_assign,
        sees_all=actor.can(Permission.CUSTOMERS_VIEW_ALL),
        managers=queries.account_managers(db, actor.organisation_id),
        labels=queries.labels_in_use(db, actor),
        **_labels(page),
    )


@router.post("/customers/batch")
def customer_batch(
    *,
    page: ActingPage,
    db: DB,
    action: Annotated[str, Form()] = "",
    customer_ids: Annotated[list[str] | None, Form()] = None,
    account_manager: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
) -> Response:
    actor = require(page, Permission.CUSTOMERS_ASSIGN)
    selected = customer_ids or []
    try:
        count = _apply_batch(
            db, actor, action, selected, account_manager=account_manager, label=label
        )
    except DomainError as error:
        return _list_page(
            page,
            db,
            _viewer(page),
            CustomerFilter(),
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    message = page.tr.ngettext(
        "%(num)d customer changed.", "%(num)d customers changed.", count
    ) % {"num": count}
    return page.redirect("/customers", message)


def _apply_batch(
    db: DB,
    actor: Actor,
    action: str,
    selected: list[str],
    *,
    account_manager: str,
    label: str,
) -> int:
    if action == "assign":
        return assignments.assign_account_manager(
            db, actor, selected, account_manager or None
        )
    if action == "label":
        return assignments.set_label(db, actor, selected, label)
    if action == "clear_label":
        return assignments.set_label(db, actor, selected, None)
    raise InvalidInput(
        problems=[FieldProblem("action", N_("Choose what to do with the selection."))]
    )


# -- the reseller's notice --------------------------------------------------------------


@router.get("/customers/notice")
def notice_page(page: ActingPage, db: DB) -> Response:
    actor = _reseller(page)
    return page.render(
        "customers/notice.html",
        flash=take_flash(page.request),
        notice=tiers.current_notice(db, actor.organisation_id),
        version=tiers.NOTICE_VERSION,
        can_manage=actor.can(Permission.CUSTOMERS_MANAGE),
    )


def _reseller(page: Page) -> Actor:
    if page.actor is None or page.actor.organisation_kind != "reseller":
        raise Forbidden()
    return page.actor


@router.post("/customers/notice/accept")
def accept_notice(page: ActingPage, db: DB) -> Response:
    tiers.accept_notice(db, _reseller(page))
    return page.redirect(
        "/customers/notice",
        page.tr.gettext("Your distributor can now see your customers."),
    )


@router.post("/customers/notice/revoke")
def revoke_notice(page: ActingPage, db: DB) -> Response:
    tiers.revoke_notice(db, _reseller(page))
    return page.redirect(
        "/customers/notice",
        page.tr.gettext("Your distributor no longer sees your customers."),
    )


# -- the partner's detail ---------------------------------------------------------------


@router.get("/customers/" + CUSTOMER_PATH)
def customer_page(page: ActingPage, db: DB, customer_id: str) -> Response:
    actor = _viewer(page)
    detail = queries.customer_detail(db, actor, customer_id)
    own = detail.tab is Tab.OWN
    return page.render(
        "customers/detail.html",
        detail=detail,
        row=detail.row,
        can_change=own
        and detail.row.association.status == "active"
        and actor.can(Permission.CUSTOMERS_MANAGE),
        **_labels(page),
    )


# -- the vendor's look-up ---------------------------------------------------------------


def _vendor(page: Page) -> Actor:
    actor = require(page, Permission.PARTNERS_VIEW)
    if not actor.is_vendor:
        raise Forbidden()
    return actor


@router.get("/vendor/customers")
def vendor_customer_list(
    page: ActingPage, db: DB, q: str = "", offset: int = 0
) -> Response:
    actor = _vendor(page)
    found = queries.lookup_customers(db, actor, q, offset)
    return page.render(
        "customers/vendor_list.html",
        q=q,
        rows=found.rows,
        pager=Pager(
            "/vendor/customers",
            found.total,
            max(offset, 0),
            queries.PAGE_SIZE,
            {"q": q} if q else {},
        ),
        **_labels(page),
    )


@router.get("/vendor/customers/" + CUSTOMER_PATH)
def vendor_customer_page(page: ActingPage, db: DB, customer_id: str) -> Response:
    return _vendor_page(page, db, customer_id)


def _vendor_page(
    page: Page,
    db: DB,
    customer_id: str,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    actor = _vendor(page)
    view = queries.vendor_view(db, actor, customer_id)
    return page.render(
        "customers/vendor_detail.html",
        status_code=status_code,
        flash=take_flash(page.request),
        error=error,
        view=view,
        facts=assignments.facts_of(view.row.customer),
        fact_labels=FACT_LABELS,
        real_name_choices=[
            (str(status), page.tr.gettext(label))
            for status, label in REAL_NAME_LABELS.items()
        ],
        can_edit=actor.can(Permission.PARTNERS_MANAGE),
        **_labels(page),
    )


@router.post("/vendor/customers/" + CUSTOMER_PATH + "/facts")
def vendor_customer_facts(
    *,
    page: ActingPage,
    db: DB,
    customer_id: str,
    flags: Annotated[list[str] | None, Form()] = None,
    real_name_status: Annotated[str, Form()] = "",
    pending_partner_paid_orders: Annotated[str, Form()] = "0",
) -> Response:
    actor = _vendor(page)
    facts = assignments.CustomerFacts(
        flags=frozenset(flags or []),
        real_name_status=real_name_status,
        pending_partner_paid_orders=pending_partner_paid_orders,
    )
    try:
        assignments.update_facts(db, actor, customer_id, facts)
    except InvalidInput as error:
        return _vendor_page(
            page, db, customer_id, form_error(error, page.tr), error.status
        )
    return page.redirect(
        f"/vendor/customers/{customer_id}",
        page.tr.gettext("The customer's facts are saved."),
    )
