"""A fake OpenAI-compatible provider on a real loopback socket, shared by tests and benchmarks.

It speaks the chat-completions wire format (``data: {json}`` SSE chunks ending in
``data: [DONE]``, or one JSON body), records every request it receives, counts requests in
flight, and injects faults on request: a queue of ``Fault``s is consumed in order, one per
chat-completions request, after which requests are answered normally.

    with FakeProvider(reply='{"title": "x"}') as fp:
        fp.add_faults(rate_limited(retry_after=1), stream_cut(after_chunks=2))
        engine = OpenAICompatibleEngine(fp.base_url, "fake-model")

Only the standard library is needed at import time; pytest is optional (the ``fake_provider``
fixture exists only when pytest is importable), so ``bench/`` can use this module as well.
"""

from __future__ import annotations

import collections
import email.utils
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], str] | str | None

DEFAULT_MODELS = ("fake-model", "fake-model-large")


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass
class Fault:
    """What goes wrong with one chat-completions request. Build them with the helpers below."""

    kind: str  # status | reset | cut | malformed | stream_error | slow | prose | header_delay
    status: int = 0
    message: str = ""
    error_type: str = "server_error"
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after_date_in: float | None = None  # Retry-After as an HTTP date, computed on sending
    after_chunks: int = 2
    text: str = ""
    ttft: float | None = None
    token_delay: float | None = None
    delay: float = 0.0


def rate_limited(
    retry_after: float | str | None = None,
    *,
    retry_after_ms: float | None = None,
    retry_after_date_in: float | None = None,
) -> Fault:
    """429, optionally with ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return Fault(
        "status",
        status=429,
        message="Rate limit reached for requests. Please try again later.",
        error_type="rate_limit_exceeded",
        headers=headers,
        retry_after_date_in=retry_after_date_in,
    )


def server_error(status: int = 500, message: str = "The server had an error.") -> Fault:
    return Fault("status", status=status, message=message)


def http_error(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
) -> Fault:
    """Any HTTP error with an OpenAI-style error body."""
    return Fault("status", status=status, message=message, error_type=error_type, param=param)


def unauthorized() -> Fault:
    return http_error(401, "Incorrect API key provided.", error_type="invalid_api_key")


def forbidden(message: str = "You are not allowed to use this model.") -> Fault:
    return http_error(403, message, error_type="permission_denied")


def model_not_found(model: str = "no-such-model") -> Fault:
    return http_error(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        error_type="model_not_found",
        param="model",
    )


def response_format_unsupported() -> Fault:
    return http_error(
        400,
        "Invalid parameter: 'response_format' of type 'json_schema' is not supported "
        "with this model.",
        param="response_format",
    )


def stream_cut(after_chunks: int = 2) -> Fault:
    """Send a few content chunks, then drop the connection: no finish, no [DONE]."""
    return Fault("cut", after_chunks=after_chunks)


def malformed_chunk(after_chunks: int = 1) -> Fault:
    """A ``data:`` line that is not JSON, after a few good chunks."""
    return Fault("malformed", after_chunks=after_chunks)


def stream_error(message: str = "The server is overloaded.", after_chunks: int = 1) -> Fault:
    """An ``{"error": ...}`` object inside an otherwise good stream (some proxies do this)."""
    return Fault("stream_error", after_chunks=after_chunks, message=message)


def slow(ttft: float | None = None, token_delay: float | None = None) -> Fault:
    """A slow answer: wait ``ttft`` before the first token and ``token_delay`` between tokens."""
    return Fault("slow", ttft=ttft, token_delay=token_delay)


def prose(text: str = "Sure! The invoice total is 42 euros, due next Friday.") -> Fault:
    """The model ignores the JSON instructions and answers in prose."""
    return Fault("prose", text=text)


def connection_reset() -> Fault:
    """Read the request, then reset the connection before sending a single byte."""
    return Fault("reset")


def header_delay(seconds: float) -> Fault:
    """Wait before even sending the response headers (a server stuck before answering)."""
    return Fault("header_delay", delay=seconds)


# ---------------------------------------------------------------------------------------------
# Replies


def example_for_schema(schema: dict[str, Any]) -> Any:
    """A small value that validates against a (simple) JSON Schema: the default fake answer."""
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf"):
        if schema.get(combinator):
            return example_for_schema(schema[combinator][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example_for_schema(sub) for name, sub in props.items()}
    if kind == "array":
        return [example_for_schema(schema.get("items") or {"type": "string"})]
    if kind == "string":
        return "2024-01-31" if schema.get("format") == "date" else "example"
    return {"number": 1.5, "integer": 1, "boolean": True, "null": None}.get(kind, "example")


def default_reply(body: dict[str, Any]) -> str:
    """JSON for the requested schema when ``response_format`` carries one, else a sentence."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return json.dumps(example_for_schema(schema), ensure_ascii=False)
    if response_format.get("type") == "json_object":
        return "{}"
    return "This is the fake provider's answer."


