"""English and Japanese UI: every string exists in both, and the switch changes the page."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from analyzer.jobs.store import JobStore
from analyzer.ui.i18n import EN, JA, translate
from analyzer.ui.state import Preferences, save_preferences
from tests.app_support import APP, RecordingRunner, injected_runner

PLACEHOLDER = re.compile(r"\{(\w+)")


def test_every_key_is_translated_with_the_same_placeholders() -> None:
    assert set(EN) == set(JA)
    for key in EN:
        assert set(PLACEHOLDER.findall(EN[key])) == set(PLACEHOLDER.findall(JA[key])), key
        assert JA[key].strip(), key


def test_unknown_language_falls_back_to_english() -> None:
    assert translate("fr", "run.button") == "Analyze"
    assert translate("ja", "docs.selected", count=3, size="1 KB") == "3 件の文書を選択中 · 1 KB"


def _labels(at: AppTest) -> set[str]:
    return {b.label for b in at.button} | {h.value for h in at.subheader}


def test_language_switch_redraws_the_page_in_japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    with injected_runner(monkeypatch, RecordingRunner(JobStore())):
        at = AppTest.from_file(APP, default_timeout=30).run()
        assert {"Analyze", "1 · Documents"} <= _labels(at)
        at.sidebar.segmented_control(key="lang").set_value("ja").run()
    assert not at.exception
    assert {"解析する", "1 · 文書", "2 · 抽出する項目"} <= _labels(at)
    assert at.sidebar.radio(key="provider_mode").options == [
        "ローカルモデル (CPU・キー不要)",
        "OpenAI 互換 API",
    ]


def test_url_and_saved_default_choose_the_first_language(monkeypatch: pytest.MonkeyPatch) -> None:
    with injected_runner(monkeypatch, RecordingRunner(JobStore())):
        at = AppTest.from_file(APP, default_timeout=30)
        at.query_params["lang"] = "ja"
        assert "解析する" in _labels(at.run())

        save_preferences(Preferences(language="ja"))
        fresh = AppTest.from_file(APP, default_timeout=30).run()
        assert "解析する" in _labels(fresh)
