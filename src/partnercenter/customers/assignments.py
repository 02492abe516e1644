"""Changes a partner makes to how it looks after its customers (account managers and
labels), and the facts the vendor holds about a customer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import FieldProblem, InvalidInput, NotFound
from partnercenter.core.i18n import N_
from partnercenter.core.logging import get_logger
from partnercenter.customers import service
from partnercenter.customers.models import Association, Customer
from partnercenter.customers.queries import account_managers
from partnercenter.customers.visibility import sees_every_customer, visible_associations
from partnercenter.identity import service as identity
from partnercenter.identity.models import RealNameStatus
from partnercenter.identity.permissions import Permission

log = get_logger("partnercenter.customers")

LABEL_MAX = 64
BATCH_MAX = 100
"""Customers one batch action may change at once."""


def _selected(
    session: Session, actor: Actor, customer_ids: Sequence[str]
) -> list[Association]:
    """The actor's active associations with these customers; all of them, or NotFound."""
    identity.authorize(actor, Permission.CUSTOMERS_VIEW_ALL)
    wanted = set(customer_ids)
    if not wanted:
        raise InvalidInput(
            problems=[FieldProblem("customer_ids", N_("Select at least one customer."))]
        )
    if len(wanted) > BATCH_MAX:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "customer_ids",
                    N_("Select at most %(max)s customers at once."),
                    {"max": BATCH_MAX},
                )
            ]
        )
    found = session.scalars(
        visible_associations(actor).where(
            Association.customer_id.in_(wanted),
            Association.organisation_id == actor.organisation_id,
        )
    ).all()
    if len(found) != len(wanted):
        raise NotFound(N_("No such customer."))
    return list(found)


def assign_account_manager(
    session: Session, actor: Actor, customer_ids: Sequence[str], user_id: str | None
) -> int:
    """Give the customers to one account manager (``None`` takes them back)."""
    identity.authorize(actor, Permission.CUSTOMERS_ASSIGN)
    associations = _selected(session, actor, customer_ids)
    managers = {u.id for u in account_managers(session, actor.organisation_id)}
    if user_id is not None and user_id not in managers:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "account_manager",
                    N_("Choose a member who holds an account-manager role."),
                )
            ]
        )

    changed = [a for a in associations if a.account_manager_user_id != user_id]
    for association in changed:
        before = association.account_manager_user_id
        association.account_manager_user_id = user_id
        service.write_record(
            session,
            actor,
            kind="account_manager_assigned",
            outcome="succeeded",
            partner_id=actor.organisation_id,
            customer_id=association.customer_id,
            actor_party="partner",
            details={"before": before, "after": user_id},
        )
        audit.record(
            session,
            actor,
            "customer.account_manager_assigned",
            subject_type="customer",
            subject_id=association.customer_id,
            organisation_id=actor.organisation_id,
            before={"account_manager_user_id": before},
            after={"account_manager_user_id": user_id},
        )
    session.flush()
    log.info("customers.assigned", count=len(changed), account_manager_user_id=user_id)
    return len(changed)


def clean_label(label: str | None) -> str | None:
    cleaned = (label or "").strip()
    if len(cleaned) > LABEL_MAX:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "label",
                    N_("A label has at most %(max)s characters."),
                    {"max": LABEL_MAX},
                )
            ]
        )
    return cleaned or None


def set_label(
    session: Session, actor: Actor, customer_ids: Sequence[str], label: str | None
) -> int:
    """Put one label on the customers, or clear it with an empty one."""
    identity.authorize(actor, Permission.CUSTOMERS_ASSIGN)
    cleaned = clean_label(label)
    associations = _selected(session, actor, customer_ids)

    changed = [a for a in associations if a.label != cleaned]
    for association in changed:
        audit.record(
            session,
            actor,
            "customer.label_set",
            subject_type="customer",
            subject_id=association.customer_id,
            organisation_id=actor.organisation_id,
            before={"label": association.label},
            after={"label": cleaned},
        )
        association.label = cleaned
    session.flush()
    return len(changed)


# -- the vendor's facts -----------------------------------------------------------------

FACT_FLAGS = (
    "registered_by_vendor_sales",
    "other_site_account",
    "consumer_cloud_account",
    "vendor_internal_account",
    "referral_program_member",
    "holds_reserved_instances",
    "owes_invoices",
    "has_unspent_prepaid_cards",
    "has_unused_recharge_bonus",
    "has_special_contract",
    "enterprise_master_with_non_custody_subs",
    "enterprise_sub_account",
)
"""The yes/no facts the vendor's staff may correct on a customer."""


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    flags: frozenset[str]
    """The names of the flags that are set; every other flag is cleared."""
    real_name_status: str
    pending_partner_paid_orders: str


def facts_of(customer: Customer) -> dict[str, Any]:
    return {
        **{flag: bool(getattr(customer, flag)) for flag in FACT_FLAGS},
        "real_name_status": str(customer.real_name_status),
        "pending_partner_paid_orders": customer.pending_partner_paid_orders,
    }


def _checked(facts: CustomerFacts) -> tuple[RealNameStatus, int]:
    problems = []
    status: RealNameStatus | None = None
    try:
        status = RealNameStatus(facts.real_name_status)
    except ValueError:
        problems.append(
            FieldProblem("real_name_status", N_("Choose a real-name status."))
        )
    orders = facts.pending_partner_paid_orders.strip() or "0"
    if not orders.isdigit():
        problems.append(
            FieldProblem(
                "pending_partner_paid_orders",
                N_("Enter a whole number of orders, zero or more."),
            )
        )
    unknown = facts.flags - set(FACT_FLAGS)
    if unknown:
        problems.append(FieldProblem("flags", N_("Unknown fact.")))
    if problems or status is None:
        raise InvalidInput(problems=problems)
    return status, int(orders)


def update_facts(
    session: Session, actor: Actor, customer_id: str, facts: CustomerFacts
) -> Customer:
    """Correct what the vendor's systems report about a customer.

    In this product the vendor's billing and account systems are not connected, so their
    facts are kept here and edited by vendor staff holding ``vendor.partners.manage``.
    """
    if not sees_every_customer(actor):
        raise NotFound(N_("No such customer."))
    identity.authorize(actor, Permission.PARTNERS_MANAGE)
    customer = service.get_customer(session, customer_id)
    status, orders = _checked(facts)

    before = facts_of(customer)
    for flag in FACT_FLAGS:
        setattr(customer, flag, flag in facts.flags)
    customer.real_name_status = status
    customer.pending_partner_paid_orders = orders
    after = facts_of(customer)
    if after == before:
        return customer
    customer.updated_at = utc_now()
    session.flush()
    audit.record(
        session,
        actor,
        "customer.facts_updated",
        subject_type="customer",
        subject_id=customer_id,
        organisation_id=customer_id,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
    )
    return customer
