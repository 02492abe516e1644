"""ledger: a retried allocation that raced its original answers what the original did

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_CUSTOMER_TRANSFER)


def downgrade() -> None:
    # The function of 0004 checks the key only before it takes the account locks.
    pass


# The function of 0004, which also reads the idempotency key again once it holds the
# account locks: a concurrent first request with the same key has committed by then.
PG_CUSTOMER_TRANSFER = """
CREATE OR REPLACE FUNCTION ledger_customer_transfer(
    p_kind text, p_partner text, p_reseller text, p_customer text, p_amount bigint,
    p_currency text, p_transfer_id text, p_at timestamptz, p_reason text,
    p_actor_user text, p_actor_org text, p_credential bigint, p_request_id text,
    p_idem_key text, p_idem_hash text,
    OUT outcome text, OUT transfer_id text, OUT partner_balance_after bigint,
    OUT available bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_funding text := coalesce(p_reseller, p_partner);
    v_mode text;
    v_partner_account bigint;
    v_customer_account bigint;
    v_debit ledger_accounts%ROWTYPE;
    v_credit ledger_accounts%ROWTYPE;
    v_row ledger_accounts%ROWTYPE;
    v_debit_id bigint;
    v_credit_id bigint;
    v_room bigint;
    v_us bigint := (extract(epoch FROM p_at) * 1000000)::bigint;
    v_debit_hash text;
    v_credit_hash text;
    v_known text;
    v_known_hash text;
BEGIN
    IF p_credential IS NOT NULL THEN
        PERFORM 1 FROM api_credentials c JOIN organisations o ON o.id = c.organisation_id
            WHERE c.id = p_credential AND c.revoked_at IS NULL AND o.is_active;
        IF NOT FOUND THEN outcome := 'credential_revoked'; RETURN; END IF;
    END IF;
    IF p_idem_key IS NOT NULL THEN
        SELECT k.transfer_id, k.request_hash INTO v_known, v_known_hash
            FROM idempotency_keys k
            WHERE k.organisation_id = p_actor_org AND k.key = p_idem_key;
        IF FOUND THEN
            outcome := CASE WHEN v_known_hash = p_idem_hash AND v_known IS NOT NULL
                THEN 'replay' ELSE 'idempotency_conflict' END;
            transfer_id := v_known;
            RETURN;
        END IF;
    END IF;
    IF p_reseller IS NOT NULL THEN
        PERFORM 1 FROM organisations
            WHERE id = p_reseller AND parent_id = p_partner AND partner_type = 'reseller';
        IF NOT FOUND THEN outcome := 'not_your_reseller'; RETURN; END IF;
    END IF;
    -- Share-locked: an association change locks the row before it moves money.
    SELECT a.mode INTO v_mode FROM associations a
        WHERE a.customer_id = p_customer AND a.organisation_id = v_funding
          AND a.status = 'active'
        FOR SHARE;
    IF NOT FOUND THEN outcome := 'not_your_customer'; RETURN; END IF;
    IF v_mode <> 'resale' THEN outcome := 'consulting_customer'; RETURN; END IF;

    SELECT id INTO v_partner_account FROM ledger_accounts
        WHERE organisation_id = v_funding AND kind = 'partner_cash' AND currency = p_currency;
    IF NOT FOUND THEN
        INSERT INTO ledger_accounts (organisation_id, kind, currency, balance, credit_limit,
                designated, entry_count, last_hash, created_at, updated_at)
            VALUES (v_funding, 'partner_cash', p_currency, 0, 0, 0, 0, repeat('0', 64),
                p_at, p_at)
            ON CONFLICT DO NOTHING;
        SELECT id INTO v_partner_account FROM ledger_accounts
            WHERE organisation_id = v_funding AND kind = 'partner_cash'
              AND currency = p_currency;
    END IF;
    SELECT id INTO v_customer_account FROM ledger_accounts
        WHERE organisation_id = p_customer AND kind = 'customer_allocated'
          AND currency = p_currency;
    IF NOT FOUND THEN
        INSERT INTO ledger_accounts (organisation_id, kind, currency, balance, credit_limit,
                designated, entry_count, last_hash, created_at, updated_at)
            VALUES (p_customer, 'customer_allocated', p_currency, 0, 0, 0, 0,
                repeat('0', 64), p_at, p_at)
            ON CONFLICT DO NOTHING;
        SELECT id INTO v_customer_account FROM ledger_accounts
            WHERE organisation_id = p_customer AND kind = 'customer_allocated'
              AND currency = p_currency;
    END IF;

    IF p_kind = 'allocate' THEN
        v_debit_id := v_partner_account; v_credit_id := v_customer_account;
    ELSE
        v_debit_id := v_customer_account; v_credit_id := v_partner_account;
    END IF;
    -- Locked in id order, as the Python engine locks them.
    FOR v_row IN SELECT * FROM ledger_accounts WHERE id IN (v_debit_id, v_credit_id)
            ORDER BY id FOR UPDATE LOOP
        IF v_row.id = v_debit_id THEN v_debit := v_row; ELSE v_credit := v_row; END IF;
    END LOOP;
    -- A retry that raced its original waited for these locks; the original has committed
    -- by now, so its key decides the answer before the balance is looked at.
    IF p_idem_key IS NOT NULL THEN
        SELECT k.transfer_id, k.request_hash INTO v_known, v_known_hash
            FROM idempotency_keys k
            WHERE k.organisation_id = p_actor_org AND k.key = p_idem_key;
        IF FOUND THEN
            outcome := CASE WHEN v_known_hash = p_idem_hash AND v_known IS NOT NULL
                THEN 'replay' ELSE 'idempotency_conflict' END;
            transfer_id := v_known;
            RETURN;
        END IF;
    END IF;
    IF p_kind = 'allocate' THEN
        v_room := v_debit.balance + v_debit.credit_limit - v_debit.designated;
    ELSE
        v_room := v_debit.balance - v_debit.designated;
    END IF;
    IF p_amount > v_room THEN
        outcome := 'insufficient_funds'; available := greatest(v_room, 0); RETURN;
    END IF;

    IF p_idem_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (organisation_id, key, request_hash, transfer_id,
                response, status_code, created_at)
            VALUES (p_actor_org, p_idem_key, p_idem_hash, p_transfer_id, NULL, 200, p_at)
            ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT k.transfer_id, k.request_hash INTO v_known, v_known_hash
                FROM idempotency_keys k
                WHERE k.organisation_id = p_actor_org AND k.key = p_idem_key;
            outcome := CASE WHEN v_known_hash = p_idem_hash AND v_known IS NOT NULL
                THEN 'replay' ELSE 'idempotency_conflict' END;
            transfer_id := v_known;
            RETURN;
        END IF;
    END IF;

    v_debit.balance := v_debit.balance - p_amount;
    v_debit.entry_count := v_debit.entry_count + 1;
    v_debit_hash := encode(sha256(convert_to(concat_ws('|', v_debit.last_hash, v_debit.id,
        v_debit.entry_count, p_transfer_id, p_kind, -p_amount, v_debit.balance, v_us),
        'UTF8')), 'hex');
    v_credit.balance := v_credit.balance + p_amount;
    v_credit.entry_count := v_credit.entry_count + 1;
    v_credit_hash := encode(sha256(convert_to(concat_ws('|', v_credit.last_hash, v_credit.id,
        v_credit.entry_count, p_transfer_id, p_kind, p_amount, v_credit.balance, v_us),
        'UTF8')), 'hex');

    INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
            currency, organisation_id, counterparty_id, external_ref, original_id, reason,
            actor_user_id, actor_organisation_id, actor_credential_id, request_id, created_at)
        VALUES (p_transfer_id, p_kind, v_debit.id, v_credit.id, p_amount, p_currency,
            v_funding, p_customer, NULL, NULL, p_reason, p_actor_user, p_actor_org,
            p_credential, p_request_id, p_at);
    INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after,
            created_at, hash)
        VALUES (p_transfer_id, v_debit.id, v_debit.entry_count, -p_amount, v_debit.balance,
                p_at, v_debit_hash),
               (p_transfer_id, v_credit.id, v_credit.entry_count, p_amount, v_credit.balance,
                p_at, v_credit_hash);
    UPDATE ledger_accounts SET
            balance = CASE WHEN id = v_debit.id THEN v_debit.balance ELSE v_credit.balance END,
            entry_count = CASE WHEN id = v_debit.id THEN v_debit.entry_count
                ELSE v_credit.entry_count END,
            last_hash = CASE WHEN id = v_debit.id THEN v_debit_hash ELSE v_credit_hash END,
            updated_at = p_at
        WHERE id IN (v_debit.id, v_credit.id);
    INSERT INTO audit_events (occurred_at, organisation_id, actor_user_id,
            actor_organisation_id, actor_credential_id, action, subject_type, subject_id,
            before, after, reason, request_id)
        VALUES (p_at, v_funding, p_actor_user, p_actor_org, p_credential,
            'ledger.' || p_kind, 'transfer', p_transfer_id, NULL,
            jsonb_build_object('amount', ((p_amount::numeric / 100)::numeric(20, 2))::text,
                'currency', p_currency, 'counterparty_id', p_customer),
            p_reason, p_request_id);

    outcome := 'posted';
    transfer_id := p_transfer_id;
    partner_balance_after := CASE WHEN p_kind = 'allocate' THEN v_debit.balance
        ELSE v_credit.balance END;
END
$$;
"""
