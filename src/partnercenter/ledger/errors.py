"""The ledger's refusals, each with its own code so callers (and the BSS face) can map them."""

from __future__ import annotations

from partnercenter.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from partnercenter.core.i18n import N_


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    default_message = N_(
        "Not enough money: at most %(available)s %(currency)s can be moved."
    )


class NotYourCustomer(Forbidden):
    code = "not_your_customer"
    default_message = N_("This customer is not associated with you.")


class ConsultingCustomer(Conflict):
    code = "consulting_customer"
    default_message = N_(
        "This customer is associated in consulting mode; only resale customers can be "
        "funded or reclaimed from."
    )


class NotYourReseller(Forbidden):
    code = "not_your_reseller"
    default_message = N_("This reseller is not one of yours.")


class NotADistributor(Forbidden):
    code = "not_a_distributor"
    default_message = N_("Only a distributor can fund resellers or act for them.")


class NotAPartner(Forbidden):
    code = "not_a_partner"
    default_message = N_("Only a partner has a partner account.")


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    default_message = N_("Enter an amount greater than 0 with at most two decimals.")


class NoSuchTransfer(NotFound):
    code = "no_such_transfer"
    default_message = N_("No such transfer.")


class NotCorrectable(Conflict):
    code = "not_correctable"
    default_message = N_(
        "Only top-ups and recharges can be corrected, by at most what is left of them "
        "(%(left)s %(currency)s)."
    )


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = N_(
        "This Idempotency-Key was already used for a different request."
    )


class IdempotencyKeyMissing(InvalidInput):
    code = "idempotency_key_required"
    default_message = N_(
        "Money writes need an Idempotency-Key header (1 to 128 visible characters)."
    )


class NoSuchWithdrawal(NotFound):
    code = "no_such_withdrawal"
    default_message = N_("No such withdrawal.")


class WithdrawalNotPending(Conflict):
    code = "withdrawal_not_pending"
    default_message = N_("This withdrawal is no longer waiting for this step.")


class BankHolderMismatch(InvalidInput):
    code = "bank_holder_mismatch"
    default_message = N_(
        "The bank account must be held by your company's legal entity (%(legal_name)s)."
    )


class NoLegalEntity(Conflict):
    code = "no_legal_entity"
    default_message = N_(
        "Your company profile has no legal name yet; a bank withdrawal needs it."
    )


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"
    default_message = N_("A batch holds 1 to %(limit)s customers.")


class NoSuchBatch(NotFound):
    code = "no_such_batch"
    default_message = N_("No such batch.")
