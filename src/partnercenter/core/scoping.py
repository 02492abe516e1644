"""The one helper through which queries on organisation-owned rows are scoped.

Every table that belongs to an organisation has an ``organisation_id`` column. A query on such
a table goes through :func:`owned_by`, which limits it to the actor's organisation; only
vendor staff holding a cross-organisation permission may look wider.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVarTuple

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from partnercenter.core.actor import Actor
from partnercenter.core.errors import NotFound

Ts = TypeVarTuple("Ts")


class OrganisationOwned(Protocol):
    organisation_id: InstrumentedAttribute[str]


def owned_by(
    statement: Select[*Ts],
    model: type[Any],
    actor: Actor,
    *,
    vendor_permission: str | None = None,
) -> Select[*Ts]:
    """Limit ``statement`` to rows of the actor's organisation.

    With ``vendor_permission``, vendor staff holding it see every organisation's rows.
    """
    if vendor_permission and actor.is_vendor and actor.can(vendor_permission):
        return statement
    column: InstrumentedAttribute[str] = model.organisation_id
    return statement.where(column == actor.organisation_id)


def ensure_owned(row_organisation_id: str, actor: Actor) -> None:
    """Refuse a row of another organisation as if it did not exist (no probing by id)."""
    if row_organisation_id != actor.organisation_id:
        raise NotFound()
