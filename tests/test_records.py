"""The association records: what each side may read, the filters, paging and the export."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.clock import FrozenClock
from partnercenter.core.errors import Forbidden
from partnercenter.core.i18n import translator
from partnercenter.customers import assignments, tiers
from partnercenter.customers import service as customers
from partnercenter.customers.changes import records
from partnercenter.customers.changes.records import RecordQuery
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
from partnercenter.identity.permissions import Permission
from tests import factories
from tests.factories import OrgWithAdmin
from tests.helpers import sign_in


def _actor(db: Session, who: OrgWithAdmin) -> Actor:
    return identity.actor_for(db, who.admin, who.organisation.id)


def _note(
    db: Session, partner_id: str, customer_id: str, kind: str, outcome: str
) -> None:
    customers.write_record(
        db,
        SYSTEM,
        kind=kind,
        outcome=outcome,
        partner_id=partner_id,
        customer_id=customer_id,
        actor_party="system",
    )
    db.flush()


class TestFind:
    def test_a_partner_reads_its_own_rows_newest_first(
        self, db: Session, clock: FrozenClock
    ) -> None:
        partner, other = factories.partner(db), factories.partner(db)
        first = factories.associated_customer(db, partner.organisation)
        clock.move(hours=1)
        second = factories.associated_customer(db, partner.organisation)
        factories.associated_customer(db, other.organisation)

        found = records.find(db, _actor(db, partner), RecordQuery())

        assert found.total == 2
        assert [row.customer_id for row in found.rows] == [
            second.organisation.id,
            first.organisation.id,
        ]

    def test_filters_by_customer_kind_outcome_and_time(
        self, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        customer = factories.associated_customer(db, partner.organisation)
        other = factories.associated_customer(db, partner.organisation)
        clock.move(days=2)
        _note(
            db,
            partner.organisation.id,
            customer.organisation.id,
            "disassociated",
            "refused",
        )
        actor = _actor(db, partner)
        now = clock.now()

        def ids(**filters: object) -> list[str | None]:
            rows = records.find(db, actor, RecordQuery(**filters)).rows  # type: ignore[arg-type]
            return [f"{row.customer_id}:{row.kind}" for row in rows]

        mine, theirs = customer.organisation.id, other.organisation.id
        assert ids(customer_id=theirs) == [f"{theirs}:associated"]
        assert ids(kind="disassociated") == [f"{mine}:disassociated"]
        assert ids(outcome="refused") == [f"{mine}:disassociated"]
        assert ids(since=now) == [f"{mine}:disassociated"]
        assert sorted(ids(until=now)) == sorted(
            [f"{mine}:associated", f"{theirs}:associated"]
        )

    def test_pages_of_records(self, db: Session) -> None:
        partner = factories.partner(db)
        for _ in range(3):
            factories.associated_customer(db, partner.organisation)
        actor = _actor(db, partner)

        first = records.find(db, actor, RecordQuery(limit=2))
        rest = records.find(db, actor, RecordQuery(offset=2, limit=2))

        assert (first.total, len(first.rows), len(rest.rows)) == (3, 2, 1)
        assert {r.id for r in first.rows}.isdisjoint({r.id for r in rest.rows})

    def test_a_customer_reads_only_its_own_rows(self, db: Session) -> None:
        partner = factories.partner(db)
        customer = factories.associated_customer(db, partner.organisation)
        factories.associated_customer(db, partner.organisation)

        found = records.find(db, _actor(db, customer), RecordQuery())

        assert [row.customer_id for row in found.rows] == [customer.organisation.id]

    def test_a_distributor_reads_its_resellers_rows_only_while_they_consent(
        self, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        elsewhere = factories.partner(db, PartnerType.DISTRIBUTOR)
        stranger = factories.partner(
            db, PartnerType.RESELLER, parent=elsewhere.organisation
        )
        customer = factories.associated_customer(db, reseller.organisation)
        factories.associated_customer(db, stranger.organisation)
        reader = _actor(db, distributor)

        tiers.accept_notice(db, _actor(db, stranger))
        before = records.find(db, reader, RecordQuery())
        notice = tiers.accept_notice(db, _actor(db, reseller))
        db.flush()
        consenting = records.find(db, reader, RecordQuery())
        tiers.revoke_notice(db, _actor(db, reseller))
        db.flush()
        revoked = records.find(db, reader, RecordQuery())

        assert notice.revoked_at is not None
        assert before.total == 0
        assert {row.customer_id for row in consenting.rows} == {
            customer.organisation.id
        }
        assert revoked.total == 0

    def test_an_account_manager_reads_only_its_assigned_customers(
        self, db: Session
    ) -> None:
        partner = factories.partner(db)
        mine = factories.associated_customer(db, partner.organisation)
        factories.associated_customer(db, partner.organisation)
        manager = factories.member(db, partner.organisation, "account_manager")
        assignments.assign_account_manager(
            db, _actor(db, partner), [mine.organisation.id], manager.id
        )
        db.flush()

        found = records.find(
            db, identity.actor_for(db, manager, partner.organisation.id), RecordQuery()
        )

        assert found.total >= 1
        assert {row.customer_id for row in found.rows} == {mine.organisation.id}

    def test_a_member_who_sees_no_customers_reads_no_records(self, db: Session) -> None:
        partner = factories.partner(db)
        factories.associated_customer(db, partner.organisation)
        # A custom role with the members page only.
        member = Actor(
            organisation_id=partner.organisation.id,
            organisation_kind="solution_provider",
            permissions=frozenset({Permission.MEMBERS_VIEW}),
        )

        with pytest.raises(Forbidden):
            records.find(db, member, RecordQuery())

    def test_vendor_staff_read_every_partner_and_may_pick_one(
        self, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        first, second = factories.partner(db), factories.partner(db)
        one = factories.associated_customer(db, first.organisation)
        other = factories.associated_customer(db, second.organisation)
        staff = _actor(db, vendor)

        everything = records.find(db, staff, RecordQuery())
        picked = records.find(db, staff, RecordQuery(partner_id=first.organisation.id))

        assert {row.customer_id for row in everything.rows} == {
            one.organisation.id,
            other.organisation.id,
        }
        assert [row.customer_id for row in picked.rows] == [one.organisation.id]
        assert records.get(db, staff, picked.rows[0].id).id == picked.rows[0].id

    def test_vendor_staff_without_the_partner_view_read_nothing(
        self, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        nobody = Actor(
            organisation_id=vendor.organisation.id,
            organisation_kind="vendor",
            permissions=frozenset(),
        )

        with pytest.raises(Forbidden):
            records.find(db, nobody, RecordQuery())

    def test_the_export_is_headed_in_the_readers_language(self, db: Session) -> None:
        partner = factories.partner(db)
        customer = factories.associated_customer(db, partner.organisation)

        text = records.export_csv(
            db,
            _actor(db, partner),
            RecordQuery(),
            translator("zh-CN"),
            timezone="Asia/Shanghai",
        )

        heading, row = text.splitlines()
        assert heading.startswith("时间,客户,客户 ID,合作伙伴,操作,结果")
        assert customer.organisation.display_name in row
        assert ",成功,,代售,系统," in row


class TestRecordsPage:
    def test_the_partner_filters_and_downloads_its_records(
        self, client: TestClient, db: Session, clock: FrozenClock
    ) -> None:
        partner = factories.partner(db)
        kept = factories.associated_customer(db, partner.organisation)
        clock.move(days=3)
        later = factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, partner.admin.account_name)

        day = (clock.now() - dt.timedelta(days=1)).date().isoformat()
        page = client.get("/customers/records", params={"until": day})
        export = client.get("/customers/records/export.csv", params={"until": day})

        assert kept.organisation.display_name in page.text
        assert later.organisation.display_name not in page.text
        assert export.content.startswith("\ufeff".encode())
        assert later.organisation.display_name not in export.content.decode()

    def test_a_bad_date_is_reported_in_chinese(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        db.commit()
        sign_in(client, partner.admin.account_name)

        page = client.get("/customers/records", params={"since": "yesterday"})

        assert "请按 YYYY-MM-DD 格式填写日期。" in page.text

    def test_vendor_staff_pick_a_partner_and_download_its_records(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        first, second = factories.partner(db), factories.partner(db)
        shown = factories.associated_customer(db, first.organisation)
        hidden = factories.associated_customer(db, second.organisation)
        db.commit()
        sign_in(client, vendor.admin.account_name)
        client.cookies.set("pc_lang", "en")

        page = client.get(
            "/vendor/association-records", params={"partner": first.organisation.id}
        )
        export = client.get(
            "/vendor/association-records/export.csv",
            params={"partner": first.organisation.id},
        )
        partner_page = client.get(f"/vendor/partners/{first.organisation.id}")

        assert page.status_code == 200
        assert "Association records" in page.text
        assert shown.organisation.display_name in page.text
        assert first.organisation.display_name in page.text
        assert hidden.organisation.display_name not in page.text
        text = export.content.decode("utf-8-sig")
        assert shown.organisation.display_name in text
        assert hidden.organisation.display_name not in text
        assert (
            f"/vendor/association-records?partner={first.organisation.id}"
            in partner_page.text
        )
        # The language switch comes back to the same filtered page.
        assert (
            'name="next" value="/vendor/association-records?partner='
            f'{first.organisation.id}"' in page.text
        )

    def test_the_vendor_page_speaks_chinese_and_refuses_partners(
        self, client: TestClient, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        partner = factories.partner(db)
        factories.associated_customer(db, partner.organisation)
        db.commit()
        sign_in(client, vendor.admin.account_name)

        page = client.get("/vendor/association-records", params={"since": "soon"})

        assert page.status_code == 400
        assert "关联关系操作记录" in page.text
        assert "请按 YYYY-MM-DD 格式填写日期。" in page.text
        client.cookies.clear()
        sign_in(client, partner.admin.account_name)
        assert client.get("/vendor/association-records").status_code == 403

    def test_an_account_manager_sees_its_customers_records_in_the_console(
        self, client: TestClient, db: Session
    ) -> None:
        partner = factories.partner(db)
        mine = factories.associated_customer(db, partner.organisation)
        theirs = factories.associated_customer(db, partner.organisation)
        manager = factories.member(db, partner.organisation, "account_manager")
        assignments.assign_account_manager(
            db,
            identity.actor_for(db, partner.admin, partner.organisation.id),
            [mine.organisation.id],
            manager.id,
        )
        db.commit()
        sign_in(client, manager.account_name)

        page = client.get("/customers/records")

        assert page.status_code == 200
        assert mine.organisation.display_name in page.text
        assert theirs.organisation.display_name not in page.text

    def test_a_distributor_reads_a_consenting_resellers_records_by_reseller(
        self, client: TestClient, db: Session
    ) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        customer = factories.associated_customer(db, reseller.organisation)
        tiers.accept_notice(db, _actor(db, reseller))
        db.commit()
        sign_in(client, distributor.admin.account_name)
        client.cookies.set("pc_lang", "en")

        page = client.get(
            "/customers/records", params={"partner": reseller.organisation.id}
        )
        other = client.get("/customers/records", params={"partner": "someone-else"})

        assert page.status_code == 200
        assert 'name="partner"' in page.text
        assert customer.organisation.display_name in page.text
        assert reseller.organisation.display_name in page.text
        assert customer.organisation.display_name not in other.text
