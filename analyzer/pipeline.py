"""The generator at the heart of DocPulse: documents × engine → progress events.

`analyze()` starts worker threads that each take the next document, extract it and ask the engine;
at most `concurrency` of them talk to the engine at once (fewer if the engine says so: the local
model runs one generation at a time), while a couple more extract the next documents so PDF parsing
overlaps the model calls. Workers hand notes to a queue; the generator turns them into events, adds
a heartbeat `progress` event at least once a second and rate-limits `tokens` events, so a caller
never waits long for a sign of life. Closing the generator (or cancelling the token) cancels the
in-flight requests and returns within about a second.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from analyzer import events as ev
from analyzer.document_task import DocumentTask, FatalEngineError, Note
from analyzer.documents import Limits, Source
from analyzer.engines.base import CancelToken, Engine
from analyzer.events import Event, EventFactory
from analyzer.progress import ProgressTracker
from analyzer.rows import not_analysed_row
from analyzer.schema import Schema

HEARTBEAT_SECONDS = 1.0
TOKENS_EVENT_SECONDS = 0.25
# Extra workers beyond the engine's concurrency: they extract the next documents meanwhile.
PREFETCH_WORKERS = 2
JOIN_SECONDS = 1.0
_NOTHING = Note("nothing", -1, "", {})  # the queue had nothing this tick


def analyze(
    sources: Sequence[Source],
    schema: Schema,
    engine: Engine,
    *,
    concurrency: int = 4,
    task_id: str | None = None,
    start_id: int = 1,
    cancel: CancelToken | None = None,
    inflight: threading.Semaphore | None = None,
    completed_before: int = 0,
    total: int | None = None,
    tokens_before: int = 0,
    elapsed_before: float = 0.0,
    ok_before: int = 0,
    failed_before: int = 0,
    cost_before: float = 0.0,
    limits: Limits | None = None,
) -> Iterator[Event]:
    """Analyse `sources` and yield events (DESIGN.md) until the batch is complete or cancelled.

    `completed_before`, `total`, `tokens_before`, `elapsed_before`, `ok_before`,
    `failed_before` and `cost_before` let a resumed job go on counting where it stopped;
    `start_id` continues its event ids. `inflight` is a semaphore
    shared by all jobs of a process to cap provider requests in flight.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    run = _BatchRun(
        list(sources),
        schema,
        engine,
        concurrency=concurrency,
        factory=EventFactory(task_id or uuid.uuid4().hex[:12], start_id),
        cancel=CancelToken(),
        caller_cancel=cancel,
        inflight=inflight,
        tracker=ProgressTracker(
            [source.size for source in sources],
            completed_before=completed_before,
            total=total,
            tokens_before=tokens_before,
            elapsed_before=elapsed_before,
            ok_before=ok_before,
            failed_before=failed_before,
            cost_before=cost_before,
        ),
        limits=limits,
    )
    return run.events()


