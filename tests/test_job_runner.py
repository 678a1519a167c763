"""The background runner, with the real pipeline, the real engine and the loopback provider."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzer.engines.base import Engine
from analyzer.jobs import JobStore, Runner
from analyzer.jobs import runner as runner_module
from analyzer.jobs.runner import default_engine_factory
from analyzer.schema import PRESETS
from tests.fake_provider import FakeProvider

SECRET = "sk-runner-SECRET-7731"


def answer(body: dict[str, Any]) -> str:
    """The invoice number written in the document, so every row can be checked."""
    number = re.search(r"INV-\d+", body["messages"][-1]["content"])
    return json.dumps({"invoice_number": number.group() if number else None, "vendor": "ACME"})


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(reply=answer, api_key=SECRET, ttft=0.05) as fp:
        yield fp


def make_job(
    store: JobStore, provider: FakeProvider, count: int = 3, concurrency: int = 2, tag: str = "d"
) -> str:
    return store.create_job(
        schema=PRESETS["invoice"].to_dict(),
        settings={"base_url": provider.base_url, "model": "fake-model", "max_tokens": 200},
        concurrency=concurrency,
        documents=[
            (f"{tag}{n}.txt", f"Invoice number: INV-{n:02d}\n".encode()) for n in range(count)
        ],
    )


def document_of(request: Any) -> str:
    match = re.search(r"Document: (\S+)", request.body["messages"][-1]["content"])
    assert match, "every request names its document"
    return match.group(1)


@pytest.fixture
def runners() -> Iterator[list[Runner]]:
    """Runners made by a test; all are shut down after it, even when it fails."""
    made: list[Runner] = []
    yield made
    for runner in made:
        runner.shutdown()


def test_a_job_writes_every_event_to_the_store_as_it_runs(
    provider: FakeProvider, isolated_environment: Path, runners: list[Runner]
) -> None:
    provider.ttft = 0.4
    store = JobStore()
    job_id = make_job(store, provider, count=4)
    runner = Runner(store, api_key=SECRET)
    runners.append(runner)
    runner.submit(job_id)

    assert provider.wait_for_in_flight(1, timeout=10)
    live = JobStore().get_job(job_id)  # what a page in another process would see meanwhile
    assert live is not None and live.status == "running"
    # Workers start before the first event is stored: give the store a moment to catch up.
    deadline = time.monotonic() + 5
    while len(JobStore().events(job_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [e["event"] for e in JobStore().events(job_id)][:2] == ["progress", "log"]
    assert JobStore().get_job(job_id).status == "running", "events are stored while it runs"

    job = runner.wait(job_id, timeout=30)
    assert job.status == "completed" and (job.done, job.failed) == (4, 0)
    rows = store.rows(job_id)
    assert [row["invoice_number"] for row in rows] == ["INV-00", "INV-01", "INV-02", "INV-03"]
    events = store.events(job_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "complete" and events[-1]["data"]["total_documents"] == 4
    assert job.snapshot["progress_percent"] == 100.0 and job.snapshot["current"] == 4
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in provider.chat_requests)
    assert all(r.body["max_tokens"] == 200 for r in provider.chat_requests)
    for path in isolated_environment.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the key reached {path}"


def test_the_engine_factory_gets_the_key_in_memory_only(
    provider: FakeProvider, runners: list[Runner]
) -> None:
    seen: list[dict[str, Any]] = []

    def factory(settings: dict[str, Any]) -> Engine:
        seen.append(dict(settings))
        return default_engine_factory(settings)

    store = JobStore()
    job_id = make_job(store, provider, count=1)
    runner = Runner(store, factory, api_key="sk-runner-default")
    runners.append(runner)
    runner.submit(job_id, api_key=SECRET)  # the key given with the job wins
    assert runner.wait(job_id, timeout=30).status == "completed"
    assert seen == [
        {
            "base_url": provider.base_url,
            "model": "fake-model",
            "max_tokens": 200,
            "api_key": SECRET,
        }
    ]
    assert "api_key" not in store.get_job(job_id).settings  # type: ignore[union-attr]


def test_the_key_can_come_from_the_environment(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, runners: list[Runner]
) -> None:
    monkeypatch.setenv("ANALYZER_API_KEY", SECRET)
    store = JobStore()
    job_id = make_job(store, provider, count=1)
    runner = Runner(store)
    runners.append(runner)
    runner.submit(job_id)
    assert runner.wait(job_id, timeout=30).status == "completed"


def test_a_cancel_from_another_store_stops_the_job_and_resume_finishes_it(
    provider: FakeProvider, runners: list[Runner]
) -> None:
    provider.ttft = 1.5
    store = JobStore()
    job_id = make_job(store, provider, count=5, concurrency=1)
    runner = Runner(store, api_key=SECRET)
    runners.append(runner)
    runner.submit(job_id)
    assert provider.wait_for_in_flight(1, timeout=10)

    started = time.monotonic()
    JobStore().request_cancel(job_id)  # what the API or the app, in another process, does
    job = runner.wait(job_id, timeout=10)
    assert time.monotonic() - started < 3, "the store flag is polled twice a second"
    assert job.status == "cancelled"
    events = store.events(job_id)
    assert events[-1]["event"] == "cancelled"
    assert job.done < 5 and store.sources(job_id, pending_only=True)

    provider.ttft = 0.0
    last_id = store.last_event_id(job_id)
    runner.resume(job_id)
    job = runner.wait(job_id, timeout=30)
    assert job.status == "completed" and job.done == 5
    assert not store.cancel_requested(job_id), "the old cancel does not stop the new run"
    resumed = store.events(job_id, after_id=last_id)
    assert resumed[0]["id"] == last_id + 1
    assert resumed[-1]["data"]["total_documents"] == 5
    names = [document_of(r) for r in provider.chat_requests]
    assert sorted(set(names)) == [f"d{n}.txt" for n in range(5)]


def test_jobs_share_one_cap_on_requests_in_flight(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, runners: list[Runner]
) -> None:
    monkeypatch.setenv("ANALYZER_MAX_INFLIGHT", "3")
    provider.ttft = 0.3
    store = JobStore()
    jobs = [make_job(store, provider, count=6, concurrency=4, tag=tag) for tag in ("a", "b")]
    runner = Runner(store, api_key=SECRET, max_jobs=2)
    runners.append(runner)
    for job_id in jobs:
        runner.submit(job_id)
    for job_id in jobs:
        assert runner.wait(job_id, timeout=60).status == "completed"
    # Each job alone could send 4 at once; together they would send 8 without the shared cap.
    assert provider.peak_in_flight == 3
    assert len(provider.chat_requests) == 12


def test_a_job_that_cannot_start_fails_with_a_clear_error(
    provider: FakeProvider, runners: list[Runner]
) -> None:
    def broken_factory(settings: dict[str, Any]) -> Engine:
        raise RuntimeError(f"could not reach the GPU with key {settings['api_key']}")

    store = JobStore()
    job_id = make_job(store, provider, count=2)
    runner = Runner(store, broken_factory, api_key=SECRET)
    runners.append(runner)
    runner.submit(job_id)
    job = runner.wait(job_id, timeout=10)
    assert job.status == "failed"
    assert "RuntimeError" in job.error and "could not reach the GPU" in job.error
    assert SECRET not in job.error, "an exception's text is scrubbed of the key"
    final = store.events(job_id)[-1]
    assert final["event"] == "error" and final["data"]["message"] == job.error
    assert len(store.sources(job_id, pending_only=True)) == 2, "nothing is lost: resumable"


def test_a_refused_key_fails_the_job_and_resume_with_the_right_key_retries(
    provider: FakeProvider, runners: list[Runner]
) -> None:
    store = JobStore()
    job_id = make_job(store, provider, count=3, concurrency=1)
    runner = Runner(store, api_key="sk-wrong")
    runners.append(runner)
    runner.submit(job_id)
    job = runner.wait(job_id, timeout=30)
    assert job.status == "failed" and "401" in job.error
    assert "sk-wrong" not in json.dumps(store.events(job_id))

    runner.resume(job_id, api_key=SECRET)
    job = runner.wait(job_id, timeout=30)
    assert job.status == "completed" and (job.done, job.failed) == (3, 0)
    assert [row["invoice_number"] for row in store.rows(job_id)] == ["INV-00", "INV-01", "INV-02"]


def test_a_second_runner_never_runs_a_job_a_live_runner_holds(
    provider: FakeProvider, runners: list[Runner]
) -> None:
    provider.ttft = 0.3
    store = JobStore()
    first, waiting = (
        make_job(store, provider, count=3, concurrency=1, tag="f"),
        make_job(store, provider, count=2, concurrency=1, tag="w"),
    )
    owner = Runner(store, api_key=SECRET, max_jobs=1)  # `waiting` stays queued behind `first`
    other = Runner(JobStore(), api_key=SECRET)  # stands in for the API in another process
    runners.extend([owner, other])
    owner.submit(first)
    owner.submit(waiting)
    assert provider.wait_for_in_flight(1, timeout=10)

    assert other.recover_interrupted() == [], "a live runner's jobs are not interrupted"
    other.submit(first)
    other.resume(waiting)
    for job_id in (first, waiting):
        assert owner.wait(job_id, timeout=30).status == "completed"
    names = [document_of(r) for r in provider.chat_requests]
    assert sorted(names) == ["f0.txt", "f1.txt", "f2.txt", "w0.txt", "w1.txt"], "each once"


def test_shutdown_leaves_jobs_interrupted_and_a_new_runner_finishes_them(
    provider: FakeProvider, runners: list[Runner]
) -> None:
    provider.ttft = 0.5
    store = JobStore()
    running, queued = (
        make_job(store, provider, count=4, concurrency=1, tag="r"),
        make_job(store, provider, count=2, concurrency=1, tag="q"),
    )
    runner = Runner(store, api_key=SECRET, max_jobs=1)
    runner.submit(running)
    runner.submit(queued)
    assert provider.wait_for_in_flight(1, timeout=10)
    runner.shutdown()
    for job_id in (running, queued):
        job = store.get_job(job_id)
        assert job is not None and job.status == "interrupted", "a restart is not a cancel"
        assert "cancelled" not in [e["event"] for e in store.events(job_id)]

    provider.ttft = 0.0
    fresh = Runner(store, api_key=SECRET)
    runners.append(fresh)
    for job_id in (running, queued):
        fresh.resume(job_id)
    for job_id in (running, queued):
        job = fresh.wait(job_id, timeout=30)
        assert job.status == "completed"
        ids = [e["id"] for e in store.events(job_id)]
        assert ids == list(range(1, len(ids) + 1))
    assert len(store.rows(running)) == 4 and len(store.rows(queued)) == 2


def test_cancelling_an_interrupted_job_needs_no_runner_behind_it(
    provider: FakeProvider, runners: list[Runner]
) -> None:
    store = JobStore()
    job_id = make_job(store, provider)
    store.set_status(job_id, "interrupted")
    runner = Runner(store)
    runners.append(runner)
    runner.cancel(job_id)
    job = store.get_job(job_id)
    assert job is not None and job.status == "cancelled"
    assert store.events(job_id)[-1]["event"] == "cancelled"
    assert provider.chat_requests == []


def test_get_runner_is_one_per_process_and_recovers_orphans_on_creation(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JobStore()
    orphan = make_job(store, provider)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    assert store.claim(orphan, "a-runner-that-died", status="running")
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE jobs SET owner_pid = ? WHERE id = ?", (dead.pid, orphan))

    monkeypatch.setattr(runner_module, "_runner", None)
    runner = runner_module.get_runner()
    try:
        assert runner_module.get_runner() is runner
        assert store.get_job(orphan).status == "interrupted"  # type: ignore[union-attr]
    finally:
        runner.shutdown()
