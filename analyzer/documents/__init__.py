"""Documents: bytes → pages of text.

    sources = expand_paths(["inbox/", "batch.zip"])   # or expand_upload(name, data)
    document = extract(sources[0])                     # DocumentError: one clear sentence
    document.pages, document.page_count, document.text

PDF (pypdf), Word .docx (python-docx) and text files (.txt .md .csv .tsv, with Japanese
encodings detected) are read; folders and .zip archives expand to their documents.
`extract()` reads each document in a reusable worker process under the bounds of `Limits`
(size, pages, characters, seconds, memory), so a hostile file costs one failed row.
"""

from __future__ import annotations

from .errors import DocumentError
from .expand import expand_paths, expand_upload
from .extract import extract
from .extracted import PAGE_SEPARATOR, ExtractedDocument
from .formats import SUPPORTED_SUFFIXES, iter_pages
from .limits import Limits
from .source import Source

__all__ = [
    "PAGE_SEPARATOR",
    "SUPPORTED_SUFFIXES",
    "DocumentError",
    "ExtractedDocument",
    "Limits",
    "Source",
    "expand_paths",
    "expand_upload",
    "extract",
    "iter_pages",
]
