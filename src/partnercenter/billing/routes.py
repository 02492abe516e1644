"""Billing in the native API: the service catalogue and the monthly bills.

Amounts come out as strings with two decimals; names of service and resource types are in
the caller's language (Accept-Language).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from partnercenter.api.auth import ApiActor
from partnercenter.api.errors import error_responses
from partnercenter.billing import queries, service
from partnercenter.core.i18n import best_locale
from partnercenter.core.money import to_decimal
from partnercenter.core.settings import Settings
from partnercenter.web.context import DB, settings_of

router = APIRouter(prefix="/billing", tags=["billing"])

Config = Annotated[Settings, Depends(settings_of)]


def _locale(request: Request, settings: Settings) -> str:
    return best_locale(request.headers.get("accept-language"), settings.locale)


class ServiceTypeOut(BaseModel):
    code: str = Field(examples=["hws.service.type.ec2"])
    name: str
    name_zh: str
    name_en: str


class ServiceTypesOut(BaseModel):
    service_types: list[ServiceTypeOut]


@router.get(
    "/service-types",
    response_model=ServiceTypesOut,
    responses=error_responses(),
    summary="The cloud service types that charges and policies name",
)
def list_service_types(
    request: Request, actor: ApiActor, db: DB, settings: Config
) -> ServiceTypesOut:
    del actor  # any signed caller may read the catalogue
    locale = _locale(request, settings)
    return ServiceTypesOut(
        service_types=[
            ServiceTypeOut(
                code=row.code,
                name=row.name(locale),
                name_zh=row.name_zh,
                name_en=row.name_en,
            )
            for row in service.service_types(db)
        ]
    )


class AccountDetailOut(BaseModel):
    balance_type: str = Field(
        description="BALANCE_TYPE_DEBIT (cash) or BALANCE_TYPE_COUPON (vouchers)."
    )
    amount: str
    bill_type: str


class MonthlyBillOut(BaseModel):
    bill_cycle: str = Field(examples=["2026-02"])
    customer_id: str
    customer_name: str
    cloud_service_type: str | None
    cloud_service_type_name: str | None
    resource_type_code: str | None
    resource_type_name: str | None
    charge_mode: str = Field(
        description="1 yearly/monthly, 3 on demand, 11 savings plan"
    )
    bill_type: str = Field(description="0 consumption, 1 unsubscription, 2 write-off")
    amount: str = Field(description="Negative for bill types 1 and 2.")
    debt_amount: str = Field(description="What the balance did not cover (arrears).")
    adjustment_amount: str
    discount_amount: str
    currency: str
    account_details: list[AccountDetailOut]


class MonthlyBillsOut(BaseModel):
    bill_sums: list[MonthlyBillOut]
    count: int
    currency: str


def _money(minor: int) -> str:
    return str(to_decimal(minor))


@router.get(
    "/monthly-bills",
    response_model=MonthlyBillsOut,
    responses=error_responses(400),
    summary="Monthly bills per customer, service type, charge mode and bill type",
    description="A partner sees its resale customers' bills (a distributor a "
    "reseller's, naming it as indirect_partner_id); a customer its own; vendor staff "
    "every bill. Cycles are months in Asia/Shanghai.",
)
def monthly_bills(
    request: Request,
    actor: ApiActor,
    db: DB,
    settings: Config,
    *,
    cycle: Annotated[str, Query(examples=["2026-02"])],
    charge_mode: str | None = None,
    customer_id: str | None = None,
    cloud_service_type: str | None = None,
    bill_type: str | None = None,
    offset: int = 0,
    limit: Annotated[int, Query(le=queries.MAX_LIMIT)] = 10,
    indirect_partner_id: str | None = None,
) -> MonthlyBillsOut:
    rows, count = queries.monthly_bills(
        db,
        actor,
        cycle=cycle,
        charge_mode=charge_mode,
        customer_id=customer_id,
        cloud_service_type=cloud_service_type,
        bill_type=bill_type,
        offset=offset,
        limit=limit,
        indirect_partner_id=indirect_partner_id,
        locale=_locale(request, settings),
    )
    return MonthlyBillsOut(
        bill_sums=[
            MonthlyBillOut(
                bill_cycle=row.bill_cycle,
                customer_id=row.customer_id,
                customer_name=row.customer_name,
                cloud_service_type=row.cloud_service_type,
                cloud_service_type_name=row.cloud_service_type_name,
                resource_type_code=row.resource_type_code,
                resource_type_name=row.resource_type_name,
                charge_mode=row.charge_mode,
                bill_type=row.bill_type,
                amount=_money(row.amount),
                debt_amount=_money(row.debt_amount),
                adjustment_amount=_money(row.adjustment_amount),
                discount_amount=_money(row.discount_amount),
                currency=row.currency,
                account_details=[
                    AccountDetailOut(
                        balance_type=d.balance_type,
                        amount=_money(d.amount),
                        bill_type=d.bill_type,
                    )
                    for d in row.account_details
                ],
            )
            for row in rows
        ],
        count=count,
        currency=settings.currency,
    )
