"""Users, organisations, memberships, roles, console sessions and API credentials."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnercenter.core.db import Base, str_enum
from partnercenter.core.ids import new_id


class OrganisationKind(StrEnum):
    VENDOR = "vendor"
    PARTNER = "partner"
    CUSTOMER = "customer"


class PartnerType(StrEnum):
    SOLUTION_PROVIDER = "solution_provider"
    """Sells to its own customers directly."""
    DISTRIBUTOR = "distributor"
    """Tier 1: develops and funds resellers; associates no customers itself."""
    RESELLER = "reseller"
    """Tier 2: belongs to exactly one distributor."""


class AccountType(StrEnum):
    PERSONAL = "personal"
    ENTERPRISE = "enterprise"
    SUB_USER = "sub_user"
    """An identity-management sub-user of another account."""


class RealNameStatus(StrEnum):
    NONE = "none"
    REVIEWING = "reviewing"
    FAILED = "failed"
    VERIFIED = "verified"


class Organisation(Base):
    """The vendor, a partner company or a customer: whoever owns records and acts."""

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'partner') = (partner_type IS NOT NULL)", name="partner_has_type"
        ),
        CheckConstraint(
            "parent_id IS NULL OR partner_type = 'reseller'",
            name="only_resellers_have_parent",
        ),
        Index("ix_organisations_parent", "parent_id"),
        Index(
            "uq_organisations_single_vendor",
            "kind",
            unique=True,
            postgresql_where=text("kind = 'vendor'"),
            sqlite_where=text("kind = 'vendor'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[OrganisationKind] = mapped_column(str_enum(OrganisationKind, 16))
    partner_type: Mapped[PartnerType | None] = mapped_column(str_enum(PartnerType, 24))
    account_name: Mapped[str] = mapped_column(String(64), unique=True)
    """The organisation's unique account name, also its main account's login name."""
    display_name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    """A reseller's distributor."""
    country_region: Mapped[str | None] = mapped_column(String(8))
    """Business region, an ISO 3166 code such as ``CN``."""
    legal_name: Mapped[str | None] = mapped_column(String(200))
    registration_number: Mapped[str | None] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    main_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]

    @property
    def public_kind(self) -> str:
        """vendor, solution_provider, distributor, reseller or customer."""
        if self.kind is OrganisationKind.PARTNER and self.partner_type is not None:
            return str(self.partner_type)
        return str(self.kind)


class User(Base):
    """A person's account; signs in to the console with its account name, email or phone."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    account_type: Mapped[AccountType] = mapped_column(str_enum(AccountType, 16))
    real_name_status: Mapped[RealNameStatus] = mapped_column(
        str_enum(RealNameStatus, 16)
    )
    locale: Mapped[str | None] = mapped_column(String(8))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    password_changed_at: Mapped[dt.datetime]


class Membership(Base):
    """A user's place in an organisation. Removing a member ends it; history is kept."""

    __tablename__ = "memberships"
    __table_args__ = (
        Index(
            "uq_memberships_active",
            "user_id",
            "organisation_id",
            unique=True,
            postgresql_where=text("left_at IS NULL"),
            sqlite_where=text("left_at IS NULL"),
        ),
        Index("ix_memberships_organisation", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    joined_at: Mapped[dt.datetime]
    left_at: Mapped[dt.datetime | None]
    is_main_account: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(lazy="joined")
    roles: Mapped[list[MembershipRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class CustomRole(Base):
    """A partner's own named set of permission items."""

    __tablename__ = "custom_roles"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(500))
    permissions: Mapped[list[str]]
    created_at: Mapped[dt.datetime]


class MembershipRole(Base):
    """One role held by a member: a preset role by its code, or a custom role."""

    __tablename__ = "membership_roles"
    __table_args__ = (
        CheckConstraint(
            "(preset IS NULL) <> (custom_role_id IS NULL)", name="preset_xor_custom"
        ),
        UniqueConstraint("membership_id", "preset", "custom_role_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE")
    )
    preset: Mapped[str | None] = mapped_column(String(32))
    custom_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("custom_roles.id", ondelete="RESTRICT")
    )
    """Restricting the delete is what keeps a role that is in use from being deleted."""


class ConsoleSession(Base):
    """A signed-in browser. The cookie holds a token; only its hash is stored."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    """The organisation the user is working for in this session."""
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LoginAttempt(Base):
    """Sign-in attempts, counted to pause sign-in after repeated failures."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_identifier", "identifier", "attempted_at"),
        Index("ix_login_attempts_ip", "ip_address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(320))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[dt.datetime]


class PasswordResetToken(Base):
    """A single-use link to set a new password, sent by email."""

    __tablename__ = "password_reset_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class ApiCredential(Base):
    """An access key / secret key pair of one organisation.

    The secret is stored encrypted with a key derived from the server's secret key: it must be
    recoverable to check HMAC signatures, but a database dump alone does not reveal it.
    """

    __tablename__ = "api_credentials"
    __table_args__ = (Index("ix_api_credentials_organisation", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    access_key: Mapped[str] = mapped_column(String(32), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    description: Mapped[str | None] = mapped_column(String(200))
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
