"""Every charge of the vendor's billing becomes a usage line: who, which partner and mode
at that moment, which service, how it was paid (vouchers first, then cash), and the
charge id that makes a repeat harmless."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.billing.models import BillType, ChargeMode, UsageLine
from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import InvalidInput
from partnercenter.customers.models import AssociationMode
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import Transfer, TransferKind
from partnercenter.ledger.service import Charge
from partnercenter.ledger.verify import verify
from partnercenter.vouchers import spending
from partnercenter.vouchers.spending import VoucherUse
from tests import factories
from tests.ledger.world import World, world

ECS = "hws.service.type.ec2"
VM = "hws.resource.type.vm"
VOLUME = "hws.resource.type.volume"


def lines(db: Session) -> list[UsageLine]:
    return list(db.scalars(select(UsageLine).order_by(UsageLine.id)))


def transfers(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Transfer)) or 0


def clean(db: Session) -> None:
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == report.inflow


def funded(w: World, minor: int) -> str:
    customer = w.customer()
    w.topup(minor)
    ledger.allocate(w.db, w.actor, customer_id=customer, amount=minor)
    return customer


class TestUsageLines:
    def test_a_charge_without_details_is_an_on_demand_consumption_of_now(
        self, db: Session, clock: FrozenClock
    ) -> None:
        w = world(db)
        customer = funded(w, 50_00)

        [result] = ledger.post_charges(db, w.finance, [Charge("c-1", customer, 12_00)])

        [line] = lines(db)
        assert (line.kind, line.charge_id, line.customer_id) == (
            TransferKind.CONSUME,
            "c-1",
            customer,
        )
        assert line.partner_id == w.partner.organisation.id
        assert line.association_mode is AssociationMode.RESALE
        assert (line.service_type_code, line.resource_type_code) == (None, None)
        assert (line.charge_mode, line.bill_type) == (
            ChargeMode.ON_DEMAND,
            BillType.CONSUMPTION,
        )
        assert line.occurred_at == clock.now()
        assert line.bill_cycle == "2026-03"
        assert (line.amount, line.voucher_amount, line.cash_amount) == (12_00, 0, 12_00)
        assert line.debt_amount == 0
        assert line.transfer_id == result.transfer_id
        assert (result.voucher_amount, result.cash_amount) == (0, 12_00)
        clean(db)

    def test_the_details_given_are_kept(self, db: Session) -> None:
        w = world(db)
        customer = funded(w, 50_00)
        at = dt.datetime(2026, 1, 31, 17, 0, tzinfo=dt.UTC)

        ledger.post_charges(
            db,
            w.finance,
            [
                Charge(
                    "c-1",
                    customer,
                    30_00,
                    service_type_code=ECS,
                    resource_type_code=VM,
                    charge_mode=ChargeMode.YEARLY_MONTHLY,
                    occurred_at=at,
                )
            ],
        )

        [line] = lines(db)
        assert (line.service_type_code, line.resource_type_code) == (ECS, VM)
        assert line.charge_mode is ChargeMode.YEARLY_MONTHLY
        assert line.occurred_at == at
        # 01:00 on the 1st of February in Beijing.
        assert line.bill_cycle == "2026-02"

    def test_a_consulting_customer_and_a_customer_of_nobody(self, db: Session) -> None:
        w = world(db)
        consulting = w.customer(AssociationMode.CONSULTING)
        alone = factories.customer(db).organisation.id

        ledger.post_charges(
            db, w.finance, [Charge("c-1", consulting, 1_00), Charge("c-2", alone, 2_00)]
        )

        found = {line.customer_id: line for line in lines(db)}
        assert found[consulting].partner_id == w.partner.organisation.id
        assert found[consulting].association_mode is AssociationMode.CONSULTING
        assert (found[alone].partner_id, found[alone].association_mode) == (None, None)

    def test_the_part_beyond_the_balance_is_recorded_as_debt(self, db: Session) -> None:
        w = world(db)
        customer = funded(w, 10_00)

        ledger.post_charges(
            db,
            w.finance,
            [Charge("c-1", customer, 6_00), Charge("c-2", customer, 7_00)],
        )

        assert [line.debt_amount for line in lines(db)] == [0, 3_00]
        assert w.customer_balances(customer).debt == 3_00
        clean(db)

    @pytest.mark.parametrize(
        ("bill_type", "refund"),
        [(None, True), (BillType.UNSUBSCRIBE, True), (BillType.WRITE_OFF, True)],
    )
    def test_a_refund_goes_back_to_cash_in_full(
        self,
        db: Session,
        monkeypatch: pytest.MonkeyPatch,
        bill_type: BillType | None,
        refund: bool,
    ) -> None:
        w = world(db)
        customer = funded(w, 10_00)
        ledger.post_charges(db, w.finance, [Charge("c-1", customer, 4_00)])
        asked: list[str] = []
        monkeypatch.setattr(
            spending, "cover", lambda session, **kw: asked.append(kw["charge_id"]) or []
        )

        [result] = ledger.post_charges(
            db,
            w.finance,
            [Charge("c-1", customer, 4_00, refund=refund, bill_type=bill_type)],
        )

        assert result.status == "posted"
        assert asked == [], "refunds never ask the vouchers"
        refund_line = lines(db)[-1]
        assert refund_line.kind is TransferKind.REFUND
        assert refund_line.bill_type is (bill_type or BillType.UNSUBSCRIBE)
        assert (refund_line.voucher_amount, refund_line.cash_amount) == (0, 4_00)
        assert w.customer_balances(customer).allocated == 10_00


class TestVouchersFirst:
    def test_vouchers_pay_first_and_the_ledger_moves_only_the_cash(
        self, db: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        w = world(db)
        customer = funded(w, 50_00)
        calls: list[dict[str, object]] = []

        def cover(session: Session, **kw: object) -> list[VoucherUse]:
            calls.append(kw)
            return [VoucherUse("v-1", 3_00), VoucherUse("v-2", 1_50)]

        monkeypatch.setattr(spending, "cover", cover)
        at = dt.datetime(2026, 2, 10, 4, 0, tzinfo=dt.UTC)

        [result] = ledger.post_charges(
            db,
            w.finance,
            [Charge("c-1", customer, 10_00, service_type_code=ECS, occurred_at=at)],
        )

        assert calls == [
            {
                "customer_id": customer,
                "charge_id": "c-1",
                "amount": 10_00,
                "currency": "CNY",
                "service_type_code": ECS,
                "at": at,
            }
        ]
        assert (result.voucher_amount, result.cash_amount) == (4_50, 5_50)
        transfer = db.get(Transfer, result.transfer_id)
        assert transfer is not None
        assert transfer.amount == 5_50
        [line] = lines(db)
        assert (line.amount, line.voucher_amount, line.cash_amount) == (
            10_00,
            4_50,
            5_50,
        )
        assert w.customer_balances(customer).allocated == 44_50
        clean(db)

    def test_a_charge_vouchers_pay_whole_writes_no_transfer_and_stays_a_duplicate(
        self, db: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        w = world(db)
        customer = funded(w, 20_00)
        before = transfers(db)
        monkeypatch.setattr(
            spending,
            "cover",
            lambda session, **kw: [VoucherUse("v-1", kw["amount"])],
        )

        [first] = ledger.post_charges(db, w.finance, [Charge("c-1", customer, 8_00)])
        [again] = ledger.post_charges(db, w.finance, [Charge("c-1", customer, 8_00)])
        [other] = ledger.post_charges(db, w.finance, [Charge("c-1", customer, 9_00)])

        assert (first.status, first.transfer_id, first.cash_amount) == (
            "posted",
            None,
            0,
        )
        assert (again.status, again.transfer_id) == ("duplicate", None)
        assert (other.status, other.error) == ("refused", "charge_id_reused")
        assert transfers(db) == before
        [line] = lines(db)
        assert (line.voucher_amount, line.cash_amount, line.transfer_id) == (
            8_00,
            0,
            None,
        )
        assert w.customer_balances(customer).allocated == 20_00
        clean(db)

    def test_vouchers_that_would_pay_more_than_the_charge_stop_the_delivery(
        self, db: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        w = world(db)
        customer = funded(w, 20_00)
        monkeypatch.setattr(
            spending, "cover", lambda session, **kw: [VoucherUse("v", kw["amount"] + 1)]
        )

        with pytest.raises(RuntimeError, match="vouchers would pay"):
            ledger.post_charges(db, w.finance, [Charge("c-1", customer, 8_00)])


class TestRefusedDetails:
    def test_unknown_codes_refuse_the_whole_delivery_with_every_problem(
        self, db: Session
    ) -> None:
        w = world(db)
        customer = funded(w, 20_00)
        before = transfers(db)

        with pytest.raises(InvalidInput) as refused:
            ledger.post_charges(
                db,
                w.finance,
                [
                    Charge("ok", customer, 1_00, service_type_code=ECS),
                    Charge("c-2", customer, 1_00, service_type_code="hws.nothing"),
                    Charge("c-3", customer, 1_00, resource_type_code="hws.none"),
                    Charge(
                        "c-4",
                        customer,
                        1_00,
                        service_type_code=ECS,
                        resource_type_code=VOLUME,
                    ),
                    Charge("c-5", customer, 1_00, bill_type=BillType.WRITE_OFF),
                ],
            )

        assert [p.field for p in refused.value.problems] == [
            "charges[1].service_type_code",
            "charges[2].resource_type_code",
            "charges[3].resource_type_code",
            "charges[4].bill_type",
        ]
        assert lines(db) == []
        assert transfers(db) == before
