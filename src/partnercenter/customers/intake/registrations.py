"""Registrations: a partner's 15-day hold on a prospect before inviting it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from partnercenter.core.i18n import N_
from partnercenter.core.logging import get_logger
from partnercenter.customers.intake import access
from partnercenter.customers.intake.rules import (
    MAX_ACTIVE_REGISTRATIONS,
    REGISTRATION_DAYS,
)
from partnercenter.customers.models import (
    Registration,
    RegistrationClaim,
    RegistrationStatus,
)
from partnercenter.identity import service as identity

log = get_logger(__name__)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")


class ProspectTaken(Conflict):
    code = "prospect_registered"
    default_message = N_(
        "This prospect is already registered by a partner. A registration holds a "
        "prospect for %(days)s days; it can be registered again once that hold ends."
    )


class RegistrationLimitReached(Conflict):
    code = "registration_limit"
    default_message = N_(
        "Your company already holds %(limit)s active registrations, the most allowed at "
        "once. Cancel one or wait until one ends."
    )


class RegistrationClosed(Conflict):
    code = "registration_closed"
    default_message = N_("This registration has already ended.")


def claim_keys(email: str | None, phone: str | None) -> list[str]:
    keys = []
    if email:
        keys.append(f"email:{email}")
    if phone:
        keys.append(f"phone:{phone}")
    return keys


def register(
    session: Session,
    actor: Actor,
    *,
    prospect_name: str,
    email: str | None,
    phone: str | None,
) -> Registration:
    """Hold a prospect for the actor's partner, or refuse if another hold has it."""
    partner = access.intake_partner(session, actor, lock=True)
    name = prospect_name.strip()
    clean_email = identity.normalise_email(email)
    clean_phone = identity.normalise_phone(phone)
    problems = _problems(name, clean_email, clean_phone)
    if problems:
        raise InvalidInput(problems=problems)

    now = utc_now()
    keys = claim_keys(clean_email, clean_phone)
    _release_stale_claims(session, keys, now)
    if active_count(session, partner.id) >= MAX_ACTIVE_REGISTRATIONS:
        raise RegistrationLimitReached(limit=MAX_ACTIVE_REGISTRATIONS)

    registration = Registration(
        organisation_id=partner.id,
        prospect_name=name,
        email=clean_email,
        phone=clean_phone,
        status=RegistrationStatus.ACTIVE,
        created_by_user_id=actor.user_id,
        created_at=now,
        expires_at=now + dt.timedelta(days=REGISTRATION_DAYS),
    )
    _claim(session, registration, keys)
    audit.record(
        session,
        actor,
        "customer.registration_created",
        subject_type="registration",
        subject_id=registration.id,
        organisation_id=partner.id,
        after=snapshot(registration),
    )
    log.info(
        "customer.registration_created",
        registration_id=registration.id,
        organisation_id=partner.id,
    )
    return registration


def _problems(name: str, email: str | None, phone: str | None) -> list[FieldProblem]:
    problems = []
    if not name:
        problems.append(FieldProblem("prospect_name", N_("Enter the prospect's name.")))
    elif len(name) > 200:
        problems.append(
            FieldProblem(
                "prospect_name", N_("The name can have at most 200 characters.")
            )
        )
    if not email and not phone:
        problems.append(
            FieldProblem(
                "email", N_("Enter an email address or a phone number, or both.")
            )
        )
    if email and (len(email) > 320 or not _EMAIL.match(email)):
        problems.append(FieldProblem("email", N_("Enter a valid email address.")))
    if phone and not _PHONE.match(phone):
        problems.append(
            FieldProblem(
                "phone", N_("Enter a phone number of digits, optionally with +.")
            )
        )
    return problems


def _claim(session: Session, registration: Registration, keys: list[str]) -> None:
    # The unique key settles races between partners: the second insert fails here,
    # inside a savepoint so that the caller's transaction stays usable.
    try:
        with session.begin_nested():
            session.add(registration)
            session.flush()
            session.add_all(
                RegistrationClaim(key=key, registration_id=registration.id)
                for key in keys
            )
            session.flush()
    except IntegrityError:
        raise ProspectTaken(days=REGISTRATION_DAYS) from None


def _release_stale_claims(session: Session, keys: list[str], now: dt.datetime) -> None:
    """End holds on these contacts that are past their deadline but not yet expired by
    the worker, so that a late worker does not keep a prospect locked."""
    if not keys:
        return
    stale = session.scalars(
        select(Registration.id)
        .join(RegistrationClaim, RegistrationClaim.registration_id == Registration.id)
        .where(
            RegistrationClaim.key.in_(keys),
            Registration.status == RegistrationStatus.ACTIVE,
            Registration.expires_at <= now,
        )
    ).all()
    for registration_id in stale:
        expire(session, registration_id)


