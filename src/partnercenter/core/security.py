"""Small cryptographic helpers: token hashes, secret encryption, CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def token_hash(token: str) -> str:
    """What is stored for a bearer token (session cookie, emailed link): its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"partnercenter", info=purpose
    ).derive(secret_key.encode())


class SecretBox:
    """Encrypts values at rest with a key derived from the server's secret key."""

    def __init__(self, secret_key: str) -> None:
        key = base64.urlsafe_b64encode(_derive(secret_key, b"secret-box"))
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise ValueError(
                "sealed value cannot be opened with this secret key"
            ) from error


class CsrfSigner:
    """CSRF tokens bound to a per-browser cookie value (signed double submit)."""

    def __init__(self, secret_key: str) -> None:
        self._key = _derive(secret_key, b"csrf")

    def token_for(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def is_valid(self, cookie_value: str | None, submitted: str | None) -> bool:
        if not cookie_value or not submitted:
            return False
        return hmac.compare_digest(self.token_for(cookie_value), submitted)
