"""The worker process: reads documents sent by `sandbox.WorkerPool`, one at a time.

Started as `python -c ... analyzer.documents.worker` by the parent; it runs until its standard
input closes. Each document is read under an address-space limit (RLIMIT_AS), so a
decompression bomb ends in MemoryError here instead of swapping the machine; the parent adds
the wall-clock limit by killing this process.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import IO, Any

from .errors import DocumentError
from .formats import open_pages
from .limits import Limits, human_size
from .protocol import encode_message, read_frame_blocking, write_frame
from .source import Source

# Room above the interpreter's own footprint, so a tiny limit still lets Python work.
_MIN_HEADROOM = 16 * 2**20
# A worker whose address space grew this much past its start (a large document leaves its
# allocator arenas behind) exits after the document, so the next one gets its full allowance.
RECYCLE_GROWTH = 64 * 2**20
_baseline_vm = 0


def main() -> None:
    requests = sys.stdin.buffer
    # Frames go to a private copy of stdout; anything printed by a library lands on stderr
    # instead of corrupting the protocol.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    global _baseline_vm
    _baseline_vm = _vm_size_bytes()
    _send(replies, {"type": "ready", "pid": os.getpid()})
    while True:
        header = read_frame_blocking(requests)
        if header is None:
            return
        request = _parse(header)
        data = read_frame_blocking(requests) if request.get("inline") else None
        if request.get("inline") and data is None:
            return
        if not _serve(replies, request, data):
            return


def _parse(header: bytes) -> dict[str, Any]:
    return json.loads(header)


def _serve(replies: IO[bytes], request: dict[str, Any], data: bytes | None) -> bool:
    """Read one document and stream its pages back. False: this process should exit."""
    limits = Limits(**request["limits"])
    name = request["name"]
    path = request.get("path")
    source = Source(name, path=Path(path) if path else None, data=data)
    pages: int | None = None
    failure: DocumentError | str | None = None
    limit = _limit_memory(limits.max_memory_bytes)
    try:
        stream = open_pages(source, limits)
        pages = stream.count
        _send(replies, {"type": "count", "count": pages})
        for page in stream.pages:
            _send(replies, {"type": "page", "text": page})
    except DocumentError as error:
        failure = error
    except MemoryError:
        failure = "memory"  # sentences are built below, once memory is released
    except RecursionError:
        failure = "nesting"
    except Exception as error:  # noqa: BLE001 - one bad document must yield a row, not a crash
        failure = type(error).__name__
    del source, data
    _unlimit_memory()
    grown = _vm_size_bytes() > _baseline_vm + RECYCLE_GROWTH
    if failure is None:
        _send(replies, {"type": "done", "retire": grown})
        return not grown
    if isinstance(failure, DocumentError):
        message, pages = str(failure), failure.pages
    elif failure == "memory":
        message = (
            f"{name} needs more than {human_size(limit)} of memory to read, the limit per "
            "document; the file may be damaged or hostile."
        )
    elif failure == "nesting":
        message = f"{name} is nested too deeply to read; the file is damaged or hostile."
    else:
        message = f"{name} could not be read ({failure}); the file may be damaged."
    # After running out of memory, start afresh rather than trust this process.
    retire = grown or failure == "memory"
    _send(replies, {"type": "error", "message": message, "pages": pages, "retire": retire})
    return not retire


def _send(replies: IO[bytes], message: dict[str, Any]) -> None:
    write_frame(replies, encode_message(message))
    replies.flush()


def _limit_memory(max_bytes: int) -> int:
    limit = max(max_bytes, _vm_size_bytes() + _MIN_HEADROOM)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _unlimit_memory() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _status_field(field: str) -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _vm_size_bytes() -> int:
    return _status_field("VmSize:")


if __name__ == "__main__":
    main()
