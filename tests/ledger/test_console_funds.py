"""The funds pages of the console: who may open them, the allocation, reseller and batch
forms moving money (or showing why not, in the reader's language), the records and
statements with their filters and CSV files, and the customer's own funds."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from markupsafe import escape
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.actor import Actor
from partnercenter.core.i18n import translator
from partnercenter.customers.models import AssociationMode
from partnercenter.identity import service as identity
from partnercenter.identity.models import PartnerType
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import service as ledger
from partnercenter.ledger.console import inputs, labels
from partnercenter.ledger.console.inputs import AMOUNT_PROBLEM
from partnercenter.ledger.errors import (
    ConsultingCustomer,
    InsufficientFunds,
    NotYourCustomer,
)
from partnercenter.ledger.models import Batch, BatchStatus, TransferKind
from tests import factories
from tests.helpers import csrf_from, post_form, sign_in


def money(minor: int, locale: str = "zh-CN") -> str:
    return translator(locale).format_money(Decimal(minor).scaleb(-2), "CNY")


def message(locale: str, english: str, **params: str) -> str:
    """``english`` in ``locale``, as the page's HTML carries it."""
    text = translator(locale).gettext(english)
    return str(escape(text % params if params else text))


@dataclass
class Funds:
    """A partner with 1,000.00, its admin, a finance member, a member who may only look and
    one without funds; two resale customers and a consulting one; another partner."""

    db: Session
    factory: sessionmaker[Session]
    """Reads balances in sessions of their own: the test's session must not hold SQLite's
    write lock while the app works."""
    vendor: factories.OrgWithAdmin
    finance: Actor
    partner: factories.OrgWithAdmin
    clerk: str
    viewer: str
    specialist: str
    first: factories.OrgWithAdmin
    second: factories.OrgWithAdmin
    consulting: factories.OrgWithAdmin
    stranger: factories.OrgWithAdmin

    @property
    def partner_id(self) -> str:
        return self.partner.organisation.id

    @property
    def admin(self) -> str:
        return self.partner.admin.account_name

    def cash(self, organisation_id: str | None = None) -> int:
        with self.factory() as session:
            return ledger.partner_balances(
                session, organisation_id or self.partner_id
            ).cash

    def allocated(self, customer: factories.OrgWithAdmin) -> int:
        with self.factory() as session:
            return ledger.customer_balances(session, customer.organisation.id).allocated

    def batch(self, batch_id: str, seconds: float = 30) -> Batch:
        """The batch once it is done (or as it is after ``seconds``)."""
        deadline = time.monotonic() + seconds
        while True:
            with self.factory() as session:
                batch = session.get(Batch, batch_id)
            assert batch is not None
            if batch.status is BatchStatus.DONE or time.monotonic() > deadline:
                return batch
            time.sleep(0.1)


@pytest.fixture
def funds(db: Session, session_factory: sessionmaker[Session]) -> Funds:
    vendor = factories.vendor(db)
    finance = identity.actor_for(db, vendor.admin, vendor.organisation.id)
    partner = factories.partner(db)
    admin = identity.actor_for(db, partner.admin, partner.organisation.id)
    looking = identity.create_custom_role(
        db,
        admin,
        name="Looks at money",
        description=None,
        permissions=[Permission.FUNDS_VIEW],
    )
    clerk = factories.member(db, partner.organisation, "partner_finance")
    viewer = factories.member(db, partner.organisation, f"custom:{looking.id}")
    specialist = factories.member(db, partner.organisation, "project_specialist")
    first = factories.associated_customer(db, partner.organisation)
    second = factories.associated_customer(db, partner.organisation)
    consulting = factories.associated_customer(
        db, partner.organisation, AssociationMode.CONSULTING
    )
    stranger = factories.associated_customer(db, factories.partner(db).organisation)
    ledger.record_topup(db, finance, partner_id=partner.organisation.id, amount=1000_00)
    db.commit()
    return Funds(
        db,
        session_factory,
        vendor,
        finance,
        partner,
        clerk.account_name,
        viewer.account_name,
        specialist.account_name,
        first,
        second,
        consulting,
        stranger,
    )


def signed_in(client: TestClient, account: str, locale: str = "zh-CN") -> TestClient:
    client.cookies.set("pc_lang", locale)
    sign_in(client, account)
    return client


def allocate(
    client: TestClient, customer_id: str, amount: str, **extra: str
) -> Response:
    return post_form(
        client,
        "/funds/allocate",
        {"action": "allocate", "customer_id": customer_id, "amount": amount, **extra},
    )


