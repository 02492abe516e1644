"""The vendor's partner administration: register, list, view, change, deactivate."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.models import AuditEvent, MailboxMessage
from partnercenter.identity.models import (
    Membership,
    Organisation,
    PartnerType,
    User,
)
from partnercenter.worker import run_once
from tests import factories
from tests.helpers import csrf_from, post_form, sign_in


def _form(account_name: str, partner_type: str, **overrides: str) -> dict[str, str]:
    form = {
        "display_name": f"{account_name.title()} Ltd.",
        "account_name": account_name,
        "partner_type": partner_type,
        "country_region": "CN",
        "distributor_id": "",
        "legal_name": f"{account_name.title()} Information Technology Co., Ltd.",
        "registration_number": "91310000MA1FL0000X",
        "contact_name": "Lin Qing",
        "contact_email": f"contact@{account_name}.example.com",
        "contact_phone": "+86 138 0000 0000",
        "email": f"owner@{account_name}.example.com",
    }
    return {**form, **overrides}


def _organisation(db: Session, account_name: str) -> Organisation | None:
    db.expire_all()
    return db.scalar(
        select(Organisation).where(Organisation.account_name == account_name)
    )


def _events(db: Session, action: str, subject_id: str) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.subject_id == subject_id
            )
        )
    )


@pytest.fixture
def vendor_admin(client: TestClient, db: Session) -> factories.OrgWithAdmin:
    vendor = factories.vendor(db)
    db.commit()
    sign_in(client, vendor.admin.account_name)
    return vendor


@pytest.fixture
def other_client(app: FastAPI) -> TestClient:
    """A second browser, for the partner's own people.

    It is not entered as a context manager: the app's lifespan (which disposes the engine
    when it ends) belongs to the first client only.
    """
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


@pytest.mark.usefixtures("vendor_admin")
class TestRegisterPartner:
    @pytest.mark.parametrize(
        "partner_type", [PartnerType.SOLUTION_PROVIDER, PartnerType.DISTRIBUTOR]
    )
    def test_partner_is_registered_with_its_main_account(
        self, client: TestClient, db: Session, partner_type: PartnerType
    ) -> None:
        response = post_form(
            client, "/vendor/partners", _form("mingde-tech", str(partner_type))
        )

        assert response.status_code == 303
        partner = _organisation(db, "mingde-tech")
        assert partner is not None
        assert response.headers["location"] == f"/vendor/partners/{partner.id}"
        assert partner.partner_type is partner_type
        assert partner.country_region == "CN"
        assert partner.legal_name == "Mingde-Tech Information Technology Co., Ltd."
        assert partner.contact_phone == "+8613800000000"
        owner = db.get(User, partner.main_user_id)
        assert owner is not None
        assert owner.account_name == "mingde-tech"
        assert owner.email == "owner@mingde-tech.example.com"
        membership = db.scalar(
            select(Membership).where(Membership.organisation_id == partner.id)
        )
        assert membership is not None
        assert membership.is_main_account
        assert [role.preset for role in membership.roles] == ["partner_admin"]
        assert _events(db, "organisation.created", partner.id)
        assert _events(db, "user.created", owner.id)

    def test_reseller_is_registered_under_a_distributor_of_its_region(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR, region="HK")
        db.commit()

        response = post_form(
            client,
            "/vendor/partners",
            _form(
                "harbour-cloud",
                "reseller",
                country_region="HK",
                distributor_id=distributor.organisation.id,
            ),
        )

        assert response.status_code == 303
        reseller = _organisation(db, "harbour-cloud")
        assert reseller is not None
        assert reseller.partner_type is PartnerType.RESELLER
        assert reseller.parent_id == distributor.organisation.id

    def test_reseller_without_distributor_is_refused_and_nothing_is_created(
        self, client: TestClient, db: Session
    ) -> None:
        response = post_form(
            client, "/vendor/partners", _form("lonely-reseller", "reseller")
        )

        assert response.status_code == 400
        assert "请选择该云经销商所属的总经销商" in response.text
        assert _organisation(db, "lonely-reseller") is None
        assert (
            db.scalar(select(User).where(User.account_name == "lonely-reseller"))
            is None
        )

    def test_reseller_of_another_region_than_its_distributor_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR, region="CN")
        db.commit()

        response = post_form(
            client,
            "/vendor/partners",
            _form(
                "lion-city-cloud",
                "reseller",
                country_region="SG",
                distributor_id=distributor.organisation.id,
            ),
        )

        assert response.status_code == 400
        assert "云经销商须与其总经销商在同一业务开展地区" in response.text
        assert _organisation(db, "lion-city-cloud") is None

    def test_a_solution_provider_cannot_be_a_resellers_distributor(
        self, client: TestClient, db: Session
    ) -> None:
        provider = factories.partner(db, PartnerType.SOLUTION_PROVIDER)
        db.commit()

        response = post_form(
            client,
            "/vendor/partners",
            _form(
                "misplaced-reseller",
                "reseller",
                distributor_id=provider.organisation.id,
            ),
        )

        assert response.status_code == 400
        assert "请从总经销商中选择一个" in response.text

    def test_every_problem_of_the_form_is_reported_at_once(
        self, client: TestClient, db: Session
    ) -> None:
        taken = factories.partner(db)
        db.commit()

        response = post_form(
            client,
            "/vendor/partners",
            _form(
                taken.organisation.account_name,
                "",
                legal_name="",
                contact_email="not-an-address",
                email="",
            ),
        )

        assert response.status_code == 400
        for message in (
            "请选择伙伴类型",
            "请填写法人实体名称",
            "这不是有效的邮箱地址",
            "请填写邮箱地址",
            "该账号名已被使用",
        ):
            assert message in response.text
        db.expire_all()
        assert db.scalar(select(func.count()).select_from(Organisation)) == 2

    def test_welcome_email_link_sets_the_password_and_sign_in_works(
        self,
        client: TestClient,
        other_client: TestClient,
        db: Session,
        app: FastAPI,
        session_factory: sessionmaker[Session],
    ) -> None:
        post_form(
            client, "/vendor/partners", _form("qingshan-soft", "solution_provider")
        )

        run_once(session_factory, app.state.settings)

        mail = db.scalar(
            select(MailboxMessage).where(
                MailboxMessage.recipient == "owner@qingshan-soft.example.com"
            )
        )
        assert mail is not None
        assert mail.subject == "欢迎使用伙伴中心"
        assert "qingshan-soft" in mail.body
        match = re.search(r"http://testserver(/password/reset/\S+)", mail.body)
        assert match
        link = match.group(1)
        db.rollback()  # SQLite: let the requests below take the write lock
        token = csrf_from(other_client, link)
        response = other_client.post(
            link,
            data={
                "new_password": "Green-Hill-2026",
                "confirm_password": "Green-Hill-2026",
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        sign_in(other_client, "qingshan-soft", "Green-Hill-2026")
        console = other_client.get("/console")
        assert console.status_code == 200
        assert "Qingshan-Soft Ltd." in console.text


@pytest.mark.usefixtures("vendor_admin")
class TestPartnerList:
    def test_list_shows_type_region_distributor_main_account_and_members(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        factories.member(db, reseller.organisation)
        db.commit()

        page = client.get("/vendor/partners")

        assert page.status_code == 200
        row = next(
            part
            for part in page.text.split('data-testid="partner-row"')[1:]
            if reseller.organisation.account_name in part
        )
        assert "云经销商" in row
        assert "中国内地" in row
        assert distributor.organisation.display_name in row
        assert reseller.admin.email in row
        assert "<td>2</td>" in row
        assert "有效" in row

    def test_search_and_filters_narrow_the_list(
        self, client: TestClient, db: Session
    ) -> None:
        provider = factories.partner(db, PartnerType.SOLUTION_PROVIDER, region="CN")
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR, region="SG")
        db.commit()
        provider_name = provider.organisation.account_name
        distributor_name = distributor.organisation.account_name

        by_type = client.get("/vendor/partners", params={"type": "distributor"})
        by_region = client.get("/vendor/partners", params={"region": "CN"})
        by_name = client.get("/vendor/partners", params={"q": provider_name.upper()})

        assert distributor_name in by_type.text
        assert provider_name not in by_type.text
        assert provider_name in by_region.text
        assert distributor_name not in by_region.text
        assert provider_name in by_name.text
        assert distributor_name not in by_name.text

    def test_inactive_filter_shows_only_deactivated_partners(
        self, client: TestClient, db: Session
    ) -> None:
        active = factories.partner(db)
        inactive = factories.partner(db)
        inactive.organisation.is_active = False
        db.commit()

        page = client.get("/vendor/partners", params={"status": "inactive"})

        assert inactive.organisation.account_name in page.text
        assert active.organisation.account_name not in page.text


@pytest.mark.usefixtures("vendor_admin")
class TestPartnerDetail:
    def test_distributor_page_shows_resellers_members_and_recent_events(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        specialist = factories.member(db, distributor.organisation)
        db.commit()

        page = client.get(f"/vendor/partners/{distributor.organisation.id}")

        assert page.status_code == 200
        assert reseller.organisation.display_name in page.text
        assert specialist.display_name in page.text
        assert "项目专员" in page.text
        assert "伙伴管理员" in page.text
        assert "组织已创建" in page.text

    def test_unknown_partner_is_not_found(self, client: TestClient) -> None:
        assert client.get("/vendor/partners/0123456789abcdef").status_code == 404


@pytest.mark.usefixtures("vendor_admin")
class TestChangePartner:
    def _change(
        self, client: TestClient, partner: Organisation, **fields: str
    ) -> Response:
        data = {
            "display_name": partner.display_name,
            "partner_type": str(partner.partner_type),
            "country_region": partner.country_region or "",
            "distributor_id": partner.parent_id or "",
        }
        return post_form(client, f"/vendor/partners/{partner.id}", {**data, **fields})

    def test_distributor_with_resellers_cannot_change_its_type(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        factories.partner(db, PartnerType.RESELLER, parent=distributor.organisation)
        db.commit()

        response = self._change(
            client, distributor.organisation, partner_type="solution_provider"
        )

        assert response.status_code == 400
        assert "请先将它们转到其他总经销商" in response.text
        db.expire_all()
        assert distributor.organisation.partner_type is PartnerType.DISTRIBUTOR

    def test_distributor_with_resellers_cannot_change_its_region(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        factories.partner(db, PartnerType.RESELLER, parent=distributor.organisation)
        db.commit()

        response = self._change(client, distributor.organisation, country_region="HK")

        assert response.status_code == 400
        db.expire_all()
        assert distributor.organisation.country_region == "CN"

    def test_distributor_without_resellers_becomes_a_solution_provider(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        db.commit()

        response = self._change(
            client, distributor.organisation, partner_type="solution_provider"
        )

        assert response.status_code == 303
        db.expire_all()
        assert distributor.organisation.partner_type is PartnerType.SOLUTION_PROVIDER
        [event] = _events(db, "partner.updated", distributor.organisation.id)
        assert event.before == {"partner_type": "distributor"}
        assert event.after == {"partner_type": "solution_provider"}

    def test_vendor_moves_a_reseller_to_another_distributor(
        self, client: TestClient, db: Session
    ) -> None:
        first = factories.partner(db, PartnerType.DISTRIBUTOR)
        second = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=first.organisation
        )
        db.commit()

        response = self._change(
            client, reseller.organisation, distributor_id=second.organisation.id
        )

        assert response.status_code == 303
        db.expire_all()
        assert reseller.organisation.parent_id == second.organisation.id
        [event] = _events(db, "partner.updated", reseller.organisation.id)
        assert event.before == {"distributor": first.organisation.account_name}
        assert event.after == {"distributor": second.organisation.account_name}

    def test_a_reseller_always_keeps_one_distributor(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        db.commit()

        response = self._change(client, reseller.organisation, distributor_id="")

        assert response.status_code == 400
        db.expire_all()
        assert reseller.organisation.parent_id == distributor.organisation.id

    def test_a_reseller_that_becomes_a_solution_provider_leaves_its_distributor(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        db.commit()

        response = self._change(
            client, reseller.organisation, partner_type="solution_provider"
        )

        assert response.status_code == 303
        db.expire_all()
        assert reseller.organisation.parent_id is None
        assert reseller.organisation.partner_type is PartnerType.SOLUTION_PROVIDER

    def test_saving_without_changes_writes_no_event(
        self, client: TestClient, db: Session
    ) -> None:
        provider = factories.partner(db)
        db.commit()

        response = self._change(client, provider.organisation)

        assert response.status_code == 303
        assert _events(db, "partner.updated", provider.organisation.id) == []


@pytest.mark.usefixtures("vendor_admin")
class TestDeactivatePartner:
    def test_members_of_a_deactivated_partner_cannot_act(
        self, client: TestClient, other_client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(other_client, partner.admin.account_name)
        assert other_client.get("/audit").status_code == 200

        response = post_form(
            client,
            f"/vendor/partners/{partner.organisation.id}/deactivate",
            {"reason": "Contract ended"},
        )

        assert response.status_code == 303
        console = other_client.get("/console")
        assert "已被云厂商停用" in console.text
        refused = other_client.get("/audit")
        assert refused.status_code == 403
        assert "该组织已被云厂商停用" in refused.text
        [event] = _events(db, "partner.deactivated", partner.organisation.id)
        assert event.reason == "Contract ended"

    def test_a_member_signing_in_again_still_cannot_act(
        self, client: TestClient, other_client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        post_form(
            client,
            f"/vendor/partners/{partner.organisation.id}/deactivate",
            {"reason": "Contract ended"},
        )

        sign_in(other_client, partner.admin.account_name)

        assert other_client.get("/audit").status_code == 403

    def test_deactivation_needs_a_reason(self, client: TestClient, db: Session) -> None:
        partner = factories.partner(db)
        db.commit()

        response = post_form(
            client, f"/vendor/partners/{partner.organisation.id}/deactivate", {}
        )

        assert response.status_code == 400
        assert "请说明停用该合作伙伴的原因" in response.text
        db.expire_all()
        assert partner.organisation.is_active

    def test_reactivated_partner_members_act_again(
        self, client: TestClient, other_client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        partner.organisation.is_active = False
        db.commit()
        sign_in(other_client, partner.admin.account_name)

        response = post_form(
            client, f"/vendor/partners/{partner.organisation.id}/reactivate", {}
        )

        assert response.status_code == 303
        assert other_client.get("/audit").status_code == 200
        assert _events(db, "partner.reactivated", partner.organisation.id)
