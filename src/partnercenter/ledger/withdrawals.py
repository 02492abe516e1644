"""Withdrawals (提现): a partner asks, vendor finance approves or rejects, then pays.

Asking moves the amount out of the partner's balance into its hold account at once, so it
can be neither allocated nor asked for twice while finance decides. A rejection moves it
back; a payment moves it out of the platform. A bank withdrawal goes only to an account
held by the partner's legal entity, and is due seven working days after approval.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit, calendar
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import FieldProblem, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.core.ids import new_id
from partnercenter.core.money import to_decimal
from partnercenter.core.security import SecretBox
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import service
from partnercenter.ledger.errors import (
    BankHolderMismatch,
    NoLegalEntity,
    NoSuchWithdrawal,
    WithdrawalNotPending,
)
from partnercenter.ledger.models import (
    AccountKind,
    TransferKind,
    Withdrawal,
    WithdrawalMethod,
    WithdrawalStatus,
)
from partnercenter.ledger.posting import Limit, Posting

PAY_WITHIN_WORKING_DAYS = 7
CALENDAR_TIMEZONE = "Asia/Shanghai"
"""The zone of the working-day calendar; the faces pass ``settings.display_timezone``."""
BANK_ACCOUNT = re.compile(r"^[0-9]{8,34}$")


def _holder(name: str) -> str:
    """Names compare without case, spaces, or the difference of full- and half-width brackets."""
    folded = name.replace("\uff08", "(").replace("\uff09", ")")
    return re.sub(r"\s+", "", folded).casefold()


def request(
    session: Session,
    actor: Actor,
    box: SecretBox,
    *,
    amount: int,
    method: WithdrawalMethod,
    bank_holder: str | None = None,
    bank_name: str | None = None,
    bank_account: str | None = None,
    note: str | None = None,
    currency: str = service.DEFAULT_CURRENCY,
) -> Withdrawal:
    identity.authorize(actor, Permission.FUNDS_TRANSFER)
    service.check_amount(amount)
    partner = session.get(Organisation, actor.organisation_id)
    assert partner is not None
    holder = name = account = None
    if method is WithdrawalMethod.BANK:
        holder, name, account = _bank_details(
            partner, bank_holder, bank_name, bank_account
        )
    accounts = service.ensure_accounts(
        session,
        [
            (partner.id, AccountKind.PARTNER_CASH),
            (partner.id, AccountKind.PARTNER_HOLD),
        ],
        currency,
    )
    now = utc_now()
    withdrawal_id = new_id()
    hold = _move(
        session,
        actor,
        TransferKind.WITHDRAWAL_HOLD,
        debit=accounts[(partner.id, AccountKind.PARTNER_CASH)],
        credit=accounts[(partner.id, AccountKind.PARTNER_HOLD)],
        amount=amount,
        currency=currency,
        partner_id=partner.id,
        withdrawal_id=withdrawal_id,
        limit=Limit.UNSPENT,
        reason=note,
    )
    withdrawal = Withdrawal(
        id=withdrawal_id,
        organisation_id=partner.id,
        amount=amount,
        currency=currency,
        method=method,
        bank_holder=holder,
        bank_name=name,
        bank_account_encrypted=box.seal(account) if account else None,
        bank_account_last4=account[-4:] if account else None,
        status=WithdrawalStatus.PENDING,
        note=note or None,
        requested_by_user_id=actor.user_id,
        requested_at=now,
        hold_transfer_id=hold,
    )
    session.add(withdrawal)
    session.flush()
    _audit(session, actor, withdrawal, "ledger.withdrawal_requested")
    return withdrawal


def _bank_details(
    partner: Organisation,
    bank_holder: str | None,
    bank_name: str | None,
    bank_account: str | None,
) -> tuple[str, str, str]:
    holder = (bank_holder or "").strip()
    name = (bank_name or "").strip()
    account = re.sub(r"[\s-]", "", bank_account or "")
    problems = []
    if not holder:
        problems.append(FieldProblem("bank_holder", N_("Enter the account holder.")))
    if not name:
        problems.append(FieldProblem("bank_name", N_("Enter the bank.")))
    if not BANK_ACCOUNT.match(account):
        problems.append(
            FieldProblem(
                "bank_account", N_("Enter the account number: 8 to 34 digits.")
            )
        )
    if problems:
        raise InvalidInput(problems=problems)
    if not partner.legal_name:
        raise NoLegalEntity()
    if _holder(holder) != _holder(partner.legal_name):
        raise BankHolderMismatch(legal_name=partner.legal_name)
    return holder, name, account


def _move(
    session: Session,
    actor: Actor,
    kind: TransferKind,
    *,
    debit: int,
    credit: int,
    amount: int,
    currency: str,
    partner_id: str,
    withdrawal_id: str,
    limit: Limit,
    reason: str | None,
) -> str:
    at = utc_now()
    entry = Posting(
        transfer_id=service.new_transfer_id(kind, at),
        kind=kind,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency=currency,
        limit=limit,
        organisation_id=partner_id,
        external_ref=withdrawal_id,
        reason=reason,
    )
    posted = service.post_one(session, actor, entry, at)
    service.audit_transfer(session, actor, entry, posted)
    return entry.transfer_id


def get(session: Session, actor: Actor, withdrawal_id: str) -> Withdrawal:
    """A withdrawal the actor may see: its own partner's, or any for vendor finance."""
    withdrawal = session.get(Withdrawal, withdrawal_id)
    if withdrawal is None or not (
        withdrawal.organisation_id == actor.organisation_id
        or actor.can(Permission.FINANCE_OPERATE)
    ):
        raise NoSuchWithdrawal()
    return withdrawal


