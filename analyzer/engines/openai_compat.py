"""Stream answers from any OpenAI-compatible chat-completions API (OpenAI, vLLM, Ollama, ...).

One ``OpenAICompatibleEngine`` holds one ``httpx.Client`` (a connection pool shared by all worker
threads) and turns chat messages into ``Chunk``s while the answer streams in as Server-Sent
Events (parsed by sseclient-py). It owns what the pipeline should never see:

- retries with backoff (retry.py) for rate limits, server errors and broken connections,
  restarting the answer when a stream broke half-way;
- negotiation: servers differ in what they accept (``response_format`` json_schema or
  json_object, ``stream_options``, ``max_tokens`` vs ``max_completion_tokens``, ``temperature``).
  A 400 that names such a parameter makes the engine drop down one step and ask again, and the
  step that worked is remembered per (base URL, model) for every later request;
- usage: from the stream's usage chunk, else estimated;
- cancel: a ``CancelToken`` interrupts a blocked read or wait at once;
- the API key: sent only in the Authorization header, never in a message, notice, log or repr.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import sseclient

from analyzer.engines.base import (
    Cancelled,
    CancelToken,
    Chunk,
    EngineError,
    Message,
    Price,
    Usage,
    estimate_tokens,
)
from analyzer.engines.ratelimit import TokenBucket
from analyzer.engines.retry import (
    RetryableError,
    backoff_delay,
    exhausted_message,
    is_retryable_status,
    parse_retry_after,
    retry_notice,
)

log = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error answer worth reading
MESSAGE_LIMIT = 300  # characters of a server's error message shown to the analyst

# ---------------------------------------------------------------------------------------------
# What each server accepts, learned from its 400 answers and remembered for the process.

STRUCTURED_MODES = ("json_schema", "json_object", "prompt")  # best first


@dataclass(frozen=True)
class ServerQuirks:
    structured: str = "json_schema"  # how to ask for JSON: one of STRUCTURED_MODES
    stream_options: bool = True  # send stream_options.include_usage
    max_tokens_field: str = "max_tokens"  # newer OpenAI models want max_completion_tokens
    temperature: bool = True  # reasoning models refuse a temperature


_QUIRKS: dict[tuple[str, str], ServerQuirks] = {}
_QUIRKS_LOCK = threading.Lock()


def known_quirks(base_url: str, model: str) -> ServerQuirks:
    """What has been learned about this server and model so far (defaults if nothing)."""
    with _QUIRKS_LOCK:
        return _QUIRKS.get((base_url.rstrip("/"), model), ServerQuirks())


def _remember_quirks(base_url: str, model: str, learned: ServerQuirks) -> None:
    """Merge what one request learned. Merging only ever steps down, so two threads that
    learned different things at the same time both keep their lesson."""
    key = (base_url.rstrip("/"), model)
    with _QUIRKS_LOCK:
        old = _QUIRKS.get(key, ServerQuirks())
        _QUIRKS[key] = ServerQuirks(
            structured=STRUCTURED_MODES[
                max(
                    STRUCTURED_MODES.index(old.structured),
                    STRUCTURED_MODES.index(learned.structured),
                )
            ],
            stream_options=old.stream_options and learned.stream_options,
            max_tokens_field=(
                "max_completion_tokens"
                if "max_completion_tokens" in (old.max_tokens_field, learned.max_tokens_field)
                else "max_tokens"
            ),
            temperature=old.temperature and learned.temperature,
        )


def forget_quirks() -> None:
    """Forget every server's quirks (tests; or after a server was upgraded)."""
    with _QUIRKS_LOCK:
        _QUIRKS.clear()


