"""One document, start to finish: extract → chunk → ask the engine per chunk → merge → one row.

Runs on a worker thread of the pipeline. It never raises for a bad document: every failure
becomes a failed row with one clear sentence. It reports what it does through `notify`
(the pipeline turns those notes into events) and counts through the ProgressTracker.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from analyzer.documents import DocumentError, ExtractedDocument, Limits, Source, extract
from analyzer.engines.base import (
    Cancelled,
    CancelToken,
    Engine,
    EngineError,
    Usage,
    estimate_tokens,
)
from analyzer.progress import ProgressTracker
from analyzer.rows import result_row
from analyzer.schema import Schema, build_messages, merge_answers, parse_answer, split_text

# Below this many text tokens per chunk the prompt would outweigh the document.
MIN_CHUNK_TOKENS = 256
PARTIAL_OUTPUT_CHARS = 400

_request_keys = itertools.count()


@dataclass(frozen=True)
class Note:
    """What a worker tells the pipeline: kind is 'log', 'active', 'partial' or 'done'."""

    kind: str
    index: int
    document: str
    data: dict[str, Any]


Notify = Callable[[Note], None]


class FatalEngineError(Exception):
    """The provider refuses every request (bad key, unknown model): stop the batch."""


# Status codes after which no other document can succeed either.
FATAL_STATUS_CODES = frozenset({401, 403, 404})


@dataclass
class DocumentTask:
    index: int
    source: Source
    schema: Schema
    engine: Engine
    tracker: ProgressTracker
    notify: Notify
    cancel: CancelToken
    model_slots: threading.Semaphore
    inflight: threading.Semaphore | None = None
    limits: Limits | None = None
    _queued_seconds: float = 0.0

    def run(self) -> dict[str, Any] | None:
        """Return the row, or None when cancelled. Raises FatalEngineError only."""
        started = time.monotonic()
        usage = Usage()
        pages: int | None = None
        chunks = 0
        try:
            self._note("active", chunk=None, stage="extracting")
            document = extract(self.source, self.limits or Limits())
            pages = document.page_count
            self.tracker.extracted(self.index, len(document.text))
            texts = self._split(document)
            chunks = len(texts)
            answers = []
            for number, text in enumerate(texts, start=1):
                answer, request_usage = self._ask(text, number, chunks)
                usage = Usage(
                    usage.input_tokens + request_usage.input_tokens,
                    usage.output_tokens + request_usage.output_tokens,
                    usage.estimated or request_usage.estimated,
                )
                answers.append(parse_answer(self.schema, answer))
            fields = answers[0] if len(answers) == 1 else merge_answers(self.schema, answers)
            return self._row("ok", "", pages, fields, usage, started, chunks)
        except Cancelled:
            return None
        except DocumentError as error:
            pages = error.pages if error.pages is not None else pages
            return self._row("failed", str(error), pages, {}, usage, started, chunks)
        except EngineError as error:
            if getattr(error, "status_code", None) in FATAL_STATUS_CODES:
                raise FatalEngineError(str(error)) from error
            return self._row("failed", str(error), pages, {}, usage, started, chunks)
        except ValueError as error:  # AnswerError: the model did not answer with JSON
            return self._row("failed", str(error), pages, {}, usage, started, chunks)
        except Exception as error:  # noqa: BLE001 - one bad document must not end the batch
            message = f"Unexpected error while analysing this document ({type(error).__name__})."
            self._note("log", level="error", message=f"{message} {error}"[:500])
            return self._row("failed", message, pages, {}, usage, started, chunks)

    # --- steps ------------------------------------------------------------------------------
    def _split(self, document: ExtractedDocument) -> list[str]:
        text = document.text
        if not text.strip():
            raise DocumentError(
                f"{self.source.name} has no extractable text ({document.page_count} pages); "
                "it is probably a scan: run OCR on it first.",
            )
        chars_per_token = max(1.0, len(text) / max(1, estimate_tokens(text)))
        # context_tokens is already the room for document text (prompt and answer excluded).
        budget_tokens = max(MIN_CHUNK_TOKENS, self.engine.context_tokens)
        max_chars = int(budget_tokens * chars_per_token)
        if len(text) <= max_chars:
            return [text]
        return split_text(document.pages, max_chars)

    def _ask(self, text: str, number: int, total: int) -> tuple[str, Usage]:
        """Stream one answer for one chunk; return its text and usage."""
        part = (number, total) if total > 1 else None
        messages = build_messages(
            self.schema,
            text,
            document_name=self.source.name,
            part=part,
            compact=bool(getattr(self.engine, "compact_prompt", False)),
        )
        key = next(_request_keys)
        chunk_label = f"{number}/{total}" if total > 1 else None
        with ExitStack() as stack:
            self._acquire(stack, self.model_slots)
            if self.inflight is not None:
                self._acquire(stack, self.inflight)
            self._note("active", chunk=chunk_label, stage="asking")
            answer = ""
            usage: Usage | None = None
            for chunk in self.engine.stream(
                messages, json_schema=self.schema.json_schema(), cancel=self.cancel
            ):
                if chunk.notice:
                    self._note(
                        "log", level="warning" if chunk.restart else "info", message=chunk.notice
                    )
                if chunk.restart:
                    answer = ""
                if chunk.text:
                    answer += chunk.text
                    self.tracker.live_tokens(key, estimate_tokens(answer))
                    self._note("partial", text=answer[-PARTIAL_OUTPUT_CHARS:], chunk=chunk_label)
                if chunk.usage is not None:
                    usage = chunk.usage
        if usage is None:  # an engine that reports nothing: estimate both sides
            prompt = "".join(m["content"] for m in messages)
            usage = Usage(estimate_tokens(prompt), estimate_tokens(answer), estimated=True)
        self.tracker.request_finished(
            key, usage.input_tokens + usage.output_tokens, self.engine.price.cost(usage)
        )
        return answer, usage

    def _acquire(self, stack: ExitStack, semaphore: threading.Semaphore) -> None:
        # Poll so that a cancel is noticed while queued behind other documents.
        queued = time.monotonic()
        while not semaphore.acquire(timeout=0.1):
            self.cancel.raise_if_cancelled()
        self._queued_seconds += time.monotonic() - queued
        stack.callback(semaphore.release)
        self.cancel.raise_if_cancelled()

    # --- output -----------------------------------------------------------------------------
    def _row(
        self,
        status: str,
        error: str,
        pages: int | None,
        fields: dict[str, Any],
        usage: Usage,
        started: float,
        chunks: int,
    ) -> dict[str, Any]:
        return result_row(
            self.source.name,
            self.schema,
            status=status,
            error=error,
            pages=pages,
            fields=fields,
            usage=usage,
            # Time spent on this document, not time spent queued behind others for the model.
            seconds=time.monotonic() - started - self._queued_seconds,
            cost_usd=self.engine.price.cost(usage),
            chunks=chunks,
        )

    def _note(self, kind: str, **data: Any) -> None:
        self.notify(Note(kind, self.index, self.source.name, data))