PARTNER_PAGES = [
    "/funds",
    "/funds/allocate",
    "/funds/batches",
    "/funds/batches/new",
    "/funds/adjust-records",
    "/funds/statement",
]


class TestWhoMayOpen:
    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_the_admin_and_finance_open_every_page(
        self, client: TestClient, funds: Funds, locale: str
    ) -> None:
        for account in (funds.admin, funds.clerk):
            signed_in(client, account, locale)
            for path in PARTNER_PAGES:
                page = client.get(path)
                assert page.status_code == 200, (account, path)
                assert f'lang="{locale}"' in page.text
            assert 'href="/funds"' in client.get("/console").text
            client.cookies.clear()

    def test_a_member_without_funds_is_refused_and_sees_no_entry(
        self, client: TestClient, funds: Funds
    ) -> None:
        signed_in(client, funds.specialist)

        for path in PARTNER_PAGES:
            assert client.get(path).status_code == 403, path
        refused = allocate(client, funds.first.organisation.id, "10")

        assert refused.status_code == 403
        assert 'href="/funds"' not in client.get("/console").text
        assert funds.cash() == 1000_00

    def test_a_member_who_may_only_look_cannot_move_money(
        self, client: TestClient, funds: Funds
    ) -> None:
        signed_in(client, funds.viewer)

        overview = client.get("/funds")
        form = client.get("/funds/allocate")
        refused = allocate(client, funds.first.organisation.id, "10")
        batch = post_form(client, "/funds/batches", {"lines": "x,1"})

        assert overview.status_code == 200
        assert 'href="/funds/allocate"' not in overview.text
        assert form.status_code == refused.status_code == batch.status_code == 403
        assert client.get("/funds/statement").status_code == 200
        assert funds.cash() == 1000_00

    @pytest.mark.parametrize(
        ("who", "path", "status"),
        [
            ("customer", "/funds", 403),
            ("customer", "/funds/statement", 403),
            ("customer", "/my-funds", 200),
            ("vendor", "/funds", 403),
            ("vendor", "/my-funds", 403),
            ("partner", "/my-funds", 403),
            ("partner", "/my-funds/export.csv", 403),
        ],
    )
    def test_each_side_has_only_its_own_funds_pages(
        self, client: TestClient, funds: Funds, who: str, path: str, status: int
    ) -> None:
        account = {
            "customer": funds.first.admin.account_name,
            "vendor": funds.vendor.admin.account_name,
            "partner": funds.admin,
        }[who]
        signed_in(client, account)

        assert client.get(path).status_code == status


class TestOverview:
    def test_balances_chart_and_latest_entries(
        self, client: TestClient, funds: Funds
    ) -> None:
        ledger.set_credit_limit(
            funds.db, funds.finance, partner_id=funds.partner_id, amount=200_00
        )
        ledger.set_designated(
            funds.db, funds.finance, partner_id=funds.partner_id, amount=100_00
        )
        funds.db.commit()
        signed_in(client, funds.admin)

        page = client.get("/funds")

        assert page.status_code == 200
        assert money(1000_00) in page.text
        assert money(1100_00) in page.text  # allocatable: 1000 + 200 - 100
        assert money(900_00) in page.text  # withdrawable
        assert "<svg" in page.text
        assert 'role="img"' in page.text
        assert message("zh-CN", "Balance over the last %(days)s days", days="30") in (
            page.text
        )
        assert page.text.count("<tr><td>") >= 30  # the figures beside the chart
        assert message("zh-CN", "Top-up") in page.text


