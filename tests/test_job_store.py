"""The SQLite job store on its own: round-trips, the event log, rows, flags, claims, processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from analyzer.documents import Source
from analyzer.events import EventFactory
from analyzer.jobs import JobNotFound, JobStore
from analyzer.jobs.liveness import STALE_SECONDS
from analyzer.schema import PRESETS

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-store-SECRET-0042"


def new_job(store: JobStore, names: tuple[str, ...] = ("a.txt", "b.txt", "c.txt")) -> str:
    return store.create_job(
        schema=PRESETS["invoice"].to_dict(),
        settings={"base_url": "http://127.0.0.1:9/v1", "model": "m"},
        concurrency=2,
        documents=[(name, f"text of {name}".encode()) for name in names],
    )


def row_for(name: str, status: str = "ok") -> dict[str, Any]:
    return {"document": name, "status": status, "error": "" if status == "ok" else "Broken."}


def document_event(factory: EventFactory, index: int, name: str, status: str = "ok") -> Any:
    row = row_for(name, status)
    return factory.make(
        "document", index=index, document=name, status=status, error=row["error"], row=row
    )


def test_a_job_round_trips_with_its_documents_and_settings(
    tmp_path: Path, isolated_environment: Path
) -> None:
    on_disk = tmp_path / "scan.pdf"
    on_disk.write_bytes(b"%PDF-1.4 bytes from a file")
    store = JobStore()
    assert store.data_dir == isolated_environment, "ANALYZER_DATA_DIR is read when the store opens"
    job_id = store.create_job(
        schema=PRESETS["invoice"].to_dict(),
        settings={
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "api_key": SECRET,
            "auth_token": SECRET,
            "max_tokens": 300,
            "tokens_per_minute": 9000,
        },
        concurrency=3,
        documents=[
            Source(name="scan.pdf", path=on_disk),
            Source(name="zip/member.txt", data="日本語のテキスト".encode()),
        ],
        title="March invoices",
    )
    on_disk.unlink()  # the job keeps its own copy: it can resume even if the original moves

    job = JobStore().get_job(job_id)  # a second instance (another process) sees the same job
    assert job is not None
    assert (job.title, job.status, job.total, job.done, job.concurrency) == (
        "March invoices",
        "queued",
        2,
        0,
        3,
    )
    assert job.schema == PRESETS["invoice"].to_dict()
    assert job.settings == {
        "base_url": "http://127.0.0.1:9/v1",
        "model": "m",
        "max_tokens": 300,
        "tokens_per_minute": 9000,
    }
    assert job.snapshot == {} and job.error == ""
    docs = store.documents(job_id)
    assert [(d.index, d.name, d.size, d.status) for d in docs] == [
        (0, "scan.pdf", 26, "pending"),
        (1, "zip/member.txt", len("日本語のテキスト".encode()), "pending"),
    ]
    sources = store.sources(job_id)
    assert [(i, s.name, s.read_bytes()) for i, s in sources] == [
        (0, "scan.pdf", b"%PDF-1.4 bytes from a file"),
        (1, "zip/member.txt", "日本語のテキスト".encode()),
    ]
    for path in isolated_environment.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the key reached {path}"


def test_hostile_names_never_become_paths(isolated_environment: Path) -> None:
    store = JobStore()
    names = ("../../escape.txt", "/etc/passwd", "a.\x00pdf", "evil.p/../../x", "a\\..\\b.TXT")
    job_id = new_job(store, names)
    uploads = (isolated_environment / "uploads" / job_id).resolve()
    stored = store.sources(job_id)
    assert [source.name for _, source in stored] == list(names), "names are kept as data"
    for _, source in stored:
        assert source.path is not None and source.path.resolve().parent == uploads
    assert not (isolated_environment.parent / "escape.txt").exists()


def test_the_event_log_is_append_only_with_strictly_increasing_ids() -> None:
    store = JobStore()
    job_id = new_job(store)
    factory = EventFactory(job_id)
    for n in range(10):
        store.append_event(job_id, factory.make("log", level="info", message=f"m{n}", document=""))
    assert [e["id"] for e in store.events(job_id)] == list(range(1, 11))
    assert [e["data"]["message"] for e in store.events(job_id, after_id=7)] == ["m7", "m8", "m9"]
    assert [e["id"] for e in store.events(job_id, after_id=2, limit=3)] == [3, 4, 5]
    assert store.events(job_id, after_id=10) == []
    assert store.last_event_id(job_id) == 10

    with pytest.raises(sqlite3.IntegrityError):  # an id is never written twice
        store.append_event(job_id, {"id": 4, "event": "log", "data": {"message": "again"}})
    assert store.events(job_id, after_id=3, limit=1)[0]["data"]["message"] == "m3"
    assert store.last_event_id(new_job(store)) == 0, "each job has its own sequence"


def test_rows_come_back_in_document_order_and_drive_the_counts() -> None:
    store = JobStore()
    job_id = new_job(store)
    factory = EventFactory(job_id)
    # Documents finish in any order when several run at once.
    store.append_event(job_id, document_event(factory, 2, "c.txt"))
    store.append_event(job_id, document_event(factory, 0, "a.txt", status="failed"))
    assert [source.name for _, source in store.sources(job_id, pending_only=True)] == ["b.txt"]
    store.append_event(job_id, document_event(factory, 1, "b.txt"))

    assert [row["document"] for row in store.rows(job_id)] == ["a.txt", "b.txt", "c.txt"]
    assert [d.status for d in store.documents(job_id)] == ["failed", "ok", "ok"]
    job = store.get_job(job_id)
    assert job is not None and (job.done, job.failed) == (3, 1)
    assert store.sources(job_id, pending_only=True) == []

    assert store.reset_failed(job_id) == 1
    assert [row["document"] for row in store.rows(job_id)] == ["b.txt", "c.txt"]
    assert [source.name for _, source in store.sources(job_id, pending_only=True)] == ["a.txt"]


def test_the_snapshot_and_status_follow_the_events() -> None:
    store = JobStore()
    job_id = new_job(store)
    factory = EventFactory(job_id)
    store.append_event(
        job_id,
        factory.make("progress", status="running", current=1, total=3, elapsed_seconds=4.5),
    )
    store.append_event(
        job_id, factory.make("tokens", tokens_processed=120, partial_output='{"ven', document="b")
    )
    snapshot = store.get_job(job_id).snapshot  # type: ignore[union-attr]
    assert snapshot["current"] == 1 and snapshot["elapsed_seconds"] == 4.5
    assert snapshot["tokens_processed"] == 120 and snapshot["partial_output"] == '{"ven'
    assert "task_id" not in snapshot

    finals = {"complete": "completed", "cancelled": "cancelled", "error": "failed"}
    for event_name, status in finals.items():
        other = new_job(store)
        data = {"message": "The key was refused (401)."} if event_name == "error" else {}
        store.append_event(other, EventFactory(other).make(event_name, **data))
        job = store.get_job(other)
        assert job is not None and job.status == status
        assert job.snapshot["final_event"] == event_name
        assert job.error == data.get("message", "")


def test_a_cancel_requested_in_one_store_is_seen_by_another() -> None:
    job_id = new_job(JobStore())
    watcher = JobStore()
    assert not watcher.cancel_requested(job_id)
    JobStore().request_cancel(job_id)
    assert watcher.cancel_requested(job_id)
    with pytest.raises(JobNotFound):
        watcher.request_cancel("no-such-job")


def test_deleting_a_job_removes_everything_it_stored(isolated_environment: Path) -> None:
    store = JobStore()
    job_id, kept = new_job(store), new_job(store)
    factory = EventFactory(job_id)
    store.append_event(job_id, document_event(factory, 0, "a.txt"))
    store.delete_job(job_id)
    assert store.get_job(job_id) is None
    assert store.events(job_id) == [] and store.rows(job_id) == []
    assert store.documents(job_id) == []
    assert not (isolated_environment / "uploads" / job_id).exists()
    assert [job.id for job in store.list_jobs()] == [kept]
    with pytest.raises(JobNotFound):  # a runner still going must not leave orphan events
        store.append_event(job_id, factory.make("log", level="info", message="x", document=""))


def test_only_one_live_runner_can_hold_a_job() -> None:
    store = JobStore()
    job_id = new_job(store)
    assert store.claim(job_id, "runner-a", status="queued")
    assert not store.claim(job_id, "runner-b"), "a live owner with a fresh heartbeat keeps it"
    assert not store.interrupt_if_orphaned(job_id)
    assert store.claim(job_id, "runner-a"), "the owner itself may move on to running"
    assert store.get_job(job_id).status == "running"  # type: ignore[union-attr]

    # The owner stops beating (frozen or killed): after STALE_SECONDS the job is up for grabs.
    with sqlite3.connect(store.db_path) as db:
        db.execute(
            "UPDATE jobs SET heartbeat_at = ? WHERE id = ?",
            (time.time() - STALE_SECONDS - 1, job_id),
        )
    assert store.get_job(job_id).is_orphaned  # type: ignore[union-attr]
    assert store.interrupt_if_orphaned(job_id)
    assert store.get_job(job_id).status == "interrupted"  # type: ignore[union-attr]
    assert store.claim(job_id, "runner-b", status="queued")


def test_a_job_whose_owner_process_died_is_orphaned_at_once() -> None:
    store = JobStore()
    job_id = new_job(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    assert store.claim(job_id, "runner-a", status="running")
    with sqlite3.connect(store.db_path) as db:  # as if that process had claimed it
        db.execute("UPDATE jobs SET owner_pid = ? WHERE id = ?", (dead.pid, job_id))
    job = store.get_job(job_id)
    assert job is not None and job.owner_pid == dead.pid and job.is_orphaned
    assert store.claim(job_id, "runner-b"), "a fresh heartbeat from a dead pid counts for nothing"
    assert store.get_job(job_id).owner_pid == os.getpid()  # type: ignore[union-attr]


CREATE_JOBS = """
import sys
from analyzer.jobs import JobStore
for n in range(int(sys.argv[1])):
    store = JobStore()
    job_id = store.create_job(schema={"fields": []}, settings={}, concurrency=1,
                              documents=[("x.txt", b"x")], title=sys.argv[2])
    for i in range(1, 6):
        store.append_event(job_id, {"id": i, "event": "log", "data": {"message": str(i)}})
"""


def test_several_processes_share_one_fresh_data_dir(isolated_environment: Path) -> None:
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_JOBS, "15", f"writer-{n}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 0, errors
    store = JobStore()
    jobs = store.list_jobs()
    assert len(jobs) == 45
    assert sorted({job.title for job in jobs}) == ["writer-0", "writer-1", "writer-2"]
    assert all(store.last_event_id(job.id) == 5 for job in jobs)
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
