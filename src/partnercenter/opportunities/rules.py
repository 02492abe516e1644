"""The life of an opportunity as one table: which action moves which state, and who may take it.

Every change of state goes through :func:`edge`; an action that is not in the table for the
current state is refused, whoever asks. The tests walk the table edge by edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from partnercenter.core.errors import Conflict
from partnercenter.core.i18n import N_
from partnercenter.opportunities.models import RejectionReason, State

VALIDATION_WORKING_DAYS = 10
"""A PO must be validated within this many working days after it enters validation."""
ANSWER_WORKING_DAYS = 3
"""A partner must answer an HO within this many working days after it was shared."""
REMIND_WORKING_DAYS_BEFORE = 2
"""Whoever must decide is reminded when this many working days are left."""
CALENDAR_TIMEZONE = "Asia/Shanghai"
"""Working days are days of mainland China's calendar, counted in its time zone."""


class Action(StrEnum):
    EDIT = "edit"
    DELETE = "delete"
    SUBMIT = "submit"
    PASS_REVIEW = "pass_review"  # noqa: S105 - an action's name, not a secret
    ACCEPT = "accept"
    REJECT = "reject"
    EXPIRE = "expire"
    CANCEL = "cancel"
    UPDATE_PROGRESS = "update_progress"
    WIN = "win"
    LOSE = "lose"


class Party(StrEnum):
    PARTNER = "partner"
    PDM = "pdm"
    BD = "bd"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Edge:
    target: State
    party: Party


TRANSITIONS: dict[tuple[State, Action], Edge] = {
    (State.DRAFT, Action.EDIT): Edge(State.DRAFT, Party.PARTNER),
    (State.DRAFT, Action.DELETE): Edge(State.DELETED, Party.PARTNER),
    (State.DRAFT, Action.SUBMIT): Edge(State.IN_REVIEW, Party.PARTNER),
    (State.IN_REVIEW, Action.PASS_REVIEW): Edge(State.IN_VALIDATION, Party.PDM),
    (State.IN_REVIEW, Action.REJECT): Edge(State.REJECTED, Party.PDM),
    (State.IN_VALIDATION, Action.ACCEPT): Edge(State.ACCEPTED, Party.BD),
    (State.IN_VALIDATION, Action.REJECT): Edge(State.REJECTED, Party.BD),
    (State.IN_VALIDATION, Action.EXPIRE): Edge(State.REJECTED, Party.SYSTEM),
    (State.SHARED, Action.ACCEPT): Edge(State.ACCEPTED, Party.PARTNER),
    (State.SHARED, Action.REJECT): Edge(State.REJECTED, Party.PARTNER),
    (State.SHARED, Action.EXPIRE): Edge(State.REJECTED, Party.SYSTEM),
    (State.ACCEPTED, Action.CANCEL): Edge(State.CANCELLED, Party.BD),
    (State.ACCEPTED, Action.UPDATE_PROGRESS): Edge(State.ACCEPTED, Party.PARTNER),
    (State.ACCEPTED, Action.WIN): Edge(State.WON, Party.PARTNER),
    (State.ACCEPTED, Action.LOSE): Edge(State.LOST, Party.PARTNER),
}
"""Everything that can happen to an opportunity. Nothing leads out of a submitted PO for the
partner but progress after acceptance: it cannot withdraw or cancel what it submitted."""


class TransitionRefused(Conflict):
    code = "opportunity_transition_refused"
    default_message = N_("This cannot be done to an opportunity in its current state.")


def edge(state: State, action: Action) -> Edge:
    found = TRANSITIONS.get((state, action))
    if found is None:
        raise TransitionRefused()
    return found


def actions_from(state: State) -> dict[Action, Edge]:
    return {act: found for (src, act), found in TRANSITIONS.items() if src is state}


REVIEWER_REASONS = tuple(
    r for r in RejectionReason if r is not RejectionReason.SLA_EXPIRED
)
"""Reasons a person may choose; an expired deadline is only ever set by the worker."""

REASON_LABELS: dict[RejectionReason, str] = {
    RejectionReason.NO_OPPORTUNITY: N_(
        "The customer confirms there is no such opportunity, or the deal is done"
    ),
    RejectionReason.NO_BUDGET: N_("No budget, or no clear order date"),
    RejectionReason.NO_INCREMENTAL_REVENUE: N_(
        "The need is unrelated to our cloud: no incremental revenue"
    ),
    RejectionReason.NO_CONTACT: N_("No clear contact person or contact details"),
    RejectionReason.VAGUE: N_("The description is vague: no key actions or needs"),
    RejectionReason.DUPLICATE: N_("Duplicate of another opportunity"),
    RejectionReason.SLA_EXPIRED: N_("SLA expired"),
}

STATE_LABELS: dict[State, str] = {
    State.DRAFT: N_("Draft"),
    State.DELETED: N_("Deleted"),
    State.IN_REVIEW: N_("In review"),
    State.IN_VALIDATION: N_("In validation"),
    State.SHARED: N_("Awaiting the partner"),
    State.ACCEPTED: N_("Accepted"),
    State.REJECTED: N_("Rejected"),
    State.CANCELLED: N_("Cancelled"),
    State.WON: N_("Won"),
    State.LOST: N_("Lost"),
}

SERVICES: dict[str, str] = {
    "compute": N_("Elastic compute"),
    "storage": N_("Object storage"),
    "database": N_("Managed databases"),
    "containers": N_("Container engine"),
    "network": N_("Networking and CDN"),
    "security": N_("Security services"),
    "ai": N_("AI and model services"),
    "big_data": N_("Big data and analytics"),
    "migration": N_("Migration services"),
}
"""The vendor services a lead may be about; two leads overlap when they share one."""


def customer_key(name: str) -> str:
    """The customer's name as compared for duplicates: case and spacing ignored."""
    return " ".join(name.split()).casefold()
