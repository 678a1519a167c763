"""A process killed mid-job (real subprocess, SIGKILL) loses nothing; resume finishes the job."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from analyzer.jobs import JobStore, Runner
from tests.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = 6


def answer(body: dict[str, Any]) -> str:
    number = re.search(r"INV-\d+", body["messages"][-1]["content"])
    return json.dumps({"invoice_number": number.group() if number else None})


def requested_documents(provider: FakeProvider, after: float = 0.0) -> list[str]:
    names = []
    for request in provider.chat_requests:
        if request.received_at >= after:
            match = re.search(r"Document: (doc-\d+\.txt)", request.body["messages"][-1]["content"])
            assert match
            names.append(match.group(1))
    return names


def test_a_killed_job_resumes_without_redoing_stored_documents(tmp_path: Path) -> None:
    with FakeProvider(reply=answer, ttft=0.4) as provider:
        victim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.helpers.run_job_process",
                provider.base_url,
                str(DOCUMENTS),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            job_id = victim.stdout.readline().strip()
            store = JobStore()
            deadline = time.monotonic() + 60
            while len(store.rows(job_id)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(store.rows(job_id)) >= 2, "the victim stored some rows"
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        killed_at = time.monotonic()
        stored_before = {row["document"] for row in store.rows(job_id)}
        assert 2 <= len(stored_before) < DOCUMENTS
        assert store.get_job(job_id).status == "running", "the dead process could not say so"

        runner = Runner(store)
        try:
            assert runner.recover_interrupted() == [job_id]
            assert store.get_job(job_id).status == "interrupted"
            runner.resume(job_id)
            job = runner.wait(job_id, timeout=60)
        finally:
            runner.shutdown()

        assert job.status == "completed"
        rows = store.rows(job_id)
        assert [r["document"] for r in rows] == [f"doc-{n:02d}.txt" for n in range(DOCUMENTS)]
        assert all(r["status"] == "ok" for r in rows)
        assert [r["invoice_number"] for r in rows] == [f"INV-{n:02d}" for n in range(DOCUMENTS)]
        asked_again = requested_documents(provider, after=killed_at)
        assert not stored_before & set(asked_again), "no stored document is analysed twice"
        assert set(asked_again) == {f"doc-{n:02d}.txt" for n in range(DOCUMENTS)} - stored_before

    events = store.events(job_id)
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids)), "one log, strictly increasing ids, nothing repeated"
    documents = [e["data"]["document"] for e in events if e["event"] == "document"]
    assert sorted(documents) == [f"doc-{n:02d}.txt" for n in range(DOCUMENTS)]
    final = events[-1]
    assert final["event"] == "complete" and final["data"]["total_documents"] == DOCUMENTS
