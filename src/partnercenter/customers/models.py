"""Customers, their associations with partners, registrations, invitations, requests and the
association records."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base, str_enum
from partnercenter.core.ids import new_id
from partnercenter.identity.models import RealNameStatus


class CustomerType(StrEnum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"


class AssociationMode(StrEnum):
    CONSULTING = "consulting"
    """The customer pays the vendor itself; the partner advises (API code 1)."""
    RESALE = "resale"
    """The partner funds the customer and invoices it (API code 2)."""


class AssociationStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class AssociationSource(StrEnum):
    ONLINE_INVITATION = "online_invitation"
    INVITATION_LINK = "invitation_link"
    CUSTOMER_REQUEST = "customer_request"
    CREATED_BY_API = "created_by_api"
    FEDERATION = "federation"


class Customer(Base):
    """The customer side of a customer organisation: what the vendor's systems know of it.

    The eligibility facts are flags set by the vendor's systems (or its staff); association
    rules read them and never derive them.
    """

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("xaccount_type", "xaccount_id"),)

    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id"), primary_key=True
    )
    customer_type: Mapped[CustomerType] = mapped_column(str_enum(CustomerType, 16))
    real_name_status: Mapped[RealNameStatus] = mapped_column(
        str_enum(RealNameStatus, 16)
    )
    xaccount_id: Mapped[str | None] = mapped_column(String(64))
    """The partner-side user id of a customer created through the API or federation."""
    xaccount_type: Mapped[str | None] = mapped_column(String(64))
    """The partner platform that ``xaccount_id`` belongs to."""
    level: Mapped[str] = mapped_column(String(4), default="V0")
    frozen_state: Mapped[int] = mapped_column(default=0)
    """0 normal, 1 frozen, 2 frozen for a pending review (as the vendor's systems report)."""
    # Facts that make any association impossible.
    registered_by_vendor_sales: Mapped[bool] = mapped_column(Boolean, default=False)
    other_site_account: Mapped[bool] = mapped_column(Boolean, default=False)
    consumer_cloud_account: Mapped[bool] = mapped_column(Boolean, default=False)
    vendor_internal_account: Mapped[bool] = mapped_column(Boolean, default=False)
    referral_program_member: Mapped[bool] = mapped_column(Boolean, default=False)
    # Facts that make a resale association impossible.
    holds_reserved_instances: Mapped[bool] = mapped_column(Boolean, default=False)
    owes_invoices: Mapped[bool] = mapped_column(Boolean, default=False)
    has_unspent_prepaid_cards: Mapped[bool] = mapped_column(Boolean, default=False)
    has_unused_recharge_bonus: Mapped[bool] = mapped_column(Boolean, default=False)
    has_special_contract: Mapped[bool] = mapped_column(Boolean, default=False)
    enterprise_master_with_non_custody_subs: Mapped[bool] = mapped_column(
        Boolean, default=False
    )
    enterprise_sub_account: Mapped[bool] = mapped_column(Boolean, default=False)
    # Facts that hold a disassociation or a mode switch back.
    pending_partner_paid_orders: Mapped[int] = mapped_column(default=0)
    """Orders waiting for the partner to pay them on the customer's behalf."""
    updated_at: Mapped[dt.datetime]


class Association(Base):
    """A customer tied to one partner in one mode, for a period."""

    __tablename__ = "associations"
    __table_args__ = (
        Index(
            "uq_associations_one_active_per_customer",
            "customer_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index("ix_associations_partner_status", "organisation_id", "status"),
        Index("ix_associations_account_manager", "account_manager_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    """The partner."""
    customer_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    mode: Mapped[AssociationMode] = mapped_column(str_enum(AssociationMode, 16))
    status: Mapped[AssociationStatus] = mapped_column(str_enum(AssociationStatus, 16))
    source: Mapped[AssociationSource] = mapped_column(str_enum(AssociationSource, 24))
    started_at: Mapped[dt.datetime]
    mode_changed_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
    invitation_id: Mapped[str | None] = mapped_column(
        ForeignKey("customer_invitations.id")
    )
    agreements: Mapped[list[dict[str, Any]]]
    """The agreements the customer accepted: name, version and time of each."""
    account_manager_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str | None] = mapped_column(String(64))


class RegistrationStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    CONVERTED = "converted"
    """The prospect became the partner's customer."""
    CANCELLED = "cancelled"


class Registration(Base):
    """A partner's hold on a prospect before inviting it."""

    __tablename__ = "registrations"
    __table_args__ = (
        Index("ix_registrations_partner_status", "organisation_id", "status"),
        Index("ix_registrations_due", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    prospect_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[RegistrationStatus] = mapped_column(str_enum(RegistrationStatus, 16))
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))


class RegistrationClaim(Base):
    """One contact (``email:…`` or ``phone:…``) held by an active registration.

    The unique key is what stops two partners from registering the same prospect at once, even
    when their requests race; the row goes when the registration ends.
    """

    __tablename__ = "registration_claims"

    key: Mapped[str] = mapped_column(String(340), primary_key=True)
    registration_id: Mapped[str] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE")
    )


class InvitationKind(StrEnum):
    ONLINE = "online"
    """Emailed to one registered prospect; valid for a week; used once."""
    LINK = "link"
    """A general or tagged link or QR code; never expires; used by many."""


class CustomerInvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class CustomerInvitation(Base):
    __tablename__ = "customer_invitations"
    __table_args__ = (
        Index("ix_customer_invitations_partner", "organisation_id", "kind"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[InvitationKind] = mapped_column(str_enum(InvitationKind, 16))
    mode: Mapped[AssociationMode] = mapped_column(str_enum(AssociationMode, 16))
    registration_id: Mapped[str | None] = mapped_column(ForeignKey("registrations.id"))
    email: Mapped[str | None] = mapped_column(String(320))
    tag: Mapped[str | None] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    """Kept in clear: a link or QR code must be shown again to the partner any time."""
    status: Mapped[CustomerInvitationStatus] = mapped_column(
        str_enum(CustomerInvitationStatus, 16)
    )
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    account_manager_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    """A link made by an account manager assigns the customers it brings to that manager."""
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    last_sent_at: Mapped[dt.datetime | None]
    send_count: Mapped[int] = mapped_column(default=0)
    accepted_at: Mapped[dt.datetime | None]
    accepted_customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id")
    )


class RequestKind(StrEnum):
    ASSOCIATE = "associate"
    DISASSOCIATE = "disassociate"
    SWITCH_MODE = "switch_mode"


class RequestParty(StrEnum):
    PARTNER = "partner"
    CUSTOMER = "customer"


class RequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class AssociationRequest(Base):
    """A change one side asks for and the other side decides."""

    __tablename__ = "association_requests"
    __table_args__ = (
        Index("ix_association_requests_partner", "organisation_id", "status"),
        Index("ix_association_requests_customer", "customer_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[RequestKind] = mapped_column(str_enum(RequestKind, 16))
    initiated_by: Mapped[RequestParty] = mapped_column(str_enum(RequestParty, 16))
    target_mode: Mapped[AssociationMode | None] = mapped_column(
        str_enum(AssociationMode, 16)
    )
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 16))
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    decided_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)


class AssociationRecord(Base):
    """One line of the association records: kept for good, never changed."""

    __tablename__ = "association_records"
    __table_args__ = (
        Index("ix_association_records_partner_time", "organisation_id", "occurred_at"),
        Index("ix_association_records_customer_time", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[str | None] = mapped_column(String(32))
    """The partner concerned; empty for a refusal before any partner was known."""
    customer_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    """succeeded, refused or pending."""
    mode_before: Mapped[str | None] = mapped_column(String(16))
    mode_after: Mapped[str | None] = mapped_column(String(16))
    actor_user_id: Mapped[str | None] = mapped_column(String(32))
    actor_party: Mapped[str] = mapped_column(String(16))
    """partner, customer, vendor or system."""
    request_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    occurred_at: Mapped[dt.datetime]


class ResellerNotice(Base):
    """A reseller's acceptance of the notice that lets its distributor see its customers."""

    __tablename__ = "reseller_notices"
    __table_args__ = (
        Index("ix_reseller_notices_reseller", "organisation_id", "revoked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    notice: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16))
    accepted_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
