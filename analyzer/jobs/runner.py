"""The background runner: takes queued jobs from the store and runs them on its own threads.

One runner per process (`get_runner()`; the app wraps it in st.cache_resource). Each job is a
thread that iterates `analyze()` and writes every event to the store as it happens; pages and
API clients only ever read the store. A cancel reaches a job two ways: in-process through its
CancelToken, and from another process through the store's flag, polled twice a second. All jobs
of the process share one cap on provider requests in flight (ANALYZER_MAX_INFLIGHT).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from analyzer import events as ev
from analyzer.config import ProviderSettings, make_engine
from analyzer.engines.base import CancelToken, Engine, EngineError
from analyzer.events import EventFactory
from analyzer.jobs.store import FINAL_STATUSES, JobInfo, JobStore
from analyzer.pipeline import analyze
from analyzer.schema import Schema, SchemaError

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 15.0
CANCEL_POLL_SECONDS = 0.5

EngineFactory = Callable[[dict[str, Any], str | None], Engine]


def default_engine_factory(settings: dict[str, Any], api_key: str | None) -> Engine:
    return make_engine(ProviderSettings.from_public_dict(settings, api_key=api_key))


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
        self._pool = ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="docpulse-job")
        cap = max_inflight or _env_int("ANALYZER_MAX_INFLIGHT")
        self.inflight = threading.BoundedSemaphore(cap) if cap else None
        self._api_key = api_key  # in memory only
        self._keys: dict[str, str | None] = {}
        self._tokens: dict[str, CancelToken] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="docpulse-watch", daemon=True)
        self._watcher.start()

    # --- public -------------------------------------------------------------------------------
    def submit(self, job_id: str, *, api_key: str | None = None) -> None:
        """Run the job in the background (its pending documents only)."""
        with self._lock:
            if job_id in self._tokens:
                return  # already running here
            self._tokens[job_id] = CancelToken()
            self._keys[job_id] = api_key
        self.store.clear_cancel(job_id)  # an earlier run's cancel is not this run's
        self.store.set_status(job_id, "queued")
        self._pool.submit(self._run_safely, job_id)

    def resume(
        self, job_id: str, *, api_key: str | None = None, retry_failed: bool = False
    ) -> None:
        """Go on with an interrupted (or cancelled) job: only documents without a row run."""
        if retry_failed:
            self.store.reset_failed(job_id)
        self.submit(job_id, api_key=api_key)

    def cancel(self, job_id: str) -> None:
        self.store.request_cancel(job_id)
        with self._lock:
            token = self._tokens.get(job_id)
        if token is not None:
            token.cancel()
        else:
            job = self.store.get_job(job_id)
            if job is not None and job.status in ("queued", "interrupted"):
                self._finish_without_running(job_id, "cancelled")

    def is_running(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._tokens

    def recover_interrupted(self) -> list[str]:
        """Jobs left running or queued by a process that is gone become 'interrupted'."""
        interrupted = []
        now = time.time()
        for job in self.store.list_jobs(limit=10_000):
            if job.status not in ("running", "queued") or self.is_running(job.id):
                continue
            # Its owner may be another live process, or another runner of this process (a
            # Streamlit cache clear): leave it alone while its heartbeat is fresh.
            alive = job.owner_pid is not None and _pid_alive(job.owner_pid)
            fresh = job.heartbeat_at is not None and now - job.heartbeat_at < STALE_SECONDS
            if alive and fresh:
                continue  # another live process runs it
            self.store.set_status(job.id, "interrupted")
            interrupted.append(job.id)
        return interrupted

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.store.get_job(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.status in FINAL_STATUSES and not self.is_running(job_id):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job.status}")
            time.sleep(0.05)

    def shutdown(self, *, cancel: bool = True) -> None:
        self._stopping.set()
        if cancel:
            with self._lock:
                tokens = list(self._tokens.values())
            for token in tokens:
                token.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- work ---------------------------------------------------------------------------------
    def _run_safely(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except Exception as error:
            log.exception("job %s crashed", job_id)
            self._fail(job_id, f"The job stopped on an unexpected error ({type(error).__name__}).")
        finally:
            with self._lock:
                self._tokens.pop(job_id, None)
                self._keys.pop(job_id, None)

    def _run(self, job_id: str) -> None:
        job = self.store.get_job(job_id)
        if job is None:
            return
        with self._lock:
            token = self._tokens[job_id]
            api_key = self._keys.get(job_id) or self._api_key or os.environ.get("ANALYZER_API_KEY")
        if token.cancelled:  # cancelled while still queued
            self._finish_without_running(job_id, "cancelled")
            return
        self.store.claim(job_id)
        try:
            schema = Schema.from_dict(job.schema)
            engine = self.engine_factory(job.settings, api_key or None)
        except (EngineError, SchemaError) as error:
            self._fail(job_id, str(error))
            return
        pending = self.store.sources(job_id, pending_only=True)
        snapshot = job.snapshot
        generator = analyze(
            [source for _, source in pending],
            schema,
            engine,
            concurrency=max(1, job.concurrency),
            task_id=job_id,
            start_id=self.store.last_event_id(job_id) + 1,
            cancel=token,
            inflight=self.inflight,
            completed_before=job.total - len(pending),
            total=job.total,
            tokens_before=int(snapshot.get("tokens_processed") or 0),
            elapsed_before=float(snapshot.get("elapsed_seconds") or 0.0),
        )
        try:
            for event in generator:
                if event["event"] == ev.DOCUMENT:
                    # The pipeline numbers the documents it was given; the store numbers the job's.
                    event["data"]["index"] = pending[event["data"]["index"]][0]
                self.store.append_event(job_id, event)
        finally:
            generator.close()
            engine.close()

    def _fail(self, job_id: str, message: str) -> None:
        event = EventFactory(job_id, self.store.last_event_id(job_id) + 1).make(
            ev.ERROR, error="job_failed", message=message
        )
        self.store.append_event(job_id, event)

    def _finish_without_running(self, job_id: str, status: str) -> None:
        job = self.store.get_job(job_id)
        if job is None:
            return
        event = EventFactory(job_id, self.store.last_event_id(job_id) + 1).make(
            ev.CANCELLED, status="cancelled", current=job.done, total=job.total
        )
        self.store.append_event(job_id, event)
        self.store.set_status(job_id, status)

    def _watch(self) -> None:
        """Heartbeats for our jobs; cancel flags set by other processes."""
        last_beat = 0.0
        while not self._stopping.wait(CANCEL_POLL_SECONDS):
            with self._lock:
                running = dict(self._tokens)
            now = time.monotonic()
            beat = now - last_beat >= HEARTBEAT_SECONDS
            for job_id, token in running.items():
                try:
                    if not token.cancelled and self.store.cancel_requested(job_id):
                        token.cancel()
                    if beat:
                        self.store.heartbeat(job_id)
                except Exception:
                    log.warning("could not check job %s", job_id, exc_info=True)
            if beat:
                last_beat = now


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
