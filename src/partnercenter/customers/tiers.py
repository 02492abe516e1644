"""The two tiers of distribution: a reseller's consent to show its customers to its
distributor.

By accepting the customer-information notice, a reseller lets its distributor see its
customers for the management of the channel. The consent lasts until the reseller revokes
it; a later acceptance is a new row, so the history of who consented when is kept.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Conflict, Forbidden
from partnercenter.core.i18n import N_
from partnercenter.core.logging import get_logger
from partnercenter.customers.models import ResellerNotice
from partnercenter.identity import service as identity
from partnercenter.identity.permissions import Permission

log = get_logger("partnercenter.customers")

NOTICE = "customer_information"
NOTICE_VERSION = "2026-01"
"""Raise the version when the text changes; an acceptance names the version it saw."""


class NotAReseller(Forbidden):
    code = "not_a_reseller"
    default_message = N_("Only a reseller can accept or revoke the notice.")


def current_notice(session: Session, reseller_id: str) -> ResellerNotice | None:
    """The reseller's acceptance in force, if any."""
    return session.scalar(
        select(ResellerNotice).where(
            ResellerNotice.organisation_id == reseller_id,
            ResellerNotice.notice == NOTICE,
            ResellerNotice.revoked_at.is_(None),
        )
    )


def authorize_reseller(actor: Actor) -> None:
    """Only a reseller has the notice; its admin may change it."""
    if actor.organisation_kind != "reseller":
        raise NotAReseller()


def _authorize(actor: Actor) -> None:
    authorize_reseller(actor)
    identity.authorize(actor, Permission.CUSTOMERS_MANAGE)


def accept_notice(session: Session, actor: Actor) -> ResellerNotice:
    _authorize(actor)
    if current_notice(session, actor.organisation_id) is not None:
        raise Conflict(N_("The notice is already accepted."))

    notice = ResellerNotice(
        organisation_id=actor.organisation_id,
        notice=NOTICE,
        version=NOTICE_VERSION,
        accepted_by_user_id=actor.user_id,
        accepted_at=utc_now(),
    )
    session.add(notice)
    session.flush()
    audit.record(
        session,
        actor,
        "customers.notice_accepted",
        subject_type="reseller_notice",
        subject_id=str(notice.id),
        organisation_id=actor.organisation_id,
        after={"notice": NOTICE, "version": NOTICE_VERSION},
    )
    log.info("customers.notice_accepted", reseller_id=actor.organisation_id)
    return notice


def revoke_notice(session: Session, actor: Actor) -> ResellerNotice:
    _authorize(actor)
    notice = current_notice(session, actor.organisation_id)
    if notice is None:
        raise Conflict(N_("The notice is not accepted at the moment."))

    notice.revoked_at = utc_now()
    session.flush()
    audit.record(
        session,
        actor,
        "customers.notice_revoked",
        subject_type="reseller_notice",
        subject_id=str(notice.id),
        organisation_id=actor.organisation_id,
        before={"notice": NOTICE, "version": notice.version},
    )
    log.info("customers.notice_revoked", reseller_id=actor.organisation_id)
    return notice
