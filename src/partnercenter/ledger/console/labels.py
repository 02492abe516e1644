"""What the funds pages call the ledger's kinds, statuses and refusals, in the reader's
language, and how they print amounts."""

from __future__ import annotations

from partnercenter.core.i18n import N_, Translator
from partnercenter.core.money import to_decimal
from partnercenter.ledger.models import BatchItemStatus, BatchStatus, TransferKind

KIND_LABELS: dict[TransferKind, str] = {
    TransferKind.TOPUP: N_("Top-up"),
    TransferKind.RECHARGE: N_("Recharge"),
    TransferKind.ALLOCATE: N_("Allocation"),
    TransferKind.RECLAIM: N_("Reclaim"),
    TransferKind.UNBIND_RECLAIM: N_("Unbind reclaim"),
    TransferKind.INDIRECT_ALLOCATE: N_("Allocation to a reseller"),
    TransferKind.INDIRECT_RECLAIM: N_("Reclaim from a reseller"),
    TransferKind.CONSUME: N_("Consumption"),
    TransferKind.REFUND: N_("Refund"),
    TransferKind.WITHDRAWAL_HOLD: N_("Withdrawal held"),
    TransferKind.WITHDRAWAL_RELEASE: N_("Withdrawal returned"),
    TransferKind.WITHDRAWAL_PAYOUT: N_("Withdrawal paid out"),
    TransferKind.CORRECTION: N_("Correction"),
}
RECEIVED_LABELS: dict[TransferKind, str] = {
    TransferKind.INDIRECT_ALLOCATE: N_("Allocation from your distributor"),
    TransferKind.INDIRECT_RECLAIM: N_("Reclaim by your distributor"),
}
"""The distributor's transfers as its reseller reads them."""

PARTNER_STATEMENT_KINDS = (
    TransferKind.TOPUP,
    TransferKind.ALLOCATE,
    TransferKind.RECLAIM,
    TransferKind.UNBIND_RECLAIM,
    TransferKind.INDIRECT_ALLOCATE,
    TransferKind.INDIRECT_RECLAIM,
    TransferKind.WITHDRAWAL_HOLD,
    TransferKind.WITHDRAWAL_RELEASE,
    TransferKind.CORRECTION,
)
"""The kinds that touch a partner's balance, offered by the statement's filter."""
CUSTOMER_STATEMENT_KINDS = (
    TransferKind.ALLOCATE,
    TransferKind.RECLAIM,
    TransferKind.UNBIND_RECLAIM,
    TransferKind.RECHARGE,
    TransferKind.CONSUME,
    TransferKind.REFUND,
    TransferKind.CORRECTION,
)

ERROR_LABELS: dict[str, str] = {
    "insufficient_funds": N_("Not enough money to cover the amount"),
    "not_your_customer": N_("Not a customer associated with you"),
    "consulting_customer": N_(
        "Consulting customer: only resale customers can be funded or reclaimed from"
    ),
    "invalid_amount": N_("The amount is not valid"),
}
"""The reasons a batch item is refused, by the refusal's code."""

BATCH_STATUS_LABELS: dict[BatchStatus, str] = {
    BatchStatus.PENDING: N_("Waiting to start"),
    BatchStatus.RUNNING: N_("Running"),
    BatchStatus.DONE: N_("Finished"),
}
ITEM_STATUS_LABELS: dict[BatchItemStatus, str] = {
    BatchItemStatus.PENDING: N_("Not run yet"),
    BatchItemStatus.DONE: N_("Moved"),
    BatchItemStatus.REFUSED: N_("Refused"),
}
BATCH_KIND_LABELS: dict[TransferKind, str] = {
    TransferKind.ALLOCATE: N_("Allocate"),
    TransferKind.RECLAIM: N_("Reclaim"),
}


def kind_label(tr: Translator, kind: TransferKind | str, received: bool = False) -> str:
    """The kind's name; ``received`` when the reader is the other side of a transfer that
    another organisation made (a reseller reading its distributor's)."""
    if kind not in set(TransferKind):
        return str(kind)
    known = TransferKind(kind)
    label = (RECEIVED_LABELS.get(known) if received else None) or KIND_LABELS[known]
    return tr.gettext(label)


def error_label(tr: Translator, code: str | None) -> str:
    if not code:
        return ""
    label = ERROR_LABELS.get(code)
    # A refusal added to the ledger before its label is here still shows, by its code.
    return tr.gettext(label) if label else code


def money(tr: Translator, minor: int, currency: str) -> str:
    """An amount for reading, in the reader's locale: ``¥1,234.50``."""
    return tr.format_money(to_decimal(minor), currency)


def plain_amount(minor: int) -> str:
    """An amount for a CSV cell or a form field: ``-1234.50``, no grouping, no symbol."""
    return str(to_decimal(minor))
