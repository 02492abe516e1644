"""Console pages of an organisation's own account: API keys, custom roles, company profile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
)
from partnercenter.core.scoping import owned_by
from partnercenter.identity import credentials
from partnercenter.identity import service as identity
from partnercenter.identity.models import ApiCredential, CustomRole
from partnercenter.identity.permissions import (
    PARTNER_PERMISSIONS,
    PARTNER_ROLES,
    PERMISSION_LABELS,
    Permission,
)
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import form_error

router = APIRouter()

FormText = Annotated[str, Form()]

# -- API keys ---------------------------------------------------------------------------


def _credential_actor(page: Page) -> Actor:
    """Partner admins manage their company's keys; a customer manages its own."""
    actor = page.actor
    if actor is None or not (
        actor.can(Permission.CREDENTIALS_MANAGE) or actor.can(Permission.CUSTOMER_SELF)
    ):
        raise Forbidden()
    return actor


@router.get("/credentials")
def credential_list(page: ActingPage, db: DB) -> Response:
    actor = _credential_actor(page)
    return page.render(
        "identity/credentials.html",
        rows=credentials.list_for(db, actor.organisation_id),
        flash=take_flash(page.request),
    )


@router.post("/credentials")
def credential_create(page: ActingPage, db: DB, description: FormText = "") -> Response:
    actor = _credential_actor(page)
    assert page.organisation is not None

    issued = credentials.create(
        db,
        page.request.app.state.secret_box,
        actor,
        page.organisation,
        description=description,
    )

    response = page.render(
        "identity/credential_created.html",
        credential=issued.credential,
        secret_key=issued.secret_key,
    )
    # The secret is in this page only; no cache may keep a copy of it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@router.get("/credentials/{access_key}/revoke")
def credential_revoke_form(page: ActingPage, db: DB, access_key: str) -> Response:
    actor = _credential_actor(page)
    credential = _own_credential(db, actor, access_key)
    return page.render("identity/credential_revoke.html", credential=credential)


@router.post("/credentials/{access_key}/revoke")
def credential_revoke(page: ActingPage, db: DB, access_key: str) -> Response:
    actor = _credential_actor(page)
    credential = credentials.revoke(db, actor, access_key)
    message = page.tr.gettext(
        "The access key %(key)s has been revoked; requests signed with it are refused."
    ) % {"key": credential.access_key}
    return page.redirect("/credentials", message)


def _own_credential(db: Session, actor: Actor, access_key: str) -> ApiCredential:
    credential = db.scalar(
        owned_by(
            select(ApiCredential).where(ApiCredential.access_key == access_key),
            ApiCredential,
            actor,
        )
    )
    if credential is None:
        raise NotFound()
    return credential


# -- custom roles -----------------------------------------------------------------------


def _permission_choices(page: Page) -> list[tuple[str, str]]:
    return [
        (item.value, page.tr.gettext(PERMISSION_LABELS[item]))
        for item in Permission
        if item in PARTNER_PERMISSIONS
    ]


def _labels(page: Page, items: list[str]) -> list[str]:
    known = {item.value: item for item in Permission}
    return [
        page.tr.gettext(PERMISSION_LABELS[known[item]])
        for item in items
        if item in known
    ]


@router.get("/roles")
def role_list(page: ActingPage, db: DB) -> Response:
    actor = require(page, Permission.ROLES_MANAGE)
    roles = identity.custom_roles(db, actor)
    presets = [
        (role, _labels(page, [p.value for p in Permission if p in role.permissions]))
        for role in PARTNER_ROLES
    ]
    return page.render(
        "identity/roles.html",
        presets=presets,
        roles=[(role, _labels(page, role.permissions)) for role in roles],
        holders=identity.custom_role_holders(db, actor.organisation_id),
        flash=take_flash(page.request),
    )


def _role_form(
    page: Page,
    *,
    role: CustomRole | None,
    values: Mapping[str, object],
    error: DomainError | None = None,
) -> Response:
    return page.render(
        "identity/role_form.html",
        status_code=error.status if error else 200,
        role=role,
        values=values,
        choices=_permission_choices(page),
        error=form_error(error, page.tr) if error else None,
    )


def _role_values(role: CustomRole | None) -> dict[str, object]:
    if role is None:
        return {"name": "", "description": "", "permissions": []}
    return {
        "name": role.name,
        "description": role.description or "",
        "permissions": list(role.permissions),
    }


@router.get("/roles/new")
def role_new_form(page: ActingPage) -> Response:
    require(page, Permission.ROLES_MANAGE)
    return _role_form(page, role=None, values=_role_values(None))


