"""Every field of every answer is one the SDK's model knows, with the type the model gives
it: nothing the server sends is lost in parsing, and money typed as a decimal arrives as an
exact JSON number."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import huaweicloudsdkbss.v2 as sdk
import pytest
import simplejson
from fastapi.testclient import TestClient

from partnercenter.billing.service import bill_cycle_of
from partnercenter.core.clock import utc_now
from partnercenter.incentives import service as incentives
from partnercenter.ledger import service as ledger
from partnercenter.ledger.service import Charge
from partnercenter.vouchers import service as vouchers
from tests.bss.conftest import Channel
from tests.signing import ApiKey, signed
from tests.vouchers.world import terms

ECS = "hws.service.type.ec2"


def problems(data: Any, model_name: str, where: str = "") -> list[str]:
    """What in ``data`` the SDK model ``model_name`` would lose or mistype."""
    model = getattr(sdk, model_name)
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    if not isinstance(data, dict):
        return [f"{where or model_name}: not an object"]
    found = []
    for key, value in data.items():
        if key not in by_json:
            found.append(f"{where}{key}: unknown to {model_name}")
            continue
        if value is None:
            continue
        found += _typed(value, model.openapi_types[by_json[key]], f"{where}{key}")
    return found


def _typed(value: Any, kind: str, where: str) -> list[str]:
    if kind.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        inner = kind[5:-1]
        return [
            p
            for n, item in enumerate(value)
            for p in _typed(item, inner, f"{where}[{n}]")
        ]
    simple = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "float": lambda v: isinstance(v, Decimal | int) and not isinstance(v, bool),
        "decimal.Decimal": lambda v: isinstance(v, Decimal),
    }
    if kind in simple:
        return [] if simple[kind](value) else [f"{where}: {value!r} is not {kind}"]
    return problems(value, kind, f"{where}.")


def call(
    client: TestClient, key: ApiKey, method: str, path: str, **options: Any
) -> Any:
    response = signed(client, method, path, ak=key.ak, sk=key.sk, **options)
    assert response.status_code == 200, response.text
    return simplejson.loads(response.text, use_decimal=True)


@pytest.fixture
def arranged(channel: Channel, client: TestClient) -> Channel:
    key = channel.partner_key
    call(
        client,
        key,
        "POST",
        "/v2/accounts/partner-accounts/adjust-amount",
        body={"customer_id": channel.resale, "amount": 10},
    )
    call(
        client,
        key,
        "POST",
        "/v2/accounts/partner-accounts/reclaim",
        body={"customer_id": channel.resale, "amount": 1},
    )
    ledger.post_charges(
        channel.db,
        channel.w.finance,
        [Charge("wire-1", channel.resale, 1_23, service_type_code=ECS)],
    )
    incentives.save_month(
        channel.db,
        channel.w.finance,
        month="2026-01",
        entries=[incentives.PolicyInput(ECS, "1", True, "3.00")],
    )
    quota = vouchers.grant_quota(
        channel.db,
        channel.w.finance,
        partner_id=channel.w.partner.organisation.id,
        terms=terms(amount=100_00, min_face_value=1, max_face_value=50_00),
    )
    vouchers.issue(
        channel.db,
        channel.w.actor,
        quota_id=quota.id,
        customer_ids=[channel.resale],
        face_value=2_00,
    )
    channel.done()
    channel.quota_id = quota.id  # type: ignore[attr-defined]
    return channel


CASES = [
    (
        "partner",
        "POST",
        "/v2/partners/sub-customers/users/check-identity",
        {"body": {"search_type": "mobile", "search_value": "0086-13800000009"}},
        "CheckUserIdentityResponse",
        None,
    ),
    (
        "partner",
        "POST",
        "/v2/partners/sub-customers",
        {"body": {"xaccount_id": "x-1", "xaccount_type": "t"}},
        "CreateSubCustomerResponse",
        None,
    ),
    (
        "partner",
        "POST",
        "/v2/partners/sub-customers/query",
        {"body": {}},
        "ListSubCustomersResponse",
        "customer_infos",
    ),
    (
        "partner",
        "POST",
        "/v2/accounts/partner-accounts/adjust-amount",
        {"body": "resale"},
        "UpdateCustomerAccountAmountResponse",
        None,
    ),
    (
        "partner",
        "POST",
        "/v2/accounts/partner-accounts/reclaim",
        {"body": "resale"},
        "ReclaimToPartnerAccountResponse",
        None,
    ),
    (
        "partner",
        "GET",
        "/v3/accounts/partner-accounts/adjust-records",
        {},
        "ListPartnerAdjustRecordsResponse",
        "records",
    ),
    (
        "partner",
        "GET",
        "/v2/accounts/partner-accounts/balances",
        {},
        "ListPartnerBalancesResponse",
        "account_balances",
    ),
    (
        "partner",
        "GET",
        "/v2/accounts/partner-accounts/account-change-records",
        {"query": {"balance_type": "BALANCE_TYPE_DEBIT"}},
        "ListPartnerAccountChangeRecordsResponse",
        "records",
    ),
    (
        "customer",
        "GET",
        "/v2/accounts/customer-accounts/balances",
        {},
        "ShowCustomerAccountBalancesResponse",
        "account_balances",
    ),
    (
        "partner",
        "POST",
        "/v2/accounts/customer-accounts/balances/batch-query",
        {"body": "infos"},
        "ListCustomersBalancesDetailResponse",
        "customer_balances",
    ),
    (
        "distributor",
        "POST",
        "/v2/partners/indirect-partners/query",
        {"body": {}},
        "ListIndirectPartnersResponse",
        "indirect_partners",
    ),
    (
        "distributor",
        "POST",
        "/v2/accounts/partner-accounts/indirect-partner-adjust",
        {"body": "reseller"},
        "UpdateIndirectPartnerAccountResponse",
        None,
    ),
    (
        "distributor",
        "POST",
        "/v2/accounts/partner-accounts/indirect-partner-reclaim",
        {"body": "reseller"},
        "ReclaimIndirectPartnerAccountResponse",
        None,
    ),
]


@pytest.mark.parametrize(
    "case", CASES, ids=[case[4].removesuffix("Response") for case in CASES]
)
def test_answers_parse_into_the_sdk_models(
    arranged: Channel, client: TestClient, case: tuple[Any, ...]
) -> None:
    who, method, path, options, model, rows = case
    key = {
        "partner": arranged.partner_key,
        "customer": arranged.customer_key,
        "distributor": arranged.distributor_key,
    }[who]
    body = options.get("body")
    if body == "resale":
        options = {"body": f'{{"customer_id": "{arranged.resale}", "amount": 0.50}}'}
    elif body == "infos":
        options = {"body": {"customer_infos": [{"customer_id": arranged.resale}]}}
    elif body == "coupon":
        options = {
            "body": {
                "quota_id": arranged.quota_id,  # type: ignore[attr-defined]
                "customer_ids": [arranged.resale, arranged.consulting],
                "face_value": 1,
            }
        }
    elif options.get("query") == "cycle":
        options = {"query": {"cycle": bill_cycle_of(utc_now()), "charge_mode": "3"}}
    elif body == "reseller":
        options = {
            "body": {"indirect_partner_id": arranged.reseller_id, "amount": "0.01"}
        }

    data = call(client, key, method, path, **options)

    assert problems(data, model) == []
    assert data, "an empty answer proves nothing"
    if rows is not None:
        assert data[rows], f"{rows} is empty, so its fields were not checked"


def test_the_checker_finds_lost_and_mistyped_fields() -> None:
    assert problems(
        {"transfer_id": "x", "extra": 1}, "UpdateCustomerAccountAmountResponse"
    ) == ["extra: unknown to UpdateCustomerAccountAmountResponse"]
    assert problems(
        {"customer_balances": [{"customer_id": "c", "amount": "1.00"}]},
        "ListCustomersBalancesDetailResponse",
    ) == ["customer_balances[0].amount: '1.00' is not decimal.Decimal"]