def _step_down(quirks: ServerQuirks, message: str, wants_json: bool) -> tuple[ServerQuirks, str]:
    """The quirks to try after a 400 whose ``message`` names a parameter we can do without.

    Returns (new quirks, notice); raises LookupError when the refusal is about something else.
    """
    text = message.lower()
    if quirks.stream_options and ("stream_options" in text or "include_usage" in text):
        return (
            replace(quirks, stream_options=False),
            "the provider does not accept stream_options; token usage will be estimated",
        )
    if quirks.max_tokens_field == "max_tokens" and "max_completion_tokens" in text:
        return (
            replace(quirks, max_tokens_field="max_completion_tokens"),
            "the provider wants max_completion_tokens instead of max_tokens; using it",
        )
    if quirks.temperature and "temperature" in text:
        return (
            replace(quirks, temperature=False),
            "the provider does not accept a temperature for this model; using its default",
        )
    if (
        wants_json
        and quirks.structured != "prompt"
        and ("response_format" in text or "json_schema" in text or "json_object" in text)
    ):
        lower = STRUCTURED_MODES[STRUCTURED_MODES.index(quirks.structured) + 1]
        how = "a JSON object" if lower == "json_object" else "JSON through the prompt only"
        return (
            replace(quirks, structured=lower),
            f"the provider does not support response_format {quirks.structured}; "
            f"asking for {how} instead",
        )
    raise LookupError(message)


class _Renegotiate(Exception):
    """The server refused a parameter we can drop: ask again with ``quirks``."""

    def __init__(self, quirks: ServerQuirks, notice: str) -> None:
        super().__init__(notice)
        self.quirks = quirks
        self.notice = notice


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def public_url(url: str) -> str:
    """The URL without credentials or query: safe to show and to store."""
    try:
        parsed = httpx.URL(url)
        return str(parsed.copy_with(userinfo=b"", query=None, fragment=None)).rstrip("/")
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"


_SECRET_PATTERNS = (
    re.compile(r"\b(?:sk|rk|pk|key|api)[-_][A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)\bbearer\s+\S+"),
)


def sanitise(text: str, secrets: tuple[str, ...] = (), limit: int = MESSAGE_LIMIT) -> str:
    """A server's words made safe to show: one line, no control characters, no key, short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def server_message(body: str) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}} and common variants."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str):
                    return error[key]
            if isinstance(data.get("detail"), str):
                return data["detail"]
        if isinstance(error, str):
            return error
    return body.strip()


def _sentence(text: str) -> str:
    return text.rstrip(" .")


def json_instruction(schema: dict[str, Any]) -> str:
    """What to tell a model that cannot be given the schema as a parameter."""
    return (
        "Reply with one JSON object only: no prose, no code fences. "
        "It must match this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)
    )


def _with_instruction(messages: list[Message], instruction: str) -> list[Message]:
    """Append the instruction to the system message (or add one), leaving the input alone."""
    result = [dict(m) for m in messages]
    for message in result:
        if message.get("role") == "system":
            message["content"] = f"{message.get('content', '')}\n\n{instruction}".strip()
            return result
    return [{"role": "system", "content": instruction}, *result]


def _schema_name(schema: dict[str, Any]) -> str:
    title = schema.get("title") if isinstance(schema.get("title"), str) else ""
    return (re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_") or "extraction")[:64]


def _usage_from(payload: Any) -> Usage | None:
    if not isinstance(payload, dict):
        return None
    prompt, completion = payload.get("prompt_tokens"), payload.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(input_tokens=prompt, output_tokens=completion)
    return None


class _Secret:
    """Holds the API key so that no repr, vars() dump or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


# ---------------------------------------------------------------------------------------------
# Interruptible I/O


class _PendingSend:
    """Sends a request on a helper thread so the caller can stop waiting for the headers.

    httpx cannot abort a request from another thread; a cancel while a server sits on the
    headers would otherwise wait out the read timeout. If the caller gives up, the helper
    closes the response when it finally arrives, so the connection is not leaked.
    """

    def __init__(self) -> None:
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._finished = False
        self._abandoned = False
        self._response: httpx.Response | None = None
        self._error: Exception | None = None

    def run(self, client: httpx.Client, request: httpx.Request) -> None:
        response: httpx.Response | None = None
        error: Exception | None = None
        try:
            response = client.send(request, stream=True)
        except Exception as exc:  # noqa: BLE001 - handed over to the waiting thread
            error = exc
        with self._lock:
            self._finished = True
            if self._abandoned:
                if response is not None:
                    response.close()
                return
            self._response, self._error = response, error
        self.ready.set()

    def result(self, cancel: CancelToken) -> httpx.Response:
        with self._lock:
            if not self._finished:
                self._abandoned = True
                raise Cancelled()
        if cancel.cancelled:
            if self._response is not None:
                self._response.close()
            raise Cancelled()
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response


