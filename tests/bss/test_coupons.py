"""Vouchers through the official SDK: issuing from a quota, listing, reclaiming."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from huaweicloudsdkbss.v2 import (
    BssClient,
    CreatePartnerCouponsReq,
    CreatePartnerCouponsRequest,
    ListIssuedPartnerCouponsRequest,
    ReclaimPartnerCouponsReq,
    ReclaimPartnerCouponsRequest,
    ReclaimPartnerCouponsResponse,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from partnercenter.vouchers import service
from tests.bss.conftest import Channel
from tests.vouchers.world import terms


@pytest.fixture
def quota(channel: Channel) -> str:
    made = service.grant_quota(
        channel.db,
        channel.w.finance,
        partner_id=channel.w.partner.organisation.id,
        terms=terms(
            amount=100_00, min_face_value=1, max_face_value=50_00, max_vouchers=3
        ),
    )
    channel.done()
    return made.id


def issue(
    client: BssClient, quota_id: str, customers: list[str], face: str, **more: Any
) -> Any:
    return client.create_partner_coupons(
        CreatePartnerCouponsRequest(
            body=CreatePartnerCouponsReq(
                quota_id=quota_id,
                customer_ids=customers,
                face_value=Decimal(face),
                **more,
            )
        )
    )


def listed(client: BssClient, **query: Any) -> Any:
    return client.list_issued_partner_coupons(ListIssuedPartnerCouponsRequest(**query))


def reclaim(client: BssClient, coupon_id: str, **more: Any) -> Any:
    return client.reclaim_partner_coupons(
        ReclaimPartnerCouponsRequest(
            body=ReclaimPartnerCouponsReq(coupon_id=coupon_id, **more)
        )
    )


class TestCreatePartnerCoupons:
    def test_issues_per_customer_and_reports_refusals_inside_200(
        self, channel: Channel, quota: str
    ) -> None:
        answer = issue(
            channel.partner,
            quota,
            [channel.resale, channel.consulting, channel.reseller_customer],
            "0.01",
        )

        [issued] = answer.coupon_infos
        assert issued.id == channel.resale
        assert issued.coupon_id
        refused = {d.id: d.error_code for d in answer.error_details}
        assert refused == {
            channel.consulting: "CBC.99000014",
            channel.reseller_customer: "CBC.99000035",
        }
        assert all(d.error_msg for d in answer.error_details)

    @pytest.mark.parametrize(
        ("face", "code"), [("50.01", "CBC.99000019"), ("100.00", "CBC.99000019")]
    )
    def test_face_values_outside_the_quota(
        self, channel: Channel, quota: str, face: str, code: str
    ) -> None:
        answer = issue(channel.partner, quota, [channel.resale], face)

        assert answer.coupon_infos == []
        assert [d.error_code for d in answer.error_details] == [code]

    def test_the_quota_runs_out(self, channel: Channel, quota: str) -> None:
        others = [channel.w.customer() for _ in range(3)]
        channel.done()

        answer = issue(channel.partner, quota, others, "40.00")

        assert len(answer.coupon_infos) == 2
        assert [d.error_code for d in answer.error_details] == ["CBC.99000013"]

    def test_whole_request_refusals(self, channel: Channel, quota: str) -> None:
        cases = [
            (("no-such-quota", [channel.resale], "1.00"), {}, "CBC.99000012"),
            ((quota, [], "1.00"), {}, "CBC.0100"),
            ((quota, [channel.resale], "0.001"), {}, "CBC.0100"),
            ((quota, [channel.resale], "1.00"), {"product_ids": ["p"]}, "CBC.0100"),
            (
                (quota, [channel.resale], "1.00"),
                {"indirect_partner_id": channel.reseller_id},
                "CBC.99000037",
            ),
        ]
        for args, more, code in cases:
            with pytest.raises(ClientRequestException) as raised:
                issue(channel.partner, *args, **more)
            assert raised.value.error_code == code, (args, more)


class TestListAndReclaim:
    def test_lists_what_was_issued_with_exact_amounts(
        self, channel: Channel, quota: str
    ) -> None:
        [first] = issue(channel.partner, quota, [channel.resale], "12.34").coupon_infos
        second_customer = channel.w.customer()
        channel.done()
        [second] = issue(channel.partner, quota, [second_customer], "0.50").coupon_infos

        found = listed(channel.partner)

        assert found.total_count == 2
        newest, oldest = found.user_coupons
        assert (newest.coupon_id, oldest.coupon_id) == (
            second.coupon_id,
            first.coupon_id,
        )
        assert oldest.face_value == Decimal("12.34")
        assert oldest.balance == Decimal("12.34")
        assert oldest.status == 2
        assert oldest.customer_id == channel.resale
        assert oldest.coupon_type == 1
        assert oldest.expire_time.endswith("Z")
        assert [
            c.coupon_id
            for c in listed(channel.partner, customer_id=channel.resale).user_coupons
        ] == [first.coupon_id]
        page = listed(channel.partner, offset=1, limit=1)
        assert [c.coupon_id for c in page.user_coupons] == [first.coupon_id]
        assert listed(channel.partner, status=5).total_count == 0
        assert listed(channel.partner, coupon_type=4).total_count == 0

    def test_reclaim_answers_204_and_the_voucher_is_reclaimed(
        self, channel: Channel, quota: str
    ) -> None:
        [coupon] = issue(channel.partner, quota, [channel.resale], "5.00").coupon_infos

        answer = reclaim(channel.partner, coupon.coupon_id)

        assert isinstance(answer, ReclaimPartnerCouponsResponse)
        assert answer.status_code == 204
        [row] = listed(channel.partner, coupon_id=coupon.coupon_id).user_coupons
        assert row.status == 5
        # The same request again within the second would be a repeated signed write.
        channel.server.app.state.settings.bss_duplicate_guard = False
        with pytest.raises(ClientRequestException) as raised:
            reclaim(channel.partner, coupon.coupon_id)
        assert raised.value.error_code == "CBC.99000048"

    def test_another_partners_voucher_cannot_be_reclaimed(
        self, channel: Channel, quota: str
    ) -> None:
        [coupon] = issue(channel.partner, quota, [channel.resale], "5.00").coupon_infos

        with pytest.raises(ClientRequestException) as raised:
            reclaim(channel.distributor, coupon.coupon_id)
        assert raised.value.status_code == 400
        assert listed(channel.distributor).total_count == 0
        with pytest.raises(ClientRequestException) as raised:
            reclaim(channel.partner, coupon.coupon_id, indirect_partner_id="")
        assert raised.value.error_code == "CBC.0100"


class TestDistributorForReseller:
    def test_issues_from_the_resellers_quota(self, channel: Channel) -> None:
        parent = service.grant_quota(
            channel.db,
            channel.w.finance,
            partner_id=channel.tiers.distributor.organisation.id,
            terms=terms(amount=100_00, min_face_value=1, max_face_value=50_00),
        )
        child = service.grant_to_reseller(
            channel.db,
            channel.tiers.distributor_actor,
            quota_id=parent.id,
            reseller_id=channel.reseller_id,
            amount=30_00,
        )
        channel.done()

        answer = issue(
            channel.distributor,
            child.id,
            [channel.reseller_customer],
            "10.00",
            indirect_partner_id=channel.reseller_id,
        )

        [coupon] = answer.coupon_infos
        assert coupon.id == channel.reseller_customer
        found = listed(channel.distributor, indirect_partner_id=channel.reseller_id)
        assert [c.coupon_id for c in found.user_coupons] == [coupon.coupon_id]
        reclaim(
            channel.distributor,
            coupon.coupon_id,
            indirect_partner_id=channel.reseller_id,
        )
