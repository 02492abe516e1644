"""Use cases of identity: accounts, organisations, sign-in, sessions, roles, authorisation."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from partnercenter.core import audit, mail
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
)
from partnercenter.core.i18n import N_, translator
from partnercenter.core.ids import new_token
from partnercenter.core.scoping import ensure_owned, owned_by
from partnercenter.core.security import token_hash
from partnercenter.core.settings import Settings
from partnercenter.identity import passwords
from partnercenter.identity.models import (
    AccountType,
    ConsoleSession,
    CustomRole,
    LoginAttempt,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    PartnerType,
    PasswordResetToken,
    RealNameStatus,
    User,
)
from partnercenter.identity.permissions import (
    PARTNER_PERMISSIONS,
    PRESET_ROLES,
    Permission,
)

ACCOUNT_NAME = re.compile(r"^[A-Za-z_-][A-Za-z0-9_-]{4,31}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,30}$")
RESET_LINK_HOURS = 1


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    default_message = N_("The account or the password is not correct.")


# -- accounts ---------------------------------------------------------------------------


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


def normalise_phone(phone: str | None) -> str | None:
    if not phone or not phone.strip():
        return None
    return re.sub(r"[ -]", "", phone.strip())


def check_account_name(name: str, field: str = "account_name") -> FieldProblem | None:
    lowered = name.lower()
    if not ACCOUNT_NAME.match(name) or name.isdigit():
        return FieldProblem(
            field,
            N_(
                "An account name has 5 to 32 letters, digits, '_' or '-', and does not "
                "start with a digit."
            ),
        )
    if lowered.startswith(("op_", "shadow_")):
        return FieldProblem(
            field, N_("An account name may not start with op_ or shadow_.")
        )
    return None


def create_user(
    session: Session,
    *,
    account_name: str,
    display_name: str,
    password: str,
    email: str | None = None,
    phone: str | None = None,
    account_type: AccountType = AccountType.PERSONAL,
    real_name_status: RealNameStatus = RealNameStatus.NONE,
    locale: str | None = None,
) -> User:
    email, phone = normalise_email(email), normalise_phone(phone)
    problems = [p for p in [check_account_name(account_name)] if p]
    if email and not EMAIL.match(email):
        problems.append(FieldProblem("email", N_("This is not an email address.")))
    if phone and not PHONE.match(phone):
        problems.append(FieldProblem("phone", N_("This is not a phone number.")))
    if not display_name.strip():
        problems.append(FieldProblem("display_name", N_("A name is required.")))
    try:
        passwords.check_policy(password, account_name=account_name)
    except InvalidInput as error:
        problems.extend(error.problems)
    problems.extend(
        _taken(session, account_name=account_name, email=email, phone=phone)
    )
    if problems:
        raise InvalidInput(problems=problems)

    now = utc_now()
    user = User(
        account_name=account_name,
        display_name=display_name.strip(),
        email=email,
        phone=phone,
        password_hash=passwords.hash_password(password),
        account_type=account_type,
        real_name_status=real_name_status,
        locale=locale,
        is_active=True,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user


def in_use(
    session: Session,
    *,
    account_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> bool:
    """Whether an account already has this account name, email address or phone number."""
    return bool(
        _taken(
            session,
            account_name=account_name or "",
            email=normalise_email(email),
            phone=normalise_phone(phone),
        )
    )


def _taken(
    session: Session, *, account_name: str, email: str | None, phone: str | None
) -> list[FieldProblem]:
    problems = []
    lowered = account_name.lower()
    if session.scalar(
        select(User.id).where(func.lower(User.account_name) == lowered)
    ) or session.scalar(
        select(Organisation.id).where(func.lower(Organisation.account_name) == lowered)
    ):
        problems.append(FieldProblem("account_name", N_("This account name is taken.")))
    if email and session.scalar(select(User.id).where(User.email == email)):
        problems.append(
            FieldProblem("email", N_("This email address is already in use."))
        )
    if phone and session.scalar(select(User.id).where(User.phone == phone)):
        problems.append(
            FieldProblem("phone", N_("This phone number is already in use."))
        )
    return problems


def find_user_by_login(session: Session, identifier: str) -> User | None:
    """The account whose account name, email or phone is ``identifier``."""
    identifier = identifier.strip()
    if not identifier:
        return None
    return session.scalar(
        select(User).where(
            or_(
                func.lower(User.account_name) == identifier.lower(),
                User.email == normalise_email(identifier),
                User.phone == normalise_phone(identifier),
            )
        )
    )


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


SIGN_UPS_PER_ADDRESS_PER_HOUR = 10
"""New accounts one network address may create in an hour; stops scripted mass sign-up."""


def register_personal_account(
    session: Session,
    settings: Settings,
    *,
    account_name: str,
    display_name: str,
    email: str,
    phone: str,
    password: str,
    ip_address: str | None,
    locale: str | None,
) -> User:
    """A person signs up for a personal account; it starts without real-name verification.

    In the vendor's real systems, verification happens on its own site; here the vendor's
    staff record the result on the account (see the user accounts page).
    """
    since = utc_now() - dt.timedelta(hours=1)
    if (
        ip_address
        and (
            session.scalar(
                select(func.count())
                .select_from(LoginAttempt)
                .where(
                    LoginAttempt.identifier == SIGN_UP_MARK,
                    LoginAttempt.ip_address == ip_address,
                    LoginAttempt.attempted_at >= since,
                )
            )
            or 0
        )
        >= SIGN_UPS_PER_ADDRESS_PER_HOUR
    ):
        raise RateLimited(
            N_(
                "Too many accounts were created from this address. Try again in an hour."
            ),
            retry_after=3600,
        )
    if not email.strip():
        raise InvalidInput(
            problems=[FieldProblem("email", N_("An email address is required."))]
        )
    user = create_user(
        session,
        account_name=account_name,
        display_name=display_name,
        password=password,
        email=email,
        phone=phone or None,
        account_type=AccountType.PERSONAL,
        real_name_status=RealNameStatus.NONE,
        locale=locale,
    )
    session.add(
        LoginAttempt(
            identifier=SIGN_UP_MARK,
            ip_address=ip_address,
            succeeded=True,
            attempted_at=utc_now(),
        )
    )
    actor = Actor(
        organisation_id="",
        organisation_kind="user",
        permissions=frozenset(),
        user_id=user.id,
    )
    audit.record(
        session,
        actor,
        "user.registered",
        subject_type="user",
        subject_id=user.id,
        organisation_id=None,
        after={"account_name": user.account_name, "email": user.email},
    )
    return user


SIGN_UP_MARK = "#sign-up"
"""Sign-ups are counted in the sign-in attempts table under this identifier, which no
account name can be."""


# -- organisations ----------------------------------------------------------------------


def create_organisation(
    session: Session,
    actor: Actor,
    *,
    kind: OrganisationKind,
    account_name: str,
    display_name: str,
    partner_type: PartnerType | None = None,
    parent_id: str | None = None,
    country_region: str | None = None,
    legal_name: str | None = None,
    registration_number: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    main_user: User | None = None,
    organisation_id: str | None = None,
) -> Organisation:
    problems = [p for p in [check_account_name(account_name)] if p]
    if kind is OrganisationKind.PARTNER and partner_type is None:
        problems.append(FieldProblem("partner_type", N_("Choose the partner type.")))
    if partner_type is PartnerType.RESELLER:
        parent = session.get(Organisation, parent_id) if parent_id else None
        if parent is None or parent.partner_type is not PartnerType.DISTRIBUTOR:
            problems.append(
                FieldProblem("parent_id", N_("A reseller belongs to one distributor."))
            )
    elif parent_id:
        problems.append(
            FieldProblem("parent_id", N_("Only a reseller belongs to a distributor."))
        )
    lowered = account_name.lower()
    owner_name = main_user.account_name.lower() if main_user else None
    if lowered != owner_name and (
        session.scalar(
            select(Organisation.id).where(
                func.lower(Organisation.account_name) == lowered
            )
        )
        or session.scalar(
            select(User.id).where(func.lower(User.account_name) == lowered)
        )
    ):
        problems.append(FieldProblem("account_name", N_("This account name is taken.")))
    if problems:
        raise InvalidInput(problems=problems)

    organisation = Organisation(
        kind=kind,
        partner_type=partner_type,
        account_name=account_name,
        display_name=display_name.strip() or account_name,
        parent_id=parent_id,
        country_region=(country_region or "").upper() or None,
        legal_name=legal_name,
        registration_number=registration_number,
        contact_name=contact_name,
        contact_email=normalise_email(contact_email),
        contact_phone=normalise_phone(contact_phone),
        main_user_id=main_user.id if main_user else None,
        is_active=True,
        created_at=utc_now(),
    )
    if organisation_id:
        organisation.id = organisation_id
    session.add(organisation)
    session.flush()
    audit.record(
        session,
        actor,
        "organisation.created",
        subject_type="organisation",
        subject_id=organisation.id,
        organisation_id=organisation.id,
        after=organisation_snapshot(organisation),
    )
    return organisation


def organisation_snapshot(organisation: Organisation) -> dict[str, object]:
    return {
        "kind": organisation.public_kind,
        "account_name": organisation.account_name,
        "display_name": organisation.display_name,
        "parent_id": organisation.parent_id,
        "country_region": organisation.country_region,
        "legal_name": organisation.legal_name,
        "registration_number": organisation.registration_number,
    }


def get_organisation(session: Session, organisation_id: str) -> Organisation:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound()
    return organisation


def vendor_organisation(session: Session) -> Organisation:
    vendor = session.scalar(
        select(Organisation).where(Organisation.kind == OrganisationKind.VENDOR)
    )
    if vendor is None:
        raise NotFound(N_("The vendor organisation does not exist yet."))
    return vendor


def list_organisations(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.created_at)).all()


# -- memberships and roles --------------------------------------------------------------


def add_membership(
    session: Session,
    user: User,
    organisation: Organisation,
    *,
    roles: Iterable[str],
    is_main_account: bool = False,
) -> Membership:
    membership = Membership(
        user_id=user.id,
        organisation_id=organisation.id,
        joined_at=utc_now(),
        is_main_account=is_main_account,
    )
    membership.roles = [role_row(code) for code in roles]
    session.add(membership)
    session.flush()
    return membership


CUSTOM_ROLE_PREFIX = "custom:"
"""Roles are named by a preset code, or by ``custom:<id>`` for a partner's custom role."""


