"""Helpers for console tests: signing in and submitting forms with their CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response

from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_from(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    match = _CSRF.search(response.text)
    assert match, f"no CSRF token on {path} (status {response.status_code})"
    return match.group(1)


def sign_in(client: TestClient, identifier: str, password: str = PASSWORD) -> Response:
    token = csrf_from(client)
    response = client.post(
        "/login",
        data={"identifier": identifier, "password": password, "csrf_token": token},
    )
    assert response.status_code == 303, response.text
    return response


def post_form(
    client: TestClient,
    path: str,
    data: dict[str, str | list[str]],
    *,
    form_page: str = "/console",
) -> Response:
    token = csrf_from(client, form_page)
    return client.post(path, data={**data, "csrf_token": token})
