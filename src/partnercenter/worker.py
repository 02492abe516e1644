"""The worker: what must happen without a request.

Each pass delivers due outbox messages and runs the periodic jobs registered by the domain
modules. Jobs read their deadlines from the database, so a worker that was stopped catches up
on its next pass instead of losing anything.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core import mail, outbox
from partnercenter.core.logging import get_logger
from partnercenter.core.settings import Settings

log = get_logger(__name__)

Job = Callable[[sessionmaker[Session], Settings], int]
"""A periodic job: does its due work in its own transactions, returns how much it did."""

PERIODIC_JOBS: dict[str, Job] = {}


def periodic(name: str) -> Callable[[Job], Job]:
    def register(job: Job) -> Job:
        PERIODIC_JOBS[name] = job
        return job

    return register


def _load_jobs() -> None:
    # Importing the task modules registers their jobs.
    import partnercenter.bss.tasks
    import partnercenter.customers.intake.tasks
    import partnercenter.ledger.tasks
    import partnercenter.members.tasks
    import partnercenter.opportunities.tasks
    import partnercenter.vouchers.tasks  # noqa: F401


def run_once(factory: sessionmaker[Session], settings: Settings) -> int:
    """One pass of every job and the outbox; returns the amount of work done."""
    _load_jobs()
    done = 0
    for name, job in PERIODIC_JOBS.items():
        try:
            done += job(factory, settings)
        except Exception:
            log.exception("worker.job_failed", job=name)
    handlers = {mail.TOPIC: mail.MailSender(settings)}
    while True:
        sent = outbox.deliver_due(factory, handlers)
        done += sent
        if sent == 0:
            break
    return done


def run_forever(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    stop: threading.Event,
    interval: float = 2.0,
) -> None:
    log.info("worker.started", interval=interval)
    while not stop.is_set():
        try:
            run_once(factory, settings)
        except Exception:
            log.exception("worker.pass_failed")
        stop.wait(interval)
    log.info("worker.stopped")


class EmbeddedWorker:
    """The worker as a thread of the server process (the SQLite default)."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self._settings = settings
        self._factory = factory
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=run_forever,
            args=(factory, settings),
            kwargs={"stop": self._stop, "interval": 1.0},
            name="partnercenter-worker",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def install_signal_handlers(stop: threading.Event) -> None:
    def _handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
