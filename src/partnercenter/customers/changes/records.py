"""Reading the association records: filters, paging and the CSV export.

Records are only ever added (by ``customers.service.write_record``); nothing here or
anywhere else changes or deletes one. A partner reads the rows about itself (a distributor
also those of its resellers that accept the customer-information notice), an account
manager the partner's rows about the customers assigned to it now, a customer the rows
about itself, and vendor staff who may look customers up read every row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.errors import Forbidden, NotFound
from partnercenter.core.i18n import N_, Translator
from partnercenter.customers.models import Association, AssociationRecord
from partnercenter.customers.visibility import (
    association_condition,
    can_view_customers,
    consenting_resellers,
    has_resellers_tab,
    sees_every_customer,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, OrganisationKind
from partnercenter.identity.permissions import Permission

MAX_PAGE = 200
EXPORT_LIMIT = 10_000
"""Rows in one CSV export; narrow the filters for more."""

KIND_LABELS = {
    "associated": N_("Associated"),
    "invitation_accepted": N_("Invitation accepted"),
    "request_submitted": N_("Request submitted"),
    "request_accepted": N_("Request accepted"),
    "request_rejected": N_("Request rejected"),
    "request_cancelled": N_("Request withdrawn"),
    "disassociated": N_("Disassociated"),
    "mode_switched": N_("Mode switched"),
}
OUTCOME_LABELS = {
    "succeeded": N_("Succeeded"),
    "refused": N_("Refused"),
    "pending": N_("Pending"),
}
PARTY_LABELS = {
    "partner": N_("Partner"),
    "customer": N_("Customer"),
    "vendor": N_("Vendor"),
    "system": N_("System"),
}
MODE_LABELS = {"consulting": N_("Consulting sale"), "resale": N_("Resale")}


@dataclass(frozen=True, slots=True)
class RecordQuery:
    partner_id: str | None = None
    """For vendor staff; the others read one partner's rows in any case."""
    customer_id: str | None = None
    kind: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    """Exclusive."""
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True, slots=True)
class RecordPage:
    total: int
    offset: int
    limit: int
    rows: Sequence[AssociationRecord]


def _scope(actor: Actor) -> Select[AssociationRecord]:
    statement = select(AssociationRecord)
    if actor.organisation_kind == OrganisationKind.CUSTOMER:
        identity.authorize(actor, Permission.CUSTOMER_SELF)
        return statement.where(AssociationRecord.customer_id == actor.organisation_id)
    if actor.is_vendor:
        if not sees_every_customer(actor):
            raise Forbidden()
        return statement
    own = statement.where(AssociationRecord.organisation_id == actor.organisation_id)
    if has_resellers_tab(actor):
        # A distributor associates nobody itself; it reads its resellers' rows under the
        # rule of its resellers' tab: of those that accept the notice right now.
        return statement.where(
            or_(
                AssociationRecord.organisation_id == actor.organisation_id,
                AssociationRecord.organisation_id.in_(
                    consenting_resellers(actor.organisation_id)
                ),
            )
        )
    if actor.can(Permission.CUSTOMERS_VIEW_ALL):
        return own
    if not can_view_customers(actor):
        raise Forbidden()
    # An account manager reads the whole history of the customers assigned to it now,
    # as the customer pages show them, and nothing of the partner's other customers.
    assigned = select(Association.customer_id).where(association_condition(actor))
    return own.where(AssociationRecord.customer_id.in_(assigned))


def _filtered(actor: Actor, query: RecordQuery) -> Select[AssociationRecord]:
    statement = _scope(actor)
    if query.partner_id:
        statement = statement.where(
            AssociationRecord.organisation_id == query.partner_id
        )
    if query.customer_id:
        statement = statement.where(AssociationRecord.customer_id == query.customer_id)
    if query.kind:
        statement = statement.where(AssociationRecord.kind == query.kind)
    if query.outcome:
        statement = statement.where(AssociationRecord.outcome == query.outcome)
    if query.since:
        statement = statement.where(AssociationRecord.occurred_at >= query.since)
    if query.until:
        statement = statement.where(AssociationRecord.occurred_at < query.until)
    return statement


def find(session: Session, actor: Actor, query: RecordQuery) -> RecordPage:
    """The records ``actor`` may read that match ``query``, newest first."""
    statement = _filtered(actor, query)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    limit = max(1, min(query.limit, MAX_PAGE))
    rows = session.scalars(
        statement.order_by(
            AssociationRecord.occurred_at.desc(), AssociationRecord.id.desc()
        )
        .offset(max(query.offset, 0))
        .limit(limit)
    ).all()
    return RecordPage(total, query.offset, limit, rows)


def get(session: Session, actor: Actor, record_id: int) -> AssociationRecord:
    record = session.scalar(_scope(actor).where(AssociationRecord.id == record_id))
    if record is None:
        raise NotFound(N_("No such record."))
    return record


def names(session: Session, rows: Sequence[AssociationRecord]) -> dict[str, str]:
    """Display names of the organisations the rows mention, by id."""
    ids = {row.customer_id for row in rows} | {row.organisation_id for row in rows}
    known = [i for i in ids if i]
    if not known:
        return {}
    found = session.execute(
        select(Organisation.id, Organisation.display_name).where(
            Organisation.id.in_(known)
        )
    )
    return {row.id: row.display_name for row in found}


def label(labels: dict[str, str], value: str | None, tr: Translator) -> str:
    if not value:
        return ""
    return tr.gettext(labels[value]) if value in labels else value


def export_csv(
    session: Session,
    actor: Actor,
    query: RecordQuery,
    tr: Translator,
    *,
    timezone: str,
) -> str:
    """The matching records as CSV text, headed in the reader's language."""
    page = find(
        session,
        actor,
        replace(query, offset=0, limit=MAX_PAGE),
    )
    rows = list(page.rows)
    while len(rows) < min(page.total, EXPORT_LIMIT):
        more = find(
            session,
            actor,
            replace(query, offset=len(rows), limit=MAX_PAGE),
        )
        if not more.rows:
            break
        rows.extend(more.rows)
    known = names(session, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            tr.gettext(heading)
            for heading in (
                N_("Time"),
                N_("Customer"),
                N_("Customer ID"),
                N_("Partner"),
                N_("Record"),
                N_("Outcome"),
                N_("Mode before"),
                N_("Mode after"),
                N_("By"),
                N_("Request ID"),
                N_("Reason"),
            )
        ]
    )
    for row in rows:
        writer.writerow(
            [
                tr.format_datetime(row.occurred_at, timezone),
                known.get(row.customer_id or "", ""),
                row.customer_id or "",
                known.get(row.organisation_id or "", ""),
                label(KIND_LABELS, row.kind, tr),
                label(OUTCOME_LABELS, row.outcome, tr),
                label(MODE_LABELS, row.mode_before, tr),
                label(MODE_LABELS, row.mode_after, tr),
                label(PARTY_LABELS, row.actor_party, tr),
                row.request_id or "",
                row.reason or "",
            ]
        )
    return buffer.getvalue()
