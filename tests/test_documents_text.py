"""Text files in the encodings analysts really have, Word documents, and unsupported types."""

from __future__ import annotations

import codecs

import pytest

from analyzer.documents import SUPPORTED_SUFFIXES, DocumentError, Source, extract
from analyzer.documents.charset import decode_text
from analyzer.documents.text import PAGE_CHARS
from tests import pdf_factory

JAPANESE_INVOICE = (
    "請求書\n株式会社さくら商事 御中\n合計金額 110,000円（税込）\nお支払期限：2024年6月30日"
)
# Shorter texts are where generic detectors fail (charset-normalizer reads these as cp949).
SHORT_JAPANESE = [
    "合計金額",
    "お世話になっております。",
    "売上報告書 第3四半期",
    "東京都千代田区丸の内1-1-1",
]


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-8", JAPANESE_INVOICE.encode("utf-8")),
        ("utf-8 with BOM", codecs.BOM_UTF8 + JAPANESE_INVOICE.encode("utf-8")),
        ("Shift_JIS", JAPANESE_INVOICE.encode("shift_jis")),
        ("cp932", (JAPANESE_INVOICE + "\n①②③ ㈱").encode("cp932")),
        ("EUC-JP", JAPANESE_INVOICE.encode("euc_jp")),
        ("UTF-16 with BOM", JAPANESE_INVOICE.encode("utf-16")),
    ],
)
def test_japanese_text_files_decode_in_every_common_encoding(encoding: str, data: bytes) -> None:
    document = extract(Source("invoice.txt", data=data))
    expected = JAPANESE_INVOICE + ("\n①②③ ㈱" if encoding == "cp932" else "")
    assert document.pages == [expected], encoding


@pytest.mark.parametrize("text", SHORT_JAPANESE)
@pytest.mark.parametrize("encoding", ["cp932", "euc_jp"])
def test_short_japanese_texts_are_not_mistaken_for_korean_or_chinese(
    text: str, encoding: str
) -> None:
    decoded, _name = decode_text(text.encode(encoding))
    assert decoded == text


@pytest.mark.parametrize(
    "text",
    [
        "Invoice from Société Générale: total 1 234,50 € due à réception.",
        "Grüße aus München — Rechnung Nr. 42, Straße 5",
    ],
)
def test_western_windows_text_decodes_as_cp1252(text: str) -> None:
    document = extract(Source("letter.txt", data=text.encode("cp1252")))
    assert document.pages == [text]


def test_windows_line_endings_are_normalised() -> None:
    document = extract(Source("a.csv", data=b"name,total\r\nAcme,114.00\r\n"))
    assert document.pages == ["name,total\nAcme,114.00\n"]


def test_form_feeds_split_text_into_pages() -> None:
    document = extract(Source("report.md", data=b"# Page one\fPage two\fPage three"))
    assert document.pages == ["# Page one", "Page two", "Page three"]


def test_long_text_is_cut_into_pages_at_line_breaks() -> None:
    lines = [
        f"Line {i:05d} of a long plain-text export, padded to a realistic width."
        for i in range(400)
    ]
    text = "\n".join(lines)
    document = extract(Source("export.txt", data=text.encode()))
    assert document.page_count == pytest.approx(len(text) / PAGE_CHARS, abs=2)
    assert all(len(page) <= PAGE_CHARS for page in document.pages)
    assert "".join(document.pages) == text  # nothing lost or duplicated
    assert all(page.endswith("\n") for page in document.pages[:-1])  # cut between lines


def test_binary_data_named_txt_is_refused_clearly() -> None:
    data = b"\x00\x01\x02\x03\xff\xfe\x00" * 500
    with pytest.raises(DocumentError, match=r"^blob\.txt is not a text file"):
        extract(Source("blob.txt", data=data))


def test_whitespace_only_text_file_has_no_text() -> None:
    with pytest.raises(DocumentError, match=r"^blank\.txt contains no text\.$"):
        extract(Source("blank.txt", data=b"  \n\n \t \n"))


def test_word_document_paragraphs_and_tables_in_document_order() -> None:
    data = pdf_factory.make_docx(
        ["Dear Ms. Tanaka,", "Please find our quotation below.", "価格は税込です。"],
        table=[["Item", "Qty", "Price"], ["Consulting", "10 h", "1,200.00"]],
    )
    document = extract(Source("quote.docx", data=data))
    assert document.text.splitlines() == [
        "Dear Ms. Tanaka,",
        "Please find our quotation below.",
        "価格は税込です。",
        "Item | Qty | Price",
        "Consulting | 10 h | 1,200.00",
    ]


def test_damaged_word_document() -> None:
    data = pdf_factory.make_docx(["Hello"])
    with pytest.raises(DocumentError, match=r"^broken\.docx is not a valid Word document"):
        extract(Source("broken.docx", data=pdf_factory.truncate(data, 0.5)))
    with pytest.raises(DocumentError, match=r"^fake\.docx is not a valid Word document"):
        extract(Source("fake.docx", data=b"just some text, not a docx"))


def test_empty_word_document_has_no_text() -> None:
    with pytest.raises(DocumentError, match=r"^empty\.docx contains no text\.$"):
        extract(Source("empty.docx", data=pdf_factory.make_docx([])))


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("setup.exe", None),
        ("minutes.doc", "save it as .docx or PDF first"),
        ("receipt.jpg", "run OCR"),
        ("README", None),
    ],
)
def test_unsupported_types_name_what_is_supported(name: str, hint: str | None) -> None:
    with pytest.raises(DocumentError) as caught:
        extract(Source(name, data=b"MZ\x90\x00 whatever"))
    message = str(caught.value)
    suffix = name[name.rfind(".") :] if "." in name else "(no extension)"
    assert message.startswith(f"{name}: unsupported file type {suffix}; supported: ")
    for supported in SUPPORTED_SUFFIXES:
        assert supported in message
    if hint:
        assert hint in message
    assert "\n" not in message


def test_supported_suffixes_are_the_ones_read() -> None:
    assert {".pdf", ".docx", ".txt", ".md", ".csv"} <= SUPPORTED_SUFFIXES
    assert ".zip" not in SUPPORTED_SUFFIXES  # archives are expanded, never read as one
