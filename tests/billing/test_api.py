"""Billing and incentives in the native API: the charge input's new fields, the monthly
bills and the policies, signed like every native call."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.billing.models import UsageLine
from partnercenter.core.clock import utc_now
from partnercenter.core.i18n import translator
from partnercenter.incentives import service as incentives
from partnercenter.incentives.service import PolicyInput
from partnercenter.ledger.models import IdempotencyKey, Transfer
from tests.ledger.world import world
from tests.signing import ApiKey, api_key, signed

ECS = "hws.service.type.ec2"


class Api:
    def __init__(self, app: FastAPI, client: TestClient, db: Session) -> None:
        self.client = client
        self.db = db
        self.w = world(db)
        self.w.topup(100_00)
        [self.customer_id] = self.w.customers(1)
        self.vendor = api_key(app, db, self.w.vendor.organisation)
        self.partner = api_key(app, db, self.w.partner.organisation)
        db.commit()

    def call(
        self,
        method: str,
        path: str,
        key: ApiKey,
        body: Any = None,
        *,
        lang: str | None = None,
        **query: str,
    ) -> Response:
        headers = (
            {"Idempotency-Key": f"k-{uuid.uuid4().hex}"} if method == "POST" else {}
        )
        if lang:
            headers["Accept-Language"] = lang
        return signed(
            self.client,
            method,
            f"/api/v1{path}",
            ak=key.ak,
            sk=key.sk,
            body=body,
            query=query or None,
            headers=headers,
        )

    def charge(self, *charges: dict[str, Any], lang: str | None = None) -> Response:
        return self.call(
            "POST",
            "/ledger/charges",
            self.vendor,
            {"charges": list(charges)},
            lang=lang,
        )

    def count(self, model: type[Any]) -> int:
        with Session(self.db.get_bind()) as fresh:
            return fresh.scalar(select(func.count()).select_from(model)) or 0


class TestChargeInput:
    def test_old_callers_and_new_fields_both_work(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        api = Api(app, client, db)

        response = api.charge(
            {"charge_id": "old", "customer_id": api.customer_id, "amount": "1.005"},
            {
                "charge_id": "new",
                "customer_id": api.customer_id,
                "amount": 12.5,
                "service_type_code": ECS,
                "resource_type_code": "hws.resource.type.vm",
                "charge_mode": "1",
                "bill_type": "0",
                "occurred_at": "2026-01-31T17:00:00Z",
            },
        )

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [
            (r["status"], r["cash_amount"], r["voucher_amount"]) for r in results
        ] == [
            ("posted", "1.00", "0.00"),
            ("posted", "12.50", "0.00"),
        ]
        with Session(db.get_bind()) as fresh:
            line = fresh.scalars(
                select(UsageLine).where(UsageLine.charge_id == "new")
            ).one()
            assert (line.bill_cycle, line.charge_mode, line.service_type_code) == (
                "2026-02",
                "1",
                ECS,
            )

    def test_bad_details_are_400_with_each_problem_translated_and_nothing_written(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        api = Api(app, client, db)
        before = api.count(Transfer), api.count(UsageLine), api.count(IdempotencyKey)
        good = {"charge_id": "ok", "customer_id": api.customer_id, "amount": "1.00"}

        response = api.charge(
            good,
            {**good, "charge_id": "x", "charge_mode": "2", "occurred_at": "2026-01-31"},
            {**good, "charge_id": "y", "bill_type": "1", "refund": False},
            {**good, "charge_id": "z", "service_type_code": "hws.nothing"},
            lang="en",
        )
        # The codes are known only once the shapes are right.
        shapes = [p["field"] for p in response.json()["problems"]]
        assert response.status_code == 400
        assert shapes == ["charges[1].charge_mode", "charges[1].occurred_at"]

        response = api.charge(
            good,
            {**good, "charge_id": "y", "bill_type": "1", "refund": False},
            {**good, "charge_id": "z", "service_type_code": "hws.nothing"},
            lang="zh-CN",
        )
        assert response.status_code == 400
        problems = response.json()["problems"]
        assert [p["field"] for p in problems] == [
            "charges[1].bill_type",
            "charges[2].service_type_code",
        ]
        zh = translator("zh-CN")
        assert problems[1]["message"] == zh.gettext(
            "No service type has the code %(code)s."
        ) % {"code": "hws.nothing"}
        assert problems[1]["message"] != "No service type has the code hws.nothing."
        assert (
            api.count(Transfer),
            api.count(UsageLine),
            api.count(IdempotencyKey),
        ) == before


class TestMonthlyBills:
    def test_a_charge_from_the_future_is_refused_past_the_clock_tolerance(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        api = Api(app, client, db)
        now = utc_now()
        charge = {"customer_id": api.customer_id, "amount": "1.00"}

        late = (now + dt.timedelta(minutes=16)).isoformat()
        response = api.charge({**charge, "charge_id": "ahead", "occurred_at": late})
        assert response.status_code == 400
        [problem] = response.json()["problems"]
        assert problem["field"] == "charges[0].occurred_at"
        assert "15" in problem["message"]
        assert api.count(UsageLine) == 0

        # A billing clock a few minutes ahead of this one is still believed.
        close = (now + dt.timedelta(minutes=10)).isoformat()
        response = api.charge({**charge, "charge_id": "close", "occurred_at": close})
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["status"] == "posted"

    def test_the_partner_reads_its_customers_bills(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        api = Api(app, client, db)
        api.charge(
            {
                "charge_id": "a",
                "customer_id": api.customer_id,
                "amount": "3.00",
                "service_type_code": ECS,
                "occurred_at": "2026-02-10T04:00:00+00:00",
            },
            {
                "charge_id": "a",
                "customer_id": api.customer_id,
                "amount": "1.00",
                "bill_type": "1",
                "service_type_code": ECS,
                "occurred_at": "2026-02-11T04:00:00+00:00",
            },
        )

        response = api.call(
            "GET",
            "/billing/monthly-bills",
            api.partner,
            cycle="2026-02",
            charge_mode="3",
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["count"], body["currency"]) == (2, "CNY")
        assert [(b["bill_type"], b["amount"]) for b in body["bill_sums"]] == [
            ("0", "3.00"),
            ("1", "-1.00"),
        ]
        assert body["bill_sums"][0]["cloud_service_type_name"] == "弹性云服务器"
        assert body["bill_sums"][0]["account_details"] == [
            {"balance_type": "BALANCE_TYPE_DEBIT", "amount": "3.00", "bill_type": "0"}
        ]
        refused = api.call(
            "GET", "/billing/monthly-bills", api.partner, cycle="2026/02", lang="en"
        )
        assert refused.status_code == 400
        assert refused.json()["problems"][0]["field"] == "cycle"


class TestPolicies:
    def test_a_partner_reads_the_month(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        api = Api(app, client, db)
        incentives.save_month(
            db,
            api.w.finance,
            month="2026-01",
            entries=[PolicyInput(ECS, "1", True, "8.5")],
        )
        db.commit()

        response = api.call(
            "GET", "/incentives/policies", api.partner, month="2026-03", lang="en"
        )

        assert response.status_code == 200, response.text
        assert response.json() == {
            "policies": [
                {
                    "service_type_code": ECS,
                    "service_type_name": "Elastic Cloud Server",
                    "incentive_policy": "1",
                    "allow_discount": "YES",
                    "rebate_rate": "8.50",
                    "effective_month": "2026-01",
                }
            ],
            "total_count": 1,
        }

    def test_the_documents_name_the_new_paths_and_fields(
        self, client: TestClient
    ) -> None:
        document = client.get("/api/v1/openapi.json").json()

        assert "/api/v1/billing/monthly-bills" in document["paths"]
        assert "/api/v1/incentives/policies" in document["paths"]
        charge = document["paths"]["/api/v1/ledger/charges"]["post"]
        fields = charge["requestBody"]["content"]["application/json"]["schema"][
            "properties"
        ]["charges"]["items"]["properties"]
        assert {"service_type_code", "charge_mode", "bill_type", "occurred_at"} <= set(
            fields
        )
