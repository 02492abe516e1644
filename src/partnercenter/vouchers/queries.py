"""Reading quotas and vouchers, always within the caller's organisation.

Rows come back as views whose fields line up with the BSS models (a quota's status 0/3/5,
a voucher's status 1-5), amounts in minor units, times aware and in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.identity import service as identity
from partnercenter.identity.permissions import Permission
from partnercenter.vouchers.models import (
    QuotaStatus,
    Voucher,
    VoucherQuota,
    VoucherStatus,
)
from partnercenter.vouchers.service import acting_partner

MAX_LIMIT = 1000


class QuotaState(StrEnum):
    EFFECTIVE = "effective"
    NOT_YET_EFFECTIVE = "not_yet_effective"
    EXPIRED = "expired"
    FROZEN = "frozen"
    RECLAIMED = "reclaimed"


QUOTA_API_STATUS = {
    QuotaState.EFFECTIVE: 0,
    QuotaState.NOT_YET_EFFECTIVE: 0,
    QuotaState.EXPIRED: 3,
    QuotaState.RECLAIMED: 3,
    QuotaState.FROZEN: 5,
}
"""The BSS quota status: 0 normal, 3 no longer valid, 5 frozen (4, "being adjusted", is
never shown: a grant to a reseller is one transaction)."""


class VoucherState(StrEnum):
    NOT_YET_EFFECTIVE = "not_yet_effective"
    USABLE = "usable"
    USED_UP = "used_up"
    EXPIRED = "expired"
    RECLAIMED = "reclaimed"


VOUCHER_API_STATUS = {
    VoucherState.NOT_YET_EFFECTIVE: 1,
    VoucherState.USABLE: 2,
    VoucherState.USED_UP: 3,
    VoucherState.EXPIRED: 4,
    VoucherState.RECLAIMED: 5,
}
"""The BSS coupon status: 1 not activated, 2 usable, 3 used, 4 expired, 5 reclaimed."""


def quota_state(quota: VoucherQuota, at: dt.datetime) -> QuotaState:
    if quota.status is QuotaStatus.FROZEN:
        return QuotaState.FROZEN
    if quota.status is QuotaStatus.RECLAIMED:
        return QuotaState.RECLAIMED
    if at >= quota.expire_time:
        return QuotaState.EXPIRED
    if at < quota.effective_time:
        return QuotaState.NOT_YET_EFFECTIVE
    return QuotaState.EFFECTIVE


def voucher_state(voucher: Voucher, at: dt.datetime) -> VoucherState:
    """An active voucher past its expiry reads as expired before the worker marks it."""
    if voucher.status is VoucherStatus.USED_UP:
        return VoucherState.USED_UP
    if voucher.status is VoucherStatus.RECLAIMED:
        return VoucherState.RECLAIMED
    if voucher.status is VoucherStatus.EXPIRED or at >= voucher.expire_time:
        return VoucherState.EXPIRED
    if at < voucher.effective_time:
        return VoucherState.NOT_YET_EFFECTIVE
    return VoucherState.USABLE


@dataclass(frozen=True, slots=True)
class QuotaView:
    quota_id: str
    partner_id: str
    parent_quota_id: str | None
    state: QuotaState
    currency: str
    amount: int
    balance: int
    effective_time: dt.datetime
    expire_time: dt.datetime
    min_face_value: int
    max_face_value: int
    max_vouchers: int
    issued_count: int
    service_types: list[str]
    new_customers_only: bool
    reclaimed_amount: int
    memo: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def api_status(self) -> int:
        return QUOTA_API_STATUS[self.state]


@dataclass(frozen=True, slots=True)
class VoucherView:
    voucher_id: str
    partner_id: str
    customer_id: str
    quota_id: str
    state: VoucherState
    currency: str
    face_value: int
    balance: int
    effective_time: dt.datetime
    expire_time: dt.datetime
    service_types: list[str]
    memo: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    returned_amount: int

    @property
    def api_status(self) -> int:
        return VOUCHER_API_STATUS[self.state]


def _quota_view(quota: VoucherQuota, at: dt.datetime) -> QuotaView:
    return QuotaView(
        quota_id=quota.id,
        partner_id=quota.organisation_id,
        parent_quota_id=quota.parent_id,
        state=quota_state(quota, at),
        currency=quota.currency,
        amount=quota.amount,
        balance=quota.balance,
        effective_time=quota.effective_time,
        expire_time=quota.expire_time,
        min_face_value=quota.min_face_value,
        max_face_value=quota.max_face_value,
        max_vouchers=quota.max_vouchers,
        issued_count=quota.issued_count,
        service_types=list(quota.service_types),
        new_customers_only=quota.new_customers_only,
        reclaimed_amount=quota.reclaimed_amount,
        memo=quota.memo,
        created_at=quota.created_at,
        updated_at=quota.updated_at,
    )


def _voucher_view(voucher: Voucher, at: dt.datetime) -> VoucherView:
    return VoucherView(
        voucher_id=voucher.id,
        partner_id=voucher.organisation_id,
        customer_id=voucher.customer_id,
        quota_id=voucher.quota_id,
        state=voucher_state(voucher, at),
        currency=voucher.currency,
        face_value=voucher.face_value,
        balance=voucher.balance,
        effective_time=voucher.effective_time,
        expire_time=voucher.expire_time,
        service_types=list(voucher.service_types),
        memo=voucher.memo,
        created_at=voucher.created_at,
        last_used_at=voucher.last_used_at,
        returned_amount=voucher.returned_amount,
    )


def _page(offset: int, limit: int) -> tuple[int, int]:
    return max(offset, 0), min(max(limit, 1), MAX_LIMIT)


def _quota_state_condition(state: QuotaState, at: dt.datetime) -> ColumnElement[bool]:
    effective = VoucherQuota.status == QuotaStatus.EFFECTIVE
    return {
        QuotaState.FROZEN: VoucherQuota.status == QuotaStatus.FROZEN,
        QuotaState.RECLAIMED: VoucherQuota.status == QuotaStatus.RECLAIMED,
        QuotaState.EXPIRED: and_(effective, VoucherQuota.expire_time <= at),
        QuotaState.NOT_YET_EFFECTIVE: and_(effective, VoucherQuota.effective_time > at),
        QuotaState.EFFECTIVE: and_(
            effective,
            VoucherQuota.effective_time <= at,
            VoucherQuota.expire_time > at,
        ),
    }[state]


def _voucher_state_condition(
    state: VoucherState, at: dt.datetime
) -> ColumnElement[bool]:
    active = Voucher.status == VoucherStatus.ACTIVE
    return {
        VoucherState.USED_UP: Voucher.status == VoucherStatus.USED_UP,
        VoucherState.RECLAIMED: Voucher.status == VoucherStatus.RECLAIMED,
        VoucherState.EXPIRED: or_(
            Voucher.status == VoucherStatus.EXPIRED,
            and_(active, Voucher.expire_time <= at),
        ),
        VoucherState.NOT_YET_EFFECTIVE: and_(
            active, Voucher.effective_time > at, Voucher.expire_time > at
        ),
        VoucherState.USABLE: and_(
            active, Voucher.effective_time <= at, Voucher.expire_time > at
        ),
    }[state]


def _count(session: Session, statement: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(statement.subquery())) or 0


@dataclass(frozen=True, slots=True)
class Between:
    """A time range; either end may be open. ``start`` included, ``end`` excluded."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None