def _locked(
    session: Session, withdrawal_id: str, status: WithdrawalStatus
) -> Withdrawal:
    withdrawal = session.scalar(
        select(Withdrawal).where(Withdrawal.id == withdrawal_id).with_for_update()
    )
    if withdrawal is None:
        raise NoSuchWithdrawal()
    session.refresh(withdrawal)
    if withdrawal.status is not status:
        raise WithdrawalNotPending()
    return withdrawal


def approve(
    session: Session,
    actor: Actor,
    withdrawal_id: str,
    *,
    timezone: str = CALENDAR_TIMEZONE,
) -> Withdrawal:
    identity.authorize(actor, Permission.FINANCE_OPERATE)
    withdrawal = _locked(session, withdrawal_id, WithdrawalStatus.PENDING)
    now = utc_now()
    withdrawal.status = WithdrawalStatus.APPROVED
    withdrawal.decided_by_user_id = actor.user_id
    withdrawal.decided_at = now
    # Working days are days in mainland China: an approval at 01:00 in Beijing counts
    # from that day, though it is still the day before in UTC.
    withdrawal.pay_by = calendar.deadline_after(
        session, now, PAY_WITHIN_WORKING_DAYS, timezone
    ).day
    session.flush()
    _audit(session, actor, withdrawal, "ledger.withdrawal_approved")
    return withdrawal


def reject(
    session: Session, actor: Actor, withdrawal_id: str, reason: str
) -> Withdrawal:
    identity.authorize(actor, Permission.FINANCE_OPERATE)
    if not reason.strip():
        raise InvalidInput(
            problems=[FieldProblem("reason", N_("Say why the withdrawal is rejected."))]
        )
    withdrawal = _locked(session, withdrawal_id, WithdrawalStatus.PENDING)
    accounts = _accounts(session, withdrawal)
    withdrawal.settle_transfer_id = _move(
        session,
        actor,
        TransferKind.WITHDRAWAL_RELEASE,
        debit=accounts[AccountKind.PARTNER_HOLD],
        credit=accounts[AccountKind.PARTNER_CASH],
        amount=withdrawal.amount,
        currency=withdrawal.currency,
        partner_id=withdrawal.organisation_id,
        withdrawal_id=withdrawal.id,
        limit=Limit.NONE,
        reason=reason,
    )
    withdrawal.status = WithdrawalStatus.REJECTED
    withdrawal.rejection_reason = reason.strip()
    withdrawal.decided_by_user_id = actor.user_id
    withdrawal.decided_at = utc_now()
    session.flush()
    _audit(session, actor, withdrawal, "ledger.withdrawal_rejected", reason=reason)
    return withdrawal


def mark_paid(
    session: Session, actor: Actor, withdrawal_id: str, payment_reference: str
) -> Withdrawal:
    identity.authorize(actor, Permission.FINANCE_OPERATE)
    if not payment_reference.strip():
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "payment_reference",
                    N_("Enter the bank's reference of the payment."),
                )
            ]
        )
    withdrawal = _locked(session, withdrawal_id, WithdrawalStatus.APPROVED)
    accounts = _accounts(session, withdrawal)
    vendor = identity.vendor_organisation(session)
    clearing = service.account_id(
        session, vendor.id, AccountKind.VENDOR_CLEARING, withdrawal.currency
    )
    withdrawal.settle_transfer_id = _move(
        session,
        actor,
        TransferKind.WITHDRAWAL_PAYOUT,
        debit=accounts[AccountKind.PARTNER_HOLD],
        credit=clearing,
        amount=withdrawal.amount,
        currency=withdrawal.currency,
        partner_id=withdrawal.organisation_id,
        withdrawal_id=withdrawal.id,
        limit=Limit.NONE,
        reason=payment_reference,
    )
    withdrawal.status = WithdrawalStatus.PAID
    withdrawal.payment_reference = payment_reference.strip()[:100]
    withdrawal.paid_by_user_id = actor.user_id
    withdrawal.paid_at = utc_now()
    session.flush()
    _audit(session, actor, withdrawal, "ledger.withdrawal_paid")
    return withdrawal


def _accounts(session: Session, withdrawal: Withdrawal) -> dict[AccountKind, int]:
    found = service.ensure_accounts(
        session,
        [
            (withdrawal.organisation_id, AccountKind.PARTNER_CASH),
            (withdrawal.organisation_id, AccountKind.PARTNER_HOLD),
        ],
        withdrawal.currency,
    )
    return {kind: account for (_, kind), account in found.items()}


def _audit(
    session: Session,
    actor: Actor,
    withdrawal: Withdrawal,
    action: str,
    *,
    reason: str | None = None,
) -> None:
    audit.record(
        session,
        actor,
        action,
        subject_type="withdrawal",
        subject_id=withdrawal.id,
        organisation_id=withdrawal.organisation_id,
        after={
            "status": withdrawal.status.value,
            "amount": str(to_decimal(withdrawal.amount)),
            "method": withdrawal.method.value,
        },
        reason=reason,
    )


def list_for(
    session: Session,
    actor: Actor,
    *,
    partner_id: str | None = None,
    status: WithdrawalStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Sequence[Withdrawal]:
    """A partner's own withdrawals; vendor finance sees every partner's (or one's)."""
    statement = select(Withdrawal)
    if actor.can(Permission.FINANCE_OPERATE):
        if partner_id:
            statement = statement.where(Withdrawal.organisation_id == partner_id)
    else:
        identity.authorize(actor, Permission.FUNDS_VIEW)
        statement = statement.where(Withdrawal.organisation_id == actor.organisation_id)
    if status:
        statement = statement.where(Withdrawal.status == status)
    return session.scalars(
        statement.order_by(Withdrawal.requested_at.desc(), Withdrawal.id)
        .offset(offset)
        .limit(limit)
    ).all()
