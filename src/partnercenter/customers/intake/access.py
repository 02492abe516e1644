"""Who may take customers in: partners other than distributors, through their admins and
account managers."""

from __future__ import annotations

from typing import Any, TypeVarTuple

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.errors import Conflict, Forbidden
from partnercenter.core.scoping import owned_by
from partnercenter.customers.rules import DISTRIBUTOR
from partnercenter.identity.models import Organisation, PartnerType
from partnercenter.identity.permissions import Permission

Ts = TypeVarTuple("Ts")

INTAKE_KINDS = frozenset({"solution_provider", "reseller"})
"""The kinds of organisation that register and invite customers."""


class DistributorCannotTakeCustomers(Conflict):
    code = DISTRIBUTOR.code
    default_message = DISTRIBUTOR.message


def can_take_customers(actor: Actor) -> bool:
    return actor.can(Permission.CUSTOMERS_MANAGE) or actor.can(
        Permission.CUSTOMERS_VIEW_ASSIGNED
    )


def sees_all(actor: Actor) -> bool:
    """An account manager sees only what it made itself; the others see the partner's."""
    return actor.can(Permission.CUSTOMERS_MANAGE) or actor.can(
        Permission.CUSTOMERS_VIEW_ALL
    )


def is_account_manager(actor: Actor) -> bool:
    return actor.can(Permission.CUSTOMERS_VIEW_ASSIGNED) and not actor.can(
        Permission.CUSTOMERS_VIEW_ALL
    )


def intake_partner(
    session: Session, actor: Actor, *, lock: bool = False
) -> Organisation:
    """The actor's partner, if the actor may register and invite customers for it."""
    if not can_take_customers(actor):
        raise Forbidden()
    statement = select(Organisation).where(Organisation.id == actor.organisation_id)
    if lock:
        # Serialises the counting of one partner's registrations.
        statement = statement.with_for_update()
    partner = session.scalar(statement)
    if partner is None or partner.partner_type is None:
        raise Forbidden()
    if partner.partner_type is PartnerType.DISTRIBUTOR:
        raise DistributorCannotTakeCustomers()
    return partner


def visible(statement: Select[*Ts], model: type[Any], actor: Actor) -> Select[*Ts]:
    """Rows of the actor's partner, and only the actor's own for an account manager."""
    scoped = owned_by(statement, model, actor)
    if sees_all(actor):
        return scoped
    return scoped.where(model.created_by_user_id == actor.user_id)
