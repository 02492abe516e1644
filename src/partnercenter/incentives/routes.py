"""Incentive policies in the native API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.core.i18n import best_locale
from partnercenter.core.settings import Settings
from partnercenter.incentives import service
from partnercenter.web.context import DB, settings_of

router = APIRouter(prefix="/incentives", tags=["incentives"])

Config = Annotated[Settings, Depends(settings_of)]


class PolicyOut(BaseModel):
    service_type_code: str
    service_type_name: str
    incentive_policy: str = Field(
        description="0 non-specific product, 1 specific product, 2 no performance and "
        "no rebate, 13 performance but no rebate"
    )
    allow_discount: str = Field(description="YES or NO")
    rebate_rate: str | None = Field(description="Percent with two decimals, if set.")
    effective_month: str = Field(description="The month whose entry applies.")


class PoliciesOut(BaseModel):
    policies: list[PolicyOut]
    total_count: int


@router.get(
    "/policies",
    response_model=PoliciesOut,
    responses=error_responses(400),
    summary="The incentive and discount policies in force at the end of a month",
    description="Each service type's policy of that month, or of the latest earlier "
    "month that set one (months in Asia/Shanghai, read at 23:59:59 of the month's last "
    "day). Partners holding the incentives permission and vendor staff may read it.",
)
def list_policies(
    request: Request,
    actor: ApiActor,
    db: DB,
    settings: Config,
    *,
    month: Annotated[str, Query(examples=["2026-02"])],
    service_type_code: str | None = None,
    offset: int = 0,
    limit: Annotated[int, Query(le=service.MAX_LIMIT)] = 10,
) -> PoliciesOut:
    rows, total = service.policies_for_month(
        db,
        actor,
        month=month,
        service_type_code=service_type_code,
        offset=offset,
        limit=limit,
        locale=best_locale(request.headers.get("accept-language"), settings.locale),
    )
    return PoliciesOut(
        policies=[
            PolicyOut(
                service_type_code=row.service_type_code,
                service_type_name=row.service_type_name,
                incentive_policy=row.incentive_policy,
                allow_discount=row.allow_discount,
                rebate_rate=None if row.rebate_rate is None else str(row.rebate_rate),
                effective_month=row.effective_month,
            )
            for row in rows
        ],
        total_count=total,
    )