def _within(
    column: QueryableAttribute[dt.datetime], span: Between | None
) -> list[ColumnElement[bool]]:
    if span is None:
        return []
    conditions = []
    if span.start is not None:
        conditions.append(column >= span.start)
    if span.end is not None:
        conditions.append(column < span.end)
    return conditions


def quotas(
    session: Session,
    actor: Actor,
    *,
    quota_ids: list[str] | None = None,
    states: set[QuotaState] | None = None,
    effective: Between | None = None,
    expire: Between | None = None,
    partner_id: str | None = None,
    offset: int = 0,
    limit: int = 10,
    indirect_partner_id: str | None = None,
) -> tuple[list[QuotaView], int]:
    """The quotas of the caller (or of one of its resellers, for a distributor), newest
    first; vendor finance sees every partner's, or ``partner_id``'s."""
    offset, limit = _page(offset, limit)
    statement = select(VoucherQuota)
    if actor.is_vendor:
        identity.authorize(actor, Permission.FINANCE_OPERATE)
        if partner_id:
            statement = statement.where(VoucherQuota.organisation_id == partner_id)
    else:
        owner = acting_partner(
            session, actor, indirect_partner_id, Permission.FUNDS_VIEW
        )
        statement = statement.where(VoucherQuota.organisation_id == owner)
    at = utc_now()
    if quota_ids:
        statement = statement.where(VoucherQuota.id.in_(quota_ids))
    if states:
        statement = statement.where(
            or_(*(_quota_state_condition(state, at) for state in states))
        )
    statement = statement.where(
        *_within(VoucherQuota.effective_time, effective),
        *_within(VoucherQuota.expire_time, expire),
    ).order_by(VoucherQuota.created_at.desc(), VoucherQuota.id.desc())
    rows = session.scalars(statement.offset(offset).limit(limit)).all()
    return [_quota_view(row, at) for row in rows], _count(session, statement)


