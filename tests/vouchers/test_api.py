"""Vouchers in the native API: quotas, issue with partial results, list, reclaim, tenancy."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.customers.models import AssociationMode
from partnercenter.identity.models import Organisation, PartnerType
from tests import factories
from tests.signing import ApiKey, api_key, signed
from tests.vouchers.world import World, world


class Api:
    def __init__(self, app: FastAPI, client: TestClient, db: Session) -> None:
        self.client = client
        self.db = db
        self.w: World = world(db)
        self.resale = self.w.customer()
        self.consulting = self.w.customer(AssociationMode.CONSULTING)
        self.partner = api_key(app, db, self.w.partner.organisation)
        self.vendor = api_key(app, db, self.w.vendor.organisation)
        other = factories.partner(db)
        self.other = api_key(app, db, other.organisation)
        customer = db.get(Organisation, self.resale)
        assert customer is not None
        self.customer = api_key(app, db, customer)
        db.commit()

    def call(
        self,
        method: str,
        path: str,
        key: ApiKey,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        lang: str | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        headers = {"Accept-Language": lang} if lang else {}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        return signed(
            self.client,
            method,
            f"/api/v1/vouchers{path}",
            ak=key.ak,
            sk=key.sk,
            body=body,
            query=query,
            headers=headers or None,
        )


@pytest.fixture
def api(app: FastAPI, client: TestClient, db: Session, clock: FrozenClock) -> Api:
    return Api(app, client, db)


def _grant(api: Api) -> str:
    response = api.call(
        "POST",
        "/quotas",
        api.vendor,
        {
            "partner_id": api.w.partner.organisation.id,
            "amount": "1000.00",
            "effective_time": "2026-03-01T00:00:00Z",
            "expire_time": "2026-06-01T00:00:00Z",
            "min_face_value": 1,
            "max_face_value": "200.00",
            "max_vouchers": 10,
            "service_types": ["hws.service.type.ec2"],
        },
    )
    assert response.status_code == 201, response.text
    quota_id: str = response.json()["quota_id"]
    return quota_id


class TestVouchersApi:
    def test_issue_list_and_reclaim(self, api: Api) -> None:
        quota_id = _grant(api)

        issued = api.call(
            "POST",
            "",
            api.partner,
            {
                "quota_id": quota_id,
                "customer_ids": [api.resale, api.consulting],
                "face_value": "50.25",
                "memo": "spring",
            },
            lang="en",
        )

        assert issued.status_code == 200, issued.text
        body = issued.json()
        [one] = body["issued"]
        assert one["customer_id"] == api.resale
        assert body["refused"] == [
            {
                "customer_id": api.consulting,
                "code": "consulting_customer",
                "message": "This customer is associated in consulting mode; vouchers "
                "go to resale customers only.",
            }
        ]
        listed = api.call("GET", "", api.partner, query={"status": "2"}).json()
        assert listed["total_count"] == 1
        voucher = listed["vouchers"][0]
        assert (voucher["face_value"], voucher["balance"], voucher["status"]) == (
            "50.25",
            "50.25",
            2,
        )
        assert voucher["service_types"] == ["hws.service.type.ec2"]
        mine = api.call("GET", "/mine", api.customer).json()
        assert [v["voucher_id"] for v in mine["vouchers"]] == [one["voucher_id"]]

        reclaimed = api.call("POST", f"/{one['voucher_id']}/reclaim", api.partner)
        assert reclaimed.json() == {
            "voucher_id": one["voucher_id"],
            "returned": "50.25",
        }
        again = api.call(
            "POST", f"/{one['voucher_id']}/reclaim", api.partner, lang="zh-CN"
        )
        assert again.status_code == 409
        assert again.json()["code"] == "voucher_not_reclaimable"
        [quota] = api.call("GET", "/quotas", api.partner).json()["quotas"]
        assert (quota["balance"], quota["status"]) == ("1000.00", 0)

    def test_a_retry_with_the_same_key_issues_nothing_again(self, api: Api) -> None:
        quota_id = _grant(api)
        request = {"quota_id": quota_id, "customer_ids": [api.resale], "face_value": 10}

        first = api.call("POST", "", api.partner, request, idempotency_key="issue-1")
        again = api.call("POST", "", api.partner, request, idempotency_key="issue-1")
        other = api.call(
            "POST",
            "",
            api.partner,
            {**request, "face_value": 11},
            idempotency_key="issue-1",
        )

        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert other.status_code == 409
        listed = api.call("GET", "", api.partner).json()
        assert listed["total_count"] == 1
        [quota] = api.call("GET", "/quotas", api.partner).json()["quotas"]
        assert quota["balance"] == "990.00"

    def test_writes_without_a_key_are_refused(self, api: Api) -> None:
        quota_id = _grant(api)

        response = signed(
            api.client,
            "POST",
            "/api/v1/vouchers",
            ak=api.partner.ak,
            sk=api.partner.sk,
            body={"quota_id": quota_id, "customer_ids": [api.resale], "face_value": 1},
        )

        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_required"
        assert api.call("GET", "", api.partner).json()["total_count"] == 0

    def test_another_partner_sees_nothing_and_cannot_reclaim(self, api: Api) -> None:
        quota_id = _grant(api)
        body = {"quota_id": quota_id, "customer_ids": [api.resale], "face_value": 10}
        [one] = api.call("POST", "", api.partner, body).json()["issued"]

        assert api.call("GET", "", api.other).json() == {
            "total_count": 0,
            "vouchers": [],
        }
        assert api.call("GET", "/quotas", api.other).json()["total_count"] == 0
        refused = api.call("POST", f"/{one['voucher_id']}/reclaim", api.other)
        assert refused.status_code == 404
        assert api.call("POST", "", api.other, body).status_code == 404

    def test_a_float_face_value_and_a_naive_time_are_refused(self, api: Api) -> None:
        quota_id = _grant(api)

        too_precise = api.call(
            "POST",
            "",
            api.partner,
            {"quota_id": quota_id, "customer_ids": [api.resale], "face_value": "1.005"},
        )
        naive = api.call(
            "POST",
            "",
            api.partner,
            {
                "quota_id": quota_id,
                "customer_ids": [api.resale],
                "face_value": "1",
                "expire_time": "2026-04-01T00:00:00",
            },
        )

        assert too_precise.status_code == 400
        assert naive.status_code == 400
        assert naive.json()["problems"][0]["field"] == "expire_time"

    def test_a_partner_cannot_grant_itself_a_quota(self, api: Api) -> None:
        response = api.call(
            "POST",
            "/quotas",
            api.partner,
            {
                "partner_id": api.w.partner.organisation.id,
                "amount": "1000.00",
                "effective_time": "2026-03-01T00:00:00Z",
                "expire_time": "2026-06-01T00:00:00Z",
                "min_face_value": 1,
                "max_face_value": 2,
                "max_vouchers": 1,
            },
        )

        assert response.status_code == 403
        assert response.json()["code"] == "not_vendor_finance"

    def test_the_value_writes_document_their_idempotency_key(
        self, client: TestClient
    ) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        for path in (
            "/api/v1/vouchers",
            "/api/v1/vouchers/quotas",
            "/api/v1/vouchers/{voucher_id}/reclaim",
            "/api/v1/vouchers/quotas/{quota_id}/grants",
            "/api/v1/vouchers/quotas/{quota_id}/reclaim",
        ):
            names = {p["name"] for p in paths[path]["post"].get("parameters", [])}
            assert "Idempotency-Key" in names, path

    def test_the_endpoints_are_in_the_openapi_document(
        self, client: TestClient
    ) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        for path in (
            "/api/v1/vouchers",
            "/api/v1/vouchers/quotas",
            "/api/v1/vouchers/{voucher_id}/reclaim",
            "/api/v1/vouchers/quotas/{quota_id}/grants",
        ):
            assert path in paths


class TestDistributorApi:
    def test_grant_to_a_reseller_issue_for_it_and_reclaim(
        self, app: FastAPI, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        made = world(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=made.partner.organisation
        )
        parent = made.quota()
        customer = made.customer(partner=reseller.organisation)
        key = api_key(app, db, made.partner.organisation)
        db.commit()

        def call(method: str, path: str, body: Any = None, **query: str) -> Response:
            return signed(
                client,
                method,
                f"/api/v1/vouchers{path}",
                ak=key.ak,
                sk=key.sk,
                body=body,
                query=query or None,
                headers={"Idempotency-Key": uuid.uuid4().hex}
                if method == "POST"
                else None,
            )

        granted = call(
            "POST",
            f"/quotas/{parent}/grants",
            {"reseller_id": reseller.organisation.id, "amount": "300"},
        )
        assert granted.status_code == 201, granted.text
        child = granted.json()
        assert (child["parent_quota_id"], child["balance"]) == (parent, "300.00")
        issued = call(
            "POST",
            "",
            {
                "quota_id": child["quota_id"],
                "customer_ids": [customer],
                "face_value": "40",
                "indirect_partner_id": reseller.organisation.id,
            },
        ).json()
        assert len(issued["issued"]) == 1
        listed = call("GET", "", indirect_partner_id=reseller.organisation.id).json()
        assert listed["total_count"] == 1

        reclaimed = call("POST", f"/quotas/{child['quota_id']}/reclaim")

        assert reclaimed.json() == {"quota_id": child["quota_id"], "returned": "260.00"}
        [mine] = call("GET", "/quotas").json()["quotas"]
        assert mine["balance"] == "960.00"
