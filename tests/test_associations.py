"""Associating a customer with a partner: one partner at a time, and every eligibility rule."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import SYSTEM
from partnercenter.core.models import AuditEvent
from partnercenter.customers import rules
from partnercenter.customers import service as customers
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRecord,
    AssociationSource,
)
from partnercenter.identity.models import PartnerType, RealNameStatus
from tests import factories


def _associate(
    db: Session, customer_id: str, partner: object, mode: AssociationMode
) -> object:
    return customers.associate(
        db,
        SYSTEM,
        customer_id=customer_id,
        partner=partner,  # type: ignore[arg-type]
        mode=mode,
        source=AssociationSource.INVITATION_LINK,
        actor_party="customer",
    )


def _codes(error: customers.AssociationRefused) -> set[str]:
    return {refusal.code for refusal in error.refusals}


class TestAssociate:
    def test_a_verified_customer_is_associated_and_recorded(self, db: Session) -> None:
        partner = factories.partner(db).organisation
        customer = factories.customer(db).organisation

        association = _associate(db, customer.id, partner, AssociationMode.RESALE)

        assert customers.active_association(db, customer.id) is association
        record = db.scalars(select(AssociationRecord)).one()
        assert (record.kind, record.outcome, record.mode_after) == (
            "associated",
            "succeeded",
            "resale",
        )
        assert (
            db.scalars(
                select(AuditEvent).where(AuditEvent.action == "customer.associated")
            )
            .one()
            .organisation_id
            == partner.id
        )

    def test_a_customer_has_at_most_one_partner(self, db: Session) -> None:
        first, second = (
            factories.partner(db).organisation,
            factories.partner(db).organisation,
        )
        customer = factories.customer(db).organisation
        _associate(db, customer.id, first, AssociationMode.CONSULTING)

        with pytest.raises(customers.AssociationRefused) as refused:
            _associate(db, customer.id, second, AssociationMode.CONSULTING)

        assert _codes(refused.value) == {"already_associated"}

    def test_the_database_also_refuses_a_second_active_association(
        self, db: Session
    ) -> None:
        from partnercenter.core.clock import utc_now
        from partnercenter.customers.models import Association, AssociationStatus

        first, second = (
            factories.partner(db).organisation,
            factories.partner(db).organisation,
        )
        customer = factories.customer(db).organisation
        _associate(db, customer.id, first, AssociationMode.RESALE)
        now = utc_now()
        db.add(
            Association(
                organisation_id=second.id,
                customer_id=customer.id,
                mode=AssociationMode.RESALE,
                status=AssociationStatus.ACTIVE,
                source=AssociationSource.INVITATION_LINK,
                started_at=now,
                mode_changed_at=now,
                agreements=[],
            )
        )
        with pytest.raises(Exception, match=r"(?i)unique"):
            db.flush()

    @pytest.mark.parametrize(
        "status", [RealNameStatus.NONE, RealNameStatus.REVIEWING, RealNameStatus.FAILED]
    )
    def test_real_name_verification_is_required(
        self, db: Session, status: RealNameStatus
    ) -> None:
        partner = factories.partner(db).organisation
        customer = factories.customer(db, real_name_status=status).organisation

        with pytest.raises(customers.AssociationRefused) as refused:
            _associate(db, customer.id, partner, AssociationMode.CONSULTING)

        assert _codes(refused.value) == {"not_real_name_verified"}

    def test_a_distributor_cannot_associate_customers(self, db: Session) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR).organisation
        customer = factories.customer(db).organisation

        with pytest.raises(customers.AssociationRefused) as refused:
            _associate(db, customer.id, distributor, AssociationMode.RESALE)

        assert _codes(refused.value) == {"distributor_cannot_associate"}

    def test_a_partner_only_takes_customers_of_its_business_region(
        self, db: Session
    ) -> None:
        partner = factories.partner(db, region="CN").organisation
        customer = factories.customer(db, region="SG").organisation

        with pytest.raises(customers.AssociationRefused) as refused:
            _associate(db, customer.id, partner, AssociationMode.CONSULTING)

        assert _codes(refused.value) == {"region_mismatch"}

    @pytest.mark.parametrize(("flag", "refusal"), rules.ANY_MODE_FLAGS)
    def test_facts_that_rule_out_any_association(
        self, db: Session, flag: str, refusal: rules.Refusal
    ) -> None:
        partner = factories.partner(db).organisation
        customer = factories.customer(db, **{flag: True}).organisation

        for mode in AssociationMode:
            with pytest.raises(customers.AssociationRefused) as refused:
                _associate(db, customer.id, partner, mode)
            assert _codes(refused.value) == {refusal.code}

    @pytest.mark.parametrize(("flag", "refusal"), rules.RESALE_FLAGS)
    def test_facts_that_rule_out_resale_but_not_consulting(
        self, db: Session, flag: str, refusal: rules.Refusal
    ) -> None:
        partner = factories.partner(db).organisation
        customer = factories.customer(db, **{flag: True}).organisation

        with pytest.raises(customers.AssociationRefused) as refused:
            _associate(db, customer.id, partner, AssociationMode.RESALE)
        assert _codes(refused.value) == {refusal.code}

        association = _associate(db, customer.id, partner, AssociationMode.CONSULTING)
        assert association.mode is AssociationMode.CONSULTING

    def test_a_partner_main_account_cannot_be_a_customer(self, db: Session) -> None:
        from partnercenter.identity import service as identity

        partner = factories.partner(db).organisation
        other = factories.partner(db)
        customer = factories.customer(db).organisation
        # The customer's own account is also the main account of a partner company.
        owner = db.get(type(other.admin), customer.main_user_id)
        assert owner is not None
        identity.add_membership(
            db, owner, other.organisation, roles=["partner_admin"], is_main_account=True
        )

        with pytest.raises(customers.AssociationRefused) as refused:
            _associate(db, customer.id, partner, AssociationMode.CONSULTING)

        assert _codes(refused.value) == {"customer_is_partner"}

    def test_every_reason_is_reported_at_once(self, db: Session) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR).organisation
        customer = factories.customer(
            db, real_name_status=RealNameStatus.NONE, owes_invoices=True
        ).organisation

        with pytest.raises(customers.AssociationRefused) as refused:
            _associate(db, customer.id, distributor, AssociationMode.RESALE)

        assert _codes(refused.value) == {
            "distributor_cannot_associate",
            "not_real_name_verified",
            "owes_invoices",
        }
        assert len(refused.value.problems) == 3


class TestModeTerms:
    def test_only_resale_is_funded_invoiced_and_contracted_by_the_partner(self) -> None:
        resale, consulting = (
            customers.terms(AssociationMode.RESALE),
            customers.terms(AssociationMode.CONSULTING),
        )
        assert (
            resale.can_be_funded,
            resale.invoiced_by_partner,
            resale.contract_with_partner,
        ) == (
            True,
            True,
            True,
        )
        assert not consulting.can_be_funded
        assert not consulting.invoiced_by_partner
        assert not consulting.contract_with_partner
        assert customers.MODE_CODES == {
            AssociationMode.CONSULTING: "1",
            AssociationMode.RESALE: "2",
        }