def active_count(session: Session, partner_id: str) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.organisation_id == partner_id,
            Registration.status == RegistrationStatus.ACTIVE,
        )
    )
    return count or 0


def cancel(session: Session, actor: Actor, registration_id: str) -> Registration:
    access.intake_partner(session, actor)
    registration = get(session, actor, registration_id)
    if registration.status is not RegistrationStatus.ACTIVE:
        raise RegistrationClosed()

    before = snapshot(registration)
    _end(session, registration, RegistrationStatus.CANCELLED, utc_now())
    audit.record(
        session,
        actor,
        "customer.registration_cancelled",
        subject_type="registration",
        subject_id=registration.id,
        organisation_id=registration.organisation_id,
        before=before,
        after=snapshot(registration),
    )
    log.info("customer.registration_cancelled", registration_id=registration.id)
    return registration


def convert(
    session: Session, actor: Actor, registration: Registration, customer_id: str
) -> None:
    """The prospect has become the partner's customer: its hold has done its work."""
    before = snapshot(registration)
    registration.customer_id = customer_id
    _end(session, registration, RegistrationStatus.CONVERTED, utc_now())
    audit.record(
        session,
        actor,
        "customer.registration_converted",
        subject_type="registration",
        subject_id=registration.id,
        organisation_id=registration.organisation_id,
        before=before,
        after=snapshot(registration),
    )


def _end(
    session: Session,
    registration: Registration,
    status: RegistrationStatus,
    at: dt.datetime,
) -> None:
    registration.status = status
    registration.ended_at = at
    session.execute(
        delete(RegistrationClaim).where(
            RegistrationClaim.registration_id == registration.id
        )
    )
    session.flush()


def expire(session: Session, registration_id: str) -> bool:
    """Mark one due registration expired; False if it had already ended.

    The conditional update makes this happen once, whichever worker or request gets there
    first; the hold ends at its deadline, however late the worker runs.
    """
    registration = session.get(Registration, registration_id)
    if registration is None:
        return False
    changed = session.execute(
        update(Registration)
        .where(
            Registration.id == registration_id,
            Registration.status == RegistrationStatus.ACTIVE,
        )
        .values(status=RegistrationStatus.EXPIRED, ended_at=Registration.expires_at)
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        return False
    session.execute(
        delete(RegistrationClaim).where(
            RegistrationClaim.registration_id == registration_id
        )
    )
    session.refresh(registration)
    audit.record(
        session,
        SYSTEM,
        "customer.registration_expired",
        subject_type="registration",
        subject_id=registration_id,
        organisation_id=registration.organisation_id,
        after=snapshot(registration),
    )
    log.info("customer.registration_expired", registration_id=registration_id)
    return True


def due_ids(session: Session, now: dt.datetime, limit: int) -> Sequence[str]:
    return session.scalars(
        select(Registration.id)
        .where(
            Registration.status == RegistrationStatus.ACTIVE,
            Registration.expires_at <= now,
        )
        .order_by(Registration.expires_at)
        .limit(limit)
    ).all()


def get(session: Session, actor: Actor, registration_id: str) -> Registration:
    registration = session.scalar(
        access.visible(
            select(Registration).where(Registration.id == registration_id),
            Registration,
            actor,
        )
    )
    if registration is None:
        raise NotFound(N_("No such registration."))
    return registration


def listing(
    session: Session, actor: Actor, *, status: RegistrationStatus | None = None
) -> Sequence[Registration]:
    access.intake_partner(session, actor)
    statement = access.visible(select(Registration), Registration, actor)
    if status is not None:
        statement = statement.where(Registration.status == status)
    return session.scalars(
        statement.order_by(Registration.created_at.desc(), Registration.id)
    ).all()


def matching_active(
    session: Session, partner_id: str, email: str | None, phone: str | None
) -> Registration | None:
    """The partner's active registration holding this email or phone, if any."""
    keys = claim_keys(identity.normalise_email(email), identity.normalise_phone(phone))
    if not keys:
        return None
    return session.scalar(
        select(Registration)
        .join(RegistrationClaim, RegistrationClaim.registration_id == Registration.id)
        .where(
            RegistrationClaim.key.in_(keys),
            Registration.organisation_id == partner_id,
            Registration.status == RegistrationStatus.ACTIVE,
        )
        .limit(1)
    )


def days_left(registration: Registration, now: dt.datetime) -> int:
    """Whole days until the hold ends, counting a started day as one."""
    if registration.status is not RegistrationStatus.ACTIVE:
        return 0
    seconds = (registration.expires_at - now).total_seconds()
    return max(0, -int(-seconds // 86400))


def snapshot(registration: Registration) -> dict[str, object]:
    return {
        "prospect_name": registration.prospect_name,
        "email": registration.email,
        "phone": registration.phone,
        "status": str(registration.status),
        "expires_at": registration.expires_at.isoformat(),
    }
