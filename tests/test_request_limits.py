"""A request body past the server's limit is refused with 413 before it is read, in the shape
and language of the face it was sent to, and changes nothing (both databases; on PostgreSQL
the allocations go through the ledger's lane, which checks the same limit itself)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core.settings import Settings
from partnercenter.ledger.models import Transfer
from tests.ledger.world import world
from tests.signing import ApiKey, SignedRequest, api_key, send, sign

LIMIT_KB = 64
ALLOCATIONS = "/api/v1/ledger/allocations"
ADJUST = "/v2/accounts/partner-accounts/adjust-amount"
IN_CHINESE = "请求大于 64 KB，超过了服务器能接受的大小。"  # noqa: RUF001


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_request_kb": LIMIT_KB})


@pytest.fixture
def partner(app: FastAPI, db: Session) -> tuple[ApiKey, str]:
    app.state.settings.bss_rate_limit = 0
    w = world(db)
    w.topup(100_00)
    customer_id = w.customer()
    key = api_key(app, db, w.partner.organisation)
    db.commit()
    return key, customer_id


def allocation(customer_id: str, padding: int) -> bytes:
    """An allocation whose body is about ``padding`` bytes longer than a plain one."""
    body = {"customer_id": customer_id, "amount": "1.00", "note": "x" * padding}
    return json.dumps(body).encode()


def signed_post(path: str, key: ApiKey, body: bytes, **headers: str) -> SignedRequest:
    return sign(
        "POST",
        path,
        ak=key.ak,
        sk=key.sk,
        body=body,
        headers={"Idempotency-Key": "k-limit-1", **headers},
    )


def pieces(body: bytes) -> Iterator[bytes]:
    """``body`` in pieces of 16 KB: sent so, it goes without a Content-Length."""
    for start in range(0, len(body), 16 * 1024):
        yield body[start : start + 16 * 1024]


def streamed(client: TestClient, request: SignedRequest) -> Response:
    """``request`` with its body sent in pieces and no Content-Length."""
    body = request.body
    assert isinstance(body, bytes)
    headers = {
        k: v for k, v in request.headers.items() if k.lower() != "content-length"
    }
    return client.request("POST", request.url, headers=headers, content=pieces(body))


def transfers(db: Session) -> int:
    count = db.scalar(select(func.count()).select_from(Transfer)) or 0
    db.rollback()
    return count


class TestTheNativeApi:
    def test_a_body_past_the_limit_is_refused_in_the_callers_language(
        self, client: TestClient, db: Session, partner: tuple[ApiKey, str]
    ) -> None:
        key, customer_id = partner
        before = transfers(db)
        body = allocation(customer_id, LIMIT_KB * 1024)

        english = send(
            client, signed_post(ALLOCATIONS, key, body, **{"Accept-Language": "en"})
        )
        chinese = send(client, signed_post(ALLOCATIONS, key, body))

        assert english.status_code == 413, english.text
        assert english.json() == {
            "code": "request_too_large",
            "message": "The request is larger than 64 KB, the most this server takes.",
        }
        assert english.headers["x-request-id"]
        assert chinese.status_code == 413
        assert chinese.json()["message"] == IN_CHINESE
        assert transfers(db) == before

    def test_a_body_sent_without_its_length_is_counted_as_it_comes(
        self, client: TestClient, db: Session, partner: tuple[ApiKey, str]
    ) -> None:
        key, customer_id = partner
        before = transfers(db)
        request = signed_post(
            ALLOCATIONS, key, allocation(customer_id, LIMIT_KB * 1024)
        )

        response = streamed(client, request)

        assert response.status_code == 413, response.text
        assert response.json()["code"] == "request_too_large"
        assert transfers(db) == before

    def test_a_body_within_the_limit_is_taken(
        self, client: TestClient, db: Session, partner: tuple[ApiKey, str]
    ) -> None:
        key, customer_id = partner
        body = allocation(customer_id, LIMIT_KB * 1024 - 200)

        answered = send(client, signed_post(ALLOCATIONS, key, body))
        also_streamed = streamed(
            client,
            sign(
                "POST",
                ALLOCATIONS,
                ak=key.ak,
                sk=key.sk,
                body=body,
                headers={"Idempotency-Key": "k-limit-2"},
            ),
        )

        assert answered.status_code == 201, answered.text
        assert also_streamed.status_code == 201, also_streamed.text


class TestTheBssFace:
    @pytest.mark.parametrize("how", ["with its length", "streamed"])
    def test_a_body_past_the_limit_is_refused_in_the_bss_shape(
        self,
        client: TestClient,
        db: Session,
        partner: tuple[ApiKey, str],
        how: str,
    ) -> None:
        key, customer_id = partner
        before = transfers(db)
        request = signed_post(
            ADJUST,
            key,
            allocation(customer_id, LIMIT_KB * 1024),
            **{"X-Language": "en-us"},
        )

        response = (
            send(client, request)
            if how == "with its length"
            else streamed(client, request)
        )

        assert response.status_code == 413, response.text
        body: dict[str, Any] = response.json()
        assert body == {
            "error_code": "CBC.0100",
            "error_msg": "The request is larger than 64 KB, the most this server takes.",
        }
        assert transfers(db) == before


class TestTheConsole:
    def test_a_form_past_the_limit_is_refused_as_text(self, client: TestClient) -> None:
        response = client.post(
            "/login", data={"account": "a", "password": "x" * (LIMIT_KB * 1024)}
        )

        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == IN_CHINESE
        assert response.headers["x-request-id"]

    def test_a_form_streamed_without_its_length_is_refused_as_text(
        self, client: TestClient
    ) -> None:
        body = b"account=a&password=" + b"x" * (LIMIT_KB * 1024)

        response = client.post(
            "/login",
            content=pieces(body),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == IN_CHINESE
        assert response.headers["connection"] == "close"

    def test_other_framework_errors_keep_their_status(self, client: TestClient) -> None:
        assert client.get("/no-such-page").status_code == 404
        assert client.request("DELETE", "/login").status_code == 405
