"""What every BSS operation goes through: the signature, flow control, repeated writes, the
error shape and the caller's language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.app import create_app
from partnercenter.bss.models import FlowWindow, SeenSignature
from partnercenter.bss.tasks import forget_flow_windows, forget_signatures
from partnercenter.core.clock import FrozenClock
from partnercenter.core.settings import Settings
from partnercenter.identity import credentials
from partnercenter.identity.models import ApiCredential
from partnercenter.identity.signing import DATE_FORMAT
from partnercenter.ledger.models import IdempotencyKey
from tests.ledger.world import World, world
from tests.signing import ApiKey, SignedRequest, api_key, send, sign

ADJUST = "/v2/accounts/partner-accounts/adjust-amount"
BALANCES = "/v2/accounts/partner-accounts/balances"
RECORDS = "/v3/accounts/partner-accounts/adjust-records"


@dataclass
class Gate:
    client: TestClient
    db: Session
    w: World
    key: ApiKey
    customer_id: str
    clock: FrozenClock

    def sign(self, method: str, path: str, **options: object) -> SignedRequest:
        return sign(
            method,
            path,
            ak=options.pop("ak", self.key.ak),  # type: ignore[arg-type]
            sk=options.pop("sk", self.key.sk),  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )

    def adjust(self, amount: str = "1.00", **options: object) -> SignedRequest:
        return self.sign(
            "POST",
            ADJUST,
            body=f'{{"customer_id": "{self.customer_id}", "amount": {amount}}}',
            **options,
        )


@pytest.fixture
def gate(app: FastAPI, client: TestClient, db: Session, clock: FrozenClock) -> Gate:
    app.state.settings.bss_rate_limit = 0
    w = world(db)
    w.topup(100_00)
    customer_id = w.customer()
    key = api_key(app, db, w.partner.organisation)
    db.commit()
    db.expire_on_commit = False
    return Gate(client, db, w, key, customer_id, clock)


def refused_by_gateway(response: object, text: str | None = None) -> None:
    assert response.status_code == 401  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error_code"] == "APIG.0301"
    assert body["error_msg"].startswith("Incorrect IAM authentication information: ")
    if text is not None:
        assert text in body["error_msg"]
    assert response.headers["x-request-id"]  # type: ignore[attr-defined]


class TestSignature:
    def test_a_good_signature_passes(self, gate: Gate) -> None:
        response = send(gate.client, gate.adjust())

        assert response.status_code == 200
        assert response.json()["transfer_id"]
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"]

    def test_a_successful_call_moves_the_keys_last_use(self, gate: Gate) -> None:
        def last_used() -> object:
            found = gate.db.scalar(
                select(ApiCredential.last_used_at).where(
                    ApiCredential.access_key == gate.key.ak
                )
            )
            gate.db.rollback()
            return found

        assert last_used() is None
        refused = gate.sign("GET", RECORDS, query={"limit": "0"})
        assert send(gate.client, refused).status_code == 400
        assert last_used() is None

        assert send(gate.client, gate.sign("GET", BALANCES)).status_code == 200
        assert last_used() == gate.clock.now()

    def test_a_tampered_body_is_refused(self, gate: Gate) -> None:
        request = gate.adjust("1.00")
        request.body = request.body.replace(b"1.00", b"9.00")

        refused_by_gateway(send(gate.client, request))

    def test_a_tampered_query_is_refused(self, gate: Gate) -> None:
        request = gate.sign("GET", RECORDS, query={"limit": "1"})
        request.query = "limit=2"

        refused_by_gateway(send(gate.client, request))

    def test_a_tampered_path_is_refused(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES)
        request.path = RECORDS

        refused_by_gateway(send(gate.client, request))

    def test_a_tampered_signed_header_is_refused(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES, headers={"X-Project-Note": "a"})
        request.headers["X-Project-Note"] = "b"

        refused_by_gateway(send(gate.client, request))

    def test_another_host_is_refused(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES)
        [name] = [n for n in request.headers if n.lower() == "host"]
        request.headers[name] = "elsewhere.example"

        refused_by_gateway(send(gate.client, request))

    def test_a_wrong_secret_key_is_refused(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES, sk="not-the-secret")

        refused_by_gateway(send(gate.client, request))

    @pytest.mark.parametrize("minutes", [-16, 16])
    def test_stale_and_future_dates_are_refused(self, gate: Gate, minutes: int) -> None:
        date = (gate.clock.now() + dt.timedelta(minutes=minutes)).strftime(DATE_FORMAT)
        request = gate.sign("GET", BALANCES, date=date)

        refused_by_gateway(send(gate.client, request))

    def test_a_date_within_the_window_passes(self, gate: Gate) -> None:
        date = (gate.clock.now() - dt.timedelta(minutes=14)).strftime(DATE_FORMAT)

        assert send(gate.client, gate.sign("GET", BALANCES, date=date)).status_code == (
            200
        )

    def test_missing_and_malformed_authorization(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES)
        del request.headers["Authorization"]
        refused_by_gateway(send(gate.client, request))

        request = gate.sign("GET", BALANCES)
        request.headers["Authorization"] = "Bearer something"
        refused_by_gateway(send(gate.client, request))

    def test_an_unknown_key_is_refused(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES, ak="UNKNOWNACCESSKEY0000")

        refused_by_gateway(send(gate.client, request))

    def test_a_revoked_key_is_refused(self, gate: Gate) -> None:
        credentials.revoke(gate.db, gate.w.actor, gate.key.ak)
        gate.db.commit()

        refused_by_gateway(send(gate.client, gate.sign("GET", BALANCES)))

    def test_the_date_and_host_must_be_signed(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES)
        authorization = request.headers["Authorization"]
        request.headers["Authorization"] = authorization.replace(
            "SignedHeaders=content-type;host;x-sdk-date",
            "SignedHeaders=content-type;x-sdk-date",
        )
        assert request.headers["Authorization"] != authorization

        refused_by_gateway(send(gate.client, request))

    def test_the_domain_id_must_be_the_keys(self, gate: Gate) -> None:
        mine = gate.sign("GET", BALANCES, domain_id=gate.key.domain_id)
        assert send(gate.client, mine).status_code == 200

        other = gate.sign("GET", BALANCES, domain_id="someone-else")
        refused_by_gateway(send(gate.client, other))


class TestRepeatedWrites:
    def test_the_same_signed_write_again_is_refused_and_moves_nothing(
        self, gate: Gate
    ) -> None:
        request = gate.adjust("2.00")

        first = send(gate.client, request)
        again = send(gate.client, request)

        assert first.status_code == 200
        assert again.status_code == 409
        assert again.json()["error_code"] == "PC.0409"
        assert gate.w.balances().cash == 98_00

    def test_a_second_later_the_same_change_is_a_new_request(self, gate: Gate) -> None:
        assert send(gate.client, gate.adjust("2.00")).status_code == 200
        gate.clock.move(seconds=1)

        assert send(gate.client, gate.adjust("2.00")).status_code == 200
        gate.db.expire_all()
        assert gate.w.balances().cash == 96_00

    def test_a_refused_write_may_be_sent_again(self, gate: Gate) -> None:
        request = gate.adjust("500.00")

        assert send(gate.client, request).json()["error_code"] == "CBC.99005003"
        assert send(gate.client, request).json()["error_code"] == "CBC.99005003"

    def test_reads_are_not_guarded(self, gate: Gate) -> None:
        request = gate.sign("GET", BALANCES)

        assert send(gate.client, request).status_code == 200
        assert send(gate.client, request).status_code == 200

    def test_the_guard_can_be_turned_off(self, app: FastAPI, gate: Gate) -> None:
        app.state.settings.bss_duplicate_guard = False
        request = gate.adjust("2.00")

        assert send(gate.client, request).status_code == 200
        assert send(gate.client, request).status_code == 200

    def test_old_signatures_are_forgotten(
        self, app: FastAPI, settings: Settings, gate: Gate
    ) -> None:
        # Customers are created through the ordinary path on both databases (on
        # PostgreSQL, allocations keep their signatures as idempotency keys instead).
        created = gate.sign(
            "POST",
            "/v2/partners/sub-customers",
            body={"xaccount_id": "x-1", "xaccount_type": "shop"},
        )
        assert send(gate.client, created).status_code == 200
        assert send(gate.client, created).json()["error_code"] == "PC.0409"
        factory = app.state.session_factory
        assert forget_signatures(factory, settings) == 0
        gate.clock.move(minutes=17)

        assert forget_signatures(factory, settings) == 1
        assert gate.db.scalar(select(func.count()).select_from(SeenSignature)) == 0


class TestFlowControl:
    def test_over_the_limit_answers_429_with_retry_after(
        self, app: FastAPI, gate: Gate
    ) -> None:
        app.state.settings.bss_rate_limit = 2

        answers = [send(gate.client, gate.sign("GET", BALANCES)) for _ in range(3)]

        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["x-ratelimit-limit"] == "2"
        assert answers[0].headers["x-ratelimit-remaining"] == "1"
        assert answers[1].headers["x-ratelimit-remaining"] == "0"
        refused = answers[2]
        assert refused.json()["error_code"] == "CBC.0250"
        assert refused.headers["retry-after"] == "1"
        gate.clock.move(seconds=1)
        assert send(gate.client, gate.sign("GET", BALANCES)).status_code == 200

    def test_each_operation_has_its_own_limit(self, app: FastAPI, gate: Gate) -> None:
        app.state.settings.bss_rate_limit = 1

        assert send(gate.client, gate.sign("GET", BALANCES)).status_code == 200
        assert send(gate.client, gate.sign("GET", RECORDS)).status_code == 200
        assert send(gate.client, gate.sign("GET", BALANCES)).status_code == 429

    def test_the_limit_holds_across_server_processes(
        self, app: FastAPI, settings: Settings, gate: Gate
    ) -> None:
        limited = settings.model_copy(update={"bss_rate_limit": 2})
        other = create_app(limited)
        app.state.settings.bss_rate_limit = 2
        try:
            with TestClient(other, base_url="http://testserver") as second:
                codes = [
                    send(gate.client, gate.sign("GET", BALANCES)).status_code,
                    send(second, gate.sign("GET", BALANCES)).status_code,
                    send(second, gate.sign("GET", BALANCES)).status_code,
                ]
        finally:
            other.state.engine.dispose()

        assert codes == [200, 200, 429]

    def test_zero_turns_it_off_and_old_counters_are_forgotten(
        self, app: FastAPI, settings: Settings, gate: Gate
    ) -> None:
        app.state.settings.bss_rate_limit = 0
        for _ in range(12):
            assert send(gate.client, gate.sign("GET", BALANCES)).status_code == 200
        assert gate.db.scalar(select(func.count()).select_from(FlowWindow)) == 0
        gate.db.rollback()

        app.state.settings.bss_rate_limit = 5
        assert send(gate.client, gate.sign("GET", BALANCES)).status_code == 200
        gate.clock.move(minutes=2)
        assert forget_flow_windows(app.state.session_factory, settings) == 1


class TestErrorShape:
    def test_messages_follow_the_callers_language(self, gate: Gate) -> None:
        english = send(gate.client, gate.adjust("0", headers={"X-Language": "en-us"}))
        chinese = send(gate.client, gate.adjust("0", headers={"X-Language": "zh-cn"}))

        assert english.json() == {
            "error_code": "CBC.0100",
            "error_msg": "amount must be greater than 0.",
        }
        assert chinese.json()["error_code"] == "CBC.0100"
        assert chinese.json()["error_msg"] != english.json()["error_msg"]
        assert "amount" in chinese.json()["error_msg"]

    def test_a_body_that_is_not_json_is_a_bad_parameter(self, gate: Gate) -> None:
        request = gate.sign("POST", ADJUST, body=b"{not json")

        response = send(gate.client, request)

        assert response.status_code == 400
        assert response.json()["error_code"] == "CBC.0100"

    def test_half_a_surrogate_pair_is_a_bad_parameter_and_nothing_moves(
        self, gate: Gate
    ) -> None:
        # JSON may escape one half of a UTF-16 pair alone; no text column can hold it.
        half = gate.sign(
            "POST",
            ADJUST,
            body=f'{{"customer_id": "{gate.customer_id}\\ud800", "amount": "1.00"}}',
        )
        whole = gate.sign(
            "POST",
            ADJUST,
            body=f'{{"customer_id": "{gate.customer_id}\\ud83d\\ude00", "amount": 1}}',
        )

        refused = send(gate.client, half)
        unknown = send(gate.client, whole)

        assert refused.status_code == 400
        assert refused.json()["error_code"] == "CBC.0100"
        assert "\\ud800" in refused.json()["error_msg"]
        # A whole pair is a character: the id is read, and is nobody's.
        assert unknown.json()["error_code"] == "CBC.99000035"
        gate.db.expire_all()
        assert gate.w.balances().cash == 100_00

    def test_a_string_amount_is_read_exactly(self, gate: Gate) -> None:
        request = gate.sign(
            "POST",
            ADJUST,
            body=f'{{"customer_id": "{gate.customer_id}", "amount": "99.99"}}',
        )

        assert send(gate.client, request).status_code == 200
        gate.db.expire_all()
        assert gate.w.balances().cash == 1


@pytest.mark.postgresql_only
class TestLedgerLane:
    def test_allocations_take_the_ledgers_lane_with_the_signature_as_key(
        self, gate: Gate
    ) -> None:
        request = gate.adjust("2.00")

        assert send(gate.client, request).status_code == 200

        keys = gate.db.scalars(select(IdempotencyKey.key)).all()
        signature = request.headers["Authorization"].rsplit("Signature=", 1)[1]
        assert keys == [f"bss:{signature.lower()}"]
        assert gate.db.scalar(select(func.count()).select_from(SeenSignature)) == 0

    def test_flow_control_counts_in_the_lane_too(
        self, app: FastAPI, gate: Gate
    ) -> None:
        app.state.settings.bss_rate_limit = 1

        first = send(gate.client, gate.adjust("1.00"))
        second = send(gate.client, gate.adjust("2.00"))

        assert first.status_code == 200
        assert first.headers["x-ratelimit-remaining"] == "0"
        assert second.status_code == 429
        assert second.json()["error_code"] == "CBC.0250"
        assert second.headers["retry-after"] == "1"
        gate.db.expire_all()
        assert gate.w.balances().cash == 99_00
