"""The original design's page in real headless Chromium: a browser EventSource against the API.

The page (served at /) uploads documents with fetch(), then listens with
`new EventSource('/api/jobs/ID/events')` for exactly `progress`, `tokens`, `complete` and
`error`. These tests prove any EventSource client written to the original design still works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.api_server import ApiHarness, api_harness, text_documents
from tests.browser import chromium

pytestmark = pytest.mark.browser

TOKEN = "browser-test-token"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with api_harness(monkeypatch, token_delay=0.05) as harness:
        yield harness


def received(page: Page) -> list[dict[str, Any]]:
    return page.evaluate("window.docpulseEvents")


def wait_for_event(page: Page, name: str) -> None:
    page.wait_for_function(f"window.docpulseEvents.some(e => e.event === {name!r})", timeout=30_000)


def test_the_page_uploads_and_follows_a_job_to_complete(
    api: ApiHarness, page: Page, tmp_path: Path
) -> None:
    paths = []
    for name, data in text_documents(3):
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(path)
    page.goto(api.url + "/")
    page.set_input_files("input[name=files]", paths)
    page.select_option("select[name=schema]", "summary")
    page.click("button[type=submit]")
    wait_for_event(page, "complete")

    events = received(page)
    names = [e["event"] for e in events]
    assert {"progress", "tokens", "complete"} <= set(names)
    assert names[-1] == "complete"
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(set(ids))  # lastEventId is the SSE id: in order, none twice
    job_id = page.evaluate("new URLSearchParams(location.search).get('job')")
    stored = [e for e in api.store.events(job_id) if e["event"] in set(names)]
    assert ids == [e["id"] for e in stored]  # every event of those names, nothing lost
    assert page.text_content("#status").startswith("complete: 3 documents")
    assert page.get_attribute("#bar", "aria-valuenow") == "100"
    assert "tokens in" in page.text_content("#tokens")


def test_the_page_shows_a_job_that_fails_with_the_error_event(api: ApiHarness, page: Page) -> None:
    job_id = api.submit(text_documents(2), model="no-such-model")
    page.goto(f"{api.url}/?job={job_id}")
    wait_for_event(page, "error")
    names = [e["event"] for e in received(page)]
    assert names[-1] == "error" and "complete" not in names
    assert "progress" in names
    status = page.text_content("#status")
    assert status.startswith("error: ") and "no-such-model" in status


def test_the_page_follows_a_token_guarded_api_with_the_query_token(
    monkeypatch: pytest.MonkeyPatch, page: Page
) -> None:
    with api_harness(monkeypatch, token=TOKEN, token_delay=0.02) as guarded:
        job_id = guarded.submit(text_documents(1))
        page.goto(f"{guarded.url}/?job={job_id}&token={TOKEN}")
        wait_for_event(page, "complete")
        assert page.text_content("#status").startswith("complete: 1 documents")
