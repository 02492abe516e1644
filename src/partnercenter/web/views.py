"""The console shell: overview, notifications, language, demo mailbox; and the assembly of
every module's console router under CSRF protection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from partnercenter.core import calendar, notifications
from partnercenter.core.clock import local_date, utc_now
from partnercenter.core.errors import NotFound
from partnercenter.core.i18n import normalise_locale, translator
from partnercenter.core.models import MailboxMessage
from partnercenter.core.settings import Environment
from partnercenter.identity.permissions import Permission
from partnercenter.web.context import (
    DB,
    LANGUAGE_COOKIE,
    OptionalPage,
    SignedInPage,
    add_cookie,
    csrf_protect,
    take_flash,
)
from partnercenter.web.middleware import cookie_header

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


@router.get("/")
def root(page: OptionalPage) -> Response:
    return RedirectResponse("/console" if page.user else "/login", status_code=303)


@router.get("/console")
def overview(page: SignedInPage, db: DB) -> Response:
    if page.actor is None:
        return page.render("web/no_organisation.html", flash=take_flash(page.request))
    missing_year = None
    if page.can(Permission.CALENDAR_MANAGE):
        today = local_date(utc_now(), page.settings.display_timezone)
        missing_year = calendar.next_year_missing(db, today)
    return page.render(
        "web/overview.html",
        flash=take_flash(page.request),
        calendar_missing=missing_year,
    )


@router.post("/language")
def set_language(
    request: Request,
    page: OptionalPage,
    language: Annotated[str, Form()],
    next_url: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    try:
        locale = normalise_locale(language)
    except ValueError:
        locale = page.settings.locale
    add_cookie(
        request,
        cookie_header(
            LANGUAGE_COOKIE,
            locale,
            max_age=365 * 24 * 3600,
            secure=page.settings.secure_cookies,
            http_only=False,
        ),
    )
    if page.user is not None:
        page.user.locale = locale
    return RedirectResponse(_local(next_url), status_code=303)


def _local(url: str) -> str:
    """Only same-site paths are followed after a form, never another host."""
    if url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


@router.get("/notifications")
def notification_list(page: SignedInPage, db: DB) -> Response:
    assert page.user is not None
    rows = notifications.recent(db, page.user.id)
    items = [
        (row, *notifications.render(row.kind, row.params, page.tr)) for row in rows
    ]
    return page.render("web/notifications.html", items=items)


@router.post("/notifications/read")
def notification_read(
    page: SignedInPage,
    db: DB,
    notice_id: Annotated[int | None, Form()] = None,
) -> Response:
    assert page.user is not None
    notifications.mark_read(db, page.user.id, notice_id)
    return page.redirect("/notifications")


@router.get("/mailbox")
def mailbox(page: OptionalPage, db: DB, to: str | None = None) -> Response:
    """The demo mailbox: mail that would have been sent, when no SMTP server is set."""
    settings = page.settings
    open_to_all = (
        not settings.smtp_url and settings.environment is not Environment.PRODUCTION
    )
    if not open_to_all and not page.can(Permission.MAILBOX_VIEW):
        raise NotFound()
    statement = select(MailboxMessage).order_by(MailboxMessage.id.desc()).limit(100)
    if to:
        statement = statement.where(MailboxMessage.recipient == to.strip().lower())
    messages = db.scalars(statement).all()
    return page.render("web/mailbox.html", messages=messages, to=to or "")


def _include_module_routers() -> None:
    from partnercenter.admin.views import router as admin_router
    from partnercenter.billing.views import router as billing_router
    from partnercenter.customers.changes.views import router as changes_router
    from partnercenter.customers.intake.views import router as intake_router
    from partnercenter.customers.views import router as customers_router
    from partnercenter.identity.account_views import router as account_router
    from partnercenter.identity.views import router as identity_router
    from partnercenter.incentives.views import router as incentives_router
    from partnercenter.ledger.console.views import router as funds_router
    from partnercenter.ledger.finance.views import router as finance_router
    from partnercenter.members.views import router as members_router
    from partnercenter.opportunities.views import router as opportunities_router
    from partnercenter.vouchers.views import router as vouchers_router

    for module_router in (
        identity_router,
        account_router,
        members_router,
        admin_router,
        customers_router,
        intake_router,
        changes_router,
        finance_router,
        funds_router,
        billing_router,
        incentives_router,
        vouchers_router,
        opportunities_router,
    ):
        router.include_router(module_router)


_include_module_routers()

__all__ = ["router", "translator"]
