"""The field editor: a preset or an editable table of fields, validated by analyzer.schema.

The table is only a view: what leaves this module is a `Schema` that `Schema.from_dict` accepted,
or None with the reason shown as an error. `st.data_editor` keeps its edits relative to the table
it was given, so loading a preset or a file swaps in a new table under a new widget key.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import streamlit as st

from analyzer.schema import PRESETS, Schema, SchemaError, build_messages, load_schema
from analyzer.ui.i18n import t

FIELD_TYPES = ["text", "number", "integer", "date", "boolean", "list", "enum"]
COLUMNS = ["name", "type", "description", "required", "choices"]
CUSTOM = "custom"

_BASE = "fields_base"  # records of the table the editor started from
_VERSION = "fields_version"  # bumps to give the editor a fresh key
_PRESET = "fields_preset"
_LOADED_FILE = "fields_loaded_file"  # file_id of the last field set loaded from an upload


def schema_to_records(schema: Schema) -> list[dict[str, Any]]:
    records = []
    for field in schema.to_dict()["fields"]:
        records.append(
            {
                "name": field.get("name", ""),
                "type": field.get("type", "text"),
                "description": field.get("description", "") or "",
                "required": bool(field.get("required", False)),
                "choices": ", ".join(str(c) for c in field.get("choices") or []),
            }
        )
    return records


def _cell(value: Any) -> Any:
    """A table cell with pandas' missing markers (None, NaN, <NA>) turned into None."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass  # lists and other non-scalars are values, not missing markers
    return value


def fields_from_table(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The schema dict (`{"fields": [...]}`) an edited table describes.

    Rows left completely empty (a row added and never filled) are dropped; everything else is
    passed on as typed, so `Schema.from_dict` reports what is wrong with it.
    """
    fields: list[dict[str, Any]] = []
    for record in records:
        name = str(_cell(record.get("name")) or "").strip()
        description = str(_cell(record.get("description")) or "").strip()
        choices_text = str(_cell(record.get("choices")) or "")
        if not name and not description and not choices_text.strip():
            continue
        field: dict[str, Any] = {
            "name": name,
            "type": str(_cell(record.get("type")) or "text"),
            "description": description,
            "required": bool(_cell(record.get("required")) or False),
        }
        choices = [c.strip() for c in re.split(r"[,、，\n]", choices_text) if c.strip()]
        if choices or field["type"] == "enum":
            field["choices"] = choices
        fields.append(field)
    return {"fields": fields}


def validate_table(records: list[dict[str, Any]]) -> tuple[Schema | None, str | None]:
    """(schema, None) when the table is valid, else (None, one sentence saying what to fix)."""
    spec = fields_from_table(records)
    if not spec["fields"]:
        return None, t("fields.empty")
    try:
        return Schema.from_dict(spec), None
    except SchemaError as error:
        return None, t("fields.invalid", error=error)


def _set_table(records: list[dict[str, Any]]) -> None:
    st.session_state[_BASE] = records
    st.session_state[_VERSION] = st.session_state.get(_VERSION, 0) + 1


def _on_preset_change() -> None:
    preset = st.session_state[_PRESET]
    if preset in PRESETS:
        _set_table(schema_to_records(PRESETS[preset]))


def _load_uploaded_field_set() -> None:
    upload = st.session_state.get("fields_upload")
    if upload is None or st.session_state.get(_LOADED_FILE) == upload.file_id:
        return
    st.session_state[_LOADED_FILE] = upload.file_id
    try:
        text = upload.getvalue().decode("utf-8-sig")
        schema = load_schema(text)
    except (SchemaError, UnicodeDecodeError, ValueError) as error:
        st.session_state["fields_load_error"] = t(
            "fields.load_failed", name=upload.name, error=error
        )
        return
    st.session_state.pop("fields_load_error", None)
    st.session_state[_PRESET] = CUSTOM
    _set_table(schema_to_records(schema))
    st.toast(t("fields.loaded", count=len(schema.field_names), name=upload.name))


def field_editor(default_preset: str) -> Schema | None:
    """Draw the preset picker, the editable field table and the prompt preview.

    Returns the valid schema, or None after showing what to fix.
    """
    presets = [*PRESETS, CUSTOM]
    if _BASE not in st.session_state:
        start = default_preset if default_preset in PRESETS else next(iter(PRESETS))
        st.session_state[_PRESET] = start
        _set_table(schema_to_records(PRESETS[start]))

    top = st.columns([2, 3], vertical_alignment="bottom")
    top[0].selectbox(
        t("fields.preset"),
        presets,
        key=_PRESET,
        on_change=_on_preset_change,
        format_func=lambda p: t("fields.preset.custom") if p == CUSTOM else p,
    )
    top[1].caption(t("fields.help", types=", ".join(FIELD_TYPES)))

    edited = st.data_editor(
        pd.DataFrame(st.session_state[_BASE], columns=COLUMNS),
        key=f"fields_editor_{st.session_state[_VERSION]}",
        num_rows="dynamic",
        width="stretch",
        hide_index=True,
        column_config={
            "name": st.column_config.TextColumn(t("fields.col.name"), width="small"),
            "type": st.column_config.SelectboxColumn(
                t("fields.col.type"), options=FIELD_TYPES, default="text", width="small"
            ),
            "description": st.column_config.TextColumn(t("fields.col.description"), width="large"),
            "required": st.column_config.CheckboxColumn(
                t("fields.col.required"), default=False, width="small"
            ),
            "choices": st.column_config.TextColumn(t("fields.col.choices"), width="medium"),
        },
    )
    schema, problem = validate_table(edited.to_dict("records"))
    if problem:
        st.error(problem, icon="✏️")
    if error := st.session_state.get("fields_load_error"):
        st.error(error)

    with st.expander(t("fields.preview")):
        if schema is not None:
            _prompt_preview(schema)
    with st.expander(f"{t('fields.save')} / {t('fields.load')}"):
        cols = st.columns(2)
        if schema is not None:
            cols[0].download_button(
                t("fields.save"),
                data=json.dumps(schema.to_dict(), ensure_ascii=False, indent=2),
                file_name="fields.json",
                mime="application/json",
                on_click="ignore",
                icon=":material/download:",
            )
        cols[1].file_uploader(
            t("fields.load"),
            type=["json", "yaml", "yml"],
            key="fields_upload",
            on_change=_load_uploaded_field_set,
        )
    return schema


def _prompt_preview(schema: Schema) -> None:
    st.caption(t("fields.preview_caption"))
    messages = build_messages(schema, t("fields.preview_text"), document_name="example.pdf")
    for message in messages:
        st.markdown(f"**{message['role']}**")
        st.code(message["content"], language=None, wrap_lines=True)
