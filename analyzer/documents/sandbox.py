"""Reusable worker processes that read documents under time and memory limits.

Why processes: a hostile PDF can make a parser loop or allocate without end, and Python cannot
interrupt its own thread. A separate process can be given an address-space limit and be killed
on a deadline, and its death costs one row, not the batch. Why a pool: starting Python with
pypdf takes ~0.2 s; a reused worker adds only a pipe round-trip per document.

Workers are plain subprocesses of `sys.executable` talking JSON frames over stdin/stdout (no
multiprocessing, so nothing depends on how the host program was started: Streamlit, uvicorn,
pytest or the CLI). A worker exits by itself when its parent dies (its stdin closes).
Safe to use from many threads: each call checks out a worker of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DocumentError
from .protocol import FrameReader, WorkerGone, encode_message, write_frame

# The folder that holds the `analyzer` package, so workers import the same code.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from analyzer.documents.worker import main; main()"
)
STARTUP_SECONDS = 30.0
# A worker is replaced after this many documents (and by itself when it has grown: worker.py).
MAX_DOCUMENTS_PER_WORKER = 500
IDLE_SECONDS = 300.0  # idle workers beyond the first are stopped after this long


_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def worker_environment() -> dict[str, str]:
    """The parent's environment minus anything that looks like a secret: a worker parses
    untrusted files and needs no API key."""
    return {
        name: value
        for name, value in os.environ.items()
        if not any(word in name.upper() for word in _SECRET_WORDS)
    }


def default_max_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


class Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, _PACKAGE_ROOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env=worker_environment(),
        )
        assert self.process.stdout is not None
        self._reader = FrameReader(self.process.stdout.fileno())
        self.documents = 0
        self.healthy = True
        self.idle_since = time.monotonic()
        try:
            ready = self._reader.read_message(time.monotonic() + STARTUP_SECONDS)
        except (TimeoutError, WorkerGone):
            self.kill()
            raise DocumentError(
                "The document reader process could not start; check the installation."
            ) from None
        if ready.get("type") != "ready":
            self.kill()
            raise DocumentError("The document reader process could not start.")

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, request: dict[str, Any], data: bytes | None) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        write_frame(stdin, encode_message(request))
        if data is not None:
            write_frame(stdin, data)
        stdin.flush()

    def receive(self, deadline: float) -> dict[str, Any]:
        return self._reader.read_message(deadline)

    def kill(self) -> None:
        self.healthy = False
        with contextlib.suppress(OSError):
            self.process.kill()
        self._reap()

    def close(self) -> None:
        """Ask the worker to exit (end of input), and make sure it does."""
        self.healthy = False
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap()

    def _reap(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()


class WorkerPool:
    """Up to `max_workers` workers, started on demand and reused."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or default_max_workers()
        self._idle: list[Worker] = []
        self._busy = 0
        self._closed = False
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def worker(self) -> Iterator[Worker]:
        worker = self._checkout()
        try:
            yield worker
        finally:
            self._checkin(worker)

    def _checkout(self) -> Worker:
        with self._changed:
            while True:
                if self._closed:
                    raise DocumentError("The document reader is shutting down.")
                if self._idle:
                    worker = self._idle.pop()
                    self._busy += 1
                    if worker.process.poll() is None:
                        return worker
                    self._busy -= 1  # died while idle (killed from outside): replace it
                    worker.kill()
                    continue
                if self._busy < self.max_workers:
                    self._busy += 1
                    break
                self._changed.wait()
        try:
            return Worker()  # started outside the lock: other threads need not wait for it
        except BaseException:
            with self._changed:
                self._busy -= 1
                self._changed.notify()
            raise

    def _checkin(self, worker: Worker) -> None:
        retire = (
            not worker.healthy
            or worker.process.poll() is not None
            or worker.documents >= MAX_DOCUMENTS_PER_WORKER
        )
        stale: list[Worker] = []
        with self._changed:
            self._busy -= 1
            if not retire and not self._closed:
                worker.idle_since = time.monotonic()
                self._idle.append(worker)
                stale = self._take_stale()
            self._changed.notify()
        if retire or self._closed:
            worker.close()
        for old in stale:
            old.close()

    def _take_stale(self) -> list[Worker]:
        """Idle workers unused for IDLE_SECONDS, keeping the most recent one warm."""
        now = time.monotonic()
        self._idle.sort(key=lambda w: w.idle_since)
        stale = [w for w in self._idle[:-1] if now - w.idle_since > IDLE_SECONDS]
        for worker in stale:
            self._idle.remove(worker)
        return stale

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for worker in idle:
            worker.close()

    @property
    def idle_pids(self) -> list[int]:
        with self._changed:
            return [w.pid for w in self._idle]


_pool: WorkerPool | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The process-wide pool (a new one after a fork: pipes are not shared across processes)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = WorkerPool()
            _pool_pid = os.getpid()
        return _pool


@atexit.register
def _close_shared_pool() -> None:
    if _pool is not None and _pool_pid == os.getpid():
        _pool.close()
