"""The native API: create and submit, list and read, decide; errors in one shape."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from partnercenter.core.settings import Settings
from tests import factories
from tests.opportunities.desk import desk
from tests.signing import api_key, signed

BODY = {
    "customer_name": "Lotus Freight Ltd",
    "customer_industry": "Logistics",
    "customer_region": "CN",
    "contact_name": "Zhou Min",
    "contact_phone": "13800000000",
    "estimated_amount": "320000.00",
    "expected_order_date": "2026-06-30",
    "services": ["compute"],
    "need_description": "Tracking to the cloud.",
    "solution_description": "Two waves.",
}


class TestOpportunityApi:
    def test_a_partner_submits_and_the_vendor_decides(
        self, app: FastAPI, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        partner_key = api_key(app, db, d.partner)
        vendor_key = api_key(app, db, d.vendor)
        db.commit()

        refused = signed(
            client,
            "POST",
            "/api/v1/opportunities",
            ak=partner_key.ak,
            sk=partner_key.sk,
            body={**BODY, "submit": True},
        )
        assert refused.status_code == 400
        assert refused.json()["problems"][0]["field"] == "customer_authorised"

        created = signed(
            client,
            "POST",
            "/api/v1/opportunities",
            ak=partner_key.ak,
            sk=partner_key.sk,
            body={**BODY, "submit": True, "customer_authorised": True},
        )
        assert created.status_code == 201, created.text
        opportunity = created.json()
        assert opportunity["state"] == "in_review"
        assert opportunity["estimated_amount"] == "320000.00"

        path = f"/api/v1/opportunities/{opportunity['id']}/decision"
        reviewed = signed(
            client,
            "POST",
            path,
            ak=vendor_key.ak,
            sk=vendor_key.sk,
            body={"decision": "pass_review"},
        )
        assert reviewed.status_code == 200, reviewed.text
        assert reviewed.json()["working_days_left"] == 10
        assert reviewed.json()["due_at"]

        again = signed(
            client,
            "POST",
            path,
            ak=vendor_key.ak,
            sk=vendor_key.sk,
            body={"decision": "pass_review"},
        )
        assert again.status_code == 409
        assert again.json()["code"] == "opportunity_transition_refused"

        listed = signed(
            client,
            "GET",
            "/api/v1/opportunities",
            ak=partner_key.ak,
            sk=partner_key.sk,
            query={"state": "in_validation"},
        )
        assert listed.json()["total"] == 1

    def test_another_partner_cannot_read_it(
        self, app: FastAPI, client: TestClient, db: Session, settings: Settings
    ) -> None:
        d = desk(db, settings)
        own = api_key(app, db, d.partner)
        other = api_key(app, db, factories.partner(db).organisation)
        db.commit()
        created = signed(
            client, "POST", "/api/v1/opportunities", ak=own.ak, sk=own.sk, body=BODY
        ).json()

        response = signed(
            client,
            "GET",
            f"/api/v1/opportunities/{created['id']}",
            ak=other.ak,
            sk=other.sk,
        )

        assert response.status_code == 404

    def test_the_openapi_document_describes_the_endpoints(
        self, client: TestClient
    ) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        assert "/api/v1/opportunities/{opportunity_id}/decision" in paths
