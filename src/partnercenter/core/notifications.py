"""The one notification service: in-console notices with unread counts, and email.

Every capability announces what a person must know through :func:`notify`. A notice is
stored with its kind and parameters and rendered in the reader's language when shown; the
email copy is rendered in the recipient's language when queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from partnercenter.core import mail
from partnercenter.core.clock import utc_now
from partnercenter.core.i18n import N_, Translator, translator
from partnercenter.core.models import Notification

if TYPE_CHECKING:
    from partnercenter.identity.models import User


@dataclass(frozen=True, slots=True)
class NoticeTemplate:
    title: str
    body: str


_TEMPLATES: dict[str, NoticeTemplate] = {}


def register(kind: str, *, title: str, body: str) -> None:
    """Declare a kind of notice; ``title`` and ``body`` are English %-templates."""
    _TEMPLATES[kind] = NoticeTemplate(title, body)


def render(kind: str, params: dict[str, Any], tr: Translator) -> tuple[str, str]:
    template = _TEMPLATES.get(kind)
    if template is None:
        return kind, ""
    safe = {key: ("" if value is None else value) for key, value in params.items()}
    return tr.gettext(template.title) % safe, tr.gettext(template.body) % safe


register(
    "generic",
    title=N_("%(title)s"),
    body=N_("%(body)s"),
)


def notify(
    session: Session,
    *,
    user: User,
    kind: str,
    params: dict[str, Any],
    link: str | None,
    base_url: str,
    default_locale: str,
    organisation_id: str | None = None,
    email: bool = True,
) -> Notification:
    notice = Notification(
        user_id=user.id,
        organisation_id=organisation_id,
        kind=kind,
        params=params,
        link=link,
        created_at=utc_now(),
    )
    session.add(notice)

    if email and user.email:
        tr = translator(user.locale or default_locale)
        title, body = render(kind, params, tr)
        if link:
            body = f"{body}\n\n{base_url.rstrip('/')}{link}"
        mail.queue_email(session, to=user.email, subject=title, body=body)
    return notice


def unread_count(session: Session, user_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def recent(
    session: Session, user_id: str, *, limit: int = 50
) -> Sequence[Notification]:
    return session.scalars(
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    ).all()


def mark_read(session: Session, user_id: str, notice_id: int | None = None) -> None:
    """Mark one notice (or, with no id, all of them) read for ``user_id``."""
    statement = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if notice_id is not None:
        statement = statement.where(Notification.id == notice_id)
    session.execute(statement.values(read_at=utc_now()))
