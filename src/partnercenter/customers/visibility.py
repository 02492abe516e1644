"""Who sees which customers: the one rule every customer query goes through.

- A partner holding ``customers.view_all`` sees the customers associated with it (and, in
  history views, those whose association with it has ended).
- An account manager (``customers.view_assigned`` only) sees the active associations
  assigned to it, nothing else.
- A distributor associates no customers itself; on its own tab it sees its resellers'
  customers, but only of resellers that accept the customer-information notice right now.
- Vendor staff holding ``vendor.partners.view`` see every customer (the look-up).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, exists, false, select, true
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.errors import Forbidden, NotFound
from partnercenter.core.i18n import N_
from partnercenter.customers.models import (
    Association,
    AssociationStatus,
    ResellerNotice,
)
from partnercenter.identity.models import Organisation
from partnercenter.identity.permissions import Permission


class Tab(StrEnum):
    OWN = "own"
    """The partner's own customers."""
    RESELLERS = "resellers"
    """A distributor's view of its resellers' customers."""


def sees_every_customer(actor: Actor) -> bool:
    """Vendor staff who may look any customer up."""
    return actor.is_vendor and actor.can(Permission.PARTNERS_VIEW)


def can_view_customers(actor: Actor) -> bool:
    return sees_every_customer(actor) or (
        not actor.is_vendor
        and (
            actor.can(Permission.CUSTOMERS_VIEW_ALL)
            or actor.can(Permission.CUSTOMERS_VIEW_ASSIGNED)
        )
    )


def has_resellers_tab(actor: Actor) -> bool:
    return actor.organisation_kind == "distributor" and actor.can(
        Permission.CUSTOMERS_VIEW_ALL
    )


def consenting_resellers(distributor_id: str) -> Select[str]:
    """Ids of the distributor's resellers that accept the notice at this moment."""
    return select(Organisation.id).where(
        Organisation.parent_id == distributor_id,
        exists().where(
            ResellerNotice.organisation_id == Organisation.id,
            ResellerNotice.revoked_at.is_(None),
        ),
    )


def association_condition(
    actor: Actor, *, tab: Tab = Tab.OWN, include_ended: bool = False
) -> ColumnElement[bool]:
    """The condition an ``Association`` row must meet for ``actor`` to see it."""
    if not can_view_customers(actor):
        raise Forbidden(N_("You may not view customers."))
    current = (
        true() if include_ended else Association.status == AssociationStatus.ACTIVE
    )
    if sees_every_customer(actor):
        return current
    if tab is Tab.RESELLERS:
        return _resellers_condition(actor)
    if actor.can(Permission.CUSTOMERS_VIEW_ALL):
        return and_(Association.organisation_id == actor.organisation_id, current)
    # An account manager sees only what is assigned to it now; ended associations are
    # history of the partner, not of the manager.
    return and_(
        Association.organisation_id == actor.organisation_id,
        Association.status == AssociationStatus.ACTIVE,
        Association.account_manager_user_id == actor.user_id,
    )


def _resellers_condition(actor: Actor) -> ColumnElement[bool]:
    if not has_resellers_tab(actor):
        return false()
    return and_(
        Association.organisation_id.in_(consenting_resellers(actor.organisation_id)),
        Association.status == AssociationStatus.ACTIVE,
    )


def visible_associations(
    actor: Actor, *, tab: Tab = Tab.OWN, include_ended: bool = False
) -> Select[Association]:
    return select(Association).where(
        association_condition(actor, tab=tab, include_ended=include_ended)
    )


def visible_association(
    session: Session, actor: Actor, customer_id: str
) -> tuple[Association, Tab]:
    """The association through which ``actor`` sees the customer, newest first.

    Any customer the actor may not see answers NotFound, so that ids cannot be probed.
    """
    tabs = [Tab.OWN, Tab.RESELLERS] if has_resellers_tab(actor) else [Tab.OWN]
    for tab in tabs:
        statement = (
            visible_associations(actor, tab=tab, include_ended=True)
            .where(Association.customer_id == customer_id)
            .order_by(Association.started_at.desc(), Association.id.desc())
            .limit(1)
        )
        found = session.scalar(statement)
        if found is not None:
            return found, tab
    raise NotFound(N_("No such customer."))