class TestAllocate:
    def test_an_allocation_moves_money_and_says_so(
        self, client: TestClient, funds: Funds
    ) -> None:
        signed_in(client, funds.clerk)

        done = allocate(
            client, funds.first.organisation.id, "120.50", reason="March budget"
        )

        assert done.status_code == 303
        assert done.headers["location"].startswith("/funds/allocate")
        assert funds.cash() == 879_50
        assert funds.allocated(funds.first) == 120_50
        after = client.get(done.headers["location"])
        assert funds.first.organisation.display_name in after.text
        assert money(120_50) in after.text
        assert money(879_50) in after.text

    def test_a_reclaim_takes_money_back(self, client: TestClient, funds: Funds) -> None:
        signed_in(client, funds.admin)
        allocate(client, funds.first.organisation.id, "100")

        back = post_form(
            client,
            "/funds/allocate",
            {
                "action": "reclaim",
                "customer_id": funds.first.organisation.id,
                "amount": "40",
            },
        )

        assert back.status_code == 303
        assert funds.allocated(funds.first) == 60_00
        assert funds.cash() == 940_00

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_refusals_show_in_the_readers_language(
        self, client: TestClient, funds: Funds, locale: str
    ) -> None:
        signed_in(client, funds.admin, locale)

        too_much = allocate(client, funds.first.organisation.id, "1000.01")
        consulting = allocate(client, funds.consulting.organisation.id, "10")
        stranger = allocate(client, funds.stranger.organisation.id, "10")
        bad_amount = allocate(client, funds.first.organisation.id, "10.001")
        no_customer = allocate(client, "", "10")

        assert too_much.status_code == 409
        assert (
            message(
                locale,
                InsufficientFunds.default_message,
                available="1000.00",
                currency="CNY",
            )
            in too_much.text
        )
        assert consulting.status_code == 409
        assert message(locale, ConsultingCustomer.default_message) in consulting.text
        assert stranger.status_code == 403
        assert message(locale, NotYourCustomer.default_message) in stranger.text
        assert bad_amount.status_code == 400
        assert message(locale, AMOUNT_PROBLEM) in bad_amount.text
        assert 'value="10.001"' in bad_amount.text
        assert no_customer.status_code == 400
        assert message(locale, "Choose a customer or enter its ID.") in no_customer.text
        assert funds.cash() == 1000_00

    def test_the_form_comes_prefilled_from_a_customer_link(
        self, client: TestClient, funds: Funds
    ) -> None:
        signed_in(client, funds.admin)
        customer = funds.first.organisation

        form = client.get(
            "/funds/allocate", params={"customer_id": customer.id, "action": "reclaim"}
        )

        assert f'value="{customer.id}"' in form.text
        assert 'value="reclaim" checked' in form.text
        # The list offers the resale customers, not the consulting one or others'.
        assert customer.display_name in form.text
        assert funds.second.organisation.display_name in form.text
        assert funds.consulting.organisation.display_name not in form.text
        assert funds.stranger.organisation.display_name not in form.text


@dataclass
class Channel:
    distributor: factories.OrgWithAdmin
    reseller: factories.OrgWithAdmin
    customer: factories.OrgWithAdmin


@pytest.fixture
def channel(db: Session, funds: Funds) -> Channel:
    distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
    reseller = factories.partner(
        db, PartnerType.RESELLER, parent=distributor.organisation
    )
    customer = factories.associated_customer(db, reseller.organisation)
    ledger.record_topup(
        db, funds.finance, partner_id=distributor.organisation.id, amount=500_00
    )
    db.commit()
    return Channel(distributor, reseller, customer)


class TestResellers:
    def test_a_distributor_funds_and_reclaims_from_a_reseller(
        self, client: TestClient, funds: Funds, channel: Channel
    ) -> None:
        signed_in(client, channel.distributor.admin.account_name)
        reseller = channel.reseller.organisation

        listed = client.get("/funds/resellers")
        funded = post_form(
            client,
            "/funds/resellers",
            {"action": "fund", "reseller_id": reseller.id, "amount": "200"},
        )
        back = post_form(
            client,
            "/funds/resellers",
            {"action": "reclaim", "reseller_id": reseller.id, "amount": "50"},
        )
        too_much = post_form(
            client,
            "/funds/resellers",
            {"action": "reclaim", "reseller_id": reseller.id, "amount": "151"},
        )

        assert listed.status_code == 200
        assert reseller.display_name in listed.text
        assert funded.status_code == back.status_code == 303
        assert funds.cash(reseller.id) == 150_00
        assert funds.cash(channel.distributor.organisation.id) == 350_00
        assert too_much.status_code == 409
        assert (
            message(
                "zh-CN",
                InsufficientFunds.default_message,
                available="150.00",
                currency="CNY",
            )
            in too_much.text
        )
        page = client.get("/funds/resellers")
        assert money(150_00) in page.text

    def test_only_a_distributor_has_the_page(
        self, client: TestClient, funds: Funds, channel: Channel
    ) -> None:
        signed_in(client, funds.admin)

        assert client.get("/funds/resellers").status_code == 403
        assert 'href="/funds/resellers"' not in client.get("/funds").text

    def test_a_distributor_allocates_to_a_resellers_customer_from_its_balance(
        self, client: TestClient, db: Session, funds: Funds, channel: Channel
    ) -> None:
        distributor = identity.actor_for(
            db, channel.distributor.admin, channel.distributor.organisation.id
        )
        ledger.allocate_to_reseller(
            db, distributor, reseller_id=channel.reseller.organisation.id, amount=80_00
        )
        db.commit()
        signed_in(client, channel.distributor.admin.account_name)

        form = client.get(
            "/funds/allocate",
            params={"indirect_partner_id": channel.reseller.organisation.id},
        )
        done = allocate(
            client,
            channel.customer.organisation.id,
            "30",
            indirect_partner_id=channel.reseller.organisation.id,
        )
        other_reseller = allocate(
            client,
            channel.customer.organisation.id,
            "30",
            indirect_partner_id=funds.partner_id,
        )

        assert money(80_00) in form.text
        assert done.status_code == 303
        assert funds.cash(channel.reseller.organisation.id) == 50_00
        assert other_reseller.status_code == 403


