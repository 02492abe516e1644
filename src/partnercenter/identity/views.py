"""Console pages of identity: sign-in, sign-out, passwords, choosing the organisation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from partnercenter.core.errors import DomainError, InvalidInput, RateLimited
from partnercenter.core.i18n import N_
from partnercenter.identity import service as identity
from partnercenter.web.context import (
    DB,
    SESSION_COOKIE,
    OptionalPage,
    SignedInPage,
    add_cookie,
    add_flash,
    take_flash,
)
from partnercenter.web.forms import form_error
from partnercenter.web.middleware import cookie_header

router = APIRouter()


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _safe_next(url: str | None) -> str:
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/console"


@router.get("/login")
def sign_in_form(page: OptionalPage, next: str | None = None) -> Response:
    if page.user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return page.render(
        "identity/login.html",
        next=next or "",
        identifier="",
        error=None,
        flash=take_flash(page.request),
    )


@router.post("/login")
def sign_in(
    *,
    request: Request,
    page: OptionalPage,
    db: DB,
    identifier: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_url: Annotated[str, Form(alias="next")] = "",
) -> Response:
    try:
        user = identity.authenticate(
            db,
            page.settings,
            identifier=identifier,
            password=password,
            ip_address=_client_ip(request),
        )
    except (DomainError, RateLimited) as error:
        # The failed attempt must be kept: it is what the throttle counts.
        db.commit()
        return page.render(
            "identity/login.html",
            status_code=error.status,
            next=next_url,
            identifier=identifier,
            error=form_error(error, page.tr),
            flash=None,
        )

    token = identity.start_session(
        db,
        page.settings,
        user,
        ip_address=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    add_cookie(
        request,
        cookie_header(
            SESSION_COOKIE,
            token,
            max_age=page.settings.session_hours * 3600,
            secure=page.settings.secure_cookies,
        ),
    )
    return RedirectResponse(_safe_next(next_url), status_code=303)


@router.post("/logout")
def sign_out(request: Request, page: OptionalPage, db: DB) -> Response:
    identity.end_session(db, request.cookies.get(SESSION_COOKIE))
    add_cookie(
        request,
        cookie_header(
            SESSION_COOKIE, "", max_age=0, secure=page.settings.secure_cookies
        ),
    )
    add_flash(request, page.tr.gettext("You have signed out."))
    return RedirectResponse("/login", status_code=303)


@router.post("/switch-organisation")
def switch_organisation(
    page: SignedInPage, db: DB, organisation_id: Annotated[str, Form()]
) -> Response:
    assert page.console_session is not None
    identity.switch_organisation(db, page.console_session, organisation_id)
    return RedirectResponse("/console", status_code=303)


@router.get("/password/forgot")
def forgot_form(page: OptionalPage) -> Response:
    return page.render("identity/forgot.html", sent=False)


@router.post("/password/forgot")
def forgot(
    page: OptionalPage, db: DB, identifier: Annotated[str, Form()] = ""
) -> Response:
    identity.request_password_reset(db, page.settings, identifier)
    return page.render("identity/forgot.html", sent=True)


@router.get("/password/reset/{token}")
def reset_form(page: OptionalPage, db: DB, token: str) -> Response:
    _row, user = identity.reset_token_user(db, token)
    return page.render(
        "identity/reset.html", token=token, account=user.account_name, error=None
    )


@router.post("/password/reset/{token}")
def reset(
    *,
    request: Request,
    page: OptionalPage,
    db: DB,
    token: str,
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    _row, user = identity.reset_token_user(db, token)
    try:
        _check_confirmation(new_password, confirm_password)
        identity.reset_password(db, token, new_password)
    except InvalidInput as error:
        return page.render(
            "identity/reset.html",
            status_code=400,
            token=token,
            account=user.account_name,
            error=form_error(error, page.tr),
        )
    add_flash(
        request, page.tr.gettext("Your password has been changed. Please sign in.")
    )
    return RedirectResponse("/login", status_code=303)


def _check_confirmation(new_password: str, confirm_password: str) -> None:
    from partnercenter.core.errors import FieldProblem

    if new_password != confirm_password:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "confirm_password", N_("The two passwords are not the same.")
                )
            ]
        )


@router.get("/account/password")
def password_form(page: SignedInPage) -> Response:
    return page.render("identity/password.html", error=None, done=False)


@router.post("/account/password")
def change_password(
    *,
    request: Request,
    page: SignedInPage,
    db: DB,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    assert page.user is not None
    try:
        _check_confirmation(new_password, confirm_password)
        identity.change_password(
            db,
            page.user,
            current_password=current_password,
            new_password=new_password,
            keep_session=request.cookies.get(SESSION_COOKIE),
        )
    except InvalidInput as error:
        return page.render(
            "identity/password.html",
            status_code=400,
            error=form_error(error, page.tr),
            done=False,
        )
    return page.render("identity/password.html", error=None, done=True)


@router.get("/register")
def register_form(page: OptionalPage) -> Response:
    if page.user is not None:
        return RedirectResponse("/console", status_code=303)
    return page.render("identity/register.html", values={}, error=None)


@router.post("/register")
def register(
    *,
    request: Request,
    page: OptionalPage,
    db: DB,
    account_name: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "account_name": account_name,
        "display_name": display_name,
        "email": email,
        "phone": phone,
    }
    try:
        _check_confirmation(password, confirm_password)
        user = identity.register_personal_account(
            db,
            page.settings,
            account_name=account_name.strip(),
            display_name=display_name,
            email=email,
            phone=phone,
            password=password,
            ip_address=_client_ip(request),
            locale=page.locale,
        )
    except DomainError as error:
        db.commit()  # keeps the attempt, which the sign-up limit counts
        return page.render(
            "identity/register.html",
            status_code=error.status,
            values=values,
            error=form_error(error, page.tr),
        )

    token = identity.start_session(
        db,
        page.settings,
        user,
        ip_address=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    add_cookie(
        request,
        cookie_header(
            SESSION_COOKIE,
            token,
            max_age=page.settings.session_hours * 3600,
            secure=page.settings.secure_cookies,
        ),
    )
    add_flash(request, page.tr.gettext("Your account has been created."))
    return RedirectResponse("/console", status_code=303)
