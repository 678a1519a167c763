"""The README's first command, proved in a browser: no key, no network, the local model.

`streamlit run app.py` with no provider configured; a person drops in PDFs (one of them
Japanese), presses Analyze, watches the local llama.cpp model work through them live, and
downloads a CSV that Excel opens with the Japanese intact.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import DOCUMENT_INPUT, app_page, chromium
from tests.pdf_factory import make_pdf
from tests.streamlit_server import StreamlitServer, run_streamlit

pytestmark = [pytest.mark.browser, pytest.mark.local_model]

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NO_PROVIDER = dict.fromkeys(
    ("ANALYZER_BASE_URL", "ANALYZER_MODEL", "ANALYZER_API_KEY", "ANALYZER_INPUT_DIR")
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    with run_streamlit(tmp_path_factory.mktemp("local-app"), NO_PROVIDER) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, server: StreamlitServer) -> Iterator[Page]:
    with app_page(browser) as tab:
        yield tab


def test_no_key_local_model_analyses_uploaded_pdfs_live_and_the_csv_keeps_japanese(
    page: Page, server: StreamlitServer
) -> None:
    page.goto(server.url)
    page.wait_for_selector(IDLE, timeout=60_000)
    expect(page.get_by_text("Local model (CPU, no key)")).to_be_visible()
    files = [
        {
            "name": "請求書-さくら.pdf",
            "mimeType": "application/pdf",
            "buffer": make_pdf(
                ["請求書\n株式会社さくら商事\n請求番号: INV-2024-031\n合計金額: 1,250,000円"],
                japanese=True,
            ),
        },
        {
            "name": "invoice-acme.pdf",
            "mimeType": "application/pdf",
            "buffer": make_pdf(["INVOICE\nACME Corp\nInvoice number: A-17\nTotal: 1,200.00 USD"]),
        },
    ]
    page.locator(DOCUMENT_INPUT).set_input_files(files)
    expect(page.get_by_text("2 documents selected")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Analyze$")).click()

    expect(page.get_by_test_id("stProgress")).to_contain_text("documents", timeout=60_000)
    expect(page.get_by_text("100 % · 2/2 documents")).to_be_visible(timeout=240_000)
    expect(page.get_by_text("Completed").first).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0

    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"CSV \(Excel\)")).click()
    raw = Path(download_info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM: Excel shows the Japanese right"
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["document"] for r in rows] == ["請求書-さくら.pdf", "invoice-acme.pdf"]
    assert all(r["status"] == "ok" for r in rows), rows
    assert all(int(r["output_tokens"]) > 0 for r in rows), "the local model really answered"
    log = server.log()
    assert "Traceback" not in log
