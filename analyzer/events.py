"""The event wire format shared by the generator, the job store, the CLI and the SSE API.

Every event is ``{"id": int, "event": str, "data": {...}}`` (DESIGN.md). Ids are strictly
increasing within a job; they become the SSE ``id:`` field, so a reconnecting client can
resume with ``Last-Event-ID``.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, TypedDict

# The four names of the original SSE design: any EventSource client written against it
# listens for exactly these, so their required fields must never disappear.
PROGRESS = "progress"
TOKENS = "tokens"
COMPLETE = "complete"
ERROR = "error"
# Added for analysts: one document finished (its row), a log line, a cancelled job.
DOCUMENT = "document"
LOG = "log"
CANCELLED = "cancelled"

FINAL_EVENTS = frozenset({COMPLETE, CANCELLED, ERROR})


class Event(TypedDict):
    id: int
    event: str
    data: dict[str, Any]


def utc_timestamp() -> str:
    """ISO-8601 UTC with milliseconds, the `timestamp` field of progress events."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class EventFactory:
    """Stamps events of one job with strictly increasing ids (thread-safe).

    ``start_id`` lets a resumed job continue the id sequence of its stored log.
    """

    def __init__(self, task_id: str, start_id: int = 1) -> None:
        self.task_id = task_id
        self._ids = itertools.count(start_id)
        self._lock = threading.Lock()

    def make(self, event: str, **data: Any) -> Event:
        with self._lock:
            event_id = next(self._ids)
        return {"id": event_id, "event": event, "data": {"task_id": self.task_id, **data}}
