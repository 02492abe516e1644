"""The vendor's incentive policy catalogue through the official SDK."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from huaweicloudsdkbss.v2 import ListIncentiveDiscountPoliciesRequest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from partnercenter.incentives import service as incentives
from tests.bss.conftest import Channel
from tests.signing import signed

ECS, OBS = "hws.service.type.ec2", "hws.service.type.obs"


@pytest.fixture
def published(channel: Channel) -> Channel:
    incentives.save_month(
        channel.db,
        channel.w.finance,
        month="2026-01",
        entries=[
            incentives.PolicyInput(ECS, "1", True, "5.00"),
            incentives.PolicyInput(OBS, "0", False, ""),
        ],
    )
    incentives.save_month(
        channel.db,
        channel.w.finance,
        month="2026-03",
        entries=[incentives.PolicyInput(ECS, "2", False, "")],
    )
    channel.done()
    return channel


def policies(channel: Channel, **query: object) -> object:
    return channel.partner.list_incentive_discount_policies(
        ListIncentiveDiscountPoliciesRequest(**query)
    )


class TestIncentivePolicies:
    def test_a_month_sees_the_latest_entry_of_each_service(
        self, published: Channel
    ) -> None:
        february = policies(published, time="2026-02")
        assert february.total_count == 2
        by_code = {p.service_type_code: p for p in february.policies}
        assert by_code[ECS].incentive_policy == "1"
        assert by_code[ECS].allow_discount == "YES"
        assert by_code[OBS].incentive_policy == "0"
        assert by_code[OBS].allow_discount == "NO"
        assert by_code[ECS].service_type_name

        march = policies(published, time="2026-03", service_type_code=ECS)
        assert [(p.incentive_policy, p.allow_discount) for p in march.policies] == [
            ("2", "NO")
        ]
        assert policies(published, time="2025-12").total_count == 0

    def test_pages(self, published: Channel) -> None:
        page = policies(published, time="2026-02", offset=1, limit=1)

        assert page.total_count == 2
        assert len(page.policies) == 1

    @pytest.mark.parametrize("time", [None, "2026-13", "2026/02", "202602"])
    def test_the_month_is_required_as_yyyy_mm(
        self, published: Channel, time: str | None
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            policies(published, time=time)
        assert raised.value.error_code == "CBC.0100"
        assert "time" in raised.value.error_msg

    def test_names_follow_the_callers_language(
        self, published: Channel, client: TestClient
    ) -> None:
        chinese = policies(published, time="2026-02", service_type_code=OBS)
        key = published.partner_key
        english = signed(
            client,
            "GET",
            "/v2/products/incentive-discount-policies",
            ak=key.ak,
            sk=key.sk,
            query={"time": "2026-02", "service_type_code": OBS},
            headers={"X-Language": "en-us"},
        )

        assert chinese.policies[0].service_type_name == "对象存储服务"
        assert english.json()["policies"][0]["service_type_name"] == (
            "Object Storage Service"
        )
