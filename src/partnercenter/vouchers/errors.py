"""The vouchers' refusals, each with a stable code the faces (and the BSS face) map.

Refusals of one customer in an issue request are not raised: they are listed in the
outcome with the same codes and messages (:data:`REFUSALS`), so that the other customers
still get their vouchers.
"""

from __future__ import annotations

from partnercenter.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from partnercenter.core.i18n import N_


class NoSuchQuota(NotFound):
    code = "no_such_quota"
    default_message = N_("No such voucher quota.")


class NoSuchVoucher(NotFound):
    code = "no_such_voucher"
    default_message = N_("No such voucher.")


class QuotaNotUsable(Conflict):
    code = "quota_not_effective"
    default_message = N_("This quota is not in effect (not yet, expired or frozen).")


class QuotaInsufficient(Conflict):
    code = "quota_insufficient"
    default_message = N_(
        "The quota's balance is not enough: %(available)s %(currency)s left."
    )


class VoucherNotReclaimable(Conflict):
    code = "voucher_not_reclaimable"
    default_message = N_("This voucher has already expired or been reclaimed.")


class VoucherOfConsultingCustomer(Conflict):
    code = "voucher_of_consulting_customer"
    default_message = N_(
        "A voucher issued to a customer in consulting mode cannot be reclaimed."
    )


class QuotaNotReclaimable(Conflict):
    code = "quota_not_reclaimable"
    default_message = N_(
        "Only a reseller's quota that is still held can be reclaimed by its distributor."
    )


class NotVendorFinance(Forbidden):
    code = "not_vendor_finance"
    default_message = N_("Only the vendor's finance staff can grant voucher quotas.")


class TooManyCustomers(InvalidInput):
    code = "too_many_customers"
    default_message = N_("Issue to 1 to %(limit)s customers at a time.")


# -- refusals of one customer in an issue request ------------------------------------------

NOT_YOUR_CUSTOMER = "not_your_customer"
CONSULTING_CUSTOMER = "consulting_customer"
QUOTA_NOT_EFFECTIVE = "quota_not_effective"
QUOTA_INSUFFICIENT = "quota_insufficient"
FACE_VALUE_TOO_SMALL = "face_value_too_small"
FACE_VALUE_TOO_LARGE = "face_value_too_large"
TOO_MANY_VOUCHERS = "too_many_vouchers"
ONLY_NEW_CUSTOMERS = "only_new_customers"
SERVICE_TYPES_OUTSIDE_QUOTA = "service_types_outside_quota"
VALIDITY_OUTSIDE_QUOTA = "validity_outside_quota"
CANNOT_ISSUE_TO_SELF = "cannot_issue_to_self"

REFUSALS: dict[str, str] = {
    NOT_YOUR_CUSTOMER: N_("This customer is not associated with you."),
    CONSULTING_CUSTOMER: N_(
        "This customer is associated in consulting mode; vouchers go to resale "
        "customers only."
    ),
    QUOTA_NOT_EFFECTIVE: N_(
        "This quota is not in effect (not yet, expired or frozen)."
    ),
    QUOTA_INSUFFICIENT: N_("The quota's balance is not enough for this voucher."),
    FACE_VALUE_TOO_SMALL: N_("The face value is below the quota's minimum."),
    FACE_VALUE_TOO_LARGE: N_("The face value is above the quota's maximum."),
    TOO_MANY_VOUCHERS: N_("The quota's number of vouchers is used up."),
    ONLY_NEW_CUSTOMERS: N_(
        "This quota is only for customers associated with a partner for the first time."
    ),
    SERVICE_TYPES_OUTSIDE_QUOTA: N_(
        "The voucher's cloud services must be among the quota's."
    ),
    VALIDITY_OUTSIDE_QUOTA: N_(
        "The voucher's validity must lie within the quota's, and end after it starts."
    ),
    CANNOT_ISSUE_TO_SELF: N_("A partner cannot issue vouchers to itself."),
}
"""Code → English message of every refusal an issue request lists per customer."""
