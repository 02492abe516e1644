"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from partnercenter.core.errors import FieldProblem, InvalidInput
from partnercenter.core.i18n import N_

STANDARD = PasswordHasher()
"""argon2id with the library's recommended parameters (RFC 9106, low-memory profile)."""
_hasher = STANDARD
MIN_LENGTH = 8
MAX_LENGTH = 128

# Hashing a fixed password for unknown accounts makes "no such user" cost as much time as
# "wrong password", so response times do not reveal which account names exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash new passwords with ``hasher`` in this process (test suites use cheap parameters).

    Stored hashes carry their own parameters, so earlier ones still verify.
    """
    global _hasher, _DUMMY_HASH  # noqa: PLW0603 - one hasher for the whole process
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_policy(
    password: str, *, account_name: str = "", field: str = "password"
) -> None:
    """Refuse a weak password: 8 to 128 characters of at least two kinds, not the name."""
    classes = sum(
        any(ch in group for ch in password)
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(not ch.isalnum() for ch in password)
    message = None
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        message = N_("A password has 8 to 128 characters.")
    elif classes < 2:
        message = N_(
            "A password mixes at least two of: lower-case letters, upper-case letters, "
            "digits, symbols."
        )
    elif account_name and account_name.lower() in (
        password.lower(),
        password.lower()[::-1],
    ):
        message = N_(
            "A password may not be the account name or the account name reversed."
        )
    if message:
        raise InvalidInput(problems=[FieldProblem(field, message)])
