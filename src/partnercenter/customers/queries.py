"""Reading customers: the partner's list and detail, and the vendor's look-up.

Every partner-side query starts from :mod:`partnercenter.customers.visibility`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor

from partnercenter.core.actor import Actor
from partnercenter.core.errors import Forbidden, NotFound
from partnercenter.core.i18n import N_
from partnercenter.customers import service
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationRecord,
    Customer,
)
from partnercenter.customers.visibility import (
    Tab,
    sees_every_customer,
    visible_association,
    visible_associations,
)
from partnercenter.identity.models import Membership, Organisation, User
from partnercenter.ledger import service as ledger

PAGE_SIZE = 25
MAX_PAGE = 100

ACCOUNT_MANAGER_ROLES = frozenset({"account_manager", "account_manager_lead"})
"""Preset roles whose holders can be given customers to look after."""


class _CustomerIdConvertor(Convertor[str]):
    # Organisation ids are 32 hex characters; matching only those keeps words such as
    # /customers/notice free for the pages beside the detail page.
    regex = "[0-9a-f]{32}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("customer_id", _CustomerIdConvertor())
CUSTOMER_PATH = "{customer_id:customer_id}"
"""The path parameter of a customer, for routes of this area."""


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    search: str = ""
    mode: str = ""
    label: str = ""
    account_manager_id: str = ""
    associated_from: dt.date | None = None
    associated_to: dt.date | None = None
    tab: Tab = Tab.OWN
    offset: int = 0
    limit: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class CustomerRow:
    customer: Customer
    organisation: Organisation
    association: Association
    partner: Organisation
    account_manager: User | None
    debt: int = 0
    """What the customer owes now, in minor units, from its balance in the ledger."""

    @property
    def in_arrears(self) -> bool:
        return self.debt > 0


@dataclass(frozen=True, slots=True)
class CustomerPage:
    rows: list[CustomerRow]
    total: int


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _filtered(
    statement: Select[Association], filters: CustomerFilter
) -> Select[Association]:
    statement = statement.join(Organisation, Organisation.id == Association.customer_id)
    if filters.search.strip():
        pattern = f"%{filters.search.strip().lower()}%"
        statement = statement.where(
            or_(
                func.lower(Organisation.display_name).like(pattern),
                func.lower(Organisation.account_name).like(pattern),
            )
        )
    if filters.mode in set(AssociationMode):
        statement = statement.where(Association.mode == AssociationMode(filters.mode))
    if filters.label.strip():
        statement = statement.where(Association.label == filters.label.strip())
    if filters.account_manager_id == "none":
        statement = statement.where(Association.account_manager_user_id.is_(None))
    elif filters.account_manager_id:
        statement = statement.where(
            Association.account_manager_user_id == filters.account_manager_id
        )
    if filters.associated_from:
        statement = statement.where(
            Association.started_at >= _day_start(filters.associated_from)
        )
    if filters.associated_to:
        next_day = filters.associated_to + dt.timedelta(days=1)
        statement = statement.where(Association.started_at < _day_start(next_day))
    return statement


def list_customers(
    session: Session, actor: Actor, filters: CustomerFilter
) -> CustomerPage:
    """The customers the actor sees on one tab, newest association first."""
    statement = _filtered(visible_associations(actor, tab=filters.tab), filters)
    total = session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    limit = min(max(filters.limit, 1), MAX_PAGE)
    associations = session.scalars(
        statement.order_by(Association.started_at.desc(), Association.id.desc())
        .offset(max(filters.offset, 0))
        .limit(limit)
    ).all()
    owed = ledger.debts(session, [a.customer_id for a in associations])
    return CustomerPage(
        [_row(session, a, owed.get(a.customer_id, 0)) for a in associations], total or 0
    )


def _row(
    session: Session, association: Association, debt: int | None = None
) -> CustomerRow:
    # Each row loads its customer, organisations and manager one by one (cheap while the
    # page holds 25 rows); a page of 100 rows costs some 400 small queries, which a join
    # would fold into one.
    manager = (
        session.get(User, association.account_manager_user_id)
        if association.account_manager_user_id
        else None
    )
    organisation = session.get(Organisation, association.customer_id)
    partner = session.get(Organisation, association.organisation_id)
    assert organisation is not None
    assert partner is not None
    return CustomerRow(
        customer=service.get_customer(session, association.customer_id),
        organisation=organisation,
        association=association,
        partner=partner,
        account_manager=manager,
        debt=(
            ledger.debts(session, [association.customer_id])[association.customer_id]
            if debt is None
            else debt
        ),
    )


def labels_in_use(session: Session, actor: Actor) -> list[str]:
    """The labels on the actor's own customers, for the filter's choices."""
    statement = (
        visible_associations(actor)
        .with_only_columns(Association.label)
        .where(Association.label.is_not(None))
        .distinct()
    )
    return sorted(label for label in session.scalars(statement) if label)


# -- detail -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerDetail:
    row: CustomerRow
    tab: Tab
    terms: service.ModeTerms
    records: Sequence[AssociationRecord]


def customer_detail(session: Session, actor: Actor, customer_id: str) -> CustomerDetail:
    association, tab = visible_association(session, actor, customer_id)
    records = session.scalars(
        select(AssociationRecord)
        .where(
            AssociationRecord.customer_id == customer_id,
            AssociationRecord.organisation_id == association.organisation_id,
        )
        .order_by(AssociationRecord.occurred_at.desc(), AssociationRecord.id.desc())
    ).all()
    return CustomerDetail(
        row=_row(session, association),
        tab=tab,
        terms=service.terms(association.mode),
        records=records,
    )


# -- account managers -------------------------------------------------------------------


def account_managers(session: Session, organisation_id: str) -> list[User]:
    """Current members of the partner who hold an account-manager role."""
    memberships = session.scalars(
        select(Membership).where(
            Membership.organisation_id == organisation_id,
            Membership.left_at.is_(None),
        )
    ).all()
    managers = [
        m.user
        for m in memberships
        if any(row.preset in ACCOUNT_MANAGER_ROLES for row in m.roles)
    ]
    return sorted(managers, key=lambda user: user.display_name)


# -- vendor look-up ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookupRow:
    customer: Customer
    organisation: Organisation
    association: Association | None
    partner: Organisation | None


@dataclass(frozen=True, slots=True)
class LookupPage:
    rows: list[LookupRow]
    total: int


def _require_lookup(actor: Actor) -> None:
    if not sees_every_customer(actor):
        raise Forbidden(N_("Only vendor staff can look customers up."))


def lookup_customers(
    session: Session, actor: Actor, search: str = "", offset: int = 0
) -> LookupPage:
    """Any customer, associated or not, for vendor staff."""
    _require_lookup(actor)
    statement = select(Customer, Organisation).join(
        Organisation, Organisation.id == Customer.organisation_id
    )
    if search.strip():
        pattern = f"%{search.strip().lower()}%"
        statement = statement.where(
            or_(
                func.lower(Organisation.display_name).like(pattern),
                func.lower(Organisation.account_name).like(pattern),
                Organisation.id == search.strip(),
            )
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    found = session.execute(
        statement.order_by(Organisation.display_name, Organisation.id)
        .offset(max(offset, 0))
        .limit(PAGE_SIZE)
    ).all()
    return LookupPage([_lookup_row(session, c, o) for c, o in found], total or 0)


def _lookup_row(
    session: Session, customer: Customer, organisation: Organisation
) -> LookupRow:
    association = service.active_association(session, customer.organisation_id)
    partner = (
        session.get(Organisation, association.organisation_id) if association else None
    )
    return LookupRow(customer, organisation, association, partner)


@dataclass(frozen=True, slots=True)
class VendorView:
    row: LookupRow
    associations: list[tuple[Association, Organisation]] = field(default_factory=list)
    records: Sequence[AssociationRecord] = ()


def vendor_view(session: Session, actor: Actor, customer_id: str) -> VendorView:
    """Everything about one customer: its partner now, its past ones, every record."""
    _require_lookup(actor)
    customer = session.get(Customer, customer_id)
    organisation = session.get(Organisation, customer_id)
    if customer is None or organisation is None:
        raise NotFound(N_("No such customer."))

    history = session.execute(
        select(Association, Organisation)
        .join(Organisation, Organisation.id == Association.organisation_id)
        .where(Association.customer_id == customer_id)
        .order_by(Association.started_at.desc(), Association.id.desc())
    ).all()
    records = session.scalars(
        select(AssociationRecord)
        .where(AssociationRecord.customer_id == customer_id)
        .order_by(AssociationRecord.occurred_at.desc(), AssociationRecord.id.desc())
    ).all()
    return VendorView(
        row=_lookup_row(session, customer, organisation),
        associations=[(a, p) for a, p in history],
        records=records,
    )


@dataclass(frozen=True, slots=True)
class CustomerSearch:
    """The filters of a partner's customer search by separate fields, as the BSS-compatible
    face asks: each text filter matches a part of its own field."""

    account_name: str | None = None
    customer_name: str | None = None
    label: str | None = None
    """A part of the label, case-sensitive."""
    mode: AssociationMode | None = None
    associated_from: dt.datetime | None = None
    associated_until: dt.datetime | None = None
    """Exclusive."""
    customer_id: str | None = None
    reseller_id: str | None = None
    """For a distributor: search the customers of this reseller (who must consent)."""


def search_customers(
    session: Session,
    actor: Actor,
    search: CustomerSearch,
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> CustomerPage:
    """The actor's customers (or, for a distributor, one consenting reseller's) matching
    every filter given, newest association first."""
    if search.reseller_id:
        statement = visible_associations(actor, tab=Tab.RESELLERS).where(
            Association.organisation_id == search.reseller_id
        )
    else:
        statement = visible_associations(actor, tab=Tab.OWN)
    statement = statement.join(Organisation, Organisation.id == Association.customer_id)
    if search.account_name:
        statement = statement.where(
            func.lower(Organisation.account_name).contains(
                search.account_name.lower(), autoescape=True
            )
        )
    if search.customer_name:
        statement = statement.where(
            func.lower(Organisation.display_name).contains(
                search.customer_name.lower(), autoescape=True
            )
        )
    if search.label:
        statement = statement.where(
            Association.label.contains(search.label, autoescape=True)
        )
    if search.mode is not None:
        statement = statement.where(Association.mode == search.mode)
    if search.associated_from is not None:
        statement = statement.where(Association.started_at >= search.associated_from)
    if search.associated_until is not None:
        statement = statement.where(Association.started_at < search.associated_until)
    if search.customer_id:
        statement = statement.where(Association.customer_id == search.customer_id)
    total = session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    associations = session.scalars(
        statement.order_by(Association.started_at.desc(), Association.id.desc())
        .offset(max(offset, 0))
        .limit(min(max(limit, 1), MAX_PAGE))
    ).all()
    owed = ledger.debts(session, [a.customer_id for a in associations])
    return CustomerPage(
        [_row(session, a, owed.get(a.customer_id, 0)) for a in associations], total or 0
    )
