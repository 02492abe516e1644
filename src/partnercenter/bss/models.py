"""What the BSS-compatible face keeps: flow-control counters and recently seen signatures.

Both live in the database, not in a process, so every server process behind a load balancer
counts the same requests and recognises the same repeats.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base


class FlowWindow(Base):
    """How many requests one organisation sent to one operation in one second."""

    __tablename__ = "bss_flow_windows"
    __table_args__ = (Index("ix_bss_flow_windows_second", "second"),)

    organisation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    second: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """Whole seconds since the epoch (UTC)."""
    hits: Mapped[int] = mapped_column(Integer)


class SeenSignature(Base):
    """A signed write already received; the same bytes again inside the window are a repeat."""

    __tablename__ = "bss_seen_signatures"
    __table_args__ = (Index("ix_bss_seen_signatures_seen", "seen_at"),)

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_key: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime]
