"""Monthly bills of a partner's resale customers through the official SDK."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from huaweicloudsdkbss.v2 import ListSubcustomerMonthlyBillsRequest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from partnercenter.billing.models import BillType, ChargeMode
from partnercenter.ledger import service as ledger
from partnercenter.ledger.service import Charge
from tests.bss.conftest import Channel

ECS, OBS = "hws.service.type.ec2", "hws.service.type.obs"


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


@pytest.fixture
def charged(channel: Channel) -> Channel:
    ledger.allocate(
        channel.db, channel.w.actor, customer_id=channel.resale, amount=100_00
    )
    charges = [
        Charge(
            "c-1",
            channel.resale,
            12_34,
            service_type_code=ECS,
            occurred_at=at(2026, 3, 5),
        ),
        Charge(
            "c-2", channel.resale, 66, service_type_code=ECS, occurred_at=at(2026, 3, 6)
        ),
        Charge(
            "c-3",
            channel.resale,
            5_00,
            service_type_code=OBS,
            charge_mode=ChargeMode.YEARLY_MONTHLY,
            occurred_at=at(2026, 3, 7),
        ),
        Charge(
            "c-4",
            channel.resale,
            1_00,
            refund=True,
            service_type_code=ECS,
            occurred_at=at(2026, 3, 8),
        ),
        # 2026-03-31 17:00 UTC is April 1st in Beijing.
        Charge(
            "c-5",
            channel.resale,
            9_99,
            service_type_code=ECS,
            occurred_at=at(2026, 3, 31, 17),
        ),
        Charge(
            "c-6",
            channel.consulting,
            3_00,
            service_type_code=ECS,
            occurred_at=at(2026, 3, 5),
        ),
    ]
    results = ledger.post_charges(channel.db, channel.w.finance, charges)
    assert {r.status for r in results} == {"posted"}
    channel.done()
    return channel


def bills(channel: Channel, **query: Any) -> Any:
    return channel.partner.list_subcustomer_monthly_bills(
        ListSubcustomerMonthlyBillsRequest(**query)
    )


class TestMonthlyBills:
    def test_sums_per_service_charge_mode_and_bill_type(self, charged: Channel) -> None:
        found = bills(charged, cycle="2026-03", charge_mode="3")

        assert found.currency == "CNY"
        rows = {(b.cloud_service_type, b.bill_type): b for b in found.bill_sums}
        assert set(rows) == {(ECS, "0"), (ECS, "1")}
        consumed = rows[(ECS, "0")]
        assert consumed.amount == Decimal("13.00")
        assert isinstance(consumed.amount, Decimal)
        assert consumed.customer_id == charged.resale
        assert consumed.charge_mode == "3"
        assert consumed.cloud_service_type_name
        assert consumed.measure_id == 1
        assert {d.balance_type for d in consumed.account_details} == {
            "BALANCE_TYPE_DEBIT"
        }
        assert rows[(ECS, "1")].amount == Decimal("-1.00")
        assert found.count == 2

    def test_filters(self, charged: Channel) -> None:
        yearly = bills(charged, cycle="2026-03", charge_mode="1")
        assert [(b.cloud_service_type, b.amount) for b in yearly.bill_sums] == [
            (OBS, Decimal("5.00"))
        ]
        april = bills(charged, cycle="2026-04", charge_mode="3")
        assert [b.amount for b in april.bill_sums] == [Decimal("9.99")]
        refunds = bills(
            charged,
            cycle="2026-03",
            charge_mode="3",
            bill_type=BillType.UNSUBSCRIBE.value,
        )
        assert [b.bill_type for b in refunds.bill_sums] == ["1"]
        assert (
            bills(charged, cycle="2026-03", charge_mode="3", customer_id="x").count == 0
        )
        page = bills(charged, cycle="2026-03", charge_mode="3", offset=1, limit=1)
        assert page.count == 2
        assert len(page.bill_sums) == 1

    def test_consulting_customers_are_not_in_the_partners_bills(
        self, charged: Channel
    ) -> None:
        found = bills(
            charged, cycle="2026-03", charge_mode="3", customer_id=charged.consulting
        )

        assert found.bill_sums == []

    @pytest.mark.parametrize(
        "query",
        [
            {"charge_mode": "3"},
            {"cycle": "2026-03"},
            {"cycle": "2026-3", "charge_mode": "3"},
            {"cycle": "2026-03", "charge_mode": "2"},
        ],
    )
    def test_cycle_and_charge_mode_are_required(
        self, charged: Channel, query: dict[str, str]
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            bills(charged, **query)
        assert raised.value.error_code == "CBC.0100"

    def test_a_distributor_reads_a_resellers_bills_only_with_its_consent(
        self, charged: Channel
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            charged.distributor.list_subcustomer_monthly_bills(
                ListSubcustomerMonthlyBillsRequest(
                    cycle="2026-03",
                    charge_mode="3",
                    indirect_partner_id=charged.reseller_id,
                )
            )
        assert raised.value.status_code == 403
        with pytest.raises(ClientRequestException) as raised:
            bills(
                charged,
                cycle="2026-03",
                charge_mode="3",
                indirect_partner_id=charged.reseller_id,
            )
        assert raised.value.error_code == "CBC.99000037"
