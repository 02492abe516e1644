"""The one error type of the product.

A :class:`DomainError` carries a stable ``code`` callers can branch on, the HTTP status the
web faces answer with, and a message written as an untranslated English template. The face
that reports the error translates it into the caller's language (see ``i18n``), so services
never need to know who is asking.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, ClassVar

from partnercenter.core.i18n import N_, Translator


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one input field; several are reported together."""

    field: str
    message: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)

    def render(self, translator: Translator) -> str:
        return (
            translator.gettext(self.message) % dict(self.params)
            if self.params
            else (translator.gettext(self.message))
        )


class DomainError(Exception):
    """Base of every error a user may see. Subclasses set ``code`` and ``status``."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = N_("The request could not be completed.")

    def __init__(
        self,
        message: str | None = None,
        /,
        *,
        problems: list[FieldProblem] | None = None,
        **params: Any,
    ) -> None:
        self.message = message or self.default_message
        self.params = params
        self.problems = problems or []
        super().__init__(self.message % params if params else self.message)

    def render(self, translator: Translator) -> str:
        text = translator.gettext(self.message)
        return text % self.params if self.params else text


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 400
    default_message = N_("Some fields are not valid.")


NUL_IN_TEXT = N_("Text must not contain the NUL character (U+0000).")
"""No text column of PostgreSQL can hold it, so every face refuses it as bad input."""


HALF_A_PAIR = N_(
    "Text must not contain half of a surrogate pair (an escape such as \\ud800 alone)."
)
"""JSON can escape one half of a UTF-16 pair on its own; no text column can store it."""

# What no text column can store, as the escapes a JSON text must use to carry it (without
# one, a parsed value needs no walk) and as it is found in the parsed strings. A whole
# surrogate pair parses into its one character; only a half is left a surrogate.
_UNSTORABLE = (
    (re.compile(rb"\\u0000"), re.compile("\x00"), NUL_IN_TEXT),
    (re.compile(rb"\\u[dD][89a-fA-F]"), re.compile("[\ud800-\udfff]"), HALF_A_PAIR),
)


def unstorable_text(body: bytes, data: object) -> str | None:
    """The refusal for a JSON text (``body``, parsed as ``data``) that holds, in any key or
    string, text no database column can store; None when it holds none."""
    for escaped, found, refusal in _UNSTORABLE:
        if escaped.search(body) and _any_text(data, found):
            return refusal
    return None


def _any_text(value: object, found: re.Pattern[str]) -> bool:
    if isinstance(value, str):
        return found.search(value) is not None
    if isinstance(value, dict):
        return any(_any_text(k, found) or _any_text(v, found) for k, v in value.items())
    if isinstance(value, list):
        return any(_any_text(item, found) for item in value)
    return False


def is_nul_refusal(error: BaseException) -> bool:
    """Whether ``error`` is the driver refusing text with a NUL character in it (input
    that reached the database without being checked first)."""
    return "NUL" in str(error) and type(error).__name__ == "DataError"


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    default_message = N_("Please sign in.")


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    default_message = N_("You do not have permission to do this.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = N_("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = N_("This conflicts with the current state.")


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = N_("Too many requests. Please try again later.")

    def __init__(
        self, message: str | None = None, /, *, retry_after: int, **params: Any
    ):
        super().__init__(message, **params)
        self.retry_after = retry_after


class RequestTooLarge(DomainError):
    code = "request_too_large"
    status = 413
    default_message = N_(
        "The request is larger than %(size)s KB, the most this server takes."
    )

    def __init__(self, *, limit: int) -> None:
        super().__init__(size=limit // 1024)


class NotMigrated(RuntimeError):
    """The database schema is not at the version this code expects."""
