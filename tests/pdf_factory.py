"""Real PDFs (and other documents) for tests, generated on the fly.

Text PDFs are drawn with reportlab. Japanese text uses reportlab's built-in CID fonts
(HeiseiKakuGo-W5 / HeiseiMin-W3): they need no font file on the machine and pypdf extracts
their text exactly (pypdf ships the UniJIS-UCS2-H CMap), so no apt fonts are needed.
Encryption goes through pypdf's writer so AES-256 is used, as in real-world files.

The hostile ones (`make_bomb_pdf`, `make_cyclic_pages_pdf`, ...) are written byte by byte:
no well-behaved library would produce them.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

JAPANESE_FONT = "HeiseiKakuGo-W5"
LATIN_FONT = "Helvetica"
_LINE_HEIGHT = 15
_TOP = A4[1] - 72
_LEFT = 60


def _register_japanese_font() -> None:
    if JAPANESE_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(JAPANESE_FONT))


def make_pdf(
    pages: Sequence[str],
    path: str | Path | None = None,
    *,
    password: str | None = None,
    japanese: bool = False,
    compress: bool = True,
) -> bytes:
    """A PDF with one page per string (lines split on '\\n'); text is extractable by pypdf.

    password="" encrypts with an empty user password (opens without asking, as many bank
    statements do); a non-empty password makes a file that cannot be opened without it.
    """
    font = LATIN_FONT
    if japanese:
        _register_japanese_font()
        font = JAPANESE_FONT
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1 if compress else 0)
    for page in pages:
        pdf.setFont(font, 11)
        y = _TOP
        for line in page.split("\n"):
            pdf.drawString(_LEFT, y, line)
            y -= _LINE_HEIGHT
        pdf.showPage()
    pdf.save()
    data = buffer.getvalue()
    if password is not None:
        data = encrypt_pdf(data, password)
    if path is not None:
        Path(path).write_bytes(data)
    return data


# In the base image of every machine (Debian's fonts-dejavu-core).
DEJAVU_SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def make_pdf_with_embedded_font(pages: Sequence[str], font_file: Path = DEJAVU_SANS) -> bytes:
    """Text in an embedded, subset TrueType font (fpdf2), as most office tools write it."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("embedded", fname=str(font_file))
    pdf.set_font("embedded", size=11)
    for page in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, page)
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, user_password: str, owner_password: str = "owner-secret") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password, owner_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_long_pdf(n_pages: int, words_per_page: int = 60) -> bytes:
    """n_pages pages of distinct text: 'Page <n> of <total>' then numbered words."""
    pages = []
    for number in range(1, n_pages + 1):
        words = " ".join(f"w{number}x{i}" for i in range(words_per_page))
        lines = [words[i : i + 90] for i in range(0, len(words), 90)]
        pages.append("\n".join([f"Page {number} of {n_pages}", *lines]))
    return make_pdf(pages)


def make_scanned_pdf(n_pages: int) -> bytes:
    """Image-only pages, like a scanner's output: no text operators at all."""
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for number in range(n_pages):
        image = Image.new("L", (200, 280), color=255)
        draw = ImageDraw.Draw(image)
        for row in range(20, 260, 12):  # grey bars where lines of print would be
            draw.rectangle((20, row, 180 - (row * number) % 60, row + 5), fill=60)
        pdf.drawImage(ImageReader(image), 40, 60, width=500, height=700)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- hand-written PDFs ----------------------------------------------------------------------
def _assemble(objects: Sequence[bytes], *, root: int = 1) -> bytes:
    """A PDF file from numbered object bodies (object n is objects[n-1]), with a correct xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\n" % (len(objects) + 1, root))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _stream(data: bytes, *, flate: bool = False) -> bytes:
    if flate:
        data = zlib.compress(data, 9)
        return (
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + (b"\nendstream")
        )
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def make_bomb_pdf(decompressed_bytes: int = 100 * 2**20) -> bytes:
    """One page whose content stream is a few hundred KB that inflate to `decompressed_bytes`."""
    chunk = b" " * 2**20
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(b"BT /F1 12 Tf 72 720 Td (boom) Tj ET\n")]
    for _ in range(decompressed_bytes // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    packed = b"".join(parts)
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
            + packed
            + b"\nendstream",
            _FONT,
        ]
    )


def make_text_heavy_pdf(operators: int = 400_000) -> bytes:
    """One page with a very long (but legal) content stream: slow to extract, small on disk."""
    body = b"BT /F1 12 Tf 72 720 Td " + b"(a) Tj 1 0 Td " * operators + b"ET"
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(body, flate=True),
            _FONT,
        ]
    )


def make_cyclic_pages_pdf() -> bytes:
    """A page tree whose /Kids point back at itself."""
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(b"BT /F1 12 Tf 72 720 Td (loop) Tj ET"),
            _FONT,
        ]
    )


def make_many_pages_pdf(n_pages: int) -> bytes:
    """n_pages page entries that all share one small page: a tiny file with a huge page count."""
    kids = b" ".join([b"3 0 R"] * n_pages)
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n_pages,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(b"BT /F1 12 Tf 72 720 Td (same page) Tj ET"),
            _FONT,
        ]
    )


def make_lying_count_pdf(claimed_pages: int = 10**9) -> bytes:
    """One real page, but the page tree claims a billion."""
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % claimed_pages,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(b"BT /F1 12 Tf 72 720 Td (one real page) Tj ET"),
            _FONT,
        ]
    )


def truncate(data: bytes, keep: float = 0.5) -> bytes:
    """The first part of a file, as a broken download leaves it."""
    return data[: max(1, int(len(data) * keep))]


# --- other formats ----------------------------------------------------------------------------
def make_docx(paragraphs: Sequence[str], table: Sequence[Sequence[str]] | None = None) -> bytes:
    from docx import Document

    document = Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            if name.endswith("/"):
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()