def start_batch(client: TestClient, **fields: str) -> Response:
    return post_form(client, "/funds/batches", fields, form_page="/funds/batches/new")


class TestBatches:
    def test_a_pasted_batch_runs_and_shows_why_lines_were_refused(
        self, client: TestClient, db: Session, funds: Funds
    ) -> None:
        signed_in(client, funds.admin)
        lines = "\n".join(
            [
                f"{funds.first.organisation.id},100",
                f"{funds.second.organisation.id}\t50.50",
                f"{funds.consulting.organisation.id},10",
                "no-such-customer,10",
                f"{funds.first.organisation.id},ten",
                "",
            ]
        )

        started = start_batch(client, kind="allocate", lines=lines, reason="Q2")

        assert started.status_code == 303
        batch_id = started.headers["location"].rsplit("/", 1)[1]
        batch = funds.batch(batch_id)
        assert batch.status is BatchStatus.DONE
        assert (batch.item_count, batch.done_count, batch.refused_count) == (5, 2, 3)
        assert funds.cash() == 849_50
        result = client.get(started.headers["location"])
        assert result.status_code == 200
        assert 'http-equiv="refresh"' not in result.text
        for code in ("consulting_customer", "not_your_customer", "invalid_amount"):
            assert message("zh-CN", labels.ERROR_LABELS[code]) in result.text
        assert money(150_50) in result.text
        refused = client.get(started.headers["location"], params={"status": "refused"})
        assert refused.text.count('data-testid="batch-line"') == 3
        assert "no-such-customer" in refused.text
        assert funds.second.organisation.id not in refused.text
        listed = client.get("/funds/batches")
        assert f"/funds/batches/{batch_id}" in listed.text

    def test_a_running_batch_page_reloads_itself(
        self,
        client: TestClient,
        db: Session,
        funds: Funds,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from partnercenter.ledger.console import batch_views

        monkeypatch.setattr(batch_views, "start", lambda request, batch_id: None)
        signed_in(client, funds.admin)

        started = start_batch(
            client, kind="allocate", lines=f"{funds.first.organisation.id},1"
        )
        page = client.get(started.headers["location"])

        head = page.text.split("</head>", 1)[0]
        assert '<meta http-equiv="refresh" content="1">' in head
        assert page.headers["refresh"] == "1"
        assert "<progress" in page.text

    def test_a_reclaim_batch_from_an_upload_and_the_chosen_customers(
        self, client: TestClient, db: Session, funds: Funds
    ) -> None:
        funds_actor = identity.actor_for(db, funds.partner.admin, funds.partner_id)
        for customer in (funds.first, funds.second):
            ledger.allocate(
                db, funds_actor, customer_id=customer.organisation.id, amount=100_00
            )
        db.commit()
        signed_in(client, funds.admin)
        upload = f"客户ID,金额\n{funds.first.organisation.id},30\n".encode("gb18030")

        started = client.post(
            "/funds/batches",
            data={
                "csrf_token": csrf_from(client, "/funds/batches/new"),
                "kind": "reclaim",
                "customer_ids": [funds.second.organisation.id],
                "each_amount": "25",
            },
            files={"file": ("lines.csv", upload, "text/csv")},
        )

        assert started.status_code == 303, started.text
        batch = funds.batch(started.headers["location"].rsplit("/", 1)[1])
        assert (batch.kind, batch.done_count, batch.refused_count) == (
            TransferKind.RECLAIM,
            2,
            0,
        )
        assert funds.allocated(funds.first) == 70_00
        assert funds.allocated(funds.second) == 75_00

    @pytest.mark.parametrize("locale", ["zh-CN", "en"])
    def test_an_empty_or_oversized_batch_is_a_form_error(
        self, client: TestClient, funds: Funds, locale: str
    ) -> None:
        signed_in(client, funds.admin, locale)

        empty = start_batch(client, kind="allocate", lines="  \n")
        huge = start_batch(
            client, kind="allocate", lines="\n".join(f"c{n},1" for n in range(10_001))
        )
        chosen_without_amount = start_batch(
            client, kind="allocate", customer_ids=funds.first.organisation.id
        )

        assert empty.status_code == huge.status_code == 400
        assert (
            message(
                locale, "Paste at least one line, upload a file or choose customers."
            )
            in empty.text
        )
        assert (
            message(
                locale,
                "A batch takes at most %(limit)s lines; this one has %(count)s.",
                limit="10,000",
                count="10,001",
            )
            in huge.text
        )
        assert chosen_without_amount.status_code == 400
        assert (
            message(locale, "Enter the amount for each chosen customer.")
            in chosen_without_amount.text
        )

    def test_the_items_as_csv_and_no_one_elses_batch(
        self, client: TestClient, db: Session, funds: Funds
    ) -> None:
        signed_in(client, funds.admin, "en")
        started = start_batch(
            client,
            kind="allocate",
            lines=f"{funds.first.organisation.id},12.30\nnobody,1",
        )
        batch_id = started.headers["location"].rsplit("/", 1)[1]
        funds.batch(batch_id)

        exported = client.get(f"/funds/batches/{batch_id}/items.csv")
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))

        assert exported.headers["content-type"].startswith("text/csv")
        assert rows[0][:4] == ["Line", "Customer ID", "Customer", "Amount"]
        assert rows[1][1:4] == [
            funds.first.organisation.id,
            funds.first.organisation.display_name,
            "12.30",
        ]
        assert rows[1][5] == "Moved"
        assert rows[1][6]
        assert rows[2][5] == "Refused"
        assert rows[2][7] == "Not a customer associated with you"
        client.cookies.clear()
        other = factories.partner(db)
        db.commit()
        signed_in(client, other.admin.account_name)
        assert client.get(f"/funds/batches/{batch_id}").status_code == 404
        assert client.get(f"/funds/batches/{batch_id}/items.csv").status_code == 404


