"""Monthly bills: usage lines of a month in Beijing time, summed per customer, service
type, charge mode and bill type, shown only to whoever may see them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from partnercenter.billing import queries
from partnercenter.billing.models import BillType, ChargeMode
from partnercenter.core.actor import Actor
from partnercenter.core.errors import Forbidden, InvalidInput
from partnercenter.customers import tiers
from partnercenter.customers.models import AssociationMode
from partnercenter.identity import service as identity
from partnercenter.ledger import service as ledger
from partnercenter.ledger.errors import NotYourReseller
from partnercenter.ledger.service import Charge
from partnercenter.vouchers import spending
from partnercenter.vouchers.spending import VoucherUse
from tests import factories
from tests.ledger.world import World, actor_of, two_tiers, world

ECS = "hws.service.type.ec2"
OBS = "hws.service.type.obs"
UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def post(w: World, *charges: Charge) -> None:
    results = ledger.post_charges(w.db, w.finance, list(charges))
    assert {r.status for r in results} == {"posted"}, results


def bills(
    db: Session, actor: Actor, cycle: str, **filters: str | None
) -> list[queries.MonthlyBill]:
    rows, count = queries.monthly_bills(
        db, actor, cycle=cycle, charge_mode=filters.pop("charge_mode", None), **filters
    )
    assert count == len(rows)
    return rows


def summary(rows: list[queries.MonthlyBill]) -> list[tuple[object, ...]]:
    return [
        (r.customer_id, r.cloud_service_type, r.charge_mode, r.bill_type, r.amount)
        for r in rows
    ]


class TestCycles:
    def test_a_charge_late_on_the_last_day_in_utc_belongs_to_the_next_month(
        self, db: Session
    ) -> None:
        w = world(db)
        customer = w.customer()
        post(
            w,
            # 00:59:59 and 01:00 on 1 February in Beijing; 23:59 on 31 January.
            Charge(
                "a",
                customer,
                1_00,
                service_type_code=ECS,
                occurred_at=at(2026, 1, 31, 15, 59),
            ),
            Charge(
                "b",
                customer,
                2_00,
                service_type_code=ECS,
                occurred_at=at(2026, 1, 31, 16, 0),
            ),
            Charge(
                "c",
                customer,
                4_00,
                service_type_code=ECS,
                occurred_at=at(2026, 1, 31, 17, 0),
            ),
        )

        january = bills(db, w.actor, "2026-01")
        february = bills(db, w.actor, "2026-02")

        assert summary(january) == [(customer, ECS, "3", "0", 1_00)]
        assert summary(february) == [(customer, ECS, "3", "0", 6_00)]

    def test_lines_are_summed_per_service_mode_and_bill_type_with_refunds_negative(
        self, db: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        w = world(db)
        w.topup(100_00)
        customer = w.customer()
        ledger.allocate(db, w.actor, customer_id=customer, amount=5_00)
        monkeypatch.setattr(
            spending,
            "cover",
            lambda session, **kw: (
                [VoucherUse("v", 1_00)] if kw["charge_id"] == "e1" else []
            ),
        )
        day = at(2026, 3, 10, 4)
        post(
            w,
            Charge("e1", customer, 3_00, service_type_code=ECS, occurred_at=day),
            Charge("e2", customer, 4_00, service_type_code=ECS, occurred_at=day),
            Charge(
                "e3",
                customer,
                9_00,
                service_type_code=ECS,
                charge_mode=ChargeMode.YEARLY_MONTHLY,
                occurred_at=day,
            ),
            Charge("o1", customer, 50, service_type_code=OBS, occurred_at=day),
        )
        post(
            w,
            Charge(
                "e2",
                customer,
                4_00,
                refund=True,
                service_type_code=ECS,
                occurred_at=day,
            ),
            Charge(
                "w1",
                customer,
                1_00,
                bill_type=BillType.WRITE_OFF,
                refund=True,
                service_type_code=OBS,
                occurred_at=day,
            ),
        )

        rows = bills(db, w.actor, "2026-03")

        assert summary(rows) == [
            (customer, ECS, "1", "0", 9_00),
            (customer, ECS, "3", "0", 7_00),
            (customer, ECS, "3", "1", -4_00),
            (customer, OBS, "3", "0", 50),
            (customer, OBS, "3", "2", -1_00),
        ]
        on_demand = rows[1]
        assert on_demand.cloud_service_type_name == "弹性云服务器"
        assert [(d.balance_type, d.amount) for d in on_demand.account_details] == [
            (queries.DEBIT, 6_00),
            (queries.COUPON, 1_00),
        ]
        # 5.00 allocated: e1 takes 2.00 cash, e2 4.00 of which 1.00 is debt, e3 all 9.00.
        assert (rows[0].debt_amount, on_demand.debt_amount) == (9_00, 1_00)
        refund = rows[2]
        assert [
            (d.balance_type, d.amount, d.bill_type) for d in refund.account_details
        ] == [(queries.DEBIT, -4_00, "1")]
        assert (refund.adjustment_amount, refund.discount_amount) == (0, 0)
        english = queries.monthly_bills(
            db, w.actor, cycle="2026-03", charge_mode="3", locale="en", limit=1
        )
        assert english[1] == 4
        assert english[0][0].cloud_service_type_name == "Elastic Cloud Server"
        totals = queries.monthly_totals(db, w.actor, cycle="2026-03", charge_mode=None)
        assert totals == queries.Totals(
            amount=9_00 + 7_00 - 4_00 + 50 - 1_00,
            cash_amount=9_00 + 6_00 - 4_00 + 50 - 1_00,
            voucher_amount=1_00,
            debt_amount=10_00 + 50,
        )

    def test_filters_and_pages(self, db: Session) -> None:
        w = world(db)
        first, second = w.customer(), w.customer()
        day = at(2026, 3, 10, 4)
        post(
            w,
            Charge("1", first, 1_00, service_type_code=ECS, occurred_at=day),
            Charge("2", first, 1_00, service_type_code=OBS, occurred_at=day),
            Charge("3", second, 1_00, service_type_code=ECS, occurred_at=day),
            Charge(
                "4",
                second,
                1_00,
                charge_mode=ChargeMode.SAVINGS_PLAN,
                occurred_at=day,
            ),
        )

        assert len(bills(db, w.actor, "2026-03")) == 4
        assert {
            r.customer_id for r in bills(db, w.actor, "2026-03", customer_id=first)
        } == {first}
        assert len(bills(db, w.actor, "2026-03", cloud_service_type=ECS)) == 2
        assert len(bills(db, w.actor, "2026-03", charge_mode="11")) == 1
        assert bills(db, w.actor, "2026-03", bill_type="1") == []
        page, count = queries.monthly_bills(
            db, w.actor, cycle="2026-03", charge_mode="3", offset=1, limit=1
        )
        assert (len(page), count) == (1, 3)

    @pytest.mark.parametrize(
        ("arguments", "fields"),
        [
            ({"cycle": "2026-13", "charge_mode": "3"}, ["cycle"]),
            (
                {"cycle": "2026-03", "charge_mode": "2", "bill_type": "9"},
                ["charge_mode", "bill_type"],
            ),
            (
                {"cycle": "2026-03", "charge_mode": "3", "offset": -1, "limit": 0},
                ["offset", "limit"],
            ),
        ],
    )
    def test_bad_filters_are_refused_by_field(
        self, db: Session, arguments: dict[str, object], fields: list[str]
    ) -> None:
        w = world(db)

        with pytest.raises(InvalidInput) as refused:
            queries.monthly_bills(db, w.actor, **arguments)  # type: ignore[arg-type]

        assert [p.field for p in refused.value.problems] == fields


class TestWhoSeesWhich:
    def test_a_partner_sees_only_its_resale_customers_of_the_time(
        self, db: Session
    ) -> None:
        w = world(db)
        other = factories.partner(db)
        mine = w.customer()
        consulting = w.customer(AssociationMode.CONSULTING)
        theirs = w.customer(partner=other.organisation)
        day = at(2026, 3, 10, 4)
        post(
            w,
            Charge("1", mine, 1_00, occurred_at=day),
            Charge("2", consulting, 2_00, occurred_at=day),
            Charge("3", theirs, 4_00, occurred_at=day),
        )

        assert [r.customer_id for r in bills(db, w.actor, "2026-03")] == [mine]
        assert [r.customer_id for r in bills(db, actor_of(db, other), "2026-03")] == [
            theirs
        ]
        # Another partner naming a customer that is not its own finds nothing.
        assert bills(db, actor_of(db, other), "2026-03", customer_id=mine) == []

    def test_a_customer_sees_its_own_and_the_vendor_everyone(self, db: Session) -> None:
        w = world(db)
        made = factories.associated_customer(db, w.partner.organisation)
        alone = factories.customer(db)
        day = at(2026, 3, 10, 4)
        post(
            w,
            Charge("1", made.organisation.id, 1_00, occurred_at=day),
            Charge("2", alone.organisation.id, 2_00, occurred_at=day),
        )
        customer = identity.actor_for(db, made.admin, made.organisation.id)

        assert [r.amount for r in bills(db, customer, "2026-03")] == [1_00]
        assert sorted(r.amount for r in bills(db, w.finance, "2026-03")) == [1_00, 2_00]

    def test_members_without_funds_rights_and_vendor_staff_without_finance_are_refused(
        self, db: Session
    ) -> None:
        w = world(db)
        specialist = w.member("project_specialist")
        bd = factories.member(db, w.vendor.organisation, "bd")
        bd_actor = identity.actor_for(db, bd, w.vendor.organisation.id)
        assert bd_actor.can("vendor.partners.view")
        finance_member = w.member("partner_finance")

        with pytest.raises(Forbidden):
            bills(db, specialist, "2026-03")
        assert bills(db, bd_actor, "2026-03") == []
        assert bills(db, finance_member, "2026-03") == []

    def test_a_distributor_sees_a_sharing_resellers_customers_by_naming_it(
        self, db: Session
    ) -> None:
        tt = two_tiers(db)
        w = tt.world
        customer = w.customer(partner=tt.reseller.organisation)
        post(w, Charge("1", customer, 3_00, occurred_at=at(2026, 3, 10, 4)))
        reseller_id = tt.reseller.organisation.id

        # Its own tab holds no customers of the reseller.
        assert bills(db, tt.distributor_actor, "2026-03") == []
        with pytest.raises(queries.ResellerNotSharing):
            bills(db, tt.distributor_actor, "2026-03", indirect_partner_id=reseller_id)

        tiers.accept_notice(db, tt.reseller_actor)
        shared = bills(
            db, tt.distributor_actor, "2026-03", indirect_partner_id=reseller_id
        )

        assert [r.customer_id for r in shared] == [customer]
        assert [r.customer_id for r in bills(db, tt.reseller_actor, "2026-03")] == [
            customer
        ]

    def test_nobody_names_a_reseller_that_is_not_its_own(self, db: Session) -> None:
        tt = two_tiers(db)
        stranger = factories.partner(db, factories.PartnerType.DISTRIBUTOR)
        db.flush()

        with pytest.raises(NotYourReseller):
            bills(
                db,
                actor_of(db, stranger),
                "2026-03",
                indirect_partner_id=tt.reseller.organisation.id,
            )
