"""The incentive policy catalogue: a month's entry applies until a later month replaces
it; the vendor edits a month at once, every change audited; partners read it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.errors import Forbidden, InvalidInput
from partnercenter.core.models import AuditEvent
from partnercenter.identity import service as identity
from partnercenter.incentives import service
from partnercenter.incentives.models import IncentivePolicy
from partnercenter.incentives.service import PolicyInput
from tests import factories
from tests.ledger.world import World, world

ECS = "hws.service.type.ec2"
OBS = "hws.service.type.obs"
CDN = "hws.service.type.cdn"


def publish(w: World, month: str, *entries: PolicyInput) -> int:
    return service.save_month(w.db, w.finance, month=month, entries=list(entries))


def shown(
    w: World, month: str, **kw: object
) -> dict[str, tuple[str, str, object, str]]:
    rows, total = service.policies_for_month(
        w.db,
        w.actor,
        month=month,
        limit=100,
        **kw,  # type: ignore[arg-type]
    )
    assert total == len(rows)
    return {
        r.service_type_code: (
            r.incentive_policy,
            r.allow_discount,
            r.rebate_rate,
            r.effective_month,
        )
        for r in rows
    }


class TestMonths:
    def test_a_policy_applies_until_a_later_month_replaces_it(
        self, db: Session
    ) -> None:
        w = world(db)
        publish(
            w,
            "2026-01",
            PolicyInput(ECS, "0", True, "6"),
            PolicyInput(OBS, "13", False, ""),
        )
        publish(w, "2026-04", PolicyInput(ECS, "1", False, "8.5"))

        assert shown(w, "2025-12") == {}
        assert shown(w, "2026-01") == {
            ECS: ("0", "YES", Decimal("6.00"), "2026-01"),
            OBS: ("13", "NO", None, "2026-01"),
        }
        assert shown(w, "2026-03")[ECS] == ("0", "YES", Decimal("6.00"), "2026-01")
        assert shown(w, "2026-04")[ECS] == ("1", "NO", Decimal("8.50"), "2026-04")
        assert shown(w, "2027-01")[OBS] == ("13", "NO", None, "2026-01")
        assert shown(w, "2026-04", service_type_code=OBS) == {
            OBS: ("13", "NO", None, "2026-01")
        }
        assert shown(w, "2026-04", service_type_code="") == {}

    def test_clearing_a_months_entry_brings_back_the_earlier_one(
        self, db: Session
    ) -> None:
        w = world(db)
        publish(w, "2026-01", PolicyInput(CDN, "0", True, ""))
        publish(w, "2026-02", PolicyInput(CDN, "2", False, ""))

        changed = publish(w, "2026-02", PolicyInput(CDN, "", False, ""))

        assert changed == 1
        assert shown(w, "2026-02")[CDN] == ("0", "YES", None, "2026-01")

    def test_pages_are_in_code_order_with_the_total(self, db: Session) -> None:
        w = world(db)
        publish(w, "2026-01", *(PolicyInput(c, "0", True, "") for c in (OBS, ECS, CDN)))

        rows, total = service.policies_for_month(
            db, w.actor, month="2026-01", offset=1, limit=1, locale="en"
        )

        assert total == 3
        assert [(r.service_type_code, r.service_type_name) for r in rows] == [
            (ECS, "Elastic Cloud Server")
        ]


class TestEditing:
    def test_each_change_is_audited_and_an_unchanged_line_is_not(
        self, db: Session
    ) -> None:
        w = world(db)
        publish(w, "2026-01", PolicyInput(ECS, "0", True, "6"))

        changed = publish(
            w,
            "2026-01",
            PolicyInput(ECS, "0", True, "6.00"),
            PolicyInput(OBS, "1", False, "3.25"),
        )

        assert changed == 1
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "incentives.policy_set")
            .order_by(AuditEvent.id)
        ).all()
        assert [(e.subject_id, e.before, e.after) for e in events] == [
            (
                f"{ECS}@2026-01",
                None,
                {"policy": "0", "allow_discount": True, "rebate_rate": "6.00"},
            ),
            (
                f"{OBS}@2026-01",
                None,
                {"policy": "1", "allow_discount": False, "rebate_rate": "3.25"},
            ),
        ]

    @pytest.mark.parametrize(
        ("month", "entry", "field"),
        [
            ("2026-1", PolicyInput(ECS, "0", True, ""), "month"),
            ("2026-01", PolicyInput("hws.none", "0", True, ""), "hws.none"),
            ("2026-01", PolicyInput(ECS, "7", True, ""), f"{ECS}.policy"),
            ("2026-01", PolicyInput(ECS, "0", True, "100.01"), f"{ECS}.rebate_rate"),
            ("2026-01", PolicyInput(ECS, "0", True, "1.005"), f"{ECS}.rebate_rate"),
            ("2026-01", PolicyInput(ECS, "0", True, "abc"), f"{ECS}.rebate_rate"),
        ],
    )
    def test_a_bad_line_refuses_the_whole_month(
        self, db: Session, month: str, entry: PolicyInput, field: str
    ) -> None:
        w = world(db)

        with pytest.raises(InvalidInput) as refused:
            publish(w, month, PolicyInput(OBS, "0", True, "1"), entry)

        assert [p.field for p in refused.value.problems] == [field]
        assert db.scalars(select(IncentivePolicy)).all() == []

    def test_only_the_vendor_with_the_catalogue_right_edits_and_customers_cannot_read(
        self, db: Session
    ) -> None:
        w = world(db)
        finance_clerk = factories.member(db, w.vendor.organisation, "vendor_finance")
        clerk = identity.actor_for(db, finance_clerk, w.vendor.organisation.id)
        customer = factories.associated_customer(db, w.partner.organisation)
        customer_actor = identity.actor_for(
            db, customer.admin, customer.organisation.id
        )

        for actor in (w.actor, clerk):
            with pytest.raises(Forbidden):
                service.save_month(
                    db,
                    actor,
                    month="2026-01",
                    entries=[PolicyInput(ECS, "0", True, "")],
                )
        with pytest.raises(Forbidden):
            service.policies_for_month(db, customer_actor, month="2026-01")
        with pytest.raises(Forbidden):
            service.policies_for_month(
                db, w.member("project_specialist"), month="2026-01"
            )
        assert service.policies_for_month(db, clerk, month="2026-01") == ([], 0)
