"""The background runner: takes jobs from the store and runs them on its own threads.

One runner per process (`get_runner()`; the app wraps it in st.cache_resource). Each job is a
thread that iterates `analyze()` and writes every event to the store as it happens; pages and
API clients only ever read the store. A cancel reaches a job two ways: in-process through its
CancelToken, and from another process through the store's flag, polled twice a second. All jobs
of the runner share one cap on provider requests in flight (ANALYZER_MAX_INFLIGHT).

Before a runner touches a job it claims it in the store (owner, pid, heartbeat), atomically, so
the API, the app and the CLI can share a data dir without ever running one job twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from analyzer import events as ev
from analyzer.config import ProviderSettings, make_engine
from analyzer.engines.base import CancelToken, Engine, EngineError
from analyzer.events import Event, EventFactory
from analyzer.jobs.liveness import HEARTBEAT_SECONDS
from analyzer.jobs.store import FINAL_STATUSES, HELD_STATUSES, JobInfo, JobNotFound, JobStore
from analyzer.pipeline import analyze
from analyzer.schema import Schema, SchemaError

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5
SHUTDOWN_NOTE = "DocPulse stopped while this job ran; resume it to finish the other documents."

# settings (the job's stored public settings + "api_key", in memory only) → a ready engine
EngineFactory = Callable[[dict[str, Any]], Engine]


def default_engine_factory(settings: dict[str, Any]) -> Engine:
    """The engine the job's settings describe (no base_url → the local model)."""
    return make_engine(
        ProviderSettings.from_public_dict(settings, api_key=settings.get("api_key") or None)
    )


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class Runner:
    def __init__(
        self,
        store: JobStore,
        engine_factory: EngineFactory | None = None,
        *,
        max_jobs: int = 2,
        max_inflight: int | None = None,
        api_key: str | None = None,
    ) -> None:
        self.store = store
        self.engine_factory = engine_factory or default_engine_factory
        # Names this runner in the store; the pid alone cannot tell two runners of one process.
        self.id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._pool = ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="docpulse-job")
        cap = max_inflight or _env_int("ANALYZER_MAX_INFLIGHT")
        self.inflight = threading.BoundedSemaphore(cap) if cap else None
        self._api_key = api_key  # in memory only, never stored
        self._keys: dict[str, str | None] = {}
        self._tokens: dict[str, CancelToken] = {}  # jobs this runner holds: queued or running
        self._stopped_by_shutdown: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="docpulse-watch", daemon=True)
        self._watcher.start()

    # --- public -------------------------------------------------------------------------------
    def submit(self, job_id: str, *, api_key: str | None = None) -> None:
        """Run the job in the background (its documents without a stored row).

        A job that another live runner (this or another process) holds is left to it: this is a
        no-op then, never a second run.
        """
        if self._stopping.is_set():
            raise RuntimeError("This runner is shut down.")
        with self._lock:
            if job_id in self._tokens:
                return  # already queued or running here
            # An earlier run's cancel is not this run's: the claim clears the flag.
            if not self.store.claim(job_id, self.id, status="queued", clear_cancel=True):
                log.info("job %s is held by another live runner; not submitting", job_id)
                return
            self._tokens[job_id] = CancelToken()
            self._keys[job_id] = api_key
        self._pool.submit(self._run_safely, job_id)

    def resume(
        self, job_id: str, *, api_key: str | None = None, retry_failed: bool = False
    ) -> None:
        """Go on with an interrupted, cancelled or failed job: only documents without a row run.

        A job that failed as a whole (say the key was refused) gave its unfinished documents
        "not analysed" rows, so resuming it also retries its failed documents; `retry_failed`
        asks for that on any job.
        """
        job = self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(job_id)
        if self.is_running(job_id) or (job.status in HELD_STATUSES and not job.is_orphaned):
            return  # somebody runs it right now
        if retry_failed or job.status == "failed":
            self.store.reset_failed(job_id)
        self.submit(job_id, api_key=api_key)

    def cancel(self, job_id: str) -> None:
        """Stop the job within about a second, wherever it runs."""
        self.store.request_cancel(job_id)  # seen by the runner of any process within 0.5 s
        with self._lock:
            token = self._tokens.get(job_id)
        if token is not None:
            token.cancel()
            return
        job = self.store.get_job(job_id)
        if job is not None and (job.status == "interrupted" or job.is_orphaned):
            self._finish_without_running(job_id)  # nobody runs it: say so ourselves

    def is_running(self, job_id: str) -> bool:
        """This runner holds the job (queued here or running)."""
        with self._lock:
            return job_id in self._tokens

    def recover_interrupted(self) -> list[str]:
        """Jobs left queued or running by a runner that is gone become "interrupted"."""
        interrupted = []
        for job_id in self.store.held_job_ids():
            if not self.is_running(job_id) and self.store.interrupt_if_orphaned(job_id):
                log.info("job %s was interrupted (its runner is gone)", job_id)
                interrupted.append(job_id)
        return interrupted

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job is final (or interrupted) and this runner has let go of it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.store.get_job(job_id)
            if job is None:
                raise JobNotFound(job_id)
            settled = job.status in FINAL_STATUSES or job.status == "interrupted"
            if settled and not self.is_running(job_id):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job.status}")
            time.sleep(0.05)

    def shutdown(self) -> None:
        """Stop every job of this runner; they become "interrupted" (resumable), not cancelled."""
        self._stopping.set()
        with self._lock:
            held = dict(self._tokens)
            self._stopped_by_shutdown.update(held)
        for token in held.values():
            token.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            never_started = list(self._tokens)
            self._tokens.clear()
            self._keys.clear()
        for job_id in never_started:  # still queued here when the pool closed
            self._mark_interrupted(job_id)

    # --- work ---------------------------------------------------------------------------------
    def _run_safely(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except JobNotFound:
            log.info("job %s was deleted while it ran", job_id)
        except Exception as error:
            log.exception("job %s crashed", job_id)
            job = self.store.get_job(job_id)
            if job is not None and job.owner == self.id:  # not if another runner took it over
                self._fail(job_id, self._crash_message(job_id, error))
        finally:
            with self._lock:
                self._tokens.pop(job_id, None)
                self._keys.pop(job_id, None)
                self._stopped_by_shutdown.discard(job_id)

    def _run(self, job_id: str) -> None:
        job = self.store.get_job(job_id)
        if job is None:
            return
        with self._lock:
            token = self._tokens[job_id]
            api_key = self._key_for(job_id)
        if token.cancelled or self.store.cancel_requested(job_id):
            if job_id in self._stopped_by_shutdown:
                self._mark_interrupted(job_id)
            else:
                self._finish_without_running(job_id)  # cancelled while still queued
            return
        if not self.store.claim(job_id, self.id, status="running"):
            return  # another runner took it over meanwhile (we looked dead to it)
        try:
            schema = Schema.from_dict(job.schema)
            engine = self.engine_factory({**job.settings, "api_key": api_key})
        except (EngineError, SchemaError) as error:
            self._fail(job_id, str(error))
            return
        try:
            for event in self._events(job, schema, engine, token):
                self.store.append_event(job_id, event)
        finally:
            engine.close()
        self._settle(job_id)

    def _events(
        self, job: JobInfo, schema: Schema, engine: Engine, token: CancelToken
    ) -> Iterator[Event]:
        """The job's pending documents through analyze(), counted on from where it stopped."""
        pending = self.store.sources(job.id, pending_only=True)
        carry = _Carry.from_rows(self.store.rows(job.id))
        generator = analyze(
            [source for _, source in pending],
            schema,
            engine,
            concurrency=max(1, job.concurrency),
            task_id=job.id,
            start_id=self.store.last_event_id(job.id) + 1,
            cancel=token,
            inflight=self.inflight,
            completed_before=job.total - len(pending),
            total=job.total,
            tokens_before=int(job.snapshot.get("tokens_processed") or 0),
            elapsed_before=float(job.snapshot.get("elapsed_seconds") or 0.0),
            ok_before=carry.ok,
            failed_before=carry.failed,
            cost_before=carry.cost_usd,
        )
        try:
            for event in generator:
                if job.id in self._stopped_by_shutdown and _tells_cancelled(event):
                    continue  # not the analyst's cancel: the job is interrupted instead
                if event["event"] == ev.DOCUMENT:
                    # The pipeline numbers the documents it was given; the store numbers the job's.
                    event["data"]["index"] = pending[event["data"]["index"]][0]
                yield event
        finally:
            generator.close()

    def _settle(self, job_id: str) -> None:
        """After the generator: a job stopped by shutdown is interrupted, never left running."""
        job = self.store.get_job(job_id)
        if job is None or job.status not in HELD_STATUSES:
            return  # the final event already set its status
        if job_id in self._stopped_by_shutdown:
            self._mark_interrupted(job_id)
        else:
            self._fail(job_id, "The analysis ended without a final event.")

    def _key_for(self, job_id: str) -> str | None:
        return self._keys.get(job_id) or self._api_key or os.environ.get("ANALYZER_API_KEY")

    def _crash_message(self, job_id: str, error: Exception) -> str:
        detail = str(error)
        with self._lock:
            key = self._key_for(job_id)
        if key:
            detail = detail.replace(key, "***")  # an exception text must not carry the key out
        detail = f": {detail[:300]}" if detail else ""
        return f"The job stopped on an unexpected error ({type(error).__name__}{detail})."

    def _next_event(self, job_id: str, name: str, **data: Any) -> Event:
        return EventFactory(job_id, self.store.last_event_id(job_id) + 1).make(name, **data)

    def _fail(self, job_id: str, message: str) -> None:
        try:
            event = self._next_event(job_id, ev.ERROR, error="job_failed", message=message)
            self.store.append_event(job_id, event)  # the error event sets status failed
        except JobNotFound:
            pass

    def _finish_without_running(self, job_id: str) -> None:
        """Cancel a job nobody runs: take it (so no one starts it meanwhile), log the cancel."""
        if not self.store.claim(job_id, self.id, status="cancelled"):
            return  # a live runner picked it up; the store flag stops it there
        job = self.store.get_job(job_id)
        if job is not None:
            event = self._next_event(
                job_id, ev.CANCELLED, status="cancelled", current=job.done, total=job.total
            )
            self.store.append_event(job_id, event)

    def _mark_interrupted(self, job_id: str) -> None:
        try:
            self.store.append_event(
                job_id,
                self._next_event(
                    job_id, ev.LOG, level="warning", message=SHUTDOWN_NOTE, document=""
                ),
            )
            self.store.set_status(job_id, "interrupted")
        except JobNotFound:
            pass

    def _watch(self) -> None:
        """Heartbeats for the jobs this runner holds; cancel flags set by other processes."""
        last_beat = 0.0
        while not self._stopping.wait(CANCEL_POLL_SECONDS):
            with self._lock:
                held = dict(self._tokens)
            now = time.monotonic()
            beat = now - last_beat >= HEARTBEAT_SECONDS
            for job_id, token in held.items():
                try:
                    if not token.cancelled and self.store.cancel_requested(job_id):
                        token.cancel()
                    if beat:
                        self.store.heartbeat(job_id, owner=self.id)
                except Exception:  # a locked or vanished store must not kill the watcher
                    log.warning("could not check job %s", job_id, exc_info=True)
            if beat:
                last_beat = now


@dataclass(frozen=True)
class _Carry:
    """What earlier runs of a resumed job already counted: analyze() goes on from there."""

    ok: int = 0
    failed: int = 0
    cost_usd: float = 0.0

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> _Carry:
        return cls(
            ok=sum(1 for row in rows if row.get("status") == "ok"),
            failed=sum(1 for row in rows if row.get("status") != "ok"),
            cost_usd=sum(float(row.get("cost_usd") or 0.0) for row in rows),
        )


def _tells_cancelled(event: Event) -> bool:
    if event["event"] == ev.CANCELLED:
        return True
    return event["event"] == ev.PROGRESS and event["data"].get("status") == "cancelled"


_runner: Runner | None = None
_runner_lock = threading.Lock()


def get_runner() -> Runner:
    """The process's runner, created on first use (which also marks orphaned jobs interrupted)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = Runner(JobStore())
            _runner.recover_interrupted()
        return _runner
