"""Console pages of user accounts for the vendor: search, memberships, account facts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from partnercenter.admin import service as admin
from partnercenter.admin.paging import Pager
from partnercenter.core.errors import DomainError
from partnercenter.identity.permissions import Permission
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()


def _labels() -> dict[str, Any]:
    return {
        "real_name_labels": admin.REAL_NAME_LABELS,
        "account_type_labels": admin.ACCOUNT_TYPE_LABELS,
    }


@router.get("/vendor/users")
def user_list(page: ActingPage, db: DB, q: str = "", offset: int = 0) -> Response:
    actor = require(page, Permission.USERS_MANAGE)
    found = admin.search_users(db, actor, q, offset=offset)
    return page.render(
        "admin/users.html",
        q=q,
        users=found.users,
        pager=Pager(
            "/vendor/users",
            found.total,
            max(offset, 0),
            admin.PAGE_SIZE,
            {"q": q} if q else {},
        ),
        **_labels(),
    )


def _user_page(
    page: Page,
    db: DB,
    user_id: str,
    *,
    form: str = "",
    error: FormError | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    actor = require(page, Permission.USERS_MANAGE)
    detail = admin.account_detail(db, actor, user_id)
    return page.render(
        "admin/user.html",
        status_code=status_code,
        flash=take_flash(page.request),
        detail=detail,
        account=detail.user,
        form=form,
        error=error,
        reason=reason,
        **_labels(),
    )


@router.get("/vendor/users/{user_id}")
def user_page(page: ActingPage, db: DB, user_id: str) -> Response:
    return _user_page(page, db, user_id)


@router.post("/vendor/users/{user_id}/account")
def update_account(
    page: ActingPage,
    db: DB,
    user_id: str,
    real_name_status: Annotated[str, Form()] = "",
    account_type: Annotated[str, Form()] = "",
) -> Response:
    actor = require(page, Permission.USERS_MANAGE)
    try:
        changed = admin.update_account(
            db,
            actor,
            user_id,
            real_name_status=real_name_status,
            account_type=account_type,
        )
    except DomainError as error:
        return _user_page(
            page,
            db,
            user_id,
            form="account",
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    message = (
        page.tr.gettext("The account has been changed.")
        if changed
        else page.tr.gettext("Nothing was changed.")
    )
    return page.redirect(f"/vendor/users/{user_id}", message)


@router.post("/vendor/users/{user_id}/deactivate")
def deactivate(
    page: ActingPage, db: DB, user_id: str, reason: Annotated[str, Form()] = ""
) -> Response:
    return _set_active(page, db, user_id, active=False, reason=reason)


@router.post("/vendor/users/{user_id}/reactivate")
def reactivate(
    page: ActingPage, db: DB, user_id: str, reason: Annotated[str, Form()] = ""
) -> Response:
    return _set_active(page, db, user_id, active=True, reason=reason)


def _set_active(
    page: Page, db: DB, user_id: str, *, active: bool, reason: str
) -> Response:
    actor = require(page, Permission.USERS_MANAGE)
    try:
        admin.set_account_active(db, actor, user_id, active=active, reason=reason)
    except DomainError as error:
        return _user_page(
            page,
            db,
            user_id,
            form="activity",
            error=form_error(error, page.tr),
            reason=reason,
            status_code=error.status,
        )
    message = (
        page.tr.gettext("The account is active again and can sign in.")
        if active
        else page.tr.gettext(
            "The account has been deactivated; it cannot sign in and its sessions "
            "have ended."
        )
    )
    return page.redirect(f"/vendor/users/{user_id}", message)
