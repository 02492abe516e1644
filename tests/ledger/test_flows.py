from partnercenter.ledger import service as ledger
from partnercenter.ledger.verify import verify
from tests.ledger.world import world


def test_allocate_and_verify(db):
    w = world(db)
    w.topup(100_00)
    c = w.customer()
    r = ledger.allocate(db, w.actor, customer_id=c, amount=30_50)
    assert r.partner_balance_after == 69_50
    ledger.reclaim(db, w.actor, customer_id=c, amount=50)
    db.commit()
    assert w.balances().cash == 70_00
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == 100_00


def test_batch_and_withdrawal(db, session_factory):
    from partnercenter.core.security import SecretBox
    from partnercenter.customers.models import AssociationMode
    from partnercenter.ledger import batches, withdrawals
    from partnercenter.ledger.models import TransferKind, WithdrawalMethod

    w = world(db)
    w.topup(1000_00)
    cs = [w.customer() for _ in range(5)] + [w.customer(AssociationMode.CONSULTING)]
    b = batches.create(
        db,
        w.actor,
        kind=TransferKind.ALLOCATE,
        items=[(c, 100_00) for c in cs] + [("nope", 5)],
    )
    db.commit()
    batches.run(session_factory, b.id)
    db.rollback()
    b = db.get(type(b), b.id, populate_existing=True)
    assert (b.done_count, b.refused_count) == (5, 2)
    assert w.balances().cash == 500_00
    w.partner.organisation.legal_name = "Acme (Beijing) Ltd"
    box = SecretBox("x" * 40)
    wd = withdrawals.request(
        db,
        w.actor,
        box,
        amount=200_00,
        method=WithdrawalMethod.BANK,
        bank_holder="acme\uff08beijing\uff09 ltd",
        bank_name="ICBC",
        bank_account="6222 0000 1111 2222",
    )
    assert w.balances().cash == 300_00
    assert w.balances().held == 200_00
    withdrawals.approve(db, w.finance, wd.id)
    withdrawals.mark_paid(db, w.finance, wd.id, "BANK-1")
    db.commit()
    report = verify(db)
    assert report.clean, report.problems
    assert report.held == 800_00
