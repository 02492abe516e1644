"""Permission items and the preset roles made of them.

A permission item is a short dotted string. Preset roles are fixed sets of items; partners may
also define custom roles as any set of the partner items. One function,
:func:`partnercenter.identity.service.authorize`, checks them everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from partnercenter.core.i18n import N_


class Permission(StrEnum):
    # Partner side.
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"
    ROLES_MANAGE = "roles.manage"
    CREDENTIALS_MANAGE = "credentials.manage"
    PROFILE_VIEW = "profile.view"
    PROFILE_EDIT = "profile.edit"
    AUDIT_VIEW = "audit.view"
    CUSTOMERS_VIEW_ALL = "customers.view_all"
    CUSTOMERS_VIEW_ASSIGNED = "customers.view_assigned"
    CUSTOMERS_MANAGE = "customers.manage"
    CUSTOMERS_ASSIGN = "customers.assign"
    FUNDS_VIEW = "funds.view"
    FUNDS_TRANSFER = "funds.transfer"
    OPPORTUNITIES_VIEW = "opportunities.view"
    OPPORTUNITIES_MANAGE = "opportunities.manage"
    INCENTIVES_VIEW = "incentives.view"
    INCENTIVES_MANAGE = "incentives.manage"
    # Vendor side.
    STAFF_MANAGE = "vendor.staff.manage"
    PARTNERS_VIEW = "vendor.partners.view"
    PARTNERS_MANAGE = "vendor.partners.manage"
    USERS_MANAGE = "vendor.users.manage"
    AUDIT_VIEW_ALL = "vendor.audit.view_all"
    MAILBOX_VIEW = "vendor.mailbox.view"
    OPPORTUNITIES_REVIEW = "vendor.opportunities.review"
    OPPORTUNITIES_VALIDATE = "vendor.opportunities.validate"
    OPPORTUNITIES_ALL_REGIONS = "vendor.opportunities.all_regions"
    PROGRAMS_DECIDE = "vendor.programs.decide"
    FINANCE_OPERATE = "vendor.finance.operate"
    CALENDAR_MANAGE = "vendor.calendar.manage"
    CATALOGUE_MANAGE = "vendor.catalogue.manage"
    # Customer side.
    CUSTOMER_SELF = "customer.self"


PERMISSION_LABELS: dict[Permission, str] = {
    Permission.MEMBERS_VIEW: N_("View members"),
    Permission.MEMBERS_MANAGE: N_("Invite and remove members"),
    Permission.ROLES_MANAGE: N_("Manage custom roles"),
    Permission.CREDENTIALS_MANAGE: N_("Manage API keys"),
    Permission.PROFILE_VIEW: N_("View the company profile"),
    Permission.PROFILE_EDIT: N_("Edit the company profile"),
    Permission.AUDIT_VIEW: N_("View the audit log"),
    Permission.CUSTOMERS_VIEW_ALL: N_("View all customers"),
    Permission.CUSTOMERS_VIEW_ASSIGNED: N_("View assigned customers"),
    Permission.CUSTOMERS_MANAGE: N_("Manage customers and associations"),
    Permission.CUSTOMERS_ASSIGN: N_("Assign customers to account managers"),
    Permission.FUNDS_VIEW: N_("View balances and statements"),
    Permission.FUNDS_TRANSFER: N_("Allocate and reclaim funds"),
    Permission.OPPORTUNITIES_VIEW: N_("View opportunities"),
    Permission.OPPORTUNITIES_MANAGE: N_("Create and update opportunities"),
    Permission.INCENTIVES_VIEW: N_("View incentives"),
    Permission.INCENTIVES_MANAGE: N_("Apply for incentive payouts"),
    Permission.STAFF_MANAGE: N_("Manage vendor staff"),
    Permission.PARTNERS_VIEW: N_("View partners"),
    Permission.PARTNERS_MANAGE: N_("Manage partners"),
    Permission.USERS_MANAGE: N_("Manage user accounts"),
    Permission.AUDIT_VIEW_ALL: N_("View every audit event"),
    Permission.MAILBOX_VIEW: N_("View the demo mailbox"),
    Permission.OPPORTUNITIES_REVIEW: N_("Review opportunities"),
    Permission.OPPORTUNITIES_VALIDATE: N_("Validate opportunities"),
    Permission.OPPORTUNITIES_ALL_REGIONS: N_("Handle opportunities of every region"),
    Permission.PROGRAMS_DECIDE: N_("Decide program applications"),
    Permission.FINANCE_OPERATE: N_("Record top-ups, approve withdrawals, pay out"),
    Permission.CALENDAR_MANAGE: N_("Enter the working-day calendar"),
    Permission.CATALOGUE_MANAGE: N_("Edit service types and incentive policies"),
    Permission.CUSTOMER_SELF: N_("Use the customer console"),
}

PARTNER_PERMISSIONS = frozenset(
    p for p in Permission if not p.startswith(("vendor.", "customer."))
)
"""The items a partner may put into a custom role."""


@dataclass(frozen=True, slots=True)
class PresetRole:
    code: str
    label: str
    side: str
    permissions: frozenset[Permission]


def _role(code: str, label: str, side: str, *items: Permission) -> PresetRole:
    return PresetRole(code, label, side, frozenset(items))


P = Permission
PRESET_ROLES: dict[str, PresetRole] = {
    role.code: role
    for role in (
        _role(
            "vendor_admin",
            N_("Vendor admin"),
            "vendor",
            *[p for p in Permission if p.startswith("vendor.")],
        ),
        _role(
            "eco_manager",
            N_("Eco manager"),
            "vendor",
            P.PARTNERS_VIEW,
            P.PARTNERS_MANAGE,
            P.PROGRAMS_DECIDE,
        ),
        _role(
            "pdm",
            N_("Partner development manager"),
            "vendor",
            P.PARTNERS_VIEW,
            P.OPPORTUNITIES_REVIEW,
        ),
        _role(
            "bd",
            N_("Business development"),
            "vendor",
            P.PARTNERS_VIEW,
            P.OPPORTUNITIES_VALIDATE,
        ),
        _role(
            "vendor_finance",
            N_("Vendor finance"),
            "vendor",
            P.PARTNERS_VIEW,
            P.FINANCE_OPERATE,
        ),
        _role("partner_admin", N_("Partner admin"), "partner", *PARTNER_PERMISSIONS),
        _role(
            "project_specialist",
            N_("Project specialist"),
            "partner",
            P.MEMBERS_VIEW,
            P.PROFILE_VIEW,
            P.OPPORTUNITIES_VIEW,
            P.OPPORTUNITIES_MANAGE,
            P.CUSTOMERS_VIEW_ALL,
        ),
        _role(
            "account_manager",
            N_("Account manager"),
            "partner",
            P.MEMBERS_VIEW,
            P.PROFILE_VIEW,
            P.CUSTOMERS_VIEW_ASSIGNED,
            P.OPPORTUNITIES_VIEW,
            P.OPPORTUNITIES_MANAGE,
        ),
        _role(
            "account_manager_lead",
            N_("Account manager lead"),
            "partner",
            P.MEMBERS_VIEW,
            P.PROFILE_VIEW,
            P.CUSTOMERS_VIEW_ALL,
            P.CUSTOMERS_ASSIGN,
            P.OPPORTUNITIES_VIEW,
            P.OPPORTUNITIES_MANAGE,
        ),
        _role(
            "partner_finance",
            N_("Finance"),
            "partner",
            P.MEMBERS_VIEW,
            P.PROFILE_VIEW,
            P.FUNDS_VIEW,
            P.FUNDS_TRANSFER,
            P.INCENTIVES_VIEW,
            P.INCENTIVES_MANAGE,
            P.CUSTOMERS_VIEW_ALL,
        ),
        _role("customer", N_("Customer"), "customer", P.CUSTOMER_SELF),
    )
}

VENDOR_ROLES = [r for r in PRESET_ROLES.values() if r.side == "vendor"]
PARTNER_ROLES = [r for r in PRESET_ROLES.values() if r.side == "partner"]
INVITABLE_PARTNER_ROLES = [r for r in PARTNER_ROLES if r.code != "partner_admin"]
"""Roles an invitation can give; the partner admin is the main account, never invited."""