def role_row(code: str) -> MembershipRole:
    """The membership-role row for a role code."""
    number = code.removeprefix(CUSTOM_ROLE_PREFIX)
    if code.startswith(CUSTOM_ROLE_PREFIX) and number.isdigit():
        return MembershipRole(custom_role_id=int(number))
    if code not in PRESET_ROLES:
        raise InvalidInput(N_("Unknown role %(role)s."), role=code)
    return MembershipRole(preset=code)


def role_code(row: MembershipRole) -> str:
    """The role code of a membership-role row (the inverse of :func:`role_row`)."""
    return row.preset or f"{CUSTOM_ROLE_PREFIX}{row.custom_role_id}"


def role_codes(membership: Membership) -> list[str]:
    return [role_code(row) for row in membership.roles]


def active_memberships(session: Session, user_id: str) -> Sequence[Membership]:
    return session.scalars(
        select(Membership)
        .where(Membership.user_id == user_id, Membership.left_at.is_(None))
        .order_by(Membership.joined_at)
    ).all()


def active_membership(
    session: Session, user_id: str, organisation_id: str
) -> Membership | None:
    return session.scalar(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.organisation_id == organisation_id,
            Membership.left_at.is_(None),
        )
    )


def permissions_of(session: Session, membership: Membership) -> frozenset[str]:
    granted: set[str] = set()
    custom_ids = []
    for row in membership.roles:
        if row.preset:
            granted |= PRESET_ROLES[row.preset].permissions
        elif row.custom_role_id is not None:
            custom_ids.append(row.custom_role_id)
    if custom_ids:
        for role in session.scalars(
            select(CustomRole).where(CustomRole.id.in_(custom_ids))
        ):
            granted |= set(role.permissions)
    return frozenset(granted)


