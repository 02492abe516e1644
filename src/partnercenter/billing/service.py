"""Billing's use cases: the service catalogue the vendor keeps, and the usage lines that
consumption writes beside the ledger's transfers.

The charges themselves come in through :func:`partnercenter.ledger.service.post_charges`,
which locks the customers' accounts, lets vouchers pay first and posts the cash part; it
records each charge here with :func:`record_usage`. Only the ledger changes a balance.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from partnercenter.billing.models import ResourceType, ServiceType, UsageLine
from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from partnercenter.core.i18n import N_
from partnercenter.identity import service as identity
from partnercenter.identity.permissions import Permission
from partnercenter.ledger.models import TransferKind

BILL_TIMEZONE = "Asia/Shanghai"
"""Bill cycles and policy months are months of this zone, whatever the display zone is."""
CYCLE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
CHUNK = 1000


def bill_cycle_of(moment: dt.datetime) -> str:
    """``YYYY-MM`` of the month ``moment`` falls in, in Asia/Shanghai."""
    return moment.astimezone(ZoneInfo(BILL_TIMEZONE)).strftime("%Y-%m")


def is_cycle(value: object) -> bool:
    return isinstance(value, str) and CYCLE.match(value) is not None


def month_end(cycle: str) -> dt.datetime:
    """The last second of the month (23:59:59 in Asia/Shanghai), in UTC."""
    year, month = (int(part) for part in cycle.split("-"))
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    start = dt.datetime.combine(following, dt.time(), tzinfo=ZoneInfo(BILL_TIMEZONE))
    return (start - dt.timedelta(seconds=1)).astimezone(dt.UTC)


def previous_cycle(cycle: str) -> str:
    year, month = (int(part) for part in cycle.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


# -- the service catalogue ------------------------------------------------------------------


class NoSuchServiceType(NotFound):
    code = "no_such_service_type"
    default_message = N_("No such service type.")


class ServiceTypeExists(Conflict):
    code = "service_type_exists"
    default_message = N_("A service type with this code exists already.")


def service_types(session: Session) -> list[ServiceType]:
    return list(session.scalars(select(ServiceType).order_by(ServiceType.code)))


def resource_types(session: Session) -> list[ResourceType]:
    return list(session.scalars(select(ResourceType).order_by(ResourceType.code)))


def _names(name_zh: str, name_en: str) -> tuple[str, str]:
    problems = [
        FieldProblem(field, N_("Enter a name of 1 to 100 characters."))
        for field, value in (("name_zh", name_zh), ("name_en", name_en))
        if not 0 < len(value.strip()) <= 100
    ]
    if problems:
        raise InvalidInput(problems=problems)
    return name_zh.strip(), name_en.strip()


def add_service_type(
    session: Session, actor: Actor, *, code: str, name_zh: str, name_en: str
) -> ServiceType:
    identity.authorize(actor, Permission.CATALOGUE_MANAGE)
    code = code.strip()
    problems = []
    if not CODE.match(code):
        problems.append(
            FieldProblem(
                "code",
                N_(
                    "Enter a code of lower-case letters, digits, dots, hyphens or "
                    "underscores, such as hws.service.type.ec2."
                ),
            )
        )
    try:
        name_zh, name_en = _names(name_zh, name_en)
    except InvalidInput as invalid:
        problems.extend(invalid.problems)
    if problems:
        raise InvalidInput(problems=problems)
    if session.get(ServiceType, code) is not None:
        raise ServiceTypeExists()
    now = utc_now()
    row = ServiceType(
        code=code, name_zh=name_zh, name_en=name_en, created_at=now, updated_at=now
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "billing.service_type_added",
        subject_type="service_type",
        subject_id=code,
        organisation_id=actor.organisation_id,
        after={"name_zh": name_zh, "name_en": name_en},
    )
    return row


def rename_service_type(
    session: Session, actor: Actor, code: str, *, name_zh: str, name_en: str
) -> ServiceType:
    identity.authorize(actor, Permission.CATALOGUE_MANAGE)
    row = session.get(ServiceType, code)
    if row is None:
        raise NoSuchServiceType()
    name_zh, name_en = _names(name_zh, name_en)
    before = {"name_zh": row.name_zh, "name_en": row.name_en}
    after = {"name_zh": name_zh, "name_en": name_en}
    if before == after:
        return row
    row.name_zh, row.name_en, row.updated_at = name_zh, name_en, utc_now()
    session.flush()
    audit.record(
        session,
        actor,
        "billing.service_type_renamed",
        subject_type="service_type",
        subject_id=code,
        organisation_id=actor.organisation_id,
        before=before,
        after=after,
    )
    return row


def unknown_codes(
    session: Session,
    service_codes: Iterable[str],
    resource_codes: Iterable[str],
) -> tuple[set[str], dict[str, str]]:
    """The service codes not in the catalogue, and each known resource type's service."""
    wanted_services = set(service_codes)
    known = set(
        session.scalars(
            select(ServiceType.code).where(ServiceType.code.in_(wanted_services))
        )
    )
    wanted_resources = set(resource_codes)
    resources = {
        row.code: row.service_type_code
        for row in session.execute(
            select(ResourceType.code, ResourceType.service_type_code).where(
                ResourceType.code.in_(wanted_resources)
            )
        )
    }
    return wanted_services - known, resources


# -- usage lines -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownCharge:
    customer_id: str
    amount: int
    transfer_id: str | None


def known_charges(
    session: Session, keys: Iterable[tuple[TransferKind, str]]
) -> dict[tuple[TransferKind, str], KnownCharge]:
    """The usage lines already recorded under (kind, charge id)."""
    wanted = set(keys)
    ids = sorted({charge_id for _, charge_id in wanted})
    found: dict[tuple[TransferKind, str], KnownCharge] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(
                UsageLine.kind,
                UsageLine.charge_id,
                UsageLine.customer_id,
                UsageLine.amount,
                UsageLine.transfer_id,
            ).where(UsageLine.charge_id.in_(ids[start : start + CHUNK]))
        )
        for kind, charge_id, customer_id, amount, transfer_id in rows:
            if (kind, charge_id) in wanted:
                found[(kind, charge_id)] = KnownCharge(customer_id, amount, transfer_id)
    return found


def record_usage(session: Session, lines: Sequence[dict[str, object]]) -> None:
    """Write the usage lines of one delivery of charges (columns of :class:`UsageLine`)."""
    for start in range(0, len(lines), CHUNK):
        session.execute(insert(UsageLine), list(lines[start : start + CHUNK]))
