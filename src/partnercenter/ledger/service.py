"""The ledger's operations: what vendor finance, partners and the vendor's billing may do
with money, each checked against the rules and then handed to :mod:`posting`.

Services take amounts as integers of minor units; the faces parse decimals. Every function
flushes and never commits: a request commits once, so a transfer and what caused it (an
association change, a withdrawal's status) commit or vanish together.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, String, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from partnercenter.billing import service as billing
from partnercenter.billing.models import BillType, ChargeMode
from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.db import pg_array
from partnercenter.core.errors import DomainError, FieldProblem, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.core.logging import get_logger
from partnercenter.core.money import to_decimal
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationStatus,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, OrganisationKind, PartnerType
from partnercenter.identity.permissions import Permission
from partnercenter.identity.signing import CredentialRevoked
from partnercenter.ledger import posting
from partnercenter.ledger.errors import (
    ConsultingCustomer,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    NoSuchTransfer,
    NotADistributor,
    NotAPartner,
    NotCorrectable,
    NotYourCustomer,
    NotYourReseller,
)
from partnercenter.ledger.models import (
    Account,
    AccountKind,
    Transfer,
    TransferKind,
)
from partnercenter.ledger.posting import Limit, Posted, Posting, Shortfall

log = get_logger("partnercenter.ledger")

DEFAULT_CURRENCY = "CNY"
MAX_AMOUNT = 10**15
"""Ten trillion yuan in fen: far beyond any real transfer, well inside 64 bits."""

PREFIXES = {
    TransferKind.TOPUP: "TU",
    TransferKind.RECHARGE: "RC",
    TransferKind.ALLOCATE: "AD",
    TransferKind.RECLAIM: "RE",
    TransferKind.UNBIND_RECLAIM: "UB",
    TransferKind.INDIRECT_ALLOCATE: "IA",
    TransferKind.INDIRECT_RECLAIM: "IR",
    TransferKind.CONSUME: "CO",
    TransferKind.REFUND: "RF",
    TransferKind.WITHDRAWAL_HOLD: "WH",
    TransferKind.WITHDRAWAL_RELEASE: "WR",
    TransferKind.WITHDRAWAL_PAYOUT: "WP",
    TransferKind.CORRECTION: "CR",
}


def new_transfer_id(kind: TransferKind, at: dt.datetime | None = None) -> str:
    """``AD`` + UTC time to the second + 10 random hex digits, like ``AD2612031530057f3a…``."""
    return new_transfer_ids(kind, at or utc_now(), 1)[0]


def new_transfer_ids(kind: TransferKind, at: dt.datetime, count: int) -> list[str]:
    """``count`` ids of :func:`new_transfer_id`'s form, from one draw of randomness."""
    stem = f"{PREFIXES[kind]}{at.astimezone(dt.UTC):%y%m%d%H%M%S}"
    noise = secrets.token_hex(5 * count)
    return [stem + noise[10 * n : 10 * n + 10] for n in range(count)]


def check_amount(amount: int) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError("amounts are integers of minor units")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidAmount()
    return amount


def _shortfall(error: Shortfall) -> InsufficientFunds:
    return InsufficientFunds(
        available=str(to_decimal(error.available)), currency=error.posting.currency
    )


# -- accounts -----------------------------------------------------------------------------


def ensure_accounts(
    session: Session,
    wanted: Iterable[tuple[str, AccountKind]],
    currency: str = DEFAULT_CURRENCY,
) -> dict[tuple[str, AccountKind], int]:
    """The ids of the accounts of (organisation, kind), opened on first use."""
    keys = set(wanted)
    found = _account_ids(session, keys, currency)
    missing = keys - found.keys()
    if missing:
        now = utc_now()
        rows = [
            {
                "organisation_id": organisation_id,
                "kind": kind,
                "currency": currency,
                "balance": 0,
                "credit_limit": 0,
                "designated": 0,
                "entry_count": 0,
                "last_hash": posting.GENESIS_HASH,
                "created_at": now,
                "updated_at": now,
            }
            for organisation_id, kind in sorted(missing)
        ]
        dialect = session.get_bind().dialect.name
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        for start in range(0, len(rows), posting.CHUNK):
            session.execute(
                maker(Account).on_conflict_do_nothing(),
                rows[start : start + posting.CHUNK],
            )
        found.update(_account_ids(session, missing, currency))
    return found


def _account_ids(
    session: Session, keys: set[tuple[str, AccountKind]], currency: str
) -> dict[tuple[str, AccountKind], int]:
    found: dict[tuple[str, AccountKind], int] = {}
    organisations = sorted({organisation_id for organisation_id, _ in keys})
    kinds = sorted({kind for _, kind in keys})
    # An array parameter has no length limit: PostgreSQL finds them all in one statement
    # (a chunk's thousand customers and their partner, say).
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    step = max(len(organisations), 1) if on_postgresql else posting.CHUNK
    for start in range(0, len(organisations), step):
        rows = session.execute(
            select(Account.organisation_id, Account.kind, Account.id).where(
                posting.among(
                    session,
                    Account.organisation_id,
                    organisations[start : start + step],
                    String,
                ),
                Account.kind.in_(kinds),
                Account.currency == currency,
            )
        )
        for organisation_id, kind, account_id in rows:
            if (organisation_id, kind) in keys:
                found[(organisation_id, kind)] = account_id
    return found


def account_id(
    session: Session,
    organisation_id: str,
    kind: AccountKind,
    currency: str = DEFAULT_CURRENCY,
) -> int:
    return ensure_accounts(session, [(organisation_id, kind)], currency)[
        (organisation_id, kind)
    ]


def find_account(
    session: Session,
    organisation_id: str,
    kind: AccountKind,
    currency: str = DEFAULT_CURRENCY,
) -> Account | None:
    return session.scalar(
        select(Account).where(
            Account.organisation_id == organisation_id,
            Account.kind == kind,
            Account.currency == currency,
        )
    )


