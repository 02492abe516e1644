"""Use cases of opportunities: drafts, submission, review, validation, HOs and deadlines.

Every change of state is one edge of ``rules.TRANSITIONS`` and writes one audit event. The
request or job that calls a use case commits it; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.admin.regions import is_known_region, normalise_region
from partnercenter.core import audit, calendar, notifications
from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
)
from partnercenter.core.i18n import N_
from partnercenter.core.money import AmountError, parse_amount, to_decimal, to_minor
from partnercenter.core.settings import Settings
from partnercenter.identity.models import (
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    User,
)
from partnercenter.identity.permissions import PRESET_ROLES, Permission
from partnercenter.opportunities import queries
from partnercenter.opportunities.models import (
    CLOCKED_STATES,
    Opportunity,
    Origin,
    RejectionReason,
    StaffRegion,
    State,
)
from partnercenter.opportunities.rules import (
    ANSWER_WORKING_DAYS,
    CALENDAR_TIMEZONE,
    REMIND_WORKING_DAYS_BEFORE,
    REVIEWER_REASONS,
    SERVICES,
    VALIDATION_WORKING_DAYS,
    Action,
    Edge,
    Party,
    customer_key,
    edge,
)

LINK = "/opportunities/%s"
VENDOR_LINK = "/vendor/opportunities/%s"

for _kind, _title, _body in (
    (
        "opportunities.submitted",
        N_("New opportunity to review"),
        N_("%(partner)s shared an opportunity for %(customer)s."),
    ),
    (
        "opportunities.to_validate",
        N_("Opportunity to validate"),
        N_("The opportunity for %(customer)s passed review and waits for validation."),
    ),
    (
        "opportunities.passed_review",
        N_("Opportunity reviewed"),
        N_("Your opportunity for %(customer)s passed review and is being validated."),
    ),
    (
        "opportunities.accepted",
        N_("Opportunity accepted"),
        N_("Your opportunity for %(customer)s was accepted."),
    ),
    (
        "opportunities.rejected",
        N_("Opportunity rejected"),
        N_("Your opportunity for %(customer)s was rejected; open it to see why."),
    ),
    (
        "opportunities.cancelled",
        N_("Opportunity cancelled"),
        N_("The accepted opportunity for %(customer)s was cancelled."),
    ),
    (
        "opportunities.expired",
        N_("Opportunity rejected automatically"),
        N_("The opportunity for %(customer)s was rejected: its deadline passed."),
    ),
    (
        "opportunities.expired_digest",
        N_("%(count)s opportunities rejected automatically"),
        N_("These opportunities were rejected because their deadlines passed."),
    ),
    (
        "opportunities.deadline_near",
        N_("Opportunity deadline near"),
        N_("Two working days are left to decide on the opportunity for %(customer)s."),
    ),
    (
        "opportunities.shared",
        N_("An opportunity was shared with you"),
        N_(
            "Accept or reject the opportunity for %(customer)s within three working days."
        ),
    ),
    (
        "opportunities.answered",
        N_("Partner answered an opportunity"),
        N_("%(partner)s answered the opportunity for %(customer)s."),
    ),
):
    notifications.register(_kind, title=_title, body=_body)


class DuplicateValidated(Conflict):
    code = "opportunity_duplicate"
    default_message = N_(
        "Another opportunity for this customer and these services came first; reject "
        "this one as a duplicate."
    )


# -- the form ---------------------------------------------------------------------------


@dataclass
class OpportunityForm:
    """What a partner (or, for an HO, the vendor) enters; every value as typed."""

    customer_name: str = ""
    customer_industry: str = ""
    customer_region: str = ""
    is_existing_customer: bool = False
    contact_name: str = ""
    contact_phone: str = ""
    budget: str = ""
    estimated_amount: str = ""
    expected_order_date: str = ""
    services: list[str] = field(default_factory=list)
    need_description: str = ""
    solution_description: str = ""
    customer_authorised: bool = False

    @classmethod
    def of(cls, row: Opportunity) -> OpportunityForm:
        return cls(
            customer_name=row.customer_name,
            customer_industry=row.customer_industry,
            customer_region=row.customer_region,
            is_existing_customer=row.is_existing_customer,
            contact_name=row.contact_name,
            contact_phone=row.contact_phone,
            budget=_major(row.budget_minor),
            estimated_amount=_major(row.estimated_amount_minor),
            expected_order_date=(
                row.expected_order_date.isoformat() if row.expected_order_date else ""
            ),
            services=list(row.services),
            need_description=row.need_description,
            solution_description=row.solution_description,
            customer_authorised=row.customer_authorised,
        )


def _major(minor: int | None) -> str:
    return "" if minor is None else str(to_decimal(minor))


_REQUIRED = (
    ("customer_name", N_("Enter the customer's name.")),
    ("customer_industry", N_("Enter the customer's industry.")),
    ("contact_name", N_("Enter the contact person.")),
    ("contact_phone", N_("Enter the contact's phone number.")),
    ("need_description", N_("Describe the customer's need.")),
    ("solution_description", N_("Describe your solution.")),
)


@dataclass(frozen=True, slots=True)
class _Parsed:
    budget_minor: int | None
    estimated_minor: int | None
    order_date: dt.date | None
    region: str
    services: list[str]


def _parse(form: OpportunityForm, *, complete: bool) -> _Parsed:
    """Check the form; ``complete`` asks for everything a submission needs."""
    problems: list[FieldProblem] = []
    budget = _amount(form.budget, "budget", problems)
    estimated = _amount(form.estimated_amount, "estimated_amount", problems)
    order_date = None
    if form.expected_order_date.strip():
        try:
            order_date = dt.date.fromisoformat(form.expected_order_date.strip())
        except ValueError:
            problems.append(
                FieldProblem("expected_order_date", N_("Enter a date as YYYY-MM-DD."))
            )
    region = normalise_region(form.customer_region)
    if region and not is_known_region(region):
        problems.append(FieldProblem("customer_region", N_("Choose the region.")))
    services = sorted(set(form.services))
    if any(code not in SERVICES for code in services):
        problems.append(FieldProblem("services", N_("Choose services from the list.")))
    if not form.customer_name.strip():
        problems.append(FieldProblem("customer_name", N_("Enter the customer's name.")))

    parsed = _Parsed(budget, estimated, order_date, region, services)
    if complete:
        problems += _missing(form, parsed, problems)
    if problems:
        raise InvalidInput(problems=problems)
    return parsed


def _missing(
    form: OpportunityForm, parsed: _Parsed, found: Iterable[FieldProblem]
) -> list[FieldProblem]:
    """What a submission needs that the form lacks (beyond the problems ``found``)."""
    problems = [
        FieldProblem(name, message)
        for name, message in _REQUIRED[1:]
        if not str(getattr(form, name)).strip()
    ]
    if not parsed.region:
        problems.append(FieldProblem("customer_region", N_("Choose the region.")))
    if not parsed.services:
        problems.append(FieldProblem("services", N_("Choose at least one service.")))
    if parsed.estimated_minor is None and "estimated_amount" not in _fields(found):
        problems.append(
            FieldProblem("estimated_amount", N_("Enter the estimated amount."))
        )
    if parsed.order_date is None and "expected_order_date" not in _fields(found):
        problems.append(
            FieldProblem("expected_order_date", N_("Enter the expected order date."))
        )
    if not form.customer_authorised:
        problems.append(
            FieldProblem(
                "customer_authorised",
                N_("Confirm that the customer authorised sharing its information."),
            )
        )
    return problems


def _fields(problems: Iterable[FieldProblem]) -> set[str]:
    return {problem.field for problem in problems}


def _amount(value: str, name: str, problems: list[FieldProblem]) -> int | None:
    if not value.strip():
        return None
    try:
        minor = to_minor(parse_amount(value.strip()))
    except AmountError:
        problems.append(
            FieldProblem(name, N_("Enter an amount with at most two decimals."))
        )
        return None
    if minor < 0:
        problems.append(FieldProblem(name, N_("The amount cannot be negative.")))
        return None
    return minor


def _fill(row: Opportunity, form: OpportunityForm, parsed: _Parsed) -> None:
    row.customer_name = " ".join(form.customer_name.split())[:200]
    row.customer_key = customer_key(form.customer_name)[:200]
    row.customer_industry = form.customer_industry.strip()[:100]
    row.customer_region = parsed.region
    row.is_existing_customer = form.is_existing_customer
    row.contact_name = form.contact_name.strip()[:100]
    row.contact_phone = form.contact_phone.strip()[:32]
    row.budget_minor = parsed.budget_minor
    row.estimated_amount_minor = parsed.estimated_minor
    row.expected_order_date = parsed.order_date
    row.services = parsed.services
    row.need_description = form.need_description.strip()
    row.solution_description = form.solution_description.strip()
    row.customer_authorised = form.customer_authorised


def _snapshot(row: Opportunity) -> dict[str, Any]:
    return {
        "state": str(row.state),
        "customer_name": row.customer_name,
        "services": list(row.services),
        "estimated_amount_minor": row.estimated_amount_minor,
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "rejection_reason": row.rejection_reason.value
        if row.rejection_reason
        else None,
    }


# -- who may take an edge ---------------------------------------------------------------


def covers(session: Session, actor: Actor, region: str) -> bool:
    """Whether vendor staff ``actor`` handles opportunities of ``region``."""
    if actor.can(Permission.OPPORTUNITIES_ALL_REGIONS):
        return True
    return region in queries.staff_regions(session, actor.user_id)


def _may_act(session: Session, actor: Actor, row: Opportunity, party: Party) -> bool:
    if party is Party.SYSTEM:
        return actor.organisation_kind == SYSTEM.organisation_kind
    if party is Party.PARTNER:
        return (
            not actor.is_vendor
            and actor.organisation_id == row.organisation_id
            and actor.can(Permission.OPPORTUNITIES_MANAGE)
        )
    needed = (
        Permission.OPPORTUNITIES_REVIEW
        if party is Party.PDM
        else Permission.OPPORTUNITIES_VALIDATE
    )
    return (
        actor.is_vendor
        and actor.can(needed)
        and covers(session, actor, row.routing_region)
    )


def _allowed(session: Session, actor: Actor, row: Opportunity, action: Action) -> Edge:
    """The edge ``action`` takes from the row's state, if ``actor`` may take it."""
    found = edge(row.state, action)
    if not _may_act(session, actor, row, found.party):
        # Whoever cannot see the row learns nothing about it; whoever can is told no.
        raise Forbidden() if queries.can_see(session, actor, row) else NotFound()
    return found


