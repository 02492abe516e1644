"""Invitations of people to become members of a partner."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base, str_enum
from partnercenter.core.ids import new_id


class InvitationStatus(StrEnum):
    INVITED = "invited"
    """Sent and waiting; shown as expired once ``expires_at`` has passed."""
    ACCEPTED = "accepted"
    """The invitee joined; the member is then bound until removed."""
    VOIDED = "voided"
    """The invitee joined another partner, which voids its other pending invitations."""
    WITHDRAWN = "withdrawn"
    """The partner admin took the invitation back before it was answered."""
    DECLINED = "declined"
    """The invitee said no."""


class IdentifierKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    ACCOUNT_NAME = "account_name"


class MemberInvitation(Base):
    __tablename__ = "member_invitations"
    __table_args__ = (
        Index("ix_member_invitations_org", "organisation_id", "created_at"),
        Index("ix_member_invitations_inviter_day", "invited_by_user_id", "created_at"),
        Index("ix_member_invitations_invitee", "invitee_user_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    invited_by_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    invitee_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    identifier_kind: Mapped[IdentifierKind] = mapped_column(
        str_enum(IdentifierKind, 16)
    )
    identifier: Mapped[str] = mapped_column(String(320))
    roles: Mapped[list[str]]
    """Preset role codes and ``custom:<id>`` for custom roles, given on acceptance."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[InvitationStatus] = mapped_column(str_enum(InvitationStatus, 16))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    responded_at: Mapped[dt.datetime | None]
