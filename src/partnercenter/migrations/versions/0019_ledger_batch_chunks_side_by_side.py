"""ledger: a batch's chunks run side by side, the partner's account locked last; the
transfers' originals indexed only where there are some

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

A batch of allocations whose total the partner's funds cover (or of reclaims from customers
that each appear once) decides nothing by the order of its chunks, so the server runs two of
them at a time, each in its own transaction. What they share is the partner's account, whose
row lock every chunk takes; for them to overlap, a chunk must hold that lock for as short a
time as possible.

``ledger_post_many`` is 0018's ``ledger_transfer_many`` with one choice more,
``p_partner_last``. Without it the partner's account is locked before the items are decided,
as before. With it, the customers' side of every item is decided and written first (their
transfers, entries and accounts) and the partner's account is locked only for its own
entries and figures at the end. An allocation chunk taken this way checks, under that lock,
that the partner's funds still cover the chunk's total: when a payment made meanwhile
leaves them short, it raises ``PC001`` and the chunk is decided again the first way, item by
item in order. The lock order (customers' accounts by id, then the partner's) is the one
every writer keeps.

``ledger_transfer_many`` keeps its arguments and answers and now calls ``ledger_post_many``
the first way.

``ledger_batch_chunk`` changes its arguments. It no longer relies on the caller holding the
batch's row lock: chunks are fixed runs of ``p_limit`` positions, and a chunk takes a
transaction-level advisory lock on (batch, run) before it reads that run's pending items,
so two runners never post an item twice. It adds its outcomes to the batch's counts itself
(the batch's row is the last lock it takes) and tells the caller whether the batch is done.

Most transfers (every allocation) correct no original, yet each was entered in the index of
originals: it now holds only the corrections.
"""

