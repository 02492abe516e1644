"""The console pages of association changes: the partner's requests and change forms, the
customer's partner page, and who may see and decide what."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.customers import service as customers
from partnercenter.customers.models import (
    AssociationMode,
    AssociationRecord,
    AssociationRequest,
    RequestStatus,
)
from partnercenter.identity.models import PartnerType
from tests import factories
from tests.factories import OrgWithAdmin
from tests.helpers import post_form, sign_in


def _pair(
    db: Session, mode: AssociationMode = AssociationMode.RESALE, **flags: bool
) -> tuple[OrgWithAdmin, OrgWithAdmin]:
    partner = factories.partner(db)
    customer = factories.associated_customer(db, partner.organisation, mode, **flags)
    db.commit()
    return partner, customer


def _request_id(db: Session) -> str:
    # Reading ends its transaction at once (SQLite would keep the app waiting), without
    # expiring what the test still holds.
    found = db.scalars(select(AssociationRequest.id)).one()
    db.commit()
    return found


def _request_status(db: Session) -> RequestStatus:
    found = db.scalars(select(AssociationRequest.status)).one()
    db.commit()
    return found


def _mode(db: Session, customer_id: str) -> AssociationMode | None:
    """The mode of the customer's active association, or None without one."""
    association = customers.active_association(db, customer_id)
    mode = association.mode if association else None
    db.commit()
    return mode


