"""The one clock of the product.

Everything that needs the time calls :func:`utc_now`; tests and the demo replace the clock
with :func:`set_clock` instead of patching ``datetime``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = dt.UTC


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until it is moved; for tests."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware time")
        self._at = at.astimezone(UTC)

    def now(self) -> dt.datetime:
        return self._at

    def move(self, **delta: float) -> None:
        self._at += dt.timedelta(**delta)

    def set(self, at: dt.datetime) -> None:
        self._at = at.astimezone(UTC)


_clock: Clock = SystemClock()


def utc_now() -> dt.datetime:
    return _clock.now()


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` and return the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def frozen(at: dt.datetime) -> Iterator[FrozenClock]:
    clock = FrozenClock(at)
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    """The calendar date of ``moment`` in ``timezone``."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def start_of_local_day(moment: dt.datetime, timezone: str) -> dt.datetime:
    """Midnight, in UTC, of the day that ``moment`` falls on in ``timezone``."""
    zone = ZoneInfo(timezone)
    day = moment.astimezone(zone).date()
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(UTC)
