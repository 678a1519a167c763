"""`python -m analyzer follow JOB_ID`: a job's progress bar on stderr, from the API's SSE stream.

The stream is read with sseclient-py over an httpx streaming response. When the connection
drops, the client reconnects with ``Last-Event-ID`` (a bounded number of times, backing off),
and skips any event id it has already shown, so no event is shown twice or missed.
Exit codes: 0 complete and every document ok · 1 some documents failed, or the job was
cancelled or interrupted · 2 the job failed, is unknown, or the server could not be reached.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

import httpx
from sseclient import SSEClient
from tqdm import tqdm

from analyzer import events as ev

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2
MAX_RECONNECTS = 8
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
# The server sends a keep-alive comment every 15 s: three missed ones mean the link is dead.
READ_TIMEOUT_SECONDS = 45.0


class FollowError(Exception):
    """Following cannot go on; str() is one sentence for the user (exit 2)."""


def follow(
    job_id: str,
    url: str = "http://127.0.0.1:8000",
    *,
    token: str | None = None,
    out: IO[str] = sys.stderr,
    max_reconnects: int = MAX_RECONNECTS,
    first_backoff: float = FIRST_BACKOFF_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Show job `job_id` of the API at `url` until it ends; return the exit code."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx.Timeout(10.0, read=READ_TIMEOUT_SECONDS)
    view = _ProgressView(out)
    try:
        with httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        ) as client:
            follower = _Follower(client, job_id, view, max_reconnects, first_backoff)
            job = follower.fetch_job()
            view.start(job_id, job.get("total") or None)
            final = follower.follow_to_the_end()
            return _exit_code(final, follower, view)
    except FollowError as error:
        view.message(f"error: {error}")
        return EXIT_ERROR
    finally:
        view.close()


def _exit_code(final: dict[str, Any] | None, follower: _Follower, view: _ProgressView) -> int:
    if final is None:  # the job ended without a final event (its server stopped mid-job)
        job = follower.fetch_job()
        view.message(
            f"job {follower.job_id} is {job.get('status')}: it ended without finishing; "
            f"resume it with POST /api/jobs/{follower.job_id}/resume"
        )
        return EXIT_ERROR if job.get("status") == "failed" else EXIT_SOME_FAILED
    if final["event"] == ev.COMPLETE:
        return EXIT_SOME_FAILED if final["data"].get("failed") else EXIT_OK
    if final["event"] == ev.CANCELLED:
        return EXIT_SOME_FAILED
    return EXIT_ERROR


class _Follower:
    def __init__(
        self,
        client: httpx.Client,
        job_id: str,
        view: _ProgressView,
        max_reconnects: int,
        first_backoff: float,
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.view = view
        self.max_reconnects = max_reconnects
        self.first_backoff = first_backoff
        self.last_id = 0
        self.reconnects = 0

    def fetch_job(self) -> dict[str, Any]:
        try:
            response = self.client.get(f"/api/jobs/{self.job_id}")
        except httpx.TransportError as error:
            raise FollowError(
                f"cannot reach the API at {self.client.base_url} ({type(error).__name__}): "
                "is `python -m analyzer serve` running?"
            ) from None
        self._raise_for_status(response)
        return response.json()

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            raise FollowError("the API wants a token: set ANALYZER_API_TOKEN to the server's")
        if response.status_code == 404:
            raise FollowError(f"no job with id '{self.job_id}' on {self.client.base_url}")
        if response.status_code >= 400:
            raise FollowError(f"the API answered {response.status_code}: {response.text[:200]}")

    def follow_to_the_end(self) -> dict[str, Any] | None:
        """Read events until a final one; None if the job ended without one."""
        while True:
            try:
                final, ended = self._read_stream()
            except (httpx.TransportError, httpx.StreamError):
                final, ended = None, False  # dropped: reconnect below
            if final is not None:
                return final
            if ended:
                return None
            self._back_off()

    def _read_stream(self) -> tuple[dict[str, Any] | None, bool]:
        """One connection. Returns (final event, job-ended-without-final-event)."""
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(self.last_id)}
        with self.client.stream(
            "GET", f"/api/jobs/{self.job_id}/events", headers=headers
        ) as response:
            if response.status_code == 204:
                return None, True  # nothing newer will ever come
            if response.status_code in (401, 404):
                self._raise_for_status(response)
            if response.status_code != 200:
                return None, False  # e.g. 502 from a proxy while the server restarts
            for item in SSEClient(response.iter_bytes()).events():
                event = self._accept(item)
                if event is None:
                    continue
                self.reconnects = 0  # this connection works: a later drop starts afresh
                self.view.show(event)
                if event["event"] in ev.FINAL_EVENTS:
                    return event, False
        return None, False

    def _accept(self, item: Any) -> dict[str, Any] | None:
        """The event, or None if it was shown already (or is not one of ours)."""
        try:
            event_id = int(item.id)
        except (TypeError, ValueError):
            return None
        if event_id <= self.last_id:
            return None
        self.last_id = event_id
        return {"id": event_id, "event": item.event, "data": json.loads(item.data)}

    def _back_off(self) -> None:
        self.reconnects += 1
        if self.reconnects > self.max_reconnects:
            raise FollowError(
                f"lost the connection to {self.client.base_url} and could not reconnect "
                f"after {self.max_reconnects} tries"
            )
        delay = min(self.first_backoff * 2 ** (self.reconnects - 1), MAX_BACKOFF_SECONDS)
        self.view.message(
            f"connection lost; reconnecting in {delay:g} s "
            f"(try {self.reconnects}/{self.max_reconnects})"
        )
        time.sleep(delay)


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class _ProgressView:
    """A tqdm bar for progress, plus one line per failed document, warning and final event."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.bar: tqdm | None = None

    def start(self, job_id: str, total: int | None) -> None:
        self.bar = tqdm(
            total=total, unit="doc", desc=f"job {job_id}", file=self.out, dynamic_ncols=True
        )

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.out)
        else:
            print(text, file=self.out)

    def show(self, event: dict[str, Any]) -> None:
        data = event["data"]
        name = event["event"]
        if name == ev.PROGRESS and self.bar is not None:
            self.bar.total = data["total"]
            self.bar.n = data["current"]
            self.bar.set_postfix_str(
                f"tokens={data.get('tokens_processed', 0)} "
                f"eta={_format_eta(data.get('eta_seconds'))} "
                f"{(data.get('current_document') or '')[:40]}",
                refresh=False,
            )
            self.bar.refresh()
        elif name == ev.DOCUMENT and data.get("status") != "ok":
            self.message(f"failed: {data.get('document')}: {data.get('error')}")
        elif name == ev.LOG and data.get("level") == "warning":
            self.message(f"warning: {data.get('document')}: {data.get('message')}")
        elif name == ev.COMPLETE:
            self.message(
                f"complete: {data.get('ok', data['total_documents'])} ok, "
                f"{data.get('failed', 0)} failed, {data['total_tokens']} tokens, "
                f"{data['total_time_seconds']} s"
            )
        elif name == ev.CANCELLED:
            self.message(f"cancelled after {data.get('current')}/{data.get('total')} documents")
        elif name == ev.ERROR:
            self.message(f"error: {data.get('message')}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
