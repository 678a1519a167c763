"""`python -m analyzer follow JOB_ID`: renders a job from the SSE stream, survives drops."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzer import follow as follow_module
from analyzer.follow import follow
from tests.api_server import ApiHarness, DroppingProxy, api_harness, text_documents

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "follow-test-token"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with api_harness(monkeypatch, token_delay=0.08) as harness:
        yield harness


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every event `follow` hands to its progress view, in order."""
    events: list[dict[str, Any]] = []
    original = follow_module._ProgressView.show

    def recording_show(self: Any, event: dict[str, Any]) -> None:
        events.append(event)
        original(self, event)

    monkeypatch.setattr(follow_module._ProgressView, "show", recording_show)
    return events


def test_follow_renders_a_job_to_completion(api: ApiHarness, shown: list[dict[str, Any]]) -> None:
    job_id = api.submit(text_documents(2))
    out = io.StringIO()
    assert follow(job_id, api.url, out=out) == 0
    text = out.getvalue()
    assert f"job {job_id}" in text  # the tqdm bar's description
    assert "2/2" in text and "100%" in text
    assert "complete: 2 ok, 0 failed" in text
    assert [e["id"] for e in shown] == [e["id"] for e in api.store.events(job_id)]


def test_follow_reconnects_after_drops_and_never_shows_an_event_twice(
    monkeypatch: pytest.MonkeyPatch, shown: list[dict[str, Any]]
) -> None:
    with api_harness(monkeypatch, token_delay=0.15) as api:  # a job of a few seconds
        _follow_through_two_drops(api, shown)


def _follow_through_two_drops(api: ApiHarness, shown: list[dict[str, Any]]) -> None:
    proxy = DroppingProxy(api.server.port)
    job_id = api.submit(text_documents(4), concurrency="1")
    out = io.StringIO()
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(follow(job_id, proxy.url, out=out, first_backoff=0.05))
    )
    runner.start()
    try:
        for drops in (1, 2):
            deadline = time.monotonic() + 20
            while len(shown) < 4 * drops:
                assert time.monotonic() < deadline, "follow shows no events"
                time.sleep(0.02)
            assert api.store.get_job(job_id).status == "running"  # a drop mid-job
            assert proxy.drop_all() > 0
        runner.join(60)
    finally:
        proxy.close()
    assert result == [0]
    assert proxy.connections >= 3  # the first GET/stream and two reconnections
    assert out.getvalue().count("connection lost; reconnecting") == 2
    ids = [e["id"] for e in shown]
    assert ids == [e["id"] for e in api.store.events(job_id)]  # all of them, each once


def test_follow_gives_up_when_the_stream_keeps_dropping(
    api: ApiHarness, shown: list[dict[str, Any]]
) -> None:
    proxy = DroppingProxy(api.server.port)
    job_id = api.submit(text_documents(3), concurrency="1")
    out = io.StringIO()
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(
            follow(job_id, proxy.url, out=out, max_reconnects=2, first_backoff=0.05)
        )
    )
    runner.start()
    deadline = time.monotonic() + 20
    while not shown:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proxy.close()  # drops the stream and refuses every reconnection
    runner.join(30)
    assert result == [2]
    assert "could not reconnect after 2 tries" in out.getvalue()


def test_follow_exit_codes(api: ApiHarness) -> None:
    out = io.StringIO()
    assert follow("no-such-job", api.url, out=out) == 2
    assert "no job with id 'no-such-job'" in out.getvalue()

    failed_doc = api.submit([*text_documents(1), ("broken.pdf", b"%PDF-1.4 not really")])
    out = io.StringIO()
    assert follow(failed_doc, api.url, out=out) == 1
    assert out.getvalue().count("failed: broken.pdf") == 1

    error_job = api.submit(text_documents(1), model="no-such-model")
    out = io.StringIO()
    assert follow(error_job, api.url, out=out) == 2
    assert "error:" in out.getvalue() and "no-such-model" in out.getvalue()


def test_follow_a_cancelled_job_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with api_harness(monkeypatch, token_delay=0.3) as api:
        job_id = api.submit(text_documents(3), concurrency="1")
        api.wait_for_events(job_id, 3)
        api.client.post(f"/api/jobs/{job_id}/cancel")
        out = io.StringIO()
        assert follow(job_id, api.url, out=out) == 1
        assert "cancelled after" in out.getvalue()


def test_follow_cannot_reach_a_server() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    out = io.StringIO()
    assert follow("abc", url, out=out) == 2
    assert f"cannot reach the API at {url}" in out.getvalue()


def test_cli_follow_with_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command as a user types it, against a token-guarded server."""
    with api_harness(monkeypatch, token=TOKEN) as api:
        job_id = api.submit(text_documents(1))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ANALYZER_API_TOKEN": TOKEN}
        done = subprocess.run(
            [sys.executable, "-m", "analyzer", "follow", job_id, "--url", api.url],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "complete: 1 ok, 0 failed" in done.stderr
        assert TOKEN not in done.stderr + done.stdout
        env["ANALYZER_API_TOKEN"] = "wrong"
        refused = subprocess.run(
            [sys.executable, "-m", "analyzer", "follow", job_id, "--url", api.url],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert refused.returncode == 2
        assert "the API wants a token" in refused.stderr
