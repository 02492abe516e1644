"""BSS operations on money: allocation and reclaim, balances, adjust records and statements,
for customers and for a distributor's resellers.

Each handler reads the wire fields, calls the ledger's own use cases (the same the console
and the native API call) and writes the answer in the SDK's field types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from partnercenter.bss import wire
from partnercenter.bss.errors import BadParameter
from partnercenter.bss.gateway import Call, Callers, operation
from partnercenter.core.i18n import N_
from partnercenter.identity import service as identity
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import queries, service
from partnercenter.ledger.errors import NotADistributor
from partnercenter.ledger.models import AccountKind, TransferKind

MEASURE_YUAN = 1
"""``measure_id`` 1: amounts in yuan (major units)."""
ID_LENGTH = 64
BEIJING = ZoneInfo("Asia/Shanghai")
"""Statement dates of the original API are days in GMT+8."""

ADJUST_OPERATIONS: dict[str, tuple[TransferKind, ...]] = {
    "SOURCE_OPERATION_BEADJUST": (
        TransferKind.ALLOCATE,
        TransferKind.INDIRECT_ALLOCATE,
    ),
    "SOURCE_OPERATION_BERETRIEVE": (
        TransferKind.RECLAIM,
        TransferKind.INDIRECT_RECLAIM,
    ),
    "SOURCE_OPERATION_BEUNBIND": (TransferKind.UNBIND_RECLAIM,),
}
OPERATION_OF_KIND = {
    kind: name for name, kinds in ADJUST_OPERATIONS.items() for kind in kinds
}

TRADE_TYPES: dict[str, tuple[TransferKind, ...]] = {
    "RECHARGE": (TransferKind.TOPUP,),
    "DEDEUCT": (TransferKind.CONSUME,),
    "REFUND": (TransferKind.REFUND,),
    "RFROZEN": (TransferKind.WITHDRAWAL_HOLD, TransferKind.WITHDRAWAL_RELEASE),
    "TRANS": (TransferKind.WITHDRAWAL_PAYOUT,),
    "ADJUST": (TransferKind.CORRECTION,),
    "BEADJUST": ADJUST_OPERATIONS["SOURCE_OPERATION_BEADJUST"],
    "BERETRIEVE": ADJUST_OPERATIONS["SOURCE_OPERATION_BERETRIEVE"],
    "BEUNBIND": ADJUST_OPERATIONS["SOURCE_OPERATION_BEUNBIND"],
    "BONUSCONVERT": (),
    "TRADE_MODE_TRANSFER": (),
}
"""``trade_type`` of the statement query → ledger kinds (the last two have no
counterpart here, so they find nothing)."""
TRADE_DETAIL = {
    TransferKind.TOPUP: "SOURCE_OPERATION_RECHARGE",
    TransferKind.RECHARGE: "SOURCE_OPERATION_RECHARGE",
    TransferKind.CONSUME: "SOURCE_OPERATION_DEDUCT",
    TransferKind.REFUND: "SOURCE_OPERATION_REFUND",
    TransferKind.WITHDRAWAL_HOLD: "SOURCE_OPERATION_FROZEN",
    TransferKind.WITHDRAWAL_RELEASE: "SOURCE_OPERATION_UNFROZEN",
    TransferKind.WITHDRAWAL_PAYOUT: "SOURCE_OPERATION_WITHDRAW",
    TransferKind.CORRECTION: "SOURCE_OPERATION_ADJUST",
    **OPERATION_OF_KIND,
}
WITH_CUSTOMER = frozenset(OPERATION_OF_KIND)
"""Statement lines that name the customer (or reseller) on the other side."""


def _indirect(source: wire.Fields) -> str | None:
    return source.text("indirect_partner_id", max_length=ID_LENGTH)


# -- allocation and reclaim ------------------------------------------------------------------


UseCase = Callable[..., service.TransferResult]
"""One of the ledger's transfer use cases (allocate, reclaim, and the reseller pair)."""


def _customer_transfer(use_case: UseCase, answer: str) -> Callable[[Call], Any]:
    """An allocation to, or reclaim from, a customer (of the caller or of its reseller)."""

    def handle(call: Call) -> dict[str, Any]:
        body = call.body
        customer_id = body.required_text("customer_id", max_length=ID_LENGTH)
        amount = body.amount("amount")
        result = use_case(
            call.session,
            call.actor,
            customer_id=customer_id,
            amount=amount,
            indirect_partner_id=_indirect(body),
        )
        return {answer: result.transfer_id}

    return handle


