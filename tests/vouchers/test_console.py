"""The voucher pages, in both languages: the vendor grants and freezes quotas, the partner
issues, lists and reclaims, the distributor shares a quota, the customer sees its vouchers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.clock import FrozenClock
from partnercenter.core.i18n import translator
from partnercenter.customers.models import AssociationMode
from partnercenter.identity.models import Organisation, PartnerType, User
from partnercenter.vouchers import errors
from partnercenter.vouchers.models import Voucher, VoucherQuota, VoucherStatus
from tests import factories
from tests.helpers import post_form, sign_in
from tests.vouchers.world import World, world

LOCALES = ["zh-CN", "en"]


def text(locale: str, english: str, **params: object) -> str:
    message = translator(locale).gettext(english)
    return str(escape(message % params if params else message))


@pytest.fixture
def w(db: Session, clock: FrozenClock) -> World:
    made = world(db)
    db.commit()
    return made


def _as(client: TestClient, user: User, locale: str) -> None:
    client.cookies.set("pc_lang", locale)
    sign_in(client, user.account_name)


def _owner(db: Session, customer_id: str) -> User:
    organisation = db.get(Organisation, customer_id)
    assert organisation is not None
    user = db.get(User, organisation.main_user_id)
    assert user is not None
    return user


@pytest.mark.parametrize("locale", LOCALES)
class TestVendorPages:
    def test_vendor_grants_and_freezes_a_quota(
        self, client: TestClient, db: Session, w: World, locale: str
    ) -> None:
        _as(client, w.vendor.admin, locale)
        form = client.get("/vendor/vouchers/grant")
        assert form.status_code == 200
        assert text(locale, "Grant a voucher quota") in form.text

        response = post_form(
            client,
            "/vendor/vouchers/grant",
            {
                "partner_id": w.partner.organisation.id,
                "amount": "1000",
                "effective_date": "2026-03-01",
                "expire_date": "2026-05-31",
                "min_face_value": "1",
                "max_face_value": "200",
                "max_vouchers": "50",
                "service_types": "hws.service.type.ec2, hws.service.type.obs",
            },
        )

        assert response.status_code == 303
        quota = db.scalars(select(VoucherQuota)).one()
        assert (quota.amount, quota.max_face_value, quota.service_types) == (
            100_000,
            20_000,
            ["hws.service.type.ec2", "hws.service.type.obs"],
        )
        quota_id = quota.id
        db.rollback()  # SQLite: the test's reads must not hold the write lock
        listing = client.get("/vendor/vouchers")
        assert quota_id in listing.text
        assert text(locale, "Effective") in listing.text
        post_form(client, f"/vendor/vouchers/{quota_id}/freeze", {})
        assert text(locale, "Frozen") in client.get("/vendor/vouchers").text

    def test_bad_terms_show_every_problem_in_the_readers_language(
        self, client: TestClient, w: World, locale: str
    ) -> None:
        _as(client, w.vendor.admin, locale)

        response = post_form(
            client,
            "/vendor/vouchers/grant",
            {
                "partner_id": w.partner.organisation.id,
                "amount": "abc",
                "effective_date": "2026-03-01",
                "expire_date": "",
                "min_face_value": "1",
                "max_face_value": "2",
                "max_vouchers": "x",
            },
        )

        assert response.status_code == 400
        assert text(locale, "Enter a date as YYYY-MM-DD.") in response.text
        assert (
            text(locale, "Enter a number of vouchers from 1 to 1,000,000.")
            in response.text
        )

    def test_a_partner_cannot_open_the_vendors_page(
        self, client: TestClient, w: World, locale: str
    ) -> None:
        _as(client, w.partner.admin, locale)
        assert client.get("/vendor/vouchers").status_code == 403


@pytest.mark.parametrize("locale", LOCALES)
class TestPartnerPages:
    def test_issue_with_a_refusal_then_list_and_reclaim(
        self, client: TestClient, db: Session, w: World, locale: str
    ) -> None:
        quota_id = w.quota()
        resale = w.customer()
        consulting = w.customer(AssociationMode.CONSULTING)
        db.commit()
        _as(client, w.partner.admin, locale)
        assert text(locale, "Your voucher quotas") in client.get("/vouchers").text
        assert resale in client.get("/vouchers/issue").text

        partial = post_form(
            client,
            "/vouchers/issue",
            {
                "quota_id": quota_id,
                "customer_ids": [resale],
                "pasted": consulting,
                "face_value": "25.50",
                "memo": "welcome",
            },
        )

        assert partial.status_code == 200
        assert text(locale, errors.REFUSALS[errors.CONSULTING_CUSTOMER]) in partial.text
        voucher = db.scalars(select(Voucher)).one()
        assert (voucher.customer_id, voucher.face_value) == (resale, 2_550)
        voucher_id = voucher.id
        db.rollback()
        listing = client.get("/vouchers/issued", params={"state": "usable"})
        assert voucher_id in listing.text
        assert text(locale, "Usable") in listing.text

        reclaimed = post_form(client, f"/vouchers/{voucher_id}/reclaim", {})

        assert reclaimed.status_code == 303
        assert db.get(Voucher, voucher_id).status is VoucherStatus.RECLAIMED  # type: ignore[union-attr]
        db.rollback()
        after = client.get(reclaimed.headers["location"])
        assert text(locale, "Reclaimed") in after.text

    def test_an_all_good_issue_goes_to_the_list(
        self, client: TestClient, db: Session, w: World, locale: str
    ) -> None:
        quota_id = w.quota()
        resale = w.customer()
        db.commit()
        _as(client, w.partner.admin, locale)

        response = post_form(
            client,
            "/vouchers/issue",
            {"quota_id": quota_id, "pasted": resale, "face_value": "10"},
        )

        assert response.status_code == 303
        assert response.headers["location"] == "/vouchers/issued"

    def test_a_face_value_that_cannot_be_read_is_shown_on_the_form(
        self, client: TestClient, db: Session, w: World, locale: str
    ) -> None:
        quota_id = w.quota()
        resale = w.customer()
        db.commit()
        _as(client, w.partner.admin, locale)

        response = post_form(
            client,
            "/vouchers/issue",
            {"quota_id": quota_id, "pasted": resale, "face_value": "1.234"},
        )

        assert response.status_code == 400
        assert db.scalars(select(Voucher)).all() == []
        db.rollback()

    def test_another_partners_vouchers_do_not_show(
        self, client: TestClient, db: Session, w: World, locale: str
    ) -> None:
        voucher_id = w.one(w.quota(), w.customer())
        other = factories.partner(db)
        db.commit()
        _as(client, other.admin, locale)

        assert voucher_id not in client.get("/vouchers/issued").text
        assert (
            post_form(client, f"/vouchers/{voucher_id}/reclaim", {}).status_code == 303
        )
        db.expire_all()
        assert db.get(Voucher, voucher_id).status is VoucherStatus.ACTIVE  # type: ignore[union-attr]

    def test_a_distributor_grants_to_its_reseller_and_reclaims(
        self, client: TestClient, db: Session, clock: FrozenClock, locale: str
    ) -> None:
        made = world(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=made.partner.organisation
        )
        quota_id = made.quota()
        db.commit()
        _as(client, made.partner.admin, locale)
        assert (
            text(locale, "Quotas granted to your resellers")
            in client.get("/vouchers").text
        )

        granted = post_form(
            client,
            f"/vouchers/quotas/{quota_id}/grant",
            {"reseller_id": reseller.organisation.id, "amount": "300"},
        )

        assert granted.status_code == 303
        child = db.scalars(
            select(VoucherQuota).where(VoucherQuota.parent_id == quota_id)
        ).one()
        assert (child.organisation_id, child.amount) == (
            reseller.organisation.id,
            30_000,
        )
        child_id = child.id
        db.rollback()
        post_form(client, f"/vouchers/quotas/{child_id}/reclaim", {})
        assert db.get(VoucherQuota, quota_id).balance == 100_000  # type: ignore[union-attr]


@pytest.mark.parametrize("locale", LOCALES)
class TestCustomerPage:
    def test_the_customer_sees_its_vouchers_and_not_the_partners_pages(
        self, client: TestClient, db: Session, w: World, locale: str
    ) -> None:
        customer = w.customer()
        voucher_id = w.one(w.quota(), customer, face_value=1_234)
        owner = _owner(db, customer)
        db.commit()
        _as(client, owner, locale)

        page = client.get("/my-vouchers")

        assert page.status_code == 200
        assert voucher_id in page.text
        assert text(locale, "My vouchers") in page.text
        assert text(locale, "Usable") in page.text
        assert client.get("/vouchers").status_code == 403
