"""A PO from draft to decision, its routing and duplicates, HOs, tenancy and the worker."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter import worker
from partnercenter.core import notifications
from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import Forbidden, InvalidInput, NotFound
from partnercenter.core.i18n import translator
from partnercenter.core.models import AuditEvent, MailboxMessage, Notification
from partnercenter.core.settings import Settings
from partnercenter.opportunities import queries, service, sweep
from partnercenter.opportunities.models import Opportunity, RejectionReason, State
from partnercenter.opportunities.service import DuplicateValidated
from tests import factories
from tests.opportunities.desk import (
    accepted,
    complete_form,
    desk,
    in_validation,
    staff,
    submitted,
)


def _notices(db: Session, user_id: str, kind: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.kind == kind)
        )
        or 0
    )


class TestDraftsAndSubmission:
    def test_a_draft_needs_only_the_customer_and_can_be_edited_and_deleted(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        draft = service.save_draft(
            db, d.as_partner, settings, service.OpportunityForm(customer_name="Acme")
        )
        service.save_draft(
            db, d.as_partner, settings, complete_form(customer_name="Acme Co"), draft.id
        )
        assert draft.customer_name == "Acme Co"
        assert draft.estimated_amount_minor == 32_000_050

        service.delete_draft(db, d.as_partner, draft.id)
        with pytest.raises(NotFound):
            queries.get(db, d.as_partner, draft.id)

    def test_submission_needs_every_field_and_the_customers_authorisation(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        draft = service.save_draft(
            db,
            d.as_partner,
            settings,
            complete_form(customer_authorised=False, contact_phone="", services=[]),
        )
        with pytest.raises(InvalidInput) as raised:
            service.submit(db, d.as_partner, settings, draft.id)
        fields = {problem.field for problem in raised.value.problems}
        assert fields == {"customer_authorised", "contact_phone", "services"}
        assert draft.state is State.DRAFT

    def test_amounts_are_refused_with_more_than_two_decimals(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        with pytest.raises(InvalidInput) as raised:
            service.save_draft(
                db, d.as_partner, settings, complete_form(estimated_amount="1.005")
            )
        assert [p.field for p in raised.value.problems] == ["estimated_amount"]

    def test_submission_tells_the_pdm_of_the_region(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        assert row.state is State.IN_REVIEW
        assert row.due_at is None
        assert _notices(db, d.pdm.id, "opportunities.submitted") == 1
        assert _notices(db, d.bd.id, "opportunities.submitted") == 0


class TestRouting:
    def test_a_new_customer_goes_to_the_customers_region(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        singapore = staff(db, d.vendor, "pdm")
        service.set_staff_regions(db, d.as_vendor_admin, singapore.id, ["SG"])

        row = submitted(d, customer_region="SG", is_existing_customer=False)

        assert row.routing_region == "SG"
        sg_actor = d.actor(singapore, d.vendor)
        assert [r.id for r in queries.queue(db, sg_actor)] == [row.id]
        assert queries.queue(db, d.as_pdm) == []
        with pytest.raises(NotFound):
            service.pass_review(db, d.as_pdm, settings, row.id)

    def test_an_existing_customer_stays_with_the_partners_region(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d, customer_region="SG", is_existing_customer=True)
        assert row.routing_region == "CN"

    def test_the_queue_shows_the_nearest_deadline_first(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        d = desk(db, settings)
        later = in_validation(d, customer_name="Second Ltd")
        clock.move(days=-3)
        sooner = in_validation(d, customer_name="First Ltd")
        clock.move(days=3)

        assert [r.id for r in queries.queue(db, d.as_bd)] == [sooner.id, later.id]


class TestDecisions:
    def test_review_then_validation_notifies_each_side(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = in_validation(d)
        assert _notices(db, d.bd.id, "opportunities.to_validate") == 1
        assert _notices(db, d.partner_admin.id, "opportunities.passed_review") == 1

        service.accept(db, d.as_bd, settings, row.id, "Strong lead.")

        assert row.state is State.ACCEPTED
        assert row.validator_user_id == d.bd.id
        assert _notices(db, d.partner_admin.id, "opportunities.accepted") == 1

    def test_a_rejection_needs_a_catalogued_reason(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        for reason in ("", "sla_expired", "dislike"):
            with pytest.raises(InvalidInput):
                service.reject(db, d.as_pdm, settings, row.id, reason=reason)

        service.reject(
            db, d.as_pdm, settings, row.id, reason="no_budget", comment="No date."
        )

        assert row.rejection_reason is RejectionReason.NO_BUDGET
        assert row.decision_comment == "No date."
        assert _notices(db, d.partner_admin.id, "opportunities.rejected") == 1

    def test_a_pdm_cannot_validate_and_a_bd_cannot_review(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        with pytest.raises(Forbidden):
            service.pass_review(db, d.as_bd, settings, row.id)
        service.pass_review(db, d.as_pdm, settings, row.id)
        with pytest.raises(Forbidden):
            service.accept(db, d.as_pdm, settings, row.id)

    def test_progress_until_won(self, db: Session, settings: Settings) -> None:
        d = desk(db, settings)
        row = accepted(d)
        service.update_progress(db, d.as_partner, row.id, "Proof of concept done.")
        service.update_progress(db, d.as_partner, row.id, "Signed.", "won")
        assert row.state is State.WON
        assert row.progress_note == "Signed."


class TestDuplicates:
    def test_the_first_validated_wins_and_open_duplicates_are_rejected(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        rival = factories.partner(db).organisation
        rival_admin = factories.member(db, rival, "partner_admin")
        as_rival = d.actor(rival_admin, rival)

        earlier = in_validation(d, services=["compute"])
        draft = service.save_draft(
            db,
            as_rival,
            settings,
            complete_form(customer_name="  lotus FREIGHT ltd ", services=["compute"]),
        )
        later = service.submit(db, as_rival, settings, draft.id)
        unrelated = submitted(d, services=["security"])

        assert [r.id for r in queries.duplicates(db, later)] == [earlier.id]
        service.pass_review(db, d.as_pdm, settings, later.id)
        service.accept(db, d.as_bd, settings, later.id)

        assert earlier.state is State.REJECTED
        assert earlier.rejection_reason is RejectionReason.DUPLICATE
        assert earlier.duplicate_of_id == later.id
        assert unrelated.state is State.IN_REVIEW

    def test_a_later_duplicate_cannot_be_accepted(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        accepted(d)
        # Submitted after the first was validated, so nothing rejected it yet.
        late = in_validation(d, services=["storage", "ai"])
        with pytest.raises(DuplicateValidated):
            service.accept(db, d.as_bd, settings, late.id)
        service.reject(db, d.as_bd, settings, late.id, reason="duplicate")
        assert late.rejection_reason is RejectionReason.DUPLICATE

    def test_an_earlier_ho_wins_over_a_po(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        other = factories.partner(db).organisation
        service.share_with_partner(db, d.as_bd, settings, other.id, complete_form())
        po = in_validation(d)
        with pytest.raises(DuplicateValidated):
            service.accept(db, d.as_bd, settings, po.id)


class TestTenancy:
    def test_a_partner_never_sees_another_partners_po(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        row = submitted(d)
        other = factories.partner(db)
        as_other = d.actor(other.admin, other.organisation)

        with pytest.raises(NotFound):
            queries.get(db, as_other, row.id)
        assert queries.find(db, as_other, queries.Filters())[1] == 0
        with pytest.raises(NotFound):
            service.update_progress(db, as_other, row.id, "Hello")

    def test_a_pdm_sees_only_its_region_and_never_drafts(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        cn = submitted(d)
        sg = submitted(d, customer_region="SG", customer_name="Merlion Pte")
        draft = service.save_draft(db, d.as_partner, settings, complete_form())

        seen = {r.id for r in queries.find(db, d.as_pdm, queries.Filters())[0]}
        everything = {
            r.id for r in queries.find(db, d.as_vendor_admin, queries.Filters())[0]
        }

        assert seen == {cn.id}
        assert everything == {cn.id, sg.id}
        assert draft.id not in everything


class TestWorker:
    def test_an_overdue_po_is_rejected_once_when_the_worker_starts_again(
        self,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
        session_factory: sessionmaker[Session],
    ) -> None:
        d = desk(db, settings)
        row = in_validation(d)
        assert row.due_at is not None
        db.commit()

        # The worker was stopped over the deadline: three days pass without a pass.
        clock.set(row.due_at + dt.timedelta(days=3))
        worker.run_once(session_factory, settings)
        worker.run_once(session_factory, settings)
        db.expire_all()

        stored = db.get(Opportunity, row.id)
        assert stored is not None
        assert stored.state is State.REJECTED
        assert stored.rejection_reason is RejectionReason.SLA_EXPIRED
        events = db.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_id == row.id,
                AuditEvent.action == "opportunity.expire",
            )
        ).all()
        assert len(events) == 1
        assert events[0].before == {"state": "in_validation"}
        assert _notices(db, d.partner_admin.id, "opportunities.expired") == 1
        mails = db.scalars(
            select(MailboxMessage).where(
                MailboxMessage.recipient == d.partner_admin.email
            )
        ).all()
        expired = [m for m in mails if "自动驳回" in m.subject]
        assert len(expired) == 1
        assert "Lotus Freight Ltd" in expired[0].body
        assert f"/opportunities/{row.id}" in expired[0].body

    def test_several_expired_together_are_announced_once_per_reader(
        self,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
        session_factory: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(sweep, "DIGEST_LINES", 2)
        d = desk(db, settings)
        rows = {
            name: in_validation(d, customer_name=name)
            for name in ("Gamma Ltd", "Alpha Ltd", "Beta Ltd")
        }
        due = max(row.due_at for row in rows.values() if row.due_at)
        db.commit()

        clock.set(due + dt.timedelta(hours=1))
        worker.run_once(session_factory, settings)
        db.expire_all()

        # Every PO is rejected and audited on its own ...
        for row in rows.values():
            stored = db.get(Opportunity, row.id)
            assert stored is not None
            assert stored.rejection_reason is RejectionReason.SLA_EXPIRED
        events = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "opportunity.expire")
        )
        assert events == 3
        # ... but the partner's admin gets one notice and one email for the three.
        assert _notices(db, d.partner_admin.id, "opportunities.expired") == 0
        notice = db.scalars(
            select(Notification).where(
                Notification.user_id == d.partner_admin.id,
                Notification.kind == "opportunities.expired_digest",
            )
        ).one()
        assert notice.params == {"count": 3}
        assert notice.link == "/opportunities?state=rejected"
        assert notice.organisation_id == d.partner.id
        title, _ = notifications.render(notice.kind, notice.params, translator("en"))
        assert title == "3 opportunities rejected automatically"

        mails = db.scalars(
            select(MailboxMessage).where(
                MailboxMessage.recipient == d.partner_admin.email,
                MailboxMessage.subject.contains("自动驳回"),
            )
        ).all()
        assert len(mails) == 1
        assert mails[0].subject == "3 个机会点已被自动驳回"
        body = mails[0].body
        site = settings.base_url.rstrip("/")
        listed = [
            f"- {name}: {site}/opportunities/{rows[name].id}"
            for name in ("Alpha Ltd", "Beta Ltd")
        ]
        assert "\n".join(listed) in body  # by customer name, the first two
        assert "Gamma Ltd" not in body
        assert f"……另有 1 个： {site}/opportunities?state=rejected" in body  # noqa: RUF001
        assert body.startswith("这些机会点已超过截止时间，已被驳回。")  # noqa: RUF001

    def test_nothing_is_rejected_before_the_deadline_ends(
        self,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
        session_factory: sessionmaker[Session],
    ) -> None:
        d = desk(db, settings)
        row = in_validation(d)
        assert row.due_at is not None
        db.commit()
        clock.set(row.due_at)
        worker.run_once(session_factory, settings)
        db.expire_all()
        assert db.get(Opportunity, row.id).state is State.IN_VALIDATION  # type: ignore[union-attr]

    def test_the_bd_is_reminded_once_two_working_days_before(
        self,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
        session_factory: sessionmaker[Session],
    ) -> None:
        d = desk(db, settings)
        clock.set(dt.datetime(2026, 2, 12, 2, tzinfo=dt.UTC))
        in_validation(d)
        db.commit()

        clock.set(dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC))
        worker.run_once(session_factory, settings)
        assert _notices(db, d.bd.id, "opportunities.deadline_near") == 0
        db.rollback()
        clock.set(dt.datetime(2026, 3, 3, 2, tzinfo=dt.UTC))
        worker.run_once(session_factory, settings)
        worker.run_once(session_factory, settings)
        assert _notices(db, d.bd.id, "opportunities.deadline_near") == 1


class TestHandedOver:
    def test_the_partner_accepts_within_three_working_days(
        self, db: Session, settings: Settings, clock: FrozenClock
    ) -> None:
        d = desk(db, settings)
        clock.set(dt.datetime(2026, 2, 12, 2, tzinfo=dt.UTC))
        ho = service.share_with_partner(
            db, d.as_bd, settings, d.partner.id, complete_form()
        )
        assert ho.state is State.SHARED
        assert ho.due_at is not None
        # Friday 13 and Saturday 14 Feb work; the Spring Festival follows.
        assert ho.due_at.date() == dt.date(2026, 2, 24)
        assert _notices(db, d.partner_admin.id, "opportunities.shared") == 1

        service.accept(db, d.as_partner, settings, ho.id)

        assert ho.state is State.ACCEPTED
        assert _notices(db, d.bd.id, "opportunities.answered") == 1

    def test_the_partner_must_say_why_it_rejects(
        self, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        ho = service.share_with_partner(
            db, d.as_bd, settings, d.partner.id, complete_form()
        )
        with pytest.raises(InvalidInput):
            service.reject(db, d.as_partner, settings, ho.id, reason="no_budget")
        service.reject(
            db,
            d.as_partner,
            settings,
            ho.id,
            reason="no_budget",
            comment="Customer froze spending.",
        )
        assert ho.state is State.REJECTED

    def test_an_unanswered_ho_is_rejected_by_the_worker(
        self,
        db: Session,
        settings: Settings,
        clock: FrozenClock,
        session_factory: sessionmaker[Session],
    ) -> None:
        d = desk(db, settings)
        ho = service.share_with_partner(
            db, d.as_bd, settings, d.partner.id, complete_form()
        )
        assert ho.due_at is not None
        db.commit()

        clock.set(ho.due_at + dt.timedelta(seconds=1))
        worker.run_once(session_factory, settings)
        db.expire_all()

        stored = db.get(Opportunity, ho.id)
        assert stored is not None
        assert stored.state is State.REJECTED
        assert stored.rejection_reason is RejectionReason.SLA_EXPIRED
        assert _notices(db, d.partner_admin.id, "opportunities.expired") == 1
