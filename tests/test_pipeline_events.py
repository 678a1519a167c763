"""The generator against a real loopback provider: events, failures, concurrency, cancel."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from analyzer import events as ev
from analyzer.documents import Source
from analyzer.engines.base import CancelToken
from analyzer.engines.openai_compat import OpenAICompatibleEngine
from analyzer.pipeline import analyze
from analyzer.schema import PRESETS, Schema
from tests.fake_provider import (
    FakeProvider,
    rate_limited,
    unauthorized,
)

SECRET = "sk-test-SECRET-pipeline-123"
INVOICE = PRESETS["invoice"]

REQUIRED = {
    ev.PROGRESS: {
        "task_id",
        "status",
        "current",
        "total",
        "progress_percent",
        "current_document",
        "timestamp",
    },
    ev.TOKENS: {"task_id", "tokens_processed", "elapsed_seconds"},
    ev.COMPLETE: {
        "task_id",
        "status",
        "total_documents",
        "total_tokens",
        "total_time_seconds",
        "avg_latency_ms",
    },
    ev.ERROR: {"task_id", "error", "message"},
}


def invoice_answer(body: dict[str, Any]) -> str:
    """Answer like a good model: pull the invoice number out of the document text."""
    text = body["messages"][-1]["content"]
    number = text.split("Invoice number: ")[1].split()[0] if "Invoice number: " in text else None
    return json.dumps(
        {"vendor": "ACME Corp", "invoice_number": number, "total_amount": "¥1,250,000"}
    )


def text_doc(name: str, number: str, extra: str = "") -> Source:
    body = f"ACME Corp\nInvoice number: {number}\nTotal: ¥1,250,000\n{extra}"
    return Source(name=name, data=body.encode("utf-8"))


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(reply=invoice_answer, api_key=SECRET) as fp:
        yield fp


def engine_for(fp: FakeProvider, **kwargs: Any) -> OpenAICompatibleEngine:
    kwargs.setdefault("backoff_base", 0.01)
    return OpenAICompatibleEngine(fp.base_url, "fake-model", SECRET, **kwargs)


def run_all(*args: Any, **kwargs: Any) -> list[ev.Event]:
    return list(analyze(*args, **kwargs))


def by_name(events: list[ev.Event], name: str) -> list[ev.Event]:
    return [e for e in events if e["event"] == name]


def test_events_keep_the_original_sse_contract(provider: FakeProvider) -> None:
    sources = [text_doc(f"inv-{n}.txt", f"INV-{n:03d}") for n in range(5)]
    events = run_all(sources, INVOICE, engine_for(provider), concurrency=2, task_id="job42")

    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids strictly increasing"
    for event in events:
        assert event["data"]["task_id"] == "job42"
        missing = REQUIRED.get(event["event"], set()) - set(event["data"])
        assert not missing, f"{event['event']} lacks {missing}"
    assert events[-1]["event"] == ev.COMPLETE
    complete = events[-1]["data"]
    assert complete["status"] == "completed"
    assert complete["total_documents"] == 5 and complete["ok"] == 5
    assert complete["total_tokens"] > 0
    progress = by_name(events, ev.PROGRESS)
    assert progress[0]["data"]["current"] == 0
    assert progress[-1]["data"]["progress_percent"] == 100.0
    percents = [p["data"]["progress_percent"] for p in progress]
    assert percents == sorted(percents), "progress never goes backwards"
    assert by_name(events, ev.TOKENS), "live token counts are reported"


def test_rows_follow_the_schema_and_coerce_values(provider: FakeProvider) -> None:
    sources = [text_doc("a.txt", "INV-001"), text_doc("b.txt", "INV-002")]
    events = run_all(sources, INVOICE, engine_for(provider))
    rows = {e["data"]["document"]: e["data"]["row"] for e in by_name(events, ev.DOCUMENT)}
    assert rows["a.txt"]["invoice_number"] == "INV-001"
    assert rows["b.txt"]["invoice_number"] == "INV-002"
    row = rows["a.txt"]
    assert row["status"] == "ok" and row["error"] == ""
    assert row["total_amount"] == 1250000
    assert row["vendor"] == "ACME Corp"
    assert row["invoice_date"] is None, "a field the model left out stays empty"
    assert row["pages"] >= 1 and row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert list(row)[:4] == ["document", "status", "error", "pages"]


def test_a_bad_file_is_a_failed_row_and_the_batch_goes_on(provider: FakeProvider) -> None:
    sources = [
        text_doc("good-1.txt", "INV-1"),
        Source(name="broken.pdf", data=b"%PDF-1.7 this is not really a pdf"),
        Source(name="empty.txt", data=b""),
        text_doc("good-2.txt", "INV-2"),
    ]
    events = run_all(sources, INVOICE, engine_for(provider), concurrency=2)
    rows = {e["data"]["document"]: e["data"]["row"] for e in by_name(events, ev.DOCUMENT)}
    assert rows["good-1.txt"]["status"] == "ok" and rows["good-2.txt"]["status"] == "ok"
    for name in ("broken.pdf", "empty.txt"):
        assert rows[name]["status"] == "failed"
        assert rows[name]["error"] and "Traceback" not in rows[name]["error"]
    complete = events[-1]["data"]
    assert events[-1]["event"] == ev.COMPLETE and complete["failed"] == 2 and complete["ok"] == 2
    assert len(provider.chat_requests) == 2, "bad files never reach the provider"


def test_concurrency_really_overlaps_requests_and_respects_the_limit() -> None:
    with FakeProvider(reply=invoice_answer, ttft=0.3) as fp:
        sources = [text_doc(f"d{n}.txt", f"N{n}") for n in range(12)]
        run_all(sources, INVOICE, OpenAICompatibleEngine(fp.base_url, "fake-model"), concurrency=4)
        assert fp.peak_in_flight == 4


def test_a_shared_inflight_cap_limits_requests_across_runs() -> None:
    cap = threading.BoundedSemaphore(3)
    with FakeProvider(reply=invoice_answer, ttft=0.2) as fp:
        engine = OpenAICompatibleEngine(fp.base_url, "fake-model")
        batches = [[text_doc(f"{job}-{n}.txt", "X") for n in range(6)] for job in "ab"]
        threads = [
            threading.Thread(
                target=run_all,
                args=(batch, INVOICE, engine),
                kwargs={"concurrency": 4, "inflight": cap},
            )
            for batch in batches
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert fp.peak_in_flight == 3


def test_closing_the_generator_cancels_in_flight_requests_within_a_second() -> None:
    with FakeProvider(reply=invoice_answer, ttft=30) as fp:
        engine = OpenAICompatibleEngine(fp.base_url, "fake-model")
        generator = analyze([text_doc(f"d{n}.txt", "X") for n in range(4)], INVOICE, engine)
        next(generator)
        assert fp.wait_for_in_flight(4, timeout=5)
        started = time.monotonic()
        generator.close()
        assert time.monotonic() - started < 1.5
        workers = [t for t in threading.enumerate() if t.name.startswith("docpulse-worker")]
        assert not workers, "every worker stopped: no request is left running"


def test_a_cancel_token_ends_the_run_with_a_cancelled_event() -> None:
    cancel = CancelToken()
    with FakeProvider(reply=invoice_answer, ttft=30) as fp:
        engine = OpenAICompatibleEngine(fp.base_url, "fake-model")
        sources = [text_doc(f"d{n}.txt", "X") for n in range(3)]
        threading.Timer(0.5, cancel.cancel).start()
        started = time.monotonic()
        events = run_all(sources, INVOICE, engine, cancel=cancel, task_id="c1")
        assert time.monotonic() - started < 3
    assert events[-1]["event"] == ev.CANCELLED
    assert events[-1]["data"]["current"] == 0 and events[-1]["data"]["total"] == 3


def test_rate_limits_are_retried_and_logged(provider: FakeProvider) -> None:
    provider.add_faults(rate_limited(retry_after=0), rate_limited(retry_after_ms=10))
    events = run_all([text_doc("a.txt", "INV-9")], INVOICE, engine_for(provider))
    rows = [e["data"]["row"] for e in by_name(events, ev.DOCUMENT)]
    assert rows[0]["status"] == "ok"
    logs = " ".join(e["data"]["message"] for e in by_name(events, ev.LOG))
    assert "429" in logs
    assert len(provider.chat_requests) == 3


def test_a_refused_key_stops_the_batch_with_an_error_event_and_rows_for_all() -> None:
    with FakeProvider(reply=invoice_answer) as fp:
        fp.add_faults(*[unauthorized()] * 10)
        sources = [text_doc(f"d{n}.txt", "X") for n in range(6)]
        engine = OpenAICompatibleEngine(fp.base_url, "fake-model", "sk-wrong-key-000")
        events = run_all(sources, INVOICE, engine, concurrency=1)
        assert len(fp.chat_requests) <= 2, "no point asking again with a refused key"
    assert events[-1]["event"] == ev.ERROR
    assert "401" in events[-1]["data"]["message"]
    rows = [e["data"]["row"] for e in by_name(events, ev.DOCUMENT)]
    assert len(rows) == 6 and all(r["status"] == "failed" for r in rows)
    assert "sk-wrong-key-000" not in json.dumps(events)


def test_a_resumed_run_continues_ids_and_counts(provider: FakeProvider) -> None:
    sources = [text_doc("c.txt", "INV-3")]
    events = run_all(
        sources,
        INVOICE,
        engine_for(provider),
        start_id=101,
        completed_before=2,
        total=3,
        tokens_before=500,
        ok_before=1,
        failed_before=1,
        cost_before=0.25,
    )
    assert events[0]["id"] == 101
    assert events[0]["data"]["current"] == 2 and events[0]["data"]["total"] == 3
    assert events[-1]["data"]["total_documents"] == 3
    assert events[-1]["data"]["total_tokens"] > 500
    assert (events[-1]["data"]["ok"], events[-1]["data"]["failed"]) == (2, 1)
    assert events[-1]["data"]["cost_usd"] >= 0.25


def test_long_documents_are_chunked_and_progress_shows_the_chunk(provider: FakeProvider) -> None:
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40
    long_text = "\n\n".join(f"Section {n}. {paragraph}" for n in range(30))
    source = text_doc("long.txt", "INV-LONG", extra=long_text)
    engine = engine_for(provider, context_tokens=2_000)
    events = run_all([source], INVOICE, engine)
    row = by_name(events, ev.DOCUMENT)[0]["data"]["row"]
    assert row["status"] == "ok"
    assert row["chunks"] > 1
    assert len(provider.chat_requests) == row["chunks"]
    assert row["invoice_number"] == "INV-LONG", "merged from the chunk that had it"
    labels = {e["data"]["chunk"] for e in by_name(events, ev.PROGRESS) if e["data"]["chunk"]}
    assert f"1/{row['chunks']}" in labels or any(
        label.endswith(f"/{row['chunks']}") for label in labels
    )


def test_the_api_key_never_appears_in_any_event(provider: FakeProvider) -> None:
    provider.add_faults(rate_limited(retry_after=0))
    sources = [text_doc("a.txt", "INV-1"), Source(name="x.pdf", data=b"junk")]
    events = run_all(sources, INVOICE, engine_for(provider))
    assert SECRET not in json.dumps(events, ensure_ascii=False)
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in provider.chat_requests)


def test_custom_schema_with_every_type(provider: FakeProvider) -> None:
    schema = Schema.from_dict(
        {
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "pages_count", "type": "integer"},
                {"name": "paid", "type": "boolean"},
                {"name": "kind", "type": "enum", "choices": ["invoice", "letter"]},
            ]
        }
    )
    provider.reply = (
        '```json\n{"title": "T", "pages_count": "3", "paid": "yes", "kind": "Letter"}\n```'
    )
    events = run_all([text_doc("a.txt", "1")], schema, engine_for(provider))
    row = by_name(events, ev.DOCUMENT)[0]["data"]["row"]
    assert row["status"] == "ok", row["error"]
    assert (row["title"], row["pages_count"], row["paid"], row["kind"]) == ("T", 3, True, "letter")