class TestRecordsAndStatement:
    def test_adjust_records_filter_and_export(
        self, client: TestClient, funds: Funds
    ) -> None:
        signed_in(client, funds.admin, "en")
        allocate(client, funds.first.organisation.id, "100", reason="budget")
        allocate(client, funds.second.organisation.id, "50")
        post_form(
            client,
            "/funds/allocate",
            {
                "action": "reclaim",
                "customer_id": funds.first.organisation.id,
                "amount": "20",
            },
        )

        everything = client.get("/funds/adjust-records")
        first_only = client.get(
            "/funds/adjust-records", params={"customer": funds.first.organisation.id}
        )
        reclaims = client.get("/funds/adjust-records", params={"kind": "reclaim"})
        bad_date = client.get("/funds/adjust-records", params={"since": "soon"})
        exported = client.get(
            "/funds/adjust-records/export.csv",
            params={"customer": funds.first.organisation.id},
        )

        assert everything.text.count('data-testid="adjust-row"') == 3
        assert first_only.text.count('data-testid="adjust-row"') == 2
        assert funds.second.organisation.display_name not in first_only.text
        assert reclaims.text.count('data-testid="adjust-row"') == 1
        assert bad_date.status_code == 400
        assert "Enter a date as YYYY-MM-DD." in bad_date.text
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert rows[0] == [
            "Time",
            "Transfer ID",
            "Type",
            "Counterparty",
            "Counterparty ID",
            "Amount",
            "Currency",
            "Reason",
            "Operator",
        ]
        assert [row[2] for row in rows[1:]] == ["Reclaim", "Allocation"]
        assert [row[5] for row in rows[1:]] == ["20.00", "-100.00"]
        assert rows[2][7] == "budget"
        assert rows[2][8] == funds.partner.admin.display_name

    def test_the_statement_filters_pages_and_exports(
        self, client: TestClient, funds: Funds
    ) -> None:
        signed_in(client, funds.clerk, "en")
        for _ in range(3):
            allocate(client, funds.first.organisation.id, "10")

        page = client.get("/funds/statement")
        outgoing = client.get("/funds/statement", params={"direction": "out"})
        topups = client.get("/funds/statement", params={"kind": "topup"})
        exported = client.get(
            "/funds/statement/export.csv", params={"direction": "out"}
        )

        assert page.text.count('data-testid="statement-row"') == 4
        assert outgoing.text.count('data-testid="statement-row"') == 3
        assert topups.text.count('data-testid="statement-row"') == 1
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert [row[3] for row in rows[1:]] == ["-10.00"] * 3
        assert [row[4] for row in rows[1:]] == ["970.00", "980.00", "990.00"]
        assert rows[1][6] == funds.first.organisation.display_name

    def test_the_statement_never_shows_another_partners_entries(
        self, client: TestClient, db: Session, funds: Funds
    ) -> None:
        other = db.get(type(funds.partner.organisation), funds.stranger.organisation.id)
        assert other is not None
        signed_in(client, funds.admin)

        page = client.get("/funds/statement")
        records = client.get(
            "/funds/adjust-records",
            params={"customer": funds.stranger.organisation.id},
        )

        assert page.text.count('data-testid="statement-row"') == 1
        assert records.text.count('data-testid="adjust-row"') == 0


