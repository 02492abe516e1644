"""Who may open the vendor's administration pages and use their actions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core.models import AuditEvent
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
from tests import factories
from tests.helpers import csrf_from, sign_in


@dataclass
class World:
    vendor: factories.OrgWithAdmin
    distributor: factories.OrgWithAdmin
    customer: factories.OrgWithAdmin
    pdm_account: str
    staff_membership_id: int

    def pages(self) -> list[str]:
        partner_id = self.distributor.organisation.id
        return [
            "/vendor/partners",
            "/vendor/partners/new",
            f"/vendor/partners/{partner_id}",
            "/vendor/staff",
            "/vendor/users",
            f"/vendor/users/{self.vendor.admin.id}",
        ]

    def actions(self) -> list[tuple[str, dict[str, str]]]:
        partner_id = self.distributor.organisation.id
        user_id = self.distributor.admin.id
        membership = self.staff_membership_id
        return [
            ("/vendor/partners", {"partner_type": "solution_provider"}),
            (f"/vendor/partners/{partner_id}", {"display_name": "Renamed"}),
            (f"/vendor/partners/{partner_id}/deactivate", {"reason": "No"}),
            (f"/vendor/partners/{partner_id}/reactivate", {}),
            ("/vendor/staff/new", {"account_name": "intruder", "roles": "bd"}),
            ("/vendor/staff/existing", {"identifier": "x", "roles": "bd"}),
            (f"/vendor/staff/{membership}/roles", {"roles": "bd"}),
            (f"/vendor/staff/{membership}/remove", {}),
            (f"/vendor/users/{user_id}/account", {"real_name_status": "failed"}),
            (f"/vendor/users/{user_id}/deactivate", {"reason": "No"}),
            (f"/vendor/users/{user_id}/reactivate", {}),
        ]


@pytest.fixture
def world(db: Session) -> World:
    vendor = factories.vendor(db)
    pdm = factories.member(db, vendor.organisation, "pdm")
    membership = identity.active_membership(db, pdm.id, vendor.organisation.id)
    assert membership is not None
    world = World(
        vendor=vendor,
        distributor=factories.partner(db, PartnerType.DISTRIBUTOR),
        customer=factories.customer(db),
        pdm_account=pdm.account_name,
        staff_membership_id=membership.id,
    )
    db.commit()
    return world


def _audit_count(db: Session) -> int:
    count = db.scalar(select(func.count()).select_from(AuditEvent)) or 0
    # End the read (SQLite holds the write lock until then) without expiring the objects.
    db.commit()
    return count


def _refused_everywhere(
    client: TestClient, db: Session, world: World, paths: list[str]
) -> None:
    before = _audit_count(db)
    for path in paths:
        assert client.get(path).status_code == 403, path
    token = csrf_from(client, "/console")
    for path, data in world.actions():
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
    assert _audit_count(db) == before


class TestVendorPagesAreForVendorStaff:
    def test_partner_admin_is_refused_every_page_and_action(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, world.distributor.admin.account_name)

        _refused_everywhere(client, db, world, world.pages())

        db.expire_all()
        assert world.distributor.organisation.is_active

    def test_customer_is_refused_every_page_and_action(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, world.customer.admin.account_name)

        _refused_everywhere(client, db, world, world.pages())

    def test_signed_out_visitor_is_sent_to_sign_in(
        self, client: TestClient, world: World
    ) -> None:
        for path in world.pages():
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")


class TestPartnerDevelopmentManager:
    def test_pdm_views_partners_but_cannot_change_them(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, world.pdm_account)
        partner_id = world.distributor.organisation.id

        assert client.get("/vendor/partners").status_code == 200
        detail = client.get(f"/vendor/partners/{partner_id}")
        assert detail.status_code == 200
        assert "修改合作伙伴" not in detail.text
        _refused_everywhere(client, db, world, ["/vendor/partners/new"])

    def test_pdm_is_refused_the_staff_and_user_pages(
        self, client: TestClient, world: World
    ) -> None:
        sign_in(client, world.pdm_account)

        for path in ["/vendor/staff", "/vendor/users"]:
            assert client.get(path).status_code == 403, path
        navigation = client.get("/console").text
        assert 'href="/vendor/staff"' not in navigation
        assert 'href="/vendor/partners"' in navigation
