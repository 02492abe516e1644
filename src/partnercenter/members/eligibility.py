"""Who may become a member of a partner: checked when invited and again when accepting."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from partnercenter.core.errors import FieldProblem
from partnercenter.core.i18n import N_
from partnercenter.identity.models import (
    AccountType,
    Membership,
    Organisation,
    OrganisationKind,
    RealNameStatus,
    User,
)
from partnercenter.members.rules import (
    PARTNERS_JOINED_LIMIT,
    PARTNERS_JOINED_WINDOW_DAYS,
)

FIELD = "identifier"


def refusals(
    session: Session, person: User, organisation: Organisation, now: dt.datetime
) -> list[FieldProblem]:
    """Every reason ``person`` cannot join ``organisation``; empty when it may."""
    problems = []
    if person.account_type is not AccountType.PERSONAL:
        problems.append(
            FieldProblem(
                FIELD,
                N_(
                    "Only personal accounts can become members; this is an enterprise "
                    "account or a sub-user."
                ),
            )
        )
    if person.real_name_status is not RealNameStatus.VERIFIED:
        problems.append(
            FieldProblem(
                FIELD, N_("The account has not completed real-name verification.")
            )
        )
    if _is_partner_account(session, person):
        problems.append(
            FieldProblem(FIELD, N_("The account is the main account of a partner."))
        )
    if _is_member_of_another_partner(session, person, organisation):
        problems.append(
            FieldProblem(
                FIELD, N_("The account is already a member of another partner.")
            )
        )
    if _partners_joined_since(session, person, now) >= PARTNERS_JOINED_LIMIT:
        problems.append(
            FieldProblem(
                FIELD,
                N_(
                    "The account has already joined %(limit)s partners within the last "
                    "%(days)s days."
                ),
                {"limit": PARTNERS_JOINED_LIMIT, "days": PARTNERS_JOINED_WINDOW_DAYS},
            )
        )
    return problems


def _is_partner_account(session: Session, person: User) -> bool:
    owned = session.scalar(
        select(func.count())
        .select_from(Organisation)
        .where(
            Organisation.main_user_id == person.id,
            Organisation.kind == OrganisationKind.PARTNER,
        )
    )
    return bool(owned)


def _is_member_of_another_partner(
    session: Session, person: User, organisation: Organisation
) -> bool:
    count = session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(
            Membership.user_id == person.id,
            Membership.left_at.is_(None),
            Membership.organisation_id != organisation.id,
            Organisation.kind == OrganisationKind.PARTNER,
        )
    )
    return bool(count)


def _partners_joined_since(session: Session, person: User, now: dt.datetime) -> int:
    since = now - dt.timedelta(days=PARTNERS_JOINED_WINDOW_DAYS)
    # Partners, not joins: leaving and rejoining the same partner counts it once.
    count = session.scalar(
        select(func.count(distinct(Membership.organisation_id)))
        .select_from(Membership)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(
            Membership.user_id == person.id,
            Membership.joined_at > since,
            Organisation.kind == OrganisationKind.PARTNER,
        )
    )
    return count or 0


def is_member(session: Session, person: User, organisation: Organisation) -> bool:
    count = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.user_id == person.id,
            Membership.organisation_id == organisation.id,
            Membership.left_at.is_(None),
        )
    )
    return bool(count)
