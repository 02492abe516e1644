"""Tampering is caught: the database refuses to change or remove ledger rows, and whatever
gets past it (an administrator switching the guards off) is found by ``verify``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from partnercenter.cli import main
from partnercenter.ledger import batches
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Batch,
    Entry,
    Transfer,
    TransferKind,
)
from partnercenter.ledger.posting import entry_hash, micros
from partnercenter.ledger.verify import verify
from tests.ledger.world import World, world

NO_SUCH_REFERENCE = r"FOREIGN KEY|does not exist"
"""What SQLite's foreign keys and PostgreSQL's statement checks say of a missing row."""
ENTRY_INSERT = (
    "INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after, "
    "created_at, hash) VALUES (:transfer, :account, 99, 100, 100, CURRENT_TIMESTAMP, "
    "'forged')"
)

SQLITE_GUARDS = [
    f"{table}_no_{operation}"
    for table in ("ledger_entries", "ledger_transfers")
    for operation in ("update", "delete")
]


@dataclass
class Books:
    """A few days of business, committed: a top-up, an allocation, a charge, a reclaim."""

    partner_account: int
    customer_account: int
    allocation: str


def _books(db: Session) -> Books:
    w = world(db)
    w.topup(100_00)
    customer = w.customer()
    allocation = ledger.allocate(db, w.actor, customer_id=customer, amount=30_00)
    w.charge(customer, 5_00)
    ledger.reclaim(db, w.actor, customer_id=customer, amount=10_00)
    partner_account = ledger.account_id(
        db, w.partner.organisation.id, AccountKind.PARTNER_CASH
    )
    customer_account = ledger.account_id(db, customer, AccountKind.CUSTOMER_ALLOCATED)
    db.commit()
    report = verify(db)
    assert report.clean, report.problems
    db.rollback()
    return Books(partner_account, customer_account, allocation.transfer_id)


def _unguard(db: Session) -> None:
    """Switch off the append-only triggers, as only someone with the database's keys can."""
    if db.get_bind().dialect.name == "postgresql":
        # For this transaction only: the pooled connection keeps its guards afterwards.
        db.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for trigger in SQLITE_GUARDS:
            db.execute(text(f"DROP TRIGGER {trigger}"))


def _tamper(db: Session, *statements: str, **params: object) -> set[str]:
    """Run ``statements`` past the guards, commit, and return the checks that fail."""
    _unguard(db)
    for statement in statements:
        db.execute(text(statement), params)
    db.commit()
    report = verify(db)
    db.rollback()
    assert not report.clean
    return {problem.check for problem in report.problems}


def _last_seq(db: Session, account: int) -> int:
    return (
        db.scalar(select(func.max(Entry.seq)).where(Entry.account_id == account)) or 0
    )


