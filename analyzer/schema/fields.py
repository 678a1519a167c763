"""The fields an analyst wants out of each document, validated, and their JSON Schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES = ("text", "number", "integer", "date", "boolean", "list", "enum")
# Columns every result row has; a field with one of these names would overwrite them.
RESERVED_NAMES = frozenset(
    {
        "document",
        "status",
        "error",
        "pages",
        "input_tokens",
        "output_tokens",
        "seconds",
        "cost_usd",
        "chunks",
    }
)
# Letters (any script, so 請求書番号 is fine), digits and underscores; no spaces or punctuation,
# because names become JSON keys the model must repeat exactly and spreadsheet column headers.
_NAME = re.compile(r"^[^\W\d][\w]{0,63}$")
MAX_FIELDS = 100


class SchemaError(ValueError):
    """A schema that cannot be used; the message is one sentence saying what to fix."""


@dataclass
class Field:
    name: str
    type: str = "text"
    description: str = ""
    required: bool = False
    choices: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.description:
            data["description"] = self.description
        if self.required:
            data["required"] = True
        if self.type == "enum":
            data["choices"] = list(self.choices or [])
        return data

    def json_schema(self) -> dict[str, Any]:
        """This field's value as JSON Schema; always nullable (the document may not say)."""
        described = {"description": self.description} if self.description else {}
        if self.type == "enum":
            return {"type": ["string", "null"], "enum": [*(self.choices or []), None], **described}
        if self.type == "list":
            return {"type": ["array", "null"], "items": {"type": "string"}, **described}
        if self.type == "date":
            return {"type": ["string", "null"], "format": "date", **described}
        kind = {"text": "string", "number": "number", "integer": "integer", "boolean": "boolean"}
        return {"type": [kind[self.type], "null"], **described}


@dataclass
class Schema:
    fields: list[Field] = field(default_factory=list)
    name: str = "custom"

    @classmethod
    def from_dict(cls, data: Any, name: str = "custom") -> Schema:
        if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
            raise SchemaError('A schema is an object with a "fields" list, e.g. {"fields": [...]}.')
        raw_fields = data["fields"]
        if not raw_fields:
            raise SchemaError("The schema has no fields: add at least one field to extract.")
        if len(raw_fields) > MAX_FIELDS:
            raise SchemaError(
                f"The schema has {len(raw_fields)} fields; the limit is {MAX_FIELDS}."
            )
        fields = [_field_from(item, number) for number, item in enumerate(raw_fields, start=1)]
        seen: set[str] = set()
        for item in fields:
            if item.name.lower() in seen:
                raise SchemaError(
                    f"The field name '{item.name}' is used twice; names must be unique."
                )
            seen.add(item.name.lower())
        return cls(fields=fields, name=str(data.get("name") or name))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "fields": [f.to_dict() for f in self.fields]}

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def json_schema(self) -> dict[str, Any]:
        """The answer object: exactly these keys, each nullable."""
        return {
            "type": "object",
            "properties": {f.name: f.json_schema() for f in self.fields},
            "required": self.field_names,
            "additionalProperties": False,
        }


def _field_from(item: Any, number: int) -> Field:
    if not isinstance(item, dict):
        raise SchemaError(f"Field {number} must be an object with at least a name.")
    name = str(item.get("name") or "").strip()
    where = f"Field {number}" + (f" ('{name}')" if name else "")
    if not name:
        raise SchemaError(f"{where} has no name.")
    if not _NAME.match(name):
        raise SchemaError(
            f"{where}: use letters, digits and _ only in a name, starting with a letter "
            "(e.g. total_amount)."
        )
    if name.lower() in RESERVED_NAMES:
        raise SchemaError(f"{where}: '{name}' is a column every result has; choose another name.")
    kind = str(item.get("type") or "text").strip().lower()
    if kind not in FIELD_TYPES:
        raise SchemaError(
            f"{where} has unknown type '{kind}'; use one of: {', '.join(FIELD_TYPES)}."
        )
    choices = item.get("choices")
    if kind == "enum":
        if isinstance(choices, str):
            choices = [c.strip() for c in choices.split(",")]
        if not isinstance(choices, list) or not [c for c in choices if str(c).strip()]:
            raise SchemaError(f'{where} is an enum: give its choices, e.g. "choices": ["a", "b"].')
        choices = list(dict.fromkeys(str(c).strip() for c in choices if str(c).strip()))
    else:
        choices = None
    return Field(
        name=name,
        type=kind,
        description=str(item.get("description") or "").strip(),
        required=bool(item.get("required", False)),
        choices=choices,
    )
