from __future__ import annotations

from fastapi.testclient import TestClient


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
