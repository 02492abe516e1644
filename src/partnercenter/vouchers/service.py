"""The vouchers' use cases: granting and freezing quotas, a distributor's share of a quota
for a reseller, issuing vouchers to resale customers, reclaiming them, and their expiry.

Amounts are integers of minor units. Each function flushes and never commits. Rows are
locked in one order everywhere, so that two transactions never wait on each other in a
circle on PostgreSQL: associations first (shared), then ledger accounts (taken by the
charge intake and the association changes), then vouchers by expiry time and id, then
quotas by id.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import FieldProblem, InvalidInput, NotFound
from partnercenter.core.i18n import N_
from partnercenter.core.logging import get_logger
from partnercenter.core.money import to_decimal
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationStatus,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, OrganisationKind, PartnerType
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import service as ledger
from partnercenter.ledger.errors import NotAPartner
from partnercenter.vouchers import errors
from partnercenter.vouchers.errors import (
    NoSuchQuota,
    NoSuchVoucher,
    NotVendorFinance,
    QuotaInsufficient,
    QuotaNotReclaimable,
    QuotaNotUsable,
    TooManyCustomers,
    VoucherNotReclaimable,
    VoucherOfConsultingCustomer,
)
from partnercenter.vouchers.models import (
    QuotaStatus,
    Voucher,
    VoucherQuota,
    VoucherStatus,
)

log = get_logger("partnercenter.vouchers")

MAX_CUSTOMERS = 100
"""Customers in one issue request."""
MAX_SERVICE_TYPES = 10
MAX_AMOUNT = ledger.MAX_AMOUNT
MEMO_LIMIT = 256


def new_quota_id(at: dt.datetime) -> str:
    return f"VQ{at.astimezone(dt.UTC):%y%m%d%H%M%S}{secrets.token_hex(6)}"


def new_voucher_id(at: dt.datetime) -> str:
    return f"CP{at.astimezone(dt.UTC):%y%m%d%H%M%S}{secrets.token_hex(6)}"


def quota_in_effect(quota: VoucherQuota, at: dt.datetime) -> bool:
    return (
        quota.status is QuotaStatus.EFFECTIVE
        and quota.effective_time <= at < quota.expire_time
    )


# -- input checks ---------------------------------------------------------------------------


def _money_problem(field_name: str, value: int) -> FieldProblem | None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("amounts are integers of minor units")
    if 0 < value <= MAX_AMOUNT:
        return None
    return FieldProblem(
        field_name, N_("Enter an amount greater than 0 with at most two decimals.")
    )


def clean_service_types(values: Iterable[str]) -> list[str]:
    """The codes without blanks and repeats, in the order given; refused beyond 10."""
    codes = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    if len(codes) > MAX_SERVICE_TYPES or any(len(code) > 64 for code in codes):
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "service_types",
                    N_("Give at most %(limit)s cloud service type codes."),
                    {"limit": MAX_SERVICE_TYPES},
                )
            ]
        )
    return codes


def _memo(value: str | None) -> str | None:
    if value is not None and len(value) > MEMO_LIMIT:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "memo",
                    N_("Enter text of at most %(limit)s characters."),
                    {"limit": MEMO_LIMIT},
                )
            ]
        )
    return value


# -- locks ----------------------------------------------------------------------------------


def _lock_quotas(session: Session, ids: Iterable[str]) -> dict[str, VoucherQuota]:
    """The quotas, locked by id in ascending order (the one order for quota rows)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.scalars(
        select(VoucherQuota)
        .where(VoucherQuota.id.in_(wanted))
        .order_by(VoucherQuota.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


def _quota_family(
    session: Session, quota_ids: Iterable[str]
) -> dict[str, VoucherQuota]:
    """The quotas and the distributor quotas they were drawn from, all locked by id."""
    ids = set(quota_ids)
    parents = session.scalars(
        select(VoucherQuota.parent_id).where(
            VoucherQuota.id.in_(sorted(ids)), VoucherQuota.parent_id.is_not(None)
        )
    ).all()
    return _lock_quotas(session, ids | {p for p in parents if p})


def _share_lock_associations(
    session: Session, customer_ids: Sequence[str]
) -> dict[str, Association]:
    """The customers' active associations, share-locked: an association change locks them
    for update first, so a voucher cannot arrive while its customer leaves."""
    if not customer_ids:
        return {}
    rows = session.scalars(
        select(Association)
        .where(
            Association.customer_id.in_(sorted(set(customer_ids))),
            Association.status == AssociationStatus.ACTIVE,
        )
        .order_by(Association.id)
        .with_for_update(read=True)
    ).all()
    return {row.customer_id: row for row in rows}


def _give_back(
    quotas: dict[str, VoucherQuota], quota_id: str, amount: int, at: dt.datetime
) -> None:
    """Put ``amount`` back on the quota it came from; a reseller's quota that was itself
    reclaimed passes it on to its distributor's quota. ``quotas`` are locked."""
    if amount <= 0:
        return
    quota = quotas[quota_id]
    if quota.status is QuotaStatus.RECLAIMED and quota.parent_id:
        quota.reclaimed_amount += amount
        quota.updated_at = at
        quota = quotas[quota.parent_id]
    quota.balance += amount
    quota.updated_at = at


# -- who acts -------------------------------------------------------------------------------


def _require_vendor_finance(actor: Actor) -> None:
    if not actor.is_vendor:
        raise NotVendorFinance()
    identity.authorize(actor, Permission.FINANCE_OPERATE)


def _require_partner(actor: Actor, permission: Permission) -> None:
    identity.authorize(actor, permission)
    if actor.organisation_kind not in {t.value for t in PartnerType}:
        raise NotAPartner()


def acting_partner(
    session: Session,
    actor: Actor,
    indirect_partner_id: str | None,
    permission: Permission = Permission.FUNDS_TRANSFER,
) -> str:
    """Whose quotas and vouchers: the caller's, or one of its resellers' for a distributor."""
    _require_partner(actor, permission)
    return ledger.funding_partner(session, actor, indirect_partner_id)


def _snapshot(quota: VoucherQuota) -> dict[str, object]:
    return {
        "status": str(quota.status),
        "amount": quota.amount,
        "balance": quota.balance,
        "currency": quota.currency,
    }


# -- the vendor's quotas --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaTerms:
    amount: int
    effective_time: dt.datetime
    expire_time: dt.datetime
    min_face_value: int
    max_face_value: int
    max_vouchers: int
    service_types: Sequence[str] = ()
    new_customers_only: bool = False
    currency: str = ledger.DEFAULT_CURRENCY
    memo: str | None = None


def _terms_problems(terms: QuotaTerms) -> list[FieldProblem]:
    problems = [
        problem
        for problem in (
            _money_problem("amount", terms.amount),
            _money_problem("min_face_value", terms.min_face_value),
            _money_problem("max_face_value", terms.max_face_value),
        )
        if problem
    ]
    if terms.max_face_value < terms.min_face_value:
        problems.append(
            FieldProblem(
                "max_face_value",
                N_("The largest face value cannot be below the smallest."),
            )
        )
    if terms.max_face_value > terms.amount:
        problems.append(
            FieldProblem(
                "max_face_value",
                N_("The largest face value cannot exceed the quota's amount."),
            )
        )
    if not 1 <= terms.max_vouchers <= 1_000_000:
        problems.append(
            FieldProblem(
                "max_vouchers", N_("Enter a number of vouchers from 1 to 1,000,000.")
            )
        )
    if terms.expire_time <= terms.effective_time:
        problems.append(
            FieldProblem("expire_time", N_("The expiry must come after the start."))
        )
    return problems


def grant_quota(
    session: Session, actor: Actor, *, partner_id: str, terms: QuotaTerms
) -> VoucherQuota:
    """Vendor finance grants a partner a voucher quota."""
    _require_vendor_finance(actor)
    partner = session.get(Organisation, partner_id)
    if partner is None or partner.kind is not OrganisationKind.PARTNER:
        raise NotFound(N_("No such partner."))
    types = clean_service_types(terms.service_types)
    problems = _terms_problems(terms)
    if problems:
        raise InvalidInput(problems=problems)

    now = utc_now()
    quota = VoucherQuota(
        id=new_quota_id(now),
        organisation_id=partner.id,
        parent_id=None,
        status=QuotaStatus.EFFECTIVE,
        currency=terms.currency,
        amount=terms.amount,
        balance=terms.amount,
        effective_time=terms.effective_time,
        expire_time=terms.expire_time,
        min_face_value=terms.min_face_value,
        max_face_value=terms.max_face_value,
        max_vouchers=terms.max_vouchers,
        issued_count=0,
        service_types=types,
        new_customers_only=terms.new_customers_only,
        reclaimed_amount=0,
        memo=_memo(terms.memo),
        created_by_user_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(quota)
    session.flush()
    audit.record(
        session,
        actor,
        "voucher.quota_granted",
        subject_type="voucher_quota",
        subject_id=quota.id,
        organisation_id=partner.id,
        after=_snapshot(quota),
        reason=terms.memo,
    )
    log.info("voucher.quota_granted", quota_id=quota.id, partner_id=partner.id)
    return quota


def set_quota_frozen(
    session: Session,
    actor: Actor,
    quota_id: str,
    *,
    frozen: bool,
    reason: str | None = None,
) -> VoucherQuota:
    """Vendor finance freezes a quota (no vouchers can be issued from it) or unfreezes it.
    Vouchers already issued stay usable."""
    _require_vendor_finance(actor)
    quota = _lock_quotas(session, [quota_id]).get(quota_id)
    if quota is None:
        raise NoSuchQuota()
    wanted_from = QuotaStatus.EFFECTIVE if frozen else QuotaStatus.FROZEN
    if quota.status is not wanted_from:
        raise QuotaNotUsable(
            N_("Only an effective quota can be frozen, and only a frozen one unfrozen.")
        )
    before = _snapshot(quota)
    quota.status = QuotaStatus.FROZEN if frozen else QuotaStatus.EFFECTIVE
    quota.updated_at = utc_now()
    session.flush()
    audit.record(
        session,
        actor,
        "voucher.quota_frozen" if frozen else "voucher.quota_unfrozen",
        subject_type="voucher_quota",
        subject_id=quota.id,
        organisation_id=quota.organisation_id,
        before=before,
        after=_snapshot(quota),
        reason=reason,
    )
    return quota


# -- a distributor's quotas for its resellers -----------------------------------------------


def grant_to_reseller(
    session: Session,
    actor: Actor,
    *,
    quota_id: str,
    reseller_id: str,
    amount: int,
    memo: str | None = None,
) -> VoucherQuota:
    """A distributor hands part of its quota to one of its resellers, as a quota of the
    reseller's own with the same limits and validity."""
    _require_partner(actor, Permission.FUNDS_TRANSFER)
    ledger.reseller_of(session, actor, reseller_id)
    problem = _money_problem("amount", amount)
    if problem:
        raise InvalidInput(problems=[problem])
    parent = _lock_quotas(session, [quota_id]).get(quota_id)
    if parent is None or parent.organisation_id != actor.organisation_id:
        raise NoSuchQuota()
    now = utc_now()
    if not quota_in_effect(parent, now):
        raise QuotaNotUsable()
    if amount > parent.balance:
        raise QuotaInsufficient(
            available=str(to_decimal(parent.balance)), currency=parent.currency
        )

    before = _snapshot(parent)
    parent.balance -= amount
    parent.updated_at = now
    child = VoucherQuota(
        id=new_quota_id(now),
        organisation_id=reseller_id,
        parent_id=parent.id,
        status=QuotaStatus.EFFECTIVE,
        currency=parent.currency,
        amount=amount,
        balance=amount,
        effective_time=parent.effective_time,
        expire_time=parent.expire_time,
        min_face_value=parent.min_face_value,
        max_face_value=min(parent.max_face_value, amount),
        max_vouchers=max(parent.max_vouchers - parent.issued_count, 1),
        issued_count=0,
        service_types=list(parent.service_types),
        new_customers_only=parent.new_customers_only,
        reclaimed_amount=0,
        memo=_memo(memo),
        created_by_user_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    child.min_face_value = min(child.min_face_value, child.max_face_value)
    session.add(child)
    session.flush()
    audit.record(
        session,
        actor,
        "voucher.quota_granted_to_reseller",
        subject_type="voucher_quota",
        subject_id=parent.id,
        organisation_id=actor.organisation_id,
        before=before,
        after={**_snapshot(parent), "child_quota_id": child.id},
        reason=memo,
    )
    audit.record(
        session,
        actor,
        "voucher.quota_granted",
        subject_type="voucher_quota",
        subject_id=child.id,
        organisation_id=reseller_id,
        after={**_snapshot(child), "parent_quota_id": parent.id},
        reason=memo,
    )
    return child


def reclaim_from_reseller(
    session: Session, actor: Actor, quota_id: str, *, reason: str | None = None
) -> int:
    """A distributor takes back the unused balance of a quota it granted a reseller; the
    reseller's quota ends. Returns the amount that went back."""
    _require_partner(actor, Permission.FUNDS_TRANSFER)
    child = session.get(VoucherQuota, quota_id)
    if child is None or child.parent_id is None:
        raise NoSuchQuota()
    parent_id = child.parent_id
    family = _lock_quotas(session, [child.id, parent_id])
    child, parent = family[child.id], family[parent_id]
    if parent.organisation_id != actor.organisation_id:
        raise NoSuchQuota()
    if child.status is QuotaStatus.RECLAIMED:
        raise QuotaNotReclaimable()

    now = utc_now()
    returned = child.balance
    before = _snapshot(child)
    child.balance = 0
    child.reclaimed_amount += returned
    child.status = QuotaStatus.RECLAIMED
    child.updated_at = now
    parent.balance += returned
    parent.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "voucher.quota_reclaimed",
        subject_type="voucher_quota",
        subject_id=child.id,
        organisation_id=child.organisation_id,
        before=before,
        after={**_snapshot(child), "returned": returned, "to_quota_id": parent.id},
        reason=reason,
    )
    audit.record(
        session,
        actor,
        "voucher.quota_reclaimed",
        subject_type="voucher_quota",
        subject_id=parent.id,
        organisation_id=parent.organisation_id,
        after={**_snapshot(parent), "returned": returned, "from_quota_id": child.id},
        reason=reason,
    )
    return returned


# -- issuing --------------------------------------------------------------------------------


@dataclass
class IssueOutcome:
    """Per customer: a voucher, or a refusal with its code and English message."""

    issued: list[tuple[str, str]] = field(default_factory=list)
    """(customer id, voucher id)"""
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    """(customer id, code, message); codes are listed in :data:`errors.REFUSALS`."""

    def refuse(self, customer_id: str, code: str) -> None:
        self.refused.append((customer_id, code, errors.REFUSALS[code]))


@dataclass(frozen=True, slots=True)
class _Asked:
    """What an issue request asks for each of its vouchers."""

    face_value: int
    start: dt.datetime
    end: dt.datetime
    service_types: list[str]
    memo: str | None


def _terms_refusal(quota: VoucherQuota, now: dt.datetime, asked: _Asked) -> str | None:
    """What refuses every customer of the request alike, if anything."""
    if not quota_in_effect(quota, now):
        return errors.QUOTA_NOT_EFFECTIVE
    if asked.face_value < quota.min_face_value:
        return errors.FACE_VALUE_TOO_SMALL
    if asked.face_value > quota.max_face_value:
        return errors.FACE_VALUE_TOO_LARGE
    start, end = asked.start, asked.end
    if not (quota.effective_time <= start < end <= quota.expire_time and end > now):
        return errors.VALIDITY_OUTSIDE_QUOTA
    if quota.service_types and not set(asked.service_types) <= set(quota.service_types):
        return errors.SERVICE_TYPES_OUTSIDE_QUOTA
    return None


def _customer_refusal(
    quota: VoucherQuota,
    customer_id: str,
    association: Association | None,
    *,
    selves: set[str],
    returning: set[str],
    face_value: int,
) -> str | None:
    """What refuses this one customer, given what was issued before it in the request."""
    if customer_id in selves:
        return errors.CANNOT_ISSUE_TO_SELF
    if association is None or association.organisation_id != quota.organisation_id:
        return errors.NOT_YOUR_CUSTOMER
    if association.mode is not AssociationMode.RESALE:
        return errors.CONSULTING_CUSTOMER
    if customer_id in returning:
        return errors.ONLY_NEW_CUSTOMERS
    return _capacity_refusal(quota, face_value)


def _count_used_up(quota: VoucherQuota) -> bool:
    return quota.issued_count >= quota.max_vouchers


def _capacity_refusal(quota: VoucherQuota, face_value: int) -> str | None:
    if _count_used_up(quota):
        return errors.TOO_MANY_VOUCHERS
    if quota.balance < face_value:
        return errors.QUOTA_INSUFFICIENT
    return None


def _returning_customers(session: Session, customer_ids: Sequence[str]) -> set[str]:
    """Customers with an association before their current one: not new to partners."""
    rows = session.execute(
        select(Association.customer_id)
        .where(Association.customer_id.in_(sorted(set(customer_ids))))
        .group_by(Association.customer_id)
        .having(func.count() > 1)
    )
    return {row.customer_id for row in rows}


def issue(
    session: Session,
    actor: Actor,
    *,
    quota_id: str,
    customer_ids: Sequence[str],
    face_value: int,
    valid_time: dt.datetime | None = None,
    expire_time: dt.datetime | None = None,
    service_types: Sequence[str] = (),
    memo: str | None = None,
    indirect_partner_id: str | None = None,
) -> IssueOutcome:
    """发券: one voucher of ``face_value`` from the quota to each resale customer.

    Customers are answered one by one: those refused get nothing written, the others get
    their voucher, all in the caller's transaction. Without ``valid_time`` and
    ``expire_time`` the voucher is valid as long as the quota.

    Vouchers can be limited to cloud service types only: the BSS request's product ids are
    not kept, because no product catalogue exists here to check them against.
    """
    partner_id = acting_partner(session, actor, indirect_partner_id)
    ids = list(dict.fromkeys(c.strip() for c in customer_ids if c and c.strip()))
    if not 1 <= len(ids) <= MAX_CUSTOMERS:
        raise TooManyCustomers(limit=MAX_CUSTOMERS)
    problem = _money_problem("face_value", face_value)
    if problem:
        raise InvalidInput(problems=[problem])
    memo = _memo(memo)
    asked_types = clean_service_types(service_types)

    associations = _share_lock_associations(session, ids)
    family = _quota_family(session, [quota_id])
    quota = family.get(quota_id)
    if quota is None or quota.organisation_id != partner_id:
        raise NoSuchQuota()
    # A reseller's voucher counts on the distributor's quota as well: the distributor's
    # count bounds what it and its resellers issue from that quota together.
    parent = family.get(quota.parent_id) if quota.parent_id else None
    now = utc_now()
    asked = _Asked(
        face_value=face_value,
        start=valid_time or quota.effective_time,
        end=expire_time or quota.expire_time,
        service_types=asked_types or list(quota.service_types),
        memo=memo,
    )
    common = _terms_refusal(quota, now, asked)
    returning = (
        _returning_customers(session, ids) if quota.new_customers_only else set()
    )

    outcome = IssueOutcome()
    for customer_id in ids:
        code = common or _customer_refusal(
            quota,
            customer_id,
            associations.get(customer_id),
            selves={partner_id, actor.organisation_id},
            returning=returning,
            face_value=face_value,
        )
        if code is None and parent is not None and _count_used_up(parent):
            code = errors.TOO_MANY_VOUCHERS
        if code is not None:
            outcome.refuse(customer_id, code)
            continue
        voucher = _new_voucher(actor, quota, customer_id, asked, now)
        if parent is not None:
            parent.issued_count += 1
            parent.updated_at = now
        session.add(voucher)
        outcome.issued.append((customer_id, voucher.id))

    if outcome.issued:
        quota.updated_at = now
        session.flush()
        for customer_id, voucher_id in outcome.issued:
            audit.record(
                session,
                actor,
                "voucher.issued",
                subject_type="voucher",
                subject_id=voucher_id,
                organisation_id=partner_id,
                after={
                    "customer_id": customer_id,
                    "quota_id": quota.id,
                    "face_value": face_value,
                    "currency": quota.currency,
                },
                reason=memo,
            )
    log.info(
        "voucher.issue_handled",
        quota_id=quota.id,
        issued=len(outcome.issued),
        refused=len(outcome.refused),
    )
    return outcome


def _new_voucher(
    actor: Actor, quota: VoucherQuota, customer_id: str, asked: _Asked, now: dt.datetime
) -> Voucher:
    face_value = asked.face_value
    quota.balance -= face_value
    quota.issued_count += 1
    return Voucher(
        id=new_voucher_id(now),
        organisation_id=quota.organisation_id,
        customer_id=customer_id,
        quota_id=quota.id,
        status=VoucherStatus.ACTIVE,
        currency=quota.currency,
        face_value=face_value,
        balance=face_value,
        effective_time=asked.start,
        expire_time=asked.end,
        service_types=list(asked.service_types),
        memo=asked.memo,
        returned_amount=0,
        issued_by_organisation_id=actor.organisation_id,
        issued_by_user_id=actor.user_id,
        created_at=now,
        last_used_at=None,
        ended_at=None,
    )


# -- reclaiming -----------------------------------------------------------------------------


def _end_reclaimed(
    voucher: Voucher, quotas: dict[str, VoucherQuota], at: dt.datetime
) -> int:
    returned = voucher.balance
    voucher.returned_amount = returned
    voucher.balance = 0
    voucher.status = VoucherStatus.RECLAIMED
    voucher.ended_at = at
    _give_back(quotas, voucher.quota_id, returned, at)
    return returned


def reclaim(
    session: Session,
    actor: Actor,
    voucher_id: str,
    *,
    indirect_partner_id: str | None = None,
) -> int:
    """回收: the partner takes a voucher back; what is left of it returns to its quota.
    Returns that amount."""
    partner_id = acting_partner(session, actor, indirect_partner_id)
    found = session.get(Voucher, voucher_id)
    if found is None or found.organisation_id != partner_id:
        raise NoSuchVoucher()

    association = _share_lock_associations(session, [found.customer_id]).get(
        found.customer_id
    )
    voucher = session.scalars(
        select(Voucher)
        .where(Voucher.id == voucher_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    now = utc_now()
    if voucher.status in {VoucherStatus.EXPIRED, VoucherStatus.RECLAIMED} or (
        voucher.status is VoucherStatus.ACTIVE and voucher.expire_time <= now
    ):
        raise VoucherNotReclaimable()
    if (
        association is not None
        and association.organisation_id == partner_id
        and association.mode is AssociationMode.CONSULTING
    ):
        raise VoucherOfConsultingCustomer()

    quotas = _quota_family(session, [voucher.quota_id])
    before = {"status": str(voucher.status), "balance": voucher.balance}
    returned = _end_reclaimed(voucher, quotas, now)
    session.flush()
    audit.record(
        session,
        actor,
        "voucher.reclaimed",
        subject_type="voucher",
        subject_id=voucher.id,
        organisation_id=partner_id,
        before=before,
        after={"status": str(voucher.status), "returned": returned},
    )
    log.info("voucher.reclaimed", voucher_id=voucher.id, returned=returned)
    return returned


def reclaim_on_leaving(
    session: Session, actor: Actor, *, partner_id: str, customer_id: str
) -> tuple[int, int]:
    """Every live voucher the partner issued to the customer goes back to its quota, when
    the customer leaves the partner or changes mode (ASSOC-9). Returns (count, amount).

    Called inside the association change, after the ledger accounts were locked.
    """
    vouchers = session.scalars(
        select(Voucher)
        .where(
            Voucher.customer_id == customer_id,
            Voucher.organisation_id == partner_id,
            Voucher.status == VoucherStatus.ACTIVE,
        )
        .order_by(Voucher.expire_time, Voucher.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    now = utc_now()
    live = [v for v in vouchers if v.expire_time > now]
    if not live:
        return 0, 0
    quotas = _quota_family(session, {v.quota_id for v in live})
    total = sum(_end_reclaimed(voucher, quotas, now) for voucher in live)
    session.flush()
    for voucher in live:
        audit.record(
            session,
            actor,
            "voucher.reclaimed",
            subject_type="voucher",
            subject_id=voucher.id,
            organisation_id=partner_id,
            after={
                "status": str(voucher.status),
                "returned": voucher.returned_amount,
                "customer_id": customer_id,
            },
            reason=N_("The customer left resale."),
        )
    log.info(
        "voucher.reclaimed_on_leaving",
        customer_id=customer_id,
        count=len(live),
        amount=total,
    )
    return len(live), total


# -- expiry ---------------------------------------------------------------------------------


def expire_due(session: Session, actor: Actor, at: dt.datetime, limit: int) -> int:
    """Mark up to ``limit`` vouchers past their expiry as expired; returns how many.

    A voucher is expired once: only active ones are taken, and rows another worker holds
    are skipped (PostgreSQL). What was left on it does not return to the quota.
    """
    due = session.scalars(
        select(Voucher)
        .where(Voucher.status == VoucherStatus.ACTIVE, Voucher.expire_time <= at)
        .order_by(Voucher.expire_time, Voucher.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for voucher in due:
        voucher.status = VoucherStatus.EXPIRED
        voucher.ended_at = voucher.expire_time
        audit.record(
            session,
            actor,
            "voucher.expired",
            subject_type="voucher",
            subject_id=voucher.id,
            organisation_id=voucher.organisation_id,
            after={"status": str(voucher.status), "balance": voucher.balance},
        )
    session.flush()
    return len(due)
