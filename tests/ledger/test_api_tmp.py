from partnercenter.ledger import service as ledger
from partnercenter.ledger.verify import verify
from tests.ledger.world import world
from tests.signing import api_key, signed


def test_allocate_via_api(app, client, db):
    w = world(db)
    w.topup(100_00)
    c = w.customer()
    key = api_key(app, db, w.partner.organisation)
    db.commit()
    body = {"customer_id": c, "amount": "10.25"}
    r = signed(
        client,
        "POST",
        "/api/v1/ledger/allocations",
        ak=key.ak,
        sk=key.sk,
        body=body,
        headers={"Idempotency-Key": "k1"},
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["partner_balance_after"] == "89.75"
    r2 = signed(
        client,
        "POST",
        "/api/v1/ledger/allocations",
        ak=key.ak,
        sk=key.sk,
        body=body,
        headers={"Idempotency-Key": "k1"},
    )
    assert r2.status_code == 201, r2.text
    assert r2.json() == first
    assert r2.headers["Idempotent-Replayed"] == "true"
    r3 = signed(
        client,
        "POST",
        "/api/v1/ledger/allocations",
        ak=key.ak,
        sk=key.sk,
        body={"customer_id": c, "amount": "10.26"},
        headers={"Idempotency-Key": "k1"},
    )
    assert r3.status_code == 409, r3.text
    r4 = signed(
        client,
        "POST",
        "/api/v1/ledger/allocations",
        ak=key.ak,
        sk=key.sk,
        body={"customer_id": c, "amount": "1000"},
        headers={"Idempotency-Key": "k2", "Accept-Language": "zh-CN"},
    )
    assert r4.status_code == 409, r4.text
    assert r4.json()["code"] == "insufficient_funds", r4.text
    r5 = signed(
        client,
        "POST",
        "/api/v1/ledger/allocation-batches",
        ak=key.ak,
        sk=key.sk,
        body={
            "items": [
                {"customer_id": c, "amount": "1.00"},
                {"customer_id": "x", "amount": 2},
            ]
        },
        headers={"Idempotency-Key": "k3"},
    )
    assert r5.status_code == 201, r5.text
    assert [i["status"] for i in r5.json()["items"]] == ["done", "refused"]
    r6 = signed(client, "GET", "/api/v1/ledger/balances", ak=key.ak, sk=key.sk)
    assert r6.json()["cash"] == "88.75", r6.text
    db.rollback()
    assert verify(db).clean
