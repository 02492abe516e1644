"""Use cases of the vendor's administration: partners, vendor staff and user accounts.

Every function checks the actor itself, flushes what it changes and records an audit event
for each change; the request that called it commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from partnercenter.admin.regions import is_known_region, normalise_region
from partnercenter.core import audit, mail, notifications
from partnercenter.core.actor import Actor
from partnercenter.core.audit import AuditQuery
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
)
from partnercenter.core.i18n import N_, translator
from partnercenter.core.ids import new_token
from partnercenter.core.logging import get_logger
from partnercenter.core.models import AuditEvent
from partnercenter.core.security import token_hash
from partnercenter.core.settings import Settings
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    AccountType,
    CustomRole,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    PartnerType,
    PasswordResetToken,
    RealNameStatus,
    User,
)
from partnercenter.identity.permissions import PRESET_ROLES, VENDOR_ROLES, Permission

log = get_logger(__name__)
Choice = TypeVar("Choice", PartnerType, RealNameStatus, AccountType)

PAGE_SIZE = 50
WELCOME_LINK_DAYS = 7
"""How long the password link in a welcome email stays valid (a reset link: one hour)."""
VENDOR_ADMIN = "vendor_admin"
VENDOR_ROLE_CODES = tuple(role.code for role in VENDOR_ROLES)

PARTNER_TYPE_LABELS: dict[PartnerType, str] = {
    PartnerType.SOLUTION_PROVIDER: N_("Solution provider"),
    PartnerType.DISTRIBUTOR: N_("Distributor"),
    PartnerType.RESELLER: N_("Reseller"),
}
REAL_NAME_LABELS: dict[RealNameStatus, str] = {
    RealNameStatus.NONE: N_("Not verified"),
    RealNameStatus.REVIEWING: N_("Under review"),
    RealNameStatus.FAILED: N_("Verification failed"),
    RealNameStatus.VERIFIED: N_("Verified"),
}
ACCOUNT_TYPE_LABELS: dict[AccountType, str] = {
    AccountType.PERSONAL: N_("Personal account"),
    AccountType.ENTERPRISE: N_("Enterprise account"),
    AccountType.SUB_USER: N_("Sub-user"),
}

notifications.register(
    "admin.staff_added",
    title=N_("You have joined the staff of %(organisation)s"),
    body=N_(
        "%(organisation)s added your account to its staff. Sign in to the console to "
        "work in the vendor console."
    ),
)


def authorize_vendor(actor: Actor, permission: Permission) -> None:
    """Vendor pages are for vendor staff only, whatever a role would grant elsewhere."""
    if not actor.is_vendor:
        raise Forbidden()
    identity.authorize(actor, permission)


# -- shared checks ----------------------------------------------------------------------


def _required(field: str, value: str, message: str) -> list[FieldProblem]:
    return [] if value.strip() else [FieldProblem(field, message)]


def _too_long(field: str, value: str | None, limit: int) -> list[FieldProblem]:
    if value is None or len(value.strip()) <= limit:
        return []
    return [
        FieldProblem(
            field, N_("At most %(limit)s characters, please."), {"limit": limit}
        )
    ]


def _choice(
    kind: type[Choice],
    value: str,
    field: str,
    message: str,
    problems: list[FieldProblem],
) -> Choice | None:
    try:
        return kind(value)
    except ValueError:
        problems.append(FieldProblem(field, message))
        return None


def _unusable_password() -> str:
    # The owner never learns it: the first password is chosen through the emailed link.
    return new_token(24) + "-Aa1"


def _create_account(
    session: Session,
    problems: list[FieldProblem],
    *,
    account_name: str,
    display_name: str,
    email: str,
    account_type: AccountType,
) -> User:
    """Create the account, or raise every problem of the whole form together.

    The account is created inside a savepoint: when other fields of the form are wrong it
    is rolled back, and the identity rules still get to report their own problems.
    """
    savepoint = session.begin_nested()
    user = None
    try:
        user = identity.create_user(
            session,
            account_name=account_name.strip(),
            display_name=display_name[:100],
            password=_unusable_password(),
            email=email,
            account_type=account_type,
        )
    except InvalidInput as error:
        problems = [*problems, *error.problems]
    if problems or user is None:
        savepoint.rollback()
        raise InvalidInput(problems=problems)
    savepoint.commit()
    return user


def send_welcome(
    session: Session, settings: Settings, user: User, organisation: Organisation
) -> None:
    """Email a new account a link to choose its first password."""
    if not user.email:
        return
    token = new_token()
    now = utc_now()
    session.add(
        PasswordResetToken(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + dt.timedelta(days=WELCOME_LINK_DAYS),
        )
    )
    tr = translator(user.locale or settings.locale)
    link = f"{settings.base_url.rstrip('/')}/password/reset/{token}"
    params = {
        "organisation": organisation.display_name,
        "account": user.account_name,
        "days": WELCOME_LINK_DAYS,
    }
    mail.queue_email(
        session,
        to=user.email,
        subject=tr.gettext("Welcome to Partner Center") % params,
        body=tr.gettext(
            "An account has been opened for you at Partner Center for %(organisation)s. "
            "Your account name is %(account)s. Open this link within %(days)s days to "
            "choose your password:"
        )
        % params
        + f"\n\n{link}\n\n"
        + tr.gettext(
            "After that, sign in with the account name or this email address and the "
            "password you chose."
        ),
    )
    log.info("account.welcome_queued", user_id=user.id, organisation_id=organisation.id)


def _record_account_created(
    session: Session, actor: Actor, user: User, organisation: Organisation
) -> None:
    audit.record(
        session,
        actor,
        "user.created",
        subject_type="user",
        subject_id=user.id,
        organisation_id=organisation.id,
        after={
            "account_name": user.account_name,
            "email": user.email,
            "account_type": str(user.account_type),
        },
    )


# -- partners ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartnerFilter:
    search: str = ""
    partner_type: str = ""
    region: str = ""
    status: str = ""
    """Empty for every partner, ``active`` or ``inactive``."""
    offset: int = 0
    limit: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class PartnerRow:
    organisation: Organisation
    distributor: Organisation | None
    main_account: User | None
    member_count: int


@dataclass(frozen=True, slots=True)
class PartnerList:
    rows: list[PartnerRow]
    total: int


def partner_statement(filters: PartnerFilter) -> Select[Organisation]:
    """The partners the filters pick, unordered; the list page's and the pickers' query."""
    statement = select(Organisation).where(
        Organisation.kind == OrganisationKind.PARTNER
    )
    term = filters.search.strip().lower()
    if term:
        statement = statement.where(
            or_(
                func.lower(Organisation.display_name).contains(term, autoescape=True),
                func.lower(Organisation.account_name).contains(term, autoescape=True),
            )
        )
    if filters.partner_type in {kind.value for kind in PartnerType}:
        statement = statement.where(
            Organisation.partner_type == PartnerType(filters.partner_type)
        )
    if filters.region:
        statement = statement.where(
            Organisation.country_region == normalise_region(filters.region)
        )
    if filters.status in ("active", "inactive"):
        statement = statement.where(
            Organisation.is_active.is_(filters.status == "active")
        )
    return statement


def _member_counts() -> Select[str, int]:
    return (
        select(Membership.organisation_id, func.count().label("members"))
        .where(Membership.left_at.is_(None))
        .group_by(Membership.organisation_id)
    )


def list_partners(
    session: Session, actor: Actor, filters: PartnerFilter
) -> PartnerList:
    authorize_vendor(actor, Permission.PARTNERS_VIEW)
    statement = partner_statement(filters)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0

    distributor = aliased(Organisation)
    counts = _member_counts().subquery()
    rows = session.execute(
        statement.add_columns(distributor, User, func.coalesce(counts.c.members, 0))
        .outerjoin(distributor, distributor.id == Organisation.parent_id)
        .outerjoin(User, User.id == Organisation.main_user_id)
        .outerjoin(counts, counts.c.organisation_id == Organisation.id)
        .order_by(Organisation.created_at.desc(), Organisation.id)
        .offset(max(filters.offset, 0))
        .limit(filters.limit)
    ).all()
    return PartnerList(
        rows=[PartnerRow(org, parent, main, int(n)) for org, parent, main, n in rows],
        total=total,
    )


def get_partner(session: Session, actor: Actor, partner_id: str) -> Organisation:
    authorize_vendor(actor, Permission.PARTNERS_VIEW)
    return _partner(session, partner_id)


def _partner(session: Session, partner_id: str) -> Organisation:
    partner = session.get(Organisation, partner_id)
    if partner is None or partner.kind is not OrganisationKind.PARTNER:
        raise NotFound()
    return partner


def active_distributors(session: Session, actor: Actor) -> Sequence[Organisation]:
    """Distributors a reseller can be placed under."""
    authorize_vendor(actor, Permission.PARTNERS_VIEW)
    return session.scalars(
        select(Organisation)
        .where(
            Organisation.partner_type == PartnerType.DISTRIBUTOR,
            Organisation.is_active.is_(True),
        )
        .order_by(Organisation.display_name)
    ).all()


@dataclass(frozen=True, slots=True)
class MemberRow:
    membership: Membership
    user: User
    roles: list[str]
    """Role names: preset labels (English, translated when shown) or custom role names."""


@dataclass(frozen=True, slots=True)
class PartnerDetail:
    organisation: Organisation
    distributor: Organisation | None
    main_account: User | None
    resellers: Sequence[Organisation]
    members: list[MemberRow]
    events: Sequence[AuditEvent]


def partner_detail(session: Session, actor: Actor, partner_id: str) -> PartnerDetail:
    partner = get_partner(session, actor, partner_id)
    resellers = session.scalars(
        select(Organisation)
        .where(Organisation.parent_id == partner.id)
        .order_by(Organisation.display_name)
    ).all()
    return PartnerDetail(
        organisation=partner,
        distributor=(
            session.get(Organisation, partner.parent_id) if partner.parent_id else None
        ),
        main_account=(
            session.get(User, partner.main_user_id) if partner.main_user_id else None
        ),
        resellers=resellers,
        members=_member_rows(session, partner.id),
        events=audit.find(session, AuditQuery(organisation_id=partner.id, limit=10)),
    )


def _member_rows(session: Session, organisation_id: str) -> list[MemberRow]:
    memberships = session.scalars(
        select(Membership)
        .where(
            Membership.organisation_id == organisation_id,
            Membership.left_at.is_(None),
        )
        .order_by(Membership.is_main_account.desc(), Membership.joined_at)
    ).all()
    custom_names = _custom_role_names(session, memberships)
    return [
        MemberRow(membership, membership.user, _role_names(membership, custom_names))
        for membership in memberships
    ]


def _custom_role_names(
    session: Session, memberships: Sequence[Membership]
) -> dict[int, str]:
    custom_ids = {
        row.custom_role_id
        for membership in memberships
        for row in membership.roles
        if row.custom_role_id is not None
    }
    if not custom_ids:
        return {}
    rows = session.execute(
        select(CustomRole.id, CustomRole.name).where(CustomRole.id.in_(custom_ids))
    )
    return {int(role_id): str(name) for role_id, name in rows}


def _role_names(membership: Membership, custom_names: dict[int, str]) -> list[str]:
    names = []
    for row in membership.roles:
        if row.preset:
            role = PRESET_ROLES.get(row.preset)
            names.append(role.label if role else row.preset)
        elif row.custom_role_id is not None:
            names.append(custom_names.get(row.custom_role_id, str(row.custom_role_id)))
    return names


@dataclass(frozen=True, slots=True)
class NewPartner:
    """The create-partner form as typed; every field is checked by :func:`create_partner`."""

    display_name: str
    account_name: str
    partner_type: str
    country_region: str
    distributor_id: str
    legal_name: str
    registration_number: str
    contact_name: str
    contact_email: str
    contact_phone: str
    email: str
    """The main account's email, where the password link goes."""