@router.post("/roles/new")
def role_create(
    *,
    page: ActingPage,
    db: DB,
    name: FormText = "",
    description: FormText = "",
    permissions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    actor = require(page, Permission.ROLES_MANAGE)
    chosen = permissions or []
    try:
        role = identity.create_custom_role(
            db, actor, name=name, description=description, permissions=chosen
        )
    except InvalidInput as error:
        values = {"name": name, "description": description, "permissions": chosen}
        return _role_form(page, role=None, values=values, error=error)
    message = page.tr.gettext("The role %(name)s has been created.") % {
        "name": role.name
    }
    return page.redirect("/roles", message)


@router.get("/roles/{role_id}")
def role_edit_form(page: ActingPage, db: DB, role_id: int) -> Response:
    actor = require(page, Permission.ROLES_MANAGE)
    role = identity.get_custom_role(db, actor, role_id)
    return _role_form(page, role=role, values=_role_values(role))


@router.post("/roles/{role_id}")
def role_update(
    *,
    page: ActingPage,
    db: DB,
    role_id: int,
    name: FormText = "",
    description: FormText = "",
    permissions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    actor = require(page, Permission.ROLES_MANAGE)
    chosen = permissions or []
    try:
        role = identity.update_custom_role(
            db, actor, role_id, name=name, description=description, permissions=chosen
        )
    except InvalidInput as error:
        role = identity.get_custom_role(db, actor, role_id)
        values = {"name": name, "description": description, "permissions": chosen}
        return _role_form(page, role=role, values=values, error=error)
    message = page.tr.gettext("The role %(name)s has been saved.") % {"name": role.name}
    return page.redirect("/roles", message)


@router.get("/roles/{role_id}/delete")
def role_delete_form(page: ActingPage, db: DB, role_id: int) -> Response:
    actor = require(page, Permission.ROLES_MANAGE)
    role = identity.get_custom_role(db, actor, role_id)
    holders = identity.custom_role_holders(db, actor.organisation_id).get(role.id, 0)
    return page.render(
        "identity/role_delete.html", role=role, holders=holders, error=None
    )


@router.post("/roles/{role_id}/delete")
def role_delete(page: ActingPage, db: DB, role_id: int) -> Response:
    actor = require(page, Permission.ROLES_MANAGE)
    role = identity.get_custom_role(db, actor, role_id)
    name = role.name
    try:
        identity.delete_custom_role(db, actor, role_id)
    except Conflict as error:
        holders = identity.custom_role_holders(db, actor.organisation_id)
        return page.render(
            "identity/role_delete.html",
            status_code=error.status,
            role=role,
            holders=holders.get(role.id, 0),
            error=form_error(error, page.tr),
        )
    message = page.tr.gettext("The role %(name)s has been deleted.") % {"name": name}
    return page.redirect("/roles", message)


# -- company profile --------------------------------------------------------------------


def _profile_page(
    page: Page,
    db: Session,
    values: dict[str, str | None],
    error: DomainError | None = None,
) -> Response:
    organisation = page.organisation
    assert organisation is not None
    distributor = (
        identity.get_organisation(db, organisation.parent_id)
        if organisation.parent_id
        else None
    )
    region = organisation.country_region
    region_name = page.tr.babel_locale.territories.get(region or "", region)
    return page.render(
        "identity/profile.html",
        status_code=error.status if error else 200,
        kind_label=page.tr.gettext(identity.KIND_LABELS[organisation.public_kind]),
        region_name=region_name,
        distributor=distributor,
        values=values,
        can_edit=page.can(Permission.PROFILE_EDIT),
        error=form_error(error, page.tr) if error else None,
        flash=take_flash(page.request),
    )


@router.get("/profile")
def profile(page: ActingPage, db: DB) -> Response:
    require(page, Permission.PROFILE_VIEW)
    assert page.organisation is not None
    return _profile_page(page, db, identity.profile_of(page.organisation))


@router.post("/profile")
def profile_update(
    *,
    page: ActingPage,
    db: DB,
    display_name: FormText = "",
    legal_name: FormText = "",
    registration_number: FormText = "",
    contact_name: FormText = "",
    contact_email: FormText = "",
    contact_phone: FormText = "",
) -> Response:
    actor = require(page, Permission.PROFILE_EDIT)
    change = identity.ProfileChange(
        display_name=display_name,
        legal_name=legal_name,
        registration_number=registration_number,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
    )
    try:
        identity.update_profile(db, actor, change)
    except InvalidInput as error:
        values: dict[str, str | None] = {
            name: getattr(change, name) for name in identity.PROFILE_FIELDS
        }
        return _profile_page(page, db, values, error)
    return page.redirect(
        "/profile", page.tr.gettext("The company profile has been saved.")
    )
