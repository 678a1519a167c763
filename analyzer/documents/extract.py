"""extract(): one document → ExtractedDocument, or a DocumentError with one clear sentence.

The parsing itself runs in a worker process (see sandbox.py) under the time and memory bounds
of `Limits`; this module checks what can be checked cheaply first (type, size) and judges the
result (a PDF whose pages hold no text is a scan).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .archive import archive_problem
from .errors import DocumentError
from .extracted import ExtractedDocument
from .formats import ARCHIVE_SUFFIXES, check_size, head_bytes, kind_of, open_pages
from .limits import Limits, human_size
from .protocol import WorkerGone
from .sandbox import Worker, shared_pool
from .source import Source

_DEFAULT_LIMITS = Limits()
_MAX_MESSAGE_CHARS = 600
# Processes can be bounded and killed on POSIX; elsewhere documents are read in-process.
CAN_ISOLATE = os.name == "posix"


def extract(source: Source, limits: Limits = _DEFAULT_LIMITS) -> ExtractedDocument:
    """Read one document. Safe to call from several threads at once."""
    if source.suffix in ARCHIVE_SUFFIXES:
        raise archive_problem(source.name, _archive_input(source), limits)
    kind = kind_of(source, head_bytes(source))
    check_size(source, _size(source), limits)
    if limits.isolate and CAN_ISOLATE:
        count, pages = _read_isolated(source, limits)
    else:
        stream = open_pages(source, limits)
        count, pages = stream.count, list(stream.pages)
    if not any(page.strip() for page in pages):
        raise _no_text(source.name, kind, count)
    return ExtractedDocument(source.name, pages)


def _no_text(name: str, kind: str, count: int) -> DocumentError:
    if kind == "pdf":
        pages = f"{count:,} page" + ("" if count == 1 else "s")
        return DocumentError(
            f"{name} has no extractable text on its {pages}: it is probably a scan "
            "(images only); run OCR on it first.",
            pages=count,
        )
    return DocumentError(f"{name} contains no text.", pages=count)


def _size(source: Source) -> int:
    if source.data is not None:
        return len(source.data)
    assert source.path is not None
    try:
        return source.path.stat().st_size
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DocumentError(f"{source.name} could not be read ({reason}).") from None


def _archive_input(source: Source) -> bytes | Path:
    if source.data is not None:
        return source.data
    assert source.path is not None
    return source.path


def _read_isolated(source: Source, limits: Limits) -> tuple[int, list[str]]:
    request = {
        "name": source.name,
        "path": str(source.path.resolve()) if source.data is None and source.path else None,
        "inline": source.data is not None,
        "limits": limits.to_dict(),
    }
    pool = shared_pool()
    for attempt in (1, 2):
        with pool.worker() as worker:
            try:
                worker.send(request, source.data)
            except OSError:
                # The worker died while idle (killed from outside): one retry on a fresh one.
                worker.kill()
                if attempt == 1:
                    continue
                raise _crashed(source.name, None, limits) from None
            return _collect(worker, source.name, limits)
    raise _crashed(source.name, None, limits)  # pragma: no cover - the loop returns or raises


def _collect(worker: Worker, name: str, limits: Limits) -> tuple[int, list[str]]:
    deadline = time.monotonic() + limits.max_seconds
    count: int | None = None
    pages: list[str] = []
    while True:
        try:
            message = worker.receive(deadline)
        except TimeoutError:
            worker.kill()
            raise DocumentError(
                f"{name} took longer than {limits.max_seconds:g} s to read and was stopped; "
                "the file may be damaged or hostile, or too large for the time limit.",
                pages=count,
            ) from None
        except (WorkerGone, ValueError):
            worker.kill()
            raise _crashed(name, count, limits) from None
        kind = message.get("type")
        if kind == "count":
            count = int(message["count"])
        elif kind == "page":
            pages.append(str(message["text"]))
        elif kind == "done":
            worker.documents += 1
            if message.get("retire"):
                worker.healthy = False
            return (count if count is not None else len(pages)), pages
        elif kind == "error":
            worker.documents += 1
            if message.get("retire"):
                worker.healthy = False
            pages_known = message.get("pages")
            raise DocumentError(
                str(message.get("message", ""))[:_MAX_MESSAGE_CHARS]
                or f"{name} could not be read.",
                pages=int(pages_known) if pages_known is not None else count,
            )
        else:
            worker.kill()
            raise _crashed(name, count, limits)


def _crashed(name: str, pages: int | None, limits: Limits) -> DocumentError:
    return DocumentError(
        f"{name} stopped the document reader unexpectedly (it may have needed more than "
        f"{human_size(limits.max_memory_bytes)} of memory); the file may be damaged or hostile.",
        pages=pages,
    )