def _interrupter(response: httpx.Response) -> Callable[[], None]:
    """A closer that wakes a thread blocked reading ``response``.

    ``response.close()`` from another thread does not wake a blocked ``recv`` (measured: the
    read went on until the server's next byte); shutting the socket down does, at once.
    ``socket.socket.shutdown`` is called unbound so a TLS socket is shut at the TCP level
    without touching its TLS state from the wrong thread.
    """

    def interrupt() -> None:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            response.close()

    return interrupt


# ---------------------------------------------------------------------------------------------
# The engine


class OpenAICompatibleEngine:
    """An Engine (see base.py) for any server that speaks OpenAI's chat-completions API."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        connect_timeout: float = 10,
        read_timeout: float = 120,
        max_retries: int = 6,
        context_tokens: int = 12_000,
        price: Price | None = None,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        max_concurrency: int | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        self.base_url = (base_url or "").strip().rstrip("/")
        self.public_base_url = public_url(self.base_url)
        if not re.match(r"https?://[^/]", self.base_url):
            raise EngineError(
                f"The base URL '{self.public_base_url if self.base_url else ''}' must start with "
                "http:// or https:// (e.g. https://api.openai.com/v1)."
            )
        if not model:
            raise EngineError("No model name is set: pass --model or set ANALYZER_MODEL.")
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_retries = max(0, max_retries)
        self.context_tokens = context_tokens
        self.price = price or Price()
        self.max_concurrency = max_concurrency
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.label = f"{model} @ {self.public_base_url}"
        self._api_key = _Secret(api_key) if api_key else None
        self._request_bucket = TokenBucket(requests_per_minute) if requests_per_minute else None
        self._token_bucket = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self._slots = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None

        pool = max(max_concurrency or 0, 32)
        headers = {"User-Agent": "DocPulse"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"  # the only place the key goes
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
            ),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleEngine(model={self.model!r}, base_url={self.public_base_url!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API -----------------------------------------------------------------------------

    def stream(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        """Stream one answer. Raises EngineError (final failure) or Cancelled."""
        cancel = cancel or CancelToken()
        max_tokens = max_tokens or self.max_tokens
        total_attempts = self.max_retries + 1
        failures = 0
        started = time.monotonic()
        with self._slot(cancel):
            while True:
                cancel.raise_if_cancelled()
                yield from self._pace(messages, max_tokens, cancel)
                answered = False
                try:
                    for chunk in self._attempt(messages, json_schema, max_tokens, cancel):
                        answered = answered or bool(chunk.text)
                        yield chunk
                    return
                except _Renegotiate as change:
                    _remember_quirks(self.base_url, self.model, change.quirks)
                    log.info("%s: %s", self.label, change.notice)
                    yield Chunk(notice=change.notice)
                except RetryableError as error:
                    if cancel.cancelled:
                        raise Cancelled() from None
                    failures += 1
                    if failures > self.max_retries:
                        message = exhausted_message(
                            self.public_base_url, error, failures, time.monotonic() - started
                        )
                        log.warning("%s: %s", self.label, message)
                        raise EngineError(message) from error
                    delay = backoff_delay(
                        failures,
                        base=self.backoff_base,
                        maximum=self.backoff_max,
                        retry_after=error.retry_after,
                    )
                    notice = retry_notice(error.reason, delay, failures + 1, total_attempts)
                    log.info("%s: %s", self.label, notice)
                    yield Chunk(notice=notice)
                    if answered:
                        yield Chunk(restart=True)
                    if cancel.wait(delay):
                        raise Cancelled() from None

    def list_models(self) -> list[str]:
        """Model ids the server offers (GET /models): the app's "test connection" button."""
        url = f"{self.base_url}/models"
        try:
            response = self._client.get(url, timeout=max(self.connect_timeout, 30.0))
        except httpx.ConnectError as error:
            raise EngineError(
                f"Could not connect to {self.public_base_url} ({self._clean(str(error))}): "
                "check the base URL and that the server is running."
            ) from error
        except httpx.TimeoutException as error:
            raise EngineError(
                f"{self.public_base_url} did not answer in time: check the base URL and that "
                "the server is running."
            ) from error
        except httpx.HTTPError as error:
            raise EngineError(
                f"Talking to {self.public_base_url} failed: {self._clean(str(error))}."
            ) from error
        if response.status_code != 200:
            message = self._clean(server_message(response.text))
            if response.status_code == 404:
                raise EngineError(
                    f"There is no model list at {public_url(url)} (404): check the base URL "
                    "(for most servers it ends in /v1)."
                )
            raise self._http_error(response.status_code, message)
        try:
            data = response.json().get("data")
            models = sorted({str(item["id"]) for item in data})
        except (ValueError, AttributeError, KeyError, TypeError) as error:
            raise EngineError(
                f"{public_url(url)} did not answer with a model list: is {self.public_base_url} "
                "an OpenAI-compatible API?"
            ) from error
        return models

    # -- one attempt --------------------------------------------------------------------------

    def _attempt(
        self,
        messages: list[Message],
        json_schema: dict[str, Any] | None,
        max_tokens: int,
        cancel: CancelToken,
    ) -> Iterator[Chunk]:
        quirks = known_quirks(self.base_url, self.model)
        sent_messages, body = self._request_body(messages, json_schema, max_tokens, quirks)
        request = self._client.build_request(
            "POST",
            f"{self.base_url}/chat/completions",
            json=body,
            headers={"Accept": "text/event-stream"},
        )
        response = self._send(request, cancel)
        try:
            if response.status_code != 200:
                self._refused(response, quirks, json_schema is not None)
            if response.headers.get("content-type", "").startswith("application/json"):
                # Some servers ignore "stream": true and answer in one piece.
                yield from self._whole_answer(response, sent_messages, max_tokens, cancel)
            else:
                with cancel.on_cancel(_interrupter(response)):
                    yield from self._streamed_answer(response, sent_messages, max_tokens, cancel)
        finally:
            response.close()

    def _request_body(
        self,
        messages: list[Message],
        json_schema: dict[str, Any] | None,
        max_tokens: int,
        quirks: ServerQuirks,
    ) -> tuple[list[Message], dict[str, Any]]:
        if json_schema is not None and quirks.structured != "json_schema":
            messages = _with_instruction(messages, json_instruction(json_schema))
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if quirks.temperature:
            body["temperature"] = self.temperature
        body[quirks.max_tokens_field] = max_tokens
        if quirks.stream_options:
            body["stream_options"] = {"include_usage": True}
        if json_schema is not None and quirks.structured == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                # strict mode would demand additionalProperties false and every field required
                "json_schema": {"name": _schema_name(json_schema), "schema": json_schema},
            }
        elif json_schema is not None and quirks.structured == "json_object":
            body["response_format"] = {"type": "json_object"}
        return messages, body

    def _send(self, request: httpx.Request, cancel: CancelToken) -> httpx.Response:
        """Send and wait for the response headers; a cancel stops the wait at once."""
        pending = _PendingSend()
        helper = threading.Thread(
            target=pending.run, args=(self._client, request), daemon=True, name="docpulse-send"
        )
        with cancel.on_cancel(pending.ready.set):
            helper.start()
            pending.ready.wait()
        try:
            return pending.result(cancel)
        except httpx.TransportError as error:
            raise self._transport_failure(error, answering=False) from error

    def _refused(self, response: httpx.Response, quirks: ServerQuirks, wants_json: bool) -> None:
        """Turn a non-200 answer into the right exception (always raises)."""
        status = response.status_code
        try:
            raw = b""
            for part in response.iter_bytes():
                raw += part
                if len(raw) >= ERROR_BODY_LIMIT:
                    break
            body = raw[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
        except httpx.HTTPError:
            body = ""
        message = self._clean(server_message(body))
        if status == 429 and _out_of_quota(body):
            # OpenAI says 429 for an empty account too: waiting will not refill it.
            raise EngineError(
                f"The account at {self.public_base_url} is out of credit or quota (429): "
                "check the plan and billing details with the provider."
            )
        if is_retryable_status(status):
            raise RetryableError(
                _status_reason(status),
                retry_after=parse_retry_after(response.headers),
                status=status,
                detail=message,
            )
        if status in (400, 422):
            try:
                new_quirks, notice = _step_down(quirks, message, wants_json)
            except LookupError:
                pass
            else:
                raise _Renegotiate(new_quirks, notice)
        raise self._http_error(status, message)

    def _http_error(self, status: int, message: str) -> EngineError:
        error = self._http_error_sentence(status, message)
        error.status_code = status  # lets the pipeline stop a batch the provider refuses outright
        return error

    def _http_error_sentence(self, status: int, message: str) -> EngineError:
        base = self.public_base_url
        said = f": {_sentence(message)}" if message else ""
        if status == 401:
            if self._api_key is None:
                return EngineError(f"{base} wants an API key (401): set ANALYZER_API_KEY.")
            return EngineError(f"The API key was refused (401) by {base}: check ANALYZER_API_KEY.")
        if status == 403:
            return EngineError(
                f"Access was denied (403) by {base} for model '{self.model}'{said}. Check that "
                "the key may use this model and that the account has credit."
            )
        if status == 404:
            if "model" in message.lower() or not message:
                return EngineError(
                    f"Model '{self.model}' was not found at {base} (404): check the model name "
                    "(GET /models lists them)."
                )
            return EngineError(
                f"Nothing was found at {base}/chat/completions (404){said}. Check the base URL "
                "(for most servers it ends in /v1) and the model name."
            )
        if status == 413:
            return EngineError(
                f"The request was too large for {base} (413): lower the context size "
                "(context_tokens) so documents are sent in smaller pieces."
            )
        if status in (400, 422):
            return EngineError(f"The provider at {base} refused the request ({status}){said}.")
        return EngineError(f"The provider at {base} answered with an error ({status}){said}.")

    def _transport_failure(
        self, error: httpx.TransportError, *, answering: bool
    ) -> RetryableError | EngineError:
        """A network failure: worth retrying, except a URL we can never reach."""
        if isinstance(error, httpx.UnsupportedProtocol):
            return EngineError(
                f"The base URL {self.public_base_url} is not an http:// or https:// URL."
            )
        short = self._clean(str(error) or type(error).__name__, limit=120)
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            reason = f"could not connect to the provider ({short})"
        elif isinstance(error, httpx.ReadTimeout):
            reason = (
                f"the answer stream stalled for {self.read_timeout:g} s"
                if answering
                else f"no answer from the provider within {self.read_timeout:g} s"
            )
        elif isinstance(error, httpx.TimeoutException):
            reason = "the request timed out before it was sent"
        elif answering:
            reason = "the answer stream broke off before the end"
        else:
            reason = "the connection was closed before an answer arrived"
        return RetryableError(reason, detail=short)

    # -- reading answers ------------------------------------------------------------------------

    def _streamed_answer(
        self,
        response: httpx.Response,
        sent_messages: list[Message],
        max_tokens: int,
        cancel: CancelToken,
    ) -> Iterator[Chunk]:
        parts: list[str] = []
        usage: Usage | None = None
        finish_reason: str | None = None
        done = False
        try:
            for event in sseclient.SSEClient(response.iter_bytes()).events():
                if event.data.strip() == "[DONE]":
                    done = True
                    break
                try:
                    payload = json.loads(event.data)
                except ValueError:
                    raise RetryableError("the provider sent a malformed chunk") from None
                if not isinstance(payload, dict):
                    raise RetryableError("the provider sent a malformed chunk")
                if payload.get("error"):
                    said = self._clean(server_message(json.dumps(payload)))
                    raise RetryableError(
                        f"the provider reported an error mid-answer ({said})", detail=said
                    )
                usage = _usage_from(payload.get("usage")) or usage
                for choice in payload.get("choices") or []:
                    if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                        continue
                    delta = choice.get("delta") or {}
                    text = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(text, str) and text:
                        parts.append(text)
                        yield Chunk(text=text)
                    finish_reason = choice.get("finish_reason") or finish_reason
        except httpx.TransportError as error:
            if cancel.cancelled:
                raise Cancelled() from None
            if finish_reason is None:  # a cut after the finish chunk loses nothing
                raise self._transport_failure(error, answering=True) from error
        except Exception:
            if cancel.cancelled:  # the socket was shut under the reader: any error can surface
                raise Cancelled() from None
            raise
        if cancel.cancelled:
            raise Cancelled()
        if not done and finish_reason is None:
            raise RetryableError("the answer stream broke off before the end")
        yield from self._finish(parts, usage, finish_reason, sent_messages, max_tokens)

    def _whole_answer(
        self,
        response: httpx.Response,
        sent_messages: list[Message],
        max_tokens: int,
        cancel: CancelToken,
    ) -> Iterator[Chunk]:
        with cancel.on_cancel(_interrupter(response)):
            try:
                response.read()
            except httpx.TransportError as error:
                if cancel.cancelled:
                    raise Cancelled() from None
                raise self._transport_failure(error, answering=True) from error
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise RetryableError("the provider sent an unreadable answer") from None
        if not isinstance(text, str):
            raise RetryableError("the provider sent an unreadable answer")
        if text:
            yield Chunk(text=text)
        yield from self._finish(
            [text],
            _usage_from(payload.get("usage")),
            choice.get("finish_reason"),
            sent_messages,
            max_tokens,
        )

    def _finish(
        self,
        parts: list[str],
        usage: Usage | None,
        finish_reason: str | None,
        sent_messages: list[Message],
        max_tokens: int,
    ) -> Iterator[Chunk]:
        if finish_reason == "length":
            yield Chunk(notice=f"the answer reached max_tokens ({max_tokens}) and was cut short")
        elif finish_reason == "content_filter":
            yield Chunk(notice="the provider's content filter cut the answer short")
        if usage is None:
            usage = Usage(
                input_tokens=sum(estimate_tokens(str(m.get("content", ""))) for m in sent_messages),
                output_tokens=estimate_tokens("".join(parts)),
                estimated=True,
            )
        yield Chunk(usage=usage)

    # -- pacing ---------------------------------------------------------------------------------

    @contextmanager
    def _slot(self, cancel: CancelToken) -> Iterator[None]:
        """Hold one of ``max_concurrency`` slots while a request runs (waits interruptibly)."""
        if self._slots is None:
            yield
            return
        while not self._slots.acquire(timeout=0.2):
            cancel.raise_if_cancelled()
        try:
            yield
        finally:
            self._slots.release()

    def _pace(
        self, messages: list[Message], max_tokens: int, cancel: CancelToken
    ) -> Iterator[Chunk]:
        """Wait as the client-side rate limits say before sending a request."""
        delay = 0.0
        if self._request_bucket is not None:
            delay = self._request_bucket.reserve(1)
        if self._token_bucket is not None:
            # Providers count max_tokens against the quota up front, so do we.
            tokens = sum(estimate_tokens(str(m.get("content", ""))) for m in messages) + max_tokens
            delay = max(delay, self._token_bucket.reserve(tokens))
        if delay <= 0:
            return
        if delay >= 0.5:
            yield Chunk(
                notice=f"waiting {delay:.1f} s to stay under the rate limit set for {self.label}"
            )
        if cancel.wait(delay):
            raise Cancelled()

    def _clean(self, text: str, limit: int = MESSAGE_LIMIT) -> str:
        secrets = (self._api_key.reveal(),) if self._api_key is not None else ()
        return sanitise(text, secrets, limit)


def _out_of_quota(body: str) -> bool:
    text = body.lower()
    return "insufficient_quota" in text or "exceeded your current quota" in text


def _status_reason(status: int) -> str:
    if status == 429:
        return "rate limited by the provider (429)"
    if status == 408:
        return "the provider timed out (408)"
    if status == 409:
        return "the provider reported a conflict (409)"
    return f"the provider had a server error ({status})"