def granted_to_resellers(
    session: Session, actor: Actor, *, offset: int = 0, limit: int = 50
) -> tuple[list[QuotaView], int]:
    """The quotas a distributor granted its resellers out of its own, newest first."""
    acting_partner(session, actor, None, Permission.FUNDS_VIEW)
    offset, limit = _page(offset, limit)
    parent = aliased(VoucherQuota)
    statement = (
        select(VoucherQuota)
        .join(parent, parent.id == VoucherQuota.parent_id)
        .where(parent.organisation_id == actor.organisation_id)
        .order_by(VoucherQuota.created_at.desc(), VoucherQuota.id.desc())
    )
    at = utc_now()
    rows = session.scalars(statement.offset(offset).limit(limit)).all()
    return [_quota_view(row, at) for row in rows], _count(session, statement)


def issued_vouchers(
    session: Session,
    actor: Actor,
    *,
    voucher_id: str | None = None,
    customer_id: str | None = None,
    state: VoucherState | None = None,
    created: Between | None = None,
    effective: Between | None = None,
    expire: Between | None = None,
    offset: int = 0,
    limit: int = 10,
    indirect_partner_id: str | None = None,
) -> tuple[list[VoucherView], int]:
    """The vouchers the caller (or one of its resellers) issued, newest first."""
    owner = acting_partner(session, actor, indirect_partner_id, Permission.FUNDS_VIEW)
    offset, limit = _page(offset, limit)
    at = utc_now()
    statement = select(Voucher).where(Voucher.organisation_id == owner)
    if voucher_id:
        statement = statement.where(Voucher.id == voucher_id)
    if customer_id:
        statement = statement.where(Voucher.customer_id == customer_id)
    if state is not None:
        statement = statement.where(_voucher_state_condition(state, at))
    statement = statement.where(
        *_within(Voucher.created_at, created),
        *_within(Voucher.effective_time, effective),
        *_within(Voucher.expire_time, expire),
    ).order_by(Voucher.created_at.desc(), Voucher.id.desc())
    rows = session.scalars(statement.offset(offset).limit(limit)).all()
    return [_voucher_view(row, at) for row in rows], _count(session, statement)


def customer_vouchers(
    session: Session,
    actor: Actor,
    *,
    state: VoucherState | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[VoucherView], int]:
    """A customer's own vouchers, those expiring first on top."""
    identity.authorize(actor, Permission.CUSTOMER_SELF)
    offset, limit = _page(offset, limit)
    at = utc_now()
    statement = select(Voucher).where(Voucher.customer_id == actor.organisation_id)
    if state is not None:
        statement = statement.where(_voucher_state_condition(state, at))
    statement = statement.order_by(Voucher.expire_time, Voucher.id)
    rows = session.scalars(statement.offset(offset).limit(limit)).all()
    return [_voucher_view(row, at) for row in rows], _count(session, statement)