@dataclass(frozen=True, slots=True)
class PartnerBalances:
    currency: str
    cash: int
    """The balance after allocations (BSS account type 1); below 0 when credit is used."""
    credit_limit: int
    designated: int
    held: int
    """Asked to be withdrawn and not yet paid or rejected."""

    @property
    def allocatable(self) -> int:
        """可拨款: cash + unused credit - designated (never below 0)."""
        return max(self.cash + self.credit_limit - self.designated, 0)

    @property
    def credit_used(self) -> int:
        return max(-self.cash, 0)

    @property
    def withdrawable(self) -> int:
        return max(self.cash - self.designated, 0)


def partner_balances(
    session: Session, partner_id: str, currency: str = DEFAULT_CURRENCY
) -> PartnerBalances:
    cash = find_account(session, partner_id, AccountKind.PARTNER_CASH, currency)
    hold = find_account(session, partner_id, AccountKind.PARTNER_HOLD, currency)
    return PartnerBalances(
        currency=currency,
        cash=cash.balance if cash else 0,
        credit_limit=cash.credit_limit if cash else 0,
        designated=cash.designated if cash else 0,
        held=hold.balance if hold else 0,
    )


@dataclass(frozen=True, slots=True)
class CustomerBalances:
    currency: str
    allocated: int
    """What partners allocated and the customer has not spent (below 0: arrears)."""
    cash: int
    """The customer's own money (below 0: arrears outside resale)."""
    resale: bool
    """Whether the customer is now in resale, so that consumption draws on ``allocated``."""

    @property
    def spendable(self) -> int:
        return self.allocated if self.resale else self.cash

    @property
    def debt(self) -> int:
        return max(-self.spendable, 0)


def _active_association(session: Session, customer_id: str) -> Association | None:
    return session.scalar(
        select(Association).where(
            Association.customer_id == customer_id,
            Association.status == AssociationStatus.ACTIVE,
        )
    )


def customer_balances(
    session: Session, customer_id: str, currency: str = DEFAULT_CURRENCY
) -> CustomerBalances:
    association = _active_association(session, customer_id)
    allocated = find_account(
        session, customer_id, AccountKind.CUSTOMER_ALLOCATED, currency
    )
    cash = find_account(session, customer_id, AccountKind.CUSTOMER_CASH, currency)
    return CustomerBalances(
        currency=currency,
        allocated=allocated.balance if allocated else 0,
        cash=cash.balance if cash else 0,
        resale=association is not None and association.mode is AssociationMode.RESALE,
    )


def debts(
    session: Session, customer_ids: Sequence[str], currency: str = DEFAULT_CURRENCY
) -> dict[str, int]:
    """What each customer owes now: the negative balance of the pocket it spends from."""
    if not customer_ids:
        return {}
    resale = set(
        session.scalars(
            select(Association.customer_id).where(
                Association.customer_id.in_(customer_ids),
                Association.status == AssociationStatus.ACTIVE,
                Association.mode == AssociationMode.RESALE,
            )
        )
    )
    owed: dict[str, int] = dict.fromkeys(customer_ids, 0)
    rows = session.execute(
        select(Account.organisation_id, Account.kind, Account.balance).where(
            Account.organisation_id.in_(customer_ids),
            Account.currency == currency,
            Account.balance < 0,
        )
    )
    for organisation_id, kind, balance in rows:
        pocket = (
            AccountKind.CUSTOMER_ALLOCATED
            if organisation_id in resale
            else AccountKind.CUSTOMER_CASH
        )
        if kind is pocket:
            owed[organisation_id] = -balance
    return owed


# -- who may act for whom -----------------------------------------------------------------


def require_partner(actor: Actor) -> None:
    identity.authorize(actor, Permission.FUNDS_TRANSFER)
    if actor.organisation_kind not in {t.value for t in PartnerType}:
        raise NotAPartner()


def funding_partner(
    session: Session, actor: Actor, indirect_partner_id: str | None
) -> str:
    """Whose balance pays: the caller's, or, for a distributor acting on one of its
    resellers' customers, that reseller's."""
    if not indirect_partner_id:
        return actor.organisation_id
    reseller_of(session, actor, indirect_partner_id)
    return indirect_partner_id


def reseller_of(session: Session, actor: Actor, reseller_id: str) -> Organisation:
    if actor.organisation_kind != PartnerType.DISTRIBUTOR:
        raise NotADistributor()
    reseller = session.get(Organisation, reseller_id)
    if (
        reseller is None
        or reseller.parent_id != actor.organisation_id
        or reseller.partner_type is not PartnerType.RESELLER
    ):
        raise NotYourReseller()
    return reseller


def _resale_modes(
    session: Session, partner_id: str, customer_ids: Sequence[str], *, lock: bool
) -> dict[str, AssociationMode]:
    """The mode of each customer's active association with ``partner_id``.

    With ``lock``, the association rows are share-locked: an association change takes them
    first, so money cannot reach a customer in the moment it leaves.
    """
    modes: dict[str, AssociationMode] = {}
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), posting.CHUNK):
        statement = select(Association.customer_id, Association.mode).where(
            Association.organisation_id == partner_id,
            Association.status == AssociationStatus.ACTIVE,
            posting.among(
                session,
                Association.customer_id,
                ids[start : start + posting.CHUNK],
                String,
            ),
        )
        if lock:
            statement = statement.with_for_update(read=True)
        modes.update({row.customer_id: row.mode for row in session.execute(statement)})
    return modes


def check_resale_customer(mode: AssociationMode | None) -> None:
    if mode is None:
        raise NotYourCustomer()
    if mode is not AssociationMode.RESALE:
        raise ConsultingCustomer()


# -- partner operations -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferResult:
    transfer_id: str
    kind: TransferKind
    amount: int
    currency: str
    partner_id: str
    counterparty_id: str
    partner_balance_after: int
    created_at: dt.datetime


