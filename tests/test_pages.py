"""Every console page renders in both languages, and nothing English shows through in Chinese.

The route table is read from the application, so a new page without an entry here fails the
suite until it is added.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.i18n import catalogue_files
from partnercenter.core.models import Notification
from partnercenter.customers.changes import service as changes
from partnercenter.customers.intake import invitations, registrations
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType, User
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import batches, withdrawals
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import TransferKind, WithdrawalMethod
from partnercenter.members import service as members
from partnercenter.opportunities import service as opportunities
from partnercenter.vouchers import service as vouchers
from partnercenter.web.views import router as console_router
from tests import factories
from tests.helpers import sign_in
from tests.opportunities.desk import complete_form
from tests.signing import api_key

# A run of three or more English words is a sentence someone forgot to translate.
_ENGLISH_PHRASE = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){2,}\b")
_VISIBLE_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag in ("script", "style", "pre", "code"):
            self._skip += 1
        for name in _VISIBLE_ATTRIBUTES:
            if values.get(name):
                self.chunks.append(values[name] or "")
        if (
            tag == "input"
            and values.get("type") in ("submit", "button")
            and values.get("value")
        ):
            self.chunks.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "pre", "code") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append(data.strip())


def _english_sources() -> set[str]:
    from babel.messages.pofile import read_po

    sources: set[str] = set()
    for path in catalogue_files("zh-CN"):
        with path.open("rb") as handle:
            for message in read_po(handle):
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                sources.update(i for i in ids if i and "%(" not in i)
    return sources


@dataclass
class World:
    """One of everything a page can show, and who may see each page."""

    paths: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Route template → (account that signs in, concrete path)."""
    data_values: set[str] = field(default_factory=set)


def console_get_routes() -> list[str]:
    found: list[str] = []

    def walk(router: APIRouter) -> None:
        for route in router.routes:
            if isinstance(route, APIRoute):
                if "GET" in route.methods:
                    found.append(route.path)
            elif hasattr(route, "original_router"):
                walk(route.original_router)

    walk(console_router)
    return found


def _actor(db: Session, user: User, organisation_id: str) -> Actor:
    return identity.actor_for(db, user, organisation_id)


