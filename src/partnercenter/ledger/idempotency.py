"""``Idempotency-Key``: a money write retried with the same key returns its first result.

The key is claimed (inserted) in the same transaction as the write it guards, before the
write: a second request with the same key waits on the first one's row and then finds it,
so two retries racing each other move money once. If the write is refused, its
transaction and the claim roll back together and the key may be used again. A key used for
a different request (another path or body) is refused with 409. Keys are kept 24 hours.
"""

from __future__ import annotations

import hashlib
import re

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from partnercenter.core.clock import utc_now
from partnercenter.ledger.errors import IdempotencyConflict, IdempotencyKeyMissing
from partnercenter.ledger.models import IdempotencyKey

HEADER = "idempotency-key"
KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def key_of(request: Request) -> str:
    key = request.headers.get(HEADER, "")
    if not KEY.match(key):
        raise IdempotencyKeyMissing()
    return key


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def find(
    session: Session, organisation_id: str, key: str, fingerprint: str
) -> IdempotencyKey | None:
    """The first result under ``key``, None if the key is new; 409 for another request."""
    found = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.organisation_id == organisation_id, IdempotencyKey.key == key
        )
    )
    if found is not None and found.request_hash != fingerprint:
        raise IdempotencyConflict()
    return found


def claim(
    session: Session, organisation_id: str, key: str, fingerprint: str
) -> IdempotencyKey | None:
    """Claim ``key`` for this request; if another request holds it, its row (after that
    request committed) instead."""
    found = find(session, organisation_id, key, fingerprint)
    if found is not None:
        return found
    row = IdempotencyKey(
        organisation_id=organisation_id,
        key=key,
        request_hash=fingerprint,
        status_code=200,
        created_at=utc_now(),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # Another request claimed it first and has committed by now (the insert waited).
        return find(session, organisation_id, key, fingerprint)
    return None


def settle(
    session: Session,
    organisation_id: str,
    key: str,
    *,
    status_code: int,
    response: str | None = None,
    transfer_id: str | None = None,
) -> None:
    row = session.get(IdempotencyKey, (organisation_id, key))
    assert row is not None, "claim the key first"
    row.status_code = status_code
    row.response = response
    row.transfer_id = transfer_id
    session.flush()
