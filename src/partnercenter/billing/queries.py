"""Monthly bills: the usage lines of one bill cycle summed per customer, service type,
charge mode, bill type and resource type, for whoever may see them.

The sums are taken when asked, over the index on (partner, cycle) for a partner and on
(cycle, customer) for a customer or the vendor; no bill table is kept up to date beside
the lines. The rows are shaped after the BSS monthly-sum record, amounts in minor units.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select, true
from sqlalchemy.orm import Session, aliased

from partnercenter.billing.models import (
    BillType,
    ChargeMode,
    ResourceType,
    ServiceType,
    UsageLine,
)
from partnercenter.billing.service import is_cycle
from partnercenter.core.actor import Actor
from partnercenter.core.errors import FieldProblem, Forbidden, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.customers.models import AssociationMode
from partnercenter.customers.visibility import consenting_resellers
from partnercenter.identity.models import Organisation
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import service as ledger

DEBIT = "BALANCE_TYPE_DEBIT"
"""Paid in cash: the customer's allocated money in resale, its own otherwise."""
COUPON = "BALANCE_TYPE_COUPON"
"""Paid by vouchers."""
MAX_LIMIT = 1000


class ResellerNotSharing(Forbidden):
    code = "reseller_not_sharing"
    default_message = N_(
        "This reseller does not share its customers' information with you: it has not "
        "accepted the customer-information notice."
    )


@dataclass(frozen=True, slots=True)
class AccountDetail:
    balance_type: str
    amount: int
    """Negative for bill types 1 and 2, like the bill's amount."""
    bill_type: str


@dataclass(frozen=True, slots=True)
class MonthlyBill:
    bill_cycle: str
    customer_id: str
    customer_name: str
    cloud_service_type: str | None
    cloud_service_type_name: str | None
    resource_type_code: str | None
    resource_type_name: str | None
    charge_mode: str
    bill_type: str
    amount: int
    """Negative for bill types 1 (unsubscription) and 2 (write-off)."""
    debt_amount: int
    """What the customer's balance did not cover when it was charged (arrears)."""
    voucher_amount: int
    cash_amount: int
    currency: str
    adjustment_amount: int = 0
    """Not modelled: the vendor's billing posts adjustments as charges of their own."""
    discount_amount: int = 0
    """Not modelled: charges arrive already discounted."""
    account_details: list[AccountDetail] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Totals:
    amount: int
    cash_amount: int
    voucher_amount: int
    debt_amount: int


# -- who sees which lines --------------------------------------------------------------------


def bill_scope(
    session: Session, actor: Actor, indirect_partner_id: str | None = None
) -> ColumnElement[bool]:
    """The condition a usage line must meet for ``actor`` to see it in a bill.

    - vendor staff with finance or partner rights see every line;
    - a customer sees its own lines, whoever it was associated with;
    - a partner sees the lines of the customers that were its resale customers when they
      were charged (they spent its money); a distributor names one of its resellers as
      ``indirect_partner_id`` to see that reseller's, while the reseller accepts the
      customer-information notice.
    """
    if actor.is_vendor:
        if actor.can(Permission.FINANCE_OPERATE) or actor.can(Permission.PARTNERS_VIEW):
            return true()
        raise Forbidden()
    if actor.organisation_kind == "customer":
        if not actor.can(Permission.CUSTOMER_SELF):
            raise Forbidden()
        return UsageLine.customer_id == actor.organisation_id
    if not actor.can(Permission.FUNDS_VIEW):
        raise Forbidden()
    partner_id = actor.organisation_id
    if indirect_partner_id:
        reseller = ledger.reseller_of(session, actor, indirect_partner_id)
        sharing = session.scalar(
            consenting_resellers(actor.organisation_id).where(
                Organisation.id == reseller.id
            )
        )
        if sharing is None:
            raise ResellerNotSharing()
        partner_id = reseller.id
    return and_(
        UsageLine.partner_id == partner_id,
        UsageLine.association_mode == AssociationMode.RESALE,
    )