def _move(
    session: Session,
    actor: Actor,
    row: Opportunity,
    action: Action,
    *,
    reason: str | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Take the edge ``action`` from the row's state, or refuse; write its audit event."""
    found = _allowed(session, actor, row, action)
    before = _snapshot(row)
    row.state = found.target
    row.updated_at = utc_now()
    session.flush()
    audit.record(
        session,
        actor,
        f"opportunity.{action.value}",
        subject_type="opportunity",
        subject_id=row.id,
        organisation_id=row.organisation_id,
        before=before,
        after={**_snapshot(row), **(after or {})},
        reason=reason,
    )


def _locked(session: Session, actor: Actor, opportunity_id: str) -> Opportunity:
    row = session.scalar(
        select(Opportunity).where(Opportunity.id == opportunity_id).with_for_update()
    )
    if (
        row is None
        or row.state is State.DELETED
        or not queries.can_see(session, actor, row)
    ):
        raise NotFound()
    return row


# -- drafts and submission --------------------------------------------------------------


def save_draft(
    session: Session,
    actor: Actor,
    settings: Settings,
    form: OpportunityForm,
    opportunity_id: str | None = None,
) -> Opportunity:
    """Create a draft PO, or change one that is still a draft."""
    if actor.is_vendor or not actor.can(Permission.OPPORTUNITIES_MANAGE):
        raise Forbidden()
    parsed = _parse(form, complete=False)
    now = utc_now()
    if opportunity_id is None:
        row = Opportunity(
            organisation_id=actor.organisation_id,
            origin=Origin.PARTNER,
            state=State.DRAFT,
            created_by_user_id=actor.user_id,
            created_at=now,
            updated_at=now,
            currency=settings.currency,
            routing_region="",
            due_provisional=False,
        )
        _fill(row, form, parsed)
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor,
            "opportunity.created",
            subject_type="opportunity",
            subject_id=row.id,
            organisation_id=row.organisation_id,
            after=_snapshot(row),
        )
        return row
    row = _locked(session, actor, opportunity_id)
    _allowed(session, actor, row, Action.EDIT)
    _fill(row, form, parsed)
    _move(session, actor, row, Action.EDIT)
    return row


