"""Demo money: a month of top-ups, allocations, consumption and withdrawals for the demo
channel of :mod:`partnercenter.demo`, so balances, statements and charts have a history.

Everything goes through the ledger's services, with the product clock stepped back over
the last thirty days, so the books are exactly what the console would have written and
``partnercenter ledger verify`` finds them clean. Amounts come from a seeded random number
generator: every demo starts with the same figures; only the dates follow today.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.billing.models import ChargeMode
from partnercenter.core.actor import Actor
from partnercenter.core.clock import FrozenClock, set_clock, utc_now
from partnercenter.core.money import to_minor, truncate_to_minor
from partnercenter.core.security import SecretBox
from partnercenter.identity import service as identity
from partnercenter.identity.models import Organisation, User
from partnercenter.ledger import service, withdrawals
from partnercenter.ledger.models import Transfer, WithdrawalMethod

ZONE = ZoneInfo("Asia/Shanghai")
"""The demo channel works in China: its people act in office hours there."""

FINANCE_LOGIN = "nimbus-finance"

# (days ago, local time, partner, amount, the remittance's bank reference)
TOPUPS = [
    (29, "10:15", "hualian-dist", "120000.00", "ICBC31002611040117"),
    (29, "11:02", "jade-solutions", "50000.00", "BOC21872611040342"),
    (28, "09:40", "xingyun-tech", "20000.00", "CMB75502611050029"),
    (28, "14:25", "lanshan-digital", "10000.00", "CCB44012611050218"),
    (13, "10:30", "jade-solutions", "30000.00", "BOC21872611200511"),
    (9, "15:10", "hualian-dist", "80000.00", "ICBC31002611240903"),
]

# (days ago, local time, partner, credit line)
CREDIT_LINES = [(27, "16:00", "jade-solutions", "20000.00")]

# (days ago, local time, distributor, reseller, amount)
RESELLER_FUNDING = [
    (27, "10:05", "hualian-dist", "xingyun-tech", "15000.00"),
    (27, "10:12", "hualian-dist", "lanshan-digital", "12000.00"),
    (12, "11:20", "hualian-dist", "lanshan-digital", "8000.00"),
    (8, "09:50", "hualian-dist", "xingyun-tech", "6000.00"),
]

# (days ago, local time, acting partner, paying reseller or None, customer, amount)
ALLOCATIONS = [
    (26, "14:00", "jade-solutions", None, "redwood-trading", "8000.00"),
    (26, "15:30", "xingyun-tech", None, "orchid-design", "5000.00"),
    (25, "10:45", "lanshan-digital", None, "lotus-clinic", "3000.00"),
    (17, "09:20", "jade-solutions", None, "redwood-trading", "2500.00"),
    (16, "16:40", "xingyun-tech", None, "orchid-design", "1500.00"),
    # Lanshan Digital shows its customers to the distributor, which tops one up for it.
    (11, "11:05", "hualian-dist", "lanshan-digital", "lotus-clinic", "1000.00"),
]

# (days ago, local time, partner, customer, amount)
RECLAIMS = [(6, "10:00", "xingyun-tech", "orchid-design", "800.00")]

# (days ago, local time, customer, amount): customers who pay the vendor themselves.
RECHARGES = [
    (25, "09:30", "harbor-foods", "1000.00"),
    (24, "13:15", "pine-logistics", "3000.00"),
    (22, "10:00", "bluepeak-studio", "800.00"),
]

# customer → (price of one unit of usage, fewest and most units a day, first day of use
# as days ago). Lotus Clinic (resale) and Harbor Foods (its own money) spend more than
# they were given and end the month in arrears.
USAGE = {
    "redwood-trading": (Decimal("0.3472"), 400, 1100, 25),
    "orchid-design": (Decimal("0.3472"), 180, 620, 25),
    "lotus-clinic": (Decimal("0.3472"), 480, 900, 24),
    "harbor-foods": (Decimal("0.2150"), 200, 520, 24),
    "pine-logistics": (Decimal("0.1285"), 150, 480, 23),
    "bluepeak-studio": (Decimal("0.0890"), 100, 300, 21),
}
# Each customer's services, one a day in turn, and the charge mode it buys them in.
SERVICES: dict[str, tuple[ChargeMode, list[tuple[str, str | None]]]] = {
    "redwood-trading": (
        ChargeMode.ON_DEMAND,
        [
            ("hws.service.type.ec2", "hws.resource.type.vm"),
            ("hws.service.type.obs", "hws.resource.type.obs"),
            ("hws.service.type.ebs", "hws.resource.type.volume"),
        ],
    ),
    "orchid-design": (
        ChargeMode.ON_DEMAND,
        [
            ("hws.service.type.cdn", "hws.resource.type.cdn"),
            ("hws.service.type.obs", "hws.resource.type.obs"),
        ],
    ),
    "lotus-clinic": (
        ChargeMode.YEARLY_MONTHLY,
        [
            ("hws.service.type.rds", "hws.resource.type.rds.vm"),
            ("hws.service.type.ec2", "hws.resource.type.vm"),
        ],
    ),
    "harbor-foods": (
        ChargeMode.ON_DEMAND,
        [
            ("hws.service.type.ec2", "hws.resource.type.vm"),
            ("hws.service.type.eip", "hws.resource.type.bandwidth"),
        ],
    ),
    "pine-logistics": (
        ChargeMode.SAVINGS_PLAN,
        [("hws.service.type.cce", "hws.resource.type.cce.cluster")],
    ),
    "bluepeak-studio": (
        ChargeMode.ON_DEMAND,
        [("hws.service.type.waf", None), ("hws.service.type.dcs", None)],
    ),
}
USAGE_TIME = "12:00"
"""A day's usage counts at noon of that day, for its bill cycle."""
BILLING_TIME = "01:30"
"""The vendor's billing posts each day's usage early the next morning."""

