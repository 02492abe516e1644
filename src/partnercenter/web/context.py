"""Per-request plumbing of the console and the APIs: database session, language, CSRF,
the signed-in user and the organisation it acts for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from partnercenter.core import notifications
from partnercenter.core.actor import Actor
from partnercenter.core.errors import Forbidden, NotAuthenticated
from partnercenter.core.i18n import (
    LANGUAGE_NAMES,
    LOCALES,
    N_,
    Translator,
    normalise_locale,
    translator,
)
from partnercenter.core.ids import new_token
from partnercenter.core.security import CsrfSigner
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import ConsoleSession, Organisation, User
from partnercenter.identity.permissions import Permission
from partnercenter.web.middleware import cookie_header
from partnercenter.web.templating import hidden_csrf

SESSION_COOKIE = "pc_session"
CSRF_COOKIE = "pc_csrf"
LANGUAGE_COOKIE = "pc_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def db_session(request: Request) -> Iterator[Session]:
    """One unit of work per request, committed before the response is sent."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DB = Annotated[Session, Depends(db_session, scope="function")]


def add_cookie(request: Request, header: str) -> None:
    request.state.set_cookies.append(header)


def csrf_cookie_value(request: Request) -> str:
    """The browser's CSRF cookie, created on first sight."""
    existing = getattr(request.state, "csrf_cookie", None) or request.cookies.get(
        CSRF_COOKIE
    )
    if existing:
        request.state.csrf_cookie = existing
        return existing
    value = new_token(24)
    request.state.csrf_cookie = value
    add_cookie(
        request,
        cookie_header(
            CSRF_COOKIE, value, max_age=None, secure=settings_of(request).secure_cookies
        ),
    )
    return value


def csrf_token(request: Request) -> str:
    signer: CsrfSigner = request.app.state.csrf_signer
    return signer.token_for(csrf_cookie_value(request))


async def csrf_protect(request: Request) -> None:
    """Refuse any state-changing console request without a valid CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    signer: CsrfSigner = request.app.state.csrf_signer
    if not signer.is_valid(request.cookies.get(CSRF_COOKIE), submitted):
        raise CsrfRejected()


class OrganisationInactive(Forbidden):
    code = "organisation_inactive"
    default_message = N_(
        "This organisation has been deactivated by the vendor; its members cannot work "
        "for it until the vendor reactivates it."
    )


class CsrfRejected(Forbidden):
    code = "csrf_rejected"
    default_message = N_(
        "The form has expired or did not come from this site. Reload the page and try again."
    )


def request_locale(request: Request, user: User | None = None) -> str:
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    for candidate in (cookie, user.locale if user else None):
        if candidate:
            try:
                return normalise_locale(candidate)
            except ValueError:
                continue
    return settings_of(request).locale


@dataclass
class NavItem:
    href: str
    label: str
    active: bool = False


@dataclass
class Page:
    """Everything a console template needs besides its own data."""

    request: Request
    settings: Settings
    tr: Translator
    user: User | None = None
    console_session: ConsoleSession | None = None
    organisation: Organisation | None = None
    actor: Actor | None = None
    memberships: list[tuple[str, str]] = field(default_factory=list)
    unread: int = 0

    @property
    def locale(self) -> str:
        return self.tr.locale

    def render(
        self, template: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        env = self.request.app.state.templates
        token = csrf_token(self.request)
        html = env.get_template(template).render(
            page=self,
            _=self.tr.gettext,
            gettext=self.tr.gettext,
            ngettext=self.tr.ngettext,
            csrf_field=hidden_csrf(token),
            csrf_value=token,
            nav=self.navigation(),
            locales=[(code, LANGUAGE_NAMES[code]) for code in LOCALES],
            fmt_time=lambda moment: self.tr.format_datetime(
                moment, self.settings.display_timezone
            ),
            fmt_date=self.tr.format_date,
            fmt_money=self.tr.format_money,
            **values,
        )
        return HTMLResponse(html, status_code=status_code)

    def can(self, permission: str) -> bool:
        return self.actor is not None and self.actor.can(permission)

    def navigation(self) -> list[NavItem]:
        from partnercenter.web.navigation import navigation_for

        path = self.request.url.path
        items = navigation_for(self)
        best = max(
            (
                item
                for item in items
                if path == item.href or path.startswith(item.href + "/")
            ),
            key=lambda item: len(item.href),
            default=None,
        )
        if best is not None:
            best.active = True
        return items

    def redirect(self, url: str, message: str | None = None) -> RedirectResponse:
        if message:
            add_flash(self.request, message)
        return RedirectResponse(url, status_code=303)

    def format_time(self, moment: dt.datetime | None) -> str:
        return self.tr.format_datetime(moment, self.settings.display_timezone)


FLASH_COOKIE = "pc_flash"


def add_flash(request: Request, message: str) -> None:
    """A one-time message for the next page; kept in a short-lived cookie."""
    add_cookie(
        request,
        cookie_header(
            FLASH_COOKIE,
            message.encode().hex(),
            max_age=60,
            secure=settings_of(request).secure_cookies,
        ),
    )


def take_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    add_cookie(
        request,
        cookie_header(
            FLASH_COOKIE, "", max_age=0, secure=settings_of(request).secure_cookies
        ),
    )
    try:
        return bytes.fromhex(raw).decode()[:500]
    except ValueError:
        return None


def anonymous_page(request: Request) -> Page:
    return Page(
        request=request,
        settings=settings_of(request),
        tr=translator(request_locale(request)),
    )


def optional_page(request: Request, db: DB) -> Page:
    settings = settings_of(request)
    resumed = identity.resume_session(db, settings, request.cookies.get(SESSION_COOKIE))
    if resumed is None:
        return anonymous_page(request)
    console_session, user = resumed
    page = Page(
        request=request,
        settings=settings,
        tr=translator(request_locale(request, user)),
        user=user,
        console_session=console_session,
    )
    memberships = identity.active_memberships(db, user.id)
    page.memberships = [
        (
            m.organisation_id,
            identity.get_organisation(db, m.organisation_id).display_name,
        )
        for m in memberships
    ]
    if console_session.organisation_id:
        try:
            page.actor = identity.actor_for(
                db,
                user,
                console_session.organisation_id,
                request_id=request.state.request_id,
            )
            page.organisation = identity.get_organisation(
                db, console_session.organisation_id
            )
        except Forbidden:
            console_session.organisation_id = None
    if page.organisation is not None and not page.organisation.is_active:
        # Members of a deactivated organisation keep their session but cannot act for it.
        page.actor = None
    page.unread = notifications.unread_count(db, user.id)
    return page


OptionalPage = Annotated[Page, Depends(optional_page)]


def signed_in_page(page: OptionalPage) -> Page:
    if page.user is None:
        raise NotAuthenticated()
    return page


SignedInPage = Annotated[Page, Depends(signed_in_page)]


def acting_page(page: SignedInPage) -> Page:
    """A page for a user acting for an organisation (every console page but a few)."""
    if page.organisation is not None and not page.organisation.is_active:
        raise OrganisationInactive()
    if page.actor is None:
        raise Forbidden()
    return page


ActingPage = Annotated[Page, Depends(acting_page)]


def require(page: Page, permission: Permission) -> Actor:
    if page.actor is None:
        raise Forbidden()
    identity.authorize(page.actor, permission)
    return page.actor
