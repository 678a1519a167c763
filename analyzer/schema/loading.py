"""Find a schema from what a user typed: a preset name, a JSON/YAML file, or inline JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from analyzer.schema.fields import Schema, SchemaError
from analyzer.schema.presets import PRESETS

MAX_SCHEMA_BYTES = 1_000_000


def load_schema(spec: str | Path) -> Schema:
    """A preset name, a path to .json/.yaml/.yml, or JSON text. SchemaError on anything wrong."""
    if isinstance(spec, str) and spec.strip() in PRESETS:
        return PRESETS[spec.strip()]
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        return Schema.from_dict(_parse(spec, "json", "the schema text"))
    path = Path(spec)
    if not path.is_file():
        raise SchemaError(
            f"'{spec}' is neither a preset ({', '.join(PRESETS)}) nor a schema file that exists."
        )
    if path.stat().st_size > MAX_SCHEMA_BYTES:
        raise SchemaError(f"{path.name} is too large for a schema file.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SchemaError(f"{path.name} is not UTF-8 text.") from None
    kind = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
    return Schema.from_dict(_parse(text, kind, path.name), name=path.stem)


def _parse(text: str, kind: str, where: str) -> Any:
    try:
        return yaml.safe_load(text) if kind == "yaml" else json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaError(
            f"{where} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})."
        ) from None
    except yaml.YAMLError as error:
        raise SchemaError(f"{where} is not valid YAML ({str(error).splitlines()[0]}).") from None