def delete_draft(session: Session, actor: Actor, opportunity_id: str) -> None:
    row = _locked(session, actor, opportunity_id)
    _move(session, actor, row, Action.DELETE)


def submit(
    session: Session, actor: Actor, settings: Settings, opportunity_id: str
) -> Opportunity:
    """Send a complete draft to the vendor; from here on the partner cannot take it back."""
    row = _locked(session, actor, opportunity_id)
    _allowed(session, actor, row, Action.SUBMIT)
    _parse(OpportunityForm.of(row), complete=True)

    partner = session.get(Organisation, row.organisation_id)
    assert partner is not None
    row.routing_region = (
        normalise_region(partner.country_region) or row.customer_region
        if row.is_existing_customer
        else row.customer_region
    )
    row.submitted_at = utc_now()
    _move(session, actor, row, Action.SUBMIT)

    params = {"customer": row.customer_name, "partner": partner.display_name}
    for user in staff_for(session, row.routing_region, Permission.OPPORTUNITIES_REVIEW):
        _notify(
            session,
            settings,
            user,
            "opportunities.submitted",
            row,
            params=params,
            vendor_side=True,
        )
    return row


# -- the vendor's decisions -------------------------------------------------------------


def pass_review(
    session: Session,
    actor: Actor,
    settings: Settings,
    opportunity_id: str,
    comment: str = "",
) -> Opportunity:
    """The PDM sends the PO on to validation; its validation deadline starts now."""
    row = _locked(session, actor, opportunity_id)
    _allowed(session, actor, row, Action.PASS_REVIEW)
    row.reviewer_user_id = actor.user_id
    row.validation_started_at = utc_now()
    _start_clock(session, row, row.validation_started_at, VALIDATION_WORKING_DAYS)
    _move(session, actor, row, Action.PASS_REVIEW, reason=comment.strip() or None)

    params = {"customer": row.customer_name}
    for user in staff_for(
        session, row.routing_region, Permission.OPPORTUNITIES_VALIDATE
    ):
        _notify(
            session,
            settings,
            user,
            "opportunities.to_validate",
            row,
            params=params,
            vendor_side=True,
        )
    _notify_partner(session, settings, row, "opportunities.passed_review")
    return row


