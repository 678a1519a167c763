"""What the AppTest tests share: seeding jobs into a real JobStore, and runners to inject.

AppTest runs the script in this process and never waits for background threads, so the submit
path gets a runner that finishes the job before returning (a real Runner, then `wait`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from analyzer.events import EventFactory
from analyzer.jobs.runner import Runner
from analyzer.jobs.store import JobStore
from analyzer.ui import state

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SCHEMA = {
    "fields": [
        {"name": "title", "type": "text", "description": "the document's title"},
        {"name": "total", "type": "number", "description": "total amount"},
    ]
}
PUBLIC_SETTINGS = {"base_url": "http://127.0.0.1:9/v1", "model": "fake-model"}


def row(name: str, ok: bool = True, **values: Any) -> dict[str, Any]:
    return {
        "document": name,
        "status": "ok" if ok else "failed",
        "error": "" if ok else "The PDF is damaged: it cannot be read.",
        "pages": 1 if ok else None,
        "title": values.get("title", f"Title of {name}") if ok else None,
        "total": values.get("total", 12.5) if ok else None,
        "input_tokens": 100 if ok else 0,
        "output_tokens": 20 if ok else 0,
        "seconds": 0.8,
        "cost_usd": 0.0,
        "chunks": 1 if ok else 0,
    }


def progress(job_id: str, current: int, total: int, **extra: Any) -> dict[str, Any]:
    return {
        "status": extra.pop("status", "running"),
        "current": current,
        "total": total,
        "progress_percent": 100.0 * current / total,
        "current_document": extra.pop("current_document", ""),
        "timestamp": "2024-05-01T10:00:00.000Z",
        "eta_seconds": extra.pop("eta_seconds", 12.0),
        "elapsed_seconds": extra.pop("elapsed_seconds", 8.0),
        "tokens_processed": extra.pop("tokens_processed", 1234),
        "cost_usd": extra.pop("cost_usd", 0.0012),
        "failed": extra.pop("failed", 0),
        "chunk": None,
        **extra,
    }


@dataclass
class SeededJob:
    store: JobStore
    job_id: str
    factory: EventFactory = field(init=False)

    def __post_init__(self) -> None:
        self.factory = EventFactory(self.job_id, self.store.last_event_id(self.job_id) + 1)

    def emit(self, event: str, **data: Any) -> None:
        self.store.append_event(self.job_id, self.factory.make(event, **data))


def seed_job(
    store: JobStore, names: list[str], *, title: str = "Seeded batch", status: str = "running"
) -> SeededJob:
    job_id = store.create_job(
        schema=SCHEMA,
        settings=PUBLIC_SETTINGS,
        concurrency=2,
        documents=[(name, f"text of {name}".encode()) for name in names],
        title=title,
    )
    store.set_status(job_id, status)
    return SeededJob(store, job_id)


class RecordingRunner:
    """Stands in for the process runner: records calls, cancels through the store."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.calls: list[tuple[str, str, str | None]] = []

    def submit(self, job_id: str, api_key: str | None = None) -> None:
        self.calls.append(("submit", job_id, api_key))

    def resume(self, job_id: str, api_key: str | None = None) -> None:
        self.calls.append(("resume", job_id, api_key))

    def cancel(self, job_id: str) -> None:
        self.calls.append(("cancel", job_id, None))
        self.store.request_cancel(job_id)

    def recover_interrupted(self) -> list[str]:
        return []


class FinishingRunner(RecordingRunner):
    """A real Runner whose submit returns only when the job is final (AppTest can't wait)."""

    def __init__(self, store: JobStore) -> None:
        super().__init__(store)
        self.runner = Runner(store)

    def submit(self, job_id: str, api_key: str | None = None) -> None:
        super().submit(job_id, api_key)
        self.runner.submit(job_id, api_key=api_key)
        self.runner.wait(job_id, timeout=60)


@contextmanager
def injected_runner(monkeypatch: pytest.MonkeyPatch, runner: Any) -> Iterator[Any]:
    monkeypatch.setattr(state, "RUNNER_OVERRIDE", lambda: runner)
    yield runner


def results_table(at: Any) -> Any:
    """The results table on the page (the one with a document and a status column)."""
    for frame in at.dataframe:
        value = frame.value
        if "document" in value.columns and "status" in value.columns:
            return value
    raise AssertionError("no results table on the page")


# Fixtures for the AppTest files: import them by these names (pytest registers them as
# `store` and `runner`).
@pytest.fixture(name="store")
def store_fixture() -> JobStore:
    return JobStore()


@pytest.fixture(name="runner")
def recording_runner_fixture(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RecordingRunner]:
    with injected_runner(monkeypatch, RecordingRunner(store)) as recording:
        yield recording
