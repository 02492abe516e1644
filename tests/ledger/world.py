"""A small world for ledger tests: the vendor, a partner with money, resale customers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.customers.models import AssociationMode
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, PartnerType
from partnercenter.ledger import service as ledger
from tests import factories


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


def world(
    db: Session, partner_type: PartnerType = PartnerType.SOLUTION_PROVIDER
) -> World:
    vendor = factories.vendor(db)
    partner = factories.partner(db, partner_type)
    db.flush()
    return World(db, vendor, actor_of(db, vendor), partner, actor_of(db, partner))
