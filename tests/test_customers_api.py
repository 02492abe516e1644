"""The native API of customers: the caller's visibility, account managers, labels and the
reseller's notice, with other partners' customers answered as not found."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.customers.models import Association, AssociationMode
from partnercenter.identity.models import PartnerType
from tests import factories
from tests.signing import api_key, signed


def _association(db: Session, customer_id: str) -> Association:
    return db.scalars(
        select(Association)
        .where(Association.customer_id == customer_id)
        .execution_options(populate_existing=True)
    ).one()


class TestCustomerListApi:
    def test_the_list_holds_the_callers_customers_with_their_mode_code(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        consulting = factories.associated_customer(
            db, partner.organisation, AssociationMode.CONSULTING
        )
        factories.associated_customer(db, partner.organisation)
        factories.associated_customer(db, factories.partner(db).organisation)
        key = api_key(app, db, partner.organisation)
        db.commit()

        everyone = signed(client, "GET", "/api/v1/customers", ak=key.ak, sk=key.sk)
        filtered = signed(
            client,
            "GET",
            "/api/v1/customers",
            ak=key.ak,
            sk=key.sk,
            query={"mode": "consulting"},
        )

        assert everyone.status_code == 200
        assert everyone.json()["total"] == 2
        [item] = filtered.json()["items"]
        assert item["customer_id"] == consulting.organisation.id
        assert item["mode_code"] == "1"

    def test_one_customer_comes_with_its_records(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        made = factories.associated_customer(db, partner.organisation)
        key = api_key(app, db, partner.organisation)
        db.commit()

        response = signed(
            client,
            "GET",
            f"/api/v1/customers/{made.organisation.id}",
            ak=key.ak,
            sk=key.sk,
        )

        assert response.status_code == 200
        body = response.json()
        assert (body["mode"], body["mode_code"]) == ("resale", "2")
        assert [r["kind"] for r in body["records"]] == ["associated"]


class TestCustomerChangesApi:
    def test_the_partner_assigns_an_account_manager_and_a_label(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        made = factories.associated_customer(db, partner.organisation)
        key = api_key(app, db, partner.organisation)
        db.commit()
        path = f"/api/v1/customers/{made.organisation.id}"

        assigned = signed(
            client,
            "PUT",
            f"{path}/account-manager",
            ak=key.ak,
            sk=key.sk,
            body={"user_id": manager.id},
        )
        labelled = signed(
            client, "PUT", f"{path}/label", ak=key.ak, sk=key.sk, body={"label": "vip"}
        )

        assert assigned.status_code == 200
        assert assigned.json()["account_manager_user_id"] == manager.id
        assert labelled.json()["label"] == "vip"
        association = _association(db, made.organisation.id)
        assert (association.account_manager_user_id, association.label) == (
            manager.id,
            "vip",
        )

    def test_another_partners_customer_is_not_found_on_every_endpoint(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        foreign = factories.associated_customer(db, factories.partner(db).organisation)
        key = api_key(app, db, partner.organisation)
        db.commit()
        path = f"/api/v1/customers/{foreign.organisation.id}"

        answers = [
            signed(client, "GET", path, ak=key.ak, sk=key.sk),
            signed(
                client,
                "PUT",
                f"{path}/account-manager",
                ak=key.ak,
                sk=key.sk,
                body={"user_id": manager.id},
            ),
            signed(
                client,
                "PUT",
                f"{path}/label",
                ak=key.ak,
                sk=key.sk,
                body={"label": "x"},
            ),
        ]

        assert [a.status_code for a in answers] == [404, 404, 404]
        assert answers[0].json()["code"] == "not_found"
        association = _association(db, foreign.organisation.id)
        assert (association.account_manager_user_id, association.label) == (None, None)


class TestResellerNoticeApi:
    def test_a_reseller_accepts_and_revokes_and_the_distributor_follows(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        factories.associated_customer(db, reseller.organisation)
        reseller_key = api_key(app, db, reseller.organisation)
        distributor_key = api_key(app, db, distributor.organisation)
        db.commit()
        notice = "/api/v1/customers/reseller-notice"

        def resellers_total() -> int:
            response = signed(
                client,
                "GET",
                "/api/v1/customers",
                ak=distributor_key.ak,
                sk=distributor_key.sk,
                query={"tab": "resellers"},
            )
            total: int = response.json()["total"]
            return total

        before = resellers_total()
        accepted = signed(
            client, "POST", notice, ak=reseller_key.ak, sk=reseller_key.sk
        )
        during = resellers_total()
        state = signed(client, "GET", notice, ak=reseller_key.ak, sk=reseller_key.sk)
        revoked = signed(
            client, "DELETE", notice, ak=reseller_key.ak, sk=reseller_key.sk
        )
        after = resellers_total()

        assert accepted.status_code == 201
        assert state.json()["accepted"] is True
        assert revoked.json()["accepted"] is False
        assert (before, during, after) == (0, 1, 0)

    def test_a_distributor_has_no_notice(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        key = api_key(app, db, distributor.organisation)
        db.commit()

        response = signed(
            client, "POST", "/api/v1/customers/reseller-notice", ak=key.ak, sk=key.sk
        )

        assert response.status_code == 403
        assert response.json()["code"] == "not_a_reseller"


class TestCustomerOpenApi:
    def test_the_document_describes_the_customer_routes(
        self, client: TestClient
    ) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]

        one = paths["/api/v1/customers/{customer_id}"]["get"]
        assert "CustomerDetailOut" in str(one["responses"]["200"])
        assert "404" in one["responses"]
        assert {"get", "post", "delete"} <= set(
            paths["/api/v1/customers/reseller-notice"]
        )
