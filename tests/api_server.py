"""The real API on uvicorn in a thread on a loopback port, and what API tests need around it.

- `LiveServer`: a uvicorn server for one app on 127.0.0.1 (a free port), started and stopped
  from the test thread.
- `DroppingProxy`: a TCP proxy in front of it that can cut every open connection on demand,
  which is how a flaky network looks to an SSE client.
- `api_harness()`: FakeProvider (real wire format) + JobStore + the app built the way `serve()`
  builds it (its own Runner, the key from ANALYZER_API_KEY) + a LiveServer + an httpx client.
- `multipart_body()`: a multipart/form-data body written byte by byte, so tests can send file
  names no well-behaved client library would (NUL, `../`, raw UTF-8).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sseclient import SSEClient

from analyzer.api.app import create_app
from analyzer.api.settings import ApiSettings
from analyzer.jobs.store import JobStore
from tests.fake_provider import FakeProvider

SECRET = "sk-test-SECRET-api-789"
MODEL = "fake-model"
FINAL = {"complete", "cancelled", "error"}


class LiveServer:
    """`app` served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class DroppingProxy:
    """A TCP proxy to `target_port` that can cut all its connections (a network hiccup)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.connections = 0
        self.bytes_to_client = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open += [client, upstream]
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, to_client: bool) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
                if to_client:
                    with self._lock:
                        self.bytes_to_client += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def drop_all(self) -> int:
        """Cut every open connection now; returns how many sockets were cut."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        return len(sockets)

    def close(self) -> None:
        """Stop accepting (new connections are refused) and cut the open ones."""
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._listener.close()
        self.drop_all()


def multipart_body(
    fields: dict[str, str], files: Sequence[tuple[str, bytes]], *, file_field: str = "files"
) -> tuple[bytes, str]:
    """(body, content type) with file names sent as raw UTF-8 bytes, exactly as given."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for filename, data in files:
        header = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(header.encode("utf-8") + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def text_documents(count: int, prefix: str = "invoice") -> list[tuple[str, bytes]]:
    return [
        (
            f"{prefix}-{n}.txt",
            f"Invoice {n} from ACME Corp. Total 1,{n}00 EUR, due 2024-03-{10 + n}.".encode(),
        )
        for n in range(1, count + 1)
    ]


@dataclass
class ApiHarness:
    provider: FakeProvider
    store: JobStore
    app: FastAPI
    server: LiveServer
    client: httpx.Client
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def submit(
        self,
        documents: Sequence[tuple[str, bytes]],
        schema: str = "summary",
        **fields: str,
    ) -> str:
        response = self.client.post(
            "/api/jobs",
            data={"schema": schema, **fields},
            files=[("files", (name, data)) for name, data in documents],
        )
        assert response.status_code == 201, response.text
        return response.json()["job_id"]

    def wait_until_finished(self, job_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.client.get(f"/api/jobs/{job_id}").json()
            if job["status"] not in ("queued", "running"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s")

    def wait_for_events(self, job_id: str, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.store.events(job_id)) < count:
            assert time.monotonic() < deadline, f"fewer than {count} events in {timeout} s"
            time.sleep(0.02)


def read_events(
    client: httpx.Client,
    job_id: str,
    *,
    last_event_id: int | None = None,
    stop_after: int | None = None,
    params: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Events of one SSE connection, as {"id", "event", "data"}; stops after `stop_after`."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    received: list[dict[str, Any]] = []
    with client.stream(
        "GET", f"/api/jobs/{job_id}/events", headers=headers, params=params
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for item in SSEClient(response.iter_bytes()).events():
            received.append(
                {"id": int(item.id), "event": item.event, "data": json.loads(item.data)}
            )
            if stop_after is not None and len(received) >= stop_after:
                break
    return received


@contextmanager
def api_harness(
    monkeypatch: pytest.MonkeyPatch,
    *,
    settings: ApiSettings | None = None,
    token: str | None = None,
    **provider_options: Any,
) -> Iterator[ApiHarness]:
    """The app exactly as `serve()` builds it, against a FakeProvider that wants SECRET."""
    options = {"api_key": SECRET, "known_models": [MODEL], **provider_options}
    with FakeProvider(**options) as provider:
        monkeypatch.setenv("ANALYZER_BASE_URL", provider.base_url)
        monkeypatch.setenv("ANALYZER_MODEL", MODEL)
        monkeypatch.setenv("ANALYZER_API_KEY", SECRET)
        store = JobStore()
        app = create_app(store, settings=settings or ApiSettings(api_token=token))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with (
            LiveServer(app) as server,
            httpx.Client(base_url=server.url, headers=headers, timeout=30) as client,
        ):
            yield ApiHarness(provider, store, app, server, client, headers)
