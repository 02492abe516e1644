"""The demo channel has customers in both modes and in every state the console shows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter import demo
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationRecord,
    Customer,
    ResellerNotice,
)
from partnercenter.identity.models import Organisation, RealNameStatus, User


class TestDemoCustomers:
    def test_the_demo_has_customers_for_every_partner_in_both_modes(
        self, db: Session
    ) -> None:
        demo.seed(db)
        db.flush()

        pairs = db.execute(
            select(Organisation.account_name, Association.mode).join(
                Organisation, Organisation.id == Association.organisation_id
            )
        ).all()
        for partner in ("jade-solutions", "xingyun-tech", "lanshan-digital"):
            modes = {mode for name, mode in pairs if name == partner}
            assert modes == {AssociationMode.RESALE, AssociationMode.CONSULTING}

    def test_the_demo_shows_unverified_flagged_and_assigned_customers(
        self, db: Session
    ) -> None:
        demo.seed(db)
        db.flush()

        statuses = set(db.scalars(select(Customer.real_name_status)))
        assert {RealNameStatus.VERIFIED, RealNameStatus.NONE} <= statuses
        assert db.scalars(select(Customer).where(Customer.owes_invoices)).all()
        manager = db.scalars(select(User).where(User.account_name == "jade-am")).one()
        assigned = db.scalars(
            select(Association).where(Association.account_manager_user_id == manager.id)
        ).all()
        assert len(assigned) == 1
        assert len(db.scalars(select(ResellerNotice)).all()) == 1
        outcomes = set(db.scalars(select(AssociationRecord.outcome)))
        assert outcomes == {"succeeded", "refused"}
