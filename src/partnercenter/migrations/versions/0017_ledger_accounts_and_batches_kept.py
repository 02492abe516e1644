"""ledger: accounts and batches are never deleted

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

On PostgreSQL the references to accounts and batches are checked once per statement by
triggers that lock nothing (migrations 0013 and 0015). Until now an account was refused
deletion only once it carried entries, and a batch only once it had items; an account or
batch deleted in the moment its first transfer or items were being written in another
transaction, whose rows the deleting one cannot see yet, could therefore leave them naming
nothing. Neither is ever deleted by the product: an account is part of the books from the
moment it exists, and a batch is the record of what a partner asked for. Both are now
refused every deletion and truncation, on SQLite too, which closes that window without
taking a lock on every write.
"""

from collections.abc import Sequence
from importlib import import_module

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_UP = """
CREATE FUNCTION ledger_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger accounts and batches are kept: % on % refused',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
DROP TRIGGER ledger_accounts_kept ON ledger_accounts;
DROP TRIGGER ledger_accounts_no_truncate ON ledger_accounts;
CREATE TRIGGER ledger_accounts_kept BEFORE DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_delete();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_delete();
DROP TRIGGER ledger_batches_kept ON ledger_batches;
DROP TRIGGER ledger_batches_no_truncate ON ledger_batches;
DROP FUNCTION ledger_refuse_batch_delete();
CREATE TRIGGER ledger_batches_kept BEFORE DELETE ON ledger_batches
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_delete();
CREATE TRIGGER ledger_batches_no_truncate BEFORE TRUNCATE ON ledger_batches
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_delete();
"""

PG_DOWN = """
DROP TRIGGER ledger_batches_no_truncate ON ledger_batches;
DROP TRIGGER ledger_batches_kept ON ledger_batches;
DROP TRIGGER ledger_accounts_no_truncate ON ledger_accounts;
DROP TRIGGER ledger_accounts_kept ON ledger_accounts;
DROP FUNCTION ledger_refuse_delete();
CREATE TRIGGER ledger_accounts_kept BEFORE DELETE ON ledger_accounts
    FOR EACH ROW WHEN (OLD.entry_count > 0) EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""

SQLITE_TABLES = ("ledger_accounts", "ledger_batches")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)
        return
    for table in SQLITE_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_kept BEFORE DELETE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'ledger accounts and batches are kept'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
        # The batches' earlier rule: refused only while they have items.
        earlier = import_module(
            "partnercenter.migrations.versions.0015_ledger_cheaper_reference_checks"
        )
        op.execute(earlier.BATCH_DELETE_RULE)
        return
    for table in SQLITE_TABLES:
        op.execute(f"DROP TRIGGER {table}_kept")
