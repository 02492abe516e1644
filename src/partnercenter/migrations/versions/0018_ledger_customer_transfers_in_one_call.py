"""ledger: a batch chunk's allocations or reclaims posted by one database call

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

``ledger_transfer_many`` does on PostgreSQL what ``service.transfer_many`` does in Python
(which SQLite goes on using): for one funding partner and a list of customers and amounts
(a batch chunk's thousand, say), it share-locks the customers' active associations, opens
the resale customers' allocated accounts that are missing, locks the accounts in the order
every writer keeps (the customers' by id, then the partner's), decides each item in order
with the same refusals and the same codes, and writes the posted items' transfers, their two
entries each (hash-chained with the text the Python side hashes), and the accounts' new
figures, one statement a table. It answers one row per item, in the order given: the
transfer id of a posted item, or the code it was refused with.

``ledger_batch_chunk`` runs the next chunk of a batch with it: it reads the batch's next
pending items, posts them, and writes each item's outcome on it, so that a chunk is one
round trip. The caller holds the batch's row lock, as for the Python path.

Nothing inside looks a row up once per item: the associations and accounts are read by one
statement each, and each item finds its own in a JSON object keyed by customer id, which
PostgreSQL searches by halving.

A chunk updates a thousand accounts that often lie side by side, thirty or so to a page: half
of each page of accounts is now left free (a fifth was), so that more of their new versions
fit beside the old ones and leave the accounts' indexes alone (pages written before keep
their fill until the table is rewritten).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_TRANSFER_MANY = """
CREATE FUNCTION ledger_transfer_many(
    p_kind text, p_funding text, p_currency text, p_customers text[], p_amounts bigint[],
    p_transfer_ids text[], p_at timestamptz, p_reason text, p_actor_user text,
    p_actor_org text, p_credential bigint, p_request_id text, p_max_amount bigint
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
    v_slot integer[] := array_fill(NULL::integer, ARRAY[v_n]);
    v_wanted text[] := '{}';
    v_partner ledger_accounts%ROWTYPE;
    v_partner_id bigint;
    v_room bigint;
    v_signed bigint;
    v_tid text;
    i integer;
    j integer;
    k integer := 0;
    -- The candidates' accounts (distinct, by id) as each posted item leaves them.
    c_id bigint[];
    c_org text[];
    c_balance bigint[];
    c_designated bigint[];
    c_count bigint[];
    c_hash text[];
    c_changed boolean[];
    -- The posted items, and their entries in the order written: debit, then credit.
    w_item integer[] := array_fill(NULL::integer, ARRAY[v_n]);
    w_debit bigint[] := array_fill(NULL::bigint, ARRAY[v_n]);
    w_credit bigint[] := array_fill(NULL::bigint, ARRAY[v_n]);
    e_transfer text[] := array_fill(NULL::text, ARRAY[2 * v_n]);
    e_account bigint[] := array_fill(NULL::bigint, ARRAY[2 * v_n]);
    e_seq bigint[] := array_fill(NULL::bigint, ARRAY[2 * v_n]);
    e_amount bigint[] := array_fill(NULL::bigint, ARRAY[2 * v_n]);
    e_balance bigint[] := array_fill(NULL::bigint, ARRAY[2 * v_n]);
    e_hash text[] := array_fill(NULL::text, ARRAY[2 * v_n]);
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

    -- The accounts a posting may touch: opened if missing, as the Python side does.
    INSERT INTO ledger_accounts (organisation_id, kind, currency, balance, credit_limit,
            designated, entry_count, last_hash, created_at, updated_at)
        SELECT DISTINCT w.customer_id, 'customer_allocated', p_currency, 0, 0, 0, 0,
               repeat('0', 64), p_at, p_at
        FROM unnest(v_wanted) AS w(customer_id)
        WHERE NOT EXISTS (
            SELECT 1 FROM ledger_accounts a
            WHERE a.organisation_id = w.customer_id AND a.kind = 'customer_allocated'
              AND a.currency = p_currency)
        ON CONFLICT DO NOTHING;
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

    -- The customers' accounts in id order, then the partner's: the order every writer
    -- keeps. Their figures are read once and kept here while the items run.
    SELECT array_agg(s.id ORDER BY s.id), array_agg(s.organisation_id ORDER BY s.id),
           array_agg(s.balance ORDER BY s.id), array_agg(s.designated ORDER BY s.id),
           array_agg(s.entry_count ORDER BY s.id), array_agg(s.last_hash ORDER BY s.id)
        INTO c_id, c_org, c_balance, c_designated, c_count, c_hash
        FROM (SELECT a.id, a.organisation_id, a.balance, a.designated, a.entry_count,
                     a.last_hash
              FROM ledger_accounts a
              WHERE a.organisation_id = ANY (v_wanted) AND a.kind = 'customer_allocated'
                AND a.currency = p_currency
              ORDER BY a.id
              FOR NO KEY UPDATE) AS s;
    SELECT * INTO v_partner FROM ledger_accounts WHERE id = v_partner_id
        FOR NO KEY UPDATE;
    c_changed := array_fill(false, ARRAY[coalesce(array_length(c_id, 1), 0)]);
    SELECT coalesce(jsonb_object_agg(c.organisation_id, c.slot), '{}') INTO v_slots
        FROM unnest(c_org) WITH ORDINALITY AS c(organisation_id, slot);

    FOR i IN 1 .. v_n LOOP
        CONTINUE WHEN v_error[i] IS NOT NULL;
        j := (v_slots ->> p_customers[i])::integer;
        IF v_allocating THEN
            v_room := v_partner.balance + v_partner.credit_limit - v_partner.designated;
        ELSE
            v_room := c_balance[j] - c_designated[j];
        END IF;
        IF p_amounts[i] > v_room THEN
            v_error[i] := 'insufficient_funds';
            CONTINUE;
        END IF;
        k := k + 1;
        v_tid := p_transfer_ids[i];
        -- What the customer's account gains (an allocation) or loses (a reclaim).
        v_signed := CASE WHEN v_allocating THEN p_amounts[i] ELSE -p_amounts[i] END;
        c_balance[j] := c_balance[j] + v_signed;
        c_count[j] := c_count[j] + 1;
        c_hash[j] := encode(sha256(convert_to(concat_ws('|', c_hash[j], c_id[j],
            c_count[j], v_tid, p_kind, v_signed, c_balance[j], v_us), 'UTF8')), 'hex');
        c_changed[j] := true;
        v_partner.balance := v_partner.balance - v_signed;
        v_partner.entry_count := v_partner.entry_count + 1;
        v_partner.last_hash := encode(sha256(convert_to(concat_ws('|',
            v_partner.last_hash, v_partner.id, v_partner.entry_count, v_tid, p_kind,
            -v_signed, v_partner.balance, v_us), 'UTF8')), 'hex');
        w_item[k] := i;
        IF v_allocating THEN
            w_debit[k] := v_partner.id;
            w_credit[k] := c_id[j];
            e_account[2 * k - 1] := v_partner.id;
            e_seq[2 * k - 1] := v_partner.entry_count;
            e_amount[2 * k - 1] := -v_signed;
            e_balance[2 * k - 1] := v_partner.balance;
            e_hash[2 * k - 1] := v_partner.last_hash;
            e_account[2 * k] := c_id[j];
            e_seq[2 * k] := c_count[j];
            e_amount[2 * k] := v_signed;
            e_balance[2 * k] := c_balance[j];
            e_hash[2 * k] := c_hash[j];
        ELSE
            w_debit[k] := c_id[j];
            w_credit[k] := v_partner.id;
            e_account[2 * k - 1] := c_id[j];
            e_seq[2 * k - 1] := c_count[j];
            e_amount[2 * k - 1] := v_signed;
            e_balance[2 * k - 1] := c_balance[j];
            e_hash[2 * k - 1] := c_hash[j];
            e_account[2 * k] := v_partner.id;
            e_seq[2 * k] := v_partner.entry_count;
            e_amount[2 * k] := -v_signed;
            e_balance[2 * k] := v_partner.balance;
            e_hash[2 * k] := v_partner.last_hash;
        END IF;
        e_transfer[2 * k - 1] := v_tid;
        e_transfer[2 * k] := v_tid;
    END LOOP;

    IF k > 0 THEN
        -- Transfers before their entries, which are checked against them.
        INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id,
                amount, currency, organisation_id, counterparty_id, external_ref,
                original_id, reason, actor_user_id, actor_organisation_id,
                actor_credential_id, request_id, created_at)
            SELECT p_transfer_ids[w.item], p_kind, w.debit, w.credit, p_amounts[w.item],
                   p_currency, p_funding, p_customers[w.item], NULL, NULL, p_reason,
                   p_actor_user, p_actor_org, p_credential, p_request_id, p_at
            FROM unnest(w_item[1:k], w_debit[1:k], w_credit[1:k]) AS w(item, debit, credit);
        INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after,
                created_at, hash)
            SELECT e.transfer_id, e.account_id, e.seq, e.amount, e.balance_after, p_at,
                   e.hash
            FROM unnest(e_transfer[1:2 * k], e_account[1:2 * k], e_seq[1:2 * k],
                        e_amount[1:2 * k], e_balance[1:2 * k], e_hash[1:2 * k])
                 AS e(transfer_id, account_id, seq, amount, balance_after, hash);
        UPDATE ledger_accounts AS a
            SET balance = v.balance, entry_count = v.entry_count,
                last_hash = v.last_hash, updated_at = p_at
            FROM unnest(c_id, c_balance, c_count, c_hash, c_changed)
                 AS v(id, balance, entry_count, last_hash, changed)
            WHERE a.id = v.id AND v.changed;
        UPDATE ledger_accounts SET balance = v_partner.balance,
                entry_count = v_partner.entry_count, last_hash = v_partner.last_hash,
                updated_at = p_at
            WHERE id = v_partner.id;
    END IF;

    RETURN QUERY
        SELECT CASE WHEN r.error IS NULL THEN r.transfer_id END, r.error
        FROM unnest(p_transfer_ids[1:v_n], v_error) AS r(transfer_id, error);