class TestTheDatabaseRefuses:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE ledger_entries SET amount = amount + 1",
            "UPDATE ledger_entries SET balance_after = 0",
            "DELETE FROM ledger_entries",
            "UPDATE ledger_transfers SET amount = amount + 1",
            "UPDATE ledger_transfers SET kind = 'topup'",
            "DELETE FROM ledger_transfers",
        ],
    )
    def test_a_ledger_row_cannot_be_changed_or_removed(
        self, db: Session, statement: str
    ) -> None:
        _books(db)

        with pytest.raises(DatabaseError, match="append-only"):
            db.execute(text(statement))
        db.rollback()

        report = verify(db)
        assert report.clean, report.problems
        assert (report.transfers, report.entries) == (4, 8)

    def test_a_transfer_needs_accounts_that_exist(self, db: Session) -> None:
        books = _books(db)

        for debit, credit in (
            (999_999, books.customer_account),
            (books.partner_account, 999_999),
        ):
            with pytest.raises(DatabaseError, match=NO_SUCH_REFERENCE):
                db.execute(
                    text(
                        "INSERT INTO ledger_transfers (id, kind, debit_account_id, "
                        "credit_account_id, amount, currency, created_at) VALUES "
                        "('AD-forged', 'allocate', :debit, :credit, 100, 'CNY', "
                        "CURRENT_TIMESTAMP)"
                    ),
                    {"debit": debit, "credit": credit},
                )
            db.rollback()
        assert verify(db).transfers == 4

    def test_one_missing_account_among_many_transfers_refuses_the_statement(
        self, db: Session
    ) -> None:
        # Like a batch chunk: many transfers from one partner in one statement, the same
        # account named again and again, and a single row naming an account that is gone.
        books = _books(db)
        rows = [
            {
                "id": f"AD-many-{n}",
                "kind": "allocate",
                "debit_account_id": books.partner_account,
                "credit_account_id": 999_999 if n == 7 else books.customer_account,
                "amount": 100,
                "currency": "CNY",
                "created_at": dt.datetime.now(dt.UTC),
            }
            for n in range(12)
        ]
        with pytest.raises(DatabaseError, match=NO_SUCH_REFERENCE):
            db.execute(insert(Transfer).values(rows))
        db.rollback()
        assert verify(db).transfers == 4

    def test_an_entry_needs_a_transfer_that_exists(self, db: Session) -> None:
        books = _books(db)

        with pytest.raises(DatabaseError, match=NO_SUCH_REFERENCE):
            db.execute(
                text(ENTRY_INSERT),
                {"transfer": "AD-missing", "account": books.partner_account},
            )
        db.rollback()
        assert verify(db).entries == 8

    @pytest.mark.postgresql_only
    def test_an_entry_must_be_on_one_of_its_transfers_sides(self, db: Session) -> None:
        books = _books(db)
        topup = db.scalar(select(Transfer.id).where(Transfer.kind == "topup"))

        # The top-up's sides are the vendor's clearing and the partner's balance.
        with pytest.raises(DatabaseError, match="not one of its sides"):
            db.execute(
                text(ENTRY_INSERT),
                {"transfer": topup, "account": books.customer_account},
            )
        db.rollback()
        assert verify(db).clean

    @pytest.mark.postgresql_only
    def test_the_reference_checks_look_rows_up_by_key_whatever_the_tables_size(
        self, db: Session
    ) -> None:
        # A connection keeps a trigger function's plan until the statistics change; one
        # made while the transfers table was nearly empty scanned all of it for every
        # entry once it had grown.
        settings = dict(
            db.execute(
                text(
                    "SELECT proname, array_to_string(proconfig, ',') FROM pg_proc "
                    "WHERE proname IN ('ledger_check_entry_sides', "
                    "'ledger_check_transfer_accounts', 'ledger_check_item_batches')"
                )
            ).all()
        )
        assert set(settings) == {
            "ledger_check_entry_sides",
            "ledger_check_transfer_accounts",
            "ledger_check_item_batches",
        }
        for config in settings.values():
            assert {
                "enable_seqscan=off",
                "enable_hashjoin=off",
                "enable_mergejoin=off",
            } <= set(config.split(","))

    def test_an_account_with_entries_cannot_be_deleted(self, db: Session) -> None:
        books = _books(db)

        with pytest.raises(DatabaseError, match="are kept"):
            db.execute(
                text("DELETE FROM ledger_accounts WHERE id = :id"),
                {"id": books.customer_account},
            )
        db.rollback()
        assert verify(db).clean

    def test_an_account_without_entries_is_kept_too(self, db: Session) -> None:
        # Another transaction may be writing the account's first transfer right now,
        # which this one cannot see: deleting it would leave that transfer naming nothing.
        w = world(db)
        customer = w.customer()
        account = ledger.account_id(db, customer, AccountKind.CUSTOMER_ALLOCATED)
        db.commit()

        with pytest.raises(DatabaseError, match="are kept"):
            db.execute(
                text("DELETE FROM ledger_accounts WHERE id = :id"), {"id": account}
            )
        db.rollback()
        assert db.get(Account, account) is not None

    @pytest.mark.postgresql_only
    def test_postgresql_refuses_truncation_too(self, db: Session) -> None:
        _books(db)

        for table in ("ledger_entries", "ledger_transfers"):
            with pytest.raises(DatabaseError, match="append-only"):
                db.execute(text(f"TRUNCATE {table} CASCADE"))
            db.rollback()
        assert verify(db).entries == 8