@pytest.fixture
def world(app: FastAPI, db: Session) -> World:
    vendor = factories.vendor(db)
    distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
    reseller = factories.partner(
        db, PartnerType.RESELLER, parent=distributor.organisation
    )
    provider = factories.partner(db)
    specialist = factories.member(db, provider.organisation, "project_specialist")
    customer = factories.customer(db)
    served = factories.associated_customer(db, provider.organisation).organisation
    leaving = factories.associated_customer(db, provider.organisation)
    changes.request_disassociation(
        db, _actor(db, leaving.admin, leaving.organisation.id), app.state.settings
    )
    candidate = factories.user(db)
    admin_actor = _actor(db, provider.admin, provider.organisation.id)
    role = identity.create_custom_role(
        db,
        admin_actor,
        name="Pre-sales",
        description="Sees opportunities",
        permissions=[Permission.OPPORTUNITIES_VIEW],
    )
    key = api_key(app, db, provider.organisation)
    members.invite(
        db,
        admin_actor,
        app.state.settings,
        identifier_kind="account_name",
        identifier=candidate.account_name,
        roles=["account_manager"],
    )
    db.flush()
    notice = db.scalars(
        select(Notification).where(Notification.user_id == candidate.id)
    ).one()
    membership = identity.active_membership(db, specialist.id, provider.organisation.id)
    assert membership is not None
    reset_token = "not-a-real-token"
    registrations.register(
        db, admin_actor, prospect_name="Lanting", email="lead@example.com", phone=None
    )
    intake_link = invitations.create_link(db, admin_actor, mode="resale", tag="Expo")
    # Vendor finance's pages and the partner's withdrawals: money on every page.
    finance = _actor(db, vendor.admin, vendor.organisation.id)
    provider.organisation.legal_name = "示例科技有限公司"
    ledger.record_topup(
        db, finance, partner_id=provider.organisation.id, amount=1000_00, reference="R1"
    )
    ledger.set_credit_limit(db, finance, partner_id=provider.organisation.id, amount=1)
    ledger.record_recharge(db, finance, customer_id=customer.organisation.id, amount=5)
    ledger.post_charges(db, finance, [ledger.Charge("BILL-1", served.id, 3)])
    withdrawal = withdrawals.request(
        db,
        admin_actor,
        app.state.secret_box,
        amount=100_00,
        method=WithdrawalMethod.BANK,
        bank_holder="示例科技有限公司",
        bank_name="工商银行",
        bank_account="6222020012345678",
    )
    # The partner's funds pages and the customer's own funds: an allocation, a batch.
    funds_clerk = _actor(db, vendor.admin, vendor.organisation.id)
    ledger.record_topup(
        db, funds_clerk, partner_id=distributor.organisation.id, amount=300_00
    )
    ledger.allocate_to_reseller(
        db,
        _actor(db, distributor.admin, distributor.organisation.id),
        reseller_id=reseller.organisation.id,
        amount=100_00,
    )
    funded = factories.associated_customer(db, provider.organisation)
    ledger.record_topup(
        db, funds_clerk, partner_id=provider.organisation.id, amount=500_00
    )
    ledger.allocate(
        db, admin_actor, customer_id=funded.organisation.id, amount=50_00, reason="Q1"
    )
    funds_batch = batches.create(
        db,
        admin_actor,
        kind=TransferKind.ALLOCATE,
        items=[(funded.organisation.id, 1_00), ("unknown-customer", 0)],
    )
    # Vouchers: a quota for the partner, one handed on by the distributor, a voucher.
    voucher_quota = vouchers.grant_quota(
        db,
        finance,
        partner_id=provider.organisation.id,
        terms=vouchers.QuotaTerms(
            amount=1000_00,
            effective_time=utc_now() - dt.timedelta(days=1),
            expire_time=utc_now() + dt.timedelta(days=30),
            min_face_value=1_00,
            max_face_value=100_00,
            max_vouchers=10,
        ),
    )
    vouchers.issue(
        db,
        admin_actor,
        quota_id=voucher_quota.id,
        customer_ids=[funded.organisation.id],
        face_value=10_00,
    )
    # Opportunities: a draft the partner may still edit, and one sent to the vendor.
    settings = app.state.settings
    in_chinese = {
        "customer_industry": "物流",
        "contact_name": "周敏",
        "need_description": "旺季前把追踪系统迁移上云。",
        "solution_description": "我们的迁移团队分两批完成迁移。",
    }
    draft = opportunities.save_draft(
        db,
        admin_actor,
        settings,
        complete_form(customer_name="莲花物流有限公司", **in_chinese),
    )
    sent = opportunities.save_draft(
        db,
        admin_actor,
        settings,
        complete_form(customer_name="青松制造有限公司", **in_chinese),
    )
    opportunities.submit(db, admin_actor, settings, sent.id)

    admin, boss = provider.admin.account_name, vendor.admin.account_name
    paths = {
        "/": (admin, "/"),
        "/console": (admin, "/console"),
        "/notifications": (candidate.account_name, "/notifications"),
        "/mailbox": (admin, "/mailbox"),
        "/login": ("", "/login"),
        "/register": ("", "/register"),
        "/password/forgot": ("", "/password/forgot"),
        "/password/reset/{token}": ("", f"/password/reset/{reset_token}"),
        "/account/password": (admin, "/account/password"),
        "/credentials": (admin, "/credentials"),
        "/credentials/{access_key}/revoke": (admin, f"/credentials/{key.ak}/revoke"),
        "/roles": (admin, "/roles"),
        "/roles/new": (admin, "/roles/new"),
        "/roles/{role_id}": (admin, f"/roles/{role.id}"),
        "/roles/{role_id}/delete": (admin, f"/roles/{role.id}/delete"),
        "/profile": (admin, "/profile"),
        "/members": (admin, "/members"),
        "/members/{membership_id}/roles": (admin, f"/members/{membership.id}/roles"),
        "/members/{membership_id}/remove": (admin, f"/members/{membership.id}/remove"),
        "/members/leave": (specialist.account_name, "/members/leave"),
        "/invitations": (candidate.account_name, "/invitations"),
        "/invitations/{token}": (candidate.account_name, notice.link or ""),
        "/vendor/partners": (boss, "/vendor/partners"),
        "/vendor/partners/new": (boss, "/vendor/partners/new"),
        "/vendor/partners/{partner_id}": (
            boss,
            f"/vendor/partners/{distributor.organisation.id}",
        ),
        "/vendor/staff": (boss, "/vendor/staff"),
        "/vendor/calendar": (boss, "/vendor/calendar"),
        "/vendor/users": (boss, "/vendor/users"),
        "/vendor/users/{user_id}": (boss, f"/vendor/users/{candidate.id}"),
        "/audit": (admin, "/audit"),
        "/audit/export.csv": (admin, "/audit/export.csv"),
        "/customers/registrations": (admin, "/customers/registrations"),
        "/customers/invitations": (admin, "/customers/invitations"),
        "/join/{token}": (
            customer.admin.account_name,
            f"/join/{intake_link.token}",
        ),
        "/customers/requests": (admin, "/customers/requests"),
        "/customers/records": (admin, "/customers/records"),
        "/customers/records/export.csv": (admin, "/customers/records/export.csv"),
        "/vendor/association-records": (boss, "/vendor/association-records"),
        "/vendor/association-records/export.csv": (
            boss,
            "/vendor/association-records/export.csv",
        ),
        "/customers/changes/{customer_id}": (admin, f"/customers/changes/{served.id}"),
        "/my-partner": (leaving.admin.account_name, "/my-partner"),
        "/customers": (admin, "/customers"),
        "/customers/notice": (reseller.admin.account_name, "/customers/notice"),
        "/customers/{customer_id:customer_id}": (admin, f"/customers/{served.id}"),
        "/vendor/customers": (boss, "/vendor/customers"),
        "/vendor/customers/{customer_id:customer_id}": (
            boss,
            f"/vendor/customers/{served.id}",
        ),
        # Vendor finance's pages and the partner's withdrawal pages.
        "/vendor/finance": (boss, "/vendor/finance"),
        "/vendor/finance/partners/{partner_id}": (
            boss,
            f"/vendor/finance/partners/{provider.organisation.id}",
        ),
        "/vendor/finance/recharges": (boss, "/vendor/finance/recharges"),
        "/vendor/finance/charges": (boss, "/vendor/finance/charges"),
        "/vendor/finance/withdrawals": (boss, "/vendor/finance/withdrawals"),
        "/vendor/finance/withdrawals/{withdrawal_id}": (
            boss,
            f"/vendor/finance/withdrawals/{withdrawal.id}",
        ),
        "/funds/withdrawals": (admin, "/funds/withdrawals"),
        "/funds/withdrawals/new": (admin, "/funds/withdrawals/new"),
        # The partner's funds pages and the customer's own funds.
        "/funds": (admin, "/funds"),
        "/funds/allocate": (
            admin,
            f"/funds/allocate?customer_id={funded.organisation.id}",
        ),
        "/funds/resellers": (distributor.admin.account_name, "/funds/resellers"),
        "/funds/batches": (admin, "/funds/batches"),
        "/funds/batches/new": (admin, "/funds/batches/new"),
        "/funds/batches/{batch_id}": (admin, f"/funds/batches/{funds_batch.id}"),
        "/funds/batches/{batch_id}/items.csv": (
            admin,
            f"/funds/batches/{funds_batch.id}/items.csv",
        ),
        "/funds/adjust-records": (admin, "/funds/adjust-records"),
        "/funds/adjust-records/export.csv": (admin, "/funds/adjust-records/export.csv"),
        "/funds/statement": (admin, "/funds/statement"),
        "/funds/statement/export.csv": (admin, "/funds/statement/export.csv"),
        "/my-funds": (funded.admin.account_name, "/my-funds"),
        "/my-funds/export.csv": (funded.admin.account_name, "/my-funds/export.csv"),
        # Vouchers: the vendor's quotas, the partner's pages, the customer's vouchers.
        "/vendor/vouchers": (boss, "/vendor/vouchers"),
        "/vendor/vouchers/grant": (boss, "/vendor/vouchers/grant"),
        "/vouchers": (admin, "/vouchers"),
        "/vouchers/issue": (admin, "/vouchers/issue"),
        "/vouchers/issued": (admin, "/vouchers/issued"),
        "/my-vouchers": (funded.admin.account_name, "/my-vouchers"),
        # Billing: the monthly bills of the charge above, the catalogue, the policies.
        "/billing/bills": (admin, "/billing/bills"),
        "/billing/bills/export.csv": (admin, "/billing/bills/export.csv"),
        "/my-bills": (leaving.admin.account_name, "/my-bills"),
        "/my-bills/export.csv": (leaving.admin.account_name, "/my-bills/export.csv"),
        "/vendor/billing/bills": (boss, "/vendor/billing/bills"),
        "/vendor/billing/bills/export.csv": (boss, "/vendor/billing/bills/export.csv"),
        "/vendor/billing/service-types": (boss, "/vendor/billing/service-types"),
        "/incentives/policies": (admin, "/incentives/policies"),
        "/vendor/incentives/policies": (boss, "/vendor/incentives/policies"),
        # Opportunities: the partner's list, form and detail; the vendor's queue.
        "/opportunities": (admin, "/opportunities"),
        "/opportunities/export.csv": (admin, "/opportunities/export.csv"),
        "/opportunities/new": (admin, "/opportunities/new"),
        "/opportunities/{opportunity_id}": (admin, f"/opportunities/{sent.id}"),
        "/opportunities/{opportunity_id}/edit": (
            admin,
            f"/opportunities/{draft.id}/edit",
        ),
        "/vendor/opportunities": (boss, "/vendor/opportunities"),
        "/vendor/opportunities/coverage/regions": (
            boss,
            "/vendor/opportunities/coverage/regions",
        ),
        "/vendor/opportunities/export.csv": (boss, "/vendor/opportunities/export.csv"),
        "/vendor/opportunities/share/new": (boss, "/vendor/opportunities/share/new"),
        "/vendor/opportunities/{opportunity_id}": (
            boss,
            f"/vendor/opportunities/{sent.id}",
        ),
    }
    values = {
        value
        for person in db.scalars(select(User))
        for value in (person.display_name, person.account_name, person.email or "")
    }
    values |= {org.display_name for org in identity.list_organisations(db)}
    values |= {"Pre-sales", "Sees opportunities", customer.organisation.display_name}
    values |= {served.display_name, served.account_name}
    db.commit()
    return World(paths, values)


