"""ledger: on PostgreSQL, entries' and transfers' references checked once per statement

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

A foreign key checks its reference with one look-up per written row. A batch chunk writes a
thousand transfers and two thousand entries in three statements, and those six thousand
look-ups cost as much as writing the rows. On PostgreSQL the four keys from entries and
transfers to their transfer and accounts are replaced by triggers that check the same, and
a little more, with one set-based query per statement:

* every transfer's debit and credit accounts exist;
* every entry's transfer exists and the entry's account is one of that transfer's two sides
  (a key could only say that the account exists).

Each check looks the rows up by their primary keys, whatever the tables' size: sequential
scans and hash and merge joins are off inside the two functions. PL/pgSQL keeps a function's
plan until the tables' statistics change (with autovacuum off, for as long as the connection
lives), so a plan made while the tables were nearly empty could otherwise go on scanning the
whole table of transfers for every entry once it is large.

A failed check raises PostgreSQL's foreign-key error, so callers see what a key would have
raised. A key also stops the row it refers to from being deleted; entries and transfers are
append-only already, and accounts that carry entries now refuse to be deleted. Unlike a key,
the checks lock nothing: an account with no entries yet, deleted by hand while its first
transfer is being written, could leave that transfer naming no account. The product never
deletes accounts, and ``partnercenter ledger verify`` reports such a transfer. SQLite keeps
its foreign keys: a per-row check is what it does anyway.

Account rows change with every transfer; a fifth of each page of them is now left free, so
that the new version of a row fits beside the old one and its indexes need no new entry
(pages written before keep their fill until the table is rewritten, e.g. by VACUUM FULL).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "fk_ledger_entries_transfer_id_ledger_transfers": (
        "ledger_entries",
        "transfer_id",
        "ledger_transfers",
    ),
    "fk_ledger_entries_account_id_ledger_accounts": (
        "ledger_entries",
        "account_id",
        "ledger_accounts",
    ),
    "fk_ledger_transfers_debit_account_id_ledger_accounts": (
        "ledger_transfers",
        "debit_account_id",
        "ledger_accounts",
    ),
    "fk_ledger_transfers_credit_account_id_ledger_accounts": (
        "ledger_transfers",
        "credit_account_id",
        "ledger_accounts",
    ),
}

TRANSFER_ACCOUNTS_CHECK = """
CREATE OR REPLACE FUNCTION ledger_check_transfer_accounts() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM written_transfers AS t
        WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts AS a WHERE a.id = t.debit_account_id)
           OR NOT EXISTS (SELECT 1 FROM ledger_accounts AS a WHERE a.id = t.credit_account_id)
    ) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'a transfer names an account that does not exist',
            TABLE = 'ledger_transfers';
    END IF;
    RETURN NULL;
END
$$;
"""

UP = """
CREATE TRIGGER ledger_transfers_accounts_exist AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS written_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_transfer_accounts();

CREATE FUNCTION ledger_check_entry_sides() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM written_entries AS e
        WHERE NOT EXISTS (
            SELECT 1 FROM ledger_transfers AS t
            WHERE t.id = e.transfer_id
              AND e.account_id IN (t.debit_account_id, t.credit_account_id)
        )
    ) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'an entry names a transfer that does not exist, or an account '
                      'that is not one of its sides',
            TABLE = 'ledger_entries';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entries_sides_exist AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS written_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_entry_sides();

CREATE TRIGGER ledger_accounts_kept BEFORE DELETE ON ledger_accounts
    FOR EACH ROW WHEN (OLD.entry_count > 0) EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

ALTER TABLE ledger_accounts SET (fillfactor = 80);
"""

DOWN = """
ALTER TABLE ledger_accounts RESET (fillfactor);
DROP TRIGGER ledger_accounts_no_truncate ON ledger_accounts;
DROP TRIGGER ledger_accounts_kept ON ledger_accounts;
DROP TRIGGER ledger_entries_sides_exist ON ledger_entries;
DROP FUNCTION ledger_check_entry_sides();
DROP TRIGGER ledger_transfers_accounts_exist ON ledger_transfers;
DROP FUNCTION ledger_check_transfer_accounts();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, _, _) in KEYS.items():
        op.drop_constraint(name, table, type_="foreignkey")
    op.execute(TRANSFER_ACCOUNTS_CHECK)
    op.execute(UP)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(DOWN)
    for name, (table, column, target) in KEYS.items():
        op.create_foreign_key(name, table, target, [column], ["id"])
