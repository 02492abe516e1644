"""Periodic jobs of opportunities: rejecting what passed its deadline, reminding before."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core.logging import get_logger
from partnercenter.core.settings import Settings
from partnercenter.opportunities import service, sweep
from partnercenter.worker import periodic

log = get_logger(__name__)


@periodic("opportunities.expire_overdue")
def expire_overdue(factory: sessionmaker[Session], settings: Settings) -> int:
    with factory() as session, session.begin():
        rejected = sweep.expire_overdue(session, settings)
    if rejected:
        log.info("opportunities.expired", count=rejected)
    return rejected


@periodic("opportunities.remind_near_deadlines")
def remind_near_deadlines(factory: sessionmaker[Session], settings: Settings) -> int:
    with factory() as session, session.begin():
        return service.remind_near_deadlines(session, settings)