# -- monthly bills -----------------------------------------------------------------------------


def _filters(
    session: Session,
    actor: Actor,
    *,
    cycle: str,
    charge_mode: str | None,
    customer_id: str | None,
    cloud_service_type: str | None,
    bill_type: str | None,
    indirect_partner_id: str | None,
) -> list[ColumnElement[bool]]:
    problems = []
    if not is_cycle(cycle):
        problems.append(FieldProblem("cycle", N_("Enter a month as YYYY-MM.")))
    if charge_mode and charge_mode not in {m.value for m in ChargeMode}:
        problems.append(
            FieldProblem(
                "charge_mode",
                N_("Enter 1 (yearly/monthly), 3 (on demand) or 11 (savings plan)."),
            )
        )
    if bill_type and bill_type not in {t.value for t in BillType}:
        problems.append(
            FieldProblem(
                "bill_type",
                N_("Enter 0 (consumption), 1 (unsubscription) or 2 (write-off)."),
            )
        )
    if problems:
        raise InvalidInput(problems=problems)
    conditions = [
        bill_scope(session, actor, indirect_partner_id),
        UsageLine.bill_cycle == cycle,
    ]
    if charge_mode:
        conditions.append(UsageLine.charge_mode == ChargeMode(charge_mode))
    if bill_type:
        conditions.append(UsageLine.bill_type == BillType(bill_type))
    if customer_id:
        conditions.append(UsageLine.customer_id == customer_id)
    if cloud_service_type:
        conditions.append(UsageLine.service_type_code == cloud_service_type)
    return conditions


GROUP = (
    UsageLine.customer_id,
    UsageLine.service_type_code,
    UsageLine.charge_mode,
    UsageLine.bill_type,
    UsageLine.resource_type_code,
    UsageLine.currency,
)