class _BatchRun:
    def __init__(
        self,
        sources: list[Source],
        schema: Schema,
        engine: Engine,
        *,
        concurrency: int,
        factory: EventFactory,
        cancel: CancelToken,
        caller_cancel: CancelToken | None,
        inflight: threading.Semaphore | None,
        tracker: ProgressTracker,
        limits: Limits | None,
    ) -> None:
        self.sources = sources
        self.schema = schema
        self.engine = engine
        self.factory = factory
        # Our own token, so that ending the run never flips the caller's token.
        self.cancel = cancel
        self.caller_cancel = caller_cancel
        self.inflight = inflight
        self.tracker = tracker
        self.limits = limits
        engine_cap = engine.max_concurrency or concurrency
        self.model_concurrency = max(1, min(concurrency, engine_cap))
        self.model_slots = threading.BoundedSemaphore(self.model_concurrency)
        self.notes: queue.Queue[Note | None] = queue.Queue()
        self._next_index = 0
        self._index_lock = threading.Lock()
        self._fatal: str | None = None
        self._active: dict[int, tuple[str, str | None]] = {}  # index → (name, chunk label)
        self._partial: tuple[str, str] | None = None  # (document, tail of its answer)

    # --- worker side --------------------------------------------------------------------------
    def _take_index(self) -> int | None:
        with self._index_lock:
            if self._fatal is not None or self.cancel.cancelled:
                return None
            if self._next_index >= len(self.sources):
                return None
            index = self._next_index
            self._next_index += 1
            return index

    def _worker(self) -> None:
        try:
            self._work_through()
        finally:
            self.notes.put(None)  # this worker is finished, whatever happened

    def _work_through(self) -> None:
        while (index := self._take_index()) is not None:
            task = DocumentTask(
                index=index,
                source=self.sources[index],
                schema=self.schema,
                engine=self.engine,
                tracker=self.tracker,
                notify=self.notes.put,
                cancel=self.cancel,
                model_slots=self.model_slots,
                inflight=self.inflight,
                limits=self.limits,
            )
            try:
                row = task.run()
            except FatalEngineError as error:
                with self._index_lock:
                    if self._fatal is None:
                        self._fatal = str(error)
                self.cancel.cancel()
                return
            if row is None:  # cancelled
                return
            self.tracker.document_finished(index, row["status"] == "ok", row["seconds"])
            self.notes.put(Note("done", index, row["document"], {"row": row}))

    # --- generator side -----------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        workers = [
            threading.Thread(target=self._worker, name=f"docpulse-worker-{n}", daemon=True)
            for n in range(min(len(self.sources), self.model_concurrency + PREFETCH_WORKERS))
        ]
        with ExitStack() as links:
            if self.caller_cancel is not None:
                links.enter_context(self.caller_cancel.on_cancel(self.cancel.cancel))
            yield from self._run(workers)

    def _run(self, workers: list[threading.Thread]) -> Iterator[Event]:
        make = self.factory.make
        try:
            # Start at once: the first event already means "working", not "about to".
            for worker in workers:
                worker.start()
            yield self._progress_event()
            yield make(
                ev.LOG,
                level="info",
                message=(
                    f"Started: {len(self.sources)} documents with {self.engine.label}, "
                    f"{self.model_concurrency} at a time."
                ),
                document="",
            )
            yield from self._drain(len(workers))
            if self._fatal is not None:
                yield from self._fail_remaining(self._fatal)
                yield make(ev.ERROR, error="provider_refused", message=self._fatal)
            elif self.cancel.cancelled:
                yield self._progress_event(status="cancelled")
                yield make(
                    ev.CANCELLED,
                    status="cancelled",
                    current=self.tracker.current,
                    total=self.tracker.total,
                )
            else:
                yield self._progress_event(status="completed")
                yield make(ev.COMPLETE, **self._summary())
        finally:
            # Reached on normal end and on close(): stop in-flight requests, don't wait long.
            self.cancel.cancel()
            deadline = time.monotonic() + JOIN_SECONDS
            for worker in workers:
                if worker.is_alive():
                    worker.join(max(0.0, deadline - time.monotonic()))

    def _drain(self, running: int) -> Iterator[Event]:
        last_progress = time.monotonic()
        last_tokens = 0.0
        tokens_dirty = False
        while running > 0:
            if self.cancel.cancelled and self._fatal is None:
                return  # workers stop on their own; in-flight documents give no row
            timeout = max(0.05, HEARTBEAT_SECONDS - (time.monotonic() - last_progress))
            try:
                note = self.notes.get(timeout=min(timeout, 0.2))
            except queue.Empty:
                note = _NOTHING
            if note is None:
                running -= 1
            elif note is not _NOTHING:
                for event in self._handle(note):
                    yield event
                    if event["event"] == ev.PROGRESS:
                        last_progress = time.monotonic()
                tokens_dirty = tokens_dirty or note.kind == "partial"
            now = time.monotonic()
            if tokens_dirty and now - last_tokens >= TOKENS_EVENT_SECONDS:
                yield self._tokens_event()
                last_tokens, tokens_dirty = now, False
            if now - last_progress >= HEARTBEAT_SECONDS:
                yield self._progress_event()
                last_progress = now

    def _handle(self, note: Note) -> Iterator[Event]:
        make = self.factory.make
        if note.kind == "active":
            previous = self._active.get(note.index)
            self._active[note.index] = (note.document, note.data.get("chunk"))
            if note.data.get("stage") == "asking" and previous != self._active[note.index]:
                yield self._progress_event()
        elif note.kind == "partial":
            self._partial = (note.document, note.data["text"])
        elif note.kind == "log":
            yield make(
                ev.LOG,
                level=note.data.get("level", "info"),
                message=note.data["message"],
                document=note.document,
            )
        elif note.kind == "done":
            self._active.pop(note.index, None)
            row = note.data["row"]
            yield make(
                ev.DOCUMENT,
                index=note.index,
                document=row["document"],
                status=row["status"],
                error=row["error"],
                row=row,
            )
            if row["status"] != "ok":
                yield make(ev.LOG, level="error", message=row["error"], document=row["document"])
            yield self._progress_event()

    def _fail_remaining(self, reason: str) -> Iterator[Event]:
        """After a fatal provider error, every unfinished document still gets its row."""
        for index in self.tracker.unfinished_indices():
            source = self.sources[index]
            row = not_analysed_row(source.name, self.schema, reason)
            self.tracker.document_finished(index, False, 0.0)
            yield self.factory.make(
                ev.DOCUMENT,
                index=index,
                document=source.name,
                status="failed",
                error=row["error"],
                row=row,
            )
        yield self._progress_event(status="failed")

    # --- event builders -----------------------------------------------------------------------
    def _current(self) -> tuple[str, str | None]:
        if not self._active:
            return "", None
        return self._active[min(self._active)]

    def _progress_event(self, status: str = "running") -> Event:
        document, chunk = self._current() if status == "running" else ("", None)
        tracker = self.tracker
        return self.factory.make(
            ev.PROGRESS,
            status=status,
            current=tracker.current,
            total=tracker.total,
            progress_percent=tracker.percent,
            current_document=document,
            timestamp=ev.utc_timestamp(),
            eta_seconds=tracker.eta_seconds() if status == "running" else 0.0,
            elapsed_seconds=round(tracker.elapsed, 2),
            tokens_processed=tracker.tokens,
            cost_usd=round(tracker.cost_usd, 6),
            ok=tracker.ok,
            failed=tracker.failed,
            in_flight=len(self._active),
            chunk=chunk,
        )

    def _tokens_event(self) -> Event:
        document, partial = self._partial or ("", "")
        return self.factory.make(
            ev.TOKENS,
            tokens_processed=self.tracker.tokens,
            elapsed_seconds=round(self.tracker.elapsed, 2),
            document=document,
            partial_output=partial,
        )

    def _summary(self) -> dict[str, Any]:
        tracker = self.tracker
        return {
            "status": "completed",
            "total_documents": tracker.total,
            "total_tokens": tracker.tokens,
            "total_time_seconds": round(tracker.elapsed, 2),
            "avg_latency_ms": tracker.avg_latency_ms(),
            "ok": tracker.ok,
            "failed": tracker.failed,
            "cost_usd": round(tracker.cost_usd, 6),
        }
