"""Outgoing email: through SMTP when configured, else into the demo mailbox table."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from partnercenter.core import outbox
from partnercenter.core.clock import utc_now
from partnercenter.core.logging import get_logger
from partnercenter.core.models import MailboxMessage
from partnercenter.core.settings import Settings

log = get_logger(__name__)
TOPIC = "email"


def queue_email(session: Session, *, to: str, subject: str, body: str) -> None:
    """Send an email after the current transaction commits."""
    outbox.enqueue(session, TOPIC, {"to": to, "subject": subject, "body": body})


class MailSender:
    """The outbox handler for email."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        if not self._settings.smtp_url:
            session.add(
                MailboxMessage(
                    recipient=payload["to"],
                    subject=payload["subject"],
                    body=payload["body"],
                    sent_at=utc_now(),
                )
            )
            return
        self._send_smtp(payload)

    def _send_smtp(self, payload: dict[str, Any]) -> None:
        url = urlsplit(self._settings.smtp_url)
        message = EmailMessage()
        message["From"] = self._settings.mail_from
        message["To"] = payload["to"]
        message["Subject"] = payload["subject"]
        message["Message-ID"] = make_msgid(domain="partnercenter")
        message.set_content(payload["body"])

        host, port = url.hostname or "localhost", url.port
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if url.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(host, port or 465, context=context, timeout=30)
        else:
            smtp = smtplib.SMTP(host, port or 25, timeout=30)
        with smtp:
            if url.scheme == "smtp+starttls":
                smtp.starttls(context=context)
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message)
        log.info("email.sent", recipient_domain=payload["to"].rpartition("@")[2])
