"""What every engine (OpenAI-compatible HTTP, local llama.cpp, fakes) looks like to the pipeline.

An engine turns chat messages into a stream of ``Chunk``s. It owns retries and structured-output
negotiation; the pipeline only sees text deltas, notices (for the job log) and final usage.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False  # True when counted by estimate_tokens, not reported by the model


@dataclass(frozen=True)
class Chunk:
    """One item of an engine's stream.

    text:    answer text to append (may be empty)
    restart: the answer so far is void (a broken stream is being retried): drop it
    notice:  a human sentence for the job log ("rate limited (429); retrying in 2.0 s")
    usage:   set on the last chunk of a successful answer
    """

    text: str = ""
    restart: bool = False
    notice: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_million
            + usage.output_tokens * self.output_per_million
        ) / 1_000_000


class EngineError(Exception):
    """A request failed for good (after any retries).

    ``str(error)`` is one clear sentence for an analyst that says what to do next,
    e.g. "The API key was refused (401): check ANALYZER_API_KEY." It never contains the key.
    ``status_code`` is the provider's HTTP status when one caused the failure.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class Cancelled(Exception):
    """The caller cancelled the work (closing the generator, a cancel button)."""


class CancelToken:
    """A cancel flag that can also interrupt blocking I/O.

    Code that blocks (an HTTP read, a sleep) registers a closer with ``on_cancel``; ``cancel()``
    sets the flag and calls every registered closer, so a stuck read ends at once instead of
    waiting for its timeout.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._closers: dict[int, Callable[[], Any]] = {}
        self._next = 0

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            closers = list(self._closers.values())
        for close in closers:
            try:
                close()
            except Exception:  # noqa: BLE001 - a closer failing must not stop the others
                pass

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True (early) if cancelled."""
        return self._event.wait(seconds)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    @contextmanager
    def on_cancel(self, close: Callable[[], Any]) -> Iterator[None]:
        with self._lock:
            key = self._next
            self._next += 1
            self._closers[key] = close
        try:
            if self._event.is_set():
                close()
            yield
        finally:
            with self._lock:
                self._closers.pop(key, None)


class Engine(Protocol):
    """The interface the pipeline drives."""

    #: shown in logs and stored with a job; must never contain an API key
    label: str
    #: None = no limit of its own; the local model says 1 (one generation at a time)
    max_concurrency: int | None
    #: tokens of document text one request may carry (the pipeline chunks longer documents)
    context_tokens: int
    price: Price

    def stream(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        """Stream one answer. Raises EngineError (final failure) or Cancelled."""
        ...

    def close(self) -> None: ...


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    """A cheap token estimate for when a server reports no usage.

    Roughly 4 characters per token for Latin text and ~1 token per CJK character,
    which is what BPE tokenizers of current models give within ~20 %.
    """
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    return cjk + max(1, (len(text) - cjk + 3) // 4) if len(text) > cjk else cjk
