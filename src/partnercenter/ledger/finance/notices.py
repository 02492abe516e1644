"""What a partner is told when vendor finance decides on one of its withdrawals.

The kinds are registered when this module is imported (the console imports it with its
pages). Amounts and dates go into the parameters already written out in a form that reads
the same in every language (``1,000.00 CNY``, ``2026-03-11``), since a notice is rendered
in each reader's language long after it was made.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import notifications
from partnercenter.core.i18n import N_
from partnercenter.core.money import to_decimal
from partnercenter.core.settings import Settings
from partnercenter.identity.models import Membership, MembershipRole, User
from partnercenter.ledger.models import Withdrawal, WithdrawalStatus

PARTNER_LINK = "/funds/withdrawals"

APPROVED = "ledger.withdrawal_approved"
REJECTED = "ledger.withdrawal_rejected"
PAID = "ledger.withdrawal_paid"

notifications.register(
    APPROVED,
    title=N_("Your withdrawal of %(amount)s was approved"),
    body=N_(
        "Vendor finance approved your withdrawal of %(amount)s. It is due to be paid by "
        "%(pay_by)s."
    ),
)
notifications.register(
    REJECTED,
    title=N_("Your withdrawal of %(amount)s was rejected"),
    body=N_(
        "Vendor finance rejected your withdrawal of %(amount)s; the amount is back in "
        "your balance. Reason: %(reason)s"
    ),
)
notifications.register(
    PAID,
    title=N_("Your withdrawal of %(amount)s was paid"),
    body=N_(
        "Vendor finance paid your withdrawal of %(amount)s. Payment reference: "
        "%(reference)s"
    ),
)

_KINDS = {
    WithdrawalStatus.APPROVED: APPROVED,
    WithdrawalStatus.REJECTED: REJECTED,
    WithdrawalStatus.PAID: PAID,
}


def plain_amount(minor: int, currency: str) -> str:
    return f"{to_decimal(minor):,.2f} {currency}"


def recipients(session: Session, withdrawal: Withdrawal) -> list[User]:
    """The partner's admins, and whoever asked if that is someone else still there."""
    admins = session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .where(
            Membership.organisation_id == withdrawal.organisation_id,
            Membership.left_at.is_(None),
            MembershipRole.preset == "partner_admin",
        )
        .distinct()
    ).all()
    people = {user.id: user for user in admins}
    if (
        withdrawal.requested_by_user_id
        and withdrawal.requested_by_user_id not in people
    ):
        requester = session.scalar(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                User.id == withdrawal.requested_by_user_id,
                Membership.organisation_id == withdrawal.organisation_id,
                Membership.left_at.is_(None),
            )
        )
        if requester is not None:
            people[requester.id] = requester
    return sorted(people.values(), key=lambda user: user.id)


def withdrawal_decided(
    session: Session, settings: Settings, withdrawal: Withdrawal
) -> None:
    """Tell the partner what became of its withdrawal (approved, rejected or paid)."""
    kind = _KINDS.get(withdrawal.status)
    if kind is None:
        return
    params = {
        "amount": plain_amount(withdrawal.amount, withdrawal.currency),
        "withdrawal": withdrawal.id,
        "pay_by": withdrawal.pay_by.isoformat() if withdrawal.pay_by else "",
        "reason": withdrawal.rejection_reason or "",
        "reference": withdrawal.payment_reference or "",
    }
    for user in recipients(session, withdrawal):
        notifications.notify(
            session,
            user=user,
            kind=kind,
            params=params,
            link=PARTNER_LINK,
            base_url=settings.base_url,
            default_locale=settings.locale,
            organisation_id=withdrawal.organisation_id,
        )
