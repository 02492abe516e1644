"""Consumption drawing on vouchers: order of use, service types, never more than the charge,
and two charges at once for one customer."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.clock import FrozenClock
from partnercenter.ledger import posting
from partnercenter.ledger import service as ledger
from partnercenter.ledger.models import Account, AccountKind
from partnercenter.vouchers.models import Voucher, VoucherDraw, VoucherStatus
from partnercenter.vouchers.spending import VoucherUse, cover
from tests.vouchers.world import DAY, World, world

EC2 = "hws.service.type.ec2"
OBS = "hws.service.type.obs"


@pytest.fixture
def w(db: Session, clock: FrozenClock) -> World:
    return world(db)


def _cover(
    db: Session,
    clock: FrozenClock,
    customer_id: str,
    amount: int,
    *,
    service: str | None = EC2,
    charge_id: str = "charge-1",
) -> list[VoucherUse]:
    return cover(
        db,
        customer_id=customer_id,
        charge_id=charge_id,
        amount=amount,
        currency="CNY",
        service_type_code=service,
        at=clock.now(),
    )


class TestCover:
    def test_earliest_expiry_first_and_never_more_than_the_charge(
        self, w: World, clock: FrozenClock
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        late = w.one(quota_id, customer, face_value=5_000)
        soon = w.one(
            quota_id, customer, face_value=1_000, expire_time=clock.now() + DAY
        )

        uses = _cover(w.db, clock, customer, 3_000)

        assert uses == [VoucherUse(soon, 1_000), VoucherUse(late, 2_000)]
        assert w.voucher(soon).status is VoucherStatus.USED_UP
        assert w.voucher(late).balance == 3_000
        assert w.voucher(late).last_used_at == clock.now()
        assert (
            sum(
                use.amount
                for use in _cover(w.db, clock, customer, 99_999, charge_id="c2")
            )
            == 3_000
        )

    def test_a_charge_seen_before_draws_nothing_more(
        self, w: World, clock: FrozenClock
    ) -> None:
        customer = w.customer()
        voucher_id = w.one(w.quota(), customer, face_value=5_000)

        first = _cover(w.db, clock, customer, 1_000)
        again = _cover(w.db, clock, customer, 1_000)

        assert first == again == [VoucherUse(voucher_id, 1_000)]
        assert w.voucher(voucher_id).balance == 4_000
        assert w.db.scalar(select(func.count()).select_from(VoucherDraw)) == 1

    def test_service_types_limit_what_a_voucher_pays(
        self, w: World, clock: FrozenClock
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        obs_only = w.one(
            quota_id,
            customer,
            face_value=1_000,
            service_types=[OBS],
            expire_time=clock.now() + DAY,
        )
        anything = w.one(quota_id, customer, face_value=1_000)

        for_ec2 = _cover(w.db, clock, customer, 500, service=EC2, charge_id="a")
        for_obs = _cover(w.db, clock, customer, 500, service=OBS, charge_id="b")
        untyped = _cover(w.db, clock, customer, 5_000, service=None, charge_id="c")

        assert for_ec2 == [VoucherUse(anything, 500)]
        assert for_obs == [VoucherUse(obs_only, 500)]
        assert untyped == [VoucherUse(anything, 500)]

    def test_only_vouchers_in_effect_pay(self, w: World, clock: FrozenClock) -> None:
        quota_id = w.quota()
        customer = w.customer()
        w.one(quota_id, customer, valid_time=clock.now() + 5 * DAY)
        expired = w.one(quota_id, customer, expire_time=clock.now() + DAY)
        clock.move(days=2)
        # Past its expiry but not yet marked by the worker: still not usable.
        assert w.voucher(expired).status is VoucherStatus.ACTIVE

        assert _cover(w.db, clock, customer, 500, service=EC2, charge_id="later") == []

    def test_other_customers_vouchers_never_pay(
        self, w: World, clock: FrozenClock
    ) -> None:
        w.one(w.quota(), w.customer())
        assert _cover(w.db, clock, w.customer(), 500) == []


@pytest.mark.postgresql_only
class TestTwoChargesAtOnce:
    def test_the_vouchers_pay_each_cent_once(
        self,
        w: World,
        clock: FrozenClock,
        fresh_engine_factory: sessionmaker[Session],
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        for _ in range(3):
            w.one(quota_id, customer, face_value=1_000)
        ledger.ensure_accounts(w.db, [(customer, AccountKind.CUSTOMER_ALLOCATED)])
        w.db.commit()
        start = threading.Barrier(2)
        drawn: list[int] = []
        failures: list[BaseException] = []

        def charge(charge_id: str) -> None:
            try:
                with fresh_engine_factory() as session, session.begin():
                    start.wait(timeout=10)
                    accounts = session.scalars(
                        select(Account.id).where(Account.organisation_id == customer)
                    ).all()
                    posting.lock_accounts(session, accounts)
                    uses = cover(
                        session,
                        customer_id=customer,
                        charge_id=charge_id,
                        amount=2_000,
                        currency="CNY",
                        service_type_code=EC2,
                        at=clock.now(),
                    )
                    drawn.append(sum(use.amount for use in uses))
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        threads = [threading.Thread(target=charge, args=(f"c{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert failures == []
        assert sorted(drawn) == [1_000, 2_000]
        w.db.expire_all()
        left = w.db.scalar(
            select(func.sum(Voucher.balance)).where(Voucher.customer_id == customer)
        )
        assert left == 0
        assert w.db.scalar(select(func.sum(VoucherDraw.amount))) == 3_000

    def test_without_the_ledger_lock_the_vouchers_still_pay_once(
        self,
        w: World,
        clock: FrozenClock,
        fresh_engine_factory: sessionmaker[Session],
    ) -> None:
        quota_id = w.quota()
        customer = w.customer()
        w.one(quota_id, customer, face_value=1_500)
        w.db.commit()
        start = threading.Barrier(2)
        drawn: list[int] = []

        def charge(charge_id: str) -> None:
            with fresh_engine_factory() as session, session.begin():
                start.wait(timeout=10)
                uses = cover(
                    session,
                    customer_id=customer,
                    charge_id=charge_id,
                    amount=1_000,
                    currency="CNY",
                    service_type_code=None,
                    at=clock.now(),
                )
                drawn.append(sum(use.amount for use in uses))

        threads = [threading.Thread(target=charge, args=(f"d{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(drawn) == [500, 1_000]
