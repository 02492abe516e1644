"""The audit log page and its CSV export: who sees which events, filters, pages, rows."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.identity import credentials
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, PartnerType, User
from tests import factories
from tests.helpers import sign_in


def _record(
    db: Session,
    organisation: Organisation,
    action: str,
    subject_id: str,
    *,
    actor: Actor = SYSTEM,
    subject_type: str = "invitation",
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
    reason: str | None = None,
) -> None:
    audit.record(
        db,
        actor,
        action,
        subject_type=subject_type,
        subject_id=subject_id,
        organisation_id=organisation.id,
        before=before,
        after=after,
        reason=reason,
    )


def _actor(db: Session, user: User, organisation: Organisation) -> Actor:
    return identity.actor_for(db, user, organisation.id, request_id="req-0042")


def _rows(html: str) -> int:
    return html.count('data-testid="audit-row"')


@pytest.fixture
def channel(db: Session) -> tuple[factories.OrgWithAdmin, factories.OrgWithAdmin]:
    """Two partners, A and B, each with an event of its own."""
    first, second = factories.partner(db), factories.partner(db)
    _record(db, first.organisation, "member.invited", "subject-of-a")
    _record(db, second.organisation, "member.invited", "subject-of-b")
    db.commit()
    return first, second


class TestWhoSeesWhat:
    def test_partner_sees_only_its_own_events(
        self,
        client: TestClient,
        channel: tuple[factories.OrgWithAdmin, factories.OrgWithAdmin],
    ) -> None:
        first, second = channel
        sign_in(client, first.admin.account_name)

        own = client.get("/audit")
        probing = client.get("/audit", params={"organisation": second.organisation.id})
        by_subject = client.get("/audit", params={"subject_id": "subject-of-b"})

        assert own.status_code == 200
        assert "subject-of-a" in own.text
        assert "subject-of-b" not in own.text
        assert "subject-of-a" in probing.text
        assert "subject-of-b" not in probing.text
        # The probed id comes back only in the language switch's return address, which
        # repeats the caller's own query.
        shown = probing.text.replace(
            f"/audit?organisation={second.organisation.id}", ""
        )
        assert second.organisation.id not in shown
        assert _rows(by_subject.text) == 0

    def test_vendor_sees_every_organisation_and_can_narrow_to_one(
        self,
        client: TestClient,
        db: Session,
        channel: tuple[factories.OrgWithAdmin, factories.OrgWithAdmin],
    ) -> None:
        _first, second = channel
        vendor = factories.vendor(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)

        everything = client.get("/audit")
        narrowed = client.get(
            "/audit", params={"organisation": second.organisation.account_name}
        )

        assert "subject-of-a" in everything.text
        assert "subject-of-b" in everything.text
        assert "subject-of-a" not in narrowed.text
        assert "subject-of-b" in narrowed.text

    def test_member_without_the_audit_permission_is_refused(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        specialist = factories.member(db, partner.organisation, "project_specialist")
        db.commit()
        sign_in(client, specialist.account_name)

        assert client.get("/audit").status_code == 403
        assert client.get("/audit/export.csv").status_code == 403

    def test_customer_is_refused(self, client: TestClient, db: Session) -> None:
        customer = factories.customer(db)
        db.commit()
        sign_in(client, customer.admin.account_name)

        assert client.get("/audit").status_code == 403


class TestFilters:
    @pytest.fixture
    def vendor(self, client: TestClient, db: Session) -> factories.OrgWithAdmin:
        vendor = factories.vendor(db)
        db.commit()
        sign_in(client, vendor.admin.account_name)
        return vendor

    def test_action_prefix_keeps_matching_events(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        partner = factories.partner(db)
        _record(db, partner.organisation, "member.removed", "removed-one")
        _record(db, partner.organisation, "role.deleted", "deleted-role")
        db.commit()

        page = client.get("/audit", params={"action": "member."})

        assert "removed-one" in page.text
        assert "deleted-role" not in page.text

    def test_subject_filter_keeps_one_subject(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        partner = factories.partner(db)
        _record(db, partner.organisation, "member.invited", "wanted-subject")
        _record(db, partner.organisation, "member.invited", "other-subject")
        db.commit()

        page = client.get(
            "/audit",
            params={"subject_type": "invitation", "subject_id": "wanted-subject"},
        )

        assert _rows(page.text) == 1
        assert "wanted-subject" in page.text

    def test_actor_filter_keeps_one_persons_events(
        self, client: TestClient, db: Session, vendor: factories.OrgWithAdmin
    ) -> None:
        partner = factories.partner(db)
        actor = _actor(db, partner.admin, partner.organisation)
        _record(db, partner.organisation, "member.invited", "by-admin", actor=actor)
        _record(db, partner.organisation, "member.invited", "by-system")
        db.commit()

        page = client.get("/audit", params={"actor": partner.admin.account_name})
        unknown = client.get("/audit", params={"actor": "nobody-here"})

        assert "by-admin" in page.text
        assert "by-system" not in page.text
        assert unknown.status_code == 400
        assert "没有账号名与此完全一致的账号" in unknown.text

    def test_date_range_uses_the_display_time_zone(
        self,
        client: TestClient,
        db: Session,
        vendor: factories.OrgWithAdmin,
        clock: FrozenClock,
    ) -> None:
        partner = factories.partner(db)
        # 17:30 UTC on 1 March is 01:30 on 2 March in Shanghai.
        clock.set(clock.now().replace(day=1, hour=17, minute=30))
        _record(db, partner.organisation, "member.invited", "early-on-the-second")
        clock.move(days=-1)
        _record(db, partner.organisation, "member.invited", "on-the-first")
        db.commit()

        second = client.get("/audit", params={"from": "2026-03-02", "to": "2026-03-02"})
        first = client.get("/audit", params={"from": "2026-03-01", "to": "2026-03-01"})
        bad = client.get("/audit", params={"from": "2 March"})

        assert "early-on-the-second" in second.text
        assert "on-the-first" not in second.text
        assert "on-the-first" in first.text
        assert "early-on-the-second" not in first.text
        assert bad.status_code == 400
        assert "请按 YYYY-MM-DD 格式填写日期" in bad.text

    def test_pages_hold_fifty_events_newest_first(
        self,
        client: TestClient,
        db: Session,
        vendor: factories.OrgWithAdmin,
        clock: FrozenClock,
    ) -> None:
        partner = factories.partner(db)
        for number in range(55):
            clock.move(minutes=1)
            _record(db, partner.organisation, "member.invited", f"event-{number:02d}")
        db.commit()

        first = client.get("/audit", params={"action": "member."})
        second = client.get("/audit", params={"action": "member.", "offset": "50"})

        assert _rows(first.text) == 50
        assert first.text.index("event-54") < first.text.index("event-53")
        assert "event-04" not in first.text
        assert "offset=50" in first.text
        assert _rows(second.text) == 5
        assert "event-00" in second.text


class TestReadableRows:
    def test_row_names_the_actor_organisation_action_and_changes(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        partner = factories.partner(db, PartnerType.DISTRIBUTOR)
        actor = _actor(db, vendor.admin, vendor.organisation)
        _record(
            db,
            partner.organisation,
            "partner.updated",
            partner.organisation.id,
            actor=actor,
            subject_type="organisation",
            before={"partner_type": "distributor"},
            after={"partner_type": "solution_provider"},
        )
        _record(db, partner.organisation, "made.up_action", "raw-one", reason="Checked")
        db.commit()
        sign_in(client, vendor.admin.account_name)

        page = client.get("/audit").text

        assert f"{vendor.admin.display_name} ({vendor.admin.account_name})" in page
        assert partner.organisation.display_name in page
        assert "合作伙伴信息已变更" in page
        assert "伙伴类型: <del>总经销商</del> → <ins>解决方案提供商</ins>" in page
        assert "req-0042" in page
        assert "made.up_action" in page
        assert "系统" in page
        assert "Checked" in page

    def test_a_new_resellers_distributor_is_shown_by_account_name(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        db.commit()
        sign_in(client, vendor.admin.account_name)

        page = client.get(
            "/audit",
            params={
                "organisation": reseller.organisation.id,
                "action": "organisation.",
            },
        ).text

        assert f"总经销商: <ins>{distributor.organisation.account_name}</ins>" in page
        assert "法人实体: <ins>" not in page

    def test_an_api_key_is_shown_as_the_actor_of_its_calls(
        self, client: TestClient, db: Session, app: FastAPI
    ) -> None:
        partner = factories.partner(db)
        admin = _actor(db, partner.admin, partner.organisation)
        issued = credentials.create(
            db, app.state.secret_box, admin, partner.organisation
        )
        key_actor = Actor(
            organisation_id=partner.organisation.id,
            organisation_kind="solution_provider",
            permissions=frozenset(),
            credential_id=issued.credential.id,
        )
        _record(db, partner.organisation, "member.invited", "by-key", actor=key_actor)
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get("/audit", params={"subject_id": "by-key"}).text

        assert f"API 密钥 {issued.credential.access_key}" in page


class TestExport:
    def test_csv_has_a_byte_order_mark_a_header_and_the_filtered_rows(
        self,
        client: TestClient,
        channel: tuple[factories.OrgWithAdmin, factories.OrgWithAdmin],
    ) -> None:
        first, _second = channel
        sign_in(client, first.admin.account_name)

        response = client.get("/audit/export.csv", params={"action": "member."})

        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["content-disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == [
            "时间",
            "操作人",
            "组织",
            "操作",
            "对象",
            "原因",
            "变更内容",
            "请求 ID",
        ]
        assert len(rows) == 2
        assert rows[1][3] == "已邀请成员"
        assert rows[1][4] == "邀请 subject-of-a"

    def test_export_holds_every_matching_row_not_only_one_page(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        for number in range(60):
            _record(db, partner.organisation, "member.invited", f"row-{number}")
        db.commit()
        sign_in(client, partner.admin.account_name)

        response = client.get(
            "/audit/export.csv", params={"action": "member.", "offset": "50"}
        )

        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(rows) == 61
