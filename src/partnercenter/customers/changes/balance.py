"""The hook through which a change of association reaches the ledger.

When a resale customer leaves its partner, or switches to consulting, what is left of the
money the partner allocated goes back to the partner (an unbind reclaim), in the same
transaction as the change; and a customer in arrears may not leave before its debt is
settled. The ledger's mover does both; tests may register another.
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

    def debt(self, session: Session, customer_id: str, *, lock: bool = False) -> int:
        """What the customer owes now, in minor units (0 when it owes nothing).

        With ``lock``, the customer's association and accounts are locked first, so that
        no charge can land between this answer and the change that relies on it.
        """
        ...


_mover: BalanceMover | None = None


def balance_mover() -> BalanceMover:
    if _mover is None:
        from partnercenter.ledger.service import LedgerMover

        return LedgerMover()
    return _mover


def register_balance_mover(mover: BalanceMover | None) -> BalanceMover | None:
    """Use ``mover`` for every change from now on (None: the ledger's); returns the
    previous one."""
    global _mover
    previous, _mover = _mover, mover
    return previous
