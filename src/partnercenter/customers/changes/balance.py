"""The hook through which a change of association moves money back to the partner.

When a resale customer leaves its partner, or switches to consulting, what is left of the
money the partner allocated goes back to the partner (an unbind reclaim). The ledger will
register a mover here; until then the default mover moves nothing.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor


class BalanceMover(Protocol):
    def unbind_reclaim(
        self, session: Session, actor: Actor, *, partner_id: str, customer_id: str
    ) -> int:
        """Move the customer's remaining balance to the partner, in the same transaction,
        and return the amount moved in minor units."""
        ...


class NoLedger:
    """Known shortcoming: there is no ledger yet, so no balance exists and an unbind
    reclaim moves nothing; the records show 0 until the ledger registers its mover."""

    def unbind_reclaim(
        self, session: Session, actor: Actor, *, partner_id: str, customer_id: str
    ) -> int:
        return 0


_mover: BalanceMover = NoLedger()


def balance_mover() -> BalanceMover:
    return _mover


def register_balance_mover(mover: BalanceMover) -> BalanceMover:
    """Use ``mover`` for every unbind reclaim from now on; returns the previous one."""
    global _mover
    previous, _mover = _mover, mover
    return previous
