"""Console pages of the vendor's partner administration: list, create, view, change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from partnercenter.admin import audit_log
from partnercenter.admin import service as admin
from partnercenter.admin.paging import Pager
from partnercenter.admin.regions import region_choices, region_name
from partnercenter.core.errors import DomainError
from partnercenter.identity.models import Organisation
from partnercenter.identity.permissions import Permission
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

NEW_PARTNER_FIELDS = (
    "display_name",
    "account_name",
    "partner_type",
    "country_region",
    "distributor_id",
    "legal_name",
    "registration_number",
    "contact_name",
    "contact_email",
    "contact_phone",
    "email",
)


def _choices(page: Page) -> dict[str, Any]:
    """Labels and options every partner template uses."""
    return {
        "type_labels": admin.PARTNER_TYPE_LABELS,
        "type_choices": list(admin.PARTNER_TYPE_LABELS.items()),
        "regions": region_choices(page.tr),
        "region_name": lambda code: region_name(code, page.tr),
    }


@router.get("/vendor/partners")
def partner_list(
    *,
    page: ActingPage,
    db: DB,
    q: str = "",
    partner_type: Annotated[str, Query(alias="type")] = "",
    region: str = "",
    status: str = "",
    offset: int = 0,
) -> Response:
    actor = require(page, Permission.PARTNERS_VIEW)
    filters = admin.PartnerFilter(
        search=q, partner_type=partner_type, region=region, status=status, offset=offset
    )
    found = admin.list_partners(db, actor, filters)
    params = {"q": q, "type": partner_type, "region": region, "status": status}
    return page.render(
        "admin/partners.html",
        flash=take_flash(page.request),
        filters=filters,
        rows=found.rows,
        pager=Pager(
            "/vendor/partners",
            found.total,
            max(offset, 0),
            filters.limit,
            {key: value for key, value in params.items() if value},
        ),
        can_manage=page.can(Permission.PARTNERS_MANAGE),
        **_choices(page),
    )


def _new_form(
    page: Page,
    db: DB,
    values: dict[str, str],
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    assert page.actor is not None
    return page.render(
        "admin/partner_new.html",
        status_code=status_code,
        values=values,
        error=error,
        distributors=admin.active_distributors(db, page.actor),
        welcome_days=admin.WELCOME_LINK_DAYS,
        **_choices(page),
    )


@router.get("/vendor/partners/new")
def new_partner_form(page: ActingPage, db: DB) -> Response:
    admin.authorize_vendor(
        require(page, Permission.PARTNERS_MANAGE), Permission.PARTNERS_MANAGE
    )
    return _new_form(page, db, {"country_region": "CN"})


@router.post("/vendor/partners")
def create_partner(
    *,
    page: ActingPage,
    db: DB,
    display_name: Annotated[str, Form()] = "",
    account_name: Annotated[str, Form()] = "",
    partner_type: Annotated[str, Form()] = "",
    country_region: Annotated[str, Form()] = "",
    distributor_id: Annotated[str, Form()] = "",
    legal_name: Annotated[str, Form()] = "",
    registration_number: Annotated[str, Form()] = "",
    contact_name: Annotated[str, Form()] = "",
    contact_email: Annotated[str, Form()] = "",
    contact_phone: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    actor = require(page, Permission.PARTNERS_MANAGE)
    form = admin.NewPartner(
        display_name=display_name,
        account_name=account_name,
        partner_type=partner_type,
        country_region=country_region,
        # The select is always there; its value only counts for a reseller.
        distributor_id=distributor_id if partner_type == "reseller" else "",
        legal_name=legal_name,
        registration_number=registration_number,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
        email=email,
    )
    try:
        partner = admin.create_partner(db, actor, page.settings, form)
    except DomainError as error:
        values = {name: getattr(form, name) for name in NEW_PARTNER_FIELDS}
        values["distributor_id"] = distributor_id
        return _new_form(page, db, values, form_error(error, page.tr), error.status)
    return page.redirect(
        f"/vendor/partners/{partner.id}",
        page.tr.gettext(
            "%(name)s has been registered. A link to choose the password has been "
            "sent to %(email)s."
        )
        % {"name": partner.display_name, "email": email.strip().lower()},
    )


def _edit_values(partner: Organisation) -> dict[str, str]:
    return {
        "display_name": partner.display_name,
        "partner_type": str(partner.partner_type or ""),
        "country_region": partner.country_region or "",
        "distributor_id": partner.parent_id or "",
        "reason": "",
    }


def _detail(
    page: Page,
    db: DB,
    partner_id: str,
    *,
    values: dict[str, str] | None = None,
    error: FormError | None = None,
    activity_error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    assert page.actor is not None
    detail = admin.partner_detail(db, page.actor, partner_id)
    return page.render(
        "admin/partner.html",
        status_code=status_code,
        flash=take_flash(page.request),
        detail=detail,
        partner=detail.organisation,
        events=audit_log.readable_rows(db, detail.events, page.tr),
        values=values or _edit_values(detail.organisation),
        error=error,
        activity_error=activity_error,
        can_manage=page.can(Permission.PARTNERS_MANAGE),
        distributors=[
            d
            for d in admin.active_distributors(db, page.actor)
            if d.id != detail.organisation.id
        ],
        **_choices(page),
    )


@router.get("/vendor/partners/{partner_id}")
def partner_page(page: ActingPage, db: DB, partner_id: str) -> Response:
    require(page, Permission.PARTNERS_VIEW)
    return _detail(page, db, partner_id)


@router.post("/vendor/partners/{partner_id}")
def change_partner(
    *,
    page: ActingPage,
    db: DB,
    partner_id: str,
    display_name: Annotated[str, Form()] = "",
    partner_type: Annotated[str, Form()] = "",
    country_region: Annotated[str, Form()] = "",
    distributor_id: Annotated[str, Form()] = "",
) -> Response:
    actor = require(page, Permission.PARTNERS_MANAGE)
    change = admin.PartnerChange(
        display_name=display_name,
        partner_type=partner_type,
        country_region=country_region,
        distributor_id=distributor_id if partner_type == "reseller" else "",
    )
    try:
        changed = admin.update_partner(db, actor, partner_id, change)
    except DomainError as error:
        values = {
            "display_name": display_name,
            "partner_type": partner_type,
            "country_region": country_region,
            "distributor_id": distributor_id,
            "reason": "",
        }
        return _detail(
            page,
            db,
            partner_id,
            values=values,
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    message = (
        page.tr.gettext("The partner has been changed.")
        if changed
        else page.tr.gettext("Nothing was changed.")
    )
    return page.redirect(f"/vendor/partners/{partner_id}", message)


@router.post("/vendor/partners/{partner_id}/deactivate")
def deactivate_partner(
    page: ActingPage, db: DB, partner_id: str, reason: Annotated[str, Form()] = ""
) -> Response:
    return _set_active(page, db, partner_id, active=False, reason=reason)


@router.post("/vendor/partners/{partner_id}/reactivate")
def reactivate_partner(
    page: ActingPage, db: DB, partner_id: str, reason: Annotated[str, Form()] = ""
) -> Response:
    return _set_active(page, db, partner_id, active=True, reason=reason)


def _set_active(
    page: Page, db: DB, partner_id: str, *, active: bool, reason: str
) -> Response:
    actor = require(page, Permission.PARTNERS_MANAGE)
    try:
        admin.set_partner_active(db, actor, partner_id, active=active, reason=reason)
    except DomainError as error:
        partner = admin.get_partner(db, actor, partner_id)
        return _detail(
            page,
            db,
            partner_id,
            values={**_edit_values(partner), "reason": reason},
            activity_error=form_error(error, page.tr),
            status_code=error.status,
        )
    message = (
        page.tr.gettext("The partner is active again; its members can work for it.")
        if active
        else page.tr.gettext(
            "The partner has been deactivated; its members cannot act for it any more."
        )
    )
    return page.redirect(f"/vendor/partners/{partner_id}", message)
