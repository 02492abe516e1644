"""Opportunities: leads shared between a partner and the vendor, and who covers which region."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from partnercenter.core.db import Base, str_enum
from partnercenter.core.ids import new_id


class Origin(StrEnum):
    PARTNER = "partner"
    """A PO: the partner shares its lead with the vendor."""
    VENDOR = "vendor"
    """An HO: the vendor shares its lead with one partner."""


class State(StrEnum):
    DRAFT = "draft"
    """Saved by the partner, not yet submitted; editable and deletable."""
    DELETED = "deleted"
    """A draft the partner deleted; kept only for its audit trail."""
    IN_REVIEW = "in_review"
    """Submitted; waiting for the PDM of its region."""
    IN_VALIDATION = "in_validation"
    """Reviewed; a BD must accept or reject it before its deadline."""
    SHARED = "shared"
    """An HO waiting for the partner's answer before its deadline."""
    ACCEPTED = "accepted"
    """Accepted (a PO by the BD, an HO by the partner); the partner reports progress."""
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    """An accepted PO the BD cancelled."""
    WON = "won"
    LOST = "lost"


OPEN_STATES = frozenset(
    {State.IN_REVIEW, State.IN_VALIDATION, State.SHARED, State.ACCEPTED}
)
CLOCKED_STATES = frozenset({State.IN_VALIDATION, State.SHARED})
"""States whose deadline is running; the worker rejects them when it passes."""


class RejectionReason(StrEnum):
    NO_OPPORTUNITY = "no_opportunity"
    """The customer says there is no such opportunity, or the deal is already done."""
    NO_BUDGET = "no_budget"
    """No budget, or no clear date for the order."""
    NO_INCREMENTAL_REVENUE = "no_incremental_revenue"
    """The need has nothing to do with the vendor's cloud."""
    NO_CONTACT = "no_contact"
    VAGUE = "vague"
    """The description shows no key actions or needs."""
    DUPLICATE = "duplicate"
    SLA_EXPIRED = "sla_expired"
    """Nobody decided before the deadline (set by the worker only)."""


class Opportunity(Base):
    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_organisation_state", "organisation_id", "state"),
        Index("ix_opportunities_state_due", "state", "due_at"),
        Index("ix_opportunities_region_state", "routing_region", "state"),
        Index("ix_opportunities_customer_key", "customer_key"),
        Index(
            "ix_opportunities_sweep",
            "sweep_token",
            postgresql_where=text("sweep_token IS NOT NULL"),
            sqlite_where=text("sweep_token IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    """The partner whose opportunity this is (for an HO, the partner it was shared with)."""
    origin: Mapped[Origin] = mapped_column(str_enum(Origin, 16))
    state: Mapped[State] = mapped_column(str_enum(State, 16))

    customer_name: Mapped[str] = mapped_column(String(200))
    customer_key: Mapped[str] = mapped_column(String(200))
    """The customer's name folded for comparison; duplicates are found through it."""
    customer_industry: Mapped[str] = mapped_column(String(100))
    customer_region: Mapped[str] = mapped_column(String(8))
    is_existing_customer: Mapped[bool] = mapped_column(Boolean)
    contact_name: Mapped[str] = mapped_column(String(100))
    contact_phone: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    estimated_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    expected_order_date: Mapped[dt.date | None] = mapped_column(Date)
    services: Mapped[list[str]]
    need_description: Mapped[str] = mapped_column(Text)
    solution_description: Mapped[str] = mapped_column(Text)
    customer_authorised: Mapped[bool] = mapped_column(Boolean)
    """The partner confirmed that the customer agreed to its information being shared."""

    routing_region: Mapped[str] = mapped_column(String(8))
    """Whose PDMs and BDs handle it: the customer's region for a new customer, else the
    partner's."""
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    submitted_at: Mapped[dt.datetime | None]
    shared_at: Mapped[dt.datetime | None]
    validation_started_at: Mapped[dt.datetime | None]
    validated_at: Mapped[dt.datetime | None]
    """When the BD accepted it; the earliest validation wins among duplicates."""
    decided_at: Mapped[dt.datetime | None]
    reviewer_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    validator_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))

    due_at: Mapped[dt.datetime | None]
    """End of the last working day allowed for the decision; set when the clock starts."""
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    """The deadline was counted through a year without an official schedule."""
    clock_started_at: Mapped[dt.datetime | None]
    remind_at: Mapped[dt.datetime | None]
    """From this moment two working days are left; the worker then reminds once."""
    reminded_at: Mapped[dt.datetime | None]

    rejection_reason: Mapped[RejectionReason | None] = mapped_column(
        str_enum(RejectionReason, 32)
    )
    decision_comment: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[str | None] = mapped_column(String(32))
    progress_note: Mapped[str | None] = mapped_column(Text)
    sweep_token: Mapped[str | None] = mapped_column(String(32))
    """On SQLite, set by the automatic rejection pass that closed the row, so that its audit
    events and notices are written once, for exactly the rows that pass changed. PostgreSQL
    needs no token: there the pass is one statement that reads the rows it closed."""


class StaffRegion(Base):
    """A region a vendor PDM or BD covers: its opportunities reach that person's queue."""

    __tablename__ = "opportunity_staff_regions"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    region: Mapped[str] = mapped_column(String(8), primary_key=True)
    created_at: Mapped[dt.datetime]