from collections.abc import Sequence
from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_POST_MANY = """
CREATE FUNCTION ledger_post_many(
    p_kind text, p_funding text, p_currency text, p_customers text[], p_amounts bigint[],
    p_transfer_ids text[], p_at timestamptz, p_reason text, p_actor_user text,
    p_actor_org text, p_credential bigint, p_request_id text, p_max_amount bigint,
    p_partner_last boolean
) RETURNS TABLE (transfer_id text, error_code text)
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := coalesce(array_length(p_customers, 1), 0);
    v_allocating boolean := p_kind = 'allocate';
    v_us bigint := (extract(epoch FROM p_at) * 1000000)::bigint;
    v_modes jsonb;
    v_slots jsonb;
    v_mode text;
    v_error text[] := array_fill(NULL::text, ARRAY[v_n]);
    v_wanted text[] := '{}';
    v_partner ledger_accounts%ROWTYPE;
    v_partner_id bigint;
    v_accounts integer;
    v_pass integer;
    v_room bigint;
    v_signed bigint;
    v_total bigint := 0;
    i integer;
    j integer;
    k integer := 0;
    m integer;
    -- The candidates' accounts (distinct, by id) as each posted item leaves them.
    c_id bigint[];
    c_org text[];
    c_balance bigint[];
    c_designated bigint[];
    c_count bigint[];
    c_hash text[];
    c_changed boolean[];
    -- The posted items in order: the item, its customer's slot above, and the sequence
    -- number, balance after and hash of the customer's entry, then of the partner's.
    w_item integer[] := array_fill(NULL::integer, ARRAY[v_n]);
    w_slot integer[] := array_fill(NULL::integer, ARRAY[v_n]);
    w_seq bigint[] := array_fill(NULL::bigint, ARRAY[v_n]);
    w_balance bigint[] := array_fill(NULL::bigint, ARRAY[v_n]);
    w_hash text[] := array_fill(NULL::text, ARRAY[v_n]);
    w_partner_balance bigint[] := array_fill(NULL::bigint, ARRAY[v_n]);
    w_partner_hash text[] := array_fill(NULL::text, ARRAY[v_n]);
BEGIN
    IF v_n = 0 THEN RETURN; END IF;

    -- Share-locked: an association change locks the row before it moves money.
    SELECT coalesce(jsonb_object_agg(s.customer_id, s.mode), '{}') INTO v_modes
        FROM (SELECT a.customer_id, a.mode FROM associations a
              WHERE a.customer_id = ANY (p_customers) AND a.status = 'active'
                AND a.organisation_id = p_funding
              FOR SHARE) AS s;

    -- What each item can be refused for before any balance is looked at.
    FOR i IN 1 .. v_n LOOP
        v_mode := v_modes ->> p_customers[i];
        IF p_amounts[i] IS NULL OR p_amounts[i] <= 0 OR p_amounts[i] > p_max_amount THEN
            v_error[i] := 'invalid_amount';
        ELSIF v_mode IS NULL THEN
            v_error[i] := 'not_your_customer';
        ELSIF v_mode <> 'resale' THEN
            v_error[i] := 'consulting_customer';
        ELSE
            v_wanted := v_wanted || p_customers[i];
        END IF;
    END LOOP;

    -- The partner's account, opened if missing (it is locked after the customers').
    SELECT a.id INTO v_partner_id FROM ledger_accounts a
        WHERE a.organisation_id = p_funding AND a.kind = 'partner_cash'
          AND a.currency = p_currency;
    IF NOT FOUND THEN
        INSERT INTO ledger_accounts (organisation_id, kind, currency, balance, credit_limit,
                designated, entry_count, last_hash, created_at, updated_at)
            VALUES (p_funding, 'partner_cash', p_currency, 0, 0, 0, 0, repeat('0', 64),
                    p_at, p_at)
            ON CONFLICT DO NOTHING;
        SELECT a.id INTO v_partner_id FROM ledger_accounts a
            WHERE a.organisation_id = p_funding AND a.kind = 'partner_cash'
              AND a.currency = p_currency;
    END IF;

    -- The customers' accounts in id order, then (now, or at the end) the partner's: the
    -- order every writer keeps. Their figures are read once and kept here. Accounts that
    -- are missing are opened, as the Python side does, and all are read again.
    SELECT count(DISTINCT w.customer_id) INTO v_accounts
        FROM unnest(v_wanted) AS w(customer_id);
    FOR v_pass IN 1 .. 2 LOOP
        SELECT array_agg(s.id ORDER BY s.id), array_agg(s.organisation_id ORDER BY s.id),
               array_agg(s.balance ORDER BY s.id), array_agg(s.designated ORDER BY s.id),
               array_agg(s.entry_count ORDER BY s.id), array_agg(s.last_hash ORDER BY s.id)
            INTO c_id, c_org, c_balance, c_designated, c_count, c_hash
            FROM (SELECT a.id, a.organisation_id, a.balance, a.designated, a.entry_count,
                         a.last_hash
                  FROM ledger_accounts a
                  WHERE a.organisation_id = ANY (v_wanted)
                    AND a.kind = 'customer_allocated' AND a.currency = p_currency
                  ORDER BY a.id
                  FOR NO KEY UPDATE) AS s;
        EXIT WHEN v_pass = 2 OR coalesce(array_length(c_id, 1), 0) = v_accounts;
        INSERT INTO ledger_accounts (organisation_id, kind, currency, balance,
                credit_limit, designated, entry_count, last_hash, created_at, updated_at)
            SELECT DISTINCT w.customer_id, 'customer_allocated', p_currency, 0, 0, 0, 0,
                   repeat('0', 64), p_at, p_at
            FROM unnest(v_wanted) AS w(customer_id)
            WHERE NOT EXISTS (
                SELECT 1 FROM ledger_accounts a
                WHERE a.organisation_id = w.customer_id
                  AND a.kind = 'customer_allocated' AND a.currency = p_currency)
            ON CONFLICT DO NOTHING;
    END LOOP;
    IF NOT p_partner_last THEN
        SELECT * INTO v_partner FROM ledger_accounts WHERE id = v_partner_id
            FOR NO KEY UPDATE;
    END IF;
    c_changed := array_fill(false, ARRAY[coalesce(array_length(c_id, 1), 0)]);
    SELECT coalesce(jsonb_object_agg(c.organisation_id, c.slot), '{}') INTO v_slots
        FROM unnest(c_org) WITH ORDINALITY AS c(organisation_id, slot);

    FOR i IN 1 .. v_n LOOP
        CONTINUE WHEN v_error[i] IS NOT NULL;
        j := (v_slots ->> p_customers[i])::integer;
        IF NOT v_allocating THEN
            v_room := c_balance[j] - c_designated[j];
        ELSIF p_partner_last THEN
            -- The chunk's total is checked against the partner's funds under its lock.
            v_room := p_amounts[i];
        ELSE
            -- What the partner can give after the items posted before this one.
            v_room := v_partner.balance + v_partner.credit_limit - v_partner.designated
                      - v_total;
        END IF;
        IF p_amounts[i] > v_room THEN
            v_error[i] := 'insufficient_funds';
            CONTINUE;
        END IF;
        k := k + 1;
        -- What the customer's account gains (an allocation) or loses (a reclaim).
        v_signed := CASE WHEN v_allocating THEN p_amounts[i] ELSE -p_amounts[i] END;
        v_total := v_total + p_amounts[i];
        c_balance[j] := c_balance[j] + v_signed;
        c_count[j] := c_count[j] + 1;
        c_hash[j] := encode(sha256(convert_to(concat_ws('|', c_hash[j], c_id[j],
            c_count[j], p_transfer_ids[i], p_kind, v_signed, c_balance[j], v_us),
            'UTF8')), 'hex');
        c_changed[j] := true;
        w_item[k] := i;
        w_slot[k] := j;
        w_seq[k] := c_count[j];
        w_balance[k] := c_balance[j];
        w_hash[k] := c_hash[j];
    END LOOP;

    IF k > 0 THEN
        -- Transfers before their entries, which are checked against them.
        INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id,
                amount, currency, organisation_id, counterparty_id, external_ref,
                original_id, reason, actor_user_id, actor_organisation_id,
                actor_credential_id, request_id, created_at)
            SELECT p_transfer_ids[w.item], p_kind,
                   CASE WHEN v_allocating THEN v_partner_id ELSE c_id[w.slot] END,
                   CASE WHEN v_allocating THEN c_id[w.slot] ELSE v_partner_id END,
                   p_amounts[w.item], p_currency, p_funding, p_customers[w.item], NULL,
                   NULL, p_reason, p_actor_user, p_actor_org, p_credential,
                   p_request_id, p_at
            FROM unnest(w_item[1:k], w_slot[1:k]) AS w(item, slot);
        INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after,
                created_at, hash)
            SELECT p_transfer_ids[w.item], c_id[w.slot], w.seq,
                   CASE WHEN v_allocating THEN p_amounts[w.item]
                        ELSE -p_amounts[w.item] END,
                   w.balance, p_at, w.hash
            FROM unnest(w_item[1:k], w_slot[1:k], w_seq[1:k], w_balance[1:k],
                        w_hash[1:k]) AS w(item, slot, seq, balance, hash);
        UPDATE ledger_accounts AS a
            SET balance = v.balance, entry_count = v.entry_count,
                last_hash = v.last_hash, updated_at = p_at
            FROM unnest(c_id, c_balance, c_count, c_hash, c_changed)
                 AS v(id, balance, entry_count, last_hash, changed)
            WHERE a.id = v.id AND v.changed;
        IF p_partner_last THEN
            -- The partner's lock, and the check of its funds for the whole chunk.
            SELECT * INTO v_partner FROM ledger_accounts WHERE id = v_partner_id
                FOR NO KEY UPDATE;
            IF v_allocating AND v_total >
                    v_partner.balance + v_partner.credit_limit - v_partner.designated THEN
                RAISE EXCEPTION 'the partner''s funds fell short under the lock'
                    USING ERRCODE = 'PC001';
            END IF;
        END IF;
        -- The partner's entries in the items' order, its entry m numbered
        -- entry_count + m.
        FOR m IN 1 .. k LOOP
            i := w_item[m];
            v_signed := CASE WHEN v_allocating THEN p_amounts[i] ELSE -p_amounts[i] END;
            v_partner.balance := v_partner.balance - v_signed;
            v_partner.last_hash := encode(sha256(convert_to(concat_ws('|',
                v_partner.last_hash, v_partner.id, v_partner.entry_count + m,
                p_transfer_ids[i], p_kind, -v_signed, v_partner.balance, v_us),
                'UTF8')), 'hex');
            w_partner_balance[m] := v_partner.balance;
            w_partner_hash[m] := v_partner.last_hash;
        END LOOP;
        INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after,
                created_at, hash)
            SELECT p_transfer_ids[w.item], v_partner.id, v_partner.entry_count + w.m,
                   CASE WHEN v_allocating THEN -p_amounts[w.item]
                        ELSE p_amounts[w.item] END,
                   w.balance, p_at, w.hash
            FROM unnest(w_item[1:k], w_partner_balance[1:k], w_partner_hash[1:k])
                 WITH ORDINALITY AS w(item, balance, hash, m);
        UPDATE ledger_accounts SET balance = v_partner.balance,
                entry_count = v_partner.entry_count + k,
                last_hash = v_partner.last_hash, updated_at = p_at
            WHERE id = v_partner.id;
    END IF;

    RETURN QUERY
        SELECT CASE WHEN r.error IS NULL THEN r.transfer_id END, r.error
        FROM unnest(p_transfer_ids[1:v_n], v_error) AS r(transfer_id, error);
END
$$;
"""

