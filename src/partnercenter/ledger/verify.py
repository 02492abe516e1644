"""``partnercenter ledger verify``: proof that the books add up, from the rows themselves.

It checks, without trusting any stored total:

* every entry's transfer and account, and every transfer's two accounts, exist (PostgreSQL
  checks these references with triggers, not keys, and triggers can be switched off);
* every transfer has exactly two entries, its amount out of the debit account and into the
  credit account, so each sums to zero, and both at the transfer's time;
* every transfer's kind joins the kinds of accounts it may (an allocation goes from a
  partner's balance to a customer's allocated money, and so on);
* every account's entries are numbered 1, 2, 3… without a gap, each balance-after is the
  running sum, each hash is the SHA-256 of the previous one and the entry's facts, and the
  account's stored balance, count and last hash are those of its last entry, so an edited,
  inserted or deleted entry breaks the chain;
* all balances sum to zero, and what partners and customers hold equals what came in
  (top-ups, recharges, refunds) less what went out (payouts, consumption), corrections
  counted against what they correct.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from partnercenter.ledger.models import (
    GENESIS_HASH,
    VENDOR_KINDS,
    Account,
    AccountKind,
    Entry,
    Transfer,
    TransferKind,
)
from partnercenter.ledger.posting import entry_hash, micros

K = AccountKind
ROUTES: dict[TransferKind, set[tuple[AccountKind, AccountKind]]] = {
    TransferKind.TOPUP: {(K.VENDOR_CLEARING, K.PARTNER_CASH)},
    TransferKind.RECHARGE: {(K.VENDOR_CLEARING, K.CUSTOMER_CASH)},
    TransferKind.ALLOCATE: {(K.PARTNER_CASH, K.CUSTOMER_ALLOCATED)},
    TransferKind.RECLAIM: {(K.CUSTOMER_ALLOCATED, K.PARTNER_CASH)},
    TransferKind.UNBIND_RECLAIM: {(K.CUSTOMER_ALLOCATED, K.PARTNER_CASH)},
    TransferKind.INDIRECT_ALLOCATE: {(K.PARTNER_CASH, K.PARTNER_CASH)},
    TransferKind.INDIRECT_RECLAIM: {(K.PARTNER_CASH, K.PARTNER_CASH)},
    TransferKind.CONSUME: {
        (K.CUSTOMER_ALLOCATED, K.VENDOR_REVENUE),
        (K.CUSTOMER_CASH, K.VENDOR_REVENUE),
    },
    TransferKind.REFUND: {
        (K.VENDOR_REVENUE, K.CUSTOMER_ALLOCATED),
        (K.VENDOR_REVENUE, K.CUSTOMER_CASH),
    },
    TransferKind.WITHDRAWAL_HOLD: {(K.PARTNER_CASH, K.PARTNER_HOLD)},
    TransferKind.WITHDRAWAL_RELEASE: {(K.PARTNER_HOLD, K.PARTNER_CASH)},
    TransferKind.WITHDRAWAL_PAYOUT: {(K.PARTNER_HOLD, K.VENDOR_CLEARING)},
    TransferKind.CORRECTION: {
        (K.PARTNER_CASH, K.VENDOR_CLEARING),
        (K.CUSTOMER_CASH, K.VENDOR_CLEARING),
    },
}
"""Which (debit, credit) account kinds each transfer kind may join."""


@dataclass(frozen=True, slots=True)
class Problem:
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


@dataclass(slots=True)
class Report:
    transfers: int = 0
    entries: int = 0
    accounts: int = 0
    held: int = 0
    """What partners and customers hold, in minor units."""
    inflow: int = 0
    """Top-ups + recharges + refunds - payouts - consumption, corrections included."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


MAX_PROBLEMS = 1000
"""A broken ledger may have millions of problems; the first thousand say enough."""


def verify(session: Session) -> Report:
    report = Report()
    _check_references(session, report)
    _check_transfers(session, report)
    _check_routes(session, report)
    _check_chains(session, report)
    _check_totals(session, report)
    del report.problems[MAX_PROBLEMS:]
    return report


