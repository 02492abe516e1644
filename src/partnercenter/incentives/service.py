"""The incentive policy catalogue: the vendor publishes, per month and service type, the
incentive policy, whether partner discounts apply and the rebate rate.

A policy applies from its month until a later month of the same service type replaces it.
A month is read as it stands at its last second (23:59:59 in Asia/Shanghai), so within a
month only that month's own entry, or else the latest earlier one, counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from partnercenter.billing.models import ServiceType
from partnercenter.billing.service import is_cycle
from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import FieldProblem, Forbidden, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.identity import service as identity
from partnercenter.identity.permissions import Permission
from partnercenter.incentives.models import IncentivePolicy, IncentivePolicyCode

MAX_LIMIT = 1000
HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Policy:
    """A service type's policy as it stands in a month (shaped after the BSS record)."""

    service_type_code: str
    service_type_name: str
    incentive_policy: str
    allow_discount: str
    """``YES`` or ``NO``."""
    rebate_rate: Decimal | None
    """Percent, two decimals."""
    effective_month: str
    """The month whose entry this is: the month asked for, or an earlier one."""


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """One line of a month's form: ``policy`` empty keeps what earlier months say."""

    service_type_code: str
    policy: str
    allow_discount: bool
    rebate_rate: str


def can_read(actor: Actor) -> bool:
    if actor.is_vendor:
        return actor.can(Permission.CATALOGUE_MANAGE) or actor.can(
            Permission.PARTNERS_VIEW
        )
    return actor.organisation_kind != "customer" and actor.can(
        Permission.INCENTIVES_VIEW
    )


def _month_problem(month: str, field: str = "month") -> list[FieldProblem]:
    return (
        []
        if is_cycle(month)
        else [FieldProblem(field, N_("Enter a month as YYYY-MM."))]
    )


def rate_of(basis_points: int | None) -> Decimal | None:
    return (
        None
        if basis_points is None
        else (Decimal(basis_points) / 100).quantize(HUNDREDTH)
    )


def policies_for_month(
    session: Session,
    actor: Actor,
    *,
    month: str,
    service_type_code: str | None = None,
    offset: int = 0,
    limit: int = 10,
    locale: str = "zh-CN",
) -> tuple[list[Policy], int]:
    """The policies in force at the end of ``month``, by service type code, one page."""
    if not can_read(actor):
        raise Forbidden()
    problems = _month_problem(month)
    if offset < 0:
        problems.append(FieldProblem("offset", N_("Enter 0 or more.")))
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(
            FieldProblem("limit", N_("Enter 1 to %(limit)s."), {"limit": MAX_LIMIT})
        )
    if problems:
        raise InvalidInput(problems=problems)
    latest = (
        select(
            IncentivePolicy.service_type_code,
            func.max(IncentivePolicy.month).label("month"),
        )
        .where(IncentivePolicy.month <= month)
        .group_by(IncentivePolicy.service_type_code)
    )
    if service_type_code is not None:
        latest = latest.where(IncentivePolicy.service_type_code == service_type_code)
    current = latest.subquery()
    total = session.scalar(select(func.count()).select_from(current)) or 0
    rows = session.execute(
        select(IncentivePolicy, ServiceType)
        .join(
            current,
            and_(
                current.c.service_type_code == IncentivePolicy.service_type_code,
                current.c.month == IncentivePolicy.month,
            ),
        )
        .join(ServiceType, ServiceType.code == IncentivePolicy.service_type_code)
        .order_by(IncentivePolicy.service_type_code)
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        Policy(
            service_type_code=policy.service_type_code,
            service_type_name=service.name(locale),
            incentive_policy=policy.policy.value,
            allow_discount="YES" if policy.allow_discount else "NO",
            rebate_rate=rate_of(policy.rebate_rate_bp),
            effective_month=policy.month,
        )
        for policy, service in rows
    ], total


def own_entries(session: Session, month: str) -> dict[str, IncentivePolicy]:
    """The entries made for ``month`` itself, by service type code."""
    return {
        row.service_type_code: row
        for row in session.scalars(
            select(IncentivePolicy).where(IncentivePolicy.month == month)
        )
    }


def _basis_points(text: str, field: str) -> tuple[int | None, list[FieldProblem]]:
    text = text.strip().removesuffix("%").strip()
    if not text:
        return None, []
    problem = [
        FieldProblem(
            field, N_("Enter a percentage from 0 to 100 with at most two decimals.")
        )
    ]
    try:
        rate = Decimal(text)
    except InvalidOperation:
        return None, problem
    if not rate.is_finite() or rate != rate.quantize(HUNDREDTH) or not 0 <= rate <= 100:
        return None, problem
    return int(rate * 100), []


def save_month(
    session: Session, actor: Actor, *, month: str, entries: Sequence[PolicyInput]
) -> int:
    """Set the month's own entries as given; returns how many changed. Each change is
    audited with what it replaced. Nothing is written when any line is wrong."""
    identity.authorize(actor, Permission.CATALOGUE_MANAGE)
    problems = _month_problem(month)
    known = set(session.scalars(select(ServiceType.code)))
    wanted: dict[str, tuple[IncentivePolicyCode, bool, int | None] | None] = {}
    for entry in entries:
        code = entry.service_type_code
        if code not in known:
            problems.append(
                FieldProblem(
                    code, N_("No service type has the code %(code)s."), {"code": code}
                )
            )
            continue
        if not entry.policy:
            wanted[code] = None
            continue
        if entry.policy not in {p.value for p in IncentivePolicyCode}:
            problems.append(FieldProblem(f"{code}.policy", N_("Choose a policy.")))
            continue
        rate, rate_problems = _basis_points(entry.rebate_rate, f"{code}.rebate_rate")
        problems.extend(rate_problems)
        wanted[code] = (IncentivePolicyCode(entry.policy), entry.allow_discount, rate)
    if problems:
        raise InvalidInput(problems=problems)

    existing = own_entries(session, month)
    now = utc_now()
    changed = 0
    for code, value in wanted.items():
        row = existing.get(code)
        before = _facts(row)
        if value is None:
            if row is None:
                continue
            session.delete(row)
            after = None
        else:
            if row is None:
                row = IncentivePolicy(service_type_code=code, month=month)
                session.add(row)
            elif (row.policy, row.allow_discount, row.rebate_rate_bp) == value:
                continue
            row.policy, row.allow_discount, row.rebate_rate_bp = value
            row.updated_by_user_id, row.updated_at = actor.user_id, now
            after = _facts(row)
        changed += 1
        audit.record(
            session,
            actor,
            "incentives.policy_set" if after else "incentives.policy_removed",
            subject_type="incentive_policy",
            subject_id=f"{code}@{month}",
            organisation_id=actor.organisation_id,
            before=before,
            after=after,
        )
    session.flush()
    return changed


def _facts(row: IncentivePolicy | None) -> dict[str, object] | None:
    if row is None:
        return None
    rate = rate_of(row.rebate_rate_bp)
    return {
        "policy": row.policy.value,
        "allow_discount": row.allow_discount,
        "rebate_rate": None if rate is None else str(rate),
    }
