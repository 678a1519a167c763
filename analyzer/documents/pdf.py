"""PDF → text, one page at a time, through pypdf with tightened resource limits.

Text comes from pypdf's layout mode, which keeps each table row on one line ("Subtotal
2,760.97") where the plain mode puts every cell on a line of its own; the padding it adds to
mimic the page is squeezed out again, so it costs few tokens.

Memory stays flat over long PDFs: pypdf caches every object it parses, so the cache is
dropped whenever it grows past a bound (objects are simply re-read from the file if needed).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

from pypdf import Configuration, PageObject, PdfReader, apply_configuration
from pypdf.errors import FileNotDecryptedError, LimitReachedError

from .errors import DocumentError
from .limits import Limits
from .pages import PageStream

# Parsed objects kept in pypdf's cache before it is cleared (a few MB at most).
OBJECT_CACHE_LIMIT = 500
# Stricter than pypdf's defaults (75 MB per stream): no page's text needs that much.
STREAM_LIMIT_BYTES = 50 * 2**20

# pypdf warns through logging about every small defect in real-world PDFs; not our log's job.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def _configuration() -> Configuration:
    return Configuration().with_overwrites(
        zlib_maximum_output_length=STREAM_LIMIT_BYTES,
        lzw_maximum_output_length=STREAM_LIMIT_BYTES,
        run_length_maximum_output_length=STREAM_LIMIT_BYTES,
        brotli_maximum_output_length=STREAM_LIMIT_BYTES,
        maximum_declared_stream_length=STREAM_LIMIT_BYTES,
        jbig2dec_binary=None,  # never run an external decoder on untrusted input
    )


def damaged(name: str) -> DocumentError:
    return DocumentError(f"{name} is not a valid PDF (the file is damaged or is not a PDF).")


def locked(name: str) -> DocumentError:
    # No page count: pypdf reads no object of a locked file, the page tree's /Count included.
    return DocumentError(
        f"{name} is password-protected: remove the password (or print it to a new PDF) "
        "and add it again."
    )


def too_complex(name: str, pages: int | None) -> DocumentError:
    return DocumentError(
        f"{name} was not read because it exceeds a safety limit of the PDF reader "
        "(a stream or structure too large when decompressed); the file may be hostile.",
        pages=pages,
    )


def open_pdf(name: str, data: bytes, limits: Limits) -> PageStream:
    config = _configuration()
    with apply_configuration(config):
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not _unlock(reader):
                raise locked(name)
            count = len(reader.pages)
        except (DocumentError, MemoryError):
            raise
        except LimitReachedError:
            raise too_complex(name, None) from None
        except FileNotDecryptedError:
            raise locked(name) from None
        except Exception:  # noqa: BLE001 - pypdf raises many kinds of errors on broken input
            raise damaged(name) from None
    if count == 0:
        raise DocumentError(f"{name} is a PDF with no pages.", pages=0)
    if count > limits.max_pages:
        raise DocumentError(
            f"{name} has {count:,} pages, more than the limit of {limits.max_pages:,} pages "
            "per document: split it into smaller files.",
            pages=count,
        )
    return PageStream(count, _pages(name, reader, count, config))


def _unlock(reader: PdfReader) -> bool:
    """Open a PDF encrypted with an empty user password (restrictions only, no secret)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # noqa: BLE001 - an unsupported scheme counts as locked
        return False


def _pages(name: str, reader: PdfReader, count: int, config: Configuration) -> Iterator[str]:
    failed = 0
    for index in range(count):
        # The configuration is applied per step, not across the yield: the caller's code
        # between pages must not run under (or reset) our pypdf settings.
        with apply_configuration(config):
            try:
                text = _page_text(reader.pages[index])
            except MemoryError:
                raise
            except LimitReachedError:
                raise too_complex(name, count) from None
            except Exception:  # noqa: BLE001 - one broken page must not lose the others
                text = ""
                failed += 1
            if len(reader.resolved_objects) > OBJECT_CACHE_LIMIT:
                reader.resolved_objects.clear()
        if failed == count:
            raise DocumentError(
                f"{name} is damaged: none of its {count:,} pages could be read.", pages=count
            )
        yield clean_page_text(text)


_WIDE_GAP = re.compile(r"[ \t]{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def _page_text(page: PageObject) -> str:
    try:
        return page.extract_text(extraction_mode="layout")
    except (LimitReachedError, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - layout mode is pickier than plain mode on odd fonts
        return page.extract_text()


def clean_page_text(text: str) -> str:
    """Column gaps of any width become three spaces, runs of blank lines one blank line."""
    # NUL bytes appear when a font's encoding is misread (some CFF fonts); never real text.
    text = text.replace("\x00", "")
    text = _TRAILING_SPACE.sub("", _WIDE_GAP.sub("   ", text))
    return _BLANK_LINES.sub("\n\n", text).strip("\n")