def _distributor_problems(
    session: Session,
    *,
    partner_type: PartnerType | None,
    region: str,
    distributor_id: str,
    partner_id: str | None = None,
) -> list[FieldProblem]:
    """A reseller has exactly one active distributor of its own region; no one else has one."""
    if partner_type is not PartnerType.RESELLER:
        if not distributor_id:
            return []
        return [
            FieldProblem(
                "distributor_id", N_("Only a reseller belongs to a distributor.")
            )
        ]
    if not distributor_id:
        return [
            FieldProblem("distributor_id", N_("Choose the reseller's distributor."))
        ]
    distributor = session.get(Organisation, distributor_id)
    if (
        distributor is None
        or distributor.partner_type is not PartnerType.DISTRIBUTOR
        or distributor.id == partner_id
    ):
        return [FieldProblem("distributor_id", N_("Choose one of the distributors."))]
    return _fit_problems(distributor, region)


def _fit_problems(distributor: Organisation, region: str) -> list[FieldProblem]:
    """Whether a reseller of ``region`` may be placed under ``distributor``."""
    if not distributor.is_active:
        return [
            FieldProblem(
                "distributor_id",
                N_("This distributor is deactivated; it cannot take resellers."),
            )
        ]
    if region and distributor.country_region != region:
        return [
            FieldProblem(
                "country_region",
                N_(
                    "A reseller works in its distributor's region; this distributor is "
                    "registered in %(region)s."
                ),
                {"region": distributor.country_region or "-"},
            )
        ]
    return []


