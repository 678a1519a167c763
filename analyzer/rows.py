"""One result row per document, in DESIGN.md's column order, built in one place."""

from __future__ import annotations

from typing import Any

from analyzer.engines.base import Usage
from analyzer.schema import Schema


def result_row(
    document: str,
    schema: Schema,
    *,
    status: str,
    error: str = "",
    pages: int | None = None,
    fields: dict[str, Any] | None = None,
    usage: Usage | None = None,
    seconds: float = 0.0,
    cost_usd: float = 0.0,
    chunks: int = 0,
) -> dict[str, Any]:
    """document, status, error, pages, <fields>, input_tokens, output_tokens, seconds, …"""
    values = fields or {}
    usage = usage or Usage()
    return {
        "document": document,
        "status": status,
        "error": error,
        "pages": pages,
        **{name: values.get(name) for name in schema.field_names},
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "seconds": round(seconds, 2),
        "cost_usd": round(cost_usd, 6),
        "chunks": chunks,
    }


def not_analysed_row(document: str, schema: Schema, reason: str) -> dict[str, Any]:
    """A document the batch never got to (a refused key, a Ctrl-C): still a row, saying why."""
    return result_row(document, schema, status="failed", error=f"Not analysed: {reason}")
