"""The ledger in the native API, on both databases: each endpoint's answer and refusals,
amounts in and out, Idempotency-Key retries, who may call what.

On PostgreSQL, allocations and reclaims take the one-round-trip path (the database
function, a cached key secret); on SQLite they go through the ordinary unit of work. The
same tests run on both, so both paths answer the same.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core.errors import HALF_A_PAIR, NUL_IN_TEXT
from partnercenter.core.i18n import translator
from partnercenter.customers.models import AssociationMode
from partnercenter.identity import credentials
from partnercenter.identity.models import Organisation, PartnerType
from partnercenter.ledger import fastlane
from partnercenter.ledger import service as ledger_service
from partnercenter.ledger.models import Batch, Transfer, TransferKind
from partnercenter.ledger.verify import verify
from tests import factories
from tests.ledger.world import TwoTiers, World, two_tiers, world
from tests.signing import ApiKey, api_key, send, sign, signed

MONEY = re.compile(r"^-?\d+\.\d{2}$")
MONEY_FIELDS = {
    "amount",
    "partner_balance_after",
    "cash",
    "credit_limit",
    "credit_used",
    "designated",
    "allocatable",
    "withdrawable",
    "held",
    "allocated",
    "debt",
    "done_amount",
}


def assert_money_strings(payload: Any) -> None:
    """Every amount in an answer is a string with exactly two decimals, at any depth."""
    if isinstance(payload, dict):
        for name, value in payload.items():
            if name in MONEY_FIELDS and value is not None:
                assert isinstance(value, str), (name, value)
                assert MONEY.match(value), (name, value)
            assert_money_strings(value)
    elif isinstance(payload, list):
        for value in payload:
            assert_money_strings(value)


class Api:
    """A world with the vendor's, the partner's and a resale customer's keys."""

    def __init__(self, app: FastAPI, client: TestClient, db: Session) -> None:
        self.app = app
        self.client = client
        self.db = db
        self.w: World = world(db)
        self.w.topup(1000_00)
        # Bulk customers: no user accounts, so no password hashing in every test's setup.
        self.customer_id, self.other_customer_id = self.w.customers(2)
        [self.consulting_id] = self.w.customers(1, AssociationMode.CONSULTING)
        self.partner_id = self.w.partner.organisation.id
        self.partner = api_key(app, db, self.w.partner.organisation)
        self.vendor = api_key(app, db, self.w.vendor.organisation)
        customer = db.get(Organisation, self.customer_id)
        assert customer is not None
        self.customer = api_key(app, db, customer)
        db.commit()

    def key_for(self, organisation: Organisation) -> ApiKey:
        key = api_key(self.app, self.db, organisation)
        self.db.commit()
        return key

    def call(
        self,
        method: str,
        path: str,
        key: ApiKey,
        body: Any = None,
        *,
        idem: str | None = None,
        lang: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """A signed request; money writes get a fresh Idempotency-Key unless ``idem``
        names one."""
        headers = dict(headers or {})
        if method != "GET":
            headers["Idempotency-Key"] = idem or f"k-{uuid.uuid4().hex}"
        if lang:
            headers["Accept-Language"] = lang
        response = signed(
            self.client,
            method,
            f"/api/v1/ledger{path}",
            ak=key.ak,
            sk=key.sk,
            body=body,
            query=query,
            headers=headers,
        )
        if response.headers.get("content-type", "").startswith("application/json"):
            assert_money_strings(response.json())
        return response

    def post(self, path: str, key: ApiKey, body: Any = None, **kw: Any) -> Response:
        return self.call("POST", path, key, body, **kw)

    def get(self, path: str, key: ApiKey, **query: str) -> Response:
        return self.call("GET", path, key, query=query or None)

    def allocate(
        self, amount: Any, customer_id: str | None = None, **kw: Any
    ) -> Response:
        body = {"customer_id": customer_id or self.customer_id, "amount": amount}
        return self.post("/allocations", self.partner, body, **kw)

    def balances(self) -> dict[str, Any]:
        response = self.get("/balances", self.partner)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def transfers(self, kind: TransferKind | None = None) -> int:
        statement = select(func.count()).select_from(Transfer)
        if kind is not None:
            statement = statement.where(Transfer.kind == kind)
        count = self.db.scalar(statement) or 0
        self.db.rollback()
        return count

    def clean(self) -> None:
        report = verify(self.db)
        self.db.rollback()
        assert report.clean, report.problems


@pytest.fixture
def api(app: FastAPI, client: TestClient, db: Session) -> Api:
    return Api(app, client, db)


def error(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


# -- allocations and reclaims ----------------------------------------------------------------


class TestAllocationsAndReclaims:
    def test_an_allocation_moves_money_and_answers_the_transfer(self, api: Api) -> None:
        response = api.allocate("10.25")

        assert response.status_code == 201, response.text
        assert "Idempotent-Replayed" not in response.headers
        body = response.json()
        assert body["transfer_id"].startswith("AD")
        assert body["kind"] == "allocate"
        assert body["amount"] == "10.25"
        assert body["currency"] == "CNY"
        assert body["partner_id"] == api.partner_id
        assert body["counterparty_id"] == api.customer_id
        assert body["partner_balance_after"] == "989.75"
        assert body["created_at"]
        assert api.balances()["cash"] == "989.75"
        mine = api.get("/customer-balances", api.customer)
        assert mine.status_code == 200, mine.text
        assert mine.json() == {
            "customer_id": api.customer_id,
            "currency": "CNY",
            "allocated": "10.25",
            "cash": "0.00",
            "resale": True,
            "debt": "0.00",
        }
        api.clean()

    def test_an_allocation_answers_with_the_request_id_and_is_logged(
        self, api: Api
    ) -> None:
        with structlog.testing.capture_logs() as logs:
            response = api.allocate(
                "1.00", headers={"X-Request-Id": "trace-0123456789"}
            )

        assert response.status_code == 201, response.text
        assert response.headers["x-request-id"] == "trace-0123456789"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert int(response.headers["content-length"]) == len(response.content)
        lines = [line for line in logs if line["event"] == "http.request"]
        assert [(line["path"], line["status"]) for line in lines] == [
            ("/api/v1/ledger/allocations", 201)
        ]
        posted = api.allocate("1.00")
        assert len(posted.headers["x-request-id"]) == 32  # one of its own
        assert posted.headers["x-request-id"] != "trace-0123456789"

    def test_an_unexpected_failure_answers_500_and_is_logged(
        self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the database went away")

        # Where each backend's request turns into a transfer: the lane's group call on
        # PostgreSQL, the service on SQLite.
        monkeypatch.setattr(fastlane._Group, "_call", broken)
        monkeypatch.setattr(ledger_service, "allocate", broken)
        client = TestClient(app, raise_server_exceptions=False)
        api.client, kept = client, api.client
        try:
            with structlog.testing.capture_logs() as logs:
                response = api.allocate("1.00")
        finally:
            api.client = kept

        assert response.status_code == 500
        assert response.text == "Internal Server Error"
        assert response.headers["x-request-id"]
        assert [line["status"] for line in logs if line["event"] == "http.request"] == [
            500
        ]
        assert api.transfers(TransferKind.ALLOCATE) == 0

    def test_a_reclaim_takes_back_what_the_customer_has_not_spent(
        self, api: Api
    ) -> None:
        assert api.allocate("30.00").status_code == 201

        response = api.post(
            "/reclaims",
            api.partner,
            {"customer_id": api.customer_id, "amount": "12.50", "reason": "unused"},
        )
        too_much = api.post(
            "/reclaims",
            api.partner,
            {"customer_id": api.customer_id, "amount": "17.51"},
            lang="en",
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["transfer_id"].startswith("RE")
        assert body["kind"] == "reclaim"
        assert body["partner_balance_after"] == "982.50"
        refused = error(too_much, 409, "insufficient_funds")
        assert refused["message"] == (
            "Not enough money: at most 17.50 CNY can be moved."
        )
        api.clean()

    def test_amounts_as_numbers_or_text_with_up_to_two_decimals_are_taken(
        self, api: Api
    ) -> None:
        accepted = [
            ('"10.5"', "10.50"),
            ("10.5", "10.50"),
            ("10", "10.00"),
            ('"0.01"', "0.01"),
            ('" 7.00 "', "7.00"),
            ("10.50", "10.50"),
        ]
        for raw, shown in accepted:
            body = f'{{"customer_id": "{api.customer_id}", "amount": {raw}}}'

            response = api.post("/allocations", api.partner, body)

            assert response.status_code == 201, (raw, response.text)
            assert response.json()["amount"] == shown, raw
        assert api.balances()["cash"] == "951.49"

    @pytest.mark.parametrize("path", ["/allocations", "/topups"])
    def test_other_amounts_are_refused_with_the_field_named(
        self, api: Api, path: str
    ) -> None:
        refused_amounts = [
            "10.005",
            '"10.005"',
            '"1.001"',
            "0",
            '"0.00"',
            "-1",
            '"-5.00"',
            '"abc"',
            '""',
            "null",
            "true",
            '"NaN"',
            '"Infinity"',
            "100000000000000000",
            '"1e30"',
            "1e400",
            "[1]",
        ]
        target = "partner_id" if path == "/topups" else "customer_id"
        target_id = api.partner_id if path == "/topups" else api.customer_id
        key = api.vendor if path == "/topups" else api.partner
        before = api.transfers()
        for raw in refused_amounts:
            body = f'{{"{target}": "{target_id}", "amount": {raw}}}'

            response = api.post(path, key, body, lang="en")

            refused = error(response, 400, "invalid_input")
            assert refused["problems"] == [
                {
                    "field": "amount",
                    "message": "Enter an amount greater than 0 with at most two "
                    "decimals.",
                }
            ], raw
        assert api.transfers() == before

    def test_a_charge_too_large_to_be_money_is_refused_on_its_own(
        self, api: Api
    ) -> None:
        for raw in ('"1e30"', "1e400"):
            charge = (
                f'{{"charges": [{{"charge_id": "huge", "customer_id": '
                f'"{api.customer_id}", "amount": {raw}}}]}}'
            )

            charged = api.post("/charges", api.vendor, charge)

            assert charged.status_code == 200, charged.text
            assert charged.json()["results"][0]["error"] == "invalid_amount"

    def test_a_missing_amount_or_customer_is_refused(self, api: Api) -> None:
        no_amount = api.post("/allocations", api.partner, {"customer_id": "x"})
        no_customer = api.post("/allocations", api.partner, {"amount": "1.00"})
        not_json = api.post("/allocations", api.partner, "{nope")
        not_object = api.post("/allocations", api.partner, "[1, 2]")

        assert error(no_amount, 400, "invalid_input")["problems"][0]["field"] == (
            "amount"
        )
        assert error(no_customer, 400, "invalid_input")["problems"][0]["field"] == (
            "customer_id"
        )
        error(not_json, 400, "invalid_input")
        error(not_object, 400, "invalid_input")

    def test_any_text_in_a_reason_or_a_customer_id_arrives_as_sent(
        self, api: Api
    ) -> None:
        reason = 'back "to" {school}, \\ and NULL, 年度拨款'
        posted = api.post(
            "/allocations",
            api.partner,
            {"customer_id": api.customer_id, "amount": "1.00", "reason": reason},
        )
        odd = api.allocate("1.00", 'a"b\\c,{d}')

        assert posted.status_code == 201, posted.text
        transfer = api.db.get(Transfer, posted.json()["transfer_id"])
        assert transfer is not None
        assert transfer.reason == reason
        api.db.rollback()
        error(odd, 403, "not_your_customer")
        api.clean()

    def test_more_than_the_balance_is_refused_with_a_translated_message(
        self, api: Api
    ) -> None:
        zh = api.allocate("1000.01", lang="zh-CN")
        en = api.allocate("1000.01", lang="en")

        assert error(zh, 409, "insufficient_funds")["message"] == (
            "余额不足：最多可转移 1000.00 CNY。"  # noqa: RUF001
        )
        assert error(en, 409, "insufficient_funds")["message"] == (
            "Not enough money: at most 1000.00 CNY can be moved."
        )
        assert api.balances()["cash"] == "1000.00"
        assert api.allocate("1000.00").status_code == 201
        assert api.balances()["cash"] == "0.00"

    def test_customers_that_are_not_the_partners_are_refused(
        self, api: Api, db: Session
    ) -> None:
        stranger = factories.associated_customer(db, factories.partner(db).organisation)
        db.commit()

        others = api.allocate("1.00", stranger.organisation.id)
        unknown = api.allocate("1.00", "no-such-customer")
        consulting = api.allocate("1.00", api.consulting_id, lang="en")
        reclaim = api.post(
            "/reclaims",
            api.partner,
            {"customer_id": stranger.organisation.id, "amount": "1.00"},
        )

        error(others, 403, "not_your_customer")
        error(unknown, 403, "not_your_customer")
        error(reclaim, 403, "not_your_customer")
        assert "consulting" in error(consulting, 409, "consulting_customer")["message"]
        assert api.transfers(TransferKind.ALLOCATE) == 0

    def test_a_credit_line_lets_the_balance_go_below_zero_and_no_further(
        self, api: Api
    ) -> None:
        set_line = api.call(
            "PUT",
            f"/partners/{api.partner_id}/credit-line",
            api.vendor,
            {"amount": "50.00", "reason": "trusted"},
        )
        assert set_line.status_code == 200, set_line.text

        used = api.allocate("1040.00")
        over = api.allocate("10.01", lang="en")

        assert used.status_code == 201, used.text
        assert used.json()["partner_balance_after"] == "-40.00"
        assert "at most 10.00 CNY" in error(over, 409, "insufficient_funds")["message"]
        balances = api.balances()
        assert balances["cash"] == "-40.00"
        assert balances["credit_used"] == "40.00"
        assert balances["allocatable"] == "10.00"
        assert balances["withdrawable"] == "0.00"
        api.clean()


# -- Idempotency-Key ---------------------------------------------------------------------------


MONEY_WRITES = [
    ("POST", "/allocations", "partner"),
    ("POST", "/reclaims", "partner"),
    ("POST", "/reseller-allocations", "partner"),
    ("POST", "/reseller-reclaims", "partner"),
    ("POST", "/allocation-batches", "partner"),
    ("POST", "/withdrawals", "partner"),
    ("POST", "/charges", "vendor"),
    ("POST", "/topups", "vendor"),
    ("POST", "/recharges", "vendor"),
    ("POST", "/corrections", "vendor"),
    ("PUT", "/partners/{partner}/credit-line", "vendor"),
    ("PUT", "/partners/{partner}/designated", "vendor"),
    ("POST", "/withdrawals/{withdrawal}/approve", "vendor"),
    ("POST", "/withdrawals/{withdrawal}/reject", "vendor"),
    ("POST", "/withdrawals/{withdrawal}/pay", "vendor"),
]


def _valid_body(api: Api, path: str) -> dict[str, Any]:
    """A body each money write would take, so only the missing key can be refused."""
    bodies: dict[str, dict[str, Any]] = {
        "/allocations": {"customer_id": api.customer_id, "amount": "1.00"},
        "/reclaims": {"customer_id": api.customer_id, "amount": "1.00"},
        "/reseller-allocations": {"reseller_id": "r", "amount": "1.00"},
        "/reseller-reclaims": {"reseller_id": "r", "amount": "1.00"},
        "/allocation-batches": {
            "items": [{"customer_id": api.customer_id, "amount": "1.00"}]
        },
        "/withdrawals": {"amount": "1.00", "method": "original_path"},
        "/charges": {
            "charges": [
                {"charge_id": "c-1", "customer_id": api.customer_id, "amount": "1"}
            ]
        },
        "/topups": {"partner_id": api.partner_id, "amount": "1.00"},
        "/recharges": {"customer_id": api.customer_id, "amount": "1.00"},
        "/corrections": {"transfer_id": "TU1", "amount": "1.00", "reason": "x"},
    }
    return bodies.get(path, {"amount": "1.00", "reason": "x", "payment_reference": "p"})


class TestIdempotencyKey:
    def test_every_money_write_needs_a_key(self, api: Api) -> None:
        before = api.transfers()
        for method, path, who in MONEY_WRITES:
            target = path.format(partner=api.partner_id, withdrawal="w-1")
            caller = api.partner if who == "partner" else api.vendor
            for key in (None, "", "x" * 129, "has space"):
                headers = {} if key is None else {"Idempotency-Key": key}

                response = signed(
                    api.client,
                    method,
                    f"/api/v1/ledger{target}",
                    ak=caller.ak,
                    sk=caller.sk,
                    body=_valid_body(api, path),
                    headers={**headers, "Accept-Language": "en"},
                )

                refused = error(response, 400, "idempotency_key_required")
                assert "Idempotency-Key" in refused["message"], (path, key)
        assert api.transfers() == before

    def test_a_retry_answers_the_first_result_even_after_the_balance_moved(
        self, api: Api
    ) -> None:
        first = api.allocate("10.00", idem="same")
        api.allocate("5.00")
        retry = api.allocate("10.00", idem="same")

        assert first.status_code == retry.status_code == 201
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json() == first.json()
        assert retry.json()["partner_balance_after"] == "990.00"
        assert api.balances()["cash"] == "985.00"
        assert api.transfers(TransferKind.ALLOCATE) == 2

    def test_a_key_used_for_another_request_is_refused(self, api: Api) -> None:
        assert api.allocate("10.00", idem="once").status_code == 201

        other_amount = api.allocate("10.01", idem="once", lang="en")
        other_customer = api.allocate("10.00", api.other_customer_id, idem="once")
        other_path = api.post(
            "/reclaims",
            api.partner,
            {"customer_id": api.customer_id, "amount": "10.00"},
            idem="once",
        )
        other_endpoint = api.post(
            "/withdrawals",
            api.partner,
            {"amount": "10.00", "method": "original_path"},
            idem="once",
        )

        message = error(other_amount, 409, "idempotency_conflict")["message"]
        assert "different request" in message
        error(other_customer, 409, "idempotency_conflict")
        error(other_path, 409, "idempotency_conflict")
        error(other_endpoint, 409, "idempotency_conflict")
        assert api.balances()["cash"] == "990.00"

    def test_keys_belong_to_the_organisation_that_used_them(
        self, api: Api, db: Session
    ) -> None:
        second = factories.partner(db)
        api.w.topup(100_00, partner=second.organisation)
        their_customer = api.w.customer(partner=second.organisation)
        their_key = api.key_for(second.organisation)

        mine = api.allocate("10.00", idem="shared-key")
        theirs = api.post(
            "/allocations",
            their_key,
            {"customer_id": their_customer, "amount": "10.00"},
            idem="shared-key",
        )

        assert mine.status_code == theirs.status_code == 201
        assert "Idempotent-Replayed" not in theirs.headers
        assert mine.json()["transfer_id"] != theirs.json()["transfer_id"]

    @pytest.mark.parametrize("path", ["/allocations", "/reseller-allocations"])
    def test_a_refused_request_may_be_retried_with_its_key_once_money_came_in(
        self, app: FastAPI, client: TestClient, db: Session, path: str
    ) -> None:
        if path == "/allocations":
            made = world(db)
            body = {"customer_id": made.customer(), "amount": "150.00"}
        else:
            tiers = two_tiers(db)
            made = tiers.world
            body = {"reseller_id": tiers.reseller.organisation.id, "amount": "150.00"}
        made.topup(100_00)
        key = api_key(app, db, made.partner.organisation)
        db.commit()

        def call() -> Response:
            return signed(
                client,
                "POST",
                f"/api/v1/ledger{path}",
                ak=key.ak,
                sk=key.sk,
                body=body,
                headers={"Idempotency-Key": "after-topup"},
            )

        refused = call()
        made.topup(100_00)
        db.commit()
        accepted = call()
        replayed = call()

        error(refused, 409, "insufficient_funds")
        assert accepted.status_code == 201, accepted.text
        assert "Idempotent-Replayed" not in accepted.headers
        assert accepted.json()["partner_balance_after"] == "50.00"
        assert replayed.status_code == 201
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json() == accepted.json()

    def test_a_vendor_write_retried_with_its_key_moves_money_once(
        self, api: Api
    ) -> None:
        body = {"partner_id": api.partner_id, "amount": "20.00", "reference": "R-1"}
        first = api.post("/topups", api.vendor, body, idem="topup-1")
        again = api.post("/topups", api.vendor, body, idem="topup-1")

        assert first.status_code == again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["transfer_id"] == first.json()["transfer_id"]
        assert api.balances()["cash"] == "1020.00"
        assert api.transfers(TransferKind.TOPUP) == 2

    @pytest.mark.parametrize("kind", ["topups", "recharges", "corrections"])
    def test_a_vendor_write_is_replayed_with_the_first_answer(
        self, api: Api, kind: str
    ) -> None:
        topup = api.post(
            "/topups", api.vendor, {"partner_id": api.partner_id, "amount": 5}
        )
        bodies = {
            "topups": {"partner_id": api.partner_id, "amount": "20.00"},
            "recharges": {"customer_id": api.consulting_id, "amount": "20.00"},
            "corrections": {
                "transfer_id": topup.json()["transfer_id"],
                "amount": "1.00",
                "reason": "Typo",
            },
        }
        first = api.post(f"/{kind}", api.vendor, bodies[kind], idem="vendor-1")
        again = api.post(f"/{kind}", api.vendor, bodies[kind], idem="vendor-1")

        assert first.status_code == again.status_code == 201, first.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()


# -- keys ------------------------------------------------------------------------------------


class TestKeys:
    def test_a_revoked_key_is_refused_at_once_although_its_secret_is_cached(
        self, api: Api, db: Session
    ) -> None:
        assert api.allocate("1.00").status_code == 201
        credentials.revoke(db, api.w.actor, api.partner.ak)
        db.commit()

        again = api.allocate("1.00", lang="en")
        still = api.allocate("1.00")
        balances = api.get("/balances", api.partner)

        error(again, 401, "credential_revoked")
        error(still, 401, "credential_revoked")
        error(balances, 401, "credential_revoked")
        assert api.transfers(TransferKind.ALLOCATE) == 1

    def test_a_wrong_signature_is_refused_with_a_cached_secret(self, api: Api) -> None:
        assert api.allocate("1.00").status_code == 201
        request = sign(
            "POST",
            "/api/v1/ledger/allocations",
            ak=api.partner.ak,
            sk=api.partner.sk,
            body={"customer_id": api.customer_id, "amount": "1.00"},
            headers={"Idempotency-Key": "tampered"},
        )
        request.body = json.dumps(
            {"customer_id": api.customer_id, "amount": "999.00"}
        ).encode()
        forged = sign(
            "POST",
            "/api/v1/ledger/allocations",
            ak=api.partner.ak,
            sk="not-the-secret",
            body={"customer_id": api.customer_id, "amount": "1.00"},
            headers={"Idempotency-Key": "forged"},
        )

        error(send(api.client, request), 401, "signature_invalid")
        error(send(api.client, forged), 401, "signature_invalid")
        assert api.balances()["cash"] == "999.00"


# -- who may call what ------------------------------------------------------------------------


VENDOR_ONLY = [
    ("POST", "/topups"),
    ("POST", "/recharges"),
    ("POST", "/corrections"),
    ("POST", "/charges"),
    ("PUT", "/partners/{partner}/credit-line"),
    ("PUT", "/partners/{partner}/designated"),
    ("GET", "/partners/{partner}/balances"),
    ("POST", "/withdrawals/{withdrawal}/approve"),
    ("POST", "/withdrawals/{withdrawal}/reject"),
    ("POST", "/withdrawals/{withdrawal}/pay"),
]
PARTNER_ONLY = [
    ("POST", "/allocations"),
    ("POST", "/reclaims"),
    ("POST", "/reseller-allocations"),
    ("POST", "/reseller-reclaims"),
    ("POST", "/allocation-batches"),
    ("POST", "/withdrawals"),
    ("GET", "/balances"),
    ("GET", "/withdrawals"),
]


class TestWhoMayCall:
    def test_a_partner_may_not_call_vendor_finance(self, api: Api) -> None:
        withdrawal = api.post(
            "/withdrawals", api.partner, {"amount": "1.00", "method": "original_path"}
        )
        assert withdrawal.status_code == 201, withdrawal.text
        before = api.transfers()
        for method, path in VENDOR_ONLY:
            target = path.format(
                partner=api.partner_id, withdrawal=withdrawal.json()["id"]
            )

            response = api.call(method, target, api.partner, _valid_body(api, path))

            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "forbidden", path
        assert api.transfers() == before

    @pytest.mark.parametrize("who", ["customer", "vendor"])
    def test_only_a_partner_moves_its_money(self, api: Api, who: str) -> None:
        caller = api.customer if who == "customer" else api.vendor
        for method, path in PARTNER_ONLY:
            if who == "vendor" and (method, path) == ("GET", "/withdrawals"):
                continue  # vendor finance lists every partner's withdrawals

            response = api.call(method, path, caller, _valid_body(api, path))

            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "forbidden", path
        assert api.balances()["cash"] == "1000.00"

    def test_a_partner_key_cannot_read_customer_balances(self, api: Api) -> None:
        error(api.get("/customer-balances", api.partner), 403, "forbidden")


# -- distributors and resellers ---------------------------------------------------------------


@pytest.fixture
def tiers(app: FastAPI, db: Session) -> tuple[TwoTiers, ApiKey, ApiKey]:
    made = two_tiers(db)
    made.world.topup(500_00)
    made.world.topup(100_00, partner=made.reseller.organisation)
    distributor = api_key(app, db, made.distributor.organisation)
    reseller = api_key(app, db, made.reseller.organisation)
    db.commit()
    return made, distributor, reseller


def _post(
    client: TestClient, key: ApiKey, path: str, body: Any, **headers: str
) -> Response:
    return signed(
        client,
        "POST",
        f"/api/v1/ledger{path}",
        ak=key.ak,
        sk=key.sk,
        body=body,
        headers={"Idempotency-Key": f"k-{uuid.uuid4().hex}", **headers},
    )


def _balances(client: TestClient, key: ApiKey, **query: str) -> dict[str, Any]:
    response = signed(
        client,
        "GET",
        "/api/v1/ledger/balances",
        ak=key.ak,
        sk=key.sk,
        query=query or None,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


class TestDistributors:
    def test_a_distributor_funds_a_resellers_customer_from_the_resellers_balance(
        self,
        client: TestClient,
        db: Session,
        tiers: tuple[TwoTiers, ApiKey, ApiKey],
    ) -> None:
        made, distributor, _ = tiers
        reseller_id = made.reseller.organisation.id
        customer = made.world.customer(partner=made.reseller.organisation)
        db.commit()

        made_now = _post(
            client,
            distributor,
            "/allocations",
            {
                "customer_id": customer,
                "amount": "40.00",
                "indirect_partner_id": reseller_id,
            },
        )
        back = _post(
            client,
            distributor,
            "/reclaims",
            {
                "customer_id": customer,
                "amount": "15.00",
                "indirect_partner_id": reseller_id,
            },
        )

        assert made_now.status_code == 201, made_now.text
        assert made_now.json()["partner_id"] == reseller_id
        assert made_now.json()["partner_balance_after"] == "60.00"
        assert back.status_code == 201, back.text
        assert back.json()["partner_balance_after"] == "75.00"
        assert _balances(client, distributor)["cash"] == "500.00"
        seen = _balances(client, distributor, indirect_partner_id=reseller_id)
        assert seen["partner_id"] == reseller_id
        assert seen["cash"] == "75.00"
        report = verify(db)
        db.rollback()
        assert report.clean, report.problems

    def test_acting_for_a_reseller_that_is_not_ones_own_is_refused(
        self,
        app: FastAPI,
        client: TestClient,
        db: Session,
        tiers: tuple[TwoTiers, ApiKey, ApiKey],
    ) -> None:
        made, distributor, reseller = tiers
        elsewhere = factories.partner(db, PartnerType.DISTRIBUTOR)
        stranger = factories.partner(
            db, PartnerType.RESELLER, parent=elsewhere.organisation
        )
        customer = made.world.customer(partner=made.reseller.organisation)
        db.commit()

        not_mine = _post(
            client,
            distributor,
            "/allocations",
            {
                "customer_id": customer,
                "amount": "1.00",
                "indirect_partner_id": stranger.organisation.id,
            },
        )
        not_a_distributor = _post(
            client,
            reseller,
            "/allocations",
            {
                "customer_id": customer,
                "amount": "1.00",
                "indirect_partner_id": made.reseller.organisation.id,
            },
        )
        customer_of_reseller_directly = _post(
            client,
            distributor,
            "/allocations",
            {"customer_id": customer, "amount": "1"},
        )
        fund_stranger = _post(
            client,
            distributor,
            "/reseller-allocations",
            {"reseller_id": stranger.organisation.id, "amount": "1.00"},
        )
        reseller_funds = _post(
            client,
            reseller,
            "/reseller-allocations",
            {"reseller_id": made.reseller.organisation.id, "amount": "1.00"},
        )

        error(not_mine, 403, "not_your_reseller")
        error(not_a_distributor, 403, "not_a_distributor")
        error(customer_of_reseller_directly, 403, "not_your_customer")
        error(fund_stranger, 403, "not_your_reseller")
        error(reseller_funds, 403, "not_a_distributor")

    def test_a_distributor_funds_and_reclaims_from_its_reseller(
        self,
        client: TestClient,
        db: Session,
        tiers: tuple[TwoTiers, ApiKey, ApiKey],
    ) -> None:
        made, distributor, reseller = tiers
        reseller_id = made.reseller.organisation.id

        funded = _post(
            client,
            distributor,
            "/reseller-allocations",
            {"reseller_id": reseller_id, "amount": "200.00", "reason": "Q1"},
        )
        reclaimed = _post(
            client,
            distributor,
            "/reseller-reclaims",
            {"reseller_id": reseller_id, "amount": 50},
        )
        too_much = _post(
            client,
            distributor,
            "/reseller-reclaims",
            {"reseller_id": reseller_id, "amount": "250.01"},
            **{"Accept-Language": "en"},
        )

        assert funded.status_code == 201, funded.text
        assert funded.json()["transfer_id"].startswith("IA")
        assert funded.json()["counterparty_id"] == reseller_id
        assert funded.json()["partner_balance_after"] == "300.00"
        assert reclaimed.status_code == 201, reclaimed.text
        assert reclaimed.json()["transfer_id"].startswith("IR")
        assert reclaimed.json()["partner_balance_after"] == "350.00"
        assert "250.00 CNY" in error(too_much, 409, "insufficient_funds")["message"]
        assert _balances(client, reseller)["cash"] == "250.00"
        report = verify(db)
        db.rollback()
        assert report.clean, report.problems


# -- batches ---------------------------------------------------------------------------------


class TestBatches:
    def test_a_batch_answers_a_result_per_item(self, api: Api, db: Session) -> None:
        stranger = factories.associated_customer(db, factories.partner(db).organisation)
        db.commit()
        items = [
            {"customer_id": api.customer_id, "amount": "100.00"},
            {"customer_id": api.other_customer_id, "amount": 250.5},
            {"customer_id": stranger.organisation.id, "amount": "1.00"},
            {"customer_id": api.consulting_id, "amount": "1.00"},
            {"customer_id": api.customer_id, "amount": "1.001"},
            {"customer_id": api.customer_id, "amount": "900.00"},
            {"customer_id": "no-such-customer", "amount": "1.00"},
            {"customer_id": api.other_customer_id, "amount": "0.50"},
        ]

        response = api.post(
            "/allocation-batches", api.partner, {"items": items}, idem="batch-1"
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["kind"] == "allocate"
        assert body["status"] == "done"
        assert (body["item_count"], body["done_count"], body["refused_count"]) == (
            8,
            3,
            5,
        )
        assert body["done_amount"] == "351.00"
        assert [(i["position"], i["status"], i["error"]) for i in body["items"]] == [
            (0, "done", None),
            (1, "done", None),
            (2, "refused", "not_your_customer"),
            (3, "refused", "consulting_customer"),
            (4, "refused", "invalid_amount"),
            (5, "refused", "insufficient_funds"),
            (6, "refused", "not_your_customer"),
            (7, "done", None),
        ]
        assert body["items"][1]["amount"] == "250.50"
        done = [i["transfer_id"] for i in body["items"] if i["status"] == "done"]
        assert all(t and t.startswith("AD") for t in done)
        assert len(set(done)) == 3
        assert api.balances()["cash"] == "649.00"

        fetched = api.get(f"/allocation-batches/{body['batch_id']}", api.partner)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json() == body
        api.clean()

    def test_a_batch_answer_echoes_any_customer_id_as_valid_json(
        self, api: Api
    ) -> None:
        # The answer of a run is written item by item; it must say what the stored
        # batch says, whatever the ids hold.
        odd = [
            'quote " and \\ back',
            "line\nbreak\ttab\u0007bell",
            "客户 😀",
            "</script>",
        ]
        items = [{"customer_id": api.customer_id, "amount": "3.50"}] + [
            {"customer_id": c, "amount": "1.00"} for c in odd
        ]

        response = api.post("/allocation-batches", api.partner, {"items": items})

        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/json"
        body = json.loads(response.content)
        assert [i["customer_id"] for i in body["items"]] == [api.customer_id, *odd]
        assert [i["error"] for i in body["items"]] == [None] + ["not_your_customer"] * 4
        assert body["items"][0]["amount"] == "3.50"
        assert body["items"][0]["transfer_id"].startswith("AD")
        assert body["items"][1]["transfer_id"] is None
        fetched = api.get(f"/allocation-batches/{body['batch_id']}", api.partner)
        assert fetched.json() == body

    def test_a_batch_retried_with_its_key_answers_the_same_batch(
        self, api: Api, db: Session
    ) -> None:
        body = {"items": [{"customer_id": api.customer_id, "amount": "10.00"}]}
        first = api.post("/allocation-batches", api.partner, body, idem="batch-2")
        again = api.post("/allocation-batches", api.partner, body, idem="batch-2")
        other = api.post(
            "/allocation-batches",
            api.partner,
            {"items": [{"customer_id": api.customer_id, "amount": "10.01"}]},
            idem="batch-2",
        )

        assert first.status_code == again.status_code == 201
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        error(other, 409, "idempotency_conflict")
        assert db.scalar(select(func.count()).select_from(Batch)) == 1
        db.rollback()
        assert api.balances()["cash"] == "990.00"

    def test_a_reclaim_batch(self, api: Api) -> None:
        assert api.allocate("20.00").status_code == 201
        assert api.allocate("5.00", api.other_customer_id).status_code == 201

        response = api.post(
            "/allocation-batches",
            api.partner,
            {
                "kind": "reclaim",
                "items": [
                    {"customer_id": api.customer_id, "amount": "20.00"},
                    {"customer_id": api.other_customer_id, "amount": "5.01"},
                ],
            },
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["kind"] == "reclaim"
        assert [i["error"] for i in body["items"]] == [None, "insufficient_funds"]
        assert body["items"][0]["transfer_id"].startswith("RE")
        assert api.balances()["cash"] == "995.00"

    def test_a_distributor_batch_for_a_resellers_customers(
        self,
        client: TestClient,
        db: Session,
        tiers: tuple[TwoTiers, ApiKey, ApiKey],
    ) -> None:
        made, distributor, _ = tiers
        customers = made.world.customers(3, partner=made.reseller.organisation)
        db.commit()

        response = _post(
            client,
            distributor,
            "/allocation-batches",
            {
                "indirect_partner_id": made.reseller.organisation.id,
                "items": [{"customer_id": c, "amount": "40.00"} for c in customers],
            },
        )

        assert response.status_code == 201, response.text
        assert [i["status"] for i in response.json()["items"]] == [
            "done",
            "done",
            "refused",
        ]
        reseller = _balances(
            client, distributor, indirect_partner_id=made.reseller.organisation.id
        )
        assert reseller["cash"] == "20.00"

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            ({"items": []}, "batch_too_large", None),
            ({"items": "x"}, "batch_too_large", None),
            ({}, "batch_too_large", None),
            ({"items": ["x"]}, "invalid_input", None),
            (
                {"kind": "topup", "items": [{"customer_id": "c", "amount": 1}]},
                "invalid_input",
                "kind",
            ),
        ],
    )
    def test_a_batch_that_is_not_well_formed_is_refused(
        self, api: Api, body: dict[str, Any], code: str, field: str | None
    ) -> None:
        response = api.post("/allocation-batches", api.partner, body)

        refused = error(response, 400, code)
        if field:
            assert refused["problems"][0]["field"] == field

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_a_nul_character_in_any_text_is_refused_in_the_callers_language(
        self, api: Api, locale: str
    ) -> None:
        named = {"customer_id": api.customer_id + "\x00", "amount": "1.00"}
        items = {"items": [named]}
        noted = {"customer_id": api.customer_id, "amount": "1.00", "reason": "a\x00b"}

        batch = api.post("/allocation-batches", api.partner, items, lang=locale)
        single = api.post("/allocations", api.partner, named, lang=locale)
        reason = api.post("/allocations", api.partner, noted, lang=locale)

        for response in (batch, single, reason):
            refused = error(response, 400, "invalid_input")
            assert refused["message"] == translator(locale).gettext(NUL_IN_TEXT)
        assert api.balances()["cash"] == "1000.00"

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_half_a_surrogate_pair_in_any_text_is_refused_in_the_callers_language(
        self, api: Api, locale: str
    ) -> None:
        # Only an escape can carry it; json.dumps of such a str would not encode.
        named = f'{{"customer_id": "{api.customer_id}\\udc00", "amount": "1.00"}}'
        items = f'{{"items": [{named}]}}'
        noted = (
            f'{{"customer_id": "{api.customer_id}", "amount": "1.00", '
            '"reason": "a\\ud800b"}'
        )

        batch = api.post(
            "/allocation-batches", api.partner, items.encode(), lang=locale
        )
        single = api.post("/allocations", api.partner, named.encode(), lang=locale)
        reason = api.post("/allocations", api.partner, noted.encode(), lang=locale)

        for response in (batch, single, reason):
            refused = error(response, 400, "invalid_input")
            assert refused["message"] == translator(locale).gettext(HALF_A_PAIR)
        assert api.balances()["cash"] == "1000.00"

    def test_another_partners_batch_is_not_found(self, api: Api, db: Session) -> None:
        made = api.post(
            "/allocation-batches",
            api.partner,
            {"items": [{"customer_id": api.customer_id, "amount": "1.00"}]},
        )
        other = api.key_for(factories.partner(db).organisation)

        response = api.get(f"/allocation-batches/{made.json()['batch_id']}", other)
        missing = api.get("/allocation-batches/nope", api.partner)

        error(response, 404, "no_such_batch")
        error(missing, 404, "no_such_batch")


# -- consumption -----------------------------------------------------------------------------


class TestCharges:
    def test_charges_are_posted_once_per_charge_id(self, api: Api) -> None:
        assert api.allocate("10.00").status_code == 201
        charges: list[dict[str, Any]] = [
            {"charge_id": "bill-1", "customer_id": api.customer_id, "amount": "3.00"},
            {"charge_id": "bill-2", "customer_id": api.customer_id, "amount": "1.0099"},
            {"charge_id": "bill-3", "customer_id": api.consulting_id, "amount": 2},
        ]

        first = api.post("/charges", api.vendor, {"charges": charges})
        again = api.post(
            "/charges",
            api.vendor,
            {
                "charges": [
                    charges[0],
                    {**charges[1], "amount": "5.00"},
                    {"charge_id": "bill-4", "customer_id": "nobody", "amount": "1"},
                    {
                        "charge_id": "bill-5",
                        "customer_id": api.customer_id,
                        "amount": 0,
                    },
                    {
                        "charge_id": "bill-1",
                        "customer_id": api.customer_id,
                        "amount": "3.00",
                        "refund": True,
                    },
                ]
            },
        )

        assert first.status_code == 200, first.text
        posted = first.json()["results"]
        assert [r["status"] for r in posted] == ["posted"] * 3
        assert all(r["transfer_id"].startswith("CO") for r in posted)
        assert again.status_code == 200, again.text
        results = again.json()["results"]
        assert [(r["charge_id"], r["status"], r["error"]) for r in results] == [
            ("bill-1", "duplicate", None),
            ("bill-2", "refused", "charge_id_reused"),
            ("bill-4", "refused", "no_such_customer"),
            ("bill-5", "refused", "invalid_amount"),
            ("bill-1", "posted", None),
        ]
        assert results[0]["transfer_id"] == posted[0]["transfer_id"]
        assert results[4]["transfer_id"].startswith("RF")
        mine = api.get("/customer-balances", api.customer).json()
        # 10.00 - 3.00 - 1.00 (the charge is truncated to the cent) + 3.00 refunded.
        assert mine["allocated"] == "9.00"
        api.clean()

    def test_a_charge_request_retried_with_its_key_is_replayed(self, api: Api) -> None:
        body = {
            "charges": [
                {"charge_id": "b-9", "customer_id": api.customer_id, "amount": "4.00"}
            ]
        }
        first = api.post("/charges", api.vendor, body, idem="charges-1")
        again = api.post("/charges", api.vendor, body, idem="charges-1")

        assert first.status_code == again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert first.json()["results"][0]["status"] == "posted"

    def test_a_customer_in_arrears_shows_its_debt(self, api: Api) -> None:
        assert api.allocate("2.00").status_code == 201
        body = {
            "charges": [
                {"charge_id": "big", "customer_id": api.customer_id, "amount": "5.50"}
            ]
        }
        assert api.post("/charges", api.vendor, body).status_code == 200

        mine = api.get("/customer-balances", api.customer).json()

        assert mine["allocated"] == "-3.50"
        assert mine["debt"] == "3.50"

    @pytest.mark.parametrize(
        "body", [{}, {"charges": []}, {"charges": [{"customer_id": "c"}]}]
    )
    def test_a_charge_request_that_is_not_well_formed_is_refused(
        self, api: Api, body: dict[str, Any]
    ) -> None:
        error(api.post("/charges", api.vendor, body), 400, "invalid_input")


# -- vendor finance --------------------------------------------------------------------------


class TestVendorFinance:
    def test_top_ups_recharges_and_corrections(self, api: Api) -> None:
        topup = api.post(
            "/topups",
            api.vendor,
            {"partner_id": api.partner_id, "amount": "300.00", "reference": "BANK-7"},
        )
        recharge = api.post(
            "/recharges",
            api.vendor,
            {"customer_id": api.consulting_id, "amount": 80, "reference": "ALIPAY-1"},
        )
        assert topup.status_code == 201, topup.text
        assert recharge.status_code == 201, recharge.text
        correction = api.post(
            "/corrections",
            api.vendor,
            {
                "transfer_id": topup.json()["transfer_id"],
                "amount": "100.00",
                "reason": "Entered twice",
            },
        )
        beyond = api.post(
            "/corrections",
            api.vendor,
            {
                "transfer_id": topup.json()["transfer_id"],
                "amount": "200.01",
                "reason": "Entered twice",
            },
            lang="en",
        )
        allocation = api.allocate("1.00")
        of_allocation = api.post(
            "/corrections",
            api.vendor,
            {
                "transfer_id": allocation.json()["transfer_id"],
                "amount": "1.00",
                "reason": "no",
            },
        )
        unknown = api.post(
            "/corrections",
            api.vendor,
            {"transfer_id": "TU000", "amount": "1.00", "reason": "no"},
        )
        no_reason = api.post(
            "/corrections",
            api.vendor,
            {"transfer_id": topup.json()["transfer_id"], "amount": "1.00"},
        )

        assert topup.json()["transfer_id"].startswith("TU")
        assert topup.json()["kind"] == "topup"
        assert topup.json()["partner_id"] == api.partner_id
        assert topup.json()["partner_balance_after"] == "1300.00"
        assert recharge.json()["transfer_id"].startswith("RC")
        assert recharge.json()["amount"] == "80.00"
        assert correction.status_code == 201, correction.text
        assert correction.json()["kind"] == "correction"
        assert correction.json()["partner_balance_after"] == "1200.00"
        assert "200.00 CNY" in error(beyond, 409, "not_correctable")["message"]
        error(of_allocation, 409, "not_correctable")
        error(unknown, 404, "no_such_transfer")
        assert error(no_reason, 400, "invalid_input")["problems"][0]["field"] == (
            "reason"
        )
        api.clean()

    def test_a_top_up_only_goes_to_a_partner(self, api: Api) -> None:
        to_customer = api.post(
            "/topups", api.vendor, {"partner_id": api.customer_id, "amount": "1.00"}
        )
        recharge_partner = api.post(
            "/recharges", api.vendor, {"customer_id": api.partner_id, "amount": "1.00"}
        )

        error(to_customer, 403, "not_a_partner")
        error(recharge_partner, 403, "not_your_customer")

    def test_credit_line_and_designated_amount(self, api: Api) -> None:
        credit = api.call(
            "PUT",
            f"/partners/{api.partner_id}/credit-line",
            api.vendor,
            {"amount": "200.00"},
        )
        designated = api.call(
            "PUT",
            f"/partners/{api.partner_id}/designated",
            api.vendor,
            {"amount": 300, "reason": "Project X"},
        )

        assert credit.status_code == 200, credit.text
        assert credit.json()["credit_limit"] == "200.00"
        assert credit.json()["allocatable"] == "1200.00"
        assert designated.status_code == 200, designated.text
        assert designated.json() == {
            "partner_id": api.partner_id,
            "currency": "CNY",
            "cash": "1000.00",
            "credit_limit": "200.00",
            "credit_used": "0.00",
            "designated": "300.00",
            "allocatable": "900.00",
            "withdrawable": "700.00",
            "held": "0.00",
        }
        seen = api.get(f"/partners/{api.partner_id}/balances", api.vendor)
        assert seen.status_code == 200, seen.text
        assert seen.json() == designated.json() == api.balances()
        error(api.allocate("900.01"), 409, "insufficient_funds")
        assert api.allocate("900.00").status_code == 201

    def test_a_credit_line_cannot_go_below_the_credit_in_use(self, api: Api) -> None:
        path = f"/partners/{api.partner_id}/credit-line"
        assert api.call("PUT", path, api.vendor, {"amount": "100"}).status_code == 200
        assert api.allocate("1060.00").status_code == 201

        lower = api.call("PUT", path, api.vendor, {"amount": "59.99"}, lang="en")
        negative = api.call("PUT", path, api.vendor, {"amount": "-1"})
        exact = api.call("PUT", path, api.vendor, {"amount": "60"})
        zero_designated = api.call(
            "PUT", f"/partners/{api.partner_id}/designated", api.vendor, {"amount": "0"}
        )

        assert "60.00 CNY" in error(lower, 409, "insufficient_funds")["message"]
        error(negative, 400, "invalid_input")
        assert exact.status_code == 200, exact.text
        assert exact.json()["allocatable"] == "0.00"
        assert zero_designated.status_code == 200, zero_designated.text


# -- withdrawals -----------------------------------------------------------------------------


class TestWithdrawals:
    def test_a_withdrawal_is_held_approved_and_paid(self, api: Api) -> None:
        asked = api.post(
            "/withdrawals",
            api.partner,
            {"amount": "100.00", "method": "original_path", "note": "Q1 refund"},
        )
        assert asked.status_code == 201, asked.text
        withdrawal = asked.json()
        assert withdrawal["status"] == "pending"
        assert withdrawal["amount"] == "100.00"
        assert withdrawal["partner_id"] == api.partner_id
        balances = api.balances()
        assert (balances["cash"], balances["held"]) == ("900.00", "100.00")

        mine = api.get("/withdrawals", api.partner)
        everyone = api.get("/withdrawals", api.vendor, partner_id=api.partner_id)
        pending = api.get("/withdrawals", api.vendor, status="pending")
        assert [w["id"] for w in mine.json()] == [withdrawal["id"]]
        assert [w["id"] for w in everyone.json()] == [withdrawal["id"]]
        assert [w["id"] for w in pending.json()] == [withdrawal["id"]]

        base = f"/withdrawals/{withdrawal['id']}"
        unpaid = api.post(f"{base}/pay", api.vendor, {"payment_reference": "P-1"})
        approved = api.post(f"{base}/approve", api.vendor, {}, idem="approve-1")
        approved_again = api.post(f"{base}/approve", api.vendor, {}, idem="approve-1")
        approve_twice = api.post(f"{base}/approve", api.vendor, {})
        no_reference = api.post(f"{base}/pay", api.vendor, {})
        paid = api.post(f"{base}/pay", api.vendor, {"payment_reference": "P-1"})
        reject_paid = api.post(f"{base}/reject", api.vendor, {"reason": "late"})

        error(unpaid, 409, "withdrawal_not_pending")
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["pay_by"]
        assert approved_again.headers["Idempotent-Replayed"] == "true"
        assert approved_again.json() == approved.json()
        error(approve_twice, 409, "withdrawal_not_pending")
        error(no_reference, 400, "invalid_input")
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"
        assert paid.json()["payment_reference"] == "P-1"
        error(reject_paid, 409, "withdrawal_not_pending")
        balances = api.balances()
        assert (balances["cash"], balances["held"]) == ("900.00", "0.00")
        api.clean()

    def test_a_rejected_withdrawal_gives_the_money_back(self, api: Api) -> None:
        asked = api.post(
            "/withdrawals", api.partner, {"amount": "40.00", "method": "original_path"}
        )
        base = f"/withdrawals/{asked.json()['id']}"

        no_reason = api.post(f"{base}/reject", api.vendor, {"reason": " "})
        rejected = api.post(f"{base}/reject", api.vendor, {"reason": "Wrong account"})

        error(no_reason, 400, "invalid_input")
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["status"] == "rejected"
        assert rejected.json()["rejection_reason"] == "Wrong account"
        balances = api.balances()
        assert (balances["cash"], balances["held"]) == ("1000.00", "0.00")
        api.clean()

    def test_a_withdrawal_is_refused_beyond_what_may_be_withdrawn(
        self, api: Api, db: Session
    ) -> None:
        path = f"/partners/{api.partner_id}/designated"
        assert api.call("PUT", path, api.vendor, {"amount": "600"}).status_code == 200
        api.w.partner.organisation.legal_name = "Acme (Beijing) Ltd"
        db.commit()

        too_much = api.post(
            "/withdrawals",
            api.partner,
            {"amount": "400.01", "method": "original_path"},
            lang="en",
        )
        wrong_holder = api.post(
            "/withdrawals",
            api.partner,
            {
                "amount": "1.00",
                "method": "bank",
                "bank_holder": "Someone Else Ltd",
                "bank_name": "ICBC",
                "bank_account": "6222000011112222",
            },
        )
        no_method = api.post("/withdrawals", api.partner, {"amount": "1.00"})
        by_bank = api.post(
            "/withdrawals",
            api.partner,
            {
                "amount": "400.00",
                "method": "bank",
                "bank_holder": "ACME（Beijing） Ltd",  # noqa: RUF001
                "bank_name": "ICBC",
                "bank_account": "6222 0000 1111 2222",
            },
        )
        unknown = api.post("/withdrawals/nope/approve", api.vendor, {})

        assert "400.00 CNY" in error(too_much, 409, "insufficient_funds")["message"]
        error(wrong_holder, 400, "bank_holder_mismatch")
        assert error(no_method, 400, "invalid_input")["problems"][0]["field"] == (
            "method"
        )
        assert by_bank.status_code == 201, by_bank.text
        assert by_bank.json()["bank_account_last4"] == "2222"
        assert "bank_account" not in by_bank.json()
        error(unknown, 404, "no_such_withdrawal")
