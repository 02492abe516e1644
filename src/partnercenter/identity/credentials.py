"""API credentials: access key / secret key pairs belonging to an organisation.

The secret key is shown once, at creation. It is stored sealed with a key derived from the
server's secret key, because checking an HMAC signature needs the secret itself.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import NotFound
from partnercenter.core.security import SecretBox
from partnercenter.identity.models import ApiCredential, Organisation

_AK_ALPHABET = string.ascii_uppercase + string.digits
AK_LENGTH = 20
SK_LENGTH = 40


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    credential: ApiCredential
    secret_key: str


def _new_access_key() -> str:
    return "".join(secrets.choice(_AK_ALPHABET) for _ in range(AK_LENGTH))


def _new_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(SK_LENGTH))


def create(
    session: Session,
    box: SecretBox,
    actor: Actor,
    organisation: Organisation,
    *,
    description: str | None = None,
) -> IssuedCredential:
    """Issue a new pair for ``organisation``; the caller shows the secret once."""
    secret = _new_secret_key()
    credential = ApiCredential(
        access_key=_new_access_key(),
        secret_encrypted=box.seal(secret),
        organisation_id=organisation.id,
        description=(description or "").strip()[:200] or None,
        created_by_user_id=actor.user_id,
        created_at=utc_now(),
    )
    session.add(credential)
    session.flush()
    audit.record(
        session,
        actor,
        "credential.created",
        subject_type="api_credential",
        subject_id=credential.access_key,
        organisation_id=organisation.id,
        after={
            "access_key": credential.access_key,
            "description": credential.description,
        },
    )
    return IssuedCredential(credential, secret)


def list_for(session: Session, organisation_id: str) -> Sequence[ApiCredential]:
    return session.scalars(
        select(ApiCredential)
        .where(ApiCredential.organisation_id == organisation_id)
        .order_by(ApiCredential.created_at.desc())
    ).all()


def revoke(session: Session, actor: Actor, access_key: str) -> ApiCredential:
    credential = session.scalar(
        select(ApiCredential).where(
            ApiCredential.access_key == access_key,
            ApiCredential.organisation_id == actor.organisation_id,
        )
    )
    if credential is None:
        raise NotFound()
    if credential.revoked_at is None:
        credential.revoked_at = utc_now()
        audit.record(
            session,
            actor,
            "credential.revoked",
            subject_type="api_credential",
            subject_id=credential.access_key,
            organisation_id=credential.organisation_id,
        )
    return credential


def active_by_access_key(session: Session, access_key: str) -> ApiCredential | None:
    return session.scalar(
        select(ApiCredential).where(
            ApiCredential.access_key == access_key, ApiCredential.revoked_at.is_(None)
        )
    )
