"""The field editor: presets, edits validated by analyzer.schema, loading a field set."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from analyzer.jobs.store import JobStore
from analyzer.schema import PRESETS
from analyzer.ui.fields import fields_from_table
from tests.app_support import APP, RecordingRunner, injected_runner


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> AppTest:
    with injected_runner(monkeypatch, RecordingRunner(JobStore())):
        app = AppTest.from_file(APP, default_timeout=30).run()
        app.button(key="samples_add").click().run()
        yield app


def edit_table(at: AppTest, **edits: object) -> AppTest:
    key = next(k for k in at.session_state if str(k).startswith("fields_editor_"))
    at.session_state[key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [], **edits}
    return at.run()


def test_table_rows_become_a_schema_dict_and_blank_rows_are_dropped() -> None:
    spec = fields_from_table(
        [
            {
                "name": " vendor ",
                "type": "text",
                "description": "who",
                "required": True,
                "choices": None,
            },
            {
                "name": "kind",
                "type": "enum",
                "description": "",
                "required": float("nan"),
                "choices": "invoice, receipt、credit note",
            },
            {"name": None, "type": None, "description": None, "required": None, "choices": None},
        ]
    )
    assert spec == {
        "fields": [
            {"name": "vendor", "type": "text", "description": "who", "required": True},
            {
                "name": "kind",
                "type": "enum",
                "description": "",
                "required": False,
                "choices": ["invoice", "receipt", "credit note"],
            },
        ]
    }


def test_the_default_preset_fills_the_table_and_the_prompt_preview(at: AppTest) -> None:
    preset = at.selectbox(key="fields_preset").value
    assert list(at.data_editor[0].value["name"]) == PRESETS[preset].field_names
    assert not at.error
    assert any(PRESETS[preset].field_names[0] in c.value for c in at.code)  # prompt preview
    assert not at.button(key="analyze").disabled


def test_switching_preset_replaces_the_fields(at: AppTest) -> None:
    other = next(name for name in PRESETS if name != at.selectbox(key="fields_preset").value)
    at.selectbox(key="fields_preset").select(other).run()
    assert list(at.data_editor[0].value["name"]) == PRESETS[other].field_names


def test_duplicate_field_names_are_an_error_and_block_the_run(at: AppTest) -> None:
    first = at.data_editor[0].value["name"][0]
    edit_table(at, edited_rows={1: {"name": first}})
    assert at.error and "needs a fix" in at.error[0].value
    assert at.button(key="analyze").disabled


def test_enum_without_choices_is_an_error(at: AppTest) -> None:
    edit_table(
        at,
        added_rows=[{"name": "kind", "type": "enum", "description": "doc kind", "required": False}],
    )
    assert at.error and "needs a fix" in at.error[0].value
    edit_table(
        at, added_rows=[{"name": "kind", "type": "enum", "choices": "a, b", "required": False}]
    )
    assert not at.error
    assert not at.button(key="analyze").disabled


def test_deleting_every_field_asks_for_one(at: AppTest) -> None:
    rows = len(at.data_editor[0].value)
    edit_table(at, deleted_rows=list(range(rows)))
    assert "at least one field" in at.error[0].value
    assert at.button(key="analyze").disabled


def test_loading_a_field_set_file_and_a_broken_one(at: AppTest) -> None:
    spec = {"fields": [{"name": "due_date", "type": "date", "description": "when to pay"}]}
    at.file_uploader(key="fields_upload").upload(
        "mine.json", json.dumps(spec).encode(), "application/json"
    )
    at.run()
    assert list(at.data_editor[0].value["name"]) == ["due_date"]
    assert at.selectbox(key="fields_preset").value == "custom"

    at.file_uploader(key="fields_upload").set_value(
        ("broken.json", b"{not json", "application/json")
    )
    at.run()
    assert any("broken.json is not a usable field set" in e.value for e in at.error)
    assert list(at.data_editor[0].value["name"]) == ["due_date"]  # the table is kept