def _batch_of_two(db: Session, w: World | None = None) -> str:
    w = w or world(db)
    items = [(w.customer(), 1_00), (w.customer(), 2_00)]
    batch = batches.create(db, w.actor, kind=TransferKind.ALLOCATE, items=items)
    db.commit()
    return batch.id


ITEM_INSERT = (
    "INSERT INTO ledger_batch_items (batch_id, position, customer_id, amount, status) "
    "VALUES (:batch, 0, 'c', 100, 'pending'), (:batch, 1, 'c', 100, 'pending'), "
    "(:other, 2, 'c', 100, 'pending')"
)


class TestBatchItemsReferTheirBatch:
    def test_an_item_needs_a_batch_that_exists(self, db: Session) -> None:
        batch_id = _batch_of_two(db)

        # One statement writing items of a real batch and one of a batch that is not there.
        with pytest.raises(DatabaseError, match=r"FOREIGN KEY|does not exist"):
            db.execute(text(ITEM_INSERT), {"batch": "no-such-batch", "other": batch_id})
        db.rollback()
        assert batches.counts_by_error(db, batch_id) == {}
        assert len(batches.item_rows(db, batch_id)) == 2

    def test_a_batch_with_items_cannot_be_deleted(self, db: Session) -> None:
        batch_id = _batch_of_two(db)

        with pytest.raises(DatabaseError, match="are kept"):
            db.execute(
                text("DELETE FROM ledger_batches WHERE id = :id"), {"id": batch_id}
            )
        db.rollback()
        assert db.get(Batch, batch_id) is not None

    def test_a_batch_whose_items_are_gone_is_kept_too(self, db: Session) -> None:
        # The check of written items locks no batch, so a batch is never deleted: one
        # that looked empty could be receiving its items in another transaction.
        batch_id = _batch_of_two(db)
        db.execute(
            text("DELETE FROM ledger_batch_items WHERE batch_id = :id"),
            {"id": batch_id},
        )

        with pytest.raises(DatabaseError, match="are kept"):
            db.execute(
                text("DELETE FROM ledger_batches WHERE id = :id"), {"id": batch_id}
            )
        db.rollback()
        assert db.get(Batch, batch_id) is not None
        assert len(batches.item_rows(db, batch_id)) == 2

    def test_an_item_cannot_be_moved_to_a_batch_that_is_not_there(
        self, db: Session
    ) -> None:
        batch_id = _batch_of_two(db)

        with pytest.raises(DatabaseError, match=r"FOREIGN KEY|stays in the batch"):
            db.execute(
                text("UPDATE ledger_batch_items SET batch_id = 'elsewhere'"),
            )
        db.rollback()
        assert len(batches.item_rows(db, batch_id)) == 2

    @pytest.mark.postgresql_only
    def test_postgresql_keeps_items_in_their_batch_and_batches_untruncated(
        self, db: Session
    ) -> None:
        w = world(db)
        first = _batch_of_two(db, w)
        second = _batch_of_two(db, w)

        with pytest.raises(DatabaseError, match="stays in the batch"):
            db.execute(
                text(
                    "UPDATE ledger_batch_items SET batch_id = :to WHERE batch_id = :at"
                ),
                {"to": second, "at": first},
            )
        db.rollback()
        for table in ("ledger_batches", "ledger_accounts"):
            with pytest.raises(DatabaseError, match="are kept"):
                db.execute(text(f"TRUNCATE {table} CASCADE"))
            db.rollback()
        db.rollback()
        assert [len(batches.item_rows(db, b)) for b in (first, second)] == [2, 2]


