"""Native API of customers: the list and one customer as the caller sees them, account
managers and labels, and a reseller's customer-information notice."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.customers import assignments, queries, service, tiers
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRecord,
    AssociationStatus,
    CustomerType,
    ResellerNotice,
)
from partnercenter.customers.queries import CUSTOMER_PATH, CustomerFilter, CustomerRow
from partnercenter.customers.service import MODE_CODES
from partnercenter.customers.visibility import Tab
from partnercenter.identity.models import RealNameStatus
from partnercenter.web.context import DB

router = APIRouter(prefix="/customers", tags=["customers"])


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(
        *statuses, descriptions={404: "No such customer among those the caller sees."}
    )


class CustomerOut(BaseModel):
    customer_id: str
    name: str
    account_name: str
    customer_type: CustomerType
    real_name_status: RealNameStatus
    partner_id: str = Field(description="The partner the customer is associated with.")
    mode: AssociationMode
    mode_code: str = Field(description="1 consulting sale, 2 resale.")
    status: AssociationStatus
    associated_at: dt.datetime
    label: str | None
    account_manager_user_id: str | None
    in_arrears: bool


class CustomerPageOut(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[CustomerOut]


class RecordOut(BaseModel):
    kind: str
    outcome: str
    mode_before: str | None
    mode_after: str | None
    actor_party: str
    reason: str | None
    occurred_at: dt.datetime


class CustomerDetailOut(CustomerOut):
    agreements: list[dict[str, Any]]
    records: list[RecordOut]


class AccountManagerIn(BaseModel):
    user_id: str | None = Field(
        description="A member holding an account-manager role; null takes it back."
    )


class LabelIn(BaseModel):
    label: str | None = Field(max_length=assignments.LABEL_MAX, examples=["key"])


class NoticeOut(BaseModel):
    accepted: bool
    version: str | None
    accepted_at: dt.datetime | None
    current_version: str


def _customer_out(row: CustomerRow) -> CustomerOut:
    return CustomerOut(
        customer_id=row.organisation.id,
        name=row.organisation.display_name,
        account_name=row.organisation.account_name,
        customer_type=row.customer.customer_type,
        real_name_status=row.customer.real_name_status,
        partner_id=row.partner.id,
        mode=row.association.mode,
        mode_code=MODE_CODES[row.association.mode],
        status=row.association.status,
        associated_at=row.association.started_at,
        label=row.association.label,
        account_manager_user_id=row.association.account_manager_user_id,
        in_arrears=row.in_arrears,
    )


def _record_out(record: AssociationRecord) -> RecordOut:
    return RecordOut(
        kind=record.kind,
        outcome=record.outcome,
        mode_before=record.mode_before,
        mode_after=record.mode_after,
        actor_party=record.actor_party,
        reason=record.reason,
        occurred_at=record.occurred_at,
    )


def _notice_out(notice: ResellerNotice | None) -> NoticeOut:
    return NoticeOut(
        accepted=notice is not None and notice.revoked_at is None,
        version=notice.version if notice else None,
        accepted_at=notice.accepted_at if notice else None,
        current_version=tiers.NOTICE_VERSION,
    )


# The notice routes come first: their paths would otherwise read as customer ids.


@router.get(
    "/reseller-notice",
    response_model=NoticeOut,
    summary="Whether the calling reseller accepts the customer-information notice",
    responses=_errors(),
)
def notice_state(actor: ApiActor, db: DB) -> NoticeOut:
    tiers.authorize_reseller(actor)
    return _notice_out(tiers.current_notice(db, actor.organisation_id))


@router.post(
    "/reseller-notice",
    response_model=NoticeOut,
    status_code=201,
    summary="Accept the notice: the distributor sees the reseller's customers",
    responses=_errors(409),
)
def accept_notice(actor: ApiActor, db: DB) -> NoticeOut:
    return _notice_out(tiers.accept_notice(db, actor))


@router.delete(
    "/reseller-notice",
    response_model=NoticeOut,
    summary="Revoke the notice: the distributor stops seeing the customers",
    responses=_errors(409),
)
def revoke_notice(actor: ApiActor, db: DB) -> NoticeOut:
    tiers.revoke_notice(db, actor)
    return _notice_out(None)


@router.get(
    "",
    response_model=CustomerPageOut,
    summary="Customers the caller sees, newest association first",
    responses=_errors(),
)
def list_customers(
    *,
    actor: ApiActor,
    db: DB,
    tab: Annotated[
        Tab, Query(description="resellers: a distributor's resellers' customers.")
    ] = Tab.OWN,
    q: Annotated[str, Query(description="Part of a name or account name.")] = "",
    mode: AssociationMode | None = None,
    label: str = "",
    account_manager_user_id: Annotated[
        str, Query(description="A user id, or none for customers not assigned.")
    ] = "",
    associated_from: dt.date | None = None,
    associated_to: dt.date | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = queries.PAGE_SIZE,
) -> CustomerPageOut:
    filters = CustomerFilter(
        search=q,
        mode=str(mode) if mode else "",
        label=label,
        account_manager_id=account_manager_user_id,
        associated_from=associated_from,
        associated_to=associated_to,
        tab=tab,
        offset=offset,
        limit=limit,
    )
    found = queries.list_customers(db, actor, filters)
    return CustomerPageOut(
        total=found.total,
        offset=offset,
        limit=limit,
        items=[_customer_out(row) for row in found.rows],
    )


class NewCustomerIn(BaseModel):
    account_name: str = Field(examples=["redwood-trading"], max_length=64)
    display_name: str = Field(examples=["Redwood Trading"], max_length=200)
    customer_type: CustomerType = CustomerType.ENTERPRISE
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    country_region: str | None = Field(
        default=None, description="ISO code; the partner's business region when empty."
    )
    xaccount_id: str | None = Field(
        default=None,
        max_length=64,
        description="The customer's id on the partner's side.",
    )
    xaccount_type: str | None = Field(
        default=None, max_length=64, description="The partner platform of xaccount_id."
    )


@router.post(
    "",
    response_model=CustomerOut,
    status_code=201,
    summary="Create a customer account, associated with the caller in resale at once",
    responses=_errors(400, 409),
)
def create_customer(actor: ApiActor, db: DB, body: NewCustomerIn) -> CustomerOut:
    customer, _association = service.create_for_partner(
        db,
        actor,
        account_name=body.account_name,
        display_name=body.display_name,
        customer_type=body.customer_type,
        email=body.email,
        phone=body.phone,
        country_region=body.country_region,
        xaccount_id=body.xaccount_id,
        xaccount_type=body.xaccount_type,
    )
    return _customer_out(queries.customer_detail(db, actor, customer.id).row)


@router.get(
    "/" + CUSTOMER_PATH,
    response_model=CustomerDetailOut,
    summary="One customer, its association and its association records",
    responses=_errors(404),
)
def get_customer(actor: ApiActor, db: DB, customer_id: str) -> CustomerDetailOut:
    detail = queries.customer_detail(db, actor, customer_id)
    return CustomerDetailOut(
        **_customer_out(detail.row).model_dump(),
        agreements=detail.row.association.agreements,
        records=[_record_out(record) for record in detail.records],
    )


@router.put(
    "/" + CUSTOMER_PATH + "/account-manager",
    response_model=CustomerOut,
    summary="Give the customer to an account manager, or take it back",
    responses=_errors(400, 404),
)
def assign_account_manager(
    actor: ApiActor, db: DB, customer_id: str, body: AccountManagerIn
) -> CustomerOut:
    assignments.assign_account_manager(db, actor, [customer_id], body.user_id)
    return _customer_out(queries.customer_detail(db, actor, customer_id).row)


@router.put(
    "/" + CUSTOMER_PATH + "/label",
    response_model=CustomerOut,
    summary="Set or clear the customer's label",
    responses=_errors(400, 404),
)
def set_label(actor: ApiActor, db: DB, customer_id: str, body: LabelIn) -> CustomerOut:
    assignments.set_label(db, actor, [customer_id], body.label)
    return _customer_out(queries.customer_detail(db, actor, customer_id).row)
