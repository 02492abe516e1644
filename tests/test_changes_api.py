"""The native API of association changes, with partner and customer keys."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.customers import service as customers
from partnercenter.customers.changes.balance import register_balance_mover
from partnercenter.customers.models import AssociationMode, AssociationRecord
from tests import factories
from tests.factories import OrgWithAdmin
from tests.signing import ApiKey, api_key, signed


class _Keys:
    def __init__(
        self, app: FastAPI, db: Session, mode: AssociationMode, **flags: bool
    ) -> None:
        self.partner = factories.partner(db)
        self.customer: OrgWithAdmin = factories.associated_customer(
            db, self.partner.organisation, mode, **flags
        )
        self.partner_key = api_key(app, db, self.partner.organisation)
        self.customer_key = api_key(app, db, self.customer.organisation)
        db.commit()


def _post(client: TestClient, key: ApiKey, path: str, body: object = None) -> Response:
    return signed(
        client, "POST", f"/api/v1{path}", ak=key.ak, sk=key.sk, body=body or {}
    )


def _get(client: TestClient, key: ApiKey, path: str, **query: str) -> Response:
    return signed(client, "GET", f"/api/v1{path}", ak=key.ak, sk=key.sk, query=query)


def _mode(db: Session, customer_id: str) -> AssociationMode | None:
    association = customers.active_association(db, customer_id)
    mode = association.mode if association else None
    db.commit()
    return mode


class TestPartnerKey:
    def test_a_switch_started_by_the_partner_takes_effect_when_the_customer_confirms(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)
        started = _post(
            client,
            keys.partner_key,
            "/association-requests",
            {
                "customer_id": keys.customer.organisation.id,
                "kind": "switch_mode",
                "target_mode": "consulting",
                "reason": "Customer pays itself",
            },
        )
        assert started.status_code == 201, started.text
        assert _mode(db, keys.customer.organisation.id) is AssociationMode.RESALE

        confirmed = _post(
            client,
            keys.customer_key,
            f"/association-requests/{started.json()['id']}/accept",
        )

        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "accepted"
        assert _mode(db, keys.customer.organisation.id) is AssociationMode.CONSULTING

    def test_a_second_change_within_three_months_is_refused_with_its_code(
        self, app: FastAPI, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)
        body = {
            "customer_id": keys.customer.organisation.id,
            "kind": "disassociate",
            "reason": "Contract ended",
        }
        first = _post(client, keys.partner_key, "/association-requests", body)
        _post(
            client,
            keys.partner_key,
            f"/association-requests/{first.json()['id']}/cancel",
        )

        again = _post(client, keys.partner_key, "/association-requests", body)

        assert again.status_code == 409
        problem = again.json()["problems"][0]
        assert problem["field"] == "partner_request_too_soon"
        assert "2026-06-02 起才能再次发起" in problem["message"]

    def test_rejecting_a_customers_request_needs_a_reason(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.CONSULTING)
        asked = _post(client, keys.customer_key, "/my-partner/disassociation-requests")
        assert asked.status_code == 201, asked.text
        path = f"/association-requests/{asked.json()['id']}/reject"

        bare = _post(client, keys.partner_key, path, {"reason": ""})
        given = _post(client, keys.partner_key, path, {"reason": "Talk first"})

        assert bare.status_code == 400
        assert bare.json()["problems"][0]["message"] == "请填写原因。"
        assert given.json()["status"] == "rejected"
        listed = _get(client, keys.customer_key, "/association-requests").json()
        assert [r["decision_reason"] for r in listed] == ["Talk first"]

    def test_a_customer_key_cannot_start_a_partners_change(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)

        response = _post(
            client,
            keys.customer_key,
            "/association-requests",
            {
                "customer_id": keys.customer.organisation.id,
                "kind": "disassociate",
                "reason": "x",
            },
        )

        assert response.status_code == 403


class TestCustomerKey:
    def test_a_refused_association_is_reported_and_stays_in_the_records(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        partner_key = api_key(app, db, partner.organisation)
        customer_key = api_key(app, db, customer.organisation)
        db.commit()
        asked = _post(
            client,
            customer_key,
            "/my-partner/association-requests",
            {
                "partner_account_name": partner.organisation.account_name,
                "mode": "resale",
            },
        )
        assert asked.status_code == 201, asked.text
        customers.get_customer(db, customer.organisation.id).owes_invoices = True
        db.commit()

        accepted = _post(
            client, partner_key, f"/association-requests/{asked.json()['id']}/accept"
        )

        assert accepted.status_code == 409
        assert [p["field"] for p in accepted.json()["problems"]] == ["customer"]
        refused = _get(client, partner_key, "/association-records", outcome="refused")
        assert [r["kind"] for r in refused.json()["items"]] == ["associated"]
        assert refused.json()["items"][0]["details"]["refusals"] == ["owes_invoices"]


class TestRecords:
    def test_records_are_filtered_and_exported_with_a_bom(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)
        _post(client, keys.customer_key, "/my-partner/disassociation-requests")

        everything = _get(client, keys.partner_key, "/association-records").json()
        submitted = _get(
            client, keys.partner_key, "/association-records", kind="request_submitted"
        ).json()
        exported = _get(client, keys.partner_key, "/association-records/export.csv")

        assert [r["kind"] for r in everything["items"]] == [
            "request_submitted",
            "associated",
        ]
        assert submitted["total"] == 1
        assert exported.content.startswith("\ufeff".encode())
        assert "已提交申请" in exported.content.decode("utf-8-sig")

    def test_the_vendor_reads_every_partners_records_or_one_partners(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)
        others = _Keys(app, db, AssociationMode.RESALE)
        vendor = api_key(app, db, factories.vendor(db).organisation)
        db.commit()
        partner_id = keys.partner.organisation.id

        everything = _get(client, vendor, "/association-records").json()
        picked = _get(client, vendor, "/association-records", partner_id=partner_id)

        customers_seen = {r["customer_id"] for r in everything["items"]}
        assert {
            keys.customer.organisation.id,
            others.customer.organisation.id,
        } <= customers_seen
        assert picked.status_code == 200
        assert {r["partner_id"] for r in picked.json()["items"]} == {partner_id}
        assert _get(
            client, keys.partner_key, "/association-records", partner_id=partner_id
        ).json()["total"] == len(picked.json()["items"])
        assert (
            _get(
                client,
                others.partner_key,
                "/association-records",
                partner_id=partner_id,
            ).json()["total"]
            == 0
        )

    def test_nobody_else_reads_a_record_by_its_id(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)
        others = _Keys(app, db, AssociationMode.RESALE)
        record_id = db.scalars(
            select(AssociationRecord.id).where(
                AssociationRecord.customer_id == keys.customer.organisation.id
            )
        ).one()
        db.commit()
        path = f"/association-records/{record_id}"

        assert _get(client, keys.partner_key, path).status_code == 200
        assert _get(client, keys.customer_key, path).status_code == 200
        assert _get(client, others.partner_key, path).status_code == 404
        assert _get(client, others.customer_key, path).status_code == 404

    def test_another_partner_cannot_decide_a_request(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)
        others = _Keys(app, db, AssociationMode.RESALE)
        asked = _post(client, keys.customer_key, "/my-partner/disassociation-requests")

        response = _post(
            client,
            others.partner_key,
            f"/association-requests/{asked.json()['id']}/accept",
        )

        assert response.status_code == 404
        assert _mode(db, keys.customer.organisation.id) is AssociationMode.RESALE


class _FailingMover:
    def unbind_reclaim(
        self, session: Session, actor: Actor, *, partner_id: str, customer_id: str
    ) -> int:
        raise RuntimeError("ledger unavailable")

    def debt(self, session: Session, customer_id: str, *, lock: bool = False) -> int:
        return 0


class TestAtomicity:
    def test_when_the_reclaim_fails_the_decision_and_the_change_are_both_undone(
        self, app: FastAPI, client: TestClient, db: Session
    ) -> None:
        keys = _Keys(app, db, AssociationMode.RESALE)
        asked = _post(client, keys.customer_key, "/my-partner/disassociation-requests")
        previous = register_balance_mover(_FailingMover())
        try:
            with pytest.raises(RuntimeError, match="ledger unavailable"):
                _post(
                    client,
                    keys.partner_key,
                    f"/association-requests/{asked.json()['id']}/accept",
                )
        finally:
            register_balance_mover(previous)

        assert _mode(db, keys.customer.organisation.id) is AssociationMode.RESALE
        listed = _get(client, keys.partner_key, "/association-requests").json()
        assert [r["status"] for r in listed] == ["pending"]
