"""Email goes out through a real SMTP server when one is configured."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core import mail
from partnercenter.core.models import MailboxMessage, OutboxMessage
from partnercenter.core.settings import Settings
from partnercenter.worker import run_once


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, _server: SMTP, _session: SMTPSession, envelope: Envelope
    ) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, _Collector]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    collector = _Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", collector
    controller.stop()


class TestSmtpDelivery:
    def test_queued_mail_is_sent_after_commit_and_not_kept_in_the_mailbox(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        smtp_server: tuple[str, _Collector],
    ) -> None:
        url, collector = smtp_server
        with session_factory.begin() as db:
            mail.queue_email(
                db, to="li.lei@example.com", subject="欢迎加入", body="你好"
            )

        run_once(session_factory, settings.model_copy(update={"smtp_url": url}))

        assert len(collector.messages) == 1
        sent = message_from_bytes(collector.messages[0].content)  # type: ignore[arg-type]
        assert collector.messages[0].rcpt_tos == ["li.lei@example.com"]
        assert str(make_header(decode_header(sent["Subject"]))) == "欢迎加入"
        with session_factory() as db:
            assert db.scalar(select(func.count()).select_from(MailboxMessage)) == 0
            assert db.scalars(select(OutboxMessage)).one().sent_at is not None

    def test_an_unreachable_server_leaves_the_mail_queued_for_retry(
        self, settings: Settings, session_factory: sessionmaker[Session]
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        with session_factory.begin() as db:
            mail.queue_email(db, to="a@example.com", subject="s", body="b")

        run_once(
            session_factory,
            settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{closed_port}"}),
        )

        with session_factory() as db:
            message = db.scalars(select(OutboxMessage)).one()
            assert message.sent_at is None
            assert message.attempts == 1
            assert message.last_error
