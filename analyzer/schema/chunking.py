"""Long documents: split the text into chunks that fit the context, merge the per-chunk answers.

Splitting follows page boundaries (a chunk is a run of whole pages), then paragraphs, then
sentences, then a hard cut, so no chunk is over the budget and no text is lost. A little overlap
between consecutive pieces of one page keeps a value that straddles a cut findable.

Merging, per field type:
- list: the union of all chunks' items, in document order, without duplicates;
- text fields whose name suggests prose (summary, description, notes, key_points…): the
  non-empty parts joined in order, up to a cap;
- everything else (numbers, dates, enums, booleans, short text): the value most chunks agree
  on; on a tie, the one that appears first in the document (headers and first pages carry
  invoice numbers, dates and parties).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from analyzer.schema.fields import Schema

PAGE_JOIN = "\n\n"
PROSE_HINTS = ("summary", "description", "notes", "comment", "abstract", "overview")
MAX_MERGED_TEXT = 2_000


def split_text(pages: list[str], max_chars: int, overlap_chars: int = 200) -> list[str]:
    if max_chars < 100:
        raise ValueError("max_chars must be at least 100")
    overlap = min(overlap_chars, max_chars // 4)
    chunks: list[str] = []
    current = ""
    for page in pages:
        pieces = [page] if len(page) <= max_chars else _split_long(page, max_chars, overlap)
        for piece in pieces:
            candidate = f"{current}{PAGE_JOIN}{piece}" if current else piece
            if len(candidate) <= max_chars:
                current = candidate
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current or not chunks:
        chunks.append(current)
    return chunks


def _split_long(text: str, max_chars: int, overlap: int) -> list[str]:
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_chars)
        if end < len(text):
            end = _best_cut(text, start, end)
        pieces.append(text[start:end])
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return pieces


def _best_cut(text: str, start: int, end: int) -> int:
    """The last paragraph break, else sentence end, else space in the second half of the window."""
    floor = start + (end - start) // 2
    window = text[floor:end]
    for pattern in (r"\n\s*\n", r"[.!?。！？]\s", r"\s"):
        matches = list(re.finditer(pattern, window))
        if matches:
            return floor + matches[-1].end()
    return end


def merge_answers(schema: Schema, answers: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in schema.fields:
        values = [a.get(item.name) for a in answers if a.get(item.name) not in (None, "", [])]
        if not values:
            merged[item.name] = None
        elif item.type == "list":
            union: list[Any] = []
            for value in values:
                union.extend(v for v in value if v not in union)
            merged[item.name] = union
        elif item.type == "text" and any(h in item.name.lower() for h in PROSE_HINTS):
            merged[item.name] = " ".join(dict.fromkeys(str(v) for v in values))[:MAX_MERGED_TEXT]
        else:
            counts = Counter(repr(v) for v in values)
            best = max(counts.values())
            merged[item.name] = next(v for v in values if counts[repr(v)] == best)
    return merged
