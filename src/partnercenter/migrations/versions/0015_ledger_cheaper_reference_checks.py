"""ledger: a statement's transfers look each account up once; batch items checked per statement

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

Two references that a batch writes thousands of times are checked more cheaply on
PostgreSQL, with what is accepted and refused unchanged:

* The check that every transfer's debit and credit accounts exist (migration 0013) looked up
  both accounts of every written row. A chunk's thousand transfers name 1,001 accounts
  between them (the partner's on every row), so it made two thousand look-ups where a
  thousand and one answer the same question. It now collects the distinct accounts a
  statement names and looks each up once.
* A batch's items referred to their batch by a foreign key, which looked the batch up, and
  key-share locked it, once for each of up to ten thousand items. A trigger now checks once
  per statement that the batches its items name exist. As with the key, a batch that has
  items cannot be deleted; unlike it, an item cannot be moved to another batch at all, and
  the check locks nothing: a batch with no items yet, deleted by hand while its first items
  are being written, could leave them naming no batch. The product never deletes batches.

Each item is written pending and then updated once with its outcome. Half of each page of
items is now left free, so that the updated version fits beside the first one and the
item's index entry stays as it is.
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ITEMS_KEY = "fk_ledger_batch_items_batch_id_ledger_batches"

TRANSFER_ACCOUNTS_CHECK = """
CREATE OR REPLACE FUNCTION ledger_check_transfer_accounts() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM (
            SELECT debit_account_id FROM written_transfers
            UNION
            SELECT credit_account_id FROM written_transfers
        ) AS named (account_id)
        WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts AS a WHERE a.id = named.account_id)
    ) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'a transfer names an account that does not exist',
            TABLE = 'ledger_transfers';
    END IF;
    RETURN NULL;
END
$$;
"""

BATCH_DELETE_RULE = """
-- A truncation is refused while any item is left, even one truncated in the same statement.
CREATE FUNCTION ledger_refuse_batch_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM ledger_batch_items) THEN
            RAISE foreign_key_violation USING
                MESSAGE = 'batches that have items cannot be truncated',
                TABLE = 'ledger_batches';
        END IF;
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM ledger_batch_items WHERE batch_id = OLD.id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'a batch that has items cannot be deleted',
            TABLE = 'ledger_batches';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER ledger_batches_kept BEFORE DELETE ON ledger_batches
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_batch_delete();
CREATE TRIGGER ledger_batches_no_truncate BEFORE TRUNCATE ON ledger_batches
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_batch_delete();

"""

BATCH_ITEMS_CHECK = """
CREATE FUNCTION ledger_check_item_batches() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT batch_id FROM written_items) AS named
        WHERE NOT EXISTS (SELECT 1 FROM ledger_batches AS b WHERE b.id = named.batch_id)
    ) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'a batch item names a batch that does not exist',
            TABLE = 'ledger_batch_items';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_batch_items_batch_exists AFTER INSERT ON ledger_batch_items
    REFERENCING NEW TABLE AS written_items
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_item_batches();

CREATE FUNCTION ledger_refuse_item_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = 'a batch item stays in the batch it was written in',
        TABLE = 'ledger_batch_items';
END
$$;
CREATE TRIGGER ledger_batch_items_stay BEFORE UPDATE OF batch_id ON ledger_batch_items
    FOR EACH ROW WHEN (OLD.batch_id IS DISTINCT FROM NEW.batch_id)
    EXECUTE FUNCTION ledger_refuse_item_move();

ALTER TABLE ledger_batch_items SET (fillfactor = 50);
"""

DROP_BATCH_ITEMS_CHECK = """
ALTER TABLE ledger_batch_items RESET (fillfactor);
DROP TRIGGER ledger_batches_no_truncate ON ledger_batches;
DROP TRIGGER ledger_batches_kept ON ledger_batches;
DROP FUNCTION ledger_refuse_batch_delete();
DROP TRIGGER ledger_batch_items_stay ON ledger_batch_items;
DROP FUNCTION ledger_refuse_item_move();
DROP TRIGGER ledger_batch_items_batch_exists ON ledger_batch_items;
DROP FUNCTION ledger_check_item_batches();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TRANSFER_ACCOUNTS_CHECK)
    op.drop_constraint(ITEMS_KEY, "ledger_batch_items", type_="foreignkey")
    op.execute(BATCH_ITEMS_CHECK)
    op.execute(BATCH_DELETE_RULE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(DROP_BATCH_ITEMS_CHECK)
    op.create_foreign_key(
        ITEMS_KEY, "ledger_batch_items", "ledger_batches", ["batch_id"], ["id"]
    )
    previous = importlib.import_module(
        "partnercenter.migrations.versions.0013_ledger_references_per_statement"
    )
    op.execute(previous.TRANSFER_ACCOUNTS_CHECK)