# (days ago, local time, customer, day of the refunded charge as days ago, amount)
REFUNDS = [(7, "11:30", "redwood-trading", 9, "45.60")]


@dataclass(frozen=True, slots=True)
class DemoWithdrawal:
    partner: str
    requester: str
    amount: str
    bank_name: str
    bank_account: str
    requested: tuple[int, str]
    approved: tuple[int, str] | None = None
    paid: tuple[int, str, str] | None = None
    """(days ago, local time, the bank's payment reference)."""


WITHDRAWALS = [
    DemoWithdrawal(
        partner="jade-solutions",
        requester="jade-finance",
        amount="10000.00",
        bank_name="Bank of China, Shanghai Pudong Branch",
        bank_account="6217856100032145870",
        requested=(20, "15:20"),
        approved=(19, "10:10"),
        paid=(17, "14:00", "BOC20261116000731"),
    ),
    DemoWithdrawal(
        partner="hualian-dist",
        requester="hualian-dist",
        amount="5000.00",
        bank_name="China Merchants Bank, Shanghai Branch",
        bank_account="6214830100458823",
        requested=(1, "16:45"),
    ),
]


@dataclass(slots=True)
class _Plan:
    """The month's events, run in the order of their time whatever order they are added."""

    today: dt.date
    events: list[tuple[dt.datetime, int, Callable[[], object]]] = field(
        default_factory=list
    )

    def moment(self, days_ago: int, local_time: str) -> dt.datetime:
        day = self.today - dt.timedelta(days=days_ago)
        clock_time = dt.time.fromisoformat(local_time)
        return dt.datetime.combine(day, clock_time, tzinfo=ZONE).astimezone(dt.UTC)

    def at(self, days_ago: int, local_time: str, action: Callable[[], object]) -> None:
        self.events.append(
            (self.moment(days_ago, local_time), len(self.events), action)
        )

    def run(self, clock: FrozenClock) -> None:
        for moment, _, action in sorted(self.events, key=lambda e: e[:2]):
            clock.set(moment)
            action()


