"""Sessions racing on the same quota and vouchers (PostgreSQL only: SQLite runs one writer)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import FrozenClock
from partnercenter.core.settings import Settings
from partnercenter.customers.changes import service as changes
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, User
from partnercenter.ledger import posting
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import Account, AccountKind
from partnercenter.vouchers import service
from partnercenter.vouchers.models import Voucher, VoucherQuota
from partnercenter.vouchers.spending import cover
from tests.vouchers.world import World, world

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def w(db: Session, clock: FrozenClock) -> World:
    return world(db)


def _race(*steps: Callable[[], None]) -> list[BaseException]:
    start = threading.Barrier(len(steps))
    failures: list[BaseException] = []

    def run(step: Callable[[], None]) -> None:
        try:
            start.wait(timeout=10)
            step()
        except BaseException as error:  # noqa: BLE001 - reported to the test
            failures.append(error)

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return failures


class TestRaces:
    def test_two_issues_for_the_last_of_a_quota_only_one_wins(
        self, w: World, fresh_engine_factory: sessionmaker[Session]
    ) -> None:
        quota_id = w.quota(amount=1_500, max_face_value=1_000)
        first, second = w.customer(), w.customer()
        w.db.commit()
        outcomes: list[service.IssueOutcome] = []

        def issue_to(customer_id: str) -> Callable[[], None]:
            def step() -> None:
                with fresh_engine_factory.begin() as session:
                    actor = identity.actor_for(
                        session, w.partner.admin, w.partner.organisation.id
                    )
                    outcomes.append(
                        service.issue(
                            session,
                            actor,
                            quota_id=quota_id,
                            customer_ids=[customer_id],
                            face_value=1_000,
                        )
                    )

            return step

        assert _race(issue_to(first), issue_to(second)) == []

        assert sorted(len(o.issued) for o in outcomes) == [0, 1]
        w.db.expire_all()
        assert w.quota_row(quota_id).balance == 500
        assert w.db.scalar(select(func.count()).select_from(Voucher)) == 1

    def test_a_charge_and_the_customer_leaving_at_once_lose_nothing(
        self,
        w: World,
        settings: Settings,
        fresh_engine_factory: sessionmaker[Session],
        clock: FrozenClock,
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        w.one(quota_id, customer, face_value=3_000)
        ledger.ensure_accounts(w.db, [(customer, AccountKind.CUSTOMER_ALLOCATED)])
        organisation = w.db.get(Organisation, customer)
        assert organisation is not None
        owner = w.db.get(User, organisation.main_user_id)
        assert owner is not None
        request = changes.request_disassociation(
            w.db, identity.actor_for(w.db, owner, customer), settings, reason="Bye"
        )
        request_id = request.id
        w.db.commit()
        paid: list[int] = []

        def charge() -> None:
            with fresh_engine_factory.begin() as session:
                accounts = session.scalars(
                    select(Account.id).where(Account.organisation_id == customer)
                ).all()
                posting.lock_accounts(session, accounts)
                uses = cover(
                    session,
                    customer_id=customer,
                    charge_id="race-1",
                    amount=1_000,
                    currency="CNY",
                    service_type_code=None,
                    at=clock.now(),
                )
                paid.append(sum(use.amount for use in uses))

        def leave() -> None:
            with fresh_engine_factory.begin() as session:
                actor = identity.actor_for(
                    session, w.partner.admin, w.partner.organisation.id
                )
                changes.decide_customer_request(
                    session, actor, settings, request_id, agree=True
                )

        assert _race(charge, leave) == []

        w.db.expire_all()
        quota = w.db.get(VoucherQuota, quota_id)
        assert quota is not None
        assert paid[0] in {0, 1_000}
        assert quota.balance == 100_000 - paid[0]
        assert w.conserved(quota_id)
