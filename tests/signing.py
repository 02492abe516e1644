"""Calling the native API in tests with requests signed by the cloud's official SDK signer.

Most tests need one line::

    from tests.signing import signed

    response = signed(client, "GET", "/api/v1/organisation", ak=ak, sk=sk)
    response = signed(client, "POST", "/api/v1/things", ak=ak, sk=sk, body={"a": 1})

``client`` is the Starlette ``TestClient`` of the ``client`` fixture. The request is signed
exactly as the SDK signs it (``huaweicloudsdkcore``'s ``Signer`` over an ``SdkRequest``), dated
by the product's clock, so the ``clock`` fixture moves it too. :func:`api_key` issues a key for
an organisation. To test a refusal, :func:`sign` returns the signed request without sending it;
change it and pass it to :func:`send`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from sqlalchemy.orm import Session

from partnercenter.core.actor import SYSTEM
from partnercenter.core.clock import utc_now
from partnercenter.identity import credentials
from partnercenter.identity.models import Organisation
from partnercenter.identity.signing import DATE_FORMAT

Query = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass
class SignedRequest:
    """A request as the SDK would put it on the wire; change it to test refusals."""

    method: str
    path: str
    query: str
    headers: dict[str, str] = field(default_factory=dict)
    """Header values as the SDK leaves them: UTF-8 bytes spelt as latin-1 text."""
    body: bytes = b""

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(frozen=True)
class ApiKey:
    ak: str
    sk: str
    domain_id: str


def api_key(app: FastAPI, db: Session, organisation: Organisation) -> ApiKey:
    """Issue an AK/SK pair for ``organisation`` (flushed; commit before calling)."""
    issued = credentials.create(
        db, app.state.secret_box, SYSTEM, organisation, description="test key"
    )
    return ApiKey(issued.credential.access_key, issued.secret_key, organisation.id)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, ensure_ascii=False).encode()


def sign(
    method: str,
    path: str,
    *,
    ak: str,
    sk: str,
    host: str = "testserver",
    body: Any = None,
    query: Query | None = None,
    domain_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    date: str | None = None,
) -> SignedRequest:
    """Sign a request with the official SDK signer.

    ``path`` is sent as given, so percent-encode what needs it (``/a%20b``). ``query`` values
    are plain text; the SDK encodes them. ``body`` may be bytes, text or JSON-able data.
    ``date`` overrides the ``X-Sdk-Date`` (format ``20260302T020000Z``).
    """
    header_params = {
        "Content-Type": "application/json",
        "X-Sdk-Date": date or utc_now().strftime(DATE_FORMAT),
        **(headers or {}),
    }
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query or [])
    request = SdkRequest(
        method=method,
        schema="http",
        host=host,
        resource_path=path,
        query_params=pairs,
        header_params=header_params,
        body=_body_bytes(body),
    )
    GlobalCredentials(ak, sk, domain_id).sign_request(request)
    uri = urlsplit(request.uri)
    return SignedRequest(
        method=method,
        path=uri.path,
        query=uri.query,
        headers=dict(request.header_params),
        body=request.body or b"",
    )


def send(client: TestClient, request: SignedRequest) -> Response:
    """Send a signed request through ``client`` byte for byte."""
    return client.request(
        request.method,
        request.url,
        headers={
            name: value.encode("latin-1") for name, value in request.headers.items()
        },
        content=request.body,
    )


def signed(
    client: TestClient,
    method: str,
    path: str,
    *,
    ak: str,
    sk: str,
    body: Any = None,
    query: Query | None = None,
    domain_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Sign a request with the official SDK signer and send it through ``client``."""
    host = urlsplit(str(client.base_url)).netloc
    request = sign(
        method,
        path,
        ak=ak,
        sk=sk,
        host=host,
        body=body,
        query=query,
        domain_id=domain_id,
        headers=headers,
    )
    return send(client, request)
