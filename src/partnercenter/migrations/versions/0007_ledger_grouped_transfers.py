"""ledger: allocations and reclaims of one partner posted together, one lock and one commit

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_CUSTOMER_TRANSFERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION ledger_customer_transfers(text, text, text, text[], text[], "
            "bigint[], text[], timestamptz[], text[], text[], bigint[], text[], text[], "
            "text[])"
        )


# The allocation lane of the native API sends the requests of one partner that arrived while
# its previous call was at the database in one call of this function. Each item is what
# ledger_customer_transfer does for one request, with the same checks, writes and outcomes,
# in the order given; but the partner's account is locked once for all of them and the
# commit is shared, which is what limits a partner's allocations per second.
#
# Locks: the association rows (shared), then the items' customer accounts in id order, then
# the partner's account, the order every writer keeps (customers before partners). Nothing
# raises for an expected refusal: each item has its own outcome, and the items that pass
# are posted whatever happens to the others.
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
    v_customer ledger_accounts%ROWTYPE;
    v_partner_changed boolean := false;
    v_reseller_ok boolean := true;
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
BEGIN
    IF v_count = 0 THEN RETURN; END IF;
    IF p_reseller IS NOT NULL THEN
        PERFORM 1 FROM organisations
            WHERE id = p_reseller AND parent_id = p_partner AND partner_type = 'reseller';
        v_reseller_ok := FOUND;
    END IF;

    -- What each item can be refused for before any balance is looked at.
    FOR i IN 1 .. v_count LOOP
        IF p_credential[i] IS NOT NULL THEN
            PERFORM 1 FROM api_credentials c JOIN organisations o ON o.id = c.organisation_id
                WHERE c.id = p_credential[i] AND c.revoked_at IS NULL AND o.is_active;
            IF NOT FOUND THEN v_early[i] := 'credential_revoked'; CONTINUE; END IF;
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

    -- The customers' accounts in id order, then the partner's.
    PERFORM 1 FROM ledger_accounts
        WHERE id = ANY (v_customer_ids) ORDER BY id FOR NO KEY UPDATE;
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
        SELECT * INTO v_customer FROM ledger_accounts WHERE id = v_customer_ids[i];
        IF v_allocating THEN
            v_room := v_partner.balance + v_partner.credit_limit - v_partner.designated;
        ELSE
            v_room := v_customer.balance - v_customer.designated;
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
        v_customer.balance := v_customer.balance + v_signed;
        v_customer.entry_count := v_customer.entry_count + 1;
        v_customer_hash := encode(sha256(convert_to(concat_ws('|', v_customer.last_hash,
            v_customer.id, v_customer.entry_count, p_transfer_id[i], p_kind[i], v_signed,
            v_customer.balance, v_us), 'UTF8')), 'hex');
        v_partner.balance := v_partner.balance - v_signed;
        v_partner.entry_count := v_partner.entry_count + 1;
        v_partner_hash := encode(sha256(convert_to(concat_ws('|', v_partner.last_hash,
            v_partner.id, v_partner.entry_count, p_transfer_id[i], p_kind[i], -v_signed,
            v_partner.balance, v_us), 'UTF8')), 'hex');
        v_partner.last_hash := v_partner_hash;
        v_partner_changed := true;

        INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
                currency, organisation_id, counterparty_id, external_ref, original_id, reason,
                actor_user_id, actor_organisation_id, actor_credential_id, request_id,
                created_at)
            VALUES (p_transfer_id[i], p_kind[i],
                CASE WHEN v_allocating THEN v_partner.id ELSE v_customer.id END,
                CASE WHEN v_allocating THEN v_customer.id ELSE v_partner.id END,
                p_amount[i], p_currency, v_funding, p_customer[i], NULL, NULL, p_reason[i],
                p_actor_user[i], p_partner, p_credential[i], p_request_id[i], p_at[i]);
        INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after,
                created_at, hash)
            VALUES (p_transfer_id[i], v_customer.id, v_customer.entry_count, v_signed,
                    v_customer.balance, p_at[i], v_customer_hash),
                   (p_transfer_id[i], v_partner.id, v_partner.entry_count, -v_signed,
                    v_partner.balance, p_at[i], v_partner_hash);
        UPDATE ledger_accounts SET balance = v_customer.balance,
                entry_count = v_customer.entry_count, last_hash = v_customer_hash,
                updated_at = p_at[i]
            WHERE id = v_customer.id;
        INSERT INTO audit_events (occurred_at, organisation_id, actor_user_id,
                actor_organisation_id, actor_credential_id, action, subject_type,
                subject_id, before, after, reason, request_id)
            VALUES (p_at[i], v_funding, p_actor_user[i], p_partner, p_credential[i],
                'ledger.' || p_kind[i], 'transfer', p_transfer_id[i], NULL,
                jsonb_build_object(
                    'amount', ((p_amount[i]::numeric / 100)::numeric(20, 2))::text,
                    'currency', p_currency, 'counterparty_id', p_customer[i]),
                p_reason[i], p_request_id[i]);

        outcome := 'posted';
        transfer_id := p_transfer_id[i];
        partner_balance_after := v_partner.balance;
        RETURN NEXT;
    END LOOP;

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
