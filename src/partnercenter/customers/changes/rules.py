"""When an association may be changed: how often requests may be made, and what must be
settled before a customer leaves its partner or changes mode.

Every check returns problems rather than raising, so that the pages can show them before
anyone submits, and the use cases raise them all together when the change would happen.
"""

from __future__ import annotations

import calendar
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.errors import Conflict, FieldProblem
from partnercenter.core.i18n import N_
from partnercenter.customers import rules as eligibility
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRequest,
    Customer,
    RequestKind,
    RequestParty,
)

REQUEST_INTERVAL_MONTHS = 3
"""Calendar months between two requests of one side (and after a customer's request)."""

PARTNER_CHANGE_KINDS = (RequestKind.DISASSOCIATE, RequestKind.SWITCH_MODE)
"""The kinds of request a partner may start; they share one frequency limit."""


class ChangeRefused(Conflict):
    """The change cannot be made now; each problem's field is the code of one reason."""

    code = "change_refused"
    default_message = N_("The association cannot be changed at the moment.")

    @property
    def codes(self) -> list[str]:
        return [problem.field for problem in self.problems]


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same time ``months`` calendar months later, on the last day if the month is
    shorter (31 May + 3 months is 31 August; 30 November + 3 months is 28 or 29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _latest(session: Session, *conditions: object) -> AssociationRequest | None:
    return session.scalar(
        select(AssociationRequest)
        .where(*conditions)  # type: ignore[arg-type]
        .order_by(AssociationRequest.created_at.desc())
        .limit(1)
    )


def _too_soon(
    code: str, message: str, since: AssociationRequest | None, now: dt.datetime
) -> list[FieldProblem]:
    if since is None:
        return []
    allowed_from = add_months(since.created_at, REQUEST_INTERVAL_MONTHS)
    if now >= allowed_from:
        return []
    return [FieldProblem(code, message, {"date": allowed_from.date().isoformat()})]


def partner_frequency(
    session: Session, *, partner_id: str, customer_id: str, now: dt.datetime
) -> list[FieldProblem]:
    """Why the partner may not start a disassociation or mode switch now.

    Every request the partner started counts, whatever became of it: cancelling or having
    a request refused does not give the partner another try sooner.
    """
    own = _latest(
        session,
        AssociationRequest.organisation_id == partner_id,
        AssociationRequest.customer_id == customer_id,
        AssociationRequest.initiated_by == RequestParty.PARTNER,
        AssociationRequest.kind.in_(PARTNER_CHANGE_KINDS),
    )
    customers = _latest(
        session,
        AssociationRequest.organisation_id == partner_id,
        AssociationRequest.customer_id == customer_id,
        AssociationRequest.initiated_by == RequestParty.CUSTOMER,
        AssociationRequest.kind == RequestKind.DISASSOCIATE,
    )
    return _too_soon(
        "partner_request_too_soon",
        N_(
            "The partner already started a disassociation or mode switch for this "
            "customer in the last three months; the next one can be started on %(date)s."
        ),
        own,
        now,
    ) + _too_soon(
        "customer_request_too_recent",
        N_(
            "The customer asked to disassociate less than three months ago; the partner "
            "can start a change on %(date)s."
        ),
        customers,
        now,
    )


def customer_frequency(
    session: Session, *, customer_id: str, now: dt.datetime
) -> list[FieldProblem]:
    """Why the customer may not ask to disassociate now (one request per three months)."""
    latest = _latest(
        session,
        AssociationRequest.customer_id == customer_id,
        AssociationRequest.initiated_by == RequestParty.CUSTOMER,
        AssociationRequest.kind == RequestKind.DISASSOCIATE,
    )
    return _too_soon(
        "customer_request_too_soon",
        N_(
            "You asked to disassociate less than three months ago; you can ask again on "
            "%(date)s."
        ),
        latest,
        now,
    )


RESALE_IN_ARREARS = FieldProblem(
    "resale_in_arrears",
    N_(
        "The customer is in arrears. The partner must allocate enough to the customer to "
        "clear the debt first."
    ),
)
CONSULTING_IN_ARREARS = FieldProblem(
    "consulting_in_arrears",
    N_("The customer is in arrears and must pay the outstanding amount itself first."),
)


def preconditions(
    customer: Customer,
    *,
    debt: int,
    mode: AssociationMode,
    kind: RequestKind,
    target_mode: AssociationMode | None,
) -> list[FieldProblem]:
    """What must be settled before the customer leaves ``mode`` (by disassociating or by
    switching), each with what to do about it. ``debt`` is what the customer owes now, from
    its balance in the ledger."""
    found: list[FieldProblem] = []
    if debt > 0:
        found.append(
            RESALE_IN_ARREARS
            if mode is AssociationMode.RESALE
            else CONSULTING_IN_ARREARS
        )
    if customer.pending_partner_paid_orders > 0:
        found.append(
            FieldProblem(
                "orders_awaiting_partner_payment",
                N_(
                    "%(count)s orders are waiting for the partner to pay them; the partner "
                    "must pay or cancel them first."
                ),
                {"count": customer.pending_partner_paid_orders},
            )
        )
    if kind is RequestKind.SWITCH_MODE and target_mode is AssociationMode.RESALE:
        found.extend(
            FieldProblem(refusal.code, refusal.message)
            for flag, refusal in eligibility.RESALE_FLAGS
            if getattr(customer, flag)
        )
    return found