def actor_for(
    session: Session, user: User, organisation_id: str, *, request_id: str | None = None
) -> Actor:
    membership = active_membership(session, user.id, organisation_id)
    if membership is None or not user.is_active:
        raise Forbidden()
    organisation = get_organisation(session, organisation_id)
    return Actor(
        organisation_id=organisation.id,
        organisation_kind=organisation.public_kind,
        permissions=permissions_of(session, membership),
        user_id=user.id,
        request_id=request_id,
        roles=frozenset(role_codes(membership)),
    )


def authorize(actor: Actor, permission: Permission) -> None:
    """The one permission check of the product."""
    if not actor.can(permission):
        raise Forbidden()


# -- sign-in and sessions ---------------------------------------------------------------


def _failures_since(
    session: Session, column: object, value: str, since: dt.datetime
) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                column == value,  # type: ignore[arg-type]
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.attempted_at >= since,
            )
        )
        or 0
    )


def _check_throttle(
    session: Session, settings: Settings, identifier: str, ip_address: str | None
) -> None:
    window = dt.timedelta(minutes=settings.login_lock_minutes)
    since = utc_now() - window
    limit = settings.login_max_failures
    by_account = _failures_since(session, LoginAttempt.identifier, identifier, since)
    # An address may try several accounts (an office behind one NAT), so it gets more room.
    by_address = (
        _failures_since(session, LoginAttempt.ip_address, ip_address, since)
        if ip_address
        else 0
    )
    if by_account >= limit or by_address >= limit * 4:
        raise RateLimited(
            N_("Too many failed sign-ins. Try again in %(minutes)s minutes."),
            retry_after=int(window.total_seconds()),
            minutes=settings.login_lock_minutes,
        )


