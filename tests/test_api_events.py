"""The SSE stream: replay after Last-Event-ID, reconnects, many followers, keep-alives, the end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from analyzer.api.app import create_app
from analyzer.api.settings import ApiSettings
from analyzer.jobs.store import JobStore
from tests.api_server import ApiHarness, LiveServer, api_harness, read_events, text_documents


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    # Answers take ~1 s each, so a job runs for a few seconds: time to drop and reconnect.
    settings = ApiSettings(ping_seconds=0.3)
    with api_harness(monkeypatch, settings=settings, token_delay=0.08) as harness:
        yield harness


def assert_exactly_the_log(events: list[dict[str, Any]], api: ApiHarness, job_id: str) -> None:
    """Every stored event once, in order, with the stored name and data."""
    stored = api.store.events(job_id)
    assert [e["id"] for e in events] == [e["id"] for e in stored]
    assert [(e["event"], e["data"]) for e in events] == [(e["event"], e["data"]) for e in stored]


def test_a_client_that_drops_mid_job_and_reconnects_sees_every_event_once(
    api: ApiHarness,
) -> None:
    job_id = api.submit(text_documents(3), concurrency="1")
    seen = read_events(api.client, job_id, stop_after=3)  # then the client hangs up
    assert api.client.get(f"/api/jobs/{job_id}").json()["status"] == "running"
    second = read_events(api.client, job_id, last_event_id=seen[-1]["id"], stop_after=4)
    assert second[0]["id"] > seen[-1]["id"]
    seen += second
    # Third connection uses the query parameter, as a client that cannot set headers would.
    seen += read_events(api.client, job_id, params={"last_event_id": str(seen[-1]["id"])})
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids))  # in order, no duplicates
    assert seen[-1]["event"] == "complete"
    assert_exactly_the_log(seen, api, job_id)
    names = {e["event"] for e in seen}
    assert {"progress", "tokens", "document", "complete"} <= names


def test_two_followers_see_the_same_sequence(api: ApiHarness) -> None:
    job_id = api.submit(text_documents(2))
    results: dict[str, list[dict[str, Any]]] = {}

    def follower(name: str) -> None:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            results[name] = read_events(client, job_id)

    threads = [threading.Thread(target=follower, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results["a"] == results["b"]
    assert results["a"][-1]["event"] == "complete"
    assert_exactly_the_log(results["a"], api, job_id)


def test_stream_sends_retry_keepalives_and_sse_fields(api: ApiHarness) -> None:
    job_id = api.submit(text_documents(1))
    raw = api.client.get(f"/api/jobs/{job_id}/events").text
    assert raw.startswith(": events of job")
    assert "\nretry: 2000\n" in raw
    assert ": ping" in raw  # sse-starlette's keep-alive comment (every 0.3 s here)
    first = api.store.events(job_id)[0]
    assert f'id: {first["id"]}\nevent: {first["event"]}\ndata: {{"task_id":"{job_id}"' in raw
    assert raw.rstrip().splitlines()[-3].startswith("id: ")
    assert "event: complete" in raw.rstrip().splitlines()[-2]


def test_a_finished_job_with_nothing_newer_answers_204(api: ApiHarness) -> None:
    job_id = api.submit(text_documents(1))
    events = read_events(api.client, job_id)
    done = api.client.get(
        f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": str(events[-1]["id"])}
    )
    assert done.status_code == 204  # tells an EventSource to stop reconnecting
    # A later reader still gets the whole log, and one that saw part of it the rest.
    assert read_events(api.client, job_id) == events
    assert read_events(api.client, job_id, last_event_id=events[1]["id"]) == events[2:]


def test_a_bad_last_event_id_is_422(api: ApiHarness) -> None:
    job_id = api.submit(text_documents(1))
    response = api.client.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 422
    assert "Last-Event-ID must be a whole number" in response.json()["detail"]
    read_events(api.client, job_id)


def test_a_second_server_follows_a_job_another_process_runs(api: ApiHarness) -> None:
    """Events are polled from the store, so any server on the same data dir can stream them."""
    job_id = api.submit(text_documents(2))
    other_app = create_app(JobStore(), settings=ApiSettings())
    with LiveServer(other_app) as other, httpx.Client(base_url=other.url, timeout=30) as client:
        events = read_events(client, job_id)
    assert events[-1]["event"] == "complete"
    assert_exactly_the_log(events, api, job_id)


def test_a_failing_job_ends_its_stream_with_error(api: ApiHarness) -> None:
    job_id = api.submit(text_documents(2), model="no-such-model")
    events = read_events(api.client, job_id)
    assert events[-1]["event"] == "error"
    assert set(events[-1]["data"]) >= {"task_id", "error", "message"}
    assert "no-such-model" in events[-1]["data"]["message"]
