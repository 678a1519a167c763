"""Bytes of a text file → str, getting Japanese legacy encodings right.

Order: a byte-order mark → strict UTF-8 → Shift_JIS (cp932) and EUC-JP, each decoded strictly
and kept only when the result reads like Japanese → charset-normalizer for everything else.
Generic detectors often mistake short Japanese texts (an invoice of ten lines) for
Chinese or Korean encodings, which is why the Japanese candidates are tried first.
"""

from __future__ import annotations

import codecs
import unicodedata

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
JAPANESE_CANDIDATES = ("cp932", "euc_jp")
# Share of non-ASCII characters that must look like ordinary Japanese for a candidate to win.
PLAUSIBLE_SHARE = 0.8
# charset-normalizer looks at samples of this size; larger files are not read whole for it.
_DETECTOR_SAMPLE_BYTES = 1 * 2**20
_TIE = 0.01
_PREFERRED_ON_TIE = ("cp1252",)


class NotText(ValueError):
    """The bytes do not decode as text in any encoding we trust."""


def decode_text(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name). Raises NotText for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    japanese = _best_japanese(data)
    if japanese is not None:
        return japanese
    return _detect(data)


def _best_japanese(data: bytes) -> tuple[str, str] | None:
    best: tuple[float, str, str] | None = None
    for encoding in JAPANESE_CANDIDATES:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        score = japanese_plausibility(text)
        if score >= PLAUSIBLE_SHARE and (best is None or score > best[0]):
            best = (score, text, encoding)
    return None if best is None else (best[1], best[2])


def japanese_plausibility(text: str) -> float:
    """Share of non-ASCII characters that ordinary Japanese text is made of: kana, common
    (JIS level 1) kanji, Japanese punctuation and full-width forms. Text in Latin-1/cp1252
    or EUC-JP read as Shift_JIS turns into half-width katakana and rare kanji instead."""
    plausible = total = 0
    for char in text:
        if char < "\x80":
            continue
        total += 1
        if _is_common_japanese(char):
            plausible += 1
    return plausible / total if total else 0.0


def _is_common_japanese(char: str) -> bool:
    code = ord(char)
    if 0x3000 <= code <= 0x30FF:  # punctuation, hiragana, katakana
        return True
    if 0xFF01 <= code <= 0xFF5E or code in (0xFFE5, 0x00A5):  # full-width forms, yen signs
        return True
    if 0x4E00 <= code <= 0x9FFF:
        try:
            lead = char.encode("cp932")[0]
        except UnicodeEncodeError:
            return False
        return 0x88 <= lead <= 0x98  # JIS X 0208 level 1: the kanji everyday text uses
    # Symbols a Japanese business text uses: ○ ※ → ① ×, Greek/Cyrillic from JIS row 6-7.
    return unicodedata.category(char) in ("So", "Sm") or 0x2460 <= code <= 0x24FF


def _detect(data: bytes) -> tuple[str, str]:
    if b"\x00" in data[:4096] and not _looks_like_utf16(data):
        raise NotText("binary data")
    matches = list(from_bytes(data[:_DETECTOR_SAMPLE_BYTES]))
    if not matches:
        raise NotText("no text encoding fits")
    best = matches[0]
    # Short Western text fits several code pages about equally well ('é' is the same byte in
    # cp1250 and cp1252, 'è' is not) and coherence is noise on a few lines: when the most
    # common code page decodes it as cleanly as the best guess, it wins.
    tied = [match.encoding for match in matches if match.chaos <= best.chaos + _TIE]
    encoding = next((e for e in _PREFERRED_ON_TIE if e in tied), best.encoding)
    return data.decode(encoding, errors="replace"), encoding


def _looks_like_utf16(data: bytes) -> bool:
    """UTF-16 without a BOM: NULs in every other byte of an ASCII-heavy start."""
    head = data[:4096]
    return head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4
