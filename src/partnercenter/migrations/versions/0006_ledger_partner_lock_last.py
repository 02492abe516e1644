"""ledger: a single allocation or reclaim locks the partner's balance last

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_CUSTOMER_TRANSFER)


def downgrade() -> None:
    # Going back to 0005 keeps this function: it posts what the earlier one posted, and
    # only its lock order differs.
    pass


# Every allocation of a partner debits the same row, its cash account, and every request
# waits for that row's lock. So the function does all the work that does not need the
# partner's balance first, under the customer's lock only, and takes the partner's lock for
# the last two statements (its entry and its balance) and the commit.
#
# The locks are FOR NO KEY UPDATE, the lock an UPDATE of the balance takes anyway: the
# transfer row's foreign keys key-share-lock both accounts before the partner's is locked,
# and FOR UPDATE would wait for the key-share locks of every other request in the queue,
# which in turn wait for it.
#
# Accounts are always locked customer-side first, then partner-side, then the vendor's, and
# by id within a side; the Python posting engine (posting.lock_accounts) keeps the same order,
# so the two never wait for each other in a circle.
#
# A balance is checked twice: without a lock before anything is written (which refuses a
# shortfall cheaply in the usual case) and under the lock at the end. A shortfall found only
# at the end, because a concurrent allocation took the money meanwhile, raises SQLSTATE
# PCL01 with the allocatable amount as its detail; the error undoes the whole statement, so
# nothing of the transfer remains, and the caller answers insufficient_funds.
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
    v_allocating boolean := p_kind = 'allocate';
    v_mode text;
    v_partner_id bigint;
    v_customer_id bigint;
    v_partner ledger_accounts%ROWTYPE;
    v_customer ledger_accounts%ROWTYPE;
    v_room bigint;
    v_signed bigint;
    v_us bigint := (extract(epoch FROM p_at) * 1000000)::bigint;
    v_hash text;
    v_customer_hash text;
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

    SELECT id INTO v_partner_id FROM ledger_accounts
        WHERE organisation_id = v_funding AND kind = 'partner_cash' AND currency = p_currency;
    IF NOT FOUND THEN
        INSERT INTO ledger_accounts (organisation_id, kind, currency, balance, credit_limit,
                designated, entry_count, last_hash, created_at, updated_at)
            VALUES (v_funding, 'partner_cash', p_currency, 0, 0, 0, 0, repeat('0', 64),
                p_at, p_at)
            ON CONFLICT DO NOTHING;
        SELECT id INTO v_partner_id FROM ledger_accounts
            WHERE organisation_id = v_funding AND kind = 'partner_cash'
              AND currency = p_currency;
    END IF;
    SELECT id INTO v_customer_id FROM ledger_accounts
        WHERE organisation_id = p_customer AND kind = 'customer_allocated'
          AND currency = p_currency;
    IF NOT FOUND THEN
        INSERT INTO ledger_accounts (organisation_id, kind, currency, balance, credit_limit,
                designated, entry_count, last_hash, created_at, updated_at)
            VALUES (p_customer, 'customer_allocated', p_currency, 0, 0, 0, 0,
                repeat('0', 64), p_at, p_at)
            ON CONFLICT DO NOTHING;
        SELECT id INTO v_customer_id FROM ledger_accounts
            WHERE organisation_id = p_customer AND kind = 'customer_allocated'
              AND currency = p_currency;
    END IF;

    SELECT * INTO v_customer FROM ledger_accounts WHERE id = v_customer_id FOR NO KEY UPDATE;
    -- A retry that raced its original for the same customer waited for this lock; the
    -- original has committed by now, so its key decides before the balance is looked at.
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
    IF v_allocating THEN
        -- Not locked: a cheap first look, checked again under the lock below.
        SELECT * INTO v_partner FROM ledger_accounts WHERE id = v_partner_id;
        v_room := v_partner.balance + v_partner.credit_limit - v_partner.designated;
    ELSE
        v_room := v_customer.balance - v_customer.designated;
    END IF;
    IF p_amount > v_room THEN
        outcome := 'insufficient_funds'; available := greatest(v_room, 0); RETURN;
    END IF;

    -- A retry racing its original waits here, on the key's unique index, until the
    -- original commits (and then replays its answer) or fails (and then goes on).
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

    INSERT INTO audit_events (occurred_at, organisation_id, actor_user_id,
            actor_organisation_id, actor_credential_id, action, subject_type, subject_id,
            before, after, reason, request_id)
        VALUES (p_at, v_funding, p_actor_user, p_actor_org, p_credential,
            'ledger.' || p_kind, 'transfer', p_transfer_id, NULL,
            jsonb_build_object('amount', ((p_amount::numeric / 100)::numeric(20, 2))::text,
                'currency', p_currency, 'counterparty_id', p_customer),
            p_reason, p_request_id);

    -- The customer's balance, under the customer's lock.
    v_signed := CASE WHEN v_allocating THEN p_amount ELSE -p_amount END;
    v_customer.balance := v_customer.balance + v_signed;
    v_customer.entry_count := v_customer.entry_count + 1;
    v_customer_hash := encode(sha256(convert_to(concat_ws('|', v_customer.last_hash,
        v_customer.id, v_customer.entry_count, p_transfer_id, p_kind, v_signed,
        v_customer.balance, v_us), 'UTF8')), 'hex');
    UPDATE ledger_accounts SET balance = v_customer.balance,
            entry_count = v_customer.entry_count, last_hash = v_customer_hash,
            updated_at = p_at
        WHERE id = v_customer.id;

    -- The partner's side, last: from here to the commit the partner's balance is locked.
    -- The transfer row comes after the lock too: its foreign key to the partner's account
    -- takes a key-share lock on it, and many requests holding that lock while they queue
    -- for the row lock make PostgreSQL track them in ever larger multixacts.
    SELECT * INTO v_partner FROM ledger_accounts WHERE id = v_partner_id FOR NO KEY UPDATE;
    IF v_allocating THEN
        v_room := v_partner.balance + v_partner.credit_limit - v_partner.designated;
        IF p_amount > v_room THEN
            RAISE EXCEPTION 'insufficient_funds' USING ERRCODE = 'PCL01',
                DETAIL = greatest(v_room, 0)::text;
        END IF;
    END IF;
    v_partner.balance := v_partner.balance - v_signed;
    v_partner.entry_count := v_partner.entry_count + 1;
    v_hash := encode(sha256(convert_to(concat_ws('|', v_partner.last_hash, v_partner.id,
        v_partner.entry_count, p_transfer_id, p_kind, -v_signed, v_partner.balance, v_us),
        'UTF8')), 'hex');
    INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
            currency, organisation_id, counterparty_id, external_ref, original_id, reason,
            actor_user_id, actor_organisation_id, actor_credential_id, request_id, created_at)
        VALUES (p_transfer_id, p_kind,
            CASE WHEN v_allocating THEN v_partner_id ELSE v_customer_id END,
            CASE WHEN v_allocating THEN v_customer_id ELSE v_partner_id END,
            p_amount, p_currency, v_funding, p_customer, NULL, NULL, p_reason, p_actor_user,
            p_actor_org, p_credential, p_request_id, p_at);
    INSERT INTO ledger_entries (transfer_id, account_id, seq, amount, balance_after,
            created_at, hash)
        VALUES (p_transfer_id, v_customer.id, v_customer.entry_count, v_signed,
                v_customer.balance, p_at, v_customer_hash),
               (p_transfer_id, v_partner.id, v_partner.entry_count, -v_signed,
                v_partner.balance, p_at, v_hash);
    UPDATE ledger_accounts SET balance = v_partner.balance,
            entry_count = v_partner.entry_count, last_hash = v_hash, updated_at = p_at
        WHERE id = v_partner.id;

    outcome := 'posted';
    transfer_id := p_transfer_id;
    partner_balance_after := v_partner.balance;
END
$$;
"""