def authenticate(
    session: Session,
    settings: Settings,
    *,
    identifier: str,
    password: str,
    ip_address: str | None,
) -> User:
    """The user with these credentials; records the attempt either way.

    The attempt is recorded by the caller committing even when this raises, which is why
    failures are flushed before raising: see ``views.sign_in``.
    """
    key = identifier.strip().lower()[:320]
    _check_throttle(session, settings, key, ip_address)

    user = find_user_by_login(session, identifier)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.is_active
    session.add(
        LoginAttempt(
            identifier=key,
            ip_address=ip_address,
            succeeded=ok,
            attempted_at=utc_now(),
        )
    )
    session.flush()
    if not ok or user is None:
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def start_session(
    session: Session,
    settings: Settings,
    user: User,
    *,
    ip_address: str | None,
    user_agent: str | None,
) -> str:
    """Open a console session and return the token for its cookie."""
    memberships = active_memberships(session, user.id)
    token = new_token()
    now = utc_now()
    session.add(
        ConsoleSession(
            token_hash=token_hash(token),
            user_id=user.id,
            organisation_id=memberships[0].organisation_id if memberships else None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=settings.session_hours),
            ip_address=ip_address,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    session.flush()
    return token


def resume_session(
    session: Session, settings: Settings, token: str | None
) -> tuple[ConsoleSession, User] | None:
    """The live session of a cookie token, its expiry pushed back; None if gone."""
    if not token:
        return None
    row = session.get(ConsoleSession, token_hash(token))
    now = utc_now()
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at > dt.timedelta(minutes=1):
        row.last_seen_at = now
        row.expires_at = now + dt.timedelta(hours=settings.session_hours)
    return row, user


def end_session(session: Session, token: str | None) -> None:
    if token:
        row = session.get(ConsoleSession, token_hash(token))
        if row is not None:
            session.delete(row)


def end_all_sessions(
    session: Session, user_id: str, *, keep: str | None = None
) -> None:
    keep_hash = token_hash(keep) if keep else None
    for row in session.scalars(
        select(ConsoleSession).where(ConsoleSession.user_id == user_id)
    ):
        if row.token_hash != keep_hash:
            session.delete(row)


def switch_organisation(
    session: Session, console_session: ConsoleSession, organisation_id: str
) -> None:
    if active_membership(session, console_session.user_id, organisation_id) is None:
        raise Forbidden()
    console_session.organisation_id = organisation_id


# -- passwords --------------------------------------------------------------------------


def change_password(
    session: Session,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_session: str | None,
) -> None:
    if not passwords.verify_password(user.password_hash, current_password):
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "current_password", N_("The current password is not correct.")
                )
            ]
        )
    _set_password(session, user, new_password, keep_session=keep_session)


