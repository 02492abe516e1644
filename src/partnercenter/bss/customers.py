"""BSS operations on a partner's customers: checking whether an identity is free, creating a
customer associated in resale, and searching the customers."""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

from partnercenter.bss import wire
from partnercenter.bss.errors import BssError
from partnercenter.bss.gateway import Call, operation
from partnercenter.core.actor import Actor
from partnercenter.core.errors import InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.customers import queries
from partnercenter.customers import service as customers
from partnercenter.customers.models import AssociationMode, CustomerType
from partnercenter.identity import service as identity
from partnercenter.identity.models import RealNameStatus
from partnercenter.ledger import service as ledger

ID_LENGTH = 64
MOBILE = re.compile(r"^\d{4}-\d+$")
CHINA_MOBILE = re.compile(r"^0086-1\d{10}$")
ACCOUNT_NAME = re.compile(r"^[a-zA-Z_-][a-zA-Z0-9_-]*$")
ACCOUNT_NAME_RULE = N_(
    "%(field)s has 5 to 32 letters, digits, '_' or '-', does not start with a digit, "
    "op_ or shadow_, and is not all digits."
)
MODE_CODES = {AssociationMode.CONSULTING: "1", AssociationMode.RESALE: "2"}
MODE_OF_CODE = {code: mode for mode, code in MODE_CODES.items()}
VERIFIED = {
    RealNameStatus.NONE: "-1",
    RealNameStatus.REVIEWING: "0",
    RealNameStatus.FAILED: "1",
    RealNameStatus.VERIFIED: "2",
}
CUSTOMER_TYPES = {CustomerType.INDIVIDUAL: 0, CustomerType.ENTERPRISE: 1}


def _phone(mobile: str) -> str:
    """``0086-13812345678`` as this product keeps phone numbers: ``+8613812345678``."""
    country, number = mobile.split("-", 1)
    return f"+{int(country)}{number}"


def _account_name_problem(name: str) -> bool:
    lowered = name.lower()
    return (
        not 5 <= len(name) <= 32
        or not ACCOUNT_NAME.match(name)
        or name.isdigit()
        or lowered.startswith(("op_", "shadow_"))
    )


@operation(
    "CheckUserIdentity", "POST", "/v2/partners/sub-customers/users/check-identity"
)
def check_identity(call: Call) -> dict[str, Any]:
    body = call.body
    search_type = body.required_text("search_type", choices=("email", "mobile", "name"))
    value = body.required_text("search_value", max_length=64)
    answer: dict[str, Any] = {}
    if search_type == "mobile":
        if not CHINA_MOBILE.match(value):
            raise BssError(
                400,
                "CBC.5017",
                N_(
                    "The mobile number must be of the form 0086-13812345678; only "
                    "mainland China numbers are accepted."
                ),
            )
        used = identity.in_use(call.session, phone=_phone(value))
        answer["mobile_remain_available_num"] = 0 if used else 1
    elif search_type == "email":
        used = identity.in_use(call.session, email=value)
    else:
        if _account_name_problem(value):
            raise BssError(400, "CBC.99000031", ACCOUNT_NAME_RULE, field="search_value")
        used = identity.in_use(call.session, account_name=value)
    return {"check_result": "used_by_user" if used else "available", **answer}


def _creating_partner(call: Call, reseller_id: str | None) -> Actor:
    """Who the new customer is associated with: the caller, or a distributor's reseller."""
    if reseller_id:
        ledger.reseller_of(call.session, call.actor, reseller_id)
        return dataclasses.replace(
            call.actor, organisation_id=reseller_id, organisation_kind="reseller"
        )
    if call.actor.organisation_kind == "distributor":
        raise BssError(
            400,
            "CBC.50010059",
            N_(
                "A distributor does not associate customers itself; pass the "
                "indirect_partner_id of the reseller the customer is for."
            ),
        )
    return call.actor


CREATE_PROBLEMS = {
    ("account_name", N_("This account name is taken.")): "CBC.99000038",
    ("phone", N_("This phone number is already in use.")): "CBC.99000029",
    ("email", N_("This email address is already in use.")): "CBC.99000038",
}


def _create_refusal(error: InvalidInput) -> BssError | None:
    """The BSS code of the first problem the domain found with a new account."""
    for problem in error.problems:
        code = CREATE_PROBLEMS.get((problem.field, problem.message))
        if code is None and problem.field == "account_name":
            code = "CBC.99000031"
        if code is None and problem.field in {"password", "new_password"}:
            code = "CBC.99000036"
        if code is not None:
            return BssError(400, code, problem.message, **dict(problem.params))
    return None


