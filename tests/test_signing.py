"""AK/SK signatures: requests signed by the official SDK verify; anything changed is refused."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pytest
from fastapi import Body, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.api.auth import ApiActor
from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.identity import credentials
from partnercenter.identity.models import ApiCredential, Organisation, PartnerType
from partnercenter.identity.signing import (
    DATE_FORMAT,
    SignatureError,
    SignatureFailure,
    header_text,
    verify,
)
from tests import factories
from tests.signing import ApiKey, SignedRequest, api_key, send, sign, signed

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
AK = "AKTESTAKTESTAKTEST01"
SK = "sk-for-tests-0123456789abcdefghijklmnopq"
WINDOW = dt.timedelta(minutes=15)


def _secrets(access_key: str) -> str | None:
    return SK if access_key == AK else None


def _sign(
    method: str = "GET", path: str = "/api/v1/things", **options: Any
) -> SignedRequest:
    options.setdefault("date", NOW.strftime(DATE_FORMAT))
    return sign(
        method, path, ak=options.pop("ak", AK), sk=options.pop("sk", SK), **options
    )


def _verify(request: SignedRequest, *, now: dt.datetime = NOW) -> str:
    """Verify as the server sees the request: header bytes decoded back from the wire."""
    return verify(
        method=request.method,
        raw_path=request.path,
        raw_query=request.query,
        headers={
            name: header_text(value.encode("latin-1"))
            for name, value in request.headers.items()
        },
        body=request.body,
        secret_for=_secrets,
        now=now,
        window=WINDOW,
    )


def _reason(request: SignedRequest, *, now: dt.datetime = NOW) -> SignatureFailure:
    with pytest.raises(SignatureError) as refused:
        _verify(request, now=now)
    return refused.value.reason


class TestVerifier:
    def test_get_with_encoded_query_and_repeated_keys_verifies(self) -> None:
        request = _sign(
            query=[("customer_id", "c 1/x"), ("tag", "b"), ("tag", "a"), ("empty", "")]
        )

        assert "customer_id=c%201%2Fx" in request.query
        assert _verify(request) == AK

    def test_raw_query_in_another_order_and_encoding_verifies(self) -> None:
        request = _sign(query=[("b", "2"), ("a", "x y")])
        request.query = "b=2&a=x+y"

        assert _verify(request) == AK

    def test_post_with_json_body_verifies(self) -> None:
        request = _sign("POST", body={"amount": "10.00", "note": "拨款"})

        assert request.body
        assert _verify(request) == AK

    def test_post_without_body_verifies(self) -> None:
        assert _verify(_sign("POST")) == AK

    def test_path_with_characters_needing_encoding_verifies(self) -> None:
        request = _sign(path="/api/v1/things/a%20b%2Bc~d/%E5%AE%A2%E6%88%B7")

        assert _verify(request) == AK

    def test_signed_non_ascii_header_verifies(self) -> None:
        request = _sign(headers={"X-Note": "华东 区域"})

        assert _verify(request) == AK

    def test_unsigned_payload_leaves_the_body_out_as_the_sdk_does(self) -> None:
        request = _sign(
            "POST",
            body=b"a=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert request.headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"

        assert _verify(request) == AK

    def test_authorization_with_extra_spaces_after_commas_verifies(self) -> None:
        request = _sign()
        request.headers["Authorization"] = request.headers["Authorization"].replace(
            ", ", ",   "
        )

        assert _verify(request) == AK

    def test_tampered_body_is_refused(self) -> None:
        request = _sign("POST", body={"amount": "10.00"})
        request.body = b'{"amount": "99.00"}'

        assert _reason(request) is SignatureFailure.SIGNATURE_MISMATCH

    def test_tampered_query_is_refused(self) -> None:
        request = _sign(query={"customer_id": "c1"})
        request.query = "customer_id=c2"

        assert _reason(request) is SignatureFailure.SIGNATURE_MISMATCH

    def test_tampered_path_is_refused(self) -> None:
        request = _sign(path="/api/v1/things/1")
        request.path = "/api/v1/things/2"

        assert _reason(request) is SignatureFailure.SIGNATURE_MISMATCH

    def test_tampered_signed_header_is_refused(self) -> None:
        request = _sign(headers={"X-Note": "a"})
        request.headers["X-Note"] = "b"

        assert _reason(request) is SignatureFailure.SIGNATURE_MISMATCH

    def test_other_host_is_refused(self) -> None:
        request = _sign()
        request.headers["Host"] = "elsewhere.example"

        assert _reason(request) is SignatureFailure.SIGNATURE_MISMATCH

    def test_other_method_is_refused(self) -> None:
        request = _sign("GET")
        request.method = "DELETE"

        assert _reason(request) is SignatureFailure.SIGNATURE_MISMATCH

    def test_wrong_secret_key_is_refused(self) -> None:
        request = _sign(sk="not-the-secret-key-of-this-access-key-00")

        assert _reason(request) is SignatureFailure.SIGNATURE_MISMATCH

    def test_unknown_access_key_is_refused(self) -> None:
        request = _sign(ak="AKUNKNOWNUNKNOWN0000")

        assert _reason(request) is SignatureFailure.UNKNOWN_ACCESS_KEY

    def test_date_sixteen_minutes_old_is_refused(self) -> None:
        request = _sign()

        assert (
            _reason(request, now=NOW + dt.timedelta(minutes=16))
            is SignatureFailure.DATE_OUT_OF_WINDOW
        )

    def test_date_sixteen_minutes_ahead_is_refused(self) -> None:
        request = _sign()

        assert (
            _reason(request, now=NOW - dt.timedelta(minutes=16))
            is SignatureFailure.DATE_OUT_OF_WINDOW
        )

    def test_date_fourteen_minutes_away_is_accepted(self) -> None:
        request = _sign()

        assert _verify(request, now=NOW + dt.timedelta(minutes=14)) == AK
        assert _verify(request, now=NOW - dt.timedelta(minutes=14)) == AK

    def test_missing_date_is_refused(self) -> None:
        request = _sign()
        del request.headers["X-Sdk-Date"]

        assert _reason(request) is SignatureFailure.DATE_MISSING

    @pytest.mark.parametrize(
        "value", ["2026-03-02T02:00:00Z", "20260302T020000", "20261302T020000Z"]
    )
    def test_malformed_date_is_refused(self, value: str) -> None:
        request = _sign()
        request.headers["X-Sdk-Date"] = value

        assert _reason(request) is SignatureFailure.DATE_MALFORMED

    @pytest.mark.parametrize("left_out", ["host", "x-sdk-date"])
    def test_host_and_date_must_be_signed(self, left_out: str) -> None:
        request = _sign()
        authorization = request.headers["Authorization"]
        names = authorization.split("SignedHeaders=")[1].split(",")[0]
        fewer = ";".join(name for name in names.split(";") if name != left_out)
        request.headers["Authorization"] = authorization.replace(names, fewer)

        assert _reason(request) is SignatureFailure.HEADER_NOT_SIGNED

    def test_missing_authorization_is_refused(self) -> None:
        request = _sign()
        del request.headers["Authorization"]

        assert _reason(request) is SignatureFailure.MISSING_AUTHORIZATION

    @pytest.mark.parametrize(
        "value",
        [
            "Bearer abc",
            f"SDK-HMAC-SHA256 Access={AK}, Signature={'0' * 64}",
            f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature=abc",
            f"SDK-HMAC-SM3 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={'0' * 64}",
            f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=Host:x, Signature={'0' * 64}",
        ],
    )
    def test_malformed_authorization_is_refused(self, value: str) -> None:
        request = _sign()
        request.headers["Authorization"] = value

        assert _reason(request) is SignatureFailure.MALFORMED_AUTHORIZATION


# -- end to end, through the native API --------------------------------------------------


@pytest.fixture
def echo(app: FastAPI) -> str:
    """A signed route that returns what it was given, to test methods, paths and bodies."""

    def echo_route(
        name: str,
        actor: ApiActor,
        payload: Annotated[dict[str, Any] | None, Body()] = None,
    ) -> dict[str, Any]:
        return {
            "name": name,
            "organisation_id": actor.organisation_id,
            "credential_id": actor.credential_id,
            "roles": sorted(actor.roles),
            "payload": payload,
        }

    app.add_api_route(
        "/api/v1/test-echo/{name}", echo_route, methods=["GET", "POST", "PUT"]
    )
    return "/api/v1/test-echo"


@pytest.fixture
def key(app: FastAPI, db: Session, clock: FrozenClock) -> ApiKey:
    partner = factories.partner(db)
    issued = api_key(app, db, partner.organisation)
    db.commit()
    return issued


def _refusal(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]


class TestSignedApi:
    def test_signed_call_answers_with_the_calling_organisation(
        self, client: TestClient, db: Session, app: FastAPI, clock: FrozenClock
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        issued = api_key(app, db, reseller.organisation)
        db.commit()

        response = signed(
            client,
            "GET",
            "/api/v1/organisation",
            ak=issued.ak,
            sk=issued.sk,
            domain_id=issued.domain_id,
        )

        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": reseller.organisation.id,
            "kind": "reseller",
            "account_name": reseller.organisation.account_name,
            "display_name": reseller.organisation.display_name,
            "country_region": "CN",
            "parent_id": distributor.organisation.id,
        }

    def test_customer_key_acts_as_the_customer(
        self, client: TestClient, db: Session, app: FastAPI, clock: FrozenClock
    ) -> None:
        customer = factories.customer(db)
        issued = api_key(app, db, customer.organisation)
        db.commit()

        response = signed(
            client, "GET", "/api/v1/organisation", ak=issued.ak, sk=issued.sk
        )

        assert response.json()["kind"] == "customer"

    def test_key_acts_with_the_partner_admin_role(
        self, client: TestClient, key: ApiKey, echo: str
    ) -> None:
        response = signed(client, "GET", f"{echo}/x", ak=key.ak, sk=key.sk)

        assert response.status_code == 200, response.text
        assert response.json()["roles"] == ["partner_admin"]
        assert response.json()["credential_id"] is not None

    def test_encoded_query_with_repeated_keys_verifies(
        self, client: TestClient, key: ApiKey
    ) -> None:
        response = signed(
            client,
            "GET",
            "/api/v1/organisation",
            ak=key.ak,
            sk=key.sk,
            query=[("customer_id", "c 1/x"), ("tag", "b"), ("tag", "a")],
        )

        assert response.status_code == 200, response.text

    def test_post_with_json_body_reaches_the_route(
        self, client: TestClient, key: ApiKey, echo: str
    ) -> None:
        response = signed(
            client, "POST", f"{echo}/x", ak=key.ak, sk=key.sk, body={"note": "拨款"}
        )

        assert response.status_code == 200, response.text
        assert response.json()["payload"] == {"note": "拨款"}

    def test_post_without_body_verifies(
        self, client: TestClient, key: ApiKey, echo: str
    ) -> None:
        response = signed(client, "POST", f"{echo}/x", ak=key.ak, sk=key.sk)

        assert response.status_code == 200, response.text
        assert response.json()["payload"] is None

    def test_path_with_characters_needing_encoding_verifies(
        self, client: TestClient, key: ApiKey, echo: str
    ) -> None:
        response = signed(client, "GET", f"{echo}/a%20b%E5%AE%A2", ak=key.ak, sk=key.sk)

        assert response.status_code == 200, response.text
        assert response.json()["name"] == "a b客"

    def test_signed_non_ascii_header_verifies(
        self, client: TestClient, key: ApiKey
    ) -> None:
        response = signed(
            client,
            "GET",
            "/api/v1/organisation",
            ak=key.ak,
            sk=key.sk,
            headers={"X-Note": "华东"},
        )

        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "change", ["body", "query", "path", "header", "host", "method"]
    )
    def test_changed_request_is_refused_in_chinese(
        self, client: TestClient, key: ApiKey, echo: str, change: str
    ) -> None:
        request = sign(
            "POST",
            f"{echo}/one",
            ak=key.ak,
            sk=key.sk,
            body={"amount": "1.00"},
            query={"page": "1"},
            headers={"X-Note": "a"},
        )
        if change == "body":
            request.body = b'{"amount": "9.00"}'
        elif change == "query":
            request.query = "page=2"
        elif change == "path":
            request.path = f"{echo}/two"
        elif change == "header":
            request.headers["X-Note"] = "b"
        elif change == "host":
            request.headers["Host"] = "elsewhere.example"
        else:
            request.method = "PUT"

        status, code, message = _refusal(send(client, request))

        assert (status, code) == (401, "signature_invalid")
        assert "签名与请求不符" in message

    def test_wrong_secret_key_is_refused(self, client: TestClient, key: ApiKey) -> None:
        response = signed(
            client, "GET", "/api/v1/organisation", ak=key.ak, sk=key.sk + "x"
        )

        assert _refusal(response)[:2] == (401, "signature_invalid")

    def test_unknown_access_key_is_refused(
        self, client: TestClient, key: ApiKey
    ) -> None:
        response = signed(
            client, "GET", "/api/v1/organisation", ak="AKNOSUCHKEY000000000", sk=key.sk
        )

        status, code, message = _refusal(response)
        assert (status, code) == (401, "signature_invalid")
        assert "访问密钥不存在或已撤销" in message

    def test_date_sixteen_minutes_old_is_refused(
        self, client: TestClient, key: ApiKey, clock: FrozenClock
    ) -> None:
        request = sign("GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)
        clock.move(minutes=16)

        status, code, message = _refusal(send(client, request))

        assert (status, code) == (401, "signature_invalid")
        assert "时间相差过大" in message

    def test_date_sixteen_minutes_ahead_is_refused(
        self, client: TestClient, key: ApiKey, clock: FrozenClock
    ) -> None:
        request = sign("GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)
        clock.move(minutes=-16)

        assert _refusal(send(client, request))[:2] == (401, "signature_invalid")

    def test_date_fourteen_minutes_old_is_accepted(
        self, client: TestClient, key: ApiKey, clock: FrozenClock
    ) -> None:
        request = sign("GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)
        clock.move(minutes=14)

        assert send(client, request).status_code == 200

    @pytest.mark.parametrize("left_out", ["host", "x-sdk-date"])
    def test_host_and_date_must_be_signed(
        self, client: TestClient, key: ApiKey, left_out: str
    ) -> None:
        request = sign("GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)
        authorization = request.headers["Authorization"]
        names = authorization.split("SignedHeaders=")[1].split(",")[0]
        fewer = ";".join(name for name in names.split(";") if name != left_out)
        request.headers["Authorization"] = authorization.replace(names, fewer)

        status, code, message = _refusal(send(client, request))

        assert (status, code) == (401, "signature_invalid")
        assert "必须参与签名" in message

    def test_malformed_authorization_is_refused(
        self, client: TestClient, key: ApiKey
    ) -> None:
        request = sign("GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)
        request.headers["Authorization"] = f"AKSK {key.ak}:{key.sk}"

        status, code, message = _refusal(send(client, request))

        assert (status, code) == (401, "signature_invalid")
        assert "Authorization 请求头的格式" in message

    def test_unsigned_request_is_refused(self, client: TestClient) -> None:
        response = client.get("/api/v1/organisation")

        status, code, message = _refusal(response)
        assert (status, code) == (401, "signature_invalid")
        assert "请求未签名" in message

    def test_refusal_speaks_english_when_asked(
        self, client: TestClient, key: ApiKey
    ) -> None:
        response = client.get("/api/v1/organisation", headers={"Accept-Language": "en"})

        assert response.json()["message"] == (
            "The request is not signed: the Authorization header is missing."
        )

    def test_revoked_key_is_refused(
        self, client: TestClient, db: Session, key: ApiKey
    ) -> None:
        credential = db.scalar(
            select(ApiCredential).where(ApiCredential.access_key == key.ak)
        )
        assert credential is not None
        credentials.revoke(
            db,
            Actor(
                organisation_id=credential.organisation_id,
                organisation_kind="solution_provider",
                permissions=frozenset(),
            ),
            key.ak,
        )
        db.commit()

        response = signed(client, "GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)

        status, code, message = _refusal(response)
        assert (status, code) == (401, "credential_revoked")
        assert "该访问密钥已撤销" in message

    def test_key_of_a_deactivated_organisation_is_refused(
        self, client: TestClient, db: Session, key: ApiKey
    ) -> None:
        organisation = db.get(Organisation, key.domain_id)
        assert organisation is not None
        organisation.is_active = False
        db.commit()

        response = signed(client, "GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)

        status, code, message = _refusal(response)
        assert (status, code) == (401, "organisation_inactive")
        assert "已被云厂商停用" in message

    def test_domain_id_of_another_organisation_is_refused(
        self, client: TestClient, db: Session, key: ApiKey
    ) -> None:
        other = factories.partner(db)
        db.commit()

        response = signed(
            client,
            "GET",
            "/api/v1/organisation",
            ak=key.ak,
            sk=key.sk,
            domain_id=other.organisation.id,
        )

        status, code, message = _refusal(response)
        assert (status, code) == (401, "domain_mismatch")
        assert "X-Domain-Id" in message

    def test_last_use_is_recorded_at_most_once_a_minute(
        self,
        client: TestClient,
        db: Session,
        key: ApiKey,
        clock: FrozenClock,
    ) -> None:
        def last_used() -> dt.datetime | None:
            value = db.scalar(
                select(ApiCredential.last_used_at).where(
                    ApiCredential.access_key == key.ak
                )
            )
            db.rollback()  # SQLite: end the read so that the next request may write
            return value

        signed(client, "GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)
        first = last_used()
        clock.move(seconds=30)
        signed(client, "GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)
        unchanged = last_used()
        clock.move(seconds=31)
        signed(client, "GET", "/api/v1/organisation", ak=key.ak, sk=key.sk)

        assert first == clock.now() - dt.timedelta(seconds=61)
        assert unchanged == first
        assert last_used() == clock.now()

    def test_openapi_document_names_the_signature_scheme(
        self, client: TestClient
    ) -> None:
        document = client.get("/api/v1/openapi.json").json()

        schemes = document["components"]["securitySchemes"]
        assert schemes["SDK-HMAC-SHA256"]["name"] == "Authorization"
        operation = document["paths"]["/api/v1/organisation"]["get"]
        assert {"SDK-HMAC-SHA256": []} in operation["security"]
