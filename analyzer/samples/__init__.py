"""Sample documents that ship with DocPulse, so a new user sees it work at once.

Invented English and Japanese business documents (invoices, letters, reports, a contract) in
the formats analysts send: PDF, Word and plain text. `labels.json` beside them holds their true
field values for the `invoice` and `summary` presets; `make_samples.py` regenerates them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analyzer.documents import SUPPORTED_SUFFIXES, Source

SAMPLES_DIR = Path(__file__).resolve().parent
LABELS_PATH = SAMPLES_DIR / "labels.json"


def sample_paths() -> list[Path]:
    return sorted(
        path
        for path in SAMPLES_DIR.iterdir()
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES
    )


def sample_sources() -> list[Source]:
    """The samples as documents to analyse, in name order."""
    return [Source(path.name, path=path) for path in sample_paths()]


def sample_labels() -> dict[str, dict[str, Any]]:
    """{file name: {"invoice": {...}, "summary": {...}}}: the true values per preset."""
    return json.loads(LABELS_PATH.read_text(encoding="utf-8"))["documents"]
