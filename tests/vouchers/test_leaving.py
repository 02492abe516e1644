"""Vouchers go back to the quota when a resale customer leaves or switches to consulting."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.core.settings import Settings
from partnercenter.customers.changes import service as changes
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRecord,
    RequestKind,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, User
from partnercenter.vouchers.models import VoucherStatus
from tests import factories
from tests.ledger.world import actor_of
from tests.vouchers.world import World, world


@pytest.fixture
def w(db: Session, clock: FrozenClock) -> World:
    return world(db)


def _customer_actor(w: World, customer_id: str) -> Actor:
    organisation = w.db.get(Organisation, customer_id)
    assert organisation is not None
    owner = w.db.get(User, organisation.main_user_id)
    assert owner is not None
    return identity.actor_for(w.db, owner, customer_id)


class TestLeaving:
    def test_a_disassociation_returns_the_vouchers_to_the_quota(
        self, w: World, settings: Settings
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        first = w.one(quota_id, customer, face_value=3_000)
        second = w.one(quota_id, customer, face_value=2_000)
        w.voucher(first).balance = 1_000
        request = changes.request_disassociation(
            w.db, _customer_actor(w, customer), settings, reason="Moving on"
        )

        changes.decide_customer_request(w.db, w.actor, settings, request.id, agree=True)

        assert w.voucher(first).status is VoucherStatus.RECLAIMED
        assert w.voucher(second).status is VoucherStatus.RECLAIMED
        assert w.quota_row(quota_id).balance == 100_000 - 3_000 + 1_000
        assert w.conserved(quota_id)
        record = w.db.scalars(
            select(AssociationRecord).where(
                AssociationRecord.kind == "disassociated",
                AssociationRecord.outcome == "succeeded",
            )
        ).one()
        assert record.details["vouchers_reclaimed"] == 2
        assert record.details["vouchers_reclaimed_minor"] == 3_000

    def test_a_switch_to_consulting_returns_them_too(
        self, w: World, settings: Settings, clock: FrozenClock
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        voucher_id = w.one(quota_id, customer, face_value=4_000)
        other_customer = w.customer()
        kept = w.one(quota_id, other_customer, face_value=1_000)
        request = changes.start_partner_request(
            w.db,
            w.actor,
            settings,
            customer_id=customer,
            kind=RequestKind.SWITCH_MODE,
            target_mode=AssociationMode.CONSULTING,
            reason="Contract ended",
        )
        clock.move(days=1)

        changes.answer_partner_request(
            w.db, _customer_actor(w, customer), settings, request.id, confirm=True
        )

        assert w.voucher(voucher_id).status is VoucherStatus.RECLAIMED
        assert w.voucher(kept).status is VoucherStatus.ACTIVE
        assert w.quota_row(quota_id).balance == 100_000 - 1_000

    def test_another_partners_vouchers_are_left_alone(
        self, w: World, settings: Settings
    ) -> None:
        other = factories.partner(w.db)
        other_world = World(w.db, w.vendor, w.finance, other, actor_of(w.db, other))
        theirs = other_world.one(other_world.quota(), other_world.customer())
        customer = w.customer()
        w.one(w.quota(), customer)
        request = changes.request_disassociation(
            w.db, _customer_actor(w, customer), settings, reason="Moving on"
        )

        changes.decide_customer_request(w.db, w.actor, settings, request.id, agree=True)

        assert w.voucher(theirs).status is VoucherStatus.ACTIVE