class TestCustomerAsksToLeave:
    def test_the_customer_asks_and_the_partner_admin_agrees(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner, customer = _pair(db)
        sign_in(client, customer.admin.account_name)
        page = client.get("/my-partner")
        assert partner.organisation.display_name in page.text
        assert "代售" in page.text

        asked = post_form(client, "/my-partner/disassociate", {"reason": "预算调整"})
        assert asked.status_code == 303
        assert "申请已发送" in client.get("/my-partner").text

        client.cookies.clear()
        sign_in(client, partner.admin.account_name)
        listed = client.get("/customers/requests")
        assert customer.organisation.display_name in listed.text
        assert "预算调整" in listed.text
        agreed = post_form(client, f"/customers/requests/{_request_id(db)}/agree", {})
        assert agreed.status_code == 303

        assert _mode(db, customer.organisation.id) is None
        client.cookies.clear()
        sign_in(client, customer.admin.account_name)
        assert "您没有合作伙伴" in client.get("/my-partner").text

    def test_a_resale_customer_in_arrears_is_told_what_to_do_and_the_refusal_is_kept(
        self, client: TestClient, db: Session
    ) -> None:
        partner, customer = _pair(db, in_arrears=True)
        sign_in(client, customer.admin.account_name)
        post_form(client, "/my-partner/disassociate", {"reason": ""})
        client.cookies.clear()
        sign_in(client, partner.admin.account_name)
        assert "合作伙伴须先向客户拨款" in client.get("/customers/requests").text

        refused = post_form(client, f"/customers/requests/{_request_id(db)}/agree", {})

        assert refused.status_code == 409
        expected = "客户处于欠费状态。合作伙伴须先向客户拨款，金额足以结清欠费。"  # noqa: RUF001
        assert expected in refused.text
        kept = db.scalars(
            select(AssociationRecord).where(AssociationRecord.outcome == "refused")
        ).one()
        assert kept.kind == "disassociated"
        assert _request_status(db) is RequestStatus.PENDING

    def test_rejecting_without_a_reason_is_refused_in_chinese(
        self, client: TestClient, db: Session
    ) -> None:
        partner, customer = _pair(db)
        sign_in(client, customer.admin.account_name)
        post_form(client, "/my-partner/disassociate", {"reason": ""})
        client.cookies.clear()
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            f"/customers/requests/{_request_id(db)}/reject",
            {"decision_reason": ""},
        )

        assert response.status_code == 400
        assert "请填写原因。" in response.text

    def test_after_a_rejection_the_customer_sees_when_it_may_ask_again(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner, customer = _pair(db)
        sign_in(client, customer.admin.account_name)
        post_form(client, "/my-partner/disassociate", {"reason": ""})
        client.cookies.clear()
        sign_in(client, partner.admin.account_name)
        post_form(
            client,
            f"/customers/requests/{_request_id(db)}/reject",
            {"decision_reason": "合同未到期"},
        )
        client.cookies.clear()
        sign_in(client, customer.admin.account_name)

        page = client.get("/my-partner").text
        again = post_form(client, "/my-partner/disassociate", {"reason": ""})

        assert "您在不到三个月前申请过解除关联，2026-06-02 起才能再次申请。" in page  # noqa: RUF001
        assert again.status_code == 409
        assert "2026-06-02 起才能再次申请" in again.text


class TestPartnerStartsAChange:
    def test_the_partner_asks_to_switch_and_the_customer_confirms(
        self, client: TestClient, db: Session
    ) -> None:
        partner, customer = _pair(db)
        sign_in(client, partner.admin.account_name)
        path = f"/customers/changes/{customer.organisation.id}"
        assert "切换为顾问销售" in client.get(path).text

        started = post_form(
            client,
            f"{path}/switch",
            {"target_mode": "consulting", "reason": "客户希望自行付款"},
        )
        assert started.status_code == 303
        client.cookies.clear()
        sign_in(client, customer.admin.account_name)
        page = client.get("/my-partner").text
        assert "客户希望自行付款" in page

        confirmed = post_form(
            client, f"/my-partner/requests/{_request_id(db)}/confirm", {}
        )

        assert confirmed.status_code == 303
        assert _mode(db, customer.organisation.id) is AssociationMode.CONSULTING

    def test_a_disassociation_needs_a_reason(
        self, client: TestClient, db: Session
    ) -> None:
        partner, customer = _pair(db)
        sign_in(client, partner.admin.account_name)

        response = post_form(
            client,
            f"/customers/changes/{customer.organisation.id}/disassociate",
            {"reason": " "},
        )

        assert response.status_code == 400
        assert "请填写原因。" in response.text

    def test_the_customer_refuses_and_stays(
        self, client: TestClient, db: Session
    ) -> None:
        partner, customer = _pair(db)
        sign_in(client, partner.admin.account_name)
        post_form(
            client,
            f"/customers/changes/{customer.organisation.id}/disassociate",
            {"reason": "业务调整"},
        )
        client.cookies.clear()
        sign_in(client, customer.admin.account_name)

        refused = post_form(
            client,
            f"/my-partner/requests/{_request_id(db)}/refuse",
            {"decision_reason": ""},
        )

        assert refused.status_code == 303
        assert _mode(db, customer.organisation.id) is AssociationMode.RESALE


class TestCustomerAsksToBeAssociated:
    def test_an_unknown_partner_is_named_in_chinese(
        self, client: TestClient, db: Session
    ) -> None:
        customer = factories.customer(db)
        db.commit()
        sign_in(client, customer.admin.account_name)

        response = post_form(
            client, "/my-partner/associate", {"partner": "nobody", "mode": "resale"}
        )

        assert response.status_code == 400
        assert "没有使用该账号名的合作伙伴" in response.text

    def test_the_partner_accepts_and_the_customer_has_a_partner(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        customer = factories.customer(db)
        db.commit()
        sign_in(client, customer.admin.account_name)
        post_form(
            client,
            "/my-partner/associate",
            {"partner": partner.organisation.account_name, "mode": "consulting"},
        )
        client.cookies.clear()
        sign_in(client, partner.admin.account_name)

        accepted = post_form(client, f"/customers/requests/{_request_id(db)}/agree", {})

        assert accepted.status_code == 303
        association = customers.active_association(db, customer.organisation.id)
        assert association is not None
        assert association.organisation_id == partner.organisation.id


class TestTenancy:
    def test_another_partner_cannot_open_or_decide(
        self, client: TestClient, db: Session
    ) -> None:
        _partner, customer = _pair(db)
        other = factories.partner(db)
        db.commit()
        sign_in(client, customer.admin.account_name)
        post_form(client, "/my-partner/disassociate", {"reason": ""})
        client.cookies.clear()
        sign_in(client, other.admin.account_name)

        opened = client.get(f"/customers/changes/{customer.organisation.id}")
        decided = post_form(client, f"/customers/requests/{_request_id(db)}/agree", {})

        assert (opened.status_code, decided.status_code) == (404, 404)
        assert (
            customer.organisation.display_name
            not in client.get("/customers/requests").text
        )
        assert _request_status(db) is RequestStatus.PENDING

    def test_another_customer_cannot_confirm(
        self, client: TestClient, db: Session
    ) -> None:
        partner, customer = _pair(db)
        _stranger_partner, stranger = _pair(db)
        sign_in(client, partner.admin.account_name)
        post_form(
            client,
            f"/customers/changes/{customer.organisation.id}/disassociate",
            {"reason": "业务调整"},
        )
        client.cookies.clear()
        sign_in(client, stranger.admin.account_name)

        response = post_form(
            client, f"/my-partner/requests/{_request_id(db)}/confirm", {}
        )

        assert response.status_code == 404
        assert _request_status(db) is RequestStatus.PENDING

    def test_an_account_manager_cannot_handle_requests(
        self, client: TestClient, db: Session
    ) -> None:
        partner, _customer = _pair(db)
        manager = factories.member(db, partner.organisation, "account_manager")
        db.commit()
        sign_in(client, manager.account_name)

        assert client.get("/customers/requests").status_code == 403

    def test_a_distributor_sees_no_requests_entry_in_its_navigation(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        db.commit()
        sign_in(client, distributor.admin.account_name)

        console = client.get("/console").text

        assert 'href="/customers/requests"' not in console
        assert 'href="/customers/records"' in console
