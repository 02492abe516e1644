"""Verification of requests signed with an AK/SK pair (``SDK-HMAC-SHA256``).

The scheme is the one the vendor cloud's official SDKs sign with, so their clients work here
unchanged. The client builds a canonical form of the request, hashes it, and signs the hash
together with the time (``X-Sdk-Date``) with its secret key:

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQueryString \\n
                       CanonicalHeaders \\n SignedHeaders \\n HexPayloadHash
    StringToSign     = SDK-HMAC-SHA256 \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(SK, StringToSign))

:func:`verify` rebuilds the same form from the request as received and compares. It touches
no database and no clock: the caller passes a way to find the secret of an access key and the
current time, which keeps it usable from every API face (the native API and the
BSS-compatible one map the :class:`SignatureError` reasons to their own error codes).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, quote, unquote

from partnercenter.core.errors import NotAuthenticated
from partnercenter.core.i18n import N_

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "x-sdk-date"
HOST_HEADER = "host"
CONTENT_HASH_HEADER = "x-sdk-content-sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
REQUIRED_SIGNED_HEADERS = (HOST_HEADER, DATE_HEADER)

_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+"
    r"Access=(?P<access>[^,\s]+),\s*"
    r"SignedHeaders=(?P<headers>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-fA-F]{64})\s*$"
)
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_DATE = re.compile(r"^\d{8}T\d{6}Z$")
# A key no real secret can equal: an unknown access key is checked against it, so that
# answering "unknown key" costs the same work as answering "wrong signature".
_DUMMY_SECRET = b"\x00partnercenter-no-such-access-key\x00"


class SignatureFailure(StrEnum):
    """Why a signed request was refused; stable, so API faces can map them to codes."""

    MISSING_AUTHORIZATION = "missing_authorization"
    MALFORMED_AUTHORIZATION = "malformed_authorization"
    UNKNOWN_ACCESS_KEY = "unknown_access_key"
    DATE_MISSING = "date_missing"
    DATE_MALFORMED = "date_malformed"
    DATE_OUT_OF_WINDOW = "date_out_of_window"
    HEADER_NOT_SIGNED = "header_not_signed"
    SIGNATURE_MISMATCH = "signature_mismatch"


FAILURE_MESSAGES: dict[SignatureFailure, str] = {
    SignatureFailure.MISSING_AUTHORIZATION: N_(
        "The request is not signed: the Authorization header is missing."
    ),
    SignatureFailure.MALFORMED_AUTHORIZATION: N_(
        "The Authorization header is not of the form "
        "'SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…'."
    ),
    SignatureFailure.UNKNOWN_ACCESS_KEY: N_(
        "The access key is not known or has been revoked."
    ),
    SignatureFailure.DATE_MISSING: N_("The X-Sdk-Date header is missing."),
    SignatureFailure.DATE_MALFORMED: N_(
        "The X-Sdk-Date header must be a UTC time such as 20260302T020000Z."
    ),
    SignatureFailure.DATE_OUT_OF_WINDOW: N_(
        "The X-Sdk-Date of the request is too far from the server's time. "
        "Check the clock of the calling machine."
    ),
    SignatureFailure.HEADER_NOT_SIGNED: N_(
        "The Host and X-Sdk-Date headers must be among the signed headers."
    ),
    SignatureFailure.SIGNATURE_MISMATCH: N_(
        "The signature does not match the request. Check the secret key and that the "
        "request is not changed after signing."
    ),
}
"""What the caller is told for each reason, as message templates of the product."""


class SignatureError(Exception):
    """A signed request that does not verify; ``reason`` says why."""

    def __init__(self, reason: SignatureFailure) -> None:
        super().__init__(reason.value)
        self.reason = reason


class ApiKeyRefused(NotAuthenticated):
    """An API call whose AK/SK authentication failed, as the API faces report it.

    ``reason`` is a :class:`SignatureFailure` value, ``credential_revoked``,
    ``organisation_inactive`` or ``domain_mismatch``, for faces that answer with codes of
    their own.
    """

    code = "signature_invalid"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @classmethod
    def for_failure(cls, failure: SignatureFailure) -> ApiKeyRefused:
        return cls(failure.value, FAILURE_MESSAGES[failure])


class CredentialRevoked(ApiKeyRefused):
    code = "credential_revoked"

    def __init__(self) -> None:
        super().__init__(
            "credential_revoked",
            N_("This access key has been revoked. Create a new one in the console."),
        )


class OrganisationDeactivated(ApiKeyRefused):
    code = "organisation_inactive"

    def __init__(self) -> None:
        super().__init__(
            "organisation_inactive",
            N_(
                "The organisation of this access key has been deactivated by the vendor; "
                "its keys work again when the vendor reactivates it."
            ),
        )


class DomainMismatch(ApiKeyRefused):
    code = "domain_mismatch"

    def __init__(self) -> None:
        super().__init__(
            "domain_mismatch",
            N_(
                "The X-Domain-Id header does not name the organisation of the access key."
            ),
        )


@dataclass(frozen=True, slots=True)
class Authorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


SecretLookup = Callable[[str], str | None]
"""Returns the secret key of an access key, or None when there is no such key."""


def parse_authorization(value: str | None) -> Authorization:
    if value is None or not value.strip():
        raise SignatureError(SignatureFailure.MISSING_AUTHORIZATION)
    match = _AUTHORIZATION.match(value.strip())
    if match is None:
        raise SignatureError(SignatureFailure.MALFORMED_AUTHORIZATION)
    names = tuple(match["headers"].split(";"))
    if not all(_HEADER_NAME.match(name) for name in names):
        raise SignatureError(SignatureFailure.MALFORMED_AUTHORIZATION)
    return Authorization(match["access"], names, match["signature"].lower())


@functools.lru_cache(maxsize=512)
def canonical_uri(raw_path: str) -> str:
    # Cached: a server signs the same few paths over and over.
    segments = unquote(raw_path).split("/")
    path = "/".join(quote(segment, safe="~") for segment in segments)
    return path if path.endswith("/") else path + "/"


def canonical_query(raw_query: str) -> str:
    pairs = sorted(parse_qsl(raw_query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def canonical_headers(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    # A signed header the request does not carry is signed as empty; the signature then
    # fails to match unless the client really signed an empty value.
    return "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in names)


def payload_hash(
    headers: Mapping[str, str], names: tuple[str, ...], body: bytes
) -> str:
    # The official signer hashes an empty body even when it marks the payload unsigned.
    if not body:
        return hashlib.sha256(b"").hexdigest()
    if CONTENT_HASH_HEADER in names and headers.get(CONTENT_HASH_HEADER) == (
        UNSIGNED_PAYLOAD
    ):
        return UNSIGNED_PAYLOAD
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
) -> str:
    return "\n".join(
        (
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash(headers, signed_headers, body),
        )
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str | bytes, text: str) -> str:
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.digest(key, text.encode(), "sha256").hex()


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names in lower case; the first of repeated headers wins."""
    result: dict[str, str] = {}
    for name, value in headers.items():
        result.setdefault(name.lower(), value)
    return result