def accept(
    session: Session,
    actor: Actor,
    settings: Settings,
    opportunity_id: str,
    comment: str = "",
) -> Opportunity:
    """The BD validates a PO: the first validated duplicate wins, later ones are rejected."""
    row = _locked(session, actor, opportunity_id)
    _allowed(session, actor, row, Action.ACCEPT)
    if row.origin is Origin.PARTNER and queries.winning_duplicate(session, row):
        raise DuplicateValidated()

    now = utc_now()
    if row.origin is Origin.PARTNER:
        row.validator_user_id = actor.user_id
    row.validated_at = now
    row.decided_at = now
    row.decision_comment = comment.strip() or None
    _stop_clock(row)
    _move(session, actor, row, Action.ACCEPT, reason=row.decision_comment)

    if row.origin is Origin.PARTNER:
        _notify_partner(session, settings, row, "opportunities.accepted")
        _reject_later_duplicates(session, settings, row)
    else:
        _notify_sharer(session, settings, row)
    return row


def reject(
    session: Session,
    actor: Actor,
    settings: Settings,
    opportunity_id: str,
    *,
    reason: str,
    comment: str = "",
) -> Opportunity:
    """The PDM (in review), the BD (in validation) or, for an HO, the partner says no."""
    row = _locked(session, actor, opportunity_id)
    _allowed(session, actor, row, Action.REJECT)
    chosen = _reason(reason)
    if row.origin is Origin.VENDOR and not comment.strip():
        raise InvalidInput(
            problems=[FieldProblem("comment", N_("Say why you reject it."))]
        )
    _decide_rejection(row, chosen, comment)
    if row.state is State.IN_REVIEW:
        row.reviewer_user_id = actor.user_id
    elif row.origin is Origin.PARTNER:
        row.validator_user_id = actor.user_id
    _move(session, actor, row, Action.REJECT, reason=row.decision_comment)

    if row.origin is Origin.PARTNER:
        _notify_partner(session, settings, row, "opportunities.rejected")
    else:
        _notify_sharer(session, settings, row)
    return row


