from partnercenter.ledger import service as ledger
from partnercenter.ledger.verify import verify
from tests.ledger.world import two_tiers, world


def test_reseller(db):
    t = two_tiers(db)
    t.world.topup(100_00)
    ledger.allocate_to_reseller(
        db, t.distributor_actor, reseller_id=t.reseller.organisation.id, amount=10_00
    )


def test_bulk(db):
    w = world(db)
    w.topup(100_00)
    cs = w.customers(3)
    ledger.allocate(db, w.actor, customer_id=cs[0], amount=10_00)
    w.charge(cs[0], 3_00)
    print(w.customer_balances(cs[0]))
    r = ledger.post_charges(
        db, w.finance, [ledger.Charge("x", cs[1], 5), ledger.Charge("x", cs[1], 7)]
    )
    print(r)
    db.commit()
    print(verify(db))
