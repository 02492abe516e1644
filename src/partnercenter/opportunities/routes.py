"""Native API of opportunities: create and submit POs, list and read them, decide on them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.core.money import to_decimal
from partnercenter.core.settings import Settings
from partnercenter.opportunities import queries, service
from partnercenter.opportunities.models import (
    Opportunity,
    Origin,
    RejectionReason,
    State,
)
from partnercenter.opportunities.service import OpportunityForm
from partnercenter.web.context import DB, settings_of

router = APIRouter(prefix="/opportunities", tags=["opportunities"])

AppSettings = Annotated[Settings, Depends(settings_of)]
MAX_PAGE = 200


class OpportunityIn(BaseModel):
    """A PO as the partner enters it; amounts are decimal strings in major units."""

    customer_name: str = Field(max_length=200, examples=["Lotus Freight Ltd"])
    customer_industry: str = Field("", max_length=100)
    customer_region: str = Field("", max_length=8, examples=["CN"])
    is_existing_customer: bool = False
    contact_name: str = Field("", max_length=100)
    contact_phone: str = Field("", max_length=32)
    budget: str = Field("", examples=["500000.00"], description="Empty when unknown.")
    estimated_amount: str = Field("", examples=["320000.00"])
    expected_order_date: dt.date | None = None
    services: list[str] = Field(default_factory=list, examples=[["compute"]])
    need_description: str = ""
    solution_description: str = ""
    customer_authorised: bool = Field(
        False,
        description="The customer agreed to its information being shared; required "
        "to submit.",
    )
    submit: bool = Field(
        False, description="Submit at once instead of keeping a draft."
    )

    def form(self) -> OpportunityForm:
        values = self.model_dump(exclude={"submit", "expected_order_date"})
        order_date = self.expected_order_date
        return OpportunityForm(
            **values, expected_order_date=order_date.isoformat() if order_date else ""
        )


class DecisionIn(BaseModel):
    decision: Literal["pass_review", "accept", "reject", "cancel"] = Field(
        description="pass_review (PDM), accept or reject (PDM in review, BD in "
        "validation, the partner for an HO), cancel (BD, accepted POs only)."
    )
    reason: RejectionReason | None = Field(
        None, description="Required to reject; sla_expired is the worker's alone."
    )
    comment: str = ""


class OpportunityOut(BaseModel):
    id: str
    origin: Origin = Field(description="partner (PO) or vendor (HO).")
    state: State
    customer_name: str
    customer_industry: str
    customer_region: str
    is_existing_customer: bool
    contact_name: str
    contact_phone: str
    currency: str
    budget: Decimal | None
    estimated_amount: Decimal | None
    expected_order_date: dt.date | None
    services: list[str]
    need_description: str
    solution_description: str
    routing_region: str
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    shared_at: dt.datetime | None
    validated_at: dt.datetime | None
    decided_at: dt.datetime | None
    due_at: dt.datetime | None = Field(
        description="End of the last working day allowed."
    )
    due_provisional: bool = Field(
        description="The deadline went through a year without an official schedule."
    )
    working_days_left: int | None
    rejection_reason: RejectionReason | None
    decision_comment: str | None
    duplicate_of_id: str | None
    progress_note: str | None


class OpportunityPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[OpportunityOut]


def _out(db: Session, row: Opportunity) -> OpportunityOut:
    clock = queries.clock(db, row)
    return OpportunityOut(
        id=row.id,
        origin=row.origin,
        state=row.state,
        customer_name=row.customer_name,
        customer_industry=row.customer_industry,
        customer_region=row.customer_region,
        is_existing_customer=row.is_existing_customer,
        contact_name=row.contact_name,
        contact_phone=row.contact_phone,
        currency=row.currency,
        budget=_decimal(row.budget_minor),
        estimated_amount=_decimal(row.estimated_amount_minor),
        expected_order_date=row.expected_order_date,
        services=list(row.services),
        need_description=row.need_description,
        solution_description=row.solution_description,
        routing_region=row.routing_region,
        created_at=row.created_at,
        submitted_at=row.submitted_at,
        shared_at=row.shared_at,
        validated_at=row.validated_at,
        decided_at=row.decided_at,
        due_at=row.due_at,
        due_provisional=row.due_provisional,
        working_days_left=clock.working_days_left if clock else None,
        rejection_reason=row.rejection_reason,
        decision_comment=row.decision_comment,
        duplicate_of_id=row.duplicate_of_id,
        progress_note=row.progress_note,
    )


def _decimal(minor: int | None) -> Decimal | None:
    return None if minor is None else to_decimal(minor)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(*statuses)


@router.post(
    "",
    response_model=OpportunityOut,
    status_code=201,
    summary="Create a PO as a draft, or create and submit it",
    responses=_errors(400, 409),
)
def create_opportunity(
    actor: ApiActor, db: DB, settings: AppSettings, body: OpportunityIn
) -> OpportunityOut:
    row = service.save_draft(db, actor, settings, body.form())
    if body.submit:
        service.submit(db, actor, settings, row.id)
    return _out(db, row)


@router.post(
    "/{opportunity_id}/submit",
    response_model=OpportunityOut,
    summary="Submit a draft PO; it cannot be withdrawn afterwards",
    responses=_errors(400, 404, 409),
)
def submit_opportunity(
    actor: ApiActor, db: DB, settings: AppSettings, opportunity_id: str
) -> OpportunityOut:
    return _out(db, service.submit(db, actor, settings, opportunity_id))


@router.get(
    "",
    response_model=OpportunityPage,
    summary="Opportunities the caller may see, newest first",
    responses=_errors(),
)
def list_opportunities(
    *,
    actor: ApiActor,
    db: DB,
    state: State | None = None,
    origin: Origin | None = None,
    q: Annotated[str, Query(description="Part of the customer's name.")] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> OpportunityPage:
    filters = queries.Filters(state=state, origin=origin, search=q)
    rows, total = queries.find(db, actor, filters, offset=offset, limit=limit)
    return OpportunityPage(
        total=total,
        offset=offset,
        limit=limit,
        items=[_out(db, row) for row in rows],
    )


@router.get(
    "/{opportunity_id}",
    response_model=OpportunityOut,
    summary="One opportunity with its deadline",
    responses=_errors(404),
)
def get_opportunity(actor: ApiActor, db: DB, opportunity_id: str) -> OpportunityOut:
    return _out(db, queries.get(db, actor, opportunity_id))


@router.post(
    "/{opportunity_id}/decision",
    response_model=OpportunityOut,
    summary="Review, accept, reject or cancel an opportunity",
    responses=_errors(400, 404, 409),
)
def decide(
    actor: ApiActor,
    db: DB,
    settings: AppSettings,
    opportunity_id: str,
    body: DecisionIn,
) -> OpportunityOut:
    match body.decision:
        case "pass_review":
            row = service.pass_review(db, actor, settings, opportunity_id, body.comment)
        case "accept":
            row = service.accept(db, actor, settings, opportunity_id, body.comment)
        case "reject":
            row = service.reject(
                db,
                actor,
                settings,
                opportunity_id,
                reason=body.reason.value if body.reason else "",
                comment=body.comment,
            )
        case "cancel":
            row = service.cancel(db, actor, settings, opportunity_id, body.comment)
    return _out(db, row)
