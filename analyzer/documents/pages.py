"""A document opened for reading: its page count, then its pages one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class PageStream:
    """`count` is known as soon as the document is open; `pages` yields the text of each page
    lazily, so a 2,000-page PDF never holds more than one page's parse at a time."""

    count: int
    pages: Iterator[str]
