"""Word .docx → text: paragraphs and tables in document order, then cut into pages.

A .docx is a zip of XML parts; the archive is checked (member count, declared sizes) before
python-docx unpacks anything, so a zip bomb dressed as a .docx is refused up front.
"""

from __future__ import annotations

import io
import zipfile

from .errors import DocumentError
from .limits import Limits
from .pages import PageStream
from .text import split_pages

# A real .docx has a few dozen parts; its XML rarely inflates beyond 30x.
MAX_PARTS = 5_000
MAX_INFLATION = 100


def open_docx(name: str, data: bytes, limits: Limits) -> PageStream:
    _check_archive(name, data, limits)
    from docx import Document  # imported here: only .docx files pay for it

    try:
        document = Document(io.BytesIO(data))
        blocks = list(_blocks(document))
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - python-docx/lxml raise many kinds on broken input
        raise DocumentError(
            f"{name} is not a valid Word document (the file is damaged or is not a .docx)."
        ) from None
    pages = split_pages("\n".join(blocks))
    return PageStream(len(pages), iter(pages))


def _check_archive(name: str, data: bytes, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DocumentError(
            f"{name} is not a valid Word document (the file is damaged or is not a .docx)."
        ) from None
    declared = sum(info.file_size for info in infos)
    if len(infos) > MAX_PARTS or declared > min(
        limits.max_memory_bytes // 4, max(len(data), 2**20) * MAX_INFLATION
    ):
        raise DocumentError(
            f"{name} was not read because it unpacks to {declared / 2**20:,.0f} MB, far more "
            "than a Word document holds; the file may be hostile."
        )


def _blocks(document: object) -> list[str]:
    """Header, body (paragraphs and tables in order), footer: each block one line of text."""
    from docx.table import Table

    blocks: list[str] = []
    sections = getattr(document, "sections", [])
    first = sections[0] if sections else None
    if first is not None:
        blocks.extend(p.text for p in first.header.paragraphs if p.text.strip())
    for item in document.iter_inner_content():  # type: ignore[attr-defined]
        if isinstance(item, Table):
            blocks.extend(_table_rows(item))
        elif item.text.strip():
            blocks.append(item.text)
    if first is not None:
        blocks.extend(p.text for p in first.footer.paragraphs if p.text.strip())
    return blocks


def _table_rows(table: object) -> list[str]:
    rows: list[str] = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            # A merged cell is reported once per grid column it spans: keep it once.
            if not cells or text != cells[-1]:
                cells.append(text)
        if any(cells):
            rows.append(" | ".join(cells))
    return rows
