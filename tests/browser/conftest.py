"""Browser fixtures: Debian's Chromium driven by Playwright against a live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

from partnercenter.app import create_app
from partnercenter.core.settings import Settings
from tests.live import LiveServer, serve

CHROMIUM = os.environ.get("PARTNERCENTER_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = (
    os.environ.get("CI") == "true"
    or os.environ.get("PARTNERCENTER_TEST_REQUIRE_BROWSER") == "1"
)
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        if REQUIRE_BROWSER:
            pytest.fail(f"Chromium is required here but {CHROMIUM} does not exist")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def live_app(settings: Settings) -> FastAPI:
    """The app with its worker running in the background, as in the embedded default."""
    live_settings = settings.model_copy(update={"embedded_worker": True})
    return create_app(live_settings)


@pytest.fixture
def live_server(live_app: FastAPI) -> Iterator[LiveServer]:
    with serve(live_app) as server:
        live_app.state.settings.base_url = server.url
        yield server


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(tab: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