def _set_password(
    session: Session, user: User, new_password: str, *, keep_session: str | None
) -> None:
    passwords.check_policy(
        new_password, account_name=user.account_name, field="new_password"
    )
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utc_now()
    end_all_sessions(session, user.id, keep=keep_session)
    actor = Actor(
        organisation_id="",
        organisation_kind="user",
        permissions=frozenset(),
        user_id=user.id,
    )
    audit.record(
        session,
        actor,
        "user.password_changed",
        subject_type="user",
        subject_id=user.id,
        organisation_id=None,
    )


def request_password_reset(
    session: Session, settings: Settings, identifier: str
) -> None:
    """Email a reset link if the account exists; say nothing either way."""
    user = find_user_by_login(session, identifier)
    if user is None or not user.email or not user.is_active:
        return
    token = new_token()
    now = utc_now()
    session.add(
        PasswordResetToken(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + dt.timedelta(hours=RESET_LINK_HOURS),
        )
    )
    tr = translator(user.locale or settings.locale)
    link = f"{settings.base_url.rstrip('/')}/password/reset/{token}"
    mail.queue_email(
        session,
        to=user.email,
        subject=tr.gettext("Reset your Partner Center password"),
        body=tr.gettext(
            "Someone asked to reset the password of the account %(account)s. "
            "If it was you, open this link within %(hours)s hour to choose a new password:"
        )
        % {"account": user.account_name, "hours": RESET_LINK_HOURS}
        + f"\n\n{link}\n\n"
        + tr.gettext(
            "If it was not you, ignore this email; the password stays as it is."
        ),
    )


def reset_token_user(session: Session, token: str) -> tuple[PasswordResetToken, User]:
    row = session.get(PasswordResetToken, token_hash(token))
    if row is None or row.used_at is not None or row.expires_at <= utc_now():
        raise NotFound(N_("This reset link is not valid any more. Ask for a new one."))
    return row, get_user(session, row.user_id)


def reset_password(session: Session, token: str, new_password: str) -> User:
    row, user = reset_token_user(session, token)
    _set_password(session, user, new_password, keep_session=None)
    row.used_at = utc_now()
    return user


# -- custom roles -----------------------------------------------------------------------


def delete_custom_role(session: Session, actor: Actor, role_id: int) -> None:
    authorize(actor, Permission.ROLES_MANAGE)
    role = session.get(CustomRole, role_id)
    if role is None or role.organisation_id != actor.organisation_id:
        raise NotFound()
    in_use = session.scalar(
        select(func.count())
        .select_from(MembershipRole)
        .join(Membership, Membership.id == MembershipRole.membership_id)
        .where(MembershipRole.custom_role_id == role_id, Membership.left_at.is_(None))
    )
    if in_use:
        raise Conflict(
            N_(
                "Current members still hold this role (%(count)s). Take it from them on "
                "the Members page first, then delete it."
            ),
            count=in_use,
        )
    # Rows of former members still point at the role; they go with it.
    for row in session.scalars(
        select(MembershipRole).where(MembershipRole.custom_role_id == role_id)
    ):
        session.delete(row)
    # No relationship tells the unit of work that these rows must go first.
    session.flush()
    session.delete(role)
    audit.record(
        session,
        actor,
        "role.deleted",
        subject_type="custom_role",
        subject_id=str(role_id),
        organisation_id=actor.organisation_id,
        before=_role_snapshot(role),
    )


ROLE_NAME_MAX = 64
ROLE_DESCRIPTION_MAX = 500


def custom_roles(session: Session, actor: Actor) -> Sequence[CustomRole]:
    """The custom roles of the actor's organisation, by name."""
    authorize(actor, Permission.ROLES_MANAGE)
    return session.scalars(
        owned_by(select(CustomRole), CustomRole, actor).order_by(CustomRole.name)
    ).all()