class TestVerifyFindsTampering:
    def test_a_changed_amount_breaks_the_chain(self, db: Session) -> None:
        books = _books(db)

        checks = _tamper(
            db,
            "UPDATE ledger_entries SET amount = amount - 1 "
            "WHERE account_id = :account AND seq = 1",
            account=books.partner_account,
        )

        assert "chain_balance" in checks
        assert "transfer_balanced" in checks

    def test_an_amount_changed_with_its_balance_after_is_caught_by_the_hash(
        self, db: Session
    ) -> None:
        books = _books(db)
        last = _last_seq(db, books.customer_account)

        checks = _tamper(
            db,
            "UPDATE ledger_entries SET amount = amount + 100, "
            "balance_after = balance_after + 100 "
            "WHERE account_id = :account AND seq = :seq",
            account=books.customer_account,
            seq=last,
        )

        assert "chain_hash" in checks
        assert "chain_balance" not in checks

    def test_a_changed_time_is_caught_by_the_hash_and_the_transfers_time(
        self, db: Session
    ) -> None:
        books = _books(db)
        first = db.scalars(
            select(Entry).where(
                Entry.account_id == books.partner_account, Entry.seq == 1
            )
        ).one()
        earlier = first.created_at - dt.timedelta(days=1)
        db.rollback()
        _unguard(db)
        db.execute(
            update(Entry)
            .where(Entry.account_id == books.partner_account, Entry.seq == 1)
            .values(created_at=earlier)
        )
        db.commit()

        report = verify(db)

        # The entry no longer carries its transfer's time, by which it would be found.
        assert {(p.check, p.subject) for p in report.problems} == {
            ("entry_time", f"account {books.partner_account} entry 1"),
            ("chain_hash", f"account {books.partner_account} entry 1"),
        }

    def test_a_deleted_last_entry_leaves_the_account_total_unexplained(
        self, db: Session
    ) -> None:
        books = _books(db)
        last = _last_seq(db, books.partner_account)

        checks = _tamper(
            db,
            "DELETE FROM ledger_entries WHERE account_id = :account AND seq = :seq",
            account=books.partner_account,
            seq=last,
        )

        assert "account_total" in checks
        assert "transfer_balanced" in checks

    def test_a_deleted_middle_entry_leaves_a_gap(self, db: Session) -> None:
        books = _books(db)
        assert _last_seq(db, books.customer_account) == 3

        checks = _tamper(
            db,
            "DELETE FROM ledger_entries WHERE account_id = :account AND seq = 2",
            account=books.customer_account,
        )

        assert "chain_sequence" in checks

    def test_a_changed_account_balance_no_longer_matches_its_entries(
        self, db: Session
    ) -> None:
        books = _books(db)

        # Account rows carry no append-only guard: they change with every transfer.
        db.execute(
            update(Account)
            .where(Account.id == books.partner_account)
            .values(balance=Account.balance + 50_00)
        )
        db.commit()
        report = verify(db)

        checks = {p.check for p in report.problems}
        assert {"account_total", "double_entry", "money_conserved"} <= checks
        [total] = [p for p in report.problems if p.check == "account_total"]
        assert total.subject == f"account {books.partner_account}"
        assert "stores balance 13000" in total.detail

    @pytest.mark.postgresql_only
    def test_rows_naming_missing_transfers_or_accounts_are_caught(
        self, db: Session
    ) -> None:
        books = _books(db)

        # With the triggers off, nothing checks the references as they are written.
        checks = _tamper(
            db,
            ENTRY_INSERT,
            "INSERT INTO ledger_transfers (id, kind, debit_account_id, "
            "credit_account_id, amount, currency, created_at) VALUES "
            "('AD-forged', 'allocate', 999999, :account, 100, 'CNY', CURRENT_TIMESTAMP)",
            transfer="AD-missing",
            account=books.partner_account,
        )

        assert {"entry_reference", "transfer_reference"} <= checks
        report = verify(db)
        [entry] = [p for p in report.problems if p.check == "entry_reference"]
        assert entry.subject == f"account {books.partner_account} entry 99"
        [transfer] = [p for p in report.problems if p.check == "transfer_reference"]
        assert transfer.subject == "AD-forged"

    def test_a_changed_transfer_kind_is_caught(self, db: Session) -> None:
        books = _books(db)

        checks = _tamper(
            db,
            "UPDATE ledger_transfers SET kind = 'topup' WHERE id = :id",
            id=books.allocation,
        )

        assert "transfer_route" in checks
        assert "chain_hash" in checks

    def test_money_out_of_thin_air_is_caught(self, db: Session) -> None:
        books = _books(db)
        last = _last_seq(db, books.partner_account)

        checks = _tamper(
            db,
            "UPDATE ledger_entries SET amount = amount + 1000000, "
            "balance_after = balance_after + 1000000 "
            "WHERE account_id = :account AND seq = :seq",
            "UPDATE ledger_accounts SET balance = balance + 1000000 "
            "WHERE id = :account",
            account=books.partner_account,
            seq=last,
        )

        assert {"double_entry", "money_conserved", "transfer_balanced"} <= checks

    def test_a_forged_entry_with_a_correct_hash_still_breaks_double_entry(
        self, db: Session
    ) -> None:
        books = _books(db)
        account = db.get(Account, books.partner_account)
        assert account is not None
        forged_at = db.scalar(
            select(Transfer.created_at).where(Transfer.id == books.allocation)
        )
        assert forged_at is not None
        seq = account.entry_count + 1
        balance = account.balance + 500_00
        forged_hash = entry_hash(
            account.last_hash,
            account_id=account.id,
            seq=seq,
            transfer_id=books.allocation,
            kind="allocate",
            amount=500_00,
            balance_after=balance,
            at_micros=micros(forged_at),
        )
        db.add(
            Entry(
                transfer_id=books.allocation,
                account_id=account.id,
                seq=seq,
                amount=500_00,
                balance_after=balance,
                created_at=forged_at,
                hash=forged_hash,
            )
        )
        account.balance, account.entry_count, account.last_hash = (
            balance,
            seq,
            forged_hash,
        )
        db.commit()

        report = verify(db)

        # The chain itself is consistent; the books as a whole are not.
        checks = {p.check for p in report.problems}
        assert "chain_hash" not in checks
        assert {"transfer_balanced", "double_entry", "money_conserved"} <= checks


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Callable[..., Result]:
    env = {
        "PARTNERCENTER_DATABASE_URL": database_url,
        "PARTNERCENTER_DATA_DIR": str(tmp_path / "cli-data"),
        "PARTNERCENTER_SECRET_KEY": "test-secret-key-not-for-production",
        "PARTNERCENTER_LOG_LEVEL": "ERROR",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env)

    return invoke


class TestVerifyCommand:
    def test_clean_books_exit_0(self, db: Session, run: Callable[..., Result]) -> None:
        _books(db)

        result = run("ledger", "verify")

        assert result.exit_code == 0, result.output
        assert "4 transfers, 8 entries" in result.output
        assert "Ledger clean." in result.output
        assert "PROBLEM" not in result.output

    def test_problems_are_printed_and_exit_1(
        self, db: Session, run: Callable[..., Result]
    ) -> None:
        books = _books(db)
        db.execute(
            update(Account)
            .where(Account.id == books.partner_account)
            .values(balance=Account.balance + 1)
        )
        db.commit()
        db.rollback()

        result = run("ledger", "verify")

        assert result.exit_code == 1, result.output
        assert f"PROBLEM account_total: account {books.partner_account}" in (
            result.output
        )
        assert "PROBLEM double_entry" in result.output
        assert "Ledger clean." not in result.output

    def test_the_report_as_json(self, db: Session, run: Callable[..., Result]) -> None:
        _books(db)

        result = run("ledger", "verify", "--json")

        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["clean"] is True
        assert (report["transfers"], report["entries"]) == (4, 8)
        assert report["held"] == report["inflow"] == "95.00"
        assert report["problems"] == []
