"""The demo channel starts with a month of money that adds up."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter import demo
from partnercenter.core.clock import frozen, utc_now
from partnercenter.core.security import SecretBox
from partnercenter.identity.models import Organisation, OrganisationKind
from partnercenter.ledger import demo as ledger_demo
from partnercenter.ledger import queries
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import (
    AccountKind,
    Entry,
    Transfer,
    TransferKind,
    Withdrawal,
    WithdrawalStatus,
)
from partnercenter.ledger.verify import verify

BOX = SecretBox("test-secret-key-not-for-production")
NOW = dt.datetime(2026, 12, 3, 4, 30, tzinfo=dt.UTC)


def _seed(db: Session) -> None:
    with frozen(NOW):
        demo.seed(db, box=BOX)
        assert utc_now() == NOW, "the seeding gives the clock back as it found it"
    db.flush()


def _ids(db: Session, kind: OrganisationKind) -> dict[str, str]:
    rows = db.execute(
        select(Organisation.account_name, Organisation.id).where(
            Organisation.kind == kind
        )
    )
    return dict(rows.all())


def _counts(db: Session) -> tuple[int, int, int]:
    return (
        db.scalar(select(func.count()).select_from(Transfer)) or 0,
        db.scalar(select(func.count()).select_from(Entry)) or 0,
        db.scalar(select(func.count()).select_from(Withdrawal)) or 0,
    )


class TestDemoLedger:
    def test_the_books_add_up_and_every_partner_was_topped_up(
        self, db: Session
    ) -> None:
        _seed(db)

        report = verify(db)
        assert report.clean, report.problems
        partners = _ids(db, OrganisationKind.PARTNER)
        topped_up = set(
            db.scalars(
                select(Transfer.organisation_id).where(
                    Transfer.kind == TransferKind.TOPUP
                )
            )
        )
        assert set(partners.values()) <= topped_up
        kinds = set(db.scalars(select(Transfer.kind)))
        assert {
            TransferKind.INDIRECT_ALLOCATE,
            TransferKind.ALLOCATE,
            TransferKind.RECLAIM,
            TransferKind.CONSUME,
            TransferKind.REFUND,
            TransferKind.RECHARGE,
        } <= kinds
        assert ledger.partner_balances(db, partners["jade-solutions"]).credit_limit > 0

    def test_resale_customers_are_funded_and_some_are_in_arrears(
        self, db: Session
    ) -> None:
        _seed(db)

        customers = _ids(db, OrganisationKind.CUSTOMER)
        owed = ledger.debts(db, list(customers.values()))
        in_arrears = {name for name, id_ in customers.items() if owed[id_] > 0}
        assert {"lotus-clinic", "harbor-foods"} <= in_arrears
        for name in ("redwood-trading", "orchid-design"):
            balances = ledger.customer_balances(db, customers[name])
            assert balances.resale
            assert balances.allocated > 0

    def test_withdrawals_wait_and_are_paid_to_the_partners_own_bank(
        self, db: Session
    ) -> None:
        _seed(db)

        found = {w.status: w for w in db.scalars(select(Withdrawal))}
        assert set(found) == {WithdrawalStatus.PENDING, WithdrawalStatus.PAID}
        paid = found[WithdrawalStatus.PAID]
        assert paid.payment_reference
        assert paid.bank_account_encrypted is not None
        accounts = {w.bank_account for w in ledger_demo.WITHDRAWALS}
        assert BOX.open(paid.bank_account_encrypted) in accounts
        pending = found[WithdrawalStatus.PENDING]
        assert ledger.partner_balances(db, pending.organisation_id).held == (
            pending.amount
        )

    def test_statements_and_charts_show_a_month_and_nothing_in_the_future(
        self, db: Session
    ) -> None:
        _seed(db)

        times = list(db.scalars(select(Entry.created_at)))
        earliest, latest = min(times), max(times)
        if earliest.tzinfo is None:
            earliest, latest = (t.replace(tzinfo=dt.UTC) for t in (earliest, latest))
        assert NOW - dt.timedelta(days=30) < earliest
        assert latest < NOW
        partner = _ids(db, OrganisationKind.PARTNER)["xingyun-tech"]
        lines = queries.statement(db, partner, AccountKind.PARTNER_CASH).rows
        assert len({line.created_at.date() for line in lines}) > 1
        cash = ledger.find_account(db, partner, AccountKind.PARTNER_CASH)
        assert cash is not None
        series = queries.balance_series(
            db,
            cash.id,
            today=NOW.astimezone(ledger_demo.ZONE).date(),
            timezone="Asia/Shanghai",
        )
        assert len({balance for _, balance in series}) > 3

    def test_seeding_again_adds_nothing(self, db: Session) -> None:
        _seed(db)
        before = _counts(db)

        with pytest.raises(RuntimeError):
            demo.seed(db, box=BOX)
        ledger_demo.seed(db, BOX)
        db.flush()

        assert _counts(db) == before
        assert verify(db).clean