def custom_role_holders(session: Session, organisation_id: str) -> dict[int, int]:
    """How many current members hold each custom role of the organisation."""
    rows = session.execute(
        select(MembershipRole.custom_role_id, func.count())
        .join(Membership, Membership.id == MembershipRole.membership_id)
        .where(
            Membership.organisation_id == organisation_id,
            Membership.left_at.is_(None),
            MembershipRole.custom_role_id.is_not(None),
        )
        .group_by(MembershipRole.custom_role_id)
    ).all()
    return {role_id: count for role_id, count in rows if role_id is not None}


def get_custom_role(session: Session, actor: Actor, role_id: int) -> CustomRole:
    authorize(actor, Permission.ROLES_MANAGE)
    role = session.get(CustomRole, role_id)
    if role is None:
        raise NotFound()
    ensure_owned(role.organisation_id, actor)
    return role


def _role_snapshot(role: CustomRole) -> dict[str, object]:
    return {
        "name": role.name,
        "description": role.description,
        "permissions": list(role.permissions),
    }


def _checked_role(
    session: Session,
    actor: Actor,
    *,
    name: str,
    description: str | None,
    permissions: Iterable[str],
    role_id: int | None = None,
) -> tuple[str, str | None, list[str]]:
    """The cleaned name, description and items of a role form, or every problem at once."""
    name = " ".join(name.split())
    description = (description or "").strip() or None
    chosen = set(permissions)
    problems = []
    if not name:
        problems.append(FieldProblem("name", N_("Give the role a name.")))
    elif len(name) > ROLE_NAME_MAX:
        problems.append(
            FieldProblem(
                "name",
                N_("A role name has at most %(max)s characters."),
                {"max": ROLE_NAME_MAX},
            )
        )
    elif _role_name_taken(session, actor.organisation_id, name, role_id):
        problems.append(
            FieldProblem("name", N_("Another role of your company has this name."))
        )
    if description and len(description) > ROLE_DESCRIPTION_MAX:
        problems.append(
            FieldProblem(
                "description",
                N_("A description has at most %(max)s characters."),
                {"max": ROLE_DESCRIPTION_MAX},
            )
        )
    if not chosen:
        problems.append(
            FieldProblem("permissions", N_("Choose at least one permission item."))
        )
    elif not chosen <= PARTNER_PERMISSIONS:
        problems.append(
            FieldProblem(
                "permissions", N_("Choose permission items from the list only.")
            )
        )
    if problems:
        raise InvalidInput(problems=problems)
    return name, description, [p.value for p in Permission if p in chosen]


def _role_name_taken(
    session: Session, organisation_id: str, name: str, role_id: int | None
) -> bool:
    # Two admins saving the same new name at the same moment both pass this check; the
    # unique constraint then refuses the second with a server error instead of this message.
    statement = select(CustomRole.id).where(
        CustomRole.organisation_id == organisation_id,
        func.lower(CustomRole.name) == name.lower(),
    )
    if role_id is not None:
        statement = statement.where(CustomRole.id != role_id)
    return session.scalar(statement.limit(1)) is not None


def create_custom_role(
    session: Session,
    actor: Actor,
    *,
    name: str,
    description: str | None,
    permissions: Iterable[str],
) -> CustomRole:
    authorize(actor, Permission.ROLES_MANAGE)
    name, description, items = _checked_role(
        session, actor, name=name, description=description, permissions=permissions
    )

    role = CustomRole(
        organisation_id=actor.organisation_id,
        name=name,
        description=description,
        permissions=items,
        created_at=utc_now(),
    )
    session.add(role)
    session.flush()

    audit.record(
        session,
        actor,
        "role.created",
        subject_type="custom_role",
        subject_id=str(role.id),
        organisation_id=actor.organisation_id,
        after=_role_snapshot(role),
    )
    return role