def cancel(
    session: Session,
    actor: Actor,
    settings: Settings,
    opportunity_id: str,
    comment: str,
) -> Opportunity:
    """Only the BD cancels a PO it accepted; the partner never can."""
    row = _locked(session, actor, opportunity_id)
    _allowed(session, actor, row, Action.CANCEL)
    if not comment.strip():
        raise InvalidInput(
            problems=[FieldProblem("comment", N_("Say why it is cancelled."))]
        )
    row.decision_comment = comment.strip()
    row.decided_at = utc_now()
    _move(session, actor, row, Action.CANCEL, reason=row.decision_comment)
    _notify_partner(session, settings, row, "opportunities.cancelled")
    return row


def update_progress(
    session: Session,
    actor: Actor,
    opportunity_id: str,
    note: str,
    outcome: str = "",
) -> Opportunity:
    """The partner reports how an accepted opportunity goes, until it is won or lost."""
    actions = {"": Action.UPDATE_PROGRESS, "won": Action.WIN, "lost": Action.LOSE}
    if outcome not in actions:
        raise InvalidInput(
            problems=[FieldProblem("outcome", N_("Choose won, lost or neither."))]
        )
    if not note.strip():
        raise InvalidInput(
            problems=[FieldProblem("note", N_("Describe the progress."))]
        )
    row = _locked(session, actor, opportunity_id)
    _allowed(session, actor, row, actions[outcome])
    row.progress_note = note.strip()
    _move(session, actor, row, actions[outcome], reason=row.progress_note)
    return row


# -- HOs --------------------------------------------------------------------------------


def share_with_partner(
    session: Session,
    actor: Actor,
    settings: Settings,
    partner_id: str,
    form: OpportunityForm,
) -> Opportunity:
    """The vendor shares its own lead (an HO) with one partner, which must answer in time."""
    if not actor.is_vendor or not actor.can(Permission.OPPORTUNITIES_VALIDATE):
        raise Forbidden()
    partner = session.get(Organisation, partner_id)
    if partner is None or partner.kind is not OrganisationKind.PARTNER:
        raise NotFound()
    form.customer_authorised = True
    parsed = _parse(form, complete=True)
    if not covers(session, actor, parsed.region):
        raise Forbidden()

    now = utc_now()
    row = Opportunity(
        organisation_id=partner.id,
        origin=Origin.VENDOR,
        state=State.SHARED,
        created_by_user_id=actor.user_id,
        created_at=now,
        updated_at=now,
        shared_at=now,
        currency=settings.currency,
        routing_region=parsed.region,
        due_provisional=False,
    )
    _fill(row, form, parsed)
    _start_clock(session, row, now, ANSWER_WORKING_DAYS)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "opportunity.shared",
        subject_type="opportunity",
        subject_id=row.id,
        organisation_id=row.organisation_id,
        after=_snapshot(row),
    )
    _notify_partner(session, settings, row, "opportunities.shared")
    return row


# -- deadlines --------------------------------------------------------------------------


def _clock_length(row: Opportunity) -> int:
    return (
        VALIDATION_WORKING_DAYS if row.origin is Origin.PARTNER else ANSWER_WORKING_DAYS
    )


def _start_clock(
    session: Session, row: Opportunity, start: dt.datetime, working_days: int
) -> None:
    row.clock_started_at = start
    _count_deadline(session, row, working_days)


def _count_deadline(session: Session, row: Opportunity, working_days: int) -> None:
    assert row.clock_started_at is not None
    due = calendar.deadline_after(
        session, row.clock_started_at, working_days, CALENDAR_TIMEZONE
    )
    remind = calendar.deadline_after(
        session,
        row.clock_started_at,
        max(working_days - REMIND_WORKING_DAYS_BEFORE, 0),
        CALENDAR_TIMEZONE,
    )
    row.due_at = due.at
    row.due_provisional = due.provisional
    row.remind_at = remind.at


def _stop_clock(row: Opportunity) -> None:
    """A decision in time leaves the deadline on record but nothing more to remind of."""
    row.remind_at = None


