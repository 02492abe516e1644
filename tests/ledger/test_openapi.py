"""The ledger in the OpenAPI document: every endpoint, its request body and the
Idempotency-Key header on money writes.

Request bodies are parsed by hand (exact decimals, no float on the way), so their schemas are
declared with ``openapi_extra``; these tests keep that declaration honest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from partnercenter.app import create_app
from partnercenter.core.settings import Environment, Settings

PREFIX = "/api/v1/ledger"

BODIES: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    ("post", "/allocations"): (
        {"customer_id", "amount", "indirect_partner_id", "reason"},
        {"customer_id", "amount"},
    ),
    ("post", "/reclaims"): (
        {"customer_id", "amount", "indirect_partner_id", "reason"},
        {"customer_id", "amount"},
    ),
    ("post", "/reseller-allocations"): (
        {"reseller_id", "amount", "reason"},
        {"reseller_id", "amount"},
    ),
    ("post", "/reseller-reclaims"): (
        {"reseller_id", "amount", "reason"},
        {"reseller_id", "amount"},
    ),
    ("post", "/allocation-batches"): (
        {"kind", "items", "indirect_partner_id", "reason"},
        {"items"},
    ),
    ("post", "/charges"): ({"charges"}, {"charges"}),
    ("post", "/topups"): (
        {"partner_id", "amount", "reference", "reason"},
        {"partner_id", "amount"},
    ),
    ("post", "/recharges"): (
        {"customer_id", "amount", "reference"},
        {"customer_id", "amount"},
    ),
    ("post", "/corrections"): (
        {"transfer_id", "amount", "reason"},
        {"transfer_id", "amount", "reason"},
    ),
    ("put", "/partners/{partner_id}/credit-line"): ({"amount", "reason"}, {"amount"}),
    ("put", "/partners/{partner_id}/designated"): ({"amount", "reason"}, {"amount"}),
    ("post", "/withdrawals"): (
        {"amount", "method", "bank_holder", "bank_name", "bank_account", "note"},
        {"amount", "method"},
    ),
    ("post", "/withdrawals/{withdrawal_id}/approve"): (
        {"reason", "payment_reference"},
        set(),
    ),
    ("post", "/withdrawals/{withdrawal_id}/reject"): (
        {"reason", "payment_reference"},
        set(),
    ),
    ("post", "/withdrawals/{withdrawal_id}/pay"): (
        {"reason", "payment_reference"},
        set(),
    ),
}
"""Every money write: the body's properties and which of them are required."""

READS = {
    ("get", "/balances"),
    ("get", "/customer-balances"),
    ("get", "/allocation-batches/{batch_id}"),
    ("get", "/partners/{partner_id}/balances"),
    ("get", "/withdrawals"),
}

