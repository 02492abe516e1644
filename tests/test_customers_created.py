"""A partner creates its customer's account through the API: resale at once."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationRecord,
    AssociationSource,
    Customer,
)
from partnercenter.identity.models import Organisation, PartnerType, RealNameStatus
from tests import factories
from tests.signing import api_key, signed

BODY = {
    "account_name": "north-wind-01",
    "display_name": "North Wind Trading",
    "customer_type": "enterprise",
    "email": "it@northwind.example.com",
    "xaccount_id": "u-1001",
    "xaccount_type": "partner-portal",
}


class TestCreateCustomer:
    def test_the_new_customer_is_associated_in_resale_in_the_same_call(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        key = api_key(app, db, partner.organisation)
        db.commit()

        response = signed(
            client, "POST", "/api/v1/customers", ak=key.ak, sk=key.sk, body=BODY
        )

        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["mode"], created["mode_code"]) == ("resale", "2")
        db.expire_all()
        association = db.scalars(
            select(Association).where(Association.customer_id == created["customer_id"])
        ).one()
        assert association.organisation_id == partner.organisation.id
        assert association.mode is AssociationMode.RESALE
        assert association.source is AssociationSource.CREATED_BY_API
        customer = db.get(Customer, created["customer_id"])
        assert customer is not None
        assert customer.real_name_status is RealNameStatus.NONE
        assert customer.xaccount_id == "u-1001"
        assert db.scalars(
            select(AssociationRecord.kind).where(
                AssociationRecord.customer_id == created["customer_id"]
            )
        ).all() == ["associated"]

    def test_the_same_external_account_twice_is_refused(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        key = api_key(app, db, partner.organisation)
        db.commit()
        signed(client, "POST", "/api/v1/customers", ak=key.ak, sk=key.sk, body=BODY)

        again = signed(
            client,
            "POST",
            "/api/v1/customers",
            ak=key.ak,
            sk=key.sk,
            body={**BODY, "account_name": "north-wind-02"},
        )

        assert again.status_code == 409
        assert again.json()["code"] == "external_account_taken"

    def test_a_distributor_cannot_create_customers_and_nothing_is_left(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        key = api_key(app, db, distributor.organisation)
        db.commit()

        response = signed(
            client, "POST", "/api/v1/customers", ak=key.ak, sk=key.sk, body=BODY
        )

        assert response.status_code == 409
        assert response.json()["code"] == "association_refused"
        assert "总经销商不能直接关联客户" in response.text
        db.expire_all()
        assert (
            db.scalars(
                select(Organisation).where(Organisation.account_name == "north-wind-01")
            ).first()
            is None
        )

    def test_field_problems_are_reported_in_the_callers_language(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        key = api_key(app, db, partner.organisation)
        db.commit()

        response = signed(
            client,
            "POST",
            "/api/v1/customers",
            ak=key.ak,
            sk=key.sk,
            body={**BODY, "account_name": "9bad", "email": "nope"},
            headers={"Accept-Language": "en"},
        )

        assert response.status_code == 400
        fields = {problem["field"] for problem in response.json()["problems"]}
        assert fields == {"account_name", "email"}
        assert "This is not an email address." in response.text
