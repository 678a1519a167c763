"""Plain text files (.txt, .md, .csv, .tsv) → pages of a readable size.

Text files have no pages, so form feeds split them, then ~3,000-character pieces cut at a line
break: a "page" of text then means about what a printed page holds.
"""

from __future__ import annotations

from .charset import NotText, decode_text
from .errors import DocumentError
from .limits import Limits
from .pages import PageStream

PAGE_CHARS = 3_000


def open_text(name: str, data: bytes, limits: Limits) -> PageStream:
    try:
        text, _encoding = decode_text(data)
    except NotText:
        raise DocumentError(
            f"{name} is not a text file (it contains binary data) although its name says so."
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pages = split_pages(text)
    return PageStream(len(pages), iter(pages))


def split_pages(text: str, page_chars: int = PAGE_CHARS) -> list[str]:
    pages: list[str] = []
    for part in text.split("\f"):
        pages.extend(_cut(part, page_chars))
    return pages or [""]


def _cut(text: str, page_chars: int) -> list[str]:
    pieces: list[str] = []
    while len(text) > page_chars:
        # Prefer a line break in the second half of the window, else a space, else cut hard.
        window = text[:page_chars]
        cut = window.rfind("\n", page_chars // 2)
        if cut < 0:
            cut = window.rfind(" ", page_chars // 2)
        cut = cut + 1 if cut >= 0 else page_chars
        pieces.append(text[:cut])
        text = text[cut:]
    if text or not pieces:
        pieces.append(text)
    return pieces
