"""Result rows → a table in DESIGN.md's column order → CSV (Excel-safe), XLSX or JSON Lines.

Values come from documents and models, so they are untrusted: a text cell that starts with
= + - @ (or tab / CR) would be run as a formula by a spreadsheet, so it gets a leading quote.
Real numbers (a refund of -5) stay numbers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer.schema import Schema

FIXED_LEADING = ["document", "status", "error", "pages"]
FIXED_TRAILING = ["input_tokens", "output_tokens", "seconds"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LIST_JOINER = "; "


def column_order(rows: Sequence[dict[str, Any]], schema: Schema) -> list[str]:
    columns = [*FIXED_LEADING, *schema.field_names, *FIXED_TRAILING]
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    return columns


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _flat(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return LIST_JOINER.join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def rows_to_frame(rows: Sequence[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    """Lists joined with '; ', formula-like text neutralised: the table people open."""
    columns = column_order(rows, schema)
    records = [{c: neutralise(_flat(row.get(c))) for c in columns} for row in rows]
    return pd.DataFrame.from_records(records, columns=columns)


def to_csv_bytes(rows: Sequence[dict[str, Any]], schema: Schema) -> bytes:
    # utf-8-sig writes the BOM that makes Excel read Japanese text as UTF-8.
    return rows_to_frame(rows, schema).to_csv(index=False).encode("utf-8-sig")


def to_xlsx_bytes(rows: Sequence[dict[str, Any]], schema: Schema) -> bytes:
    from openpyxl.styles import Font

    frame = rows_to_frame(rows, schema)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, index=False, sheet_name="results")
        sheet = writer.sheets["results"]
        sheet.freeze_panes = "A2"
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for index, column in enumerate(frame.columns, start=1):
            longest = max([len(str(column)), *(len(str(v)) for v in frame[column].head(200))])
            letter = sheet.cell(row=1, column=index).column_letter
            sheet.column_dimensions[letter].width = min(60, max(8, longest + 2))
        # openpyxl would store a string starting with '=' as a formula: force text cells.
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    return buffer.getvalue()


def to_jsonl_bytes(rows: Sequence[dict[str, Any]], schema: Schema) -> bytes:
    """One object per line, lists kept as lists (JSON is no spreadsheet: nothing to neutralise)."""
    columns = column_order(rows, schema)
    lines = [json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) for row in rows]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


WRITERS = {".csv": to_csv_bytes, ".xlsx": to_xlsx_bytes, ".jsonl": to_jsonl_bytes}


def export_bytes(rows: Sequence[dict[str, Any]], schema: Schema, suffix: str) -> bytes:
    writer = WRITERS.get(suffix.lower() if suffix.startswith(".") else f".{suffix.lower()}")
    if writer is None:
        raise ValueError(f"Results can be written as {', '.join(WRITERS)}, not '{suffix}'.")
    return writer(rows, schema)


def write_results(path: str | Path, rows: Sequence[dict[str, Any]], schema: Schema) -> None:
    path = Path(path)
    data = export_bytes(rows, schema, path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