def _reseller_transfer(use_case: UseCase, answer: str) -> Callable[[Call], Any]:
    """A distributor funds one of its resellers, or takes money back from it."""

    def handle(call: Call) -> dict[str, Any]:
        reseller_id = call.body.required_text(
            "indirect_partner_id", max_length=ID_LENGTH
        )
        amount = call.body.amount("amount")
        result = use_case(
            call.session, call.actor, reseller_id=reseller_id, amount=amount
        )
        return {answer: result.transfer_id}

    return handle


operation(
    "UpdateCustomerAccountAmount",
    "POST",
    "/v2/accounts/partner-accounts/adjust-amount",
    writes=True,
)(_customer_transfer(service.allocate, "transfer_id"))
operation(
    "ReclaimToPartnerAccount",
    "POST",
    "/v2/accounts/partner-accounts/reclaim",
    writes=True,
)(_customer_transfer(service.reclaim, "trans_id"))
operation(
    "UpdateIndirectPartnerAccount",
    "POST",
    "/v2/accounts/partner-accounts/indirect-partner-adjust",
    writes=True,
)(_reseller_transfer(service.allocate_to_reseller, "transfer_id"))
operation(
    "ReclaimIndirectPartnerAccount",
    "POST",
    "/v2/accounts/partner-accounts/indirect-partner-reclaim",
    writes=True,
)(_reseller_transfer(service.reclaim_from_reseller, "trans_id"))


# -- balances ----------------------------------------------------------------------------------


def _partner_reading(call: Call, source: wire.Fields) -> str:
    """The partner whose money is read: the caller, or a distributor's reseller."""
    identity.authorize(call.actor, Permission.FUNDS_VIEW)
    return service.funding_partner(call.session, call.actor, _indirect(source))


@operation("ListPartnerBalances", "GET", "/v2/accounts/partner-accounts/balances")
def partner_balances(call: Call) -> dict[str, Any]:
    partner_id = _partner_reading(call, call.query)
    currency = call.settings.currency
    balances = service.partner_balances(call.session, partner_id, currency)
    common = {"currency": currency, "measure_id": MEASURE_YUAN}
    return {
        "account_balances": [
            {
                "account_id": f"{partner_id}-1",
                "account_type": 1,
                "amount": wire.money(balances.cash),
                "designated_amount": wire.money(balances.designated),
                **common,
            },
            {
                "account_id": f"{partner_id}-2",
                "account_type": 2,
                "amount": wire.money(balances.credit_limit - balances.credit_used),
                "credit_amount": wire.money(balances.credit_limit),
                **common,
            },
            {
                "account_id": f"{partner_id}-8",
                "account_type": 8,
                "amount": wire.money(balances.allocatable),
                "designated_amount": wire.money(balances.designated),
                **common,
            },
        ]
    }


@operation(
    "ShowCustomerAccountBalances",
    "GET",
    "/v2/accounts/customer-accounts/balances",
    callers=Callers.CUSTOMERS,
)
def customer_balances(call: Call) -> dict[str, Any]:
    identity.authorize(call.actor, Permission.CUSTOMER_SELF)
    currency = call.settings.currency
    customer_id = call.actor.organisation_id
    balances = service.customer_balances(call.session, customer_id, currency)
    return {
        "account_balances": [
            {
                "account_id": f"{customer_id}-1",
                "account_type": 1,
                "amount": wire.money(balances.spendable),
                "currency": currency,
                "designated_amount": wire.money(0),
                "credit_amount": wire.money(0),
                "measure_id": MEASURE_YUAN,
            }
        ],
        "debt_amount": wire.money(balances.debt),
        "measure_id": MEASURE_YUAN,
        "currency": currency,
    }


@operation(
    "ListCustomersBalancesDetail",
    "POST",
    "/v2/accounts/customer-accounts/balances/batch-query",
)
def customers_balances(call: Call) -> dict[str, Any]:
    items = call.body.objects("customer_infos", required=True, maximum=100)
    ids = [item.required_text("customer_id", max_length=ID_LENGTH) for item in items]
    partner_id = _partner_reading(call, call.body)
    currency = call.settings.currency
    found = queries.resale_customer_balances(
        call.session, partner_id, ids, currency=currency
    )
    return {
        "customer_balances": [
            {
                "customer_id": customer_id,
                "amount": wire.money(found[customer_id].allocated),
                "debt_amount": wire.money(found[customer_id].debt),
                "currency": currency,
                "measure_id": MEASURE_YUAN,
            }
            for customer_id in dict.fromkeys(ids)
            if customer_id in found
        ]
    }


# -- records ------------------------------------------------------------------------------------


