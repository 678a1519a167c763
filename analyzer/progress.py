"""Counting a batch as it goes: documents done, tokens, cost, and an ETA weighted by work left.

The ETA divides the work still to do by the throughput measured so far. Work is measured in
characters of document text (plus a fixed per-document share for request latency), so a batch
with one 300-page report left does not claim to be "1 document from done".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

# A request costs time even for a one-line document; this many characters stands for that.
PER_DOCUMENT_WORK = 2_000
# Before a document is extracted only its file size is known; PDFs carry roughly this many
# characters of text per byte (measured on the sample set), refined as documents are extracted.
DEFAULT_CHARS_PER_BYTE = 0.3


@dataclass
class _Doc:
    size: int
    chars: int | None = None
    done: bool = False


class ProgressTracker:
    """Thread-safe batch counters. Workers report; the generator reads snapshots."""

    def __init__(
        self,
        sizes: list[int],
        *,
        completed_before: int = 0,
        total: int | None = None,
        tokens_before: int = 0,
        elapsed_before: float = 0.0,
        ok_before: int = 0,
        failed_before: int = 0,
        cost_before: float = 0.0,
    ) -> None:
        self._lock = threading.Lock()
        self._docs = [_Doc(size=size) for size in sizes]
        self.completed_before = completed_before
        self.total = total if total is not None else completed_before + len(sizes)
        self.started = time.monotonic()
        self.elapsed_before = elapsed_before
        # ok, failed and cost are the job's figures: earlier runs of a resumed job included.
        self.ok = ok_before
        self.failed = failed_before
        self._run_finished = 0  # documents finished in this run
        self._final_tokens = tokens_before  # tokens of finished requests (reported usage)
        self._live_tokens: dict[int, int] = {}  # estimated tokens of requests in flight
        self.cost_usd = cost_before
        self.document_seconds: list[float] = []

    # --- reports from workers -------------------------------------------------------------
    def extracted(self, index: int, chars: int) -> None:
        with self._lock:
            self._docs[index].chars = chars

    def live_tokens(self, request_key: int, tokens: int) -> None:
        with self._lock:
            self._live_tokens[request_key] = tokens

    def request_finished(self, request_key: int, tokens: int, cost: float) -> None:
        with self._lock:
            self._live_tokens.pop(request_key, None)
            self._final_tokens += tokens
            self.cost_usd += cost

    def document_finished(self, index: int, ok: bool, seconds: float) -> None:
        with self._lock:
            self._docs[index].done = True
            self._run_finished += 1
            self.document_seconds.append(seconds)
            if ok:
                self.ok += 1
            else:
                self.failed += 1

    def unfinished_indices(self) -> list[int]:
        with self._lock:
            return [index for index, doc in enumerate(self._docs) if not doc.done]

    # --- snapshots for events ---------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    @property
    def tokens(self) -> int:
        with self._lock:
            return self._final_tokens + sum(self._live_tokens.values())

    @property
    def current(self) -> int:
        return self.completed_before + self._run_finished

    @property
    def percent(self) -> float:
        if self.total <= 0:
            return 100.0
        return round(100.0 * self.current / self.total, 1)

    def _chars_per_byte(self) -> float:
        known = [(d.chars, d.size) for d in self._docs if d.chars is not None and d.size > 0]
        chars = sum(c for c, _ in known)
        size = sum(s for _, s in known)
        return chars / size if size and chars else DEFAULT_CHARS_PER_BYTE

    def _work(self, doc: _Doc, chars_per_byte: float) -> float:
        chars = doc.chars if doc.chars is not None else doc.size * chars_per_byte
        return chars + PER_DOCUMENT_WORK

    def eta_seconds(self) -> float | None:
        """Seconds left, or None until one document of this run has finished."""
        with self._lock:
            chars_per_byte = self._chars_per_byte()
            done = sum(self._work(d, chars_per_byte) for d in self._docs if d.done)
            left = sum(self._work(d, chars_per_byte) for d in self._docs if not d.done)
        if left <= 0:
            return 0.0
        run_time = time.monotonic() - self.started
        if done <= 0 or run_time <= 0:
            return None
        return round(left / (done / run_time), 1)

    def avg_latency_ms(self) -> float:
        with self._lock:
            seconds = list(self.document_seconds)
        return round(1000 * sum(seconds) / len(seconds), 1) if seconds else 0.0