def allocate(
    session: Session,
    actor: Actor,
    *,
    customer_id: str,
    amount: int,
    indirect_partner_id: str | None = None,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> TransferResult:
    """拨款: move ``amount`` from the partner's balance to a resale customer."""
    return _customer_transfer(
        session,
        actor,
        TransferKind.ALLOCATE,
        customer_id=customer_id,
        amount=amount,
        indirect_partner_id=indirect_partner_id,
        reason=reason,
        currency=currency,
    )


def reclaim(
    session: Session,
    actor: Actor,
    *,
    customer_id: str,
    amount: int,
    indirect_partner_id: str | None = None,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> TransferResult:
    """回收: take back at most what the resale customer has not spent."""
    return _customer_transfer(
        session,
        actor,
        TransferKind.RECLAIM,
        customer_id=customer_id,
        amount=amount,
        indirect_partner_id=indirect_partner_id,
        reason=reason,
        currency=currency,
    )


def _customer_transfer(
    session: Session,
    actor: Actor,
    kind: TransferKind,
    *,
    customer_id: str,
    amount: int,
    indirect_partner_id: str | None,
    reason: str | None,
    currency: str,
) -> TransferResult:
    require_partner(actor)
    check_amount(amount)
    if indirect_partner_id and actor.organisation_kind != PartnerType.DISTRIBUTOR:
        raise NotADistributor()
    if session.get_bind().dialect.name == "postgresql":
        at = utc_now()
        transfer_id = new_transfer_id(kind, at)
        row = call_customer_transfer(
            session.connection(),
            actor,
            kind=kind,
            customer_id=customer_id,
            amount=amount,
            indirect_partner_id=indirect_partner_id,
            reason=reason,
            currency=currency,
            transfer_id=transfer_id,
            at=at,
        )
        posting.forget_accounts(session)
        raise_refusal(row.outcome, row.available, currency)
        return TransferResult(
            transfer_id=transfer_id,
            kind=kind,
            amount=amount,
            currency=currency,
            partner_id=indirect_partner_id or actor.organisation_id,
            counterparty_id=customer_id,
            partner_balance_after=row.partner_balance_after,
            created_at=at,
        )
    funding = funding_partner(session, actor, indirect_partner_id)
    modes = _resale_modes(session, funding, [customer_id], lock=True)
    check_resale_customer(modes.get(customer_id))
    accounts = ensure_accounts(
        session,
        [
            (funding, AccountKind.PARTNER_CASH),
            (customer_id, AccountKind.CUSTOMER_ALLOCATED),
        ],
        currency,
    )
    partner_account = accounts[(funding, AccountKind.PARTNER_CASH)]
    customer_account = accounts[(customer_id, AccountKind.CUSTOMER_ALLOCATED)]
    allocating = kind is TransferKind.ALLOCATE
    at = utc_now()
    entry = Posting(
        transfer_id=new_transfer_id(kind, at),
        kind=kind,
        debit_account_id=partner_account if allocating else customer_account,
        credit_account_id=customer_account if allocating else partner_account,
        amount=amount,
        currency=currency,
        limit=Limit.ALLOCATABLE if allocating else Limit.UNSPENT,
        organisation_id=funding,
        counterparty_id=customer_id,
        reason=reason,
    )
    posted = post_one(session, actor, entry, at)
    audit_transfer(session, actor, entry, posted)
    return TransferResult(
        transfer_id=entry.transfer_id,
        kind=kind,
        amount=amount,
        currency=currency,
        partner_id=funding,
        counterparty_id=customer_id,
        partner_balance_after=(
            posted.debit_balance_after if allocating else posted.credit_balance_after
        ),
        created_at=at,
    )


CUSTOMER_TRANSFERS_SQL = text(
    "SELECT outcome, transfer_id, partner_balance_after, available FROM "
    "ledger_customer_transfers(:partner, :reseller, :currency, CAST(:kind AS text[]), "
    "CAST(:customer AS text[]), CAST(:amount AS bigint[]), CAST(:transfer_id AS text[]), "
    "CAST(:at AS timestamptz[]), CAST(:reason AS text[]), CAST(:actor_user AS text[]), "
    "CAST(:credential AS bigint[]), CAST(:request_id AS text[]), "
    "CAST(:idem_key AS text[]), CAST(:idem_hash AS text[]))"
)
"""The PostgreSQL function of migration 0007, here with a list of one request: the same
checks and writes as the Python engine, in one statement."""

REFUSALS: dict[str, type[DomainError]] = {
    "credential_revoked": CredentialRevoked,
    "not_your_reseller": NotYourReseller,
    "not_your_customer": NotYourCustomer,
    "consulting_customer": ConsultingCustomer,
    "idempotency_conflict": IdempotencyConflict,
}


def call_customer_transfer(
    connection: Connection,
    actor: Actor,
    *,
    kind: TransferKind,
    customer_id: str,
    amount: int,
    indirect_partner_id: str | None,
    reason: str | None,
    currency: str,
    transfer_id: str,
    at: dt.datetime,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Row[Any]:
    return connection.execute(
        CUSTOMER_TRANSFERS_SQL,
        {
            "partner": actor.organisation_id,
            "reseller": indirect_partner_id or None,
            "currency": currency,
            "kind": [kind.value],
            "customer": [customer_id],
            "amount": [amount],
            "transfer_id": [transfer_id],
            "at": [at],
            "reason": [reason],
            "actor_user": [actor.user_id],
            "credential": [actor.credential_id],
            "request_id": [actor.request_id],
            "idem_key": [idempotency_key],
            "idem_hash": [request_hash],
        },
    ).one()


def raise_refusal(outcome: str, available: int | None, currency: str) -> None:
    """Turn the function's outcome into the error the Python path would raise."""
    if outcome in {"posted", "replay"}:
        return
    if outcome == "insufficient_funds":
        raise InsufficientFunds(
            available=str(to_decimal(available or 0)), currency=currency
        )
    raise REFUSALS[outcome]()


def post_one(session: Session, actor: Actor, entry: Posting, at: dt.datetime) -> Posted:
    try:
        [result] = posting.post(session, actor, [entry], at=at)
    except Shortfall as error:
        raise _shortfall(error) from None
    assert isinstance(result, Posted)
    return result


def audit_transfer(
    session: Session, actor: Actor, entry: Posting, posted: Posted
) -> None:
    audit.record(
        session,
        actor,
        f"ledger.{entry.kind.value}",
        subject_type="transfer",
        subject_id=entry.transfer_id,
        organisation_id=entry.organisation_id,
        after={
            "amount": str(to_decimal(entry.amount)),
            "currency": entry.currency,
            "counterparty_id": entry.counterparty_id,
        },
        reason=entry.reason,
    )
    log.info(
        "ledger.posted",
        kind=entry.kind.value,
        transfer_id=entry.transfer_id,
        amount=entry.amount,
    )


def allocate_to_reseller(
    session: Session,
    actor: Actor,
    *,
    reseller_id: str,
    amount: int,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> TransferResult:
    """A distributor funds one of its resellers from its own balance."""
    return _reseller_transfer(
        session,
        actor,
        TransferKind.INDIRECT_ALLOCATE,
        reseller_id=reseller_id,
        amount=amount,
        reason=reason,
        currency=currency,
    )


def reclaim_from_reseller(
    session: Session,
    actor: Actor,
    *,
    reseller_id: str,
    amount: int,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> TransferResult:
    """A distributor takes back at most the reseller's balance less what is designated."""
    return _reseller_transfer(
        session,
        actor,
        TransferKind.INDIRECT_RECLAIM,
        reseller_id=reseller_id,
        amount=amount,
        reason=reason,
        currency=currency,
    )


def _reseller_transfer(
    session: Session,
    actor: Actor,
    kind: TransferKind,
    *,
    reseller_id: str,
    amount: int,
    reason: str | None,
    currency: str,
) -> TransferResult:
    require_partner(actor)
    check_amount(amount)
    reseller_of(session, actor, reseller_id)
    accounts = ensure_accounts(
        session,
        [
            (actor.organisation_id, AccountKind.PARTNER_CASH),
            (reseller_id, AccountKind.PARTNER_CASH),
        ],
        currency,
    )
    mine = accounts[(actor.organisation_id, AccountKind.PARTNER_CASH)]
    theirs = accounts[(reseller_id, AccountKind.PARTNER_CASH)]
    funding = kind is TransferKind.INDIRECT_ALLOCATE
    at = utc_now()
    entry = Posting(
        transfer_id=new_transfer_id(kind, at),
        kind=kind,
        debit_account_id=mine if funding else theirs,
        credit_account_id=theirs if funding else mine,
        amount=amount,
        currency=currency,
        limit=Limit.ALLOCATABLE if funding else Limit.UNSPENT,
        organisation_id=actor.organisation_id,
        counterparty_id=reseller_id,
        reason=reason,
    )
    posted = post_one(session, actor, entry, at)
    audit_transfer(session, actor, entry, posted)
    return TransferResult(
        transfer_id=entry.transfer_id,
        kind=kind,
        amount=amount,
        currency=currency,
        partner_id=actor.organisation_id,
        counterparty_id=reseller_id,
        partner_balance_after=(
            posted.debit_balance_after if funding else posted.credit_balance_after
        ),
        created_at=at,
    )


# -- batches of allocations -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemResult:
    customer_id: str
    amount: int
    transfer_id: str | None = None
    error: str | None = None
    """The refusal's code, None when the transfer was made."""


def transfer_many(
    session: Session,
    actor: Actor,
    kind: TransferKind,
    items: Sequence[tuple[str, int]],
    *,
    indirect_partner_id: str | None = None,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> list[ItemResult]:
    """Allocations (or reclaims) to many customers with set-based statements.

    Each item succeeds or is refused on its own, in order: once the balance runs short,
    the items it cannot cover are refused and the later ones that still fit go through.
    """
    if kind not in {TransferKind.ALLOCATE, TransferKind.RECLAIM}:
        raise ValueError(f"not a customer transfer: {kind}")
    require_partner(actor)
    funding = funding_partner(session, actor, indirect_partner_id)
    if session.get_bind().dialect.name == "postgresql":
        return _transfer_many_in_database(
            session, actor, kind, funding, items, reason=reason, currency=currency
        )
    allocating = kind is TransferKind.ALLOCATE
    modes = _resale_modes(session, funding, [c for c, _ in items], lock=True)
    accounts = ensure_accounts(
        session,
        [(funding, AccountKind.PARTNER_CASH)]
        + [
            (c, AccountKind.CUSTOMER_ALLOCATED)
            for c, _ in items
            if modes.get(c) is AssociationMode.RESALE
        ],
        currency,
    )
    partner_account = accounts[(funding, AccountKind.PARTNER_CASH)]
    at = utc_now()
    results: list[ItemResult | None] = [None] * len(items)
    entries: list[tuple[int, Posting]] = []
    ids = new_transfer_ids(kind, at, len(items))
    for index, (customer_id, amount) in enumerate(items):
        error = _item_problem(modes.get(customer_id), amount)
        if error:
            results[index] = ItemResult(customer_id, amount, error=error)
            continue
        customer_account = accounts[(customer_id, AccountKind.CUSTOMER_ALLOCATED)]
        entries.append(
            (
                index,
                Posting(
                    transfer_id=ids[index],
                    kind=kind,
                    debit_account_id=partner_account
                    if allocating
                    else customer_account,
                    credit_account_id=customer_account
                    if allocating
                    else partner_account,
                    amount=amount,
                    currency=currency,
                    limit=Limit.ALLOCATABLE if allocating else Limit.UNSPENT,
                    organisation_id=funding,
                    counterparty_id=customer_id,
                    reason=reason,
                ),
            )
        )
    outcomes = posting.post(
        session, actor, [p for _, p in entries], at=at, skip_shortfalls=True
    )
    for (index, entry), outcome in zip(entries, outcomes, strict=True):
        customer_id, amount = items[index]
        results[index] = (
            ItemResult(customer_id, amount, transfer_id=entry.transfer_id)
            if isinstance(outcome, Posted)
            else ItemResult(customer_id, amount, error=InsufficientFunds.code)
        )
    return [r for r in results if r is not None]


TRANSFER_MANY = text(
    "SELECT transfer_id, error_code FROM ledger_transfer_many(:kind, :funding, "
    ":currency, CAST(:customers AS text[]), CAST(:amounts AS bigint[]), "
    "CAST(:transfer_ids AS text[]), :at, CAST(:reason AS text), "
    "CAST(:actor_user AS text), CAST(:actor_org AS text), CAST(:credential AS bigint), "
    "CAST(:request_id AS text), CAST(:max_amount AS bigint))"
)


def database_posting(
    actor: Actor,
    kind: TransferKind,
    funding: str,
    *,
    currency: str,
    reason: str | None,
    count: int,
) -> dict[str, object]:
    """The parameters that ``ledger_transfer_many`` and ``ledger_batch_chunk`` share: what
    each posted item's transfer records, with ``count`` fresh transfer ids."""
    at = utc_now()
    return {
        "kind": kind.value,
        "funding": funding,
        "currency": currency,
        "transfer_ids": pg_array(new_transfer_ids(kind, at, count)),
        "at": at,
        "reason": reason,
        "actor_user": actor.user_id,
        "actor_org": actor.organisation_id or None,
        "credential": actor.credential_id,
        "request_id": actor.request_id,
        "max_amount": MAX_AMOUNT,
    }


def _transfer_many_in_database(
    session: Session,
    actor: Actor,
    kind: TransferKind,
    funding: str,
    items: Sequence[tuple[str, int]],
    *,
    reason: str | None,
    currency: str,
) -> list[ItemResult]:
    """:func:`transfer_many` as one call of the PostgreSQL function (migrations 0018-19),
    which decides and writes every item as the Python code below does on SQLite."""
    if not items:
        return []
    # Amounts that are not whole numbers of minor units in range go as NULL, which the
    # function refuses as invalid, as _item_problem does.
    amounts = [
        int(amount) if isinstance(amount, int) and 0 < amount <= MAX_AMOUNT else None
        for _, amount in items
    ]
    session.flush()
    rows = (
        session.connection()
        .execute(
            TRANSFER_MANY,
            {
                "customers": pg_array([customer_id for customer_id, _ in items]),
                "amounts": pg_array(amounts),
                **database_posting(
                    actor,
                    kind,
                    funding,
                    currency=currency,
                    reason=reason,
                    count=len(items),
                ),
            },
        )
        .all()
    )
    posting.forget_accounts(session)
    return [
        ItemResult(customer_id, amount, transfer_id=transfer_id, error=error)
        for (customer_id, amount), (transfer_id, error) in zip(items, rows, strict=True)
    ]


def _item_problem(mode: AssociationMode | None, amount: int) -> str | None:
    if not isinstance(amount, int) or amount <= 0 or amount > MAX_AMOUNT:
        return InvalidAmount.code
    if mode is None:
        return NotYourCustomer.code
    if mode is not AssociationMode.RESALE:
        return ConsultingCustomer.code
    return None


# -- vendor finance -------------------------------------------------------------------------


def _require_finance(actor: Actor) -> None:
    identity.authorize(actor, Permission.FINANCE_OPERATE)


def _partner(session: Session, partner_id: str) -> Organisation:
    organisation = session.get(Organisation, partner_id)
    if organisation is None or organisation.kind is not OrganisationKind.PARTNER:
        raise NotAPartner()
    return organisation


def record_topup(
    session: Session,
    actor: Actor,
    *,
    partner_id: str,
    amount: int,
    reference: str | None = None,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> TransferResult:
    """A partner's remittance has arrived: its balance grows by ``amount``."""
    _require_finance(actor)
    check_amount(amount)
    _partner(session, partner_id)
    return _from_clearing(
        session,
        actor,
        TransferKind.TOPUP,
        organisation_id=partner_id,
        account_kind=AccountKind.PARTNER_CASH,
        amount=amount,
        reference=reference,
        reason=reason,
        currency=currency,
    )


def record_recharge(
    session: Session,
    actor: Actor,
    *,
    customer_id: str,
    amount: int,
    reference: str | None = None,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> TransferResult:
    """A customer paid the vendor itself: its own cash grows."""
    _require_finance(actor)
    check_amount(amount)
    organisation = session.get(Organisation, customer_id)
    if organisation is None or organisation.kind is not OrganisationKind.CUSTOMER:
        raise NotYourCustomer()
    return _from_clearing(
        session,
        actor,
        TransferKind.RECHARGE,
        organisation_id=customer_id,
        account_kind=AccountKind.CUSTOMER_CASH,
        amount=amount,
        reference=reference,
        reason=reason,
        currency=currency,
    )


def _from_clearing(
    session: Session,
    actor: Actor,
    kind: TransferKind,
    *,
    organisation_id: str,
    account_kind: AccountKind,
    amount: int,
    reference: str | None,
    reason: str | None,
    currency: str,
) -> TransferResult:
    vendor = identity.vendor_organisation(session)
    accounts = ensure_accounts(
        session,
        [(vendor.id, AccountKind.VENDOR_CLEARING), (organisation_id, account_kind)],
        currency,
    )
    at = utc_now()
    entry = Posting(
        transfer_id=new_transfer_id(kind, at),
        kind=kind,
        debit_account_id=accounts[(vendor.id, AccountKind.VENDOR_CLEARING)],
        credit_account_id=accounts[(organisation_id, account_kind)],
        amount=amount,
        currency=currency,
        limit=Limit.NONE,
        organisation_id=organisation_id,
        external_ref=reference or None,
        reason=reason,
    )
    posted = post_one(session, actor, entry, at)
    audit_transfer(session, actor, entry, posted)
    return TransferResult(
        transfer_id=entry.transfer_id,
        kind=kind,
        amount=amount,
        currency=currency,
        partner_id=organisation_id,
        counterparty_id=vendor.id,
        partner_balance_after=posted.credit_balance_after,
        created_at=at,
    )


def set_credit_limit(
    session: Session,
    actor: Actor,
    *,
    partner_id: str,
    amount: int,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> Account:
    """Set the partner's credit line (0 removes it); refused below the credit in use."""
    return _set_account_figure(
        session,
        actor,
        partner_id,
        field="credit_limit",
        amount=amount,
        reason=reason,
        currency=currency,
    )


def set_designated(
    session: Session,
    actor: Actor,
    *,
    partner_id: str,
    amount: int,
    reason: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> Account:
    """Earmark part of the partner's balance (专款); it stops being allocatable."""
    return _set_account_figure(
        session,
        actor,
        partner_id,
        field="designated",
        amount=amount,
        reason=reason,
        currency=currency,
    )


def _set_account_figure(
    session: Session,
    actor: Actor,
    partner_id: str,
    *,
    field: str,
    amount: int,
    reason: str | None,
    currency: str,
) -> Account:
    _require_finance(actor)
    if not isinstance(amount, int) or amount < 0 or amount > MAX_AMOUNT:
        raise InvalidAmount(
            N_("Enter an amount of 0 or more with at most two decimals.")
        )
    _partner(session, partner_id)
    account_key = account_id(session, partner_id, AccountKind.PARTNER_CASH, currency)
    posting.lock_accounts(session, [account_key])
    account = session.get(Account, account_key, populate_existing=True)
    assert account is not None
    before = getattr(account, field)
    if field == "credit_limit" and account.balance + amount < 0:
        raise InsufficientFunds(
            N_(
                "The partner uses %(used)s %(currency)s of credit; the credit line cannot "
                "be set lower than that."
            ),
            used=str(to_decimal(-account.balance)),
            currency=currency,
        )
    setattr(account, field, amount)
    account.updated_at = utc_now()
    session.flush()
    audit.record(
        session,
        actor,
        f"ledger.{field}_set",
        subject_type="ledger_account",
        subject_id=str(account.id),
        organisation_id=partner_id,
        before={field: str(to_decimal(before))},
        after={field: str(to_decimal(amount))},
        reason=reason,
    )
    return account


def correct(
    session: Session,
    actor: Actor,
    *,
    transfer_id: str,
    amount: int,
    reason: str,
) -> TransferResult:
    """Reverse part or all of a top-up or recharge recorded by mistake.

    The original stays as it was; the correction is a new transfer in the other direction
    that names it, and the partner's balance (with its credit) must cover it.
    """
    _require_finance(actor)
    check_amount(amount)
    original = session.get(Transfer, transfer_id)
    if original is None:
        raise NoSuchTransfer()
    # Lock the original's accounts before counting what was corrected already, so that
    # two corrections of one transfer queue up and the second sees the first.
    posting.lock_accounts(
        session, [original.debit_account_id, original.credit_account_id]
    )
    corrected = session.scalar(
        select(func.coalesce(func.sum(Transfer.amount), 0)).where(
            Transfer.original_id == transfer_id
        )
    )
    left = original.amount - int(corrected or 0)
    if (
        original.kind not in {TransferKind.TOPUP, TransferKind.RECHARGE}
        or amount > left
    ):
        raise NotCorrectable(
            left=str(to_decimal(max(left, 0))), currency=original.currency
        )
    at = utc_now()
    entry = Posting(
        transfer_id=new_transfer_id(TransferKind.CORRECTION, at),
        kind=TransferKind.CORRECTION,
        debit_account_id=original.credit_account_id,
        credit_account_id=original.debit_account_id,
        amount=amount,
        currency=original.currency,
        limit=Limit.CREDIT,
        organisation_id=original.organisation_id,
        counterparty_id=original.counterparty_id,
        original_id=original.id,
        reason=reason,
    )
    posted = post_one(session, actor, entry, at)
    audit_transfer(session, actor, entry, posted)
    return TransferResult(
        transfer_id=entry.transfer_id,
        kind=TransferKind.CORRECTION,
        amount=amount,
        currency=original.currency,
        partner_id=original.organisation_id or "",
        counterparty_id=original.counterparty_id or "",
        partner_balance_after=posted.debit_balance_after,
        created_at=at,
    )


# -- consumption ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Charge:
    """One charge (or refund) of the vendor's billing.

    Callers that know no more than the customer and the amount get an on-demand
    consumption (or, with ``refund``, an unsubscription) of no particular service, at the
    time it is posted.
    """

    charge_id: str
    customer_id: str
    amount: int
    refund: bool = False
    service_type_code: str | None = None
    resource_type_code: str | None = None
    charge_mode: ChargeMode = ChargeMode.ON_DEMAND
    bill_type: BillType | None = None
    """None: consumption, or unsubscription when ``refund``."""
    occurred_at: dt.datetime | None = None
    """None: when it is posted."""

    @property
    def resolved_bill_type(self) -> BillType:
        if self.bill_type is not None:
            return self.bill_type
        return BillType.UNSUBSCRIBE if self.refund else BillType.CONSUMPTION


@dataclass(frozen=True, slots=True)
class ChargeResult:
    charge_id: str
    status: str
    """``posted``, ``duplicate`` (posted before, nothing done now) or ``refused``."""
    transfer_id: str | None = None
    """The cash part's transfer; None when vouchers paid the whole charge."""
    error: str | None = None
    voucher_amount: int = 0
    cash_amount: int = 0


def charge_problems(session: Session, charges: Sequence[Charge]) -> list[FieldProblem]:
    """What is wrong with the charges' details, each problem named by its place."""
    unknown, resources = billing.unknown_codes(
        session,
        {c.service_type_code for c in charges if c.service_type_code},
        {c.resource_type_code for c in charges if c.resource_type_code},
    )
    problems = []
    for place, charge in enumerate(charges):
        prefix = f"charges[{place}]."
        bill_type = charge.resolved_bill_type
        if charge.bill_type is not None and bill_type.is_refund != charge.refund:
            problems.append(
                FieldProblem(
                    prefix + "bill_type",
                    N_(
                        "Bill type 0 is a consumption; 1 and 2 are refunds. It does not "
                        "agree with refund."
                    ),
                )
            )
        if charge.service_type_code in unknown:
            problems.append(
                FieldProblem(
                    prefix + "service_type_code",
                    N_("No service type has the code %(code)s."),
                    {"code": charge.service_type_code},
                )
            )
        if charge.resource_type_code is None:
            continue
        service_of_resource = resources.get(charge.resource_type_code)
        if service_of_resource is None:
            problems.append(
                FieldProblem(
                    prefix + "resource_type_code",
                    N_("No resource type has the code %(code)s."),
                    {"code": charge.resource_type_code},
                )
            )
        elif service_of_resource != (charge.service_type_code or service_of_resource):
            problems.append(
                FieldProblem(
                    prefix + "resource_type_code",
                    N_("The resource type belongs to the service type %(code)s."),
                    {"code": service_of_resource},
                )
            )
    return problems


def post_charges(
    session: Session,
    actor: Actor,
    charges: Sequence[Charge],
    *,
    currency: str = DEFAULT_CURRENCY,
) -> list[ChargeResult]:
    """Usage charges (and refunds) from the vendor's billing, idempotent per charge id.

    A consumption is paid by the customer's vouchers first and the rest in cash: the
    customer's allocated money while it is in resale, its own cash otherwise. Cash is never
    refused for want of money: the balance goes below zero and the customer is in arrears
    until it is funded again. A refund goes back to cash in full. Every charge posted is
    recorded as a usage line, whose (kind, charge id) makes a repeat a duplicate, even of
    a charge that vouchers paid whole and that therefore has no transfer.

    Details that are wrong (an unknown service type, a bill type that contradicts
    ``refund``) refuse the whole delivery with every problem listed, before anything is
    written.
    """
    _require_finance(actor)
    problems = charge_problems(session, charges)
    if problems:
        raise InvalidInput(problems=problems)
    vendor = identity.vendor_organisation(session)
    customers = set(
        session.scalars(
            select(Organisation.id).where(
                Organisation.id.in_({c.customer_id for c in charges}),
                Organisation.kind == OrganisationKind.CUSTOMER,
            )
        )
    )
    associated = _associations(session, customers)

    def pocket(customer_id: str) -> AccountKind:
        _, mode = associated.get(customer_id, (None, None))
        return (
            AccountKind.CUSTOMER_ALLOCATED
            if mode is AssociationMode.RESALE
            else AccountKind.CUSTOMER_CASH
        )

    accounts = ensure_accounts(
        session,
        [(vendor.id, AccountKind.VENDOR_REVENUE)] + [(c, pocket(c)) for c in customers],
        currency,
    )
    revenue = accounts[(vendor.id, AccountKind.VENDOR_REVENUE)]
    # Every delivery of charges locks the revenue account, so two deliveries naming the
    # same charge id queue here and the second one finds the first one's usage line.
    states = posting.lock_accounts(session, list(accounts.values()))
    balances = {account: state.balance for account, state in states.items()}
    known = billing.known_charges(
        session, [(c.resolved_bill_type.transfer_kind, c.charge_id) for c in charges]
    )
    at = utc_now()
    results: list[ChargeResult] = []
    entries: list[Posting] = []
    lines: list[dict[str, object]] = []
    charged = 0
    for charge in charges:
        bill_type = charge.resolved_bill_type
        kind = bill_type.transfer_kind
        refused = _not_to_post(charge, known.get((kind, charge.charge_id)), customers)
        if refused is not None:
            results.append(refused)
            continue
        occurred_at = charge.occurred_at or at
        customer_account = accounts[(charge.customer_id, pocket(charge.customer_id))]
        voucher_part = 0
        if not bill_type.is_refund:
            voucher_part = _voucher_part(session, charge, currency, occurred_at)
        cash = charge.amount - voucher_part
        entry, debt = _cash_part(
            charge,
            cash,
            balances,
            customer_account=customer_account,
            revenue=revenue,
            currency=currency,
            at=at,
        )
        transfer_id = None
        if entry is not None:
            entries.append(entry)
            transfer_id = entry.transfer_id
        charged += charge.amount
        lines.append(
            _usage_line(
                charge,
                associated.get(charge.customer_id, (None, None)),
                occurred_at=occurred_at,
                voucher_part=voucher_part,
                debt=debt,
                currency=currency,
                transfer_id=transfer_id,
                at=at,
            )
        )
        # A repeat within this delivery is judged like one of an earlier delivery.
        known[(kind, charge.charge_id)] = billing.KnownCharge(
            charge.customer_id, charge.amount, transfer_id
        )
        results.append(
            ChargeResult(
                charge.charge_id,
                "posted",
                transfer_id=transfer_id,
                voucher_amount=voucher_part,
                cash_amount=cash,
            )
        )
    posting.post(session, actor, entries, at=at)
    billing.record_usage(session, lines)
    if lines:
        audit.record(
            session,
            actor,
            "ledger.charges_posted",
            subject_type="charge_batch",
            subject_id=str(lines[0]["charge_id"]),
            organisation_id=vendor.id,
            after={
                "posted": len(lines),
                "amount": str(to_decimal(charged)),
                "cash": str(to_decimal(sum(e.amount for e in entries))),
            },
        )
    return results


def _cash_part(
    charge: Charge,
    cash: int,
    balances: dict[int, int],
    *,
    customer_account: int,
    revenue: int,
    currency: str,
    at: dt.datetime,
) -> tuple[Posting | None, int]:
    """The transfer of a charge's cash part (none for 0), and the debt it leaves, given
    and updating the running balances of the delivery's accounts."""
    if not cash:
        return None, 0
    refund = charge.resolved_bill_type.is_refund
    before = balances[customer_account]
    balances[customer_account] = before + cash if refund else before - cash
    kind = charge.resolved_bill_type.transfer_kind
    entry = Posting(
        transfer_id=new_transfer_id(kind, at),
        kind=kind,
        debit_account_id=revenue if refund else customer_account,
        credit_account_id=customer_account if refund else revenue,
        amount=cash,
        currency=currency,
        limit=Limit.NONE,
        organisation_id=charge.customer_id,
        counterparty_id=charge.customer_id,
        external_ref=charge.charge_id,
    )
    return entry, 0 if refund else cash - min(cash, max(before, 0))


def _not_to_post(
    charge: Charge, first: billing.KnownCharge | None, customers: set[str]
) -> ChargeResult | None:
    """The answer to a charge that is not posted now: a repeat, or a refusal."""
    if first is not None:
        same = (first.customer_id, first.amount) == (charge.customer_id, charge.amount)
        return ChargeResult(
            charge.charge_id,
            "duplicate" if same else "refused",
            transfer_id=first.transfer_id if same else None,
            error=None if same else "charge_id_reused",
        )
    if charge.customer_id not in customers:
        return ChargeResult(charge.charge_id, "refused", error="no_such_customer")
    if not isinstance(charge.amount, int) or not 0 < charge.amount <= MAX_AMOUNT:
        return ChargeResult(charge.charge_id, "refused", error=InvalidAmount.code)
    return None


def _associations(
    session: Session, customers: set[str]
) -> dict[str, tuple[str, AssociationMode]]:
    """Each associated customer's partner and association mode, right now."""
    return {
        customer_id: (partner_id, mode)
        for customer_id, partner_id, mode in session.execute(
            select(
                Association.customer_id, Association.organisation_id, Association.mode
            ).where(
                Association.customer_id.in_(customers),
                Association.status == AssociationStatus.ACTIVE,
            )
        )
    }


def _usage_line(
    charge: Charge,
    association: tuple[str | None, AssociationMode | None],
    *,
    occurred_at: dt.datetime,
    voucher_part: int,
    debt: int,
    currency: str,
    transfer_id: str | None,
    at: dt.datetime,
) -> dict[str, object]:
    bill_type = charge.resolved_bill_type
    partner_id, mode = association
    return {
        "kind": bill_type.transfer_kind,
        "charge_id": charge.charge_id,
        "customer_id": charge.customer_id,
        "partner_id": partner_id,
        "association_mode": mode,
        "service_type_code": charge.service_type_code,
        "resource_type_code": charge.resource_type_code,
        "charge_mode": charge.charge_mode,
        "bill_type": bill_type,
        "occurred_at": occurred_at,
        "bill_cycle": billing.bill_cycle_of(occurred_at),
        "amount": charge.amount,
        "voucher_amount": voucher_part,
        "cash_amount": charge.amount - voucher_part,
        "debt_amount": debt,
        "currency": currency,
        "transfer_id": transfer_id,
        "created_at": at,
    }


def _voucher_part(
    session: Session, charge: Charge, currency: str, at: dt.datetime
) -> int:
    """What the customer's vouchers pay of a consumption (its accounts are locked)."""
    # Imported here: the vouchers module builds on the ledger, not the other way round.
    from partnercenter.vouchers import spending

    uses = spending.cover(
        session,
        customer_id=charge.customer_id,
        charge_id=charge.charge_id,
        amount=charge.amount,
        currency=currency,
        service_type_code=charge.service_type_code,
        at=at,
    )
    paid = sum(use.amount for use in uses)
    if any(use.amount <= 0 for use in uses) or paid > charge.amount:
        raise RuntimeError(
            f"vouchers would pay {paid} of a charge of {charge.amount}: {uses!r}"
        )
    return paid


# -- association changes ----------------------------------------------------------------------


class LedgerMover:
    """Moves a leaving resale customer's remaining allocation back to its partner."""

    @staticmethod
    def _lock_association(session: Session, customer_id: str) -> None:
        # The association row first, as allocations take it, then the accounts.
        session.execute(
            select(Association.id)
            .where(
                Association.customer_id == customer_id,
                Association.status == AssociationStatus.ACTIVE,
            )
            .with_for_update()
        ).all()

    def unbind_reclaim(
        self, session: Session, actor: Actor, *, partner_id: str, customer_id: str
    ) -> int:
        self._lock_association(session, customer_id)
        customer_account = find_account(
            session, customer_id, AccountKind.CUSTOMER_ALLOCATED
        )
        if customer_account is None:
            return 0
        partner_account = account_id(session, partner_id, AccountKind.PARTNER_CASH)
        states = posting.lock_accounts(session, [customer_account.id, partner_account])
        remaining = states[customer_account.id].balance
        if remaining <= 0:
            return 0
        at = utc_now()
        entry = Posting(
            transfer_id=new_transfer_id(TransferKind.UNBIND_RECLAIM, at),
            kind=TransferKind.UNBIND_RECLAIM,
            debit_account_id=customer_account.id,
            credit_account_id=partner_account,
            amount=remaining,
            currency=customer_account.currency,
            limit=Limit.NONE,
            organisation_id=partner_id,
            counterparty_id=customer_id,
            reason=N_("The customer left resale."),
        )
        posted = post_one(session, actor, entry, at)
        audit_transfer(session, actor, entry, posted)
        return remaining

    def debt(self, session: Session, customer_id: str, *, lock: bool = False) -> int:
        if lock:
            # A charge locks the customer's accounts; holding them until the change
            # commits means the debt read here is still the debt when the change applies.
            self._lock_association(session, customer_id)
            accounts = session.scalars(
                select(Account.id).where(
                    Account.organisation_id == customer_id,
                    Account.kind.in_(
                        [AccountKind.CUSTOMER_ALLOCATED, AccountKind.CUSTOMER_CASH]
                    ),
                )
            ).all()
            posting.lock_accounts(session, accounts)
        return debts(session, [customer_id]).get(customer_id, 0)


def result_json(result: TransferResult) -> str:
    return json.dumps(
        {"transfer_id": result.transfer_id, "amount": str(to_decimal(result.amount))}
    )
