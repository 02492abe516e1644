"""Allocation, reclaim, balances and records through the official SDK, against a served app."""

from __future__ import annotations

from decimal import Decimal

import pytest
from huaweicloudsdkbss.v2 import (
    AdjustAccountReq,
    AdjustToIndirectPartnerReq,
    BssClient,
    CustomerInfoV2,
    ListCustomersBalancesDetailRequest,
    ListIndirectPartnersRequest,
    ListPartnerAccountChangeRecordsRequest,
    ListPartnerAdjustRecordsRequest,
    ListPartnerBalancesRequest,
    QueryCustomersBalancesReq,
    QueryIndirectPartnersReq,
    ReclaimIndirectPartnerAccountReq,
    ReclaimIndirectPartnerAccountRequest,
    ReclaimIndirectPartnerAccountResponse,
    ReclaimToPartnerAccountBalancesReq,
    ReclaimToPartnerAccountRequest,
    ReclaimToPartnerAccountResponse,
    ShowCustomerAccountBalancesRequest,
    UpdateCustomerAccountAmountRequest,
    UpdateCustomerAccountAmountResponse,
    UpdateIndirectPartnerAccountRequest,
    UpdateIndirectPartnerAccountResponse,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from partnercenter.identity.models import Organisation
from partnercenter.ledger import service as ledger
from tests.bss.conftest import Channel


def allocate(
    client: BssClient, customer_id: str, amount: str, reseller_id: str | None = None
) -> UpdateCustomerAccountAmountResponse:
    return client.update_customer_account_amount(
        UpdateCustomerAccountAmountRequest(
            body=AdjustAccountReq(
                customer_id=customer_id,
                amount=Decimal(amount),
                indirect_partner_id=reseller_id,
            )
        )
    )


def reclaim(
    client: BssClient, customer_id: str, amount: str, reseller_id: str | None = None
) -> ReclaimToPartnerAccountResponse:
    return client.reclaim_to_partner_account(
        ReclaimToPartnerAccountRequest(
            body=ReclaimToPartnerAccountBalancesReq(
                customer_id=customer_id,
                amount=Decimal(amount),
                indirect_partner_id=reseller_id,
            )
        )
    )


def refusal(call: object) -> ClientRequestException:
    assert isinstance(call, ClientRequestException)
    return call


def balances(client: BssClient, reseller_id: str | None = None) -> dict[int, object]:
    found = client.list_partner_balances(
        ListPartnerBalancesRequest(indirect_partner_id=reseller_id)
    )
    return {balance.account_type: balance for balance in found.account_balances}


class TestAllocation:
    def test_a_cent_moves_from_the_partner_to_the_customer(
        self, channel: Channel
    ) -> None:
        answer = allocate(channel.partner, channel.resale, "0.01")

        assert answer.transfer_id.startswith("AD")
        assert Decimal(str(balances(channel.partner)[1].amount)) == Decimal("999.99")
        mine = channel.client(channel.customer_key).show_customer_account_balances(
            ShowCustomerAccountBalancesRequest()
        )
        assert mine.account_balances[0].amount == Decimal("0.01")
        assert isinstance(mine.account_balances[0].amount, Decimal)
        assert mine.debt_amount == Decimal("0.00")
        assert mine.currency == "CNY"
        assert mine.measure_id == 1

    def test_the_largest_amount_is_exact(self, channel: Channel) -> None:
        ledger.record_topup(
            channel.db,
            channel.w.finance,
            partner_id=channel.w.partner.organisation.id,
            amount=99_999_999_00,
            reference=None,
        )
        channel.db.commit()

        allocate(channel.partner, channel.resale, "99999999.99")

        found = channel.partner.list_customers_balances_detail(
            ListCustomersBalancesDetailRequest(
                body=QueryCustomersBalancesReq(
                    customer_infos=[CustomerInfoV2(customer_id=channel.resale)]
                )
            )
        )
        assert found.customer_balances[0].amount == Decimal("99999999.99")
        assert Decimal(str(balances(channel.partner)[1].amount)) == Decimal("999.01")

    def test_more_than_the_balance_is_refused_and_nothing_moves(
        self, channel: Channel
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            allocate(channel.partner, channel.resale, "1000.01")

        assert raised.value.status_code == 400
        assert raised.value.error_code == "CBC.99005003"
        assert raised.value.request_id
        assert Decimal(str(balances(channel.partner)[1].amount)) == Decimal("1000.00")

    @pytest.mark.parametrize("amount", ["0", "-1", "0.001"])
    def test_amounts_that_are_not_positive_cents_are_bad_parameters(
        self, channel: Channel, amount: str
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            allocate(channel.partner, channel.resale, amount)

        assert raised.value.status_code == 400
        assert raised.value.error_code == "CBC.0100"
        assert "amount" in raised.value.error_msg

    def test_a_customer_of_someone_else_is_not_yours(self, channel: Channel) -> None:
        with pytest.raises(ClientRequestException) as raised:
            allocate(channel.partner, channel.reseller_customer, "1.00")
        assert raised.value.error_code == "CBC.99000035"

        with pytest.raises(ClientRequestException) as raised:
            allocate(channel.partner, "no-such-customer", "1.00")
        assert raised.value.error_code == "CBC.99000035"

    def test_a_consulting_customer_cannot_be_funded(self, channel: Channel) -> None:
        with pytest.raises(ClientRequestException) as raised:
            allocate(channel.partner, channel.consulting, "1.00")

        assert raised.value.error_code == "CBC.5024"

    def test_a_nul_character_is_a_bad_parameter_and_nothing_moves(
        self, channel: Channel
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            allocate(channel.partner, channel.resale + "\x00", "1.00")

        assert raised.value.status_code == 400
        assert raised.value.error_code == "CBC.0100"
        assert "NUL" in raised.value.error_msg
        assert Decimal(str(balances(channel.partner)[1].amount)) == Decimal("1000.00")

    def test_a_missing_customer_id_is_a_bad_parameter(self, channel: Channel) -> None:
        with pytest.raises(ClientRequestException) as raised:
            channel.partner.update_customer_account_amount(
                UpdateCustomerAccountAmountRequest(
                    body=AdjustAccountReq(customer_id=None, amount=Decimal("1.00"))
                )
            )
        assert raised.value.error_code == "CBC.0100"
        assert "customer_id" in raised.value.error_msg


class TestReclaim:
    def test_takes_back_at_most_the_unspent_allocation(self, channel: Channel) -> None:
        allocate(channel.partner, channel.resale, "10.00")

        answer = reclaim(channel.partner, channel.resale, "4.00")
        assert answer.trans_id.startswith("RE")
        with pytest.raises(ClientRequestException) as raised:
            reclaim(channel.partner, channel.resale, "6.01")
        assert raised.value.error_code == "CBC.99005003"

        assert Decimal(str(balances(channel.partner)[1].amount)) == Decimal("994.00")


class TestDistributor:
    def test_acts_on_a_resellers_customer_with_the_resellers_balance(
        self, channel: Channel
    ) -> None:
        reseller = channel.reseller_id

        allocate(channel.distributor, channel.reseller_customer, "12.34", reseller)

        assert Decimal(str(balances(channel.distributor, reseller)[1].amount)) == (
            Decimal("187.66")
        )
        assert Decimal(str(balances(channel.distributor)[1].amount)) == Decimal(
            "300.00"
        )
        reclaim(channel.distributor, channel.reseller_customer, "2.34", reseller)
        assert Decimal(str(balances(channel.distributor, reseller)[1].amount)) == (
            Decimal("190.00")
        )

    def test_another_partners_reseller_is_refused(self, channel: Channel) -> None:
        reseller = channel.reseller_id
        with pytest.raises(ClientRequestException) as raised:
            allocate(channel.partner, channel.reseller_customer, "1.00", reseller)
        assert raised.value.error_code == "CBC.99000037"

        with pytest.raises(ClientRequestException) as raised:
            balances(channel.partner, reseller)
        assert raised.value.error_code == "CBC.99000037"

    def test_funds_and_reclaims_its_reseller(self, channel: Channel) -> None:
        reseller = channel.reseller_id

        funded = channel.distributor.update_indirect_partner_account(
            UpdateIndirectPartnerAccountRequest(
                body=AdjustToIndirectPartnerReq(
                    indirect_partner_id=reseller, amount=Decimal("0.01")
                )
            )
        )
        assert isinstance(funded, UpdateIndirectPartnerAccountResponse)
        assert funded.transfer_id
        taken = channel.distributor.reclaim_indirect_partner_account(
            ReclaimIndirectPartnerAccountRequest(
                body=ReclaimIndirectPartnerAccountReq(
                    indirect_partner_id=reseller, amount=Decimal("100.01")
                )
            )
        )
        assert isinstance(taken, ReclaimIndirectPartnerAccountResponse)
        assert taken.trans_id
        assert Decimal(str(balances(channel.distributor, reseller)[1].amount)) == (
            Decimal("100.00")
        )
        with pytest.raises(ClientRequestException) as raised:
            channel.distributor.reclaim_indirect_partner_account(
                ReclaimIndirectPartnerAccountRequest(
                    body=ReclaimIndirectPartnerAccountReq(
                        indirect_partner_id=reseller, amount=Decimal("100.02")
                    )
                )
            )
        assert raised.value.error_code == "CBC.99005003"

    def test_lists_its_resellers(self, channel: Channel) -> None:
        reseller = channel.look(Organisation, channel.reseller_id)

        found = channel.distributor.list_indirect_partners(
            ListIndirectPartnersRequest(body=QueryIndirectPartnersReq())
        )

        assert found.count == 1
        [row] = found.indirect_partners
        assert row.indirect_partner_id == reseller.id
        assert row.account_name == reseller.account_name
        assert row.name == reseller.display_name
        assert row.associated_on.endswith("Z")
        nothing = channel.distributor.list_indirect_partners(
            ListIndirectPartnersRequest(
                body=QueryIndirectPartnersReq(account_name="no-such-name")
            )
        )
        assert nothing.count == 0
        assert nothing.indirect_partners == []

    def test_a_solution_provider_has_no_resellers(self, channel: Channel) -> None:
        with pytest.raises(ClientRequestException) as raised:
            channel.partner.list_indirect_partners(
                ListIndirectPartnersRequest(body=QueryIndirectPartnersReq())
            )
        assert raised.value.error_code == "CBC.99000037"


class TestWhoMayCall:
    def test_a_resellers_key_is_refused(self, channel: Channel) -> None:
        with pytest.raises(ClientRequestException) as raised:
            allocate(
                channel.client(channel.reseller_key), channel.reseller_customer, "1"
            )
        assert raised.value.status_code == 403
        assert raised.value.error_code == "CBC.0151"

    def test_a_customers_key_reads_only_its_own_balances(
        self, channel: Channel
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            balances(channel.client(channel.customer_key))
        assert raised.value.error_code == "CBC.0151"

        with pytest.raises(ClientRequestException) as raised:
            channel.partner.show_customer_account_balances(
                ShowCustomerAccountBalancesRequest()
            )
        assert raised.value.error_code == "CBC.0151"


class TestBalances:
    def test_cash_credit_and_allocatable(self, channel: Channel) -> None:
        partner_id = channel.w.partner.organisation.id
        ledger.set_credit_limit(
            channel.db, channel.w.finance, partner_id=partner_id, amount=300_00
        )
        ledger.set_designated(
            channel.db, channel.w.finance, partner_id=partner_id, amount=100_00
        )
        channel.db.commit()

        found = balances(channel.partner)

        assert set(found) == {1, 2, 8}
        assert Decimal(str(found[1].amount)) == Decimal("1000.00")
        assert Decimal(str(found[1].designated_amount)) == Decimal("100.00")
        assert Decimal(str(found[2].credit_amount)) == Decimal("300.00")
        assert Decimal(str(found[8].amount)) == Decimal("1200.00")
        assert all(b.currency == "CNY" and b.measure_id == 1 for b in found.values())

    def test_many_customers_at_once_leave_out_those_not_in_resale(
        self, channel: Channel
    ) -> None:
        allocate(channel.partner, channel.resale, "5.50")

        found = channel.partner.list_customers_balances_detail(
            ListCustomersBalancesDetailRequest(
                body=QueryCustomersBalancesReq(
                    customer_infos=[
                        CustomerInfoV2(customer_id=channel.resale),
                        CustomerInfoV2(customer_id=channel.consulting),
                        CustomerInfoV2(customer_id=channel.reseller_customer),
                    ]
                )
            )
        )

        [row] = found.customer_balances
        assert row.customer_id == channel.resale
        assert row.amount == Decimal("5.50")
        assert row.debt_amount == Decimal("0.00")

    def test_an_empty_or_too_long_list_is_a_bad_parameter(
        self, channel: Channel
    ) -> None:
        for infos in ([], [CustomerInfoV2(customer_id=f"c{n}") for n in range(101)]):
            with pytest.raises(ClientRequestException) as raised:
                channel.partner.list_customers_balances_detail(
                    ListCustomersBalancesDetailRequest(
                        body=QueryCustomersBalancesReq(customer_infos=infos)
                    )
                )
            assert raised.value.error_code == "CBC.0100"


class TestRecords:
    def test_adjust_records_with_filters_and_pages(self, channel: Channel) -> None:
        first = allocate(channel.partner, channel.resale, "10.00").transfer_id
        second = reclaim(channel.partner, channel.resale, "3.50").trans_id

        found = channel.partner.list_partner_adjust_records(
            ListPartnerAdjustRecordsRequest()
        )
        assert found.total_count == 2
        newest, oldest = found.records
        assert (newest.trans_id, oldest.trans_id) == (second, first)
        assert newest.operation_type == "SOURCE_OPERATION_BERETRIEVE"
        assert newest.amount == "3.50"
        assert oldest.operation_type == "SOURCE_OPERATION_BEADJUST"
        assert oldest.amount == "10.00"
        assert oldest.customer_id == channel.resale
        assert oldest.currency == "CNY"
        assert oldest.measure_id == 1
        assert oldest.operation_time.endswith("Z")

        only = channel.partner.list_partner_adjust_records(
            ListPartnerAdjustRecordsRequest(operation_type="SOURCE_OPERATION_BEADJUST")
        )
        assert [r.trans_id for r in only.records] == [first]
        page = channel.partner.list_partner_adjust_records(
            ListPartnerAdjustRecordsRequest(offset=1, limit=1)
        )
        assert page.total_count == 2
        assert [r.trans_id for r in page.records] == [first]
        past_the_end = channel.partner.list_partner_adjust_records(
            ListPartnerAdjustRecordsRequest(offset=2, limit=1)
        )
        assert past_the_end.records == []
        assert past_the_end.total_count == 2

    @pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, 101)])
    def test_pages_out_of_range_are_bad_parameters(
        self, channel: Channel, offset: int, limit: int
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            channel.partner.list_partner_adjust_records(
                ListPartnerAdjustRecordsRequest(offset=offset, limit=limit)
            )
        assert raised.value.error_code == "CBC.0100"

    def test_account_change_records(self, channel: Channel) -> None:
        transfer = allocate(channel.partner, channel.resale, "1.25").transfer_id

        found = channel.partner.list_partner_account_change_records(
            ListPartnerAccountChangeRecordsRequest(balance_type="BALANCE_TYPE_DEBIT")
        )

        assert found.total_count == 2
        assert found.currency == "CNY"
        allocation, topup = found.records
        assert allocation.trade_id == transfer
        assert allocation.trade_detail_type == "SOURCE_OPERATION_BEADJUST"
        assert allocation.change_amount == "1.25"
        assert allocation.balance_after_change == "998.75"
        assert allocation.type == "2"
        assert allocation.customer_id == channel.resale
        assert topup.type == "1"
        assert topup.change_amount == "1000.00"
        assert topup.customer_id is None
        recharges = channel.partner.list_partner_account_change_records(
            ListPartnerAccountChangeRecordsRequest(
                balance_type="BALANCE_TYPE_DEBIT", trade_type="RECHARGE"
            )
        )
        assert [r.trade_id for r in recharges.records] == [topup.trade_id]

    def test_the_balance_type_is_required(self, channel: Channel) -> None:
        with pytest.raises(ClientRequestException) as raised:
            channel.partner.list_partner_account_change_records(
                ListPartnerAccountChangeRecordsRequest()
            )
        assert raised.value.error_code == "CBC.0100"
        assert "balance_type" in raised.value.error_msg

    def test_days_are_read_in_beijing_time(self, channel: Channel) -> None:
        allocate(channel.partner, channel.resale, "1.00")

        found = channel.partner.list_partner_account_change_records(
            ListPartnerAccountChangeRecordsRequest(
                balance_type="BALANCE_TYPE_DEBIT",
                trade_time_begin="2020-01-01",
                trade_time_end="2020-01-31",
            )
        )
        assert found.total_count == 0
        with pytest.raises(ClientRequestException) as raised:
            channel.partner.list_partner_account_change_records(
                ListPartnerAccountChangeRecordsRequest(
                    balance_type="BALANCE_TYPE_DEBIT", trade_time_begin="2020/01/01"
                )
            )
        assert raised.value.error_code == "CBC.0100"
