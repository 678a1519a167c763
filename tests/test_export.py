"""The downloaded table: column order, Excel-safe CSV, XLSX and JSONL round trips."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analyzer.export import export_bytes, to_csv_bytes, to_jsonl_bytes, to_xlsx_bytes, write_results
from analyzer.schema import PRESETS

SCHEMA = PRESETS["summary"]
ROWS = [
    {
        "document": "請求書.pdf",
        "status": "ok",
        "error": "",
        "pages": 2,
        "title": '=HYPERLINK("http://evil")',
        "summary": "株式会社さくら商事の請求書",
        "language": "Japanese",
        "document_type": "invoice",
        "key_points": ["+81 3 1234", "@once", "-rm"],
        "input_tokens": 10,
        "output_tokens": 5,
        "seconds": 1.5,
        "cost_usd": -5,
    },
    {
        "document": "b.pdf",
        "status": "failed",
        "error": "b.pdf is not a valid PDF.",
        "pages": None,
        "title": "\tcmd",
        "summary": "\rx",
        "language": None,
        "document_type": None,
        "key_points": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "seconds": 0.1,
    },
]
EXPECTED_COLUMNS = [
    "document",
    "status",
    "error",
    "pages",
    "title",
    "summary",
    "language",
    "document_type",
    "key_points",
    "input_tokens",
    "output_tokens",
    "seconds",
    "cost_usd",
]


def test_csv_has_bom_order_and_neutralised_formulas() -> None:
    raw = to_csv_bytes(ROWS, SCHEMA)
    assert raw.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert list(frame.columns) == EXPECTED_COLUMNS
    assert frame.loc[0, "summary"] == "株式会社さくら商事の請求書"
    assert frame.loc[0, "title"].startswith("'=")
    assert frame.loc[0, "key_points"] == "'+81 3 1234; @once; -rm"
    assert frame.loc[1, "title"] == "'\tcmd"
    assert frame.loc[0, "cost_usd"] == -5, "a real negative number stays a number"


def test_xlsx_keeps_japanese_and_never_stores_a_formula() -> None:
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(ROWS, SCHEMA)))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header == EXPECTED_COLUMNS
    cells = {header[i]: c for i, c in enumerate(sheet[2])}
    assert cells["summary"].value == "株式会社さくら商事の請求書"
    assert cells["title"].data_type == "s" and cells["title"].value.startswith("'=")
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    assert cells["cost_usd"].value == -5


def test_jsonl_round_trips_with_lists(tmp_path: Path) -> None:
    write_results(tmp_path / "out.jsonl", ROWS, SCHEMA)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert list(first) == EXPECTED_COLUMNS
    assert first["key_points"] == ["+81 3 1234", "@once", "-rm"]
    assert len(lines) == 2
    assert to_jsonl_bytes([], SCHEMA) == b""


def test_unknown_suffix_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"\.csv, \.xlsx, \.jsonl"):
        export_bytes(ROWS, SCHEMA, ".pdf")