def split_tokens(text: str) -> list[str]:
    """Split an answer into stream deltas, one word (with its leading space) each."""
    return re.findall(r"\s*\S+|\s+$", text)


def fake_prompt_tokens(messages: Sequence[Any]) -> int:
    """The prompt token count the fake reports: deterministic, so tests can assert on it."""
    chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    return chars // 4 + 3 * len(messages)


# ---------------------------------------------------------------------------------------------
# The server


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # every header as received (names lower-cased)
    body: Any  # parsed JSON, or None
    received_at: float  # time.monotonic() when the request was read


class _ClientGone(Exception):
    """The client closed the connection while we were answering."""


class FakeProvider:
    """A threaded HTTP server on 127.0.0.1 that behaves like an OpenAI-compatible provider."""

    def __init__(
        self,
        *,
        reply: Reply = None,
        api_key: str | None = None,
        known_models: Sequence[str] | None = None,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        send_usage: bool = True,
        usage: dict[str, int] | None = None,
        reject_json_schema: bool = False,
        reject_response_format: bool = False,
        reject_stream_options: bool = False,
        ignore_stream: bool = False,
    ) -> None:
        """
        reply: the answer text, or a function of the request body returning it
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>`` (else 401)
        known_models: when set, other model names get 404 (``/models`` lists them either way)
        ttft / token_delay: seconds before the first token / between tokens
        send_usage: answer ``stream_options.include_usage`` with a usage chunk
        usage: fixed usage numbers to report instead of the computed ones
        reject_json_schema: 400 for ``response_format`` json_schema (json_object still works)
        reject_response_format: 400 for any ``response_format``
        reject_stream_options: 400 for any ``stream_options``
        ignore_stream: answer one JSON body even when ``stream`` is true
        """
        self.reply = reply
        self.api_key = api_key
        self.known_models = list(known_models) if known_models is not None else None
        self.ttft = ttft
        self.token_delay = token_delay
        self.send_usage = send_usage
        self.usage = usage
        self.reject_json_schema = reject_json_schema
        self.reject_response_format = reject_response_format
        self.reject_stream_options = reject_stream_options
        self.ignore_stream = ignore_stream

        self.requests: list[RecordedRequest] = []
        self.usages: list[dict[str, int]] = []  # usage reported, one per completed answer
        self.aborted = 0  # answers the client hung up on
        self.in_flight = 0
        self.peak_in_flight = 0
        self._faults: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        handler = type("Handler", (_Handler,), {"provider": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-provider",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the FakeProvider first"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- test helpers -----------------------------------------------------------------------

    def add_faults(self, *faults: Fault) -> None:
        """Queue faults; each chat-completions request consumes the next one."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/") == "/v1/chat/completions"]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` requests have arrived."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.requests) >= count, timeout)

    def wait_for_in_flight(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` requests are being answered at once."""
        with self._changed:
            return self._changed.wait_for(lambda: self.in_flight >= count, timeout)

    # -- used by the handler ------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _enter(self) -> None:
        with self._changed:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self._changed.notify_all()

    def _leave(self) -> None:
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _answer_text(self, body: dict[str, Any]) -> str:
        if self.reply is None:
            return default_reply(body)
        if isinstance(self.reply, str):
            return self.reply
        return self.reply(body)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _new_id(self) -> str:
        return f"chatcmpl-fake-{next(self._ids)}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (a cancelled stream) are part of the tests, not errors.
        pass


class _Handler(BaseHTTPRequestHandler):
    provider: FakeProvider
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like real providers

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read .requests instead

    # -- entry points -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, answer: Callable[[RecordedRequest], None]) -> None:
        provider = self.provider
        provider._enter()
        try:
            request = self._read_request()
            provider._record(request)
            answer(request)
        except (_ClientGone, ConnectionError):
            with provider._lock:
                provider.aborted += 1
            self.close_connection = True
        finally:
            provider._leave()

    def _read_request(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )

    # -- GET /v1/models -------------------------------------------------------------------------

    def _get(self, request: RecordedRequest) -> None:
        if not self._authorized(request):
            return
        if request.path.rstrip("/") == "/v1/models":
            models = self.provider.known_models or list(DEFAULT_MODELS)
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, "Not found.", "not_found")

    # -- POST /v1/chat/completions --------------------------------------------------------------

    def _post(self, request: RecordedRequest) -> None:
        provider = self.provider
        if request.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, f"Unknown path {request.path}.", "not_found")
            return
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_error(400, "The request body must be JSON with 'messages'.")
            return
        fault = provider._next_fault()
        if fault is not None and fault.kind == "reset":
            self._reset_connection()
            return
        if fault is not None and fault.kind == "header_delay":
            provider._sleep(fault.delay)
        if fault is not None and fault.kind == "status":
            self._send_fault_status(fault)
            return
        if not self._authorized(request) or not self._acceptable(body):
            return

        text = fault.text if fault is not None and fault.kind == "prose" else None
        if text is None:
            text = provider._answer_text(body)
        tokens = split_tokens(text)
        finish_reason = "stop"
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(max_tokens, int) and len(tokens) > max_tokens:
            tokens, finish_reason = tokens[:max_tokens], "length"
        usage = provider.usage or {
            "prompt_tokens": fake_prompt_tokens(body["messages"]),
            "completion_tokens": len(tokens),
        }
        usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}

        if body.get("stream") and not provider.ignore_stream:
            self._stream(body, tokens, finish_reason, usage, fault)
        else:
            self._send_json(200, self._completion(body, "".join(tokens), finish_reason, usage))
            with provider._lock:
                provider.usages.append(usage)

    def _authorized(self, request: RecordedRequest) -> bool:
        expected = self.provider.api_key
        if expected is None:
            return True
        sent = request.headers.get("authorization", "")
        if sent == f"Bearer {expected}":
            return True
        # Echo the key back in full, like a careless server would: the engine must scrub it.
        received = sent.removeprefix("Bearer ")
        self._send_error(401, f"Incorrect API key provided: {received}.", "invalid_api_key")
        return False

    def _acceptable(self, body: dict[str, Any]) -> bool:
        """Model and parameter checks a real server does before it starts generating."""
        provider = self.provider
        model = body.get("model")
        if provider.known_models is not None and model not in provider.known_models:
            self._send_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "model_not_found",
                param="model",
            )
            return False
        response_format = body.get("response_format")
        if response_format is not None and (
            provider.reject_response_format
            or (provider.reject_json_schema and response_format.get("type") == "json_schema")
        ):
            kind = response_format.get("type")
            self._send_error(
                400,
                f"Invalid parameter: 'response_format' of type '{kind}' is not supported.",
                param="response_format",
            )
            return False
        if provider.reject_stream_options and "stream_options" in body:
            self._send_error(
                400, "Unrecognized request argument supplied: stream_options", param=None
            )
            return False
        return True

    def _stream(
        self,
        body: dict[str, Any],
        tokens: list[str],
        finish_reason: str,
        usage: dict[str, int],
        fault: Fault | None,
    ) -> None:
        provider = self.provider
        ttft = provider.ttft
        token_delay = provider.token_delay
        if fault is not None and fault.kind == "slow":
            ttft = fault.ttft if fault.ttft is not None else ttft
            token_delay = fault.token_delay if fault.token_delay is not None else token_delay
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        completion_id = provider._new_id()
        model = body.get("model", "fake-model")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if include_usage:
                data["usage"] = None  # OpenAI sends null on every chunk but the last
            return data

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._send_event(chunk({"role": "assistant", "content": ""}))
        provider._sleep(ttft)
        # A stream fault strikes after `after_chunks` tokens, or at the end of a shorter answer.
        strike_at = min(fault.after_chunks, len(tokens)) if fault is not None else -1
        for index in range(len(tokens) + 1):
            if index == strike_at and fault is not None:
                if fault.kind == "cut":
                    self._drop_connection()
                    return
                if fault.kind == "malformed":
                    self._send_chunk(b'data: {"choices": [{"delta": {"content": "bro\n\n')
                if fault.kind == "stream_error":
                    error = {"error": {"message": fault.message, "type": "server_error"}}
                    self._send_event(error)
                    self._end_chunked()
                    return
            if index == len(tokens):
                break
            if index:
                provider._sleep(token_delay)
            self._send_event(chunk({"content": tokens[index]}))
        self._send_event(chunk({}, finish_reason))
        if include_usage and provider.send_usage:
            final = chunk({})
            final["choices"] = []
            final["usage"] = usage
            self._send_event(final)
            with provider._lock:
                provider.usages.append(usage)
        self._send_chunk(b"data: [DONE]\n\n")
        self._end_chunked()

    @staticmethod
    def _completion(
        body: dict[str, Any], text: str, finish_reason: str, usage: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
        }

    # -- wire helpers ---------------------------------------------------------------------------

    def _send_fault_status(self, fault: Fault) -> None:
        headers = dict(fault.headers)
        if fault.retry_after_date_in is not None:
            headers["Retry-After"] = email.utils.formatdate(
                time.time() + fault.retry_after_date_in, usegmt=True
            )
        self._send_error(fault.status, fault.message, fault.error_type, fault.param, headers)

    def _send_error(
        self,
        status: int,
        message: str,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        error = {"error": {"message": message, "type": error_type, "param": param, "code": None}}
        self._send_json(status, error, headers)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_event(self, payload: Any) -> None:
        self._send_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _send_chunk(self, data: bytes) -> None:
        if self.provider._stopping.is_set():
            raise _ClientGone()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _drop_connection(self) -> None:
        """Close mid-body: the chunked stream never gets its terminating chunk."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _reset_connection(self) -> None:
        """SO_LINGER 0 makes close() send a TCP RST instead of a polite FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


# ---------------------------------------------------------------------------------------------
# Reading an engine's stream the way the pipeline does


@dataclass
class CollectedAnswer:
    text: str = ""  # the final answer (text before a restart is dropped)
    notices: list[str] = field(default_factory=list)
    restarts: int = 0
    usage: Any = None
    chunks: list[Any] = field(default_factory=list)


def collect(chunks: Iterable[Any]) -> CollectedAnswer:
    """Consume an engine's Chunk stream: apply restarts, gather notices and the final usage."""
    answer = CollectedAnswer()
    for chunk in chunks:
        answer.chunks.append(chunk)
        if chunk.restart:
            answer.restarts += 1
            answer.text = ""
        answer.text += chunk.text
        if chunk.notice:
            answer.notices.append(chunk.notice)
        if chunk.usage is not None:
            answer.usage = chunk.usage
    return answer


# ---------------------------------------------------------------------------------------------
# pytest fixture (only when pytest is there: benchmarks import this module without it)

try:
    import pytest
except ImportError:  # pragma: no cover - benchmarks run without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(name="fake_provider")
    def fake_provider_fixture() -> Iterator[FakeProvider]:
        """A fresh FakeProvider per test; configure it by setting attributes or add_faults().

        Import it as ``from tests.fake_provider import fake_provider_fixture  # noqa: F401``
        and ask for ``fake_provider`` in a test: the different names keep ruff's F811 quiet.
        """
        with FakeProvider() as provider:
            yield provider

    fake_provider = fake_provider_fixture  # the same fixture, for `import fake_provider`
