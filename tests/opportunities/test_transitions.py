"""The transition table, edge by edge: every allowed move works, every other one is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import DomainError, Forbidden, NotFound
from partnercenter.core.models import AuditEvent
from partnercenter.core.settings import Settings
from partnercenter.opportunities import service, sweep
from partnercenter.opportunities.models import Opportunity, Origin, State
from partnercenter.opportunities.rules import (
    TRANSITIONS,
    Action,
    TransitionRefused,
)
from tests.opportunities.desk import Desk, accepted, complete_form, desk, submitted

FORBIDDEN = [
    (state, action)
    for state in State
    for action in Action
    if (state, action) not in TRANSITIONS
]


def _in_state(d: Desk, state: State) -> Opportunity:
    """A PO (or, waiting for the partner, an HO) put straight into ``state``."""
    row = service.save_draft(d.db, d.as_partner, d.settings, complete_form())
    row.routing_region = "CN"
    row.state = state
    if state is State.SHARED:
        row.origin = Origin.VENDOR
        row.created_by_user_id = d.bd.id
    row.clock_started_at = row.created_at
    row.due_at = row.created_at + dt.timedelta(days=14)
    d.db.flush()
    return row


def _perform(d: Desk, row: Opportunity, action: Action) -> None:
    db, settings, ho = d.db, d.settings, row.origin is Origin.VENDOR
    steps: dict[Action, Callable[[], object]] = {
        Action.EDIT: lambda: service.save_draft(
            db, d.as_partner, settings, complete_form(), row.id
        ),
        Action.DELETE: lambda: service.delete_draft(db, d.as_partner, row.id),
        Action.SUBMIT: lambda: service.submit(db, d.as_partner, settings, row.id),
        Action.PASS_REVIEW: lambda: service.pass_review(db, d.as_pdm, settings, row.id),
        Action.ACCEPT: lambda: service.accept(
            db, d.as_partner if ho else d.as_bd, settings, row.id
        ),
        Action.REJECT: lambda: service.reject(
            db,
            d.as_partner
            if ho
            else d.as_pdm
            if row.state is State.IN_REVIEW
            else d.as_bd,
            settings,
            row.id,
            reason="vague",
            comment="Not enough detail.",
        ),
        Action.EXPIRE: lambda: sweep.expire_overdue(
            db, settings, now=row.created_at + dt.timedelta(days=15)
        ),
        Action.CANCEL: lambda: service.cancel(
            db, d.as_bd, settings, row.id, "The customer chose another vendor."
        ),
        Action.UPDATE_PROGRESS: lambda: service.update_progress(
            db, d.as_partner, row.id, "Demo given."
        ),
        Action.WIN: lambda: service.update_progress(
            db, d.as_partner, row.id, "Contract signed.", "won"
        ),
        Action.LOSE: lambda: service.update_progress(
            db, d.as_partner, row.id, "Budget cut.", "lost"
        ),
    }
    steps[action]()


class TestTransitionTable:
    @pytest.mark.parametrize(("state", "action"), list(TRANSITIONS), ids=str)
    def test_every_allowed_edge_moves_and_is_audited(
        self, db: Session, settings: Settings, state: State, action: Action
    ) -> None:
        d = desk(db, settings)
        row = _in_state(d, state)

        _perform(d, row, action)
        db.expire_all()

        assert db.get(Opportunity, row.id).state is TRANSITIONS[state, action].target  # type: ignore[union-attr]
        events = db.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == row.id)
        ).all()
        assert f"opportunity.{action.value}" in events

    @pytest.mark.parametrize(("state", "action"), FORBIDDEN, ids=str)
    def test_every_other_move_is_refused(
        self, db: Session, settings: Settings, state: State, action: Action
    ) -> None:
        d = desk(db, settings)
        row = _in_state(d, state)
        db.commit()

        if action is Action.EXPIRE:
            _perform(d, row, action)
        else:
            hidden = state is State.DELETED or (
                state is State.DRAFT
                and action
                in (Action.PASS_REVIEW, Action.ACCEPT, Action.REJECT, Action.CANCEL)
            )
            with pytest.raises(NotFound if hidden else TransitionRefused):
                _perform(d, row, action)
        db.rollback()

        db.expire_all()
        assert db.get(Opportunity, row.id).state is state  # type: ignore[union-attr]


class TestNoCancelAfterSubmission:
    def test_the_partner_cannot_cancel_a_submitted_po(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        with pytest.raises(TransitionRefused):
            service.cancel(db, d.as_partner, settings, row.id, "Changed our mind.")
        with pytest.raises(TransitionRefused):
            service.delete_draft(db, d.as_partner, row.id)

    def test_the_partner_cannot_cancel_an_accepted_po(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = accepted(d)
        with pytest.raises(Forbidden):
            service.cancel(db, d.as_partner, settings, row.id, "Changed our mind.")

    def test_only_the_bd_cancels_an_accepted_po(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        d = desk(db, settings)
        row = accepted(d)
        with pytest.raises(Forbidden):
            service.cancel(db, d.as_pdm, settings, row.id, "Not ours.")

        service.cancel(
            db, d.as_bd, settings, row.id, "The customer chose another vendor."
        )

        assert row.state is State.CANCELLED
        event = db.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_id == row.id,
                AuditEvent.action == "opportunity.cancel",
            )
        ).one()
        assert event.actor_user_id == d.bd.id
        assert event.reason == "The customer chose another vendor."

    def test_a_cancellation_needs_a_reason(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = accepted(d)
        with pytest.raises(DomainError) as raised:
            service.cancel(db, d.as_bd, settings, row.id, " ")
        assert [p.field for p in raised.value.problems] == ["comment"]
