"""Native API of identity: who the caller is."""

from __future__ import annotations

from typing import Literal, cast

from fastapi import APIRouter
from pydantic import BaseModel, Field

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.identity import service as identity
from partnercenter.web.context import DB

router = APIRouter(tags=["identity"])

OrganisationKindName = Literal[
    "vendor", "solution_provider", "distributor", "reseller", "customer"
]


class OrganisationOut(BaseModel):
    id: str = Field(description="The organisation's id, also its X-Domain-Id.")
    kind: OrganisationKindName
    account_name: str
    display_name: str
    country_region: str | None = Field(
        description="Business region, an ISO 3166 code such as CN."
    )
    parent_id: str | None = Field(description="A reseller's distributor.")


@router.get(
    "/organisation",
    response_model=OrganisationOut,
    summary="The calling organisation",
    responses=error_responses(),
)
def calling_organisation(actor: ApiActor, db: DB) -> OrganisationOut:
    organisation = identity.get_organisation(db, actor.organisation_id)
    return OrganisationOut(
        id=organisation.id,
        kind=cast(OrganisationKindName, organisation.public_kind),
        account_name=organisation.account_name,
        display_name=organisation.display_name,
        country_region=organisation.country_region,
        parent_id=organisation.parent_id,
    )
