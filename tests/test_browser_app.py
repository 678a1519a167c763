"""The app in real headless Chromium against `streamlit run` and the loopback FakeProvider.

What an analyst does: upload PDFs, press Analyze, watch progress move to 100 %, download the
CSV; refresh mid-job and find it still going; cancel; a broken file is one failed row; the
Japanese UI. Screenshots of the main states go to docs/screenshots/.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import DOCUMENT_INPUT, app_page, chromium
from tests.fake_provider import FakeProvider
from tests.pdf_factory import make_pdf, truncate
from tests.streamlit_server import StreamlitServer, run_streamlit

pytestmark = pytest.mark.browser

SECRET = "sk-browser-SECRET-456"
# Test artefacts go to test-artifacts/ (git ignores it); the README's pictures are refreshed
# with DOCPULSE_SCREENSHOTS=docs/screenshots python -m pytest tests/test_browser_app.py
SCREENSHOTS = Path(
    os.environ.get("DOCPULSE_SCREENSHOTS")
    or Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
)
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def invoices(count: int, prefix: str = "invoice") -> list[dict[str, object]]:
    return [
        {
            "name": f"{prefix}-{n}.pdf",
            "mimeType": "application/pdf",
            "buffer": make_pdf(
                [
                    f"Invoice {n}\nACME Corp bills 1,{n}00.00 EUR for consulting.\n"
                    f"Due 2024-04-{n:02d}."
                ]
            ),
        }
        for n in range(1, count + 1)
    ]


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    # Slow tokens so progress is observable: each answer takes about a second or two.
    with FakeProvider(api_key=SECRET, ttft=0.3, token_delay=0.12) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StreamlitServer]:
    env = {
        "ANALYZER_BASE_URL": provider.base_url,
        "ANALYZER_MODEL": "fake-model",
        "ANALYZER_API_KEY": SECRET,
        "ANALYZER_REDIS_URL": None,
        "ANALYZER_INPUT_DIR": None,
    }
    with run_streamlit(tmp_path_factory.mktemp("streamlit"), env) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, server: StreamlitServer) -> Iterator[Page]:
    with app_page(browser) as tab:
        yield tab


def open_app(page: Page, server: StreamlitServer, query: str = "") -> None:
    page.goto(f"{server.url}/{query}")
    page.wait_for_selector(IDLE, timeout=60_000)


def analyze_button(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile(r"Analyze$"))


def upload(page: Page, files: list[dict[str, object]]) -> None:
    page.locator(DOCUMENT_INPUT).set_input_files(files)
    expect(page.get_by_text(f"{len(files)} documents selected")).to_be_visible()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def job_id_of(page: Page) -> str:
    match = re.search(r"[?&]job=([^&]+)", page.url)
    assert match, page.url
    return match.group(1)


def progress_texts(page: Page, seconds: float) -> list[str]:
    """Progress-bar texts seen over `seconds` (the live fragment redraws every 0.5 s)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    bar = page.get_by_test_id("stProgress")
    while time.monotonic() < deadline:
        if bar.count():
            text = bar.first.inner_text(timeout=2_000)
            if not seen or seen[-1] != text:
                seen.append(text)
        time.sleep(0.2)
    return seen


def test_upload_watch_progress_then_download_csv_with_a_failed_row(
    page: Page, server: StreamlitServer, provider: FakeProvider
) -> None:
    open_app(page, server)
    shot(page, "analyze-form.png")
    files = [
        *invoices(5),
        {
            "name": "broken.pdf",
            "mimeType": "application/pdf",
            "buffer": truncate(make_pdf(["A download that broke off half-way."]), keep=0.4),
        },
    ]
    upload(page, files)
    analyze_button(page).click()

    bar = page.get_by_test_id("stProgress")
    expect(bar).to_contain_text("documents", timeout=30_000)
    expect(page.get_by_text("Answer streaming for")).to_be_visible(timeout=20_000)
    shot(page, "analyze-progress.png")
    seen = progress_texts(page, 2.5)
    assert len(seen) >= 2, f"progress did not move: {seen}"

    expect(page.get_by_text("100 % · 6/6 documents")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Completed").first).to_be_visible()
    shot(page, "analyze-results.png")
    page.get_by_role("tab", name="Charts").click()
    expect(page.get_by_text("Field fill rate")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0

    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"CSV \(Excel\)")).click()
    download = download_info.value
    assert download.suggested_filename == f"docpulse-{job_id_of(page)}.csv"
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["document"] for r in rows] == [f["name"] for f in files]
    status = {r["document"]: r["status"] for r in rows}
    assert status.pop("broken.pdf") == "failed"
    assert set(status.values()) == {"ok"}
    assert next(r for r in rows if r["document"] == "broken.pdf")["error"]


def test_refresh_mid_job_reattaches_and_nothing_restarts(
    page: Page, server: StreamlitServer, provider: FakeProvider
) -> None:
    open_app(page, server)
    upload(page, invoices(8, prefix="refresh"))
    before = len(provider.chat_requests)
    analyze_button(page).click()
    expect(page.get_by_test_id("stProgress")).to_contain_text("documents", timeout=30_000)
    job_id = job_id_of(page)
    first = progress_texts(page, 1.0)

    page.reload()
    page.wait_for_selector('[data-testid="stApp"]')
    assert job_id_of(page) == job_id
    expect(page.get_by_text(f"Job {job_id}")).to_be_visible()
    later = progress_texts(page, 1.5)
    assert later and later[-1] != first[0], (first, later)
    expect(page.get_by_text("100 % · 8/8 documents")).to_be_visible(timeout=60_000)
    refresh_requests = [r for r in provider.chat_requests[before:] if "refresh-" in str(r.body)]
    assert len(refresh_requests) == 8  # each document asked once: the job was never restarted


def test_cancel_mid_job_stops_it_within_seconds(
    page: Page, server: StreamlitServer, provider: FakeProvider
) -> None:
    open_app(page, server)
    upload(page, invoices(12, prefix="cancel"))
    analyze_button(page).click()
    expect(page.get_by_test_id("stProgress")).to_contain_text("documents", timeout=30_000)
    page.get_by_role("button", name=re.compile(r"Cancel$")).click()
    started = time.monotonic()
    expect(page.get_by_text("Cancelled after")).to_be_visible(timeout=15_000)
    assert time.monotonic() - started < 15
    expect(page.get_by_role("button", name=re.compile(r"Resume$"))).to_be_visible()
    shot(page, "job-cancelled.png")

    page.get_by_role("link", name="Jobs").click()
    expect(page.get_by_text("Every analysis run here")).to_be_visible()
    page.wait_for_selector(IDLE)
    shot(page, "jobs.png")


def test_japanese_ui_renders(page: Page, server: StreamlitServer) -> None:
    open_app(page, server, "?lang=ja")
    expect(page.get_by_role("button", name=re.compile(r"解析する$"))).to_be_visible()
    expect(page.get_by_text("2 · 抽出する項目")).to_be_visible()
    page.get_by_role("button", name=re.compile("サンプル文書で試す")).click()
    expect(page.get_by_text(re.compile(r"サンプル文書を \d+ 件追加しました"))).to_be_visible()
    shot(page, "analyze-form-ja.png")
