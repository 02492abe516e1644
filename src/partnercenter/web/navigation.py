"""The console's navigation, by the kind of organisation and the permissions held."""

from __future__ import annotations

from typing import TYPE_CHECKING

from partnercenter.core.i18n import N_
from partnercenter.identity.permissions import Permission

if TYPE_CHECKING:
    from partnercenter.web.context import NavItem, Page

# (href, label, kinds that see it, permission needed or None)
_ITEMS: list[tuple[str, str, frozenset[str], Permission | None]] = []

VENDOR = frozenset({"vendor"})
PARTNERS = frozenset({"solution_provider", "distributor", "reseller"})
CUSTOMERS = frozenset({"customer"})
EVERYONE = VENDOR | PARTNERS | CUSTOMERS


def register(
    href: str, label: str, kinds: frozenset[str], permission: Permission | None = None
) -> None:
    _ITEMS.append((href, label, kinds, permission))


register("/console", N_("Overview"), EVERYONE)
register("/vendor/partners", N_("Partners"), VENDOR, Permission.PARTNERS_VIEW)
register("/vendor/users", N_("User accounts"), VENDOR, Permission.USERS_MANAGE)
register("/vendor/staff", N_("Staff"), VENDOR, Permission.STAFF_MANAGE)
register(
    "/vendor/calendar", N_("Working-day calendar"), VENDOR, Permission.CALENDAR_MANAGE
)
register("/members", N_("Members"), PARTNERS, Permission.MEMBERS_VIEW)
register("/roles", N_("Roles"), PARTNERS, Permission.ROLES_MANAGE)
register("/profile", N_("Company profile"), PARTNERS, Permission.PROFILE_VIEW)
register("/credentials", N_("API keys"), PARTNERS, Permission.CREDENTIALS_MANAGE)
register("/credentials", N_("API keys"), CUSTOMERS, Permission.CUSTOMER_SELF)
register("/audit", N_("Audit log"), PARTNERS, Permission.AUDIT_VIEW)
register("/audit", N_("Audit log"), VENDOR, Permission.AUDIT_VIEW_ALL)
register("/customers", N_("Customers"), PARTNERS, Permission.CUSTOMERS_VIEW_ALL)
register("/customers", N_("Customers"), PARTNERS, Permission.CUSTOMERS_VIEW_ASSIGNED)
register(
    "/customers/notice", N_("Customer-information notice"), frozenset({"reseller"})
)
register("/vendor/customers", N_("Customers"), VENDOR, Permission.PARTNERS_VIEW)
register("/vendor/finance", N_("Finance"), VENDOR, Permission.FINANCE_OPERATE)
register("/funds/withdrawals", N_("Withdrawals"), PARTNERS, Permission.FUNDS_VIEW)


def navigation_for(page: Page) -> list[NavItem]:
    from partnercenter.web.context import NavItem

    if page.actor is None:
        return []
    kind = page.actor.organisation_kind
    shown = [
        NavItem(href, page.tr.gettext(label))
        for href, label, kinds, permission in _ITEMS
        if kind in kinds and (permission is None or page.actor.can(permission))
    ]
    # An entry registered under several permissions shows once for whoever holds more.
    return list({item.href: item for item in shown}.values())


INTAKE = frozenset({"solution_provider", "reseller"})
TAKES_IN = Permission.CUSTOMERS_VIEW_ASSIGNED
register("/customers/registrations", N_("Registrations"), INTAKE, TAKES_IN)
register("/customers/invitations", N_("Customer invitations"), INTAKE, TAKES_IN)