def header_text(raw: bytes) -> str:
    """A header value as the client wrote it.

    Signing clients send text as UTF-8, while HTTP frameworks decode header bytes as
    latin-1; UTF-8 is tried first so that a signed non-ASCII value compares equal.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _check_date(value: str | None, now: dt.datetime, window: dt.timedelta) -> str:
    if value is None or not value.strip():
        raise SignatureError(SignatureFailure.DATE_MISSING)
    value = value.strip()
    if not _DATE.match(value):
        raise SignatureError(SignatureFailure.DATE_MALFORMED)
    try:
        # The pattern above fixed every digit's place (DATE_FORMAT); strptime costs a
        # tenth of a signature check.
        moment = dt.datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        raise SignatureError(SignatureFailure.DATE_MALFORMED) from None
    # The scheme carries no nonce, so a captured request can be replayed until the window
    # closes; refusing replays would need a store of recently seen signatures.
    if abs(now - moment) > window:
        raise SignatureError(SignatureFailure.DATE_OUT_OF_WINDOW)
    return value


def verify(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: SecretLookup,
    now: dt.datetime,
    window: dt.timedelta,
) -> str:
    """The access key that signed this request, or :class:`SignatureError`.

    ``raw_path`` and ``raw_query`` are as sent (still percent-encoded), ``headers`` decoded
    to text (see :func:`header_text`), ``body`` the exact bytes received.
    """
    headers = lowered(headers)
    authorization = parse_authorization(headers.get("authorization"))
    sdk_date = _check_date(headers.get(DATE_HEADER), now, window)
    if not set(REQUIRED_SIGNED_HEADERS) <= set(authorization.signed_headers):
        raise SignatureError(SignatureFailure.HEADER_NOT_SIGNED)

    text = string_to_sign(
        canonical_request(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            signed_headers=authorization.signed_headers,
            body=body,
        ),
        sdk_date,
    )
    secret = secret_for(authorization.access_key)
    expected = signature(_DUMMY_SECRET if secret is None else secret, text)
    matches = hmac.compare_digest(expected, authorization.signature)
    if secret is None:
        raise SignatureError(SignatureFailure.UNKNOWN_ACCESS_KEY)
    if not matches:
        raise SignatureError(SignatureFailure.SIGNATURE_MISMATCH)
    return authorization.access_key