PG_TRANSFER_MANY = """
CREATE FUNCTION ledger_transfer_many(
    p_kind text, p_funding text, p_currency text, p_customers text[], p_amounts bigint[],
    p_transfer_ids text[], p_at timestamptz, p_reason text, p_actor_user text,
    p_actor_org text, p_credential bigint, p_request_id text, p_max_amount bigint
) RETURNS TABLE (transfer_id text, error_code text)
LANGUAGE sql AS $$
    SELECT * FROM ledger_post_many(p_kind, p_funding, p_currency, p_customers, p_amounts,
        p_transfer_ids, p_at, p_reason, p_actor_user, p_actor_org, p_credential,
        p_request_id, p_max_amount, false)
$$;
"""

# The next chunk of a batch among its pending items after ``p_after`` and up to
# ``p_upto``: posted as above, its outcomes written on its items and added to the batch,
# and answered as (position, transfer id, error code, amount, whether the batch is done).
PG_BATCH_CHUNK = """
CREATE FUNCTION ledger_batch_chunk(
    p_batch text, p_after integer, p_upto integer, p_limit integer, p_kind text,
    p_funding text, p_currency text, p_transfer_ids text[], p_at timestamptz,
    p_reason text, p_actor_user text, p_actor_org text, p_credential bigint,
    p_request_id text, p_max_amount bigint, p_partner_last boolean
) RETURNS TABLE (item_position integer, transfer_id text, error_code text,
                 amount bigint, batch_done boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_key integer := hashtext('ledger_batch_chunk:' || p_batch);
    v_first integer;
    v_run integer;
    v_position integer[];
    v_customer text[];
    v_amount bigint[];
    v_transfer text[];
    v_error text[];
    v_posted boolean := false;
    v_done integer;
    v_refused integer;
    v_sum bigint;
    v_status text;
BEGIN
    LOOP
        SELECT min(i.position) INTO v_first FROM ledger_batch_items i
            WHERE i.batch_id = p_batch AND i.position > p_after
              AND i.position <= p_upto AND i.status = 'pending';
        IF v_first IS NULL THEN RETURN; END IF;
        -- Whoever holds this run's lock has its items; they are read once it is ours,
        -- by a statement that sees what the holder committed.
        v_run := v_first / p_limit;
        PERFORM pg_advisory_xact_lock(v_key, v_run);
        SELECT array_agg(s.position ORDER BY s.position),
               array_agg(s.customer_id ORDER BY s.position),
               array_agg(s.amount ORDER BY s.position)
            INTO v_position, v_customer, v_amount
            FROM (SELECT i.position, i.customer_id, i.amount FROM ledger_batch_items i
                  WHERE i.batch_id = p_batch
                    AND i.position > greatest(p_after, v_run * p_limit - 1)
                    AND i.position <= least(p_upto, (v_run + 1) * p_limit - 1)
                    AND i.status = 'pending') AS s;
        EXIT WHEN v_position IS NOT NULL;
    END LOOP;

    IF p_partner_last THEN
        BEGIN
            SELECT array_agg(r.transfer_id ORDER BY r.n),
                   array_agg(r.error_code ORDER BY r.n)
                INTO v_transfer, v_error
                FROM ledger_post_many(p_kind, p_funding, p_currency, v_customer,
                                      v_amount, p_transfer_ids, p_at, p_reason,
                                      p_actor_user, p_actor_org, p_credential,
                                      p_request_id, p_max_amount, true)
                     WITH ORDINALITY AS r(transfer_id, error_code, n);
            v_posted := true;
        EXCEPTION WHEN SQLSTATE 'PC001' THEN
            v_posted := false;
        END;
    END IF;
    IF NOT v_posted THEN
        SELECT array_agg(r.transfer_id ORDER BY r.n), array_agg(r.error_code ORDER BY r.n)
            INTO v_transfer, v_error
            FROM ledger_post_many(p_kind, p_funding, p_currency, v_customer, v_amount,
                                  p_transfer_ids, p_at, p_reason, p_actor_user,
                                  p_actor_org, p_credential, p_request_id, p_max_amount,
                                  false)
                 WITH ORDINALITY AS r(transfer_id, error_code, n);
    END IF;

    UPDATE ledger_batch_items AS i
        SET status = CASE WHEN v.error_code IS NULL THEN 'done' ELSE 'refused' END,
            transfer_id = v.transfer_id, error_code = v.error_code
        FROM unnest(v_position, v_transfer, v_error)
             AS v(position, transfer_id, error_code)
        WHERE i.batch_id = p_batch AND i.position = v.position
          -- The chunk's own run of the batch's items, not all of them, to match against.
          AND i.position BETWEEN v_position[1] AND v_position[array_length(v_position, 1)];
    SELECT count(*) FILTER (WHERE x.error_code IS NULL),
           count(*) FILTER (WHERE x.error_code IS NOT NULL),
           coalesce(sum(x.amount) FILTER (WHERE x.error_code IS NULL), 0)
        INTO v_done, v_refused, v_sum
        FROM unnest(v_error, v_amount) AS x(error_code, amount);
    UPDATE ledger_batches AS b
        SET done_count = b.done_count + v_done,
            refused_count = b.refused_count + v_refused,
            done_amount = b.done_amount + v_sum,
            status = CASE WHEN b.done_count + b.refused_count + v_done + v_refused
                               >= b.item_count THEN 'done' ELSE 'running' END,
            finished_at = CASE WHEN b.done_count + b.refused_count + v_done + v_refused
                                    >= b.item_count THEN p_at ELSE b.finished_at END
        WHERE b.id = p_batch
        RETURNING b.status INTO v_status;
    RETURN QUERY
        SELECT u.position, u.transfer_id, u.error_code, u.amount, v_status = 'done'
        FROM unnest(v_position, v_transfer, v_error, v_amount)
             AS u(position, transfer_id, error_code, amount);
END
$$;
"""