SUCCESS = {
    ("post", "/allocations"): ("201", "TransferOut"),
    ("post", "/reclaims"): ("201", "TransferOut"),
    ("post", "/reseller-allocations"): ("201", "TransferOut"),
    ("post", "/reseller-reclaims"): ("201", "TransferOut"),
    ("post", "/topups"): ("201", "TransferOut"),
    ("post", "/recharges"): ("201", "TransferOut"),
    ("post", "/corrections"): ("201", "TransferOut"),
    ("post", "/allocation-batches"): ("201", "BatchOut"),
    ("post", "/withdrawals"): ("201", "WithdrawalOut"),
    ("post", "/withdrawals/{withdrawal_id}/approve"): ("200", "WithdrawalOut"),
    ("put", "/partners/{partner_id}/credit-line"): ("200", "PartnerBalancesOut"),
    ("get", "/balances"): ("200", "PartnerBalancesOut"),
    ("get", "/customer-balances"): ("200", "CustomerBalancesOut"),
    ("get", "/allocation-batches/{batch_id}"): ("200", "BatchOut"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The document needs no database: an app that never connects serves it."""
    folder: Path = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        data_dir=folder,
        secret_key="test-secret-key-not-for-production",
        environment=Environment.TEST,
        embedded_worker=False,
        smtp_url="",
    )
    app = create_app(settings, check_migrated=False)
    yield TestClient(app)
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][PREFIX + path][method]
    return operation


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


class TestLedgerInTheDocument:
    def test_the_document_and_its_page_are_served(self, client: TestClient) -> None:
        page = client.get("/api/docs")

        assert page.status_code == 200
        assert "/api/v1/openapi.json" in page.text

    def test_every_ledger_endpoint_is_listed_and_nothing_else(
        self, document: dict[str, Any]
    ) -> None:
        listed = {
            (method, path.removeprefix(PREFIX))
            for path, operations in document["paths"].items()
            if path.startswith(PREFIX + "/")
            for method in operations
        }

        assert listed == set(BODIES) | READS

    @pytest.mark.parametrize(("method", "path"), sorted(BODIES))
    def test_a_money_write_documents_its_body(
        self, document: dict[str, Any], method: str, path: str
    ) -> None:
        properties, required = BODIES[(method, path)]
        operation = _operation(document, method, path)

        body = operation["requestBody"]
        schema = _resolve(document, body["content"]["application/json"]["schema"])

        assert body["required"] is True
        assert schema["type"] == "object"
        assert set(schema["properties"]) == properties
        assert set(schema.get("required", [])) == required
        if "amount" in properties:
            amount = schema["properties"]["amount"]
            assert {option["type"] for option in amount["anyOf"]} == {
                "number",
                "string",
            }

    @pytest.mark.parametrize(("method", "path"), sorted(BODIES))
    def test_a_money_write_needs_an_idempotency_key(
        self, document: dict[str, Any], method: str, path: str
    ) -> None:
        operation = _operation(document, method, path)

        [header] = [
            p
            for p in operation.get("parameters", [])
            if p["in"] == "header" and p["name"] == "Idempotency-Key"
        ]

        assert header["required"] is True
        assert header["schema"] == {"type": "string", "maxLength": 128}
        assert header["description"]

    @pytest.mark.parametrize(("method", "path"), sorted(READS))
    def test_a_read_takes_no_body_and_no_key(
        self, document: dict[str, Any], method: str, path: str
    ) -> None:
        operation = _operation(document, method, path)

        assert "requestBody" not in operation
        assert all(
            p["name"] != "Idempotency-Key" for p in operation.get("parameters", [])
        )

    @pytest.mark.parametrize(("method", "path"), sorted(BODIES.keys() | READS))
    def test_every_endpoint_documents_its_refusals_in_the_error_shape(
        self, document: dict[str, Any], method: str, path: str
    ) -> None:
        responses = _operation(document, method, path)["responses"]

        assert {"401", "403"} <= set(responses)
        for status in set(responses) & {"400", "401", "403", "404", "409"}:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, status
        if (method, path) in BODIES and path != "/charges":
            assert "409" in responses or "400" in responses

    @pytest.mark.parametrize(("method", "path"), sorted(SUCCESS))
    def test_the_success_answer_is_described(
        self, document: dict[str, Any], method: str, path: str
    ) -> None:
        status, model = SUCCESS[(method, path)]
        responses = _operation(document, method, path)["responses"]

        schema = responses[status]["content"]["application/json"]["schema"]

        assert schema == {"$ref": f"#/components/schemas/{model}"}

    def test_amounts_are_answered_as_text(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]

        for model, field in [
            ("TransferOut", "amount"),
            ("TransferOut", "partner_balance_after"),
            ("PartnerBalancesOut", "allocatable"),
            ("CustomerBalancesOut", "debt"),
            ("BatchOut", "done_amount"),
            ("WithdrawalOut", "amount"),
        ]:
            found = schemas[model]["properties"][field]
            types = {o["type"] for o in found.get("anyOf", [found])} - {"null"}
            assert types == {"string"}, (model, field)

    def test_every_reference_in_the_document_resolves(
        self, document: dict[str, Any]
    ) -> None:
        broken = []
        for ref in set(_refs(document)):
            try:
                _resolve(document, {"$ref": ref})
            except (KeyError, TypeError):
                broken.append(ref)

        assert sorted(broken) == []

    def test_the_charges_answer_is_described_as_it_is_sent(
        self, document: dict[str, Any]
    ) -> None:
        responses = _operation(document, "post", "/charges")["responses"]

        schema = _resolve(
            document, responses["200"]["content"]["application/json"]["schema"]
        )

        assert schema.get("type") == "object"
        assert "results" in schema["properties"]
