"""Who may be associated with whom, and in which mode: the eligibility rules.

Each rule has a stable code, used in the association records, on the failure pages and by the
APIs, and a message that says what stands in the way. Rules only read facts; they change
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from partnercenter.core.i18n import N_
from partnercenter.customers.models import AssociationMode, Customer
from partnercenter.identity.models import Organisation, PartnerType, RealNameStatus


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


def _r(code: str, message: str) -> Refusal:
    return Refusal(code, message)


ALREADY_ASSOCIATED = _r(
    "already_associated",
    N_("The customer is already associated with a partner."),
)
CUSTOMER_IS_PARTNER = _r(
    "customer_is_partner",
    N_(
        "The account is itself a partner or reseller account and cannot become a customer."
    ),
)
NOT_VERIFIED = _r(
    "not_real_name_verified",
    N_("The customer has not completed real-name verification on the vendor's site."),
)
DISTRIBUTOR = _r(
    "distributor_cannot_associate",
    N_("A distributor does not associate customers itself; its resellers do."),
)
REGION = _r(
    "region_mismatch",
    N_("The customer is outside the partner's business region."),
)
PARTNER_INACTIVE = _r(
    "partner_inactive",
    N_("The partner cannot take on customers at the moment."),
)

ANY_MODE_FLAGS: list[tuple[str, Refusal]] = [
    (
        "registered_by_vendor_sales",
        _r(
            "registered_by_vendor_sales",
            N_("The vendor's own sales team has registered this customer."),
        ),
    ),
    (
        "other_site_account",
        _r(
            "other_site_account",
            N_("The account belongs to another site of the vendor."),
        ),
    ),
    (
        "consumer_cloud_account",
        _r("consumer_cloud_account", N_("The account is a consumer-cloud account.")),
    ),
    (
        "vendor_internal_account",
        _r(
            "vendor_internal_account",
            N_("The account is one of the vendor's internal accounts."),
        ),
    ),
    (
        "referral_program_member",
        _r(
            "referral_program_member",
            N_("The account takes part in the vendor's referral-reward program."),
        ),
    ),
]

RESALE_FLAGS: list[tuple[str, Refusal]] = [
    (
        "holds_reserved_instances",
        _r(
            "holds_reserved_instances",
            N_("The customer holds reserved instances that have not expired."),
        ),
    ),
    (
        "owes_invoices",
        _r("owes_invoices", N_("The customer owes invoices to the vendor.")),
    ),
    (
        "has_unspent_prepaid_cards",
        _r(
            "has_unspent_prepaid_cards",
            N_("The customer has prepaid cards that are not used up."),
        ),
    ),
    (
        "has_unused_recharge_bonus",
        _r(
            "has_unused_recharge_bonus",
            N_("The customer has an unused recharge bonus."),
        ),
    ),
    (
        "has_special_contract",
        _r(
            "has_special_contract",
            N_("The customer has a special contract with the vendor."),
        ),
    ),
    (
        "enterprise_master_with_non_custody_subs",
        _r(
            "enterprise_master_with_non_custody_subs",
            N_(
                "The customer is an enterprise master account with sub-accounts not in custody."
            ),
        ),
    ),
    (
        "enterprise_sub_account",
        _r("enterprise_sub_account", N_("The customer is an enterprise sub-account.")),
    ),
]

ALL_REFUSALS: dict[str, Refusal] = {
    refusal.code: refusal
    for refusal in [
        ALREADY_ASSOCIATED,
        CUSTOMER_IS_PARTNER,
        NOT_VERIFIED,
        DISTRIBUTOR,
        REGION,
        PARTNER_INACTIVE,
        *(r for _f, r in ANY_MODE_FLAGS),
        *(r for _f, r in RESALE_FLAGS),
    ]
}


def refusals(
    *,
    customer: Customer,
    customer_organisation: Organisation,
    partner: Organisation,
    mode: AssociationMode,
    is_associated: bool,
    is_partner_account: bool,
    created_by_partner: bool = False,
) -> list[Refusal]:
    """Every reason the customer cannot be associated with ``partner`` in ``mode``.

    An account the partner itself creates for its customer (through the API or its identity
    federation) is associated at once and completes real-name verification afterwards, so
    that rule does not hold it back.
    """
    found = []
    if not partner.is_active:
        found.append(PARTNER_INACTIVE)
    if partner.partner_type is PartnerType.DISTRIBUTOR:
        found.append(DISTRIBUTOR)
    if is_associated:
        found.append(ALREADY_ASSOCIATED)
    if is_partner_account:
        found.append(CUSTOMER_IS_PARTNER)
    if (
        customer.real_name_status is not RealNameStatus.VERIFIED
        and not created_by_partner
    ):
        found.append(NOT_VERIFIED)
    if (
        partner.country_region
        and customer_organisation.country_region
        and partner.country_region != customer_organisation.country_region
    ):
        found.append(REGION)
    found.extend(refusal for flag, refusal in ANY_MODE_FLAGS if getattr(customer, flag))
    if mode is AssociationMode.RESALE:
        found.extend(
            refusal for flag, refusal in RESALE_FLAGS if getattr(customer, flag)
        )
    return found
