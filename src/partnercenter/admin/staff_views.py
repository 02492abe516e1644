"""Console pages of the vendor's own staff: who works in the vendor console, in which roles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from partnercenter.admin import service as admin
from partnercenter.core.errors import DomainError
from partnercenter.identity.permissions import VENDOR_ROLES, Permission
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

Roles = Annotated[list[str] | None, Form()]


def _staff_page(
    page: Page,
    db: DB,
    *,
    form: str = "",
    error: FormError | None = None,
    values: Mapping[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    """The staff page; ``form`` names the form that ``error`` and ``values`` belong to."""
    actor = require(page, Permission.STAFF_MANAGE)
    return page.render(
        "admin/staff.html",
        status_code=status_code,
        flash=take_flash(page.request),
        staff=admin.list_staff(db, actor),
        vendor_roles=VENDOR_ROLES,
        form=form,
        error=error,
        values=values or {},
    )


@router.get("/vendor/staff")
def staff_list(page: ActingPage, db: DB) -> Response:
    return _staff_page(page, db)


@router.post("/vendor/staff/new")
def add_new_staff(
    *,
    page: ActingPage,
    db: DB,
    account_name: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    roles: Roles = None,
) -> Response:
    actor = require(page, Permission.STAFF_MANAGE)
    try:
        membership = admin.add_new_staff(
            db,
            actor,
            page.settings,
            account_name=account_name,
            display_name=display_name,
            email=email,
            roles=roles or [],
        )
    except DomainError as error:
        values = {
            "account_name": account_name,
            "display_name": display_name,
            "email": email,
            "roles": roles or [],
        }
        return _staff_page(
            page,
            db,
            form="new",
            error=form_error(error, page.tr),
            values=values,
            status_code=error.status,
        )
    return page.redirect(
        "/vendor/staff",
        page.tr.gettext(
            "%(name)s has joined the staff. A link to choose the password has been "
            "sent to %(email)s."
        )
        % {"name": membership.user.display_name, "email": membership.user.email},
    )


@router.post("/vendor/staff/existing")
def add_existing_staff(
    page: ActingPage,
    db: DB,
    identifier: Annotated[str, Form()] = "",
    roles: Roles = None,
) -> Response:
    actor = require(page, Permission.STAFF_MANAGE)
    try:
        membership = admin.add_existing_staff(
            db, actor, page.settings, identifier=identifier, roles=roles or []
        )
    except DomainError as error:
        return _staff_page(
            page,
            db,
            form="existing",
            error=form_error(error, page.tr),
            values={"identifier": identifier, "roles": roles or []},
            status_code=error.status,
        )
    return page.redirect(
        "/vendor/staff",
        page.tr.gettext("%(name)s has joined the staff.")
        % {"name": membership.user.display_name},
    )


@router.post("/vendor/staff/{membership_id}/roles")
def change_roles(
    page: ActingPage, db: DB, membership_id: int, roles: Roles = None
) -> Response:
    actor = require(page, Permission.STAFF_MANAGE)
    try:
        changed = admin.change_staff_roles(db, actor, membership_id, roles or [])
    except DomainError as error:
        return _staff_page(
            page,
            db,
            form=f"roles-{membership_id}",
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    message = (
        page.tr.gettext("The roles have been changed.")
        if changed
        else page.tr.gettext("Nothing was changed.")
    )
    return page.redirect("/vendor/staff", message)


@router.post("/vendor/staff/{membership_id}/remove")
def remove(page: ActingPage, db: DB, membership_id: int) -> Response:
    actor = require(page, Permission.STAFF_MANAGE)
    try:
        admin.remove_staff(db, actor, membership_id)
    except DomainError as error:
        return _staff_page(
            page,
            db,
            form=f"roles-{membership_id}",
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    return page.redirect(
        "/vendor/staff", page.tr.gettext("The staff member has been removed.")
    )
