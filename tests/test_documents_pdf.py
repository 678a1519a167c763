"""PDFs an analyst drops in: text per page, Japanese, encryption, scans, broken files."""

from __future__ import annotations

import gc
import io
import threading
import time
from pathlib import Path

import pytest

from analyzer.documents import (
    PAGE_SEPARATOR,
    DocumentError,
    ExtractedDocument,
    Limits,
    Source,
    extract,
    iter_pages,
)
from analyzer.documents.sandbox import shared_pool
from tests import pdf_factory


def test_text_comes_out_page_by_page_from_bytes_and_from_a_path(tmp_path: Path) -> None:
    data = pdf_factory.make_pdf(["First page\nsecond line", "Second page"], tmp_path / "a.pdf")

    for source in (Source("a.pdf", data=data), Source("a.pdf", path=tmp_path / "a.pdf")):
        document = extract(source)
        assert document.name == "a.pdf"
        assert document.page_count == 2
        assert document.pages == ["First page\nsecond line", "Second page"]
        assert document.text == "First page\nsecond line" + PAGE_SEPARATOR + "Second page"


def test_japanese_text_is_extracted_exactly() -> None:
    lines = "請求書\n株式会社さくら商事 御中\n合計金額 ￥110,000（税込）\nお支払期限 2024年6月30日"
    document = extract(Source("請求書.pdf", data=pdf_factory.make_pdf([lines], japanese=True)))
    assert document.pages == [lines]


def test_text_in_an_embedded_truetype_font() -> None:
    text = "Rechnung Nr. 2024/0456 — Grüße aus München, Summe 2.380,00 €"
    document = extract(Source("rechnung.pdf", data=pdf_factory.make_pdf_with_embedded_font([text])))
    assert document.pages == [text]


def test_table_rows_stay_on_one_line() -> None:
    """Layout extraction: 'Total   2,988.75', not 'Total' and '2,988.75' on separate lines."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for y, label, amount in [(700, "Subtotal", "2,760.97"), (680, "Total", "2,988.75")]:
        pdf.drawString(300, y, label)  # each cell drawn on its own, as invoice tools do
        pdf.drawRightString(540, y, amount)
    pdf.showPage()
    pdf.save()
    document = extract(Source("t.pdf", data=buffer.getvalue()))
    assert document.pages[0].splitlines() == ["Subtotal   2,760.97", "Total   2,988.75"]


def test_pdf_encrypted_with_an_empty_user_password_opens() -> None:
    data = pdf_factory.make_pdf(["Statement of account", "Balance 1,024.00"], password="")
    document = extract(Source("statement.pdf", data=data))
    assert document.pages == ["Statement of account", "Balance 1,024.00"]


def test_pdf_that_needs_a_password_says_so() -> None:
    data = pdf_factory.make_pdf(["secret"], password="s3cret")
    with pytest.raises(DocumentError) as caught:
        extract(Source("locked.pdf", data=data))
    assert str(caught.value).startswith("locked.pdf is password-protected")


def test_scanned_pdf_is_reported_with_its_page_count() -> None:
    with pytest.raises(DocumentError) as caught:
        extract(Source("scan.pdf", data=pdf_factory.make_scanned_pdf(3)))
    assert caught.value.pages == 3
    assert "no extractable text on its 3 pages" in str(caught.value)
    assert "scan" in str(caught.value)


def test_a_pdf_with_some_text_is_not_a_scan() -> None:
    data = pdf_factory.make_pdf(["", "Only the second page has words", ""])
    document = extract(Source("mostly-blank.pdf", data=data))
    assert document.page_count == 3
    assert document.pages[1] == "Only the second page has words"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("truncated.pdf", pdf_factory.truncate(pdf_factory.make_pdf(["x" * 80] * 5), 0.4)),
        ("garbage.pdf", b"This is a plain letter, saved with the wrong name.\n" * 20),
        ("random.pdf", bytes(range(256)) * 40),
    ],
)
def test_damaged_or_fake_pdfs_get_one_clear_sentence(name: str, data: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        extract(Source(name, data=data))
    assert str(caught.value) == (
        f"{name} is not a valid PDF (the file is damaged or is not a PDF)."
    )
    assert caught.value.pages is None


def test_empty_file() -> None:
    with pytest.raises(DocumentError, match=r"^empty\.pdf is empty \(0 bytes\)\.$"):
        extract(Source("empty.pdf", data=b""))


def test_missing_file_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"^gone\.pdf could not be read \(.+\)\.$"):
        extract(Source("gone.pdf", path=tmp_path / "gone.pdf"))


def test_pdf_without_its_extension_is_still_read() -> None:
    document = extract(Source("scan_0001", data=pdf_factory.make_pdf(["no suffix"])))
    assert document.pages == ["no suffix"]


def test_iter_pages_yields_lazily_in_process() -> None:
    pages = iter_pages(Source("a.pdf", data=pdf_factory.make_pdf(["one", "two", "three"])))
    assert next(pages) == "one"
    assert list(pages) == ["two", "three"]


def test_memory_stays_flat_over_a_2000_page_pdf() -> None:
    """Resident memory after page 2,000 is about what it was after page 200: pypdf's object
    cache is bounded (without the bound it grows ~4 MB over these pages)."""
    source = Source("long.pdf", data=pdf_factory.make_long_pdf(2000, words_per_page=12))
    rss: dict[int, int] = {}
    for number, page in enumerate(iter_pages(source), start=1):
        assert page.startswith(f"Page {number} of 2000")
        if number in (200, 2000):
            gc.collect()
            rss[number] = _rss_bytes()
    assert rss[2000] - rss[200] < 2 * 2**20, rss


def test_the_whole_2000_page_pdf_comes_back_through_extract() -> None:
    document = extract(Source("long.pdf", data=pdf_factory.make_long_pdf(2000, 12)))
    assert document.page_count == 2000
    assert document.pages[1999].startswith("Page 2000 of 2000")


def test_extract_from_many_threads_at_once_keeps_documents_apart() -> None:
    sources = [
        Source(f"doc{i}.pdf", data=pdf_factory.make_pdf([f"Document {i} page {p}" for p in (1, 2)]))
        for i in range(12)
    ]
    results: dict[str, ExtractedDocument] = {}
    errors: list[BaseException] = []

    def work(source: Source) -> None:
        try:
            results[source.name] = extract(source)
        except BaseException as error:  # noqa: BLE001 - reported by the assert below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    for i in range(12):
        assert results[f"doc{i}.pdf"].pages == [f"Document {i} page 1", f"Document {i} page 2"]
    assert len(shared_pool().idle_pids) <= shared_pool().max_workers


def test_per_document_overhead_of_the_worker_process_is_small() -> None:
    """Workers are reused: after the first document, a small PDF costs milliseconds."""
    data = pdf_factory.make_pdf(["A one-page letter."])
    extract(Source("warm.pdf", data=data))
    started = time.perf_counter()
    for i in range(30):
        extract(Source(f"small{i}.pdf", data=data))
    per_document = (time.perf_counter() - started) / 30
    in_process = time.perf_counter()
    for i in range(30):
        extract(Source(f"small{i}.pdf", data=data), Limits(isolate=False))
    baseline = (time.perf_counter() - in_process) / 30
    print(f"isolated {per_document * 1000:.1f} ms/doc, in-process {baseline * 1000:.1f} ms/doc")
    assert per_document < baseline + 0.05


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
