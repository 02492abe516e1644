"""What the funds pages share: who may open them, the values every template gets, the
customers and resellers a form offers, and CSV downloads streamed from the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.actor import Actor
from partnercenter.core.clock import local_date, utc_now
from partnercenter.core.errors import Forbidden
from partnercenter.customers.models import Association, AssociationMode
from partnercenter.customers.visibility import (
    Tab,
    association_condition,
    can_view_customers,
    has_resellers_tab,
)
from partnercenter.identity.models import Organisation, PartnerType
from partnercenter.identity.permissions import Permission
from partnercenter.ledger.console import labels
from partnercenter.web import navigation
from partnercenter.web.context import Page, require

PICKER_LIMIT = 500
"""Customers offered in a form's list; any other id can still be typed."""


def partner_actor(page: Page, permission: Permission = Permission.FUNDS_VIEW) -> Actor:
    """A partner's member holding ``permission``; anyone else is refused."""
    actor = require(page, permission)
    if actor.organisation_kind not in navigation.PARTNERS:
        raise Forbidden()
    return actor


def customer_actor(page: Page) -> Actor:
    actor = require(page, Permission.CUSTOMER_SELF)
    if actor.organisation_kind not in navigation.CUSTOMERS:
        raise Forbidden()
    return actor


def is_distributor(actor: Actor) -> bool:
    return actor.organisation_kind == PartnerType.DISTRIBUTOR


def template_values(page: Page, currency: str) -> dict[str, Any]:
    """Helpers every funds template uses."""
    tr = page.tr
    return {
        "currency": currency,
        "money": lambda minor: labels.money(tr, minor, currency),
        "plain_amount": labels.plain_amount,
        "kind_label": lambda kind, received=False: labels.kind_label(
            tr, kind, received
        ),
        "error_label": lambda code: labels.error_label(tr, code),
        "can_transfer": page.can(Permission.FUNDS_TRANSFER),
    }


@dataclass(frozen=True, slots=True)
class Choice:
    id: str
    name: str
    account_name: str


def resale_customers(
    session: Session, actor: Actor, partner_id: str | None = None
) -> list[Choice]:
    """The resale customers of ``partner_id`` (the actor's own organisation, or one of its
    resellers) that the actor may see, by name.

    The list follows the customer pages' visibility: an account manager sees its own
    customers, a distributor a reseller's only while the reseller accepts the customer-
    information notice. Whoever sees no list can still type a customer id.
    """
    if not can_view_customers(actor):
        return []
    acting_for = partner_id or actor.organisation_id
    if acting_for == actor.organisation_id:
        visible = association_condition(actor, tab=Tab.OWN)
    elif has_resellers_tab(actor):
        visible = association_condition(actor, tab=Tab.RESELLERS)
    else:
        return []
    rows = session.execute(
        select(Organisation.id, Organisation.display_name, Organisation.account_name)
        .join(Association, Association.customer_id == Organisation.id)
        .where(
            visible,
            Association.organisation_id == acting_for,
            Association.mode == AssociationMode.RESALE,
        )
        .order_by(Organisation.display_name, Organisation.id)
        .limit(PICKER_LIMIT)
    ).all()
    return [Choice(*row) for row in rows]


def resellers_of(session: Session, actor: Actor) -> list[Choice]:
    """A distributor's resellers, by name (none for any other partner)."""
    if not is_distributor(actor):
        return []
    rows = session.execute(
        select(Organisation.id, Organisation.display_name, Organisation.account_name)
        .where(
            Organisation.parent_id == actor.organisation_id,
            Organisation.partner_type == PartnerType.RESELLER,
        )
        .order_by(Organisation.display_name, Organisation.id)
    ).all()
    return [Choice(*row) for row in rows]


def csv_download(
    request: Request,
    name: str,
    pieces: Callable[[Session], Iterator[str]],
    timezone: str,
) -> StreamingResponse:
    """A CSV file streamed as it is read, in a session of its own.

    The request's session closes when the view returns, before the body is sent, so the
    rows are read through a new one that lives as long as the download.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory

    def body() -> Iterator[bytes]:
        with factory() as session:
            for piece in pieces(session):
                yield piece.encode("utf-8")

    day = local_date(utc_now(), timezone).isoformat()
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{day}.csv"'},
    )
