"""Bounds per document, so one hostile or absurd file cannot stall or sink a batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MB = 2**20


@dataclass(frozen=True)
class Limits:
    """Defaults suit thousands of ordinary PDFs a day: a 300-page annual report passes easily,
    a decompression bomb or a PDF claiming a million pages does not."""

    max_bytes: int = 200 * MB  # size of one document as uploaded
    max_pages: int = 5000
    max_seconds: float = 60.0  # wall clock for reading one document (parse + text extraction)
    max_memory_bytes: int = 1024 * MB  # address space of the process that reads one document
    max_chars: int = 20_000_000  # text extracted from one document
    # Archives (.zip uploads and folders' .zip files): checked before anything is unpacked.
    max_archive_members: int = 10_000
    max_archive_bytes: int = 1024 * MB  # total uncompressed size of the members kept
    # Read each document in a separate, reusable worker process, where time and memory can be
    # bounded and a crash costs one row. False reads in-process (page and character limits
    # still apply; time and memory do not): for debugging, or platforms without `resource`.
    isolate: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def human_size(size: int) -> str:
    """'250 MB', '1.5 MB' or '20 KB': sizes in sentences for analysts."""
    if size < MB:
        return f"{max(1, round(size / 1024)):,} KB"
    value = size / MB
    return f"{value:,.0f} MB" if value >= 10 else f"{value:.1f} MB"