class TestEveryPage:
    def test_every_console_page_is_covered_here(self, world: World) -> None:
        assert sorted(console_get_routes()) == sorted(world.paths)

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_every_page_renders_in_both_languages(
        self, app: FastAPI, world: World, locale: str
    ) -> None:
        english = _english_sources()
        problems: list[str] = []
        by_account: dict[str, list[tuple[str, str]]] = {}
        for template, (account, path) in world.paths.items():
            by_account.setdefault(account, []).append((template, path))

        for account, pages in by_account.items():
            with TestClient(
                app, base_url="http://testserver", follow_redirects=False
            ) as client:
                client.cookies.set("pc_lang", locale)
                if account:
                    sign_in(client, account)
                for template, path in pages:
                    problems += _check_page(
                        client,
                        template=template,
                        path=path,
                        locale=locale,
                        english=english,
                        world=world,
                    )

        assert problems == []


def _check_page(
    client: TestClient,
    *,
    template: str,
    path: str,
    locale: str,
    english: set[str],
    world: World,
) -> list[str]:
    response = client.get(path)
    if template == "/":
        return (
            [] if response.status_code == 303 else [f"{path}: {response.status_code}"]
        )
    # An unknown reset token shows the translated "link no longer valid" page.
    expected = 404 if template == "/password/reset/{token}" else 200
    if response.status_code != expected:
        return [f"{path}: status {response.status_code}"]
    if template.endswith(".csv"):
        return (
            []
            if "text/csv" in response.headers["content-type"]
            else [f"{path}: not csv"]
        )

    parser = _Text()
    parser.feed(response.text)
    found = []
    if parser.lang != locale:
        found.append(f"{path}: lang={parser.lang}")
    if locale != "zh-CN":
        return found
    for chunk in parser.chunks:
        if chunk in world.data_values or any(
            value in chunk for value in world.data_values if len(value) > 6
        ):
            continue
        if chunk in english or _ENGLISH_PHRASE.search(chunk):
            found.append(f"{path}: untranslated {chunk!r}")
    return found