EARLIER_TRANSFER_MANY = (
    "ledger_transfer_many(text, text, text, text[], bigint[], text[], timestamptz, "
    "text, text, text, bigint, text, bigint)"
)
EARLIER_BATCH_CHUNK = (
    "ledger_batch_chunk(text, integer, integer, text, text, text, text[], timestamptz, "
    "text, text, text, bigint, text, bigint)"
)
BATCH_CHUNK = (
    "ledger_batch_chunk(text, integer, integer, integer, text, text, text, text[], "
    "timestamptz, text, text, text, bigint, text, bigint, boolean)"
)
POST_MANY = (
    "ledger_post_many(text, text, text, text[], bigint[], text[], timestamptz, text, "
    "text, text, bigint, text, bigint, boolean)"
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_ledger_transfers_original", table_name="ledger_transfers")
    op.create_index(
        "ix_ledger_transfers_original",
        "ledger_transfers",
        ["original_id"],
        postgresql_where=sa.text("original_id IS NOT NULL"),
        sqlite_where=sa.text("original_id IS NOT NULL"),
    )
    if postgresql:
        op.execute(f"DROP FUNCTION {EARLIER_BATCH_CHUNK}")
        op.execute(f"DROP FUNCTION {EARLIER_TRANSFER_MANY}")
        op.execute(PG_POST_MANY)
        op.execute(PG_TRANSFER_MANY)
        op.execute(PG_BATCH_CHUNK)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_ledger_transfers_original", table_name="ledger_transfers")
    op.create_index("ix_ledger_transfers_original", "ledger_transfers", ["original_id"])
    if postgresql:
        earlier = import_module(
            "partnercenter.migrations.versions.0018_ledger_customer_transfers_in_one_call"
        )
        op.execute(f"DROP FUNCTION {BATCH_CHUNK}")
        op.execute(f"DROP FUNCTION {EARLIER_TRANSFER_MANY}")
        op.execute(f"DROP FUNCTION {POST_MANY}")
        op.execute(earlier.PG_TRANSFER_MANY)
        op.execute(earlier.PG_BATCH_CHUNK)