@calendar.on_change
def recompute_deadlines(session: Session, year: int) -> None:
    """Count again the deadlines of open opportunities whose clock runs through ``year``."""
    first = dt.datetime(year, 1, 1, tzinfo=dt.UTC) - dt.timedelta(days=1)
    last = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=1)
    rows = session.scalars(
        select(Opportunity)
        .where(
            Opportunity.state.in_(CLOCKED_STATES),
            Opportunity.clock_started_at < last,
            Opportunity.due_at >= first,
        )
        .with_for_update()
    ).all()
    for row in rows:
        before = {
            "due_at": row.due_at.isoformat() if row.due_at else None,
            "due_provisional": row.due_provisional,
        }
        _count_deadline(session, row, _clock_length(row))
        after = {
            "due_at": row.due_at.isoformat() if row.due_at else None,
            "due_provisional": row.due_provisional,
        }
        if after == before:
            continue
        if row.remind_at is not None and row.remind_at > utc_now():
            row.reminded_at = None
        audit.record(
            session,
            SYSTEM,
            "opportunity.deadline_recounted",
            subject_type="opportunity",
            subject_id=row.id,
            organisation_id=row.organisation_id,
            before=before,
            after=after,
            reason=str(year),
        )
    session.flush()


def remind_near_deadlines(session: Session, settings: Settings) -> int:
    """Tell whoever must decide that two working days are left, once per opportunity."""
    now = utc_now()
    rows = session.scalars(
        select(Opportunity)
        .where(
            Opportunity.state.in_(CLOCKED_STATES),
            Opportunity.remind_at <= now,
            Opportunity.due_at > now,
            Opportunity.reminded_at.is_(None),
        )
        .with_for_update(skip_locked=True)
        .limit(500)
    ).all()
    for row in rows:
        row.reminded_at = now
        if row.origin is Origin.PARTNER:
            for user in staff_for(
                session, row.routing_region, Permission.OPPORTUNITIES_VALIDATE
            ):
                _notify(
                    session,
                    settings,
                    user,
                    "opportunities.deadline_near",
                    row,
                    params={"customer": row.customer_name},
                    vendor_side=True,
                )
        else:
            _notify_partner(session, settings, row, "opportunities.deadline_near")
    session.flush()
    return len(rows)


# -- duplicates -------------------------------------------------------------------------


def _reject_later_duplicates(
    session: Session, settings: Settings, winner: Opportunity
) -> None:
    for row in queries.open_duplicates(session, winner, lock=True):
        _decide_rejection(row, RejectionReason.DUPLICATE, "")
        row.duplicate_of_id = winner.id
        _reject_as_duplicate(session, row, winner)
        _notify_partner(session, settings, row, "opportunities.rejected")


def _reject_as_duplicate(
    session: Session, row: Opportunity, winner: Opportunity
) -> None:
    """Rejected for the vendor by the validation of ``winner``: not an edge any person
    takes, so it is recorded as the system's rejection in the state it was found."""
    before = _snapshot(row)
    edge(row.state, Action.REJECT)
    row.state = State.REJECTED
    row.updated_at = utc_now()
    session.flush()
    audit.record(
        session,
        SYSTEM,
        "opportunity.rejected_as_duplicate",
        subject_type="opportunity",
        subject_id=row.id,
        organisation_id=row.organisation_id,
        before=before,
        after={**_snapshot(row), "duplicate_of_id": winner.id},
        reason=RejectionReason.DUPLICATE.value,
    )


def _decide_rejection(row: Opportunity, reason: RejectionReason, comment: str) -> None:
    row.rejection_reason = reason
    row.decision_comment = comment.strip() or None
    row.decided_at = utc_now()
    _stop_clock(row)


def _reason(value: str) -> RejectionReason:
    try:
        chosen = RejectionReason(value)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in REVIEWER_REASONS:
        raise InvalidInput(
            problems=[FieldProblem("reason", N_("Choose a reason from the list."))]
        )
    return chosen


# -- staff and who hears of what --------------------------------------------------------


def set_staff_regions(
    session: Session, actor: Actor, user_id: str, regions: Sequence[str]
) -> list[str]:
    """Set which regions' opportunities reach a PDM's or BD's queue."""
    if not actor.is_vendor or not actor.can(Permission.STAFF_MANAGE):
        raise Forbidden()
    if not _is_vendor_staff(session, actor.organisation_id, user_id):
        raise NotFound()
    chosen = sorted({normalise_region(code) for code in regions if code.strip()})
    if any(not is_known_region(code) for code in chosen):
        raise InvalidInput(
            problems=[FieldProblem("regions", N_("Choose regions from the list."))]
        )
    before = sorted(queries.staff_regions(session, user_id))
    for row in session.scalars(
        select(StaffRegion).where(StaffRegion.user_id == user_id)
    ):
        session.delete(row)
    session.flush()
    now = utc_now()
    session.add_all(
        StaffRegion(user_id=user_id, region=code, created_at=now) for code in chosen
    )
    session.flush()
    audit.record(
        session,
        actor,
        "opportunity.staff_regions_set",
        subject_type="user",
        subject_id=user_id,
        organisation_id=actor.organisation_id,
        before={"regions": before},
        after={"regions": chosen},
    )
    return chosen