@operation(
    "ListPartnerAdjustRecords", "GET", "/v3/accounts/partner-accounts/adjust-records"
)
def adjust_records(call: Call) -> dict[str, Any]:
    query = call.query
    customer_id = query.text("customer_id", max_length=ID_LENGTH)
    operation_type = query.text("operation_type", choices=tuple(ADJUST_OPERATIONS))
    since = query.time("operation_time_begin")
    until = query.time("operation_time_end")
    transfer_id = query.text("trans_id", max_length=ID_LENGTH)
    offset, limit = query.page()
    partner_id = _partner_reading(call, query)
    found = queries.adjust_records(
        call.session,
        partner_id,
        customer_id=customer_id,
        kinds=ADJUST_OPERATIONS[operation_type] if operation_type else None,
        since=since,
        until=until + dt.timedelta(seconds=1) if until else None,
        transfer_id=transfer_id,
        offset=offset,
        limit=limit,
    )
    return {
        "records": [
            {
                "customer_id": record.counterparty_id,
                "customer_name": record.counterparty_name,
                "operation_type": OPERATION_OF_KIND.get(record.kind),
                "amount": wire.money_text(record.amount),
                "currency": record.currency,
                "apply_scene": None,
                "operation_time": wire.time_text(record.created_at),
                "measure_id": MEASURE_YUAN,
                "trans_id": record.transfer_id,
                "memo": record.reason,
            }
            for record in found.rows
        ],
        "total_count": found.total,
    }


BALANCE_TYPES = ("BALANCE_TYPE_DEBIT", "BALANCE_TYPE_CREDIT")


def _beijing_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=BEIJING).astimezone(dt.UTC)


@operation(
    "ListPartnerAccountChangeRecords",
    "GET",
    "/v2/accounts/partner-accounts/account-change-records",
)
def account_change_records(call: Call) -> dict[str, Any]:
    query = call.query
    balance_type = query.required_text("balance_type", choices=BALANCE_TYPES)
    trade_type = query.text("trade_type", choices=tuple(TRADE_TYPES))
    today = dt.datetime.now(BEIJING).date()
    first = query.date("trade_time_begin") or today.replace(year=today.year - 1)
    last = query.date("trade_time_end") or today
    if last < first:
        raise BadParameter(
            N_("%(field)s must not be before trade_time_begin."),
            field="trade_time_end",
        )
    offset, limit = query.page()
    partner_id = _partner_reading(call, query)
    currency = call.settings.currency
    empty = {"total_count": 0, "currency": currency, "records": []}
    if balance_type == "BALANCE_TYPE_CREDIT":
        # The credit line is a figure on the cash account, not an account with entries
        # of its own: what is spent on credit shows on the cash account's statement.
        return empty
    kinds = TRADE_TYPES[trade_type] if trade_type else None
    if kinds == ():
        return empty
    found = queries.statement(
        call.session,
        partner_id,
        AccountKind.PARTNER_CASH,
        kinds=kinds,
        since=_beijing_day_start(first),
        until=_beijing_day_start(last + dt.timedelta(days=1)),
        offset=offset,
        limit=limit,
        currency=currency,
    )
    return {
        "total_count": found.total,
        "currency": currency,
        "records": [
            {
                "account_change_id": str(line.entry_id),
                "trade_detail_type": TRADE_DETAIL.get(line.kind, line.kind.upper()),
                "trade_time": wire.time_text(line.created_at),
                "trade_id": line.transfer_id,
                "change_amount": wire.money_text(abs(line.amount)),
                "balance_after_change": wire.money_text(line.balance_after),
                "type": "1" if line.amount > 0 else "2",
                "customer_id": line.counterparty_id
                if line.kind in WITH_CUSTOMER
                else None,
                "account_name": line.counterparty_name
                if line.kind in WITH_CUSTOMER
                else None,
            }
            for line in found.rows
        ],
    }


# -- a distributor's resellers --------------------------------------------------------------


@operation("ListIndirectPartners", "POST", "/v2/partners/indirect-partners/query")
def indirect_partners(call: Call) -> dict[str, Any]:
    body = call.body
    account_name = body.text("account_name", max_length=ID_LENGTH)
    since = body.time("associated_on_begin")
    until = body.time("associated_on_end")
    reseller_id = _indirect(body)
    offset, limit = body.page()
    identity.authorize(call.actor, Permission.FUNDS_VIEW)
    if call.actor.organisation_kind != "distributor":
        raise NotADistributor()
    found = queries.resellers(
        call.session,
        call.actor.organisation_id,
        account_name=account_name,
        since=since,
        until=until + dt.timedelta(seconds=1) if until else None,
        reseller_id=reseller_id,
        offset=offset,
        limit=limit,
    )
    return {
        "count": found.total,
        "indirect_partners": [
            {
                "indirect_partner_id": row.id,
                "mobile_phone": row.contact_phone,
                "email": row.contact_email,
                "account_name": row.account_name,
                "name": row.display_name,
                "associated_on": wire.time_text(row.created_at),
                "account_manager_id": None,
                "account_manager_name": None,
            }
            for row in found.rows
        ],
    }
