"""The console's customer pages: the list with its filters and batch actions, the detail,
the reseller's notice and the vendor's look-up, each refusing other partners' customers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.models import AuditEvent
from partnercenter.customers import service as customers
from partnercenter.customers import tiers
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationRecord,
    Customer,
    ResellerNotice,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
from tests import factories
from tests.helpers import post_form, sign_in


def _association(db: Session, customer_id: str) -> Association:
    return db.scalars(
        select(Association)
        .where(Association.customer_id == customer_id)
        .execution_options(populate_existing=True)
    ).one()


def _actions(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


class TestCustomerList:
    def test_the_admin_sees_its_customers_with_their_facts(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        owing = factories.associated_customer(
            db, partner.organisation, AssociationMode.CONSULTING, in_arrears=True
        )
        other = factories.associated_customer(db, factories.partner(db).organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get("/customers")

        assert page.status_code == 200
        assert owing.organisation.display_name in page.text
        assert "顾问销售" in page.text
        assert "欠费" in page.text
        assert other.organisation.display_name not in page.text
        assert page.text.count('href="/customers"') == 1

    def test_search_and_mode_filter_narrow_the_list(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        resale = factories.associated_customer(db, partner.organisation)
        consulting = factories.associated_customer(
            db, partner.organisation, AssociationMode.CONSULTING
        )
        db.commit()
        sign_in(client, partner.admin.account_name)

        by_mode = client.get("/customers", params={"mode": "consulting"})
        by_name = client.get(
            "/customers", params={"q": resale.organisation.account_name.upper()}
        )

        assert consulting.organisation.display_name in by_mode.text
        assert resale.organisation.display_name not in by_mode.text
        assert resale.organisation.display_name in by_name.text
        assert consulting.organisation.display_name not in by_name.text

    def test_the_date_range_keeps_customers_associated_within_it(
        self, client: TestClient, db: Session, clock: object
    ) -> None:
        partner = factories.partner(db)
        early = factories.associated_customer(db, partner.organisation)
        clock.move(days=10)  # type: ignore[attr-defined]
        late = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get(
            "/customers", params={"since": "2026-03-05", "until": "2026-03-31"}
        )

        assert late.organisation.display_name in page.text
        assert early.organisation.display_name not in page.text

    def test_the_account_manager_sees_only_its_assigned_customers(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        assigned = factories.associated_customer(db, partner.organisation)
        unassigned = factories.associated_customer(db, partner.organisation)
        _association(db, assigned.organisation.id).account_manager_user_id = manager.id
        db.commit()
        sign_in(client, manager.account_name)

        page = client.get("/customers")

        assert assigned.organisation.display_name in page.text
        assert unassigned.organisation.display_name not in page.text
        assert 'name="customer_ids"' not in page.text
        detail = client.get(f"/customers/{unassigned.organisation.id}")
        assert detail.status_code == 404


class TestBatchActions:
    def test_the_admin_assigns_an_account_manager_to_selected_customers(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        first = factories.associated_customer(db, partner.organisation)
        second = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            "/customers/batch",
            {
                "action": "assign",
                "account_manager": manager.id,
                "customer_ids": [first.organisation.id, second.organisation.id],
            },
            form_page="/customers",
        )

        assert response.status_code == 303
        for made in (first, second):
            association = _association(db, made.organisation.id)
            assert association.account_manager_user_id == manager.id
        records = db.scalars(
            select(AssociationRecord).where(
                AssociationRecord.kind == "account_manager_assigned"
            )
        ).all()
        assert {r.customer_id for r in records} == {
            first.organisation.id,
            second.organisation.id,
        }
        assert len(_actions(db, "customer.account_manager_assigned")) == 2

    def test_a_member_without_an_account_manager_role_cannot_be_assigned(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        made = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            "/customers/batch",
            {
                "action": "assign",
                "account_manager": specialist.id,
                "customer_ids": [made.organisation.id],
            },
            form_page="/customers",
        )

        assert response.status_code == 400
        assert "客户经理角色" in response.text
        assert _association(db, made.organisation.id).account_manager_user_id is None

    def test_the_admin_sets_and_clears_a_label(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        made = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)
        selection = {"customer_ids": [made.organisation.id]}

        post_form(
            client,
            "/customers/batch",
            {**selection, "action": "label", "label": "Key account"},
            form_page="/customers",
        )
        labelled = _association(db, made.organisation.id).label
        db.commit()
        filtered = client.get("/customers", params={"label": "Key account"})
        post_form(
            client,
            "/customers/batch",
            {**selection, "action": "clear_label"},
            form_page="/customers",
        )

        assert labelled == "Key account"
        assert made.organisation.display_name in filtered.text
        assert _association(db, made.organisation.id).label is None
        events = _actions(db, "customer.label_set")
        assert [e.after for e in events] == [{"label": "Key account"}, {"label": None}]

    def test_another_partners_customer_cannot_be_changed(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        foreign = factories.associated_customer(db, factories.partner(db).organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        for data in (
            {"action": "label", "label": "mine"},
            {"action": "assign", "account_manager": manager.id},
        ):
            response = post_form(
                client,
                "/customers/batch",
                {**data, "customer_ids": [foreign.organisation.id]},
                form_page="/customers",
            )
            assert response.status_code == 404
        association = _association(db, foreign.organisation.id)
        assert (association.label, association.account_manager_user_id) == (None, None)

    def test_a_project_specialist_cannot_use_batch_actions(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        made = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, specialist.account_name)

        response = post_form(
            client,
            "/customers/batch",
            {"action": "label", "label": "x", "customer_ids": [made.organisation.id]},
            form_page="/customers",
        )

        assert response.status_code == 403


class TestCustomerDetail:
    def test_the_detail_shows_the_association_terms_and_records(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        made = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get(f"/customers/{made.organisation.id}")

        assert page.status_code == 200
        assert "代售" in page.text
        assert "由合作伙伴向客户开具发票" in page.text
        assert page.text.count('data-testid="record-row"') == 1
        assert f'href="/customers/changes/{made.organisation.id}"' in page.text

    def test_a_viewer_without_manage_gets_no_change_link(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        made = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, specialist.account_name)

        page = client.get(f"/customers/{made.organisation.id}")

        assert page.status_code == 200
        assert "/customers/changes/" not in page.text

    def test_another_partners_customer_is_not_found(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        foreign = factories.associated_customer(db, factories.partner(db).organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        assert client.get(f"/customers/{foreign.organisation.id}").status_code == 404


class TestResellerNoticePage:
    @pytest.fixture
    def channel(self, db: Session) -> tuple[factories.OrgWithAdmin, ...]:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        customer = factories.associated_customer(db, reseller.organisation)
        db.commit()
        return distributor, reseller, customer

    def test_accepting_shows_the_customers_on_the_distributors_tab(
        self,
        client: TestClient,
        db: Session,
        channel: tuple[factories.OrgWithAdmin, ...],
    ) -> None:
        distributor, reseller, customer = channel
        sign_in(client, reseller.admin.account_name)
        accepted = post_form(
            client, "/customers/notice/accept", {}, form_page="/customers/notice"
        )
        client.cookies.clear()
        sign_in(client, distributor.admin.account_name)

        tab = client.get("/customers", params={"tab": "resellers"})
        detail = client.get(f"/customers/{customer.organisation.id}")

        assert accepted.status_code == 303
        assert customer.organisation.display_name in tab.text
        assert reseller.organisation.display_name in tab.text
        assert detail.status_code == 200
        assert "/customers/changes/" not in detail.text
        assert len(_actions(db, "customers.notice_accepted")) == 1

    def test_revoking_hides_them_again(
        self,
        client: TestClient,
        db: Session,
        channel: tuple[factories.OrgWithAdmin, ...],
    ) -> None:
        distributor, reseller, customer = channel
        tiers.accept_notice(
            db, identity.actor_for(db, reseller.admin, reseller.organisation.id)
        )
        db.commit()
        sign_in(client, reseller.admin.account_name)
        post_form(client, "/customers/notice/revoke", {}, form_page="/customers/notice")
        client.cookies.clear()
        sign_in(client, distributor.admin.account_name)

        tab = client.get("/customers", params={"tab": "resellers"})

        detail = client.get(f"/customers/{customer.organisation.id}")

        assert customer.organisation.display_name not in tab.text
        assert detail.status_code == 404
        notice = db.scalars(select(ResellerNotice)).one()
        assert notice.revoked_at is not None

    def test_the_notice_page_is_for_resellers_only(
        self, client: TestClient, db: Session
    ) -> None:
        provider = factories.partner(db)
        db.commit()
        sign_in(client, provider.admin.account_name)

        assert client.get("/customers/notice").status_code == 403


class TestVendorLookup:
    def test_vendor_staff_find_any_customer_and_its_partner(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        partner = factories.partner(db)
        made = factories.associated_customer(db, partner.organisation)
        free = factories.customer(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)

        listing = client.get("/vendor/customers")
        detail = client.get(f"/vendor/customers/{made.organisation.id}")

        assert made.organisation.display_name in listing.text
        assert free.organisation.display_name in listing.text
        assert partner.organisation.display_name in detail.text
        assert detail.text.count('data-testid="association-row"') == 1

    def test_the_vendor_admin_edits_the_facts_with_an_audit_event(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        made = factories.customer(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)
        path = f"/vendor/customers/{made.organisation.id}"

        response = post_form(
            client,
            f"{path}/facts",
            {
                "flags": ["owes_invoices", "enterprise_sub_account"],
                "real_name_status": "verified",
                "pending_partner_paid_orders": "2",
            },
            form_page=path,
        )

        assert response.status_code == 303
        customer = db.scalars(
            select(Customer)
            .where(Customer.organisation_id == made.organisation.id)
            .execution_options(populate_existing=True)
        ).one()
        assert (
            customer.owes_invoices,
            customer.enterprise_sub_account,
            customer.pending_partner_paid_orders,
        ) == (True, True, 2)
        [event] = _actions(db, "customer.facts_updated")
        assert event.before == {
            "owes_invoices": False,
            "enterprise_sub_account": False,
            "pending_partner_paid_orders": 0,
        }
        assert event.after == {
            "owes_invoices": True,
            "enterprise_sub_account": True,
            "pending_partner_paid_orders": 2,
        }
        refused = customers.refusals_for(
            db,
            made.organisation.id,
            factories.partner(db).organisation,
            AssociationMode.RESALE,
        )
        assert "owes_invoices" in {r.code for r in refused}

    def test_staff_without_partner_management_only_read_the_facts(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        bd = factories.member(db, vendor.organisation, "bd")
        made = factories.customer(db)
        db.commit()
        sign_in(client, bd.account_name)
        path = f"/vendor/customers/{made.organisation.id}"

        page = client.get(path)
        response = post_form(
            client, f"{path}/facts", {"flags": ["owes_invoices"]}, form_page=path
        )

        assert page.status_code == 200
        assert "/facts" not in page.text
        assert response.status_code == 403

    def test_partners_cannot_use_the_look_up(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        made = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        path = f"/vendor/customers/{made.organisation.id}"

        assert client.get("/vendor/customers").status_code == 403
        assert client.get(path).status_code == 403
        edit = post_form(client, f"{path}/facts", {"flags": ["owes_invoices"]})
        assert edit.status_code == 403
        assert _actions(db, "customer.facts_updated") == []
