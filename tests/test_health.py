from __future__ import annotations

import gc

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from partnercenter import cli
from partnercenter.core.settings import Settings


class TestHealth:
    def test_reports_database_reachable(self, client: TestClient) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"
        assert response.headers["x-request-id"]

    def test_openapi_document_is_served(self, client: TestClient) -> None:
        response = client.get("/api/v1/openapi.json")
        assert response.status_code == 200
        assert response.json()["info"]["title"] == "Partner Center native API"


class TestServerProcess:
    def test_a_served_app_puts_what_it_loaded_out_of_the_collectors_way(
        self, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # As serve_app's application does once started; the test process's own objects
        # are released again after.
        monkeypatch.setattr(app.state, "freeze_at_start", True)
        gc.unfreeze()
        try:
            with TestClient(app) as client:
                frozen = gc.get_freeze_count()
                assert client.get("/healthz").status_code == 200
        finally:
            gc.unfreeze()

        assert frozen > 10_000

    def test_a_test_app_leaves_the_collector_alone(self, client: TestClient) -> None:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0

    def test_the_server_command_runs_the_served_app(
        self, monkeypatch: pytest.MonkeyPatch, settings: Settings
    ) -> None:
        ran: dict[str, object] = {}
        monkeypatch.setattr(
            "uvicorn.run", lambda target, **options: ran.update(options, target=target)
        )

        cli._serve(settings, "127.0.0.1", 8123)

        assert ran["target"] == "partnercenter.app:serve_app"
        assert ran["factory"] is True
