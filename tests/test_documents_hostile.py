"""Hostile and absurd files: each costs one failed row within bounded time and memory."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from analyzer.documents import DocumentError, Limits, Source, extract
from analyzer.documents.sandbox import WorkerPool, shared_pool
from tests import pdf_factory


def _extract_error(source: Source, limits: Limits = Limits()) -> DocumentError:  # noqa: B008
    started = time.monotonic()
    with pytest.raises(DocumentError) as caught:
        extract(source, limits)
    assert time.monotonic() - started < limits.max_seconds + 5
    message = str(caught.value)
    assert message.startswith(source.name) and "\n" not in message and "Traceback" not in message
    return caught.value


def test_decompression_bomb_is_refused_without_inflating_it() -> None:
    """100 MB of page content packed into ~100 KB (pypdf is held to 50 MB per stream)."""
    error = _extract_error(Source("bomb.pdf", data=pdf_factory.make_bomb_pdf()))
    assert "safety limit" in str(error)
    assert error.pages == 1


def test_memory_bound_stops_a_document_that_needs_too_much() -> None:
    """45 MB of content passes pypdf's stream limits but not a 120 MB address-space bound."""
    limits = Limits(max_memory_bytes=120 * 2**20)
    data = pdf_factory.make_bomb_pdf(45 * 2**20)
    error = _extract_error(Source("greedy.pdf", data=data), limits)
    assert str(error) == (
        "greedy.pdf needs more than 120 MB of memory to read, the limit per document; "
        "the file may be damaged or hostile."
    )
    assert error.pages == 1
    # An ordinary document reads fine under the same bound, in a fresh worker.
    normal = Source("normal.pdf", data=pdf_factory.make_pdf(["ordinary"]))
    assert extract(normal, limits).pages == ["ordinary"]


def test_slow_document_is_stopped_at_the_time_limit_and_the_next_one_reads() -> None:
    data = pdf_factory.make_text_heavy_pdf(150_000)  # several seconds of text extraction
    before = set(shared_pool().idle_pids)
    started = time.monotonic()
    error = _extract_error(Source("slow.pdf", data=data), Limits(max_seconds=1.0))
    assert time.monotonic() - started < 6  # 1 s of work, a kill, maybe a worker start
    assert str(error).startswith("slow.pdf took longer than 1 s to read and was stopped")
    assert error.pages == 1  # the page count was known before the time ran out
    for pid in before - set(shared_pool().idle_pids):
        _assert_gone(pid)  # the worker that overran was killed, not left running
    assert extract(Source("next.pdf", data=pdf_factory.make_pdf(["fine"]))).pages == ["fine"]


def test_cyclic_page_tree_is_a_damaged_pdf() -> None:
    error = _extract_error(Source("loop.pdf", data=pdf_factory.make_cyclic_pages_pdf()))
    assert "is not a valid PDF" in str(error)


def test_huge_page_count_is_refused_with_the_count_known() -> None:
    data = pdf_factory.make_many_pages_pdf(20_000)  # 20,000 pages in ~120 KB
    error = _extract_error(Source("many.pdf", data=data))
    assert error.pages == 20_000
    assert str(error) == (
        "many.pdf has 20,000 pages, more than the limit of 5,000 pages per document: "
        "split it into smaller files."
    )


def test_page_tree_that_lies_about_its_count_is_read_for_what_it_holds() -> None:
    document = extract(Source("liar.pdf", data=pdf_factory.make_lying_count_pdf(10**9)))
    assert document.pages == ["one real page"]


def test_document_over_the_size_limit_is_not_read() -> None:
    limits = Limits(max_bytes=10_000)
    error = _extract_error(Source("big.txt", data=b"x" * 20_000), limits)
    assert str(error) == "big.txt is 20 KB, over the limit of 10 KB per document."


def test_text_over_the_character_limit_is_refused() -> None:
    data = pdf_factory.make_pdf([f"page {i} " + "word " * 100 for i in range(10)])
    error = _extract_error(Source("wordy.pdf", data=data), Limits(max_chars=2_000))
    assert "more than 2,000 characters" in str(error)
    assert error.pages == 10


def test_zip_bomb_dressed_as_a_word_document() -> None:
    data = pdf_factory.make_zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "word/document.xml": b"<" + b"a" * (160 * 2**20) + b">",
        }
    )
    assert len(data) < 1_000_000
    error = _extract_error(Source("bomb.docx", data=data))
    assert "unpacks to" in str(error) and "hostile" in str(error)


def test_a_worker_killed_from_outside_is_replaced() -> None:
    extract(Source("warm.pdf", data=pdf_factory.make_pdf(["warm"])))
    for pid in shared_pool().idle_pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    assert extract(Source("after.pdf", data=pdf_factory.make_pdf(["still works"]))).pages == [
        "still works"
    ]


def test_a_worker_that_dies_mid_document_costs_one_row() -> None:
    """As when the kernel's OOM killer picks it: that document fails, the batch goes on."""
    data = pdf_factory.make_text_heavy_pdf(150_000)
    caught: list[DocumentError] = []

    def read_slow_document() -> None:
        try:
            extract(Source("doomed.pdf", data=data), Limits(max_seconds=30))
        except DocumentError as error:
            caught.append(error)

    thread = threading.Thread(target=read_slow_document)
    thread.start()
    busy = _wait_for_busy_worker()
    time.sleep(0.3)  # well into the document
    os.kill(busy, signal.SIGKILL)
    thread.join(timeout=10)
    assert len(caught) == 1
    assert str(caught[0]).startswith("doomed.pdf stopped the document reader unexpectedly")
    assert caught[0].pages == 1
    assert extract(Source("next.pdf", data=pdf_factory.make_pdf(["next"]))).pages == ["next"]


def test_workers_do_not_inherit_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYZER_API_KEY", "sk-test-not-for-workers")
    monkeypatch.setenv("ANALYZER_DATA_DIR", "/tmp/visible")
    pool = WorkerPool(max_workers=1)
    try:
        with pool.worker() as worker:
            environ = Path(f"/proc/{worker.pid}/environ").read_bytes().split(b"\0")
    finally:
        pool.close()
    assert b"ANALYZER_DATA_DIR=/tmp/visible" in environ
    assert not any(b"sk-test-not-for-workers" in entry for entry in environ)


def test_limits_also_apply_when_reading_in_process() -> None:
    limits = Limits(isolate=False)
    error = _extract_error(Source("bomb.pdf", data=pdf_factory.make_bomb_pdf()), limits)
    assert "safety limit" in str(error)
    error = _extract_error(Source("many.pdf", data=pdf_factory.make_many_pages_pdf(6_000)), limits)
    assert error.pages == 6_000


def _worker_children() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and b"analyzer.documents.worker" in cmdline:
            found.add(int(entry.name))
    return found


def _wait_for_busy_worker() -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        busy = _worker_children() - set(shared_pool().idle_pids)
        if busy:
            return busy.pop()
        time.sleep(0.02)
    raise AssertionError("no worker picked up the document")


def _assert_gone(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    # Still in the process table only as a zombie would be a leak too: check its state.
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        assert stat.read().split()[2] == "Z", f"worker {pid} still running"
