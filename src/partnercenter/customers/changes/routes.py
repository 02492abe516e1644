"""Native API of association changes: requests, their decisions, and the records.

Partner keys start disassociations and mode switches, decide their customers' requests and
read their records; customer keys ask to leave or to be associated, and answer their
partner's requests. Refusals answer 409 with one problem per reason, its ``field`` being the
reason's code.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.core.actor import Actor
from partnercenter.core.i18n import best_locale, translator
from partnercenter.core.settings import Settings
from partnercenter.customers import service as customers
from partnercenter.customers.changes import records, service
from partnercenter.customers.changes.rules import ChangeRefused
from partnercenter.customers.changes.views import csv_response
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRequest,
    RequestKind,
    RequestParty,
    RequestStatus,
)
from partnercenter.identity.models import OrganisationKind
from partnercenter.web.context import DB, settings_of

router = APIRouter(tags=["association changes"])

AppSettings = Annotated[Settings, Depends(settings_of)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(
        *statuses,
        descriptions={
            404: "No such request, customer or record for the calling organisation.",
            409: "Refused: every reason is a problem whose field is the reason's code.",
        },
    )


class RequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    partner_id: str = Field(validation_alias="organisation_id")
    customer_id: str
    kind: RequestKind
    initiated_by: RequestParty
    target_mode: AssociationMode | None
    reason: str | None
    status: RequestStatus
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decision_reason: str | None


class PartnerRequestIn(BaseModel):
    customer_id: str = Field(max_length=32)
    kind: Literal["disassociate", "switch_mode"]
    target_mode: AssociationMode | None = Field(
        default=None, description="Required for switch_mode: the mode to switch to."
    )
    reason: str = Field(max_length=service.REASON_MAX)


class DecisionIn(BaseModel):
    reason: str = Field(
        default="",
        max_length=service.REASON_MAX,
        description="Required when a partner rejects; optional otherwise.",
    )


class DisassociationIn(BaseModel):
    reason: str = Field(default="", max_length=service.REASON_MAX)


class AssociationIn(BaseModel):
    partner_account_name: str = Field(max_length=64)
    mode: AssociationMode = AssociationMode.CONSULTING


class RecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    partner_id: str | None = Field(validation_alias="organisation_id")
    customer_id: str | None
    kind: str
    outcome: str
    mode_before: str | None
    mode_after: str | None
    actor_party: str
    request_id: str | None
    reason: str | None
    details: dict[str, Any]
    occurred_at: dt.datetime


class RecordPageOut(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[RecordOut]


def _out(request: AssociationRequest) -> RequestOut:
    return RequestOut.model_validate(request)


def _is_customer(actor: Actor) -> bool:
    return actor.organisation_kind == OrganisationKind.CUSTOMER


@router.get(
    "/association-requests",
    response_model=list[RequestOut],
    summary="Requests about the caller's associations, newest first",
    responses=_errors(),
)
def list_requests(
    actor: ApiActor, db: DB, status: RequestStatus | None = None
) -> list[RequestOut]:
    found = (
        service.customer_requests(db, actor, status=status)
        if _is_customer(actor)
        else service.partner_requests(db, actor, status=status)
    )
    return [_out(request) for request in found]


@router.post(
    "/association-requests",
    response_model=RequestOut,
    status_code=201,
    summary="Partner: ask a customer to disassociate or to switch mode",
    responses=_errors(400, 404, 409),
)
def start_request(
    actor: ApiActor, db: DB, settings: AppSettings, body: PartnerRequestIn
) -> RequestOut:
    request = service.start_partner_request(
        db,
        actor,
        settings,
        customer_id=body.customer_id,
        kind=RequestKind(body.kind),
        target_mode=body.target_mode,
        reason=body.reason,
    )
    return _out(request)


@router.post(
    "/association-requests/{request_id}/accept",
    response_model=RequestOut,
    summary="Agree to (partner) or confirm (customer) the other side's request",
    responses=_errors(404, 409),
)
def accept(
    actor: ApiActor, db: DB, settings: AppSettings, request_id: str
) -> RequestOut:
    try:
        if _is_customer(actor):
            decision = service.answer_partner_request(
                db, actor, settings, request_id, confirm=True
            )
        else:
            decision = service.decide_customer_request(
                db, actor, settings, request_id, agree=True
            )
    except (ChangeRefused, customers.AssociationRefused):
        # The refused attempt stays in the records although the change did not happen.
        db.commit()
        raise
    return _out(decision.request)


@router.post(
    "/association-requests/{request_id}/reject",
    response_model=RequestOut,
    summary="Reject (partner, reason required) or refuse (customer) a request",
    responses=_errors(400, 404, 409),
)
def reject(
    actor: ApiActor,
    db: DB,
    settings: AppSettings,
    request_id: str,
    body: DecisionIn,
) -> RequestOut:
    if _is_customer(actor):
        decision = service.answer_partner_request(
            db, actor, settings, request_id, confirm=False, reason=body.reason
        )
    else:
        decision = service.decide_customer_request(
            db, actor, settings, request_id, agree=False, reason=body.reason
        )
    return _out(decision.request)


@router.post(
    "/association-requests/{request_id}/cancel",
    response_model=RequestOut,
    summary="Partner: withdraw its own request not yet answered",
    responses=_errors(404, 409),
)
def cancel(
    actor: ApiActor, db: DB, settings: AppSettings, request_id: str
) -> RequestOut:
    return _out(service.cancel_request(db, actor, settings, request_id))


@router.post(
    "/my-partner/disassociation-requests",
    response_model=RequestOut,
    status_code=201,
    summary="Customer: ask its partner to end the association",
    responses=_errors(400, 404, 409),
)
def ask_to_leave(
    actor: ApiActor, db: DB, settings: AppSettings, body: DisassociationIn
) -> RequestOut:
    return _out(service.request_disassociation(db, actor, settings, reason=body.reason))


@router.post(
    "/my-partner/association-requests",
    response_model=RequestOut,
    status_code=201,
    summary="Customer: ask a partner, by its account name, to associate it",
    responses=_errors(400, 409),
)
def ask_to_join(
    actor: ApiActor, db: DB, settings: AppSettings, body: AssociationIn
) -> RequestOut:
    request = service.request_association(
        db,
        actor,
        settings,
        partner_account_name=body.partner_account_name,
        mode=body.mode,
    )
    return _out(request)


def _query(
    *,
    partner_id: Annotated[
        str | None,
        Query(description="Vendor staff: one partner's records only."),
    ] = None,
    customer_id: str | None = None,
    kind: str | None = None,
    outcome: Literal["succeeded", "refused", "pending"] | None = None,
    since: Annotated[dt.datetime | None, Query(description="Inclusive.")] = None,
    until: Annotated[dt.datetime | None, Query(description="Exclusive.")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=records.MAX_PAGE)] = 50,
) -> records.RecordQuery:
    return records.RecordQuery(
        partner_id=partner_id,
        customer_id=customer_id,
        kind=kind,
        outcome=outcome,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )


RecordFilters = Annotated[records.RecordQuery, Depends(_query)]


@router.get(
    "/association-records",
    response_model=RecordPageOut,
    summary="The association records the caller may read, newest first",
    responses=_errors(),
)
def list_records(actor: ApiActor, db: DB, query: RecordFilters) -> RecordPageOut:
    found = records.find(db, actor, query)
    return RecordPageOut(
        total=found.total,
        offset=found.offset,
        limit=found.limit,
        items=[RecordOut.model_validate(row) for row in found.rows],
    )


@router.get(
    "/association-records/export.csv",
    summary="The caller's association records as CSV (UTF-8 with BOM)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **_errors()},
)
def export_records(
    actor: ApiActor,
    db: DB,
    settings: AppSettings,
    query: RecordFilters,
    request: Request,
) -> Response:
    tr = translator(
        best_locale(request.headers.get("accept-language"), settings.locale)
    )
    text = records.export_csv(db, actor, query, tr, timezone=settings.display_timezone)
    return csv_response(text)


@router.get(
    "/association-records/{record_id}",
    response_model=RecordOut,
    summary="One association record",
    responses=_errors(404),
)
def get_record(actor: ApiActor, db: DB, record_id: int) -> RecordOut:
    return RecordOut.model_validate(records.get(db, actor, record_id))
