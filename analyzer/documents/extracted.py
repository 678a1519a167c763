"""The result of reading one document: its text, page by page."""

from __future__ import annotations

from dataclasses import dataclass

# Between pages in `ExtractedDocument.text`: visible to a model, unlikely in real text.
PAGE_SEPARATOR = "\n\n--- page break ---\n\n"


@dataclass
class ExtractedDocument:
    name: str
    pages: list[str]

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def text(self) -> str:
        return PAGE_SEPARATOR.join(self.pages)