def _region_problems(region: str) -> list[FieldProblem]:
    if is_known_region(region):
        return []
    return [FieldProblem("country_region", N_("Choose the business region."))]


def _email_problems(field: str, email: str, *, required: bool) -> list[FieldProblem]:
    value = email.strip()
    if not value:
        if required:
            return [FieldProblem(field, N_("An email address is required."))]
        return []
    if not identity.EMAIL.match(value) or len(value) > 320:
        return [FieldProblem(field, N_("This is not an email address."))]
    return []


def _new_partner_problems(
    session: Session, form: NewPartner, partner_type: PartnerType | None
) -> list[FieldProblem]:
    region = normalise_region(form.country_region)
    problems = [
        *_required(
            "display_name", form.display_name, N_("A display name is required.")
        ),
        *_too_long("display_name", form.display_name, 200),
        *_region_problems(region),
        *_distributor_problems(
            session,
            partner_type=partner_type,
            region=region,
            distributor_id=form.distributor_id,
        ),
        *_required("legal_name", form.legal_name, N_("The legal entity is required.")),
        *_too_long("legal_name", form.legal_name, 200),
        *_required(
            "registration_number",
            form.registration_number,
            N_("The registration number is required."),
        ),
        *_too_long("registration_number", form.registration_number, 64),
        *_required(
            "contact_name", form.contact_name, N_("A contact person is required.")
        ),
        *_too_long("contact_name", form.contact_name, 100),
        *_email_problems("contact_email", form.contact_email, required=True),
        *_email_problems("email", form.email, required=True),
    ]
    phone = form.contact_phone.strip()
    if phone and not identity.PHONE.match(phone):
        problems.append(
            FieldProblem("contact_phone", N_("This is not a phone number."))
        )
    return problems


