"""Who calls the native API: every request is signed with an organisation's AK/SK pair.

Routes take :data:`ApiActor` to get the caller::

    @router.get("/things")
    def list_things(actor: ApiActor, db: DB) -> ...

The signature is checked by :func:`partnercenter.identity.signing.verify`; a failure answers
401 with the API's error shape (``code`` ``signature_invalid``, ``credential_revoked``,
``organisation_inactive`` or ``domain_mismatch``, and a translated ``message``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.logging import get_logger
from partnercenter.core.security import SecretBox
from partnercenter.core.settings import Settings
from partnercenter.identity import signing
from partnercenter.identity.models import ApiCredential, Organisation, OrganisationKind
from partnercenter.identity.permissions import PRESET_ROLES
from partnercenter.identity.signing import (
    ApiKeyRefused,
    CredentialRevoked,
    DomainMismatch,
    OrganisationDeactivated,
    SignatureError,
)
from partnercenter.web.context import DB

log = get_logger("partnercenter.api")

LAST_USED_PRECISION = dt.timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key, so a busy key is no hot row."""

ROLE_OF_KIND = {
    OrganisationKind.VENDOR: "vendor_admin",
    OrganisationKind.PARTNER: "partner_admin",
    OrganisationKind.CUSTOMER: "customer",
}
"""An API key acts for its organisation with the rights of that organisation's main account."""

signature_scheme = APIKeyHeader(
    name="Authorization",
    scheme_name="SDK-HMAC-SHA256",
    description=(
        "AK/SK signature: `SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, "
        "Signature=<hex>`, with the signed headers `Host` and `X-Sdk-Date`. "
        "Sign with the cloud's official SDK (see docs/api-signing.md)."
    ),
    auto_error=False,
)


async def raw_body(request: Request) -> bytes:
    """The body exactly as received; the route can still read it afterwards."""
    return await request.body()


def headers_of(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.scope.get("headers", []):
        headers.setdefault(name.decode("latin-1").lower(), signing.header_text(value))
    return headers


def raw_path_of(request: Request) -> str:
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        return signing.header_text(raw)
    return str(request.url.path)


def _secret_lookup(
    session: Session, box: SecretBox, found: dict[str, ApiCredential]
) -> signing.SecretLookup:
    # Revoked keys are found too: the caller learns that its key was revoked only after
    # proving, by a good signature, that it holds the secret.
    def secret_for(access_key: str) -> str | None:
        credential = session.scalar(
            select(ApiCredential).where(ApiCredential.access_key == access_key)
        )
        if credential is None:
            return None
        found[access_key] = credential
        return box.open(credential.secret_encrypted)

    return secret_for


def signature_window(request: Request) -> dt.timedelta:
    settings: Settings = request.app.state.settings
    return dt.timedelta(minutes=settings.signature_window_minutes)


def authenticate(
    request: Request, session: Session, body: bytes
) -> tuple[ApiCredential, Organisation]:
    """The credential that signed ``request`` and its organisation, or ApiKeyRefused."""
    settings: Settings = request.app.state.settings
    headers = headers_of(request)
    found: dict[str, ApiCredential] = {}
    try:
        access_key = signing.verify(
            method=request.method,
            raw_path=raw_path_of(request),
            raw_query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            secret_for=_secret_lookup(session, request.app.state.secret_box, found),
            now=utc_now(),
            window=dt.timedelta(minutes=settings.signature_window_minutes),
        )
    except SignatureError as error:
        log.info("api.signature_refused", reason=str(error.reason))
        raise ApiKeyRefused.for_failure(error.reason) from None

    credential = found[access_key]
    if credential.revoked_at is not None:
        log.info("api.credential_revoked", access_key=access_key)
        raise CredentialRevoked()
    domain_id = headers.get("x-domain-id", "").strip()
    if domain_id and domain_id != credential.organisation_id:
        log.info("api.domain_mismatch", access_key=access_key)
        raise DomainMismatch()
    organisation = session.get(Organisation, credential.organisation_id)
    if organisation is None or not organisation.is_active:
        raise OrganisationDeactivated()
    return credential, organisation


def use_is_due(credential: ApiCredential) -> bool:
    """Whether a call now should move the key's "last used" time."""
    last = credential.last_used_at
    return last is None or utc_now() - last >= LAST_USED_PRECISION


def note_use(credential: ApiCredential) -> None:
    """Move the key's "last used" time, at most once a minute.

    Written with the request's own transaction, so a call that fails and rolls back does
    not count as a use; only successful calls move the "last used" time.
    """
    if use_is_due(credential):
        credential.last_used_at = utc_now()


def actor_for_credential(
    credential: ApiCredential, organisation: Organisation, request_id: str | None
) -> Actor:
    role = PRESET_ROLES[ROLE_OF_KIND[organisation.kind]]
    return Actor(
        organisation_id=organisation.id,
        organisation_kind=organisation.public_kind,
        permissions=frozenset(role.permissions),
        credential_id=credential.id,
        request_id=request_id,
        roles=frozenset({role.code}),
    )


def api_actor(
    request: Request,
    db: DB,
    body: Annotated[bytes, Depends(raw_body)],
    _authorization: Annotated[str | None, Security(signature_scheme)] = None,
) -> Actor:
    """The organisation calling, authenticated by the AK/SK signature of the request."""
    credential, organisation = authenticate(request, db, body)
    note_use(credential)
    return actor_for_credential(
        credential, organisation, getattr(request.state, "request_id", None)
    )


ApiActor = Annotated[Actor, Depends(api_actor)]
"""The caller of a native API route."""