class TestCustomerFunds:
    def test_the_customer_sees_its_balances_and_statement(
        self, client: TestClient, db: Session, funds: Funds
    ) -> None:
        actor = identity.actor_for(db, funds.partner.admin, funds.partner_id)
        ledger.allocate(
            db, actor, customer_id=funds.first.organisation.id, amount=66_00
        )
        ledger.record_recharge(
            db, funds.finance, customer_id=funds.first.organisation.id, amount=5_00
        )
        db.commit()
        signed_in(client, funds.first.admin.account_name)

        page = client.get("/my-funds")
        own = client.get("/my-funds", params={"pocket": "cash"})
        exported = client.get("/my-funds/export.csv", params={"pocket": "allocated"})

        assert page.status_code == 200
        assert money(66_00) in page.text
        assert money(5_00) in page.text
        assert page.text.count('data-testid="statement-row"') == 1
        assert funds.partner.organisation.display_name in page.text
        assert message("zh-CN", "Recharge") in own.text
        assert 'href="/my-funds"' in client.get("/console").text
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert len(rows) == 2
        assert rows[1][3] == "66.00"

    def test_arrears_show_as_debt(
        self, client: TestClient, db: Session, funds: Funds
    ) -> None:
        factories.put_in_arrears(db, funds.second.organisation, 12_34)
        db.commit()
        signed_in(client, funds.second.admin.account_name, "en")

        page = client.get("/my-funds")

        assert money(12_34, "en") in page.text
        assert "badge bad" in page.text


class TestBatchInput:
    def test_lines_are_read_with_any_separator_and_bad_amounts_become_zero(
        self,
    ) -> None:
        text = "\n".join(
            [
                "\ufeffcustomer_id,amount",
                "a1, 10.50",
                "a2\t3",
                "a3;4",
                "a4 5",
                "a5\uff0c6",
                "a6,1,000.00",
                "a7,10.001",
                "a8",
                "",
            ]
        )

        assert inputs.batch_items(text, default=7_00) == [
            ("a1", 10_50),
            ("a2", 3_00),
            ("a3", 4_00),
            ("a4", 5_00),
            ("a5", 6_00),
            ("a6", 0),
            ("a7", 0),
            ("a8", 7_00),
        ]
        assert inputs.batch_items("a8") == [("a8", 0)]

    def test_an_upload_in_gb18030_is_read(self) -> None:
        assert inputs.decode_upload("客户,金额\n".encode("gb18030")) == "客户,金额\n"
        assert inputs.decode_upload("\ufeffa,1".encode()) == "a,1"


def test_a_distributor_runs_a_batch_for_a_resellers_customers(
    client: TestClient, db: Session, funds: Funds, channel: Channel
) -> None:
    distributor = identity.actor_for(
        db, channel.distributor.admin, channel.distributor.organisation.id
    )
    ledger.allocate_to_reseller(
        db, distributor, reseller_id=channel.reseller.organisation.id, amount=80_00
    )
    db.commit()
    signed_in(client, channel.distributor.admin.account_name)

    started = start_batch(
        client,
        kind="allocate",
        indirect_partner_id=channel.reseller.organisation.id,
        lines=f"{channel.customer.organisation.id},30",
    )

    assert started.status_code == 303
    batch = funds.batch(started.headers["location"].rsplit("/", 1)[1])
    assert (batch.done_count, batch.indirect_partner_id) == (
        1,
        channel.reseller.organisation.id,
    )
    assert funds.cash(channel.reseller.organisation.id) == 50_00
    assert funds.cash(channel.distributor.organisation.id) == 420_00