def update_custom_role(
    session: Session,
    actor: Actor,
    role_id: int,
    *,
    name: str,
    description: str | None,
    permissions: Iterable[str],
) -> CustomRole:
    """Change a role; members holding it get the new items on their next request."""
    role = get_custom_role(session, actor, role_id)
    name, description, items = _checked_role(
        session,
        actor,
        name=name,
        description=description,
        permissions=permissions,
        role_id=role.id,
    )
    before = _role_snapshot(role)

    role.name, role.description, role.permissions = name, description, items
    session.flush()

    after = _role_snapshot(role)
    if after != before:
        audit.record(
            session,
            actor,
            "role.updated",
            subject_type="custom_role",
            subject_id=str(role.id),
            organisation_id=actor.organisation_id,
            before=before,
            after=after,
        )
    return role


# -- company profile --------------------------------------------------------------------

KIND_LABELS: dict[str, str] = {
    "vendor": N_("Vendor"),
    "solution_provider": N_("Solution provider"),
    "distributor": N_("Distributor"),
    "reseller": N_("Reseller"),
    "customer": N_("Customer"),
}
"""Names of the organisation kinds (``Organisation.public_kind``) for people."""

PROFILE_FIELDS = (
    "display_name",
    "legal_name",
    "registration_number",
    "contact_name",
    "contact_email",
    "contact_phone",
)
"""What an organisation edits itself; its kind, region and distributor are the vendor's."""

_PROFILE_LIMITS = {
    "display_name": 200,
    "legal_name": 200,
    "registration_number": 64,
    "contact_name": 100,
    "contact_email": 320,
    "contact_phone": 32,
}
REGISTRATION_NUMBER = re.compile(r"^[A-Za-z0-9-]{5,64}$")


@dataclass(frozen=True, slots=True)
class ProfileChange:
    display_name: str
    legal_name: str
    registration_number: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""


def profile_of(organisation: Organisation) -> dict[str, str | None]:
    return {name: getattr(organisation, name) for name in PROFILE_FIELDS}


def _cleaned_profile(change: ProfileChange) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        name: " ".join(getattr(change, name).split()) or None for name in PROFILE_FIELDS
    }
    values["contact_email"] = normalise_email(values["contact_email"])
    values["contact_phone"] = normalise_phone(values["contact_phone"])
    return values


def _profile_problems(values: dict[str, str | None]) -> list[FieldProblem]:
    problems = [
        FieldProblem(name, N_("At most %(max)s characters, please."), {"max": limit})
        for name, limit in _PROFILE_LIMITS.items()
        if len(values[name] or "") > limit
    ]
    failed = {problem.field for problem in problems}
    checks = [
        ("display_name", not values["display_name"], N_("A display name is required.")),
        (
            "legal_name",
            not values["legal_name"],
            N_("The legal entity name is required."),
        ),
        (
            "registration_number",
            values["registration_number"] is not None
            and not REGISTRATION_NUMBER.match(values["registration_number"]),
            N_("A registration number has 5 to 64 letters, digits or '-'."),
        ),
        (
            "contact_email",
            values["contact_email"] is not None
            and not EMAIL.match(values["contact_email"]),
            N_("This is not an email address."),
        ),
        (
            "contact_phone",
            values["contact_phone"] is not None
            and not PHONE.match(values["contact_phone"]),
            N_("This is not a phone number."),
        ),
    ]
    problems.extend(
        FieldProblem(name, message)
        for name, failing, message in checks
        if failing and name not in failed
    )
    return problems


def update_profile(
    session: Session, actor: Actor, change: ProfileChange
) -> Organisation:
    """Save the company profile of the actor's organisation."""
    authorize(actor, Permission.PROFILE_EDIT)
    organisation = get_organisation(session, actor.organisation_id)
    values = _cleaned_profile(change)
    problems = _profile_problems(values)
    if problems:
        raise InvalidInput(problems=problems)

    before = profile_of(organisation)
    for name, value in values.items():
        setattr(organisation, name, value)
    session.flush()

    changed = [name for name in PROFILE_FIELDS if before[name] != values[name]]
    if changed:
        audit.record(
            session,
            actor,
            "organisation.profile_updated",
            subject_type="organisation",
            subject_id=organisation.id,
            organisation_id=organisation.id,
            before={name: before[name] for name in changed},
            after={name: values[name] for name in changed},
        )
    return organisation
