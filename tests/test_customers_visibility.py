"""Who sees which customers, edge by edge, through the one rule every query uses."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import Forbidden, NotFound
from partnercenter.customers import tiers
from partnercenter.customers.models import Association, AssociationStatus
from partnercenter.customers.visibility import (
    Tab,
    visible_association,
    visible_associations,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, PartnerType, User
from partnercenter.identity.permissions import Permission
from tests import factories


def _actor(db: Session, user: User, organisation: Organisation) -> Actor:
    return identity.actor_for(db, user, organisation.id)


def _seen(
    db: Session, actor: Actor, tab: Tab = Tab.OWN, *, include_ended: bool = False
) -> set[str]:
    statement = visible_associations(actor, tab=tab, include_ended=include_ended)
    return {a.customer_id for a in db.scalars(statement)}


def _association(db: Session, customer_id: str) -> Association:
    return db.scalars(
        select(Association).where(Association.customer_id == customer_id)
    ).one()


def _assign(db: Session, customer_id: str, user: User) -> None:
    association = _association(db, customer_id)
    association.account_manager_user_id = user.id
    db.flush()


class TestPartnerVisibility:
    def test_the_partner_admin_sees_its_own_customers_only(self, db: Session) -> None:
        mine = factories.partner(db)
        other = factories.partner(db)
        own = factories.associated_customer(db, mine.organisation).organisation
        factories.associated_customer(db, other.organisation)
        factories.customer(db)

        assert _seen(db, _actor(db, mine.admin, mine.organisation)) == {own.id}

    def test_an_account_manager_sees_only_what_is_assigned_to_it(
        self, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        assigned = factories.associated_customer(db, partner.organisation)
        factories.associated_customer(db, partner.organisation)
        _assign(db, assigned.organisation.id, manager)

        seen = _seen(db, _actor(db, manager, partner.organisation))

        assert seen == {assigned.organisation.id}

    def test_an_account_manager_with_nothing_assigned_sees_nobody(
        self, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        factories.associated_customer(db, partner.organisation)

        assert _seen(db, _actor(db, manager, partner.organisation)) == set()

    def test_an_account_manager_cannot_open_an_unassigned_customer(
        self, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        unassigned = factories.associated_customer(db, partner.organisation)

        with pytest.raises(NotFound):
            visible_association(
                db,
                _actor(db, manager, partner.organisation),
                unassigned.organisation.id,
            )

    def test_ended_associations_show_only_in_history_views(self, db: Session) -> None:
        partner = factories.partner(db)
        former = factories.associated_customer(db, partner.organisation)
        association = _association(db, former.organisation.id)
        association.status = AssociationStatus.ENDED
        db.flush()
        actor = _actor(db, partner.admin, partner.organisation)

        assert _seen(db, actor) == set()
        assert _seen(db, actor, include_ended=True) == {former.organisation.id}

    def test_a_member_without_a_customer_permission_is_refused(
        self, db: Session
    ) -> None:
        partner = factories.partner(db)
        no_customers = Actor(
            organisation_id=partner.organisation.id,
            organisation_kind="solution_provider",
            permissions=frozenset({Permission.MEMBERS_VIEW}),
        )

        with pytest.raises(Forbidden):
            _seen(db, no_customers)


class TestDistributorVisibility:
    @pytest.fixture
    def channel(self, db: Session) -> tuple[factories.OrgWithAdmin, ...]:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        factories.associated_customer(db, reseller.organisation)
        return distributor, reseller

    def test_a_distributor_has_no_customers_of_its_own(
        self, db: Session, channel: tuple[factories.OrgWithAdmin, ...]
    ) -> None:
        distributor, reseller = channel
        tiers.accept_notice(db, _actor(db, reseller.admin, reseller.organisation))

        actor = _actor(db, distributor.admin, distributor.organisation)

        assert _seen(db, actor, Tab.OWN) == set()

    def test_it_sees_the_customers_of_a_reseller_that_accepts_the_notice(
        self, db: Session, channel: tuple[factories.OrgWithAdmin, ...]
    ) -> None:
        distributor, reseller = channel
        tiers.accept_notice(db, _actor(db, reseller.admin, reseller.organisation))

        actor = _actor(db, distributor.admin, distributor.organisation)

        assert len(_seen(db, actor, Tab.RESELLERS)) == 1

    def test_it_sees_nothing_of_a_reseller_that_never_accepted(
        self, db: Session, channel: tuple[factories.OrgWithAdmin, ...]
    ) -> None:
        distributor, _reseller = channel

        actor = _actor(db, distributor.admin, distributor.organisation)

        assert _seen(db, actor, Tab.RESELLERS) == set()

    def test_the_view_ends_the_moment_the_reseller_revokes(
        self, db: Session, channel: tuple[factories.OrgWithAdmin, ...]
    ) -> None:
        distributor, reseller = channel
        reseller_actor = _actor(db, reseller.admin, reseller.organisation)
        tiers.accept_notice(db, reseller_actor)
        tiers.revoke_notice(db, reseller_actor)

        actor = _actor(db, distributor.admin, distributor.organisation)

        assert _seen(db, actor, Tab.RESELLERS) == set()

    def test_it_never_sees_another_distributors_resellers(
        self, db: Session, channel: tuple[factories.OrgWithAdmin, ...]
    ) -> None:
        _distributor, reseller = channel
        tiers.accept_notice(db, _actor(db, reseller.admin, reseller.organisation))
        stranger = factories.partner(db, PartnerType.DISTRIBUTOR)

        actor = _actor(db, stranger.admin, stranger.organisation)

        assert _seen(db, actor, Tab.RESELLERS) == set()

    def test_a_solution_provider_has_no_resellers_tab(self, db: Session) -> None:
        provider = factories.partner(db)
        factories.associated_customer(db, provider.organisation)

        actor = _actor(db, provider.admin, provider.organisation)

        assert _seen(db, actor, Tab.RESELLERS) == set()


class TestVendorVisibility:
    def test_vendor_staff_see_every_partners_customers(self, db: Session) -> None:
        vendor = factories.vendor(db)
        one = factories.associated_customer(db, factories.partner(db).organisation)
        two = factories.associated_customer(db, factories.partner(db).organisation)

        seen = _seen(db, _actor(db, vendor.admin, vendor.organisation))

        assert seen == {one.organisation.id, two.organisation.id}


class TestResellerNotice:
    def test_accepting_twice_is_refused(self, db: Session) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        actor = _actor(db, reseller.admin, reseller.organisation)
        tiers.accept_notice(db, actor)

        with pytest.raises(tiers.Conflict):
            tiers.accept_notice(db, actor)

    def test_only_a_reseller_has_the_notice(self, db: Session) -> None:
        provider = factories.partner(db)

        with pytest.raises(tiers.NotAReseller):
            tiers.accept_notice(db, _actor(db, provider.admin, provider.organisation))

    def test_acceptance_keeps_who_when_and_the_version(
        self, db: Session, clock: FrozenClock
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )

        notice = tiers.accept_notice(
            db, _actor(db, reseller.admin, reseller.organisation)
        )

        assert notice.accepted_by_user_id == reseller.admin.id
        assert notice.version == tiers.NOTICE_VERSION
        assert notice.accepted_at == clock.now()