def create_partner(
    session: Session, actor: Actor, settings: Settings, form: NewPartner
) -> Organisation:
    """Register a partner company with its main account, and email that account a link."""
    authorize_vendor(actor, Permission.PARTNERS_MANAGE)
    problems: list[FieldProblem] = []
    partner_type = _choice(
        PartnerType,
        form.partner_type,
        "partner_type",
        N_("Choose the partner type."),
        problems,
    )
    problems.extend(_new_partner_problems(session, form, partner_type))
    main_account = _create_account(
        session,
        problems,
        account_name=form.account_name,
        display_name=form.display_name.strip(),
        email=form.email,
        account_type=AccountType.ENTERPRISE,
    )
    assert partner_type is not None

    partner = identity.create_organisation(
        session,
        actor,
        kind=OrganisationKind.PARTNER,
        partner_type=partner_type,
        account_name=main_account.account_name,
        display_name=form.display_name.strip(),
        parent_id=form.distributor_id or None,
        country_region=normalise_region(form.country_region),
        legal_name=form.legal_name.strip(),
        registration_number=form.registration_number.strip(),
        contact_name=form.contact_name.strip(),
        contact_email=form.contact_email,
        contact_phone=form.contact_phone,
        main_user=main_account,
    )
    identity.add_membership(
        session, main_account, partner, roles=["partner_admin"], is_main_account=True
    )
    _record_account_created(session, actor, main_account, partner)
    send_welcome(session, settings, main_account, partner)
    log.info(
        "partner.created", organisation_id=partner.id, partner_type=str(partner_type)
    )
    return partner


