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
from partnercenter.customers import service as customers
from partnercenter.customers.changes import records
from partnercenter.customers.changes.records import RecordQuery
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
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

    def test_a_distributor_sees_nothing_of_its_resellers(self, db: Session) -> None:
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        factories.associated_customer(db, reseller.organisation)

        found = records.find(db, _actor(db, distributor), RecordQuery())

        assert found.total == 0

    def test_an_account_manager_may_not_read_every_record(self, db: Session) -> None:
        partner = factories.partner(db)
        manager = factories.member(db, partner.organisation, "account_manager")

        with pytest.raises(Forbidden):
            records.find(
                db,
                identity.actor_for(db, manager, partner.organisation.id),
                RecordQuery(),
            )

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
