"""Which reader handles a document, and the in-process page iterator over all of them."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import DocumentError
from .limits import Limits, human_size
from .pages import PageStream
from .source import Source

PDF_SUFFIXES = frozenset({".pdf"})
WORD_SUFFIXES = frozenset({".docx"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".csv", ".tsv"})
SUPPORTED_SUFFIXES: frozenset[str] = PDF_SUFFIXES | WORD_SUFFIXES | TEXT_SUFFIXES
ARCHIVE_SUFFIXES = frozenset({".zip"})

# What to tell an analyst who drops a file we cannot read.
_HINTS = {
    ".doc": "save it as .docx or PDF first",
    ".rtf": "save it as .docx or PDF first",
    ".odt": "save it as .docx or PDF first",
    ".pptx": "save it as PDF first",
    ".ppt": "save it as PDF first",
    ".xlsx": "save the sheet as .csv first",
    ".xls": "save the sheet as .csv first",
    ".png": "it is an image: run OCR on it and save the result as PDF or text",
    ".jpg": "it is an image: run OCR on it and save the result as PDF or text",
    ".jpeg": "it is an image: run OCR on it and save the result as PDF or text",
    ".tif": "it is an image: run OCR on it and save the result as PDF or text",
    ".tiff": "it is an image: run OCR on it and save the result as PDF or text",
}


def supported_list() -> str:
    return ", ".join(sorted(SUPPORTED_SUFFIXES))


def kind_of(source: Source, head: bytes = b"") -> str:
    """'pdf', 'docx' or 'text' for a supported document; DocumentError otherwise.

    The name decides; the first bytes only rescue a PDF saved without its extension.
    """
    suffix = source.suffix
    if suffix in PDF_SUFFIXES:
        return "pdf"
    if suffix in WORD_SUFFIXES:
        return "docx"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if head.startswith(b"%PDF-") and suffix not in ARCHIVE_SUFFIXES:
        return "pdf"
    if suffix in ARCHIVE_SUFFIXES:
        raise DocumentError(
            f"{source.name} is a .zip archive inside another archive; nested archives are not "
            "expanded: unzip it and add its files."
        )
    shown = suffix or "(no extension)"
    hint = _HINTS.get(suffix)
    raise DocumentError(
        f"{source.name}: unsupported file type {shown}; supported: {supported_list()}"
        + (f" ({hint})." if hint else ".")
    )


def check_size(source: Source, size: int, limits: Limits) -> None:
    if size == 0:
        raise DocumentError(f"{source.name} is empty (0 bytes).")
    if size > limits.max_bytes:
        raise DocumentError(
            f"{source.name} is {human_size(size)}, over the limit of "
            f"{human_size(limits.max_bytes)} per document."
        )


def read(source: Source) -> bytes:
    try:
        return source.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DocumentError(f"{source.name} could not be read ({reason}).") from None


def open_pages(source: Source, limits: Limits) -> PageStream:
    """Open a document in this process: page count now, pages lazily. Raises DocumentError."""
    kind = kind_of(source, head_bytes(source))
    check_size(source, source.size, limits)
    data = read(source)
    check_size(source, len(data), limits)
    if kind == "pdf":
        from .pdf import open_pdf

        stream = open_pdf(source.name, data, limits)
    elif kind == "docx":
        from .word import open_docx

        stream = open_docx(source.name, data, limits)
    else:
        from .text import open_text

        stream = open_text(source.name, data, limits)
    return PageStream(stream.count, _bounded(source.name, stream, limits))


def iter_pages(source: Source, limits: Limits = Limits()) -> Iterator[str]:  # noqa: B008
    """The text of each page, one at a time, read in this process.

    Page and character limits apply; time and memory limits need the worker process that
    `extract()` uses. Raises DocumentError (possibly after some pages were yielded).
    """
    yield from open_pages(source, limits).pages


def _bounded(name: str, stream: PageStream, limits: Limits) -> Iterator[str]:
    # max_pages is the PDF reader's bound (checked when it opens the file); the "pages" of a
    # text or Word file are cut by size, so the character limit is the one that matters there.
    chars = 0
    for page in stream.pages:
        chars += len(page)
        if chars > limits.max_chars:
            raise DocumentError(
                f"{name} holds more than {limits.max_chars:,} characters of text, the limit "
                "per document: split it into smaller files.",
                pages=stream.count,
            )
        yield page


def head_bytes(source: Source) -> bytes:
    if source.data is not None:
        return source.data[:8]
    if source.suffix in SUPPORTED_SUFFIXES or source.path is None:
        return b""
    try:
        with source.path.open("rb") as handle:
            return handle.read(8)
    except OSError:
        return b""