@dataclass(frozen=True, slots=True)
class PartnerChange:
    display_name: str
    partner_type: str
    country_region: str
    distributor_id: str


def _partner_facts(session: Session, partner: Organisation) -> dict[str, object]:
    distributor = (
        session.get(Organisation, partner.parent_id) if partner.parent_id else None
    )
    return {
        "display_name": partner.display_name,
        "partner_type": str(partner.partner_type),
        "country_region": partner.country_region,
        "distributor": distributor.account_name if distributor else None,
    }


def _reseller_count(session: Session, distributor_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Organisation)
            .where(Organisation.parent_id == distributor_id)
        )
        or 0
    )


def _change_problems(
    session: Session,
    partner: Organisation,
    change: PartnerChange,
    partner_type: PartnerType | None,
) -> list[FieldProblem]:
    region = normalise_region(change.country_region)
    problems = [
        *_required(
            "display_name", change.display_name, N_("A display name is required.")
        ),
        *_too_long("display_name", change.display_name, 200),
        *_region_problems(region),
        *_distributor_problems(
            session,
            partner_type=partner_type,
            region=region,
            distributor_id=change.distributor_id,
            partner_id=partner.id,
        ),
    ]
    if partner.partner_type is not PartnerType.DISTRIBUTOR:
        return problems
    # A distributor's resellers must keep a distributor of their own region.
    resellers = _reseller_count(session, partner.id)
    if resellers and partner_type not in (None, PartnerType.DISTRIBUTOR):
        problems.append(
            FieldProblem(
                "partner_type",
                N_(
                    "This distributor has %(count)s resellers; move them to another "
                    "distributor before changing its type."
                ),
                {"count": resellers},
            )
        )
    if resellers and region != partner.country_region:
        problems.append(
            FieldProblem(
                "country_region",
                N_(
                    "This distributor has resellers in its region; move them before "
                    "changing the region."
                ),
            )
        )
    return problems


