"""The company profile: what a partner edits itself, and what only the vendor sets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.audit import AuditQuery
from partnercenter.core.models import AuditEvent
from partnercenter.identity.models import Organisation, PartnerType
from tests import factories
from tests.helpers import post_form, sign_in

GOOD = {
    "display_name": "Eastern Cloud Services",
    "legal_name": "Eastern Cloud Services Co., Ltd.",
    "registration_number": "91310000MA1FL0001X",
    "contact_name": "Li Hua",
    "contact_email": "Li.Hua@Example.com",
    "contact_phone": "+86 138 0000 0000",
}


def _save(client: TestClient, **changes: str) -> Response:
    return post_form(client, "/profile", {**GOOD, **changes}, form_page="/profile")


def _reloaded(db: Session, organisation: Organisation) -> Organisation:
    db.expire_all()
    fresh = db.get(Organisation, organisation.id)
    assert fresh is not None
    db.commit()  # SQLite: end the read so that the next request may write
    return fresh


def _events(db: Session, organisation: Organisation) -> list[AuditEvent]:
    events = list(
        audit.find(
            db,
            AuditQuery(
                organisation_id=organisation.id,
                action_prefix="organisation.profile_updated",
            ),
        )
    )
    db.commit()
    return events


class TestProfilePage:
    def test_vendor_set_details_are_shown_read_only(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        db.commit()
        sign_in(client, reseller.admin.account_name)

        page = client.get("/profile")

        assert page.status_code == 200
        assert "由云厂商设定" in page.text
        assert "云经销商" in page.text
        assert "中国 (CN)" in page.text
        assert distributor.organisation.display_name in page.text
        for vendor_field in ("partner_type", "country_region", "parent_id"):
            assert f'name="{vendor_field}"' not in page.text

    def test_a_member_who_may_only_view_sees_no_form(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        sign_in(client, specialist.account_name)

        page = client.get("/profile")
        response = _save(client)

        assert page.status_code == 200
        assert "保存企业信息" not in page.text
        assert response.status_code == 403
        assert _reloaded(db, partner.organisation).legal_name is None


class TestSaveProfile:
    def test_saving_updates_the_company_and_audits_what_changed(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        old_name = partner.organisation.display_name
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _save(client)

        assert response.status_code == 303
        assert "企业信息已保存" in client.get("/profile").text
        saved = _reloaded(db, partner.organisation)
        assert saved.display_name == "Eastern Cloud Services"
        assert saved.contact_email == "li.hua@example.com"
        assert saved.contact_phone == "+8613800000000"
        [event] = _events(db, partner.organisation)
        assert event.actor_user_id == partner.admin.id
        assert event.before is not None
        assert event.after is not None
        assert event.before["display_name"] == old_name
        assert event.after["legal_name"] == GOOD["legal_name"]
        assert set(event.after) == set(GOOD)

    @pytest.mark.postgresql_only
    def test_a_nul_character_is_refused_and_nothing_is_saved(
        self, client: TestClient, db: Session
    ) -> None:
        # PostgreSQL cannot store it; the form is refused instead of failing with a 500.
        partner = factories.partner(db)
        old_name = partner.organisation.display_name
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _save(client, display_name="Eastern\x00Cloud")

        assert response.status_code == 400
        assert "文本中不能包含 NUL 字符" in response.text
        assert _reloaded(db, partner.organisation).display_name == old_name
        assert _events(db, partner.organisation) == []

    def test_saving_without_changes_audits_nothing(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)
        _save(client)

        response = _save(client)

        assert response.status_code == 303
        assert len(_events(db, partner.organisation)) == 1

    def test_every_problem_is_reported_at_once_in_chinese(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _save(
            client,
            display_name=" ",
            legal_name="",
            registration_number="12",
            contact_email="not-an-address",
            contact_phone="call me",
            contact_name="x" * 101,
        )

        assert response.status_code == 400
        for message in (
            "请填写显示名称",
            "请填写法人实体名称",
            "注册号由 5 到 64 个字母",
            "这不是有效的邮箱地址",
            "这不是有效的手机号码",
            "最多 100 个字符",
        ):
            assert message in response.text
        assert 'value="call me"' in response.text
        assert _reloaded(db, partner.organisation).legal_name is None
        assert _events(db, partner.organisation) == []

    def test_vendor_set_details_cannot_be_changed_through_the_form(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = _save(client, partner_type="distributor", country_region="US")

        assert response.status_code == 303
        saved = _reloaded(db, partner.organisation)
        assert saved.partner_type is PartnerType.SOLUTION_PROVIDER
        assert saved.country_region == "CN"
