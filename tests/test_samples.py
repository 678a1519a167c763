"""The sample documents that ship with DocPulse: readable, labelled, small, reproducible."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from analyzer.documents import Source, extract
from analyzer.samples import SAMPLES_DIR, sample_labels, sample_sources
from analyzer.samples.make_samples import write_samples

INVOICE_FIELDS = {
    "vendor",
    "invoice_number",
    "invoice_date",
    "due_date",
    "currency",
    "subtotal",
    "tax",
    "total_amount",
}
SUMMARY_FIELDS = {"title", "summary", "language", "document_type", "key_points"}
DOCUMENT_TYPES = {"invoice", "letter", "report", "contract", "other"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _squeeze(text: str) -> str:
    """Text without layout: NFKC, no whitespace, so labels can be found in extracted pages."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def test_samples_are_a_small_mixed_set() -> None:
    sources = sample_sources()
    assert 6 <= len(sources) <= 8
    assert {source.suffix for source in sources} >= {".pdf", ".docx", ".txt"}
    assert sum(source.size for source in sources) < 1_000_000
    assert all(source.path is not None and source.path.parent == SAMPLES_DIR for source in sources)
    languages = [sample_labels()[s.name]["summary"]["language"] for s in sources]
    assert languages.count("ja") >= 2 and languages.count("en") >= 2


@pytest.mark.parametrize("source", sample_sources(), ids=lambda source: source.name)
def test_every_sample_reads_and_holds_its_labelled_values(source: Source) -> None:
    document = extract(source)
    text = _squeeze(document.text)
    labels = sample_labels()[source.name]
    summary = labels["summary"]
    assert set(summary) == SUMMARY_FIELDS
    assert summary["document_type"] in DOCUMENT_TYPES
    assert summary["language"] in {"en", "ja"}
    assert isinstance(summary["key_points"], list) and len(summary["key_points"]) >= 3
    if summary["language"] == "ja":
        assert re.search(r"[\u3040-\u30ff]", document.text), "Japanese text came out"
    invoice = labels.get("invoice")
    if summary["document_type"] == "invoice":
        assert invoice is not None and set(invoice) == INVOICE_FIELDS
    if invoice is None:
        return
    assert ISO_DATE.match(invoice["invoice_date"]) and ISO_DATE.match(invoice["due_date"])
    assert invoice["currency"] in {"USD", "JPY", "EUR", "GBP"}
    assert invoice["subtotal"] + invoice["tax"] == pytest.approx(invoice["total_amount"])
    for field in ("vendor", "invoice_number"):
        assert _squeeze(invoice[field]) in text, field
    for field in ("subtotal", "tax", "total_amount"):
        number = invoice[field]
        shown = f"{number:,.2f}" if invoice["currency"] != "JPY" else f"{number:,.0f}"
        assert _squeeze(shown) in text, field


def test_labels_cover_exactly_the_samples() -> None:
    assert sorted(sample_labels()) == sorted(source.name for source in sample_sources())


def test_make_samples_reproduces_the_shipped_files_byte_for_byte(tmp_path: Path) -> None:
    written = write_samples(tmp_path)
    assert [p.name for p in written] == [s.name for s in sample_sources()]
    for path in written:
        assert path.read_bytes() == (SAMPLES_DIR / path.name).read_bytes(), path.name
