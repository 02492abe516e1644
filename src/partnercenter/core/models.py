"""Tables of the core: audit events, the outbox, notifications and the demo mailbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base


class AuditEvent(Base):
    """A persistent record of one action that changed something a person cares about."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_time", "organisation_id", "occurred_at"),
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime]
    organisation_id: Mapped[str | None] = mapped_column(String(32))
    """The organisation whose record this is; it decides who may read the event."""
    actor_user_id: Mapped[str | None] = mapped_column(String(32))
    actor_organisation_id: Mapped[str | None] = mapped_column(String(32))
    actor_credential_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(64))
    """A dotted event name such as ``member.invited``."""
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """A side effect recorded in the transaction that caused it and performed after commit."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_pending", "sent_at", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    """Not tried before this time; moved forward after each failed attempt."""
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    """Set when the message was given up on after too many attempts."""
    last_error: Mapped[str | None] = mapped_column(Text)


class Notification(Base):
    """A message to one user, shown in the console and optionally sent by email."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organisation_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    """Names the text template; the text is rendered in the reader's language."""
    params: Mapped[dict[str, Any]]
    link: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[dt.datetime]
    read_at: Mapped[dt.datetime | None]


class MailboxMessage(Base):
    """Email kept instead of sent when no SMTP server is configured (the demo mailbox)."""

    __tablename__ = "mailbox_messages"
    __table_args__ = (Index("ix_mailbox_messages_recipient", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime]


class CalendarDay(Base):
    """A day whose status the vendor entered: a holiday on a weekday, or a weekend day
    declared a working day. It overrides what the calendar library says."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_working_day: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime]
    updated_by_user_id: Mapped[str | None] = mapped_column(String(32))


class CalendarYear(Base):
    """A year whose official schedule the vendor has entered completely."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    published_at: Mapped[dt.datetime]
    published_by_user_id: Mapped[str | None] = mapped_column(String(32))
