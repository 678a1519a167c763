"""One job's events as a Server-Sent Events stream that survives reconnects and processes.

The stream replays the job's stored log after the client's last event id and then follows new
events by polling the store. Polling (a cheap indexed SQLite read every 0.2 s) rather than an
in-process queue is what lets a server follow a job that another process runs, and lets any
number of clients follow one job and see the very same sequence.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
from sse_starlette import ServerSentEvent

from analyzer.events import FINAL_EVENTS, Event
from analyzer.jobs.store import JobStore

POLL_SECONDS = 0.2
# Sent as `retry:` so an EventSource waits this long before reconnecting.
RETRY_MILLISECONDS = 2000
# Job statuses after which no event will ever be appended.
FINISHED_STATUSES = frozenset({"completed", "cancelled", "failed", "interrupted"})


def to_server_sent_event(event: Event) -> ServerSentEvent:
    """`id:` is the event id, `event:` its name, `data:` the JSON of its data (one line)."""
    return ServerSentEvent(
        data=json.dumps(event["data"], ensure_ascii=False, separators=(",", ":")),
        event=event["event"],
        id=str(event["id"]),
        sep="\n",
    )


def stream_is_over(store: JobStore, job_id: str, after_id: int) -> bool:
    """True when a client that has seen `after_id` can never get another event."""
    job = store.get_job(job_id)
    if job is None:
        return True
    return job.status in FINISHED_STATUSES and not store.events(job_id, after_id, limit=1)


async def job_event_stream(
    store: JobStore, job_id: str, after_id: int, *, poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[ServerSentEvent]:
    """Yield the job's events with id > `after_id` until a final event (or the job is gone)."""
    yield ServerSentEvent(retry=RETRY_MILLISECONDS, comment=f"events of job {job_id}", sep="\n")
    last_id = after_id
    while True:
        # Status first, events second: an event appended between the two reads is still seen,
        # so "finished and nothing new" is never concluded too early.
        job = await anyio.to_thread.run_sync(store.get_job, job_id)
        batch = await anyio.to_thread.run_sync(store.events, job_id, last_id)
        for event in batch:
            yield to_server_sent_event(event)
            last_id = event["id"]
            if event["event"] in FINAL_EVENTS:
                return
        if job is None or (job.status in FINISHED_STATUSES and not batch):
            return  # deleted, or ended without a final event (e.g. the server died mid-job)
        if not batch:
            await anyio.sleep(poll_seconds)
