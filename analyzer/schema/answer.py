"""The model's answer text → one validated row of field values.

Models wrap JSON in code fences, put sentences around it, leave trailing commas or use single
quotes. We look for the first balanced {...} that parses (after light repairs), then coerce every
field to its type. Keys the schema does not know are dropped; fields the model left out are None.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from analyzer.schema.coerce import coerce
from analyzer.schema.fields import Schema

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
MAX_ANSWER_CHARS = 200_000


class AnswerError(ValueError):
    """The answer holds no JSON object at all."""


def parse_answer(schema: Schema, answer: str) -> dict[str, Any]:
    data = extract_json_object(answer)
    by_key = {str(k).strip().lower(): v for k, v in data.items()}
    return {f.name: coerce(f, by_key.get(f.name.lower())) for f in schema.fields}


def extract_json_object(answer: str) -> dict[str, Any]:
    text = answer[:MAX_ANSWER_CHARS]
    for candidate in _balanced_objects(text):
        parsed = _loads(candidate)
        if isinstance(parsed, dict):
            return parsed
    snippet = " ".join(answer.split())[:120]
    raise AnswerError(
        "The model did not answer with a JSON object"
        + (f" (it said: “{snippet}”)" if snippet else " (the answer was empty)")
        + "; try a stronger model or fewer fields."
    )


def _balanced_objects(text: str) -> list[str]:
    """Every top-level {...} span, in order, skipping braces inside strings."""
    spans: list[str] = []
    depth = 0
    start = -1
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char == '"' and depth > 0:
            quote = char
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : index + 1])
    if depth > 0 and start >= 0:  # an answer cut off by the token cap: try to close it
        spans.append(text[start:] + "}" * depth)
    return spans


def _loads(candidate: str) -> Any:
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
    try:  # single quotes, True/None: a Python-literal answer (parsed, never evaluated)
        python_like = _TRAILING_COMMA.sub(r"\1", candidate)
        python_like = re.sub(r"\bnull\b", "None", python_like)
        python_like = re.sub(r"\btrue\b", "True", python_like)
        python_like = re.sub(r"\bfalse\b", "False", python_like)
        return ast.literal_eval(python_like)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