def _check_references(session: Session, report: Report) -> None:
    def missing(account_id: Any) -> Any:
        return ~select(Account.id).where(Account.id == account_id).exists()

    orphans = (
        select(Entry.account_id, Entry.seq, Entry.transfer_id)
        .where(
            ~select(Transfer.id).where(Transfer.id == Entry.transfer_id).exists()
            | missing(Entry.account_id)
        )
        .limit(MAX_PROBLEMS)
    )
    for account_id, seq, transfer_id in session.execute(orphans):
        report.problems.append(
            Problem(
                "entry_reference",
                f"account {account_id} entry {seq}",
                f"names transfer {transfer_id} or an account that does not exist",
            )
        )
    unattached = (
        select(Transfer.id)
        .where(missing(Transfer.debit_account_id) | missing(Transfer.credit_account_id))
        .limit(MAX_PROBLEMS)
    )
    for (transfer_id,) in session.execute(unattached):
        report.problems.append(
            Problem(
                "transfer_reference",
                transfer_id,
                "names an account that does not exist",
            )
        )


def _check_transfers(session: Session, report: Report) -> None:
    report.transfers = session.scalar(select(func.count()).select_from(Transfer)) or 0
    debit_leg = case(
        (
            (Entry.account_id == Transfer.debit_account_id)
            & (Entry.amount == -Transfer.amount),
            1,
        ),
        else_=0,
    )
    credit_leg = case(
        (
            (Entry.account_id == Transfer.credit_account_id)
            & (Entry.amount == Transfer.amount),
            1,
        ),
        else_=0,
    )
    broken = (
        select(
            Transfer.id, func.count(Entry.id), func.coalesce(func.sum(Entry.amount), 0)
        )
        .outerjoin(Entry, Entry.transfer_id == Transfer.id)
        .group_by(Transfer.id)
        .having(
            (func.count(Entry.id) != 2)
            | (func.coalesce(func.sum(Entry.amount), 0) != 0)
            | (func.sum(debit_leg) != 1)
            | (func.sum(credit_leg) != 1)
        )
        .limit(MAX_PROBLEMS)
    )
    for transfer_id, count, total in session.execute(broken):
        report.problems.append(
            Problem(
                "transfer_balanced",
                transfer_id,
                f"{count} entries summing to {total} instead of two legs summing to 0",
            )
        )


def _check_routes(session: Session, report: Report) -> None:
    debit, credit = aliased(Account), aliased(Account)
    rows = session.execute(
        select(
            Transfer.kind, debit.kind, credit.kind, func.count(), func.min(Transfer.id)
        )
        .join(debit, debit.id == Transfer.debit_account_id)
        .join(credit, credit.id == Transfer.credit_account_id)
        .group_by(Transfer.kind, debit.kind, credit.kind)
    )
    for kind, debit_kind, credit_kind, count, example in rows:
        if (debit_kind, credit_kind) not in ROUTES[kind]:
            report.problems.append(
                Problem(
                    "transfer_route",
                    example,
                    f"{count} {kind} transfer(s) from {debit_kind} to {credit_kind}",
                )
            )


