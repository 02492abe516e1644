"""Identifiers that leave the system.

Organisation ids are 32 lower-case hex characters, like the vendor cloud's domain ids, so the
same value serves as ``domain_id`` and ``customer_id`` in the BSS API.
"""

import secrets
import uuid


def new_id() -> str:
    return uuid.uuid4().hex


def new_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe token for links and sessions."""
    return secrets.token_urlsafe(nbytes)