END
$$;
"""


# The next chunk of a batch: its pending items after ``p_after``, posted as above, their
# outcomes written on them, and answered as (position, transfer id, error code, amount).
PG_BATCH_CHUNK = """
CREATE FUNCTION ledger_batch_chunk(
    p_batch text, p_after integer, p_limit integer, p_kind text, p_funding text,
    p_currency text, p_transfer_ids text[], p_at timestamptz, p_reason text,
    p_actor_user text, p_actor_org text, p_credential bigint, p_request_id text,
    p_max_amount bigint
) RETURNS TABLE (item_position integer, transfer_id text, error_code text,
                 amount bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_position integer[];
    v_customer text[];
    v_amount bigint[];
    v_transfer text[];
    v_error text[];
BEGIN
    SELECT array_agg(s.position ORDER BY s.position),
           array_agg(s.customer_id ORDER BY s.position),
           array_agg(s.amount ORDER BY s.position)
        INTO v_position, v_customer, v_amount
        FROM (SELECT i.position, i.customer_id, i.amount FROM ledger_batch_items i
              WHERE i.batch_id = p_batch AND i.position > p_after
                AND i.status = 'pending'
              ORDER BY i.position LIMIT p_limit) AS s;
    IF v_position IS NULL THEN RETURN; END IF;
    SELECT array_agg(r.transfer_id ORDER BY r.n), array_agg(r.error_code ORDER BY r.n)
        INTO v_transfer, v_error
        FROM ledger_transfer_many(p_kind, p_funding, p_currency, v_customer, v_amount,
                                  p_transfer_ids, p_at, p_reason, p_actor_user,
                                  p_actor_org, p_credential, p_request_id, p_max_amount)
             WITH ORDINALITY AS r(transfer_id, error_code, n);
    UPDATE ledger_batch_items AS i
        SET status = CASE WHEN v.error_code IS NULL THEN 'done' ELSE 'refused' END,
            transfer_id = v.transfer_id, error_code = v.error_code
        FROM unnest(v_position, v_transfer, v_error)
             AS v(position, transfer_id, error_code)
        WHERE i.batch_id = p_batch AND i.position = v.position;
    RETURN QUERY SELECT * FROM unnest(v_position, v_transfer, v_error, v_amount);
END
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TRANSFER_MANY)
        op.execute(PG_BATCH_CHUNK)
        op.execute("ALTER TABLE ledger_accounts SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_accounts SET (fillfactor = 80)")
        op.execute(
            "DROP FUNCTION ledger_batch_chunk(text, integer, integer, text, text, text, "
            "text[], timestamptz, text, text, text, bigint, text, bigint)"
        )
        op.execute(
            "DROP FUNCTION ledger_transfer_many(text, text, text, text[], bigint[], "
            "text[], timestamptz, text, text, text, bigint, text, bigint)"
        )