def _entries(
    session: Session,
) -> Iterator[tuple[int, int, int, int, str, str, str, int, bool]]:
    statement = (
        select(
            Entry.account_id,
            Entry.seq,
            Entry.amount,
            Entry.balance_after,
            Entry.hash,
            Entry.transfer_id,
            Transfer.kind,
            Entry.created_at,
            Transfer.created_at.label("transfer_at"),
        )
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .order_by(Entry.account_id, Entry.seq)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(statement):
        yield (
            row.account_id,
            row.seq,
            row.amount,
            row.balance_after,
            row.hash,
            row.transfer_id,
            row.kind.value,
            micros(row.created_at),
            row.created_at == row.transfer_at,
        )


@dataclass(slots=True)
class _Chain:
    account_id: int
    seq: int = 0
    balance: int = 0
    hash: str = GENESIS_HASH
    broken: bool = False


def _check_chains(session: Session, report: Report) -> None:
    accounts = {
        row.id: row
        for row in session.execute(
            select(Account.id, Account.balance, Account.entry_count, Account.last_hash)
        )
    }
    report.accounts = len(accounts)
    chains: dict[int, _Chain] = {}
    chain: _Chain | None = None
    for (
        account_id,
        seq,
        amount,
        balance_after,
        stored,
        transfer_id,
        kind,
        at,
        on_time,
    ) in _entries(session):
        report.entries += 1
        subject = f"account {account_id} entry {seq}"
        if not on_time and len(report.problems) < MAX_PROBLEMS:
            # A transfer's entries are found by its accounts and its time.
            report.problems.append(
                Problem("entry_time", subject, f"is not at the time of {transfer_id}")
            )
        if chain is None or chain.account_id != account_id:
            chain = chains.setdefault(account_id, _Chain(account_id))
        if chain.broken:
            continue
        if seq != chain.seq + 1:
            report.problems.append(
                Problem("chain_sequence", subject, f"follows entry {chain.seq}")
            )
            chain.broken = True
            continue
        chain.balance += amount
        if balance_after != chain.balance:
            report.problems.append(
                Problem(
                    "chain_balance",
                    subject,
                    f"balance after is {balance_after}, the entries sum to {chain.balance}",
                )
            )
            chain.broken = True
            continue
        expected = entry_hash(
            chain.hash,
            account_id=account_id,
            seq=seq,
            transfer_id=transfer_id,
            kind=kind,
            amount=amount,
            balance_after=balance_after,
            at_micros=at,
        )
        if stored != expected:
            report.problems.append(
                Problem("chain_hash", subject, "the entry does not match its hash")
            )
            chain.broken = True
            continue
        chain.seq, chain.hash = seq, stored
    for account_id, row in accounts.items():
        found = chains.get(account_id, _Chain(account_id))
        if found.broken:
            continue
        if (row.balance, row.entry_count, row.last_hash) != (
            found.balance,
            found.seq,
            found.hash,
        ):
            report.problems.append(
                Problem(
                    "account_total",
                    f"account {account_id}",
                    f"stores balance {row.balance} after {row.entry_count} entries; its "
                    f"entries give {found.balance} after {found.seq}",
                )
            )
    for account_id in chains.keys() - accounts.keys():
        report.problems.append(
            Problem(
                "account_missing", f"account {account_id}", "entries without account"
            )
        )


INFLOW_SIGN = {
    TransferKind.TOPUP: 1,
    TransferKind.RECHARGE: 1,
    TransferKind.REFUND: 1,
    TransferKind.WITHDRAWAL_PAYOUT: -1,
    TransferKind.CONSUME: -1,
}


def _check_totals(session: Session, report: Report) -> None:
    total_all = session.scalar(select(func.coalesce(func.sum(Account.balance), 0))) or 0
    if total_all != 0:
        report.problems.append(
            Problem(
                "double_entry", "all accounts", f"balances sum to {total_all}, not 0"
            )
        )
    report.held = int(
        session.scalar(
            select(func.coalesce(func.sum(Account.balance), 0)).where(
                Account.kind.not_in(list(VENDOR_KINDS))
            )
        )
        or 0
    )
    inflow = 0
    for kind, amount in session.execute(
        select(Transfer.kind, func.sum(Transfer.amount)).group_by(Transfer.kind)
    ):
        inflow += INFLOW_SIGN.get(kind, 0) * int(amount)
    original = aliased(Transfer)
    for kind, amount in session.execute(
        select(original.kind, func.sum(Transfer.amount))
        .join(original, original.id == Transfer.original_id)
        .where(Transfer.kind == TransferKind.CORRECTION)
        .group_by(original.kind)
    ):
        inflow -= INFLOW_SIGN.get(kind, 0) * int(amount)
    report.inflow = inflow
    if report.held != inflow:
        report.problems.append(
            Problem(
                "money_conserved",
                "partners and customers",
                f"hold {report.held}, but what came in less what went out is {inflow}",
            )
        )
