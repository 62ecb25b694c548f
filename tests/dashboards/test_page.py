"""The page in real headless Chromium (Debian's, driven by Playwright): it loads, shows every
pipeline with the API's numbers, updates without a reload when new data lands, and logs no
console errors. Screenshots are kept under var/test-artifacts/dashboards/ (CI uploads them)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from sensorlake.contract.pipelines import TARGETS
from sensorlake.dashboards.app import create_app

from .conftest import Flow

pytestmark = pytest.mark.dashboards

# Debian's chromium; SENSORLAKE_CHROMIUM names another system browser (a runner without it).
CHROMIUM = Path(os.environ.get("SENSORLAKE_CHROMIUM") or "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "dashboards"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def serve(app: object) -> Iterator[str]:
    """The app on a real uvicorn server in a thread; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def served(flow: Flow) -> Iterator[tuple[str, Flow]]:
    flow.ingest()
    with serve(create_app(flow.monitor(cache_ttl_seconds=0.5))) as url:
        yield url, flow


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have a system chromium at {CHROMIUM}: .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def number(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


def test_page_shows_every_pipeline_and_updates_in_place(served, browser) -> None:  # type: ignore[no-untyped-def]
    import httpx2

    url, flow = served
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith(url) or r.url.startswith("data:") else outside.append(r.url)
        ),
    )

    page.goto(url)
    page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
    api = {p["pipeline"]: p for p in httpx2.get(f"{url}/api/pipelines/status").json()["pipelines"]}
    for target in TARGETS:
        card = page.locator(f"article.card[data-pipeline={target}]")
        assert number(card.locator("dd.landed").inner_text()) == api[target]["landed_records"]
        assert number(card.locator("dd.ingested").inner_text()) == api[target]["ingested_records"]
        assert card.locator(".state").inner_text() == "healthy"
        assert page.locator(f".chart[data-pipeline={target}] polyline.landed").count() == 1
    assert "emergency" in (
        page.locator("article.card[data-pipeline=emergency]").get_attribute("class") or ""
    )
    assert page.locator("#verdict").get_attribute("data-verdict") == "exactly once"
    assert page.locator("#overall").inner_text() == "healthy"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)

    # New readings land: the page shows them (and the backlog) without being reloaded.
    page.evaluate("window.__marker = 'same page'")
    before = number(page.locator("article.card[data-pipeline=raw] dd.landed").inner_text())
    flow.land(rows=500, seed=21)
    page.wait_for_function(
        "() => document.querySelector('article.card[data-pipeline=raw] dd.landed').textContent"
        f" === '{before + 500:,}'",
        timeout=30_000,
    )
    raw = page.locator("article.card[data-pipeline=raw]")
    assert raw.locator("dd.backlog").inner_text().startswith("500 in ")
    assert page.locator("#verdict").get_attribute("data-verdict") == "in flight"
    assert page.evaluate("window.__marker") == "same page"
    page.screenshot(path=str(ARTIFACTS / "page-backlog.png"), full_page=True)

    flow.ingest()
    page.wait_for_function(
        "() => document.querySelector('#verdict').dataset.verdict === 'exactly once'",
        timeout=30_000,
    )
    assert problems == [] and outside == []


def test_page_says_not_configured_instead_of_failing(flow: Flow, browser) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from sensorlake.dashboards.monitor import Monitor, make_readers
    from sensorlake.dashboards.settings import DatabricksSettings

    settings = replace(
        flow.settings(), databricks=DatabricksSettings("example.cloud.databricks.com", None)
    )
    with serve(create_app(Monitor(settings, make_readers(settings)))) as url:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/")
        page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
        row = page.locator("#components tr[data-component=tables]")
        assert "not configured" in row.inner_text()
        assert "DATABRICKS_HTTP_PATH" in row.inner_text()
        assert page.locator("#verdict").get_attribute("data-verdict") == "not checked"
        assert page.locator("article.card[data-pipeline=raw] .state").inner_text() == "unknown"
        assert errors == []


def test_api_docs_render_offline(served, browser) -> None:  # type: ignore[no-untyped-def]
    url, _ = served
    page = browser.new_page()
    outside: list[str] = []
    errors: list[str] = []  # a Content-Security-Policy violation is a console error
    page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(f"{url}/docs")
    assert (
        response is not None
        and "script-src 'self' 'sha256-" in (response.headers["content-security-policy"])
    )
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = {p.strip() for p in page.locator(".opblock-summary-path").all_inner_texts()}
    assert {"/api/health", "/api/reconciliation", "/api/bucket-details/{pipeline}"} <= {
        p.replace("\u200b", "") for p in paths
    }
    # "Try it out" still reaches the API under the policy (connect-src 'self').
    page.locator(".opblock-summary", has_text="/api/health").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    page.wait_for_selector(".live-responses-table .response-col_status", timeout=20_000)
    assert page.locator(".live-responses-table .response-col_status").nth(1).inner_text() == "200"
    assert outside == [] and errors == []