def update_partner(
    session: Session, actor: Actor, partner_id: str, change: PartnerChange
) -> bool:
    """Change a partner's name, type, region or distributor; False when nothing changed.

    Moving a reseller to another distributor is a vendor action: the reseller's own profile
    shows its distributor but cannot change it.
    """
    authorize_vendor(actor, Permission.PARTNERS_MANAGE)
    partner = _partner(session, partner_id)
    problems: list[FieldProblem] = []
    partner_type = _choice(
        PartnerType,
        change.partner_type,
        "partner_type",
        N_("Choose the partner type."),
        problems,
    )
    problems.extend(_change_problems(session, partner, change, partner_type))
    if problems:
        raise InvalidInput(problems=problems)

    before = _partner_facts(session, partner)
    partner.display_name = change.display_name.strip()
    partner.partner_type = partner_type
    partner.country_region = normalise_region(change.country_region)
    partner.parent_id = change.distributor_id or None
    session.flush()
    after = _partner_facts(session, partner)

    changed = [key for key in after if before[key] != after[key]]
    if not changed:
        return False
    audit.record(
        session,
        actor,
        "partner.updated",
        subject_type="organisation",
        subject_id=partner.id,
        organisation_id=partner.id,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    log.info("partner.updated", organisation_id=partner.id, fields=changed)
    return True


def set_partner_active(
    session: Session, actor: Actor, partner_id: str, *, active: bool, reason: str
) -> bool:
    """Deactivate or reactivate a partner; False when it already was so.

    While a partner is inactive its members keep their accounts but cannot act for it.
    """
    authorize_vendor(actor, Permission.PARTNERS_MANAGE)
    partner = _partner(session, partner_id)
    reason = reason.strip()
    if not active and not reason:
        raise InvalidInput(
            problems=[FieldProblem("reason", N_("Say why the partner is deactivated."))]
        )
    if partner.is_active == active:
        return False

    partner.is_active = active
    audit.record(
        session,
        actor,
        "partner.reactivated" if active else "partner.deactivated",
        subject_type="organisation",
        subject_id=partner.id,
        organisation_id=partner.id,
        before={"is_active": not active},
        after={"is_active": active},
        reason=reason or None,
    )
    log.info("partner.activity_changed", organisation_id=partner.id, active=active)
    return True


# -- vendor staff -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffRow:
    membership: Membership
    user: User
    roles: list[str]
    """Preset role codes."""


def _vendor_of(session: Session, actor: Actor) -> Organisation:
    authorize_vendor(actor, Permission.STAFF_MANAGE)
    return identity.get_organisation(session, actor.organisation_id)


def list_staff(session: Session, actor: Actor) -> list[StaffRow]:
    vendor = _vendor_of(session, actor)
    memberships = session.scalars(
        select(Membership)
        .where(Membership.organisation_id == vendor.id, Membership.left_at.is_(None))
        .order_by(Membership.joined_at, Membership.id)
    ).all()
    return [StaffRow(m, m.user, identity.role_codes(m)) for m in memberships]


def _vendor_role_problems(roles: Sequence[str]) -> list[FieldProblem]:
    if not roles:
        return [FieldProblem("roles", N_("Choose at least one role."))]
    if any(code not in VENDOR_ROLE_CODES for code in roles):
        return [FieldProblem("roles", N_("Choose among the vendor roles."))]
    return []


def _staff_membership(
    session: Session, vendor: Organisation, membership_id: int
) -> Membership:
    membership = session.get(Membership, membership_id)
    if (
        membership is None
        or membership.organisation_id != vendor.id
        or membership.left_at is not None
    ):
        raise NotFound()
    return membership


def _active_admin_count(session: Session, vendor_id: str) -> int:
    return (
        session.scalar(
            select(func.count(func.distinct(Membership.id)))
            .select_from(Membership)
            .join(MembershipRole, MembershipRole.membership_id == Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.organisation_id == vendor_id,
                Membership.left_at.is_(None),
                MembershipRole.preset == VENDOR_ADMIN,
                User.is_active.is_(True),
            )
        )
        or 0
    )


def _is_last_admin(session: Session, membership: Membership) -> bool:
    if VENDOR_ADMIN not in identity.role_codes(membership):
        return False
    if not membership.user.is_active:
        return False
    return _active_admin_count(session, membership.organisation_id) <= 1


def _record_staff_added(
    session: Session, actor: Actor, vendor: Organisation, membership: Membership
) -> None:
    audit.record(
        session,
        actor,
        "staff.added",
        subject_type="user",
        subject_id=membership.user_id,
        organisation_id=vendor.id,
        after={
            "account_name": membership.user.account_name,
            "roles": identity.role_codes(membership),
        },
    )
    log.info("staff.added", user_id=membership.user_id, organisation_id=vendor.id)


def add_new_staff(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    account_name: str,
    display_name: str,
    email: str,
    roles: Sequence[str],
) -> Membership:
    """Open a personal account for a new staff member and email it a password link."""
    vendor = _vendor_of(session, actor)
    problems = [
        *_vendor_role_problems(roles),
        *_email_problems("email", email, required=True),
    ]
    user = _create_account(
        session,
        problems,
        account_name=account_name,
        display_name=display_name.strip(),
        email=email,
        account_type=AccountType.PERSONAL,
    )
    membership = identity.add_membership(session, user, vendor, roles=roles)
    _record_account_created(session, actor, user, vendor)
    _record_staff_added(session, actor, vendor, membership)
    send_welcome(session, settings, user, vendor)
    return membership


def add_existing_staff(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    identifier: str,
    roles: Sequence[str],
) -> Membership:
    """Put an existing account that belongs to no organisation on the vendor's staff."""
    vendor = _vendor_of(session, actor)
    problems = _vendor_role_problems(roles)
    user = identity.find_user_by_login(session, identifier)
    if user is None:
        problems.append(
            FieldProblem(
                "identifier", N_("No account has this account name, email or phone.")
            )
        )
    elif not user.is_active:
        problems.append(FieldProblem("identifier", N_("This account is deactivated.")))
    elif identity.active_memberships(session, user.id):
        problems.append(
            FieldProblem(
                "identifier",
                N_(
                    "This account already belongs to an organisation; only an account "
                    "without one can join the vendor's staff."
                ),
            )
        )
    if problems or user is None:
        raise InvalidInput(problems=problems)

    membership = identity.add_membership(session, user, vendor, roles=roles)
    _record_staff_added(session, actor, vendor, membership)
    notifications.notify(
        session,
        user=user,
        kind="admin.staff_added",
        params={"organisation": vendor.display_name},
        link="/console",
        base_url=settings.base_url,
        default_locale=settings.locale,
        organisation_id=vendor.id,
    )
    return membership


def change_staff_roles(
    session: Session, actor: Actor, membership_id: int, roles: Sequence[str]
) -> bool:
    """Give a staff member exactly ``roles``; False when it already held them."""
    vendor = _vendor_of(session, actor)
    membership = _staff_membership(session, vendor, membership_id)
    problems = _vendor_role_problems(roles)
    if problems:
        raise InvalidInput(problems=problems)
    before = identity.role_codes(membership)
    wanted = [code for code in VENDOR_ROLE_CODES if code in roles]
    if sorted(before) == sorted(wanted):
        return False
    if VENDOR_ADMIN not in wanted and _is_last_admin(session, membership):
        raise Conflict(
            N_(
                "This is the last vendor admin; make someone else vendor admin before "
                "taking the role away."
            )
        )

    # Keep the rows of roles that stay, so that only real changes reach the table.
    for row in list(membership.roles):
        if row.preset not in wanted:
            membership.roles.remove(row)
    for code in wanted:
        if code not in before:
            membership.roles.append(MembershipRole(preset=code))
    session.flush()
    audit.record(
        session,
        actor,
        "staff.roles_changed",
        subject_type="user",
        subject_id=membership.user_id,
        organisation_id=vendor.id,
        before={"roles": before},
        after={"roles": wanted},
    )
    log.info("staff.roles_changed", user_id=membership.user_id)
    return True


def remove_staff(session: Session, actor: Actor, membership_id: int) -> None:
    """End a staff membership; the account stays and may join elsewhere later."""
    vendor = _vendor_of(session, actor)
    membership = _staff_membership(session, vendor, membership_id)
    if _is_last_admin(session, membership):
        raise Conflict(
            N_(
                "This is the last vendor admin and cannot be removed; make someone else "
                "vendor admin first."
            )
        )
    membership.left_at = utc_now()
    audit.record(
        session,
        actor,
        "staff.removed",
        subject_type="user",
        subject_id=membership.user_id,
        organisation_id=vendor.id,
        before={
            "account_name": membership.user.account_name,
            "roles": identity.role_codes(membership),
        },
    )
    log.info("staff.removed", user_id=membership.user_id)


# -- user accounts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserList:
    users: Sequence[User]
    total: int


def search_users(
    session: Session, actor: Actor, term: str, *, offset: int = 0
) -> UserList:
    """Accounts whose account name, email or phone contains ``term``; newest first."""
    authorize_vendor(actor, Permission.USERS_MANAGE)
    statement = select(User)
    term = term.strip().lower()
    if term:
        phone = identity.normalise_phone(term) or term
        statement = statement.where(
            or_(
                func.lower(User.account_name).contains(term, autoescape=True),
                User.email.contains(term, autoescape=True),
                User.phone.contains(phone, autoescape=True),
            )
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    users = session.scalars(
        statement.order_by(User.created_at.desc(), User.id)
        .offset(max(offset, 0))
        .limit(PAGE_SIZE)
    ).all()
    return UserList(users, total)


@dataclass(frozen=True, slots=True)
class AccountMembership:
    membership: Membership
    organisation: Organisation
    roles: list[str]


@dataclass(frozen=True, slots=True)
class AccountDetail:
    user: User
    memberships: list[AccountMembership]
    """Current and past memberships, current ones first."""


def account_detail(session: Session, actor: Actor, user_id: str) -> AccountDetail:
    authorize_vendor(actor, Permission.USERS_MANAGE)
    user = identity.get_user(session, user_id)
    rows = session.execute(
        select(Membership, Organisation)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.user_id == user.id)
        .order_by(Membership.left_at.is_not(None), Membership.joined_at.desc())
    ).all()
    custom_names = _custom_role_names(session, [m for m, _org in rows])
    return AccountDetail(
        user=user,
        memberships=[
            AccountMembership(m, org, _role_names(m, custom_names)) for m, org in rows
        ],
    )


def update_account(
    session: Session,
    actor: Actor,
    user_id: str,
    *,
    real_name_status: str,
    account_type: str,
) -> bool:
    """Record an account's real-name status and account type; False when unchanged.

    In the vendor's real systems these facts come from its identity verification and account
    services; here the vendor admin records them by hand, and the member rules read them.
    """
    authorize_vendor(actor, Permission.USERS_MANAGE)
    user = identity.get_user(session, user_id)
    problems: list[FieldProblem] = []
    status = _choice(
        RealNameStatus,
        real_name_status,
        "real_name_status",
        N_("Choose a real-name status."),
        problems,
    )
    kind = _choice(
        AccountType,
        account_type,
        "account_type",
        N_("Choose an account type."),
        problems,
    )
    if problems or status is None or kind is None:
        raise InvalidInput(problems=problems)

    changed = False
    if status is not user.real_name_status:
        _record_user_change(
            session,
            actor,
            user,
            "user.real_name_status_changed",
            field="real_name_status",
            before=str(user.real_name_status),
            after=str(status),
        )
        user.real_name_status = status
        changed = True
    if kind is not user.account_type:
        _record_user_change(
            session,
            actor,
            user,
            "user.account_type_changed",
            field="account_type",
            before=str(user.account_type),
            after=str(kind),
        )
        user.account_type = kind
        changed = True
    return changed


def _record_user_change(
    session: Session,
    actor: Actor,
    user: User,
    action: str,
    *,
    field: str,
    before: str,
    after: str,
) -> None:
    audit.record(
        session,
        actor,
        action,
        subject_type="user",
        subject_id=user.id,
        organisation_id=None,
        before={field: before},
        after={field: after},
    )
    log.info(action, user_id=user.id)


def set_account_active(
    session: Session, actor: Actor, user_id: str, *, active: bool, reason: str
) -> bool:
    """Deactivate an account (it cannot sign in; its sessions end) or reactivate it."""
    authorize_vendor(actor, Permission.USERS_MANAGE)
    user = identity.get_user(session, user_id)
    reason = reason.strip()
    if user.is_active == active:
        return False
    if not active:
        _check_can_deactivate(actor, user, reason)

    user.is_active = active
    if not active:
        identity.end_all_sessions(session, user.id)
    audit.record(
        session,
        actor,
        "user.reactivated" if active else "user.deactivated",
        subject_type="user",
        subject_id=user.id,
        organisation_id=None,
        before={"is_active": not active},
        after={"is_active": active},
        reason=reason or None,
    )
    log.info("user.activity_changed", user_id=user.id, active=active)
    return True


def _check_can_deactivate(actor: Actor, user: User, reason: str) -> None:
    if not reason:
        raise InvalidInput(
            problems=[FieldProblem("reason", N_("Say why the account is deactivated."))]
        )
    # Only a vendor admin gets here, so refusing one's own account is also what keeps
    # the last vendor admin from being locked out.
    if user.id == actor.user_id:
        raise Conflict(N_("You cannot deactivate your own account."))
