"""Quotas, issuing, reclaiming and expiry of vouchers, and their refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import InvalidInput
from partnercenter.core.models import AuditEvent
from partnercenter.customers.models import Association, AssociationMode
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, PartnerType, User
from partnercenter.ledger.errors import NotYourReseller
from partnercenter.vouchers import errors, queries, service
from partnercenter.vouchers.errors import (
    NoSuchQuota,
    NoSuchVoucher,
    NotVendorFinance,
    QuotaNotReclaimable,
    VoucherNotReclaimable,
    VoucherOfConsultingCustomer,
)
from partnercenter.vouchers.models import Voucher, VoucherStatus
from partnercenter.vouchers.tasks import expire_vouchers
from partnercenter.worker import run_once
from tests import factories
from tests.ledger.world import actor_of
from tests.vouchers.world import DAY, World, terms, world

CONSULTING = AssociationMode.CONSULTING


@pytest.fixture
def w(db: Session, clock: FrozenClock) -> World:
    return world(db)


class TestQuotas:
    def test_vendor_finance_grants_a_quota_that_the_partner_sees(
        self, w: World
    ) -> None:
        quota_id = w.quota(service_types=["hws.service.type.ec2"])

        rows, total = queries.quotas(w.db, w.actor)

        assert total == 1
        [row] = rows
        assert (row.quota_id, row.amount, row.balance, row.api_status) == (
            quota_id,
            100_000,
            100_000,
            0,
        )
        assert row.service_types == ["hws.service.type.ec2"]
        assert w.db.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == quota_id)
        ).all() == ["voucher.quota_granted"]

    def test_only_vendor_finance_grants(self, w: World) -> None:
        with pytest.raises(NotVendorFinance):
            service.grant_quota(
                w.db, w.actor, partner_id=w.partner.organisation.id, terms=terms()
            )

    def test_bad_terms_are_reported_together(self, w: World) -> None:
        with pytest.raises(InvalidInput) as refused:
            w.quota(min_face_value=500, max_face_value=100, max_vouchers=0)

        fields = {problem.field for problem in refused.value.problems}
        assert fields == {"max_face_value", "max_vouchers"}

    def test_a_frozen_quota_issues_nothing_and_reads_as_status_5(
        self, w: World
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        service.set_quota_frozen(w.db, w.finance, quota_id, frozen=True)

        outcome = w.issue(quota_id, customer)

        assert outcome.refused[0][1] == errors.QUOTA_NOT_EFFECTIVE
        [row], _ = queries.quotas(w.db, w.actor)
        assert row.api_status == 5
        service.set_quota_frozen(w.db, w.finance, quota_id, frozen=False)
        assert w.issue(quota_id, customer).issued

    def test_an_expired_quota_reads_as_status_3(
        self, w: World, clock: FrozenClock
    ) -> None:
        w.quota()
        clock.move(days=31)

        [row], _ = queries.quotas(w.db, w.actor, states={queries.QuotaState.EXPIRED})

        assert row.api_status == 3

    def test_a_partner_never_sees_another_partners_quotas(self, w: World) -> None:
        other = factories.partner(w.db)
        w.quota(partner=other.organisation)
        mine = w.quota()

        rows, total = queries.quotas(w.db, w.actor)

        assert (total, [row.quota_id for row in rows]) == (1, [mine])
        assert queries.quotas(w.db, w.actor, quota_ids=[rows[0].quota_id])[1] == 1


class TestIssuing:
    def test_each_customer_gets_a_voucher_or_its_own_refusal(self, w: World) -> None:
        quota_id = w.quota()
        resale, consulting = w.customer(), w.customer(CONSULTING)
        stranger = factories.customer(w.db).organisation.id
        other_partners = w.customer(partner=factories.partner(w.db).organisation)

        outcome = w.issue(
            quota_id,
            resale,
            consulting,
            stranger,
            other_partners,
            w.partner.organisation.id,
            face_value=2_500,
        )

        assert [customer for customer, _ in outcome.issued] == [resale]
        assert [(c, code) for c, code, _ in outcome.refused] == [
            (consulting, errors.CONSULTING_CUSTOMER),
            (stranger, errors.NOT_YOUR_CUSTOMER),
            (other_partners, errors.NOT_YOUR_CUSTOMER),
            (w.partner.organisation.id, errors.CANNOT_ISSUE_TO_SELF),
        ]
        # Nothing is written for the refused customers.
        held = w.db.scalars(select(Voucher.customer_id)).all()
        assert held == [resale]
        quota = w.quota_row(quota_id)
        assert (quota.balance, quota.issued_count) == (100_000 - 2_500, 1)
        assert w.conserved(quota_id)

    @pytest.mark.parametrize(
        ("face_value", "code"),
        [(99, errors.FACE_VALUE_TOO_SMALL), (50_001, errors.FACE_VALUE_TOO_LARGE)],
    )
    def test_face_value_within_the_quotas_limits(
        self, w: World, face_value: int, code: str
    ) -> None:
        quota_id = w.quota()

        outcome = w.issue(quota_id, w.customer(), face_value=face_value)

        assert outcome.refused[0][1] == code
        assert outcome.issued == []

    def test_a_face_value_of_zero_is_invalid(self, w: World) -> None:
        with pytest.raises(InvalidInput):
            w.issue(w.quota(), w.customer(), face_value=0)

    def test_the_quotas_balance_and_count_run_out(self, w: World) -> None:
        small = w.quota(amount=3_000, max_face_value=2_000)
        few = w.quota(max_vouchers=1)
        first, second = w.customer(), w.customer()

        by_balance = w.issue(small, first, second, face_value=2_000)
        by_count = w.issue(few, first, second)

        assert by_balance.refused[0][:2] == (second, errors.QUOTA_INSUFFICIENT)
        assert by_count.refused[0][:2] == (second, errors.TOO_MANY_VOUCHERS)

    def test_a_quota_not_yet_in_effect_or_expired(
        self, w: World, clock: FrozenClock
    ) -> None:
        later = w.quota(
            effective_time=clock.now() + DAY, expire_time=clock.now() + 2 * DAY
        )
        ending = w.quota()
        customer = w.customer()
        assert w.issue(later, customer).refused[0][1] == errors.QUOTA_NOT_EFFECTIVE
        clock.move(days=31)
        assert w.issue(ending, customer).refused[0][1] == errors.QUOTA_NOT_EFFECTIVE

    def test_validity_and_service_types_within_the_quotas(
        self, w: World, clock: FrozenClock
    ) -> None:
        quota_id = w.quota(
            service_types=["hws.service.type.ec2", "hws.service.type.obs"]
        )
        customer = w.customer()

        too_long = w.issue(quota_id, customer, expire_time=clock.now() + 40 * DAY)
        other_service = w.issue(
            quota_id, customer, service_types=["hws.service.type.rds"]
        )
        narrower = w.one(quota_id, customer, service_types=["hws.service.type.obs"])
        inherited = w.one(quota_id, customer)

        assert too_long.refused[0][1] == errors.VALIDITY_OUTSIDE_QUOTA
        assert other_service.refused[0][1] == errors.SERVICE_TYPES_OUTSIDE_QUOTA
        assert w.voucher(narrower).service_types == ["hws.service.type.obs"]
        assert w.voucher(inherited).service_types == [
            "hws.service.type.ec2",
            "hws.service.type.obs",
        ]

    def test_more_than_ten_service_types_are_invalid(self, w: World) -> None:
        with pytest.raises(InvalidInput):
            w.issue(
                w.quota(),
                w.customer(),
                service_types=[f"hws.service.type.s{n}" for n in range(11)],
            )

    def test_a_quota_for_new_customers_refuses_a_returning_one(self, w: World) -> None:
        quota_id = w.quota(new_customers_only=True)
        new = w.customer()
        returning = w.customer()
        association = w.db.scalars(
            select(Association).where(Association.customer_id == returning)
        ).one()
        earlier = factories.partner(w.db).organisation
        w.db.add(
            Association(
                organisation_id=earlier.id,
                customer_id=returning,
                mode=association.mode,
                status="ended",
                source=association.source,
                started_at=association.started_at - DAY * 90,
                mode_changed_at=association.started_at - DAY * 90,
                ended_at=association.started_at - DAY,
                agreements=[],
            )
        )
        w.db.flush()

        outcome = w.issue(quota_id, new, returning)

        assert [c for c, _ in outcome.issued] == [new]
        assert outcome.refused[0][:2] == (returning, errors.ONLY_NEW_CUSTOMERS)

    def test_another_partners_quota_is_not_found(self, w: World) -> None:
        other = w.quota(partner=factories.partner(w.db).organisation)
        with pytest.raises(NoSuchQuota):
            w.issue(other, w.customer())

    def test_every_refusal_code_has_a_message(self) -> None:
        assert all(errors.REFUSALS.values())


class TestReclaiming:
    def test_the_remaining_balance_goes_back_to_the_quota(self, w: World) -> None:
        quota_id = w.quota()
        customer = w.customer()
        voucher_id = w.one(quota_id, customer, face_value=4_000)
        w.voucher(voucher_id).balance = 1_500  # 25.00 spent

        returned = service.reclaim(w.db, w.actor, voucher_id)

        assert returned == 1_500
        voucher = w.voucher(voucher_id)
        assert (voucher.status, voucher.balance) == (VoucherStatus.RECLAIMED, 0)
        assert w.quota_row(quota_id).balance == 100_000 - 4_000 + 1_500
        [row], _ = queries.issued_vouchers(w.db, w.actor)
        assert row.api_status == 5

    def test_a_reclaimed_or_expired_voucher_is_refused(
        self, w: World, clock: FrozenClock
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        reclaimed = w.one(quota_id, customer)
        service.reclaim(w.db, w.actor, reclaimed)
        expiring = w.one(quota_id, customer, expire_time=clock.now() + DAY)
        clock.move(days=2)

        for voucher_id in (reclaimed, expiring):
            with pytest.raises(VoucherNotReclaimable):
                service.reclaim(w.db, w.actor, voucher_id)

    def test_a_voucher_of_a_consulting_customer_is_refused(self, w: World) -> None:
        quota_id = w.quota()
        customer = w.customer()
        voucher_id = w.one(quota_id, customer)
        # As it stands after a mode switch recorded elsewhere than this product.
        association = w.db.scalars(
            select(Association).where(Association.customer_id == customer)
        ).one()
        association.mode = CONSULTING
        w.db.flush()

        with pytest.raises(VoucherOfConsultingCustomer):
            service.reclaim(w.db, w.actor, voucher_id)

    def test_another_partners_voucher_is_not_found(self, w: World) -> None:
        voucher_id = w.one(w.quota(), w.customer())
        other = factories.partner(w.db)

        with pytest.raises(NoSuchVoucher):
            service.reclaim(w.db, actor_of(w.db, other), voucher_id)
        assert queries.issued_vouchers(w.db, actor_of(w.db, other)) == ([], 0)

    def test_issued_reclaimed_and_left_add_up(self, w: World) -> None:
        quota_id = w.quota()
        customers = [w.customer() for _ in range(3)]
        outcome = w.issue(quota_id, *customers, face_value=7_000)
        service.reclaim(w.db, w.actor, outcome.issued[1][1])

        assert w.conserved(quota_id)
        assert w.quota_row(quota_id).balance == 100_000 - 2 * 7_000


class TestCustomerView:
    def test_a_customer_sees_only_its_own_vouchers(self, w: World) -> None:
        quota_id = w.quota()
        mine, theirs = w.customer(), w.customer()
        voucher_id = w.one(quota_id, mine)
        w.one(quota_id, theirs)
        organisation = w.db.get(Organisation, mine)
        assert organisation is not None
        user = w.db.get(User, organisation.main_user_id)
        assert user is not None

        rows, total = queries.customer_vouchers(
            w.db, identity.actor_for(w.db, user, mine)
        )

        assert (total, [row.voucher_id for row in rows]) == (1, [voucher_id])
        assert rows[0].api_status == 2


class TestExpiry:
    def test_the_worker_expires_once_when_started_past_the_deadline(
        self,
        w: World,
        clock: FrozenClock,
        session_factory: sessionmaker[Session],
        settings: object,
    ) -> None:
        quota_id = w.quota()
        voucher_id = w.one(quota_id, w.customer(), expire_time=clock.now() + DAY)
        w.db.commit()
        clock.move(days=5)  # the worker was stopped over the deadline

        run_once(session_factory, settings)  # type: ignore[arg-type]
        again = expire_vouchers(session_factory, settings)  # type: ignore[arg-type]

        voucher = w.voucher(voucher_id)
        assert voucher.status is VoucherStatus.EXPIRED
        assert voucher.ended_at == voucher.expire_time
        assert again == 0
        events = w.db.scalars(
            select(AuditEvent).where(AuditEvent.action == "voucher.expired")
        ).all()
        assert len(events) == 1
        # What was left does not return to the quota.
        assert w.quota_row(quota_id).balance == 100_000 - 1_000


class TestDistributors:
    @pytest.fixture
    def tiers(
        self, db: Session, clock: FrozenClock
    ) -> tuple[World, factories.OrgWithAdmin]:
        made = world(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=made.partner.organisation
        )
        db.flush()
        return made, reseller

    def test_grant_issue_for_the_reseller_and_reclaim(
        self, tiers: tuple[World, factories.OrgWithAdmin]
    ) -> None:
        w, reseller = tiers
        parent = w.quota()
        child = service.grant_to_reseller(
            w.db,
            w.actor,
            quota_id=parent,
            reseller_id=reseller.organisation.id,
            amount=30_000,
        )
        customer = w.customer(partner=reseller.organisation)

        outcome = service.issue(
            w.db,
            w.actor,
            quota_id=child.id,
            customer_ids=[customer],
            face_value=5_000,
            indirect_partner_id=reseller.organisation.id,
        )
        [(_, voucher_id)] = outcome.issued
        assert w.voucher(voucher_id).organisation_id == reseller.organisation.id
        seen, _ = queries.issued_vouchers(
            w.db, w.actor, indirect_partner_id=reseller.organisation.id
        )
        assert [row.voucher_id for row in seen] == [voucher_id]
        assert queries.issued_vouchers(w.db, w.actor) == ([], 0)

        returned = service.reclaim_from_reseller(w.db, w.actor, child.id)
        assert returned == 25_000
        with pytest.raises(QuotaNotReclaimable):
            service.reclaim_from_reseller(w.db, w.actor, child.id)
        # A voucher reclaimed later passes through the ended quota to the distributor's.
        service.reclaim(
            w.db, w.actor, voucher_id, indirect_partner_id=reseller.organisation.id
        )
        assert w.quota_row(parent).balance == 100_000
        assert w.conserved(parent)
        assert w.conserved(child.id)

    def test_resellers_share_the_distributors_voucher_count(
        self, tiers: tuple[World, factories.OrgWithAdmin]
    ) -> None:
        w, first = tiers
        second = factories.partner(
            w.db, PartnerType.RESELLER, parent=w.partner.organisation
        )
        parent = w.quota(max_vouchers=3)
        children = {
            reseller.organisation.id: service.grant_to_reseller(
                w.db,
                w.actor,
                quota_id=parent,
                reseller_id=reseller.organisation.id,
                amount=30_000,
            )
            for reseller in (first, second)
        }
        assert {child.max_vouchers for child in children.values()} == {3}

        def issue(reseller: factories.OrgWithAdmin) -> service.IssueOutcome:
            customers = [w.customer(partner=reseller.organisation) for _ in range(2)]
            return w.issue(
                children[reseller.organisation.id].id,
                *customers,
                indirect_partner_id=reseller.organisation.id,
            )

        assert len(issue(first).issued) == 2
        # The distributor's quota allows three vouchers in all: the second reseller gets one.
        outcome = issue(second)
        assert len(outcome.issued) == 1
        assert [code for _, code, _ in outcome.refused] == [errors.TOO_MANY_VOUCHERS]
        assert w.quota_row(parent).issued_count == 3
        assert [w.quota_row(c.id).issued_count for c in children.values()] == [2, 1]
        assert all(w.conserved(q) for q in (parent, *(c.id for c in children.values())))

    def test_the_reseller_sees_only_its_quota_and_cannot_act_for_others(
        self, tiers: tuple[World, factories.OrgWithAdmin]
    ) -> None:
        w, reseller = tiers
        parent = w.quota()
        child = service.grant_to_reseller(
            w.db,
            w.actor,
            quota_id=parent,
            reseller_id=reseller.organisation.id,
            amount=10_000,
        )
        reseller_actor = actor_of(w.db, reseller)

        rows, _ = queries.quotas(w.db, reseller_actor)
        assert [row.quota_id for row in rows] == [child.id]
        assert rows[0].parent_quota_id == parent
        elsewhere = factories.partner(w.db, PartnerType.DISTRIBUTOR).organisation
        stranger = factories.partner(w.db, PartnerType.RESELLER, parent=elsewhere)
        with pytest.raises(NotYourReseller):
            queries.quotas(w.db, w.actor, indirect_partner_id=stranger.organisation.id)
        with pytest.raises(NoSuchQuota):
            service.reclaim_from_reseller(w.db, reseller_actor, child.id)
