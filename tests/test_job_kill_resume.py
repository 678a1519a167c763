"""A process SIGKILLed mid-job loses nothing it finished; a new runner resumes only the rest.

The victim is a real `python -c` process running a real Runner against the loopback provider
(slow tokens, so the kill lands mid-job). Its key comes from its environment, as in production.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from analyzer.jobs import JobStore, Runner
from tests.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-kill-SECRET-5150"
DOCUMENTS = 8
NAMES = [f"doc-{n:02d}.txt" for n in range(DOCUMENTS)]

VICTIM = """
import sys
from analyzer.jobs import JobStore, Runner
from analyzer.schema import PRESETS

base_url, count = sys.argv[1], int(sys.argv[2])
store = JobStore()
job_id = store.create_job(
    schema=PRESETS["invoice"].to_dict(),
    settings={"base_url": base_url, "model": "fake-model"},
    concurrency=2,
    documents=[(f"doc-{n:02d}.txt", f"Invoice number: INV-{n:02d}".encode()) for n in range(count)],
)
print(job_id, flush=True)
runner = Runner(store)  # the key comes from ANALYZER_API_KEY
runner.submit(job_id)
runner.wait(job_id)
"""


def answer(body: dict[str, Any]) -> str:
    number = re.search(r"INV-\d+", body["messages"][-1]["content"])
    return json.dumps({"invoice_number": number.group() if number else None, "vendor": "ACME"})


def document_of(request: Any) -> str:
    match = re.search(r"Document: (doc-\d+\.txt)", request.body["messages"][-1]["content"])
    assert match, "every request names its document"
    return match.group(1)


def run_victim_until_rows(provider: FakeProvider, store: JobStore, rows: int) -> str:
    """Start the victim, SIGKILL it once `rows` rows are stored; return the job id."""
    victim = subprocess.Popen(
        [sys.executable, "-c", VICTIM, provider.base_url, str(DOCUMENTS)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ANALYZER_API_KEY": SECRET},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert victim.stdout is not None
        job_id = victim.stdout.readline().strip()
        assert job_id, "the victim created its job"
        deadline = time.monotonic() + 60
        while len(store.rows(job_id)) < rows and time.monotonic() < deadline:
            time.sleep(0.02)
        return job_id
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)


def test_a_killed_job_resumes_from_its_stored_rows(isolated_environment: Path) -> None:
    store = JobStore()
    with FakeProvider(reply=answer, api_key=SECRET, ttft=0.2, token_delay=0.05) as provider:
        job_id = run_victim_until_rows(provider, store, rows=2)
        requests_before_kill = len(provider.chat_requests)
        stored_before = {row["document"] for row in store.rows(job_id)}
        last_id_before = store.last_event_id(job_id)
        snapshot_before = store.get_job(job_id).snapshot  # type: ignore[union-attr]
        assert 2 <= len(stored_before) < DOCUMENTS, "killed mid-job"
        assert store.get_job(job_id).status == "running", "the dead process could not say so"  # type: ignore[union-attr]

        runner = Runner(JobStore(), api_key=SECRET)  # the restarted app
        try:
            assert runner.recover_interrupted() == [job_id]
            assert store.get_job(job_id).status == "interrupted"  # type: ignore[union-attr]
            runner.resume(job_id)
            job = runner.wait(job_id, timeout=60)
        finally:
            runner.shutdown()
        requests = [document_of(r) for r in provider.chat_requests]

    assert job.status == "completed" and (job.done, job.failed) == (DOCUMENTS, 0)
    rows = store.rows(job_id)
    assert [row["document"] for row in rows] == NAMES
    assert [row["invoice_number"] for row in rows] == [f"INV-{n:02d}" for n in range(DOCUMENTS)]

    # Nothing stored was analysed again; everything else exactly once after the restart.
    after_kill = Counter(requests[requests_before_kill:])
    assert not stored_before & set(after_kill), "a stored document was analysed twice"
    assert after_kill == Counter(set(NAMES) - stored_before)
    assert all(Counter(requests)[name] == 1 for name in stored_before)

    # One log: ids go on from where the victim stopped, none repeated, none skipped.
    events = store.events(job_id)
    ids = [event["id"] for event in events]
    assert ids == list(range(1, len(ids) + 1))
    resumed = store.events(job_id, after_id=last_id_before)
    assert resumed[0]["id"] == last_id_before + 1
    first_progress = next(e["data"] for e in resumed if e["event"] == "progress")
    assert first_progress["current"] == len(stored_before), "progress counts the rows kept"
    assert first_progress["total"] == DOCUMENTS
    assert first_progress["tokens_processed"] >= snapshot_before.get("tokens_processed", 0)
    assert first_progress["elapsed_seconds"] >= snapshot_before.get("elapsed_seconds", 0)
    finished = [e["data"]["document"] for e in events if e["event"] == "document"]
    assert sorted(finished) == NAMES, "one document event per document, over both runs"
    final = events[-1]
    assert final["event"] == "complete"
    assert (final["data"]["total_documents"], final["data"]["ok"]) == (DOCUMENTS, DOCUMENTS)

    for path in isolated_environment.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the key reached {path}"