def seed(session: Session, box: SecretBox, *, seed_value: int = 2026) -> None:
    """Give the demo channel a month of money; does nothing when the ledger has any.

    ``box`` seals the bank accounts of the withdrawals; it must be built from the secret
    key of the server that will show them, or finance cannot read them.
    """
    if session.scalar(select(Transfer.id).limit(1)) is not None:
        return
    organisations = {
        org.account_name: org for org in session.scalars(select(Organisation))
    }
    users = {user.account_name: user for user in session.scalars(select(User))}
    vendor = identity.vendor_organisation(session)
    finance = identity.actor_for(session, users[FINANCE_LOGIN], vendor.id)

    def member(login: str, organisation: str) -> Actor:
        return identity.actor_for(session, users[login], organisations[organisation].id)

    def partner(account: str) -> Actor:
        return member(account, account)

    def org_id(account: str) -> str:
        return organisations[account].id

    # The last event is yesterday at the latest, so nothing lies in the future, and the
    # first falls inside the thirty days that the balance charts show.
    now = utc_now()
    plan = _Plan(today=now.astimezone(ZONE).date())

    for days_ago, at, account, amount, reference in TOPUPS:
        plan.at(
            days_ago,
            at,
            partial(
                service.record_topup,
                session,
                finance,
                partner_id=org_id(account),
                amount=to_minor(amount),
                reference=reference,
            ),
        )
    for days_ago, at, account, amount in CREDIT_LINES:
        plan.at(
            days_ago,
            at,
            partial(
                service.set_credit_limit,
                session,
                finance,
                partner_id=org_id(account),
                amount=to_minor(amount),
            ),
        )
    for days_ago, at, distributor, reseller, amount in RESELLER_FUNDING:
        plan.at(
            days_ago,
            at,
            partial(
                service.allocate_to_reseller,
                session,
                partner(distributor),
                reseller_id=org_id(reseller),
                amount=to_minor(amount),
            ),
        )
    for days_ago, at, account, payer, customer, amount in ALLOCATIONS:
        plan.at(
            days_ago,
            at,
            partial(
                service.allocate,
                session,
                partner(account),
                customer_id=org_id(customer),
                amount=to_minor(amount),
                indirect_partner_id=org_id(payer) if payer else None,
            ),
        )
    for days_ago, at, account, customer, amount in RECLAIMS:
        plan.at(
            days_ago,
            at,
            partial(
                service.reclaim,
                session,
                partner(account),
                customer_id=org_id(customer),
                amount=to_minor(amount),
            ),
        )
    for days_ago, at, customer, amount in RECHARGES:
        plan.at(
            days_ago,
            at,
            partial(
                service.record_recharge,
                session,
                finance,
                customer_id=org_id(customer),
                amount=to_minor(amount),
            ),
        )
    rng = random.Random(seed_value)  # noqa: S311 - demo figures, not secrets
    _plan_usage(plan, session, finance, org_id, rng)
    for item in WITHDRAWALS:
        _plan_withdrawal(
            plan,
            session,
            box=box,
            finance=finance,
            item=item,
            member=member,
            organisations=organisations,
        )

    clock = FrozenClock(now)
    previous = set_clock(clock)
    try:
        plan.run(clock)
    finally:
        set_clock(previous)


def _charge_id(plan: _Plan, customer: str, usage_days_ago: int) -> str:
    day = plan.today - dt.timedelta(days=usage_days_ago)
    return f"demo-{customer}-{day:%Y%m%d}"


def _plan_usage(
    plan: _Plan,
    session: Session,
    finance: Actor,
    org_id: Callable[[str], str],
    rng: random.Random,
) -> None:
    """Each day's usage, priced per unit and truncated to the fen as billing does."""
    first = max(start for *_, start in USAGE.values())
    for usage_days_ago in range(first, 1, -1):
        charges = []
        for customer, (price, fewest, most, start) in USAGE.items():
            units = rng.randint(fewest, most)
            if usage_days_ago > start:
                continue
            mode, services = SERVICES[customer]
            service_type, resource_type = services[usage_days_ago % len(services)]
            charges.append(
                service.Charge(
                    charge_id=_charge_id(plan, customer, usage_days_ago),
                    customer_id=org_id(customer),
                    amount=truncate_to_minor(units * price),
                    service_type_code=service_type,
                    resource_type_code=resource_type,
                    charge_mode=mode,
                    occurred_at=plan.moment(usage_days_ago, USAGE_TIME),
                )
            )
        plan.at(
            usage_days_ago - 1,
            BILLING_TIME,
            partial(service.post_charges, session, finance, charges),
        )
    for days_ago, at, customer, charged_days_ago, amount in REFUNDS:
        mode, services = SERVICES[customer]
        service_type, resource_type = services[charged_days_ago % len(services)]
        refund = service.Charge(
            charge_id=_charge_id(plan, customer, charged_days_ago),
            customer_id=org_id(customer),
            amount=to_minor(amount),
            refund=True,
            service_type_code=service_type,
            resource_type_code=resource_type,
            charge_mode=mode,
            occurred_at=plan.moment(days_ago, at),
        )
        plan.at(
            days_ago,
            at,
            partial(service.post_charges, session, finance, [refund]),
        )


def _plan_withdrawal(
    plan: _Plan,
    session: Session,
    *,
    box: SecretBox,
    finance: Actor,
    item: DemoWithdrawal,
    member: Callable[[str, str], Actor],
    organisations: dict[str, Organisation],
) -> None:
    """A bank withdrawal to the partner's own account, as far as the demo has it go."""
    made: list[str] = []

    def ask() -> None:
        legal_name = organisations[item.partner].legal_name
        made.append(
            withdrawals.request(
                session,
                member(item.requester, item.partner),
                box,
                amount=to_minor(item.amount),
                method=WithdrawalMethod.BANK,
                bank_holder=legal_name,
                bank_name=item.bank_name,
                bank_account=item.bank_account,
            ).id
        )

    plan.at(*item.requested, ask)
    if item.approved:
        plan.at(*item.approved, lambda: withdrawals.approve(session, finance, made[0]))
    if item.paid:
        days_ago, at, reference = item.paid
        plan.at(
            days_ago,
            at,
            lambda: withdrawals.mark_paid(session, finance, made[0], reference),
        )
