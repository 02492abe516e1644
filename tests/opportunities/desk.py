"""A vendor with a PDM and a BD covering a region, a partner, and a complete PO form."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, User
from partnercenter.opportunities import service
from partnercenter.opportunities.models import Opportunity
from partnercenter.opportunities.service import OpportunityForm
from tests import factories


@dataclass
class Desk:
    vendor: Organisation
    vendor_admin: User
    pdm: User
    bd: User
    partner: Organisation
    partner_admin: User
    settings: Settings

    def actor(self, user: User, organisation: Organisation) -> Actor:
        return identity.actor_for(self.db, user, organisation.id)

    db: Session = None  # type: ignore[assignment]

    @property
    def as_partner(self) -> Actor:
        return self.actor(self.partner_admin, self.partner)

    @property
    def as_pdm(self) -> Actor:
        return self.actor(self.pdm, self.vendor)

    @property
    def as_bd(self) -> Actor:
        return self.actor(self.bd, self.vendor)

    @property
    def as_vendor_admin(self) -> Actor:
        return self.actor(self.vendor_admin, self.vendor)


def staff(db: Session, vendor: Organisation, role: str) -> User:
    return factories.member(db, vendor, role)


def desk(db: Session, settings: Settings, region: str = "CN") -> Desk:
    vendor = factories.vendor(db)
    pdm = staff(db, vendor.organisation, "pdm")
    bd = staff(db, vendor.organisation, "bd")
    partner = factories.partner(db, region=region)
    made = Desk(
        vendor=vendor.organisation,
        vendor_admin=vendor.admin,
        pdm=pdm,
        bd=bd,
        partner=partner.organisation,
        partner_admin=partner.admin,
        settings=settings,
        db=db,
    )
    admin = made.as_vendor_admin
    service.set_staff_regions(db, admin, pdm.id, [region])
    service.set_staff_regions(db, admin, bd.id, [region])
    return made


def complete_form(**changes: object) -> OpportunityForm:
    form = OpportunityForm(
        customer_name="Lotus Freight Ltd",
        customer_industry="Logistics",
        customer_region="CN",
        is_existing_customer=False,
        contact_name="Zhou Min",
        contact_phone="+86 138 0000 0000",
        budget="500000",
        estimated_amount="320000.50",
        expected_order_date="2026-06-30",
        services=["compute", "storage"],
        need_description="Move the tracking system to the cloud before peak season.",
        solution_description="Our migration team lifts the system in two waves.",
        customer_authorised=True,
    )
    for name, value in changes.items():
        setattr(form, name, value)
    return form


def submitted(d: Desk, **changes: object) -> Opportunity:
    row = service.save_draft(d.db, d.as_partner, d.settings, complete_form(**changes))
    return service.submit(d.db, d.as_partner, d.settings, row.id)


def in_validation(d: Desk, **changes: object) -> Opportunity:
    row = submitted(d, **changes)
    return service.pass_review(d.db, d.as_pdm, d.settings, row.id)


def accepted(d: Desk, **changes: object) -> Opportunity:
    row = in_validation(d, **changes)
    return service.accept(d.db, d.as_bd, d.settings, row.id)