def _grouped(conditions: list[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
    return (
        select(
            *GROUP,
            func.sum(UsageLine.amount).label("amount"),
            func.sum(UsageLine.voucher_amount).label("voucher_amount"),
            func.sum(UsageLine.cash_amount).label("cash_amount"),
            func.sum(UsageLine.debt_amount).label("debt_amount"),
        )
        .where(*conditions)
        .group_by(*GROUP)
    )


def _page(
    session: Session,
    conditions: list[ColumnElement[bool]],
    *,
    cycle: str,
    locale: str,
    offset: int,
    limit: int | None,
) -> Iterator[MonthlyBill]:
    sums = _grouped(conditions).subquery()
    chinese = locale == "zh-CN"
    service = aliased(ServiceType)
    resource = aliased(ResourceType)
    statement = (
        select(
            sums,
            Organisation.display_name,
            (service.name_zh if chinese else service.name_en).label("service_name"),
            (resource.name_zh if chinese else resource.name_en).label("resource_name"),
        )
        .join(Organisation, Organisation.id == sums.c.customer_id)
        .outerjoin(service, service.code == sums.c.service_type_code)
        .outerjoin(resource, resource.code == sums.c.resource_type_code)
        .order_by(
            Organisation.display_name,
            sums.c.customer_id,
            sums.c.service_type_code,
            sums.c.charge_mode,
            sums.c.bill_type,
            sums.c.resource_type_code,
        )
        .offset(offset)
    )
    if limit is not None:
        statement = statement.limit(limit)
    for row in session.execute(statement):
        bill_type = BillType(row.bill_type)
        sign = -1 if bill_type.is_refund else 1
        details = [
            AccountDetail(balance_type, sign * amount, bill_type.value)
            for balance_type, amount in (
                (DEBIT, row.cash_amount),
                (COUPON, row.voucher_amount),
            )
            if amount
        ]
        yield MonthlyBill(
            bill_cycle=cycle,
            customer_id=row.customer_id,
            customer_name=row.display_name,
            cloud_service_type=row.service_type_code,
            cloud_service_type_name=row.service_name,
            resource_type_code=row.resource_type_code,
            resource_type_name=row.resource_name,
            charge_mode=ChargeMode(row.charge_mode).value,
            bill_type=bill_type.value,
            amount=sign * row.amount,
            debt_amount=row.debt_amount,
            voucher_amount=sign * row.voucher_amount,
            cash_amount=sign * row.cash_amount,
            currency=row.currency,
            account_details=details,
        )


def _check_page(offset: int, limit: int) -> None:
    problems = []
    if offset < 0:
        problems.append(FieldProblem("offset", N_("Enter 0 or more.")))
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(
            FieldProblem("limit", N_("Enter 1 to %(limit)s."), {"limit": MAX_LIMIT})
        )
    if problems:
        raise InvalidInput(problems=problems)


def monthly_bills(
    session: Session,
    actor: Actor,
    *,
    cycle: str,
    charge_mode: str | None,
    customer_id: str | None = None,
    cloud_service_type: str | None = None,
    bill_type: str | None = None,
    offset: int = 0,
    limit: int = 10,
    indirect_partner_id: str | None = None,
    locale: str = "zh-CN",
) -> tuple[list[MonthlyBill], int]:
    """One page of the bills of ``cycle`` the actor may see, and how many there are.

    ``charge_mode`` None (or empty) means every charge mode; the BSS operation always
    names one. Names of service and resource types are in ``locale``.
    """
    _check_page(offset, limit)
    conditions = _filters(
        session,
        actor,
        cycle=cycle,
        charge_mode=charge_mode,
        customer_id=customer_id,
        cloud_service_type=cloud_service_type,
        bill_type=bill_type,
        indirect_partner_id=indirect_partner_id,
    )
    total = session.scalar(
        select(func.count()).select_from(_grouped(conditions).subquery())
    )
    rows = list(
        _page(
            session, conditions, cycle=cycle, locale=locale, offset=offset, limit=limit
        )
    )
    return rows, total or 0


def iter_monthly_bills(
    session: Session,
    actor: Actor,
    *,
    cycle: str,
    charge_mode: str | None,
    customer_id: str | None = None,
    cloud_service_type: str | None = None,
    bill_type: str | None = None,
    indirect_partner_id: str | None = None,
    locale: str = "zh-CN",
) -> Iterator[MonthlyBill]:
    """Every bill of the filter, for an export."""
    conditions = _filters(
        session,
        actor,
        cycle=cycle,
        charge_mode=charge_mode,
        customer_id=customer_id,
        cloud_service_type=cloud_service_type,
        bill_type=bill_type,
        indirect_partner_id=indirect_partner_id,
    )
    return _page(session, conditions, cycle=cycle, locale=locale, offset=0, limit=None)


def monthly_totals(
    session: Session,
    actor: Actor,
    *,
    cycle: str,
    charge_mode: str | None,
    customer_id: str | None = None,
    cloud_service_type: str | None = None,
    bill_type: str | None = None,
    indirect_partner_id: str | None = None,
) -> Totals:
    """The sums over every bill of the filter; refunds count negative."""
    conditions = _filters(
        session,
        actor,
        cycle=cycle,
        charge_mode=charge_mode,
        customer_id=customer_id,
        cloud_service_type=cloud_service_type,
        bill_type=bill_type,
        indirect_partner_id=indirect_partner_id,
    )
    signed = case((UsageLine.bill_type == BillType.CONSUMPTION, 1), else_=-1)
    row = session.execute(
        select(
            func.coalesce(func.sum(signed * UsageLine.amount), 0),
            func.coalesce(func.sum(signed * UsageLine.cash_amount), 0),
            func.coalesce(func.sum(signed * UsageLine.voucher_amount), 0),
            func.coalesce(func.sum(UsageLine.debt_amount), 0),
        ).where(*conditions)
    ).one()
    return Totals(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
