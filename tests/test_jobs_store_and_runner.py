"""The job store and runner with the real pipeline and the loopback provider."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.jobs import JobStore, Runner
from analyzer.schema import PRESETS
from tests.fake_provider import FakeProvider

SECRET = "sk-test-SECRET-jobs-001"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(reply='{"vendor": "ACME"}', api_key=SECRET, ttft=0.05) as fp:
        yield fp


def make_job(store: JobStore, provider: FakeProvider, count: int = 3, concurrency: int = 2) -> str:
    return store.create_job(
        schema=PRESETS["invoice"].to_dict(),
        settings={"base_url": provider.base_url, "model": "fake-model", "api_key": SECRET},
        concurrency=concurrency,
        documents=[(f"d{n}.txt", f"ACME invoice {n}".encode()) for n in range(count)],
    )


def test_a_job_runs_in_the_background_and_everything_is_stored(
    provider: FakeProvider, isolated_environment: Path
) -> None:
    store = JobStore()
    job_id = make_job(store, provider)
    runner = Runner(store, api_key=SECRET)
    try:
        runner.submit(job_id)
        job = runner.wait(job_id, timeout=30)
    finally:
        runner.shutdown()
    assert job.status == "completed" and job.done == 3 and job.failed == 0
    assert [r["document"] for r in store.rows(job_id)] == ["d0.txt", "d1.txt", "d2.txt"]
    assert all(r["vendor"] == "ACME" for r in store.rows(job_id))
    events = store.events(job_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert store.events(job_id, after_id=3)[0]["id"] == 4
    assert job.snapshot["progress_percent"] == 100.0
    dumped = (isolated_environment / "jobs.sqlite3").read_bytes()
    assert SECRET.encode() not in dumped, "the key never reaches the disk"
    assert "api_key" not in job.settings


def test_a_cancel_from_another_process_stops_the_job(provider: FakeProvider) -> None:
    provider.ttft = 2.0
    store = JobStore()
    job_id = make_job(store, provider, count=6, concurrency=1)
    runner = Runner(store, api_key=SECRET)
    try:
        runner.submit(job_id)
        assert provider.wait_for_in_flight(1, timeout=10)
        started = time.monotonic()
        JobStore().request_cancel(job_id)  # what another process (the API, the app) does
        job = runner.wait(job_id, timeout=10)
        assert time.monotonic() - started < 3
    finally:
        runner.shutdown()
    assert job.status == "cancelled"
    assert store.events(job_id)[-1]["event"] == "cancelled"


def test_jobs_share_one_cap_on_requests_in_flight(provider: FakeProvider) -> None:
    provider.ttft = 0.3
    store = JobStore()
    jobs = [make_job(store, provider, count=6, concurrency=4) for _ in range(2)]
    runner = Runner(store, api_key=SECRET, max_jobs=2, max_inflight=3)
    try:
        for job_id in jobs:
            runner.submit(job_id)
        for job_id in jobs:
            assert runner.wait(job_id, timeout=30).status == "completed"
    finally:
        runner.shutdown()
    assert provider.peak_in_flight == 3


def test_a_provider_that_refuses_the_key_fails_the_job_clearly(provider: FakeProvider) -> None:
    store = JobStore()
    job_id = make_job(store, provider)
    runner = Runner(store, api_key="sk-wrong")
    try:
        runner.submit(job_id)
        job = runner.wait(job_id, timeout=30)
    finally:
        runner.shutdown()
    assert job.status == "failed"
    assert "401" in job.error
    assert "sk-wrong" not in json.dumps([e["data"] for e in store.events(job_id)])


def test_retry_failed_redoes_only_the_failed_documents(provider: FakeProvider) -> None:
    store = JobStore()
    job_id = store.create_job(
        schema=PRESETS["invoice"].to_dict(),
        settings={"base_url": provider.base_url, "model": "fake-model"},
        concurrency=2,
        documents=[("good.txt", b"ACME"), ("bad.pdf", b"not a pdf")],
    )
    runner = Runner(store, api_key=SECRET)
    try:
        runner.submit(job_id)
        first = runner.wait(job_id, timeout=30)
        assert first.failed == 1
        requests_before = len(provider.chat_requests)
        runner.resume(job_id, retry_failed=True)
        again = runner.wait(job_id, timeout=30)
    finally:
        runner.shutdown()
    assert again.status == "completed" and again.failed == 1
    assert len(provider.chat_requests) == requests_before, "the good document was not redone"


def test_many_threads_append_events_without_losing_any(provider: FakeProvider) -> None:
    store = JobStore()
    job_id = make_job(store, provider, count=1)
    ids = iter(range(1, 401))
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(100):
            with lock:
                event_id = next(ids)
            JobStore().append_event(
                job_id,
                {"id": event_id, "event": "log", "data": {"task_id": job_id, "message": "x"}},
            )

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e["id"] for e in store.events(job_id)] == list(range(1, 401))
    assert store.last_event_id(job_id) == 400
