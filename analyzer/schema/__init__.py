"""Schema: fields → prompt + JSON Schema → validated row.

schema = load_schema("invoice")                  # or a JSON/YAML file, or inline JSON
messages = build_messages(schema, text, document_name="a.pdf")
row = parse_answer(schema, model_answer)         # lenient JSON, values coerced or None
"""

from analyzer.schema.answer import AnswerError, extract_json_object, parse_answer
from analyzer.schema.chunking import merge_answers, split_text
from analyzer.schema.fields import FIELD_TYPES, RESERVED_NAMES, Field, Schema, SchemaError
from analyzer.schema.loading import load_schema
from analyzer.schema.presets import PRESETS
from analyzer.schema.prompt import build_messages, prompt_overhead_chars

__all__ = [
    "FIELD_TYPES",
    "PRESETS",
    "RESERVED_NAMES",
    "AnswerError",
    "Field",
    "Schema",
    "SchemaError",
    "build_messages",
    "extract_json_object",
    "load_schema",
    "merge_answers",
    "parse_answer",
    "prompt_overhead_chars",
    "split_text",
]