@operation("CreateSubCustomer", "POST", "/v2/partners/sub-customers", writes=True)
def create_sub_customer(call: Call) -> dict[str, Any]:
    body = call.body
    xaccount_id = body.required_text("xaccount_id", max_length=ID_LENGTH)
    xaccount_type = body.required_text("xaccount_type", max_length=ID_LENGTH)
    domain_name = body.text("domain_name", max_length=32)
    if domain_name is not None and _account_name_problem(domain_name):
        raise BssError(400, "CBC.99000031", ACCOUNT_NAME_RULE, field="domain_name")
    mobile = body.text("mobile_phone", max_length=32)
    if mobile is not None and not CHINA_MOBILE.match(mobile):
        raise BssError(
            400,
            "CBC.5017",
            N_("mobile_phone must be of the form 0086-13812345678."),
        )
    password = body.text("password", max_length=64)
    body.text("is_close_market_ms", choices=("true", "false"))
    cooperation = body.text("cooperation_type", max_length=8)
    if cooperation == "1":
        raise BssError(
            400,
            "CBC.5024",
            N_(
                "Customers created through the API are associated in resale; invite a "
                "consulting customer from the console instead."
            ),
        )
    body.boolean("include_association_result")
    partner = _creating_partner(
        call, body.text("indirect_partner_id", max_length=ID_LENGTH)
    )
    account_name = domain_name or "pc" + secrets.token_hex(15)
    try:
        customer, _association = customers.create_for_partner(
            call.session,
            partner,
            account_name=account_name,
            display_name=account_name,
            customer_type=CustomerType.ENTERPRISE,
            phone=_phone(mobile) if mobile else None,
            xaccount_id=xaccount_id,
            xaccount_type=xaccount_type,
            password=password,
        )
    except InvalidInput as error:
        refusal = _create_refusal(error)
        if refusal is not None:
            raise refusal from None
        raise
    return {"domain_id": customer.id, "domain_name": customer.account_name}


@operation("ListSubCustomers", "POST", "/v2/partners/sub-customers/query")
def list_sub_customers(call: Call) -> dict[str, Any]:
    body = call.body
    mode = body.text("association_type", choices=("1", "2"))
    until = body.time("associated_on_end")
    search = queries.CustomerSearch(
        account_name=body.text("account_name", max_length=ID_LENGTH),
        customer_name=body.text("customer", max_length=200),
        label=body.text("label", max_length=64),
        mode=MODE_OF_CODE[mode] if mode else None,
        associated_from=body.time("associated_on_begin"),
        associated_until=until.replace(microsecond=999_999) if until else None,
        customer_id=body.text("customer_id", max_length=ID_LENGTH),
        reseller_id=body.text("indirect_partner_id", max_length=ID_LENGTH),
    )
    offset, limit = body.page()
    if search.reseller_id:
        ledger.reseller_of(call.session, call.actor, search.reseller_id)
    page = queries.search_customers(
        call.session, call.actor, search, offset=offset, limit=limit
    )
    return {
        "customer_infos": [_customer_info(row) for row in page.rows],
        "count": page.total,
    }


def _customer_info(row: queries.CustomerRow) -> dict[str, Any]:
    organisation, customer = row.organisation, row.customer
    return {
        "customer": organisation.display_name,
        "account_name": organisation.account_name,
        "customer_id": organisation.id,
        "associated_on": wire.time_text(row.association.started_at),
        "association_type": MODE_CODES[row.association.mode],
        "label": row.association.label,
        "telephone": _masked(organisation.contact_phone),
        "verified_status": VERIFIED.get(customer.real_name_status, "-1"),
        "country_code": organisation.country_region,
        "customer_type": CUSTOMER_TYPES.get(customer.customer_type, -1),
        "is_frozen": customer.frozen_state,
        "account_managers": (
            [{"account_name": row.account_manager.account_name}]
            if row.account_manager
            else []
        ),
        "xaccount_id": customer.xaccount_id,
        "xaccount_type": customer.xaccount_type,
        "customer_level": customer.level,
        "email": _masked_email(organisation.contact_email),
    }


def _masked(phone: str | None) -> str | None:
    """A phone number with its middle hidden, as the original shows it."""
    if not phone or len(phone) < 7:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def _masked_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return email
    name, domain = email.split("@", 1)
    return (name[:1] + "***" if name else "") + "@" + domain
