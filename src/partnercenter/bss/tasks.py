"""Periodic jobs of the BSS face: forgetting old flow-control counters and signatures."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.bss.models import FlowWindow, SeenSignature
from partnercenter.core.clock import utc_now
from partnercenter.core.settings import Settings
from partnercenter.worker import periodic

MARGIN = dt.timedelta(minutes=1)
"""Kept this long beyond the time they can matter."""


@periodic("bss.forget_flow_windows")
def forget_flow_windows(factory: sessionmaker[Session], _settings: Settings) -> int:
    before = math.floor((utc_now() - MARGIN).timestamp())
    with factory() as session, session.begin():
        result = session.execute(delete(FlowWindow).where(FlowWindow.second < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@periodic("bss.forget_signatures")
def forget_signatures(factory: sessionmaker[Session], settings: Settings) -> int:
    """A signature older than the signature window cannot pass the date check again."""
    window = dt.timedelta(minutes=settings.signature_window_minutes)
    before = utc_now() - window - MARGIN
    with factory() as session, session.begin():
        result = session.execute(
            delete(SeenSignature).where(SeenSignature.seen_at < before)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