@dataclass(frozen=True, slots=True)
class ReviewingStaff:
    user: User
    roles: list[str]
    regions: list[str]


def reviewing_staff(session: Session, actor: Actor) -> list[ReviewingStaff]:
    """The vendor's PDMs and BDs with the regions each covers."""
    if not actor.is_vendor or not actor.can(Permission.STAFF_MANAGE):
        raise Forbidden()
    codes = ("pdm", "bd")
    rows = session.execute(
        select(User, MembershipRole.preset)
        .join(Membership, Membership.user_id == User.id)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .where(
            Membership.organisation_id == actor.organisation_id,
            Membership.left_at.is_(None),
            MembershipRole.preset.in_(codes),
        )
        .order_by(User.display_name)
    ).all()
    found: dict[str, ReviewingStaff] = {}
    for user, role in rows:
        entry = found.setdefault(
            user.id,
            ReviewingStaff(user, [], sorted(queries.staff_regions(session, user.id))),
        )
        entry.roles.append(str(role).upper())
    return list(found.values())


def _is_vendor_staff(session: Session, vendor_id: str, user_id: str) -> bool:
    membership = session.scalar(
        select(Membership.id).where(
            Membership.organisation_id == vendor_id,
            Membership.user_id == user_id,
            Membership.left_at.is_(None),
        )
    )
    return membership is not None


def staff_for(session: Session, region: str, permission: Permission) -> list[User]:
    """Vendor staff whose preset role holds ``permission`` and who cover ``region``."""
    codes = [
        code for code, role in PRESET_ROLES.items() if permission in role.permissions
    ]
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .join(MembershipRole, MembershipRole.membership_id == Membership.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .join(StaffRegion, StaffRegion.user_id == User.id)
            .where(
                Organisation.kind == OrganisationKind.VENDOR,
                Membership.left_at.is_(None),
                MembershipRole.preset.in_(codes),
                StaffRegion.region == region,
                User.is_active.is_(True),
            )
            .distinct()
        )
    )


def partner_recipients(session: Session, row: Opportunity) -> list[User]:
    """The PO's author while still a member, and the partner's main account."""
    organisation = session.get(Organisation, row.organisation_id)
    ids = (
        {organisation.main_user_id}
        if organisation and organisation.main_user_id
        else set()
    )
    if row.origin is Origin.PARTNER and row.created_by_user_id:
        ids.add(row.created_by_user_id)
    if not ids:
        return []
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                User.id.in_(ids),
                Membership.organisation_id == row.organisation_id,
                Membership.left_at.is_(None),
                User.is_active.is_(True),
            )
            .distinct()
        )
    )


def _notify_partner(
    session: Session, settings: Settings, row: Opportunity, kind: str
) -> None:
    for user in partner_recipients(session, row):
        _notify(
            session,
            settings,
            user,
            kind,
            row,
            params={"customer": row.customer_name},
            vendor_side=False,
        )


def _notify_sharer(session: Session, settings: Settings, row: Opportunity) -> None:
    sharer = (
        session.get(User, row.created_by_user_id) if row.created_by_user_id else None
    )
    partner = session.get(Organisation, row.organisation_id)
    if sharer is None or partner is None:
        return
    params = {"customer": row.customer_name, "partner": partner.display_name}
    _notify(
        session,
        settings,
        sharer,
        "opportunities.answered",
        row,
        params=params,
        vendor_side=True,
    )


def _notify(
    session: Session,
    settings: Settings,
    user: User,
    kind: str,
    row: Opportunity,
    *,
    params: dict[str, Any],
    vendor_side: bool,
) -> None:
    notifications.notify(
        session,
        user=user,
        kind=kind,
        params=params,
        link=(VENDOR_LINK if vendor_side else LINK) % row.id,
        base_url=settings.base_url,
        default_locale=settings.locale,
        organisation_id=None if vendor_side else row.organisation_id,
    )
