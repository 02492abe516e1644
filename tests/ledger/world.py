"""A small world for ledger tests: the vendor, a partner with money, resale customers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.ids import new_id
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationSource,
    AssociationStatus,
    Customer,
    CustomerType,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    Organisation,
    OrganisationKind,
    PartnerType,
    RealNameStatus,
)
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import Account, AccountKind
from tests import factories

_charges = itertools.count(1)


def actor_of(db: Session, org: factories.OrgWithAdmin) -> Actor:
    return identity.actor_for(db, org.admin, org.organisation.id)


@dataclass
class World:
    db: Session
    vendor: factories.OrgWithAdmin
    finance: Actor
    partner: factories.OrgWithAdmin
    actor: Actor

    def customer(
        self,
        mode: AssociationMode = AssociationMode.RESALE,
        partner: Organisation | None = None,
    ) -> str:
        org = factories.associated_customer(
            self.db, partner or self.partner.organisation, mode
        )
        return org.organisation.id

    def topup(self, minor: int, partner: Organisation | None = None) -> str:
        result = ledger.record_topup(
            self.db,
            self.finance,
            partner_id=(partner or self.partner.organisation).id,
            amount=minor,
            reference=None,
        )
        return result.transfer_id

    def balances(self, partner: Organisation | None = None) -> ledger.PartnerBalances:
        return ledger.partner_balances(
            self.db, (partner or self.partner.organisation).id
        )

    # Added for the ledger's rule, batch and concurrency tests.

    def customers(
        self,
        count: int,
        mode: AssociationMode = AssociationMode.RESALE,
        partner: Organisation | None = None,
    ) -> list[str]:
        """``count`` customers associated in ``mode``, written in bulk: the factories'
        accounts with users and passwords would take minutes for a batch of thousands."""
        return bulk_customers(
            self.db, (partner or self.partner.organisation).id, count, mode
        )

    def charge(self, customer_id: str, minor: int, *, refund: bool = False) -> str:
        """A usage charge (or refund) from the vendor's billing; returns its transfer id."""
        [result] = ledger.post_charges(
            self.db,
            self.finance,
            [
                ledger.Charge(
                    charge_id=f"charge-{next(_charges)}",
                    customer_id=customer_id,
                    amount=minor,
                    refund=refund,
                )
            ],
        )
        assert result.status == "posted", result
        assert result.transfer_id is not None
        return result.transfer_id

    def customer_balances(self, customer_id: str) -> ledger.CustomerBalances:
        return ledger.customer_balances(self.db, customer_id)

    def allocated(self, customer_ids: list[str]) -> dict[str, int]:
        """Each customer's allocated balance, in one query for thousands of customers."""
        found = dict.fromkeys(customer_ids, 0)
        rows = self.db.execute(
            select(Account.organisation_id, Account.balance).where(
                Account.kind == AccountKind.CUSTOMER_ALLOCATED,
                Account.organisation_id.in_(customer_ids),
            )
        )
        for organisation_id, balance in rows:
            found[organisation_id] = balance
        return found

    def member(
        self, *roles: str, partner: factories.OrgWithAdmin | None = None
    ) -> Actor:
        """An actor for a new member of the partner with ``roles``."""
        organisation = (partner or self.partner).organisation
        person = factories.member(self.db, organisation, *roles)
        return identity.actor_for(self.db, person, organisation.id)


def world(
    db: Session, partner_type: PartnerType = PartnerType.SOLUTION_PROVIDER
) -> World:
    vendor = factories.vendor(db)
    partner = factories.partner(db, partner_type)
    db.flush()
    return World(db, vendor, actor_of(db, vendor), partner, actor_of(db, partner))


@dataclass
class TwoTiers:
    """A distributor (the world's partner) with a reseller of its own."""

    world: World
    reseller: factories.OrgWithAdmin
    reseller_actor: Actor

    @property
    def distributor(self) -> factories.OrgWithAdmin:
        return self.world.partner

    @property
    def distributor_actor(self) -> Actor:
        return self.world.actor


def two_tiers(db: Session) -> TwoTiers:
    made = world(db, PartnerType.DISTRIBUTOR)
    reseller = factories.partner(
        db, PartnerType.RESELLER, parent=made.partner.organisation
    )
    db.flush()
    return TwoTiers(made, reseller, actor_of(db, reseller))


def bulk_customers(
    db: Session, partner_id: str, count: int, mode: AssociationMode
) -> list[str]:
    """Customer organisations associated with ``partner_id``, inserted row by row set."""
    now = utc_now()
    ids = [new_id() for _ in range(count)]
    organisations = [
        {
            "id": customer_id,
            "kind": OrganisationKind.CUSTOMER,
            "account_name": f"bulk-{customer_id}",
            "display_name": f"Bulk customer {customer_id[:8]}",
            "country_region": "CN",
            "is_active": True,
            "created_at": now,
        }
        for customer_id in ids
    ]
    customers = [
        {
            "organisation_id": customer_id,
            "customer_type": CustomerType.ENTERPRISE,
            "real_name_status": RealNameStatus.VERIFIED,
            "updated_at": now,
        }
        for customer_id in ids
    ]
    associations = [
        {
            "organisation_id": partner_id,
            "customer_id": customer_id,
            "mode": mode,
            "status": AssociationStatus.ACTIVE,
            "source": AssociationSource.INVITATION_LINK,
            "started_at": now,
            "mode_changed_at": now,
            "agreements": [],
        }
        for customer_id in ids
    ]
    for start in range(0, count, 500):
        db.execute(insert(Organisation), organisations[start : start + 500])
        db.execute(insert(Customer), customers[start : start + 500])
        db.execute(insert(Association), associations[start : start + 500])
    return ids
