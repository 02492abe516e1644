"""ledger: the grouped allocation function writes its items' rows with one statement a table

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

``ledger_customer_transfers`` (migration 0007) decides each item of a call in order, with the
same checks and outcomes as before, but no longer writes each posted item on its own: the
transfers, their entries, the customers' new balances and the audit events of all the posted
items go in after the loop, one statement a table, and the customers' figures are read once
after they are locked and kept in arrays while the items run. Only the idempotency key is
still written item by item, since a key that another request took meanwhile decides that
item's answer. Under the partner's lock, which every other allocation of the partner waits
for, a call of n items now runs 2n + 5 statements where it ran 7n + 1. An API key found
usable is not looked up again for the next item of the same call.
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_CUSTOMER_TRANSFERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        previous = importlib.import_module(
            "partnercenter.migrations.versions.0007_ledger_grouped_transfers"
        )
        op.execute(previous.PG_CUSTOMER_TRANSFERS)


# Locks, in the order every writer keeps: the association rows (shared), the items' customer
# accounts in id order, then the partner's account. Nothing raises for an expected refusal:
# each item has its own outcome, in the order given.
PG_CUSTOMER_TRANSFERS = """
CREATE OR REPLACE FUNCTION ledger_customer_transfers(
    p_partner text, p_reseller text, p_currency text,
    p_kind text[], p_customer text[], p_amount bigint[], p_transfer_id text[],
    p_at timestamptz[], p_reason text[], p_actor_user text[], p_credential bigint[],
    p_request_id text[], p_idem_key text[], p_idem_hash text[]
) RETURNS TABLE (outcome text, transfer_id text, partner_balance_after bigint,
                 available bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_funding text := coalesce(p_reseller, p_partner);
    v_count integer := coalesce(array_length(p_customer, 1), 0);
    v_early text[] := array_fill(NULL::text, ARRAY[v_count]);
    v_early_transfer text[] := array_fill(NULL::text, ARRAY[v_count]);
    v_customer_ids bigint[] := array_fill(NULL::bigint, ARRAY[v_count]);
    v_partner_id bigint;
    v_cid bigint;
    v_partner ledger_accounts%ROWTYPE;
    v_partner_changed boolean := false;
    v_reseller_ok boolean := true;
    v_usable_credential bigint;
    v_allocating boolean;
    v_mode text;
    v_room bigint;
    v_signed bigint;
    v_us bigint;
    v_partner_hash text;
    v_customer_hash text;
    v_known text;
    v_known_hash text;
    i integer;
    j integer;
    -- The items' customer accounts (distinct, by id) as each posted item leaves them.
    c_id bigint[];
    c_balance bigint[];
    c_designated bigint[];
    c_count bigint[];
    c_hash text[];
    c_at timestamptz[];
    c_changed boolean[];
    v_moved bigint[] := '{}';
    -- What the posted items write, sent after the loop with one statement a table.
    w_item integer[] := '{}';
    w_debit bigint[] := '{}';
    w_credit bigint[] := '{}';
    e_transfer text[] := '{}';
    e_account bigint[] := '{}';
    e_seq bigint[] := '{}';
    e_amount bigint[] := '{}';
    e_balance bigint[] := '{}';
    e_at timestamptz[] := '{}';
    e_hash text[] := '{}';
BEGIN
    IF v_count = 0 THEN RETURN; END IF;
    IF p_reseller IS NOT NULL THEN
        PERFORM 1 FROM organisations
            WHERE id = p_reseller AND parent_id = p_partner AND partner_type = 'reseller';
        v_reseller_ok := FOUND;
    END IF;

    -- What each item can be refused for before any balance is looked at.
    FOR i IN 1 .. v_count LOOP
        -- The items of a call mostly share one key: a key found usable is not looked
        -- up again for the next item.
        IF p_credential[i] IS NOT NULL
           AND p_credential[i] IS DISTINCT FROM v_usable_credential THEN
            PERFORM 1 FROM api_credentials c JOIN organisations o ON o.id = c.organisation_id
                WHERE c.id = p_credential[i] AND c.revoked_at IS NULL AND o.is_active;
            IF NOT FOUND THEN v_early[i] := 'credential_revoked'; CONTINUE; END IF;
            v_usable_credential := p_credential[i];
        END IF;
        -- A retry of a request already posted gets the first answer, whatever changed since.
        IF p_idem_key[i] IS NOT NULL THEN
            SELECT k.transfer_id, k.request_hash INTO v_known, v_known_hash
                FROM idempotency_keys k
                WHERE k.organisation_id = p_partner AND k.key = p_idem_key[i];
            IF FOUND THEN
                v_early[i] := CASE WHEN v_known_hash = p_idem_hash[i] AND v_known IS NOT NULL
                    THEN 'replay' ELSE 'idempotency_conflict' END;
                v_early_transfer[i] := v_known;
                CONTINUE;
            END IF;
        END IF;
        IF NOT v_reseller_ok THEN v_early[i] := 'not_your_reseller'; CONTINUE; END IF;
        -- Share-locked: an association change locks the row before it moves money.
        SELECT a.mode INTO v_mode FROM associations a
            WHERE a.customer_id = p_customer[i] AND a.organisation_id = v_funding
              AND a.status = 'active'
            FOR SHARE;
        IF NOT FOUND THEN v_early[i] := 'not_your_customer'; CONTINUE; END IF;
        IF v_mode <> 'resale' THEN v_early[i] := 'consulting_customer'; CONTINUE; END IF;
        SELECT id INTO v_cid FROM ledger_accounts
            WHERE organisation_id = p_customer[i] AND kind = 'customer_allocated'
              AND currency = p_currency;
        IF NOT FOUND THEN
            INSERT INTO ledger_accounts (organisation_id, kind, currency, balance,
                    credit_limit, designated, entry_count, last_hash, created_at, updated_at)
                VALUES (p_customer[i], 'customer_allocated', p_currency, 0, 0, 0, 0,
                    repeat('0', 64), p_at[i], p_at[i])
                ON CONFLICT DO NOTHING;
            SELECT id INTO v_cid FROM ledger_accounts
                WHERE organisation_id = p_customer[i] AND kind = 'customer_allocated'
                  AND currency = p_currency;
        END IF;
        v_customer_ids[i] := v_cid;
    END LOOP;

    -- Not a reseller of this partner: nothing is locked or opened for it.
    IF NOT v_reseller_ok THEN
        FOR i IN 1 .. v_count LOOP
            outcome := v_early[i]; transfer_id := v_early_transfer[i];
            partner_balance_after := NULL; available := NULL;
            RETURN NEXT;
        END LOOP;
        RETURN;
    END IF;

    SELECT id INTO v_partner_id FROM ledger_accounts
        WHERE organisation_id = v_funding AND kind = 'partner_cash' AND currency = p_currency;
    IF NOT FOUND THEN
        INSERT INTO ledger_accounts (organisation_id, kind, currency, balance, credit_limit,
                designated, entry_count, last_hash, created_at, updated_at)
            VALUES (v_funding, 'partner_cash', p_currency, 0, 0, 0, 0, repeat('0', 64),
                p_at[1], p_at[1])
            ON CONFLICT DO NOTHING;
        SELECT id INTO v_partner_id FROM ledger_accounts
            WHERE organisation_id = v_funding AND kind = 'partner_cash'
              AND currency = p_currency;
    END IF;

    -- The customers' accounts in id order, then the partner's; the customers' figures are
    -- read once and kept here while the items run.
    PERFORM 1 FROM ledger_accounts
        WHERE id = ANY (v_customer_ids) ORDER BY id FOR NO KEY UPDATE;
    SELECT array_agg(a.id ORDER BY a.id), array_agg(a.balance ORDER BY a.id),
           array_agg(a.designated ORDER BY a.id), array_agg(a.entry_count ORDER BY a.id),
           array_agg(a.last_hash ORDER BY a.id)
        INTO c_id, c_balance, c_designated, c_count, c_hash
        FROM ledger_accounts a WHERE a.id = ANY (v_customer_ids);
    c_at := array_fill(NULL::timestamptz, ARRAY[coalesce(array_length(c_id, 1), 0)]);
    c_changed := array_fill(false, ARRAY[coalesce(array_length(c_id, 1), 0)]);
    SELECT * INTO v_partner FROM ledger_accounts WHERE id = v_partner_id FOR NO KEY UPDATE;

    FOR i IN 1 .. v_count LOOP
        IF v_early[i] IS NOT NULL THEN
            outcome := v_early[i]; transfer_id := v_early_transfer[i];
            partner_balance_after := NULL;
            available := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        outcome := NULL; transfer_id := NULL; partner_balance_after := NULL;
        available := NULL;
        v_allocating := p_kind[i] = 'allocate';
        -- A retry that raced its original waited for the locks; the original has committed
        -- by now (or is an earlier item of this call), so its key decides the answer before
        -- the balance is looked at.
        IF p_idem_key[i] IS NOT NULL THEN
            SELECT k.transfer_id, k.request_hash INTO v_known, v_known_hash
                FROM idempotency_keys k
                WHERE k.organisation_id = p_partner AND k.key = p_idem_key[i];
            IF FOUND THEN
                outcome := CASE WHEN v_known_hash = p_idem_hash[i] AND v_known IS NOT NULL
                    THEN 'replay' ELSE 'idempotency_conflict' END;
                transfer_id := v_known;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        j := array_position(c_id, v_customer_ids[i]);
        IF v_allocating THEN
            v_room := v_partner.balance + v_partner.credit_limit - v_partner.designated;
        ELSE
            v_room := c_balance[j] - c_designated[j];
        END IF;
        IF p_amount[i] > v_room THEN
            outcome := 'insufficient_funds'; available := greatest(v_room, 0);
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p_idem_key[i] IS NOT NULL THEN
            INSERT INTO idempotency_keys (organisation_id, key, request_hash, transfer_id,
                    response, status_code, created_at)
                VALUES (p_partner, p_idem_key[i], p_idem_hash[i], p_transfer_id[i], NULL,
                    200, p_at[i])
                ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                SELECT k.transfer_id, k.request_hash INTO v_known, v_known_hash
                    FROM idempotency_keys k
                    WHERE k.organisation_id = p_partner AND k.key = p_idem_key[i];
                outcome := CASE WHEN v_known_hash = p_idem_hash[i] AND v_known IS NOT NULL
                    THEN 'replay' ELSE 'idempotency_conflict' END;
                transfer_id := v_known;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;

        v_us := (extract(epoch FROM p_at[i]) * 1000000)::bigint;
        v_signed := CASE WHEN v_allocating THEN p_amount[i] ELSE -p_amount[i] END;
        c_balance[j] := c_balance[j] + v_signed;
        c_count[j] := c_count[j] + 1;
        v_customer_hash := encode(sha256(convert_to(concat_ws('|', c_hash[j],
            c_id[j], c_count[j], p_transfer_id[i], p_kind[i], v_signed,
            c_balance[j], v_us), 'UTF8')), 'hex');
        c_hash[j] := v_customer_hash;
        c_at[j] := p_at[i];
        c_changed[j] := true;
        v_partner.balance := v_partner.balance - v_signed;
        v_partner.entry_count := v_partner.entry_count + 1;
        v_partner_hash := encode(sha256(convert_to(concat_ws('|', v_partner.last_hash,
            v_partner.id, v_partner.entry_count, p_transfer_id[i], p_kind[i], -v_signed,
            v_partner.balance, v_us), 'UTF8')), 'hex');
        v_partner.last_hash := v_partner_hash;
        v_partner_changed := true;

        w_item := w_item || i;
        w_debit := w_debit || CASE WHEN v_allocating THEN v_partner.id ELSE c_id[j] END;
        w_credit := w_credit || CASE WHEN v_allocating THEN c_id[j] ELSE v_partner.id END;
        e_transfer := e_transfer || p_transfer_id[i] || p_transfer_id[i];
        e_account := e_account || c_id[j] || v_partner.id;
        e_seq := e_seq || c_count[j] || v_partner.entry_count;
        e_amount := e_amount || v_signed || -v_signed;
        e_balance := e_balance || c_balance[j] || v_partner.balance;
        e_at := e_at || p_at[i] || p_at[i];
        e_hash := e_hash || v_customer_hash || v_partner_hash;

        outcome := 'posted';
        transfer_id := p_transfer_id[i];
        partner_balance_after := v_partner.balance;
        RETURN NEXT;
    END LOOP;

    -- The posted items' rows, one statement a table: transfers before their entries,
    -- which are checked against them.
    IF array_length(w_item, 1) > 0 THEN
        INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
                currency, organisation_id, counterparty_id, external_ref, original_id, reason,
                actor_user_id, actor_organisation_id, actor_credential_id, request_id,
                created_at)
            SELECT p_transfer_id[w.item], p_kind[w.item], w.debit, w.credit,
                   p_amount[w.item], p_currency, v_funding, p_customer[w.item], NULL, NULL,
                   p_reason[w.item], p_actor_user[w.item], p_partner, p_credential[w.item],
                   p_request_id[w.item], p_at[w.item]
            FROM unnest(w_item, w_debit, w_credit) AS w(item, debit, credit);
        INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after,
                created_at, hash)
            SELECT * FROM unnest(e_transfer, e_account, e_seq, e_amount, e_balance, e_at,
                                 e_hash);
        -- By `= ANY`, which is always an index scan: a join with the arrays unnested
        -- may be planned as a scan of every account.
        FOR j IN 1 .. array_length(c_id, 1) LOOP
            IF c_changed[j] THEN v_moved := v_moved || c_id[j]; END IF;
        END LOOP;
        UPDATE ledger_accounts AS a
            SET balance = c_balance[array_position(c_id, a.id)],
                entry_count = c_count[array_position(c_id, a.id)],
                last_hash = c_hash[array_position(c_id, a.id)],
                updated_at = c_at[array_position(c_id, a.id)]
            WHERE a.id = ANY (v_moved);
        INSERT INTO audit_events (occurred_at, organisation_id, actor_user_id,
                actor_organisation_id, actor_credential_id, action, subject_type,
                subject_id, before, after, reason, request_id)
            SELECT p_at[w.item], v_funding, p_actor_user[w.item], p_partner,
                   p_credential[w.item], 'ledger.' || p_kind[w.item], 'transfer',
                   p_transfer_id[w.item], NULL,
                   jsonb_build_object(
                       'amount', ((p_amount[w.item]::numeric / 100)::numeric(20, 2))::text,
                       'currency', p_currency, 'counterparty_id', p_customer[w.item]),
                   p_reason[w.item], p_request_id[w.item]
            FROM unnest(w_item) AS w(item);
    END IF;

    -- The partner's balance is written once, after all the items.
    IF v_partner_changed THEN
        UPDATE ledger_accounts SET balance = v_partner.balance,
                entry_count = v_partner.entry_count, last_hash = v_partner.last_hash,
                updated_at = p_at[v_count]
            WHERE id = v_partner.id;
    END IF;
    RETURN;
END
$$;
"""
