"""The Analyze form: samples in one click, uploads, provider from the environment, submit.

The submit path runs a real Runner against the FakeProvider (real HTTP on loopback) and waits
for it, because AppTest does not wait for background threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analyzer.jobs.store import JobStore
from tests.app_support import (
    APP,
    FinishingRunner,
    RecordingRunner,
    injected_runner,
    results_table,
)
from tests.fake_provider import FakeProvider

SECRET = "sk-app-test-SECRET-321"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with FakeProvider(api_key=SECRET) as fake:
        monkeypatch.setenv("ANALYZER_BASE_URL", fake.base_url)
        monkeypatch.setenv("ANALYZER_MODEL", "fake-model")
        monkeypatch.setenv("ANALYZER_API_KEY", SECRET)
        yield fake


def test_samples_then_analyze_runs_a_job_and_the_page_follows_it(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JobStore()
    with injected_runner(monkeypatch, FinishingRunner(store)) as runner:
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception
        assert at.sidebar.radio(key="provider_mode").value == "api"  # a base URL is configured
        assert at.button(key="analyze").disabled  # nothing to analyse yet

        at.button(key="samples_add").click().run()
        assert not at.button(key="analyze").disabled
        at.button(key="analyze").click().run()

    assert not at.exception
    job_id = at.query_params["job"]
    job_id = job_id[0] if isinstance(job_id, list) else job_id
    assert runner.calls[0] == ("submit", job_id, SECRET)  # the key went in memory
    job = store.get_job(job_id)
    assert job is not None and job.status == "completed"
    assert SECRET not in str(job.settings) and "api_key" not in job.settings
    assert job.settings["base_url"] == provider.base_url
    assert provider.chat_requests, "the fake provider was really asked"
    table = results_table(at)
    assert len(table) == len(store.documents(job_id)) > 0
    assert set(table["status"]) == {"✅ ok"}


def test_uploads_and_a_typed_key_reach_the_job_and_the_key_is_never_shown(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANALYZER_API_KEY")
    store = JobStore()
    with injected_runner(monkeypatch, RecordingRunner(store)) as runner:
        at = AppTest.from_file(APP, default_timeout=30).run()
        uploader = at.file_uploader[0]
        uploader.set_value(
            [
                ("notes.txt", b"Quarterly notes: revenue grew.", "text/plain"),
                ("memo.md", "# 議事録\n売上が伸びた。".encode(), "text/markdown"),
            ]
        )
        at.run()
        at.sidebar.text_input(key="provider_api_key").input("sk-typed-KEY-999").run()
        assert "2 documents selected" in "\n".join(c.value for c in at.caption)
        at.button(key="analyze").click().run()

    (kind, job_id, key) = runner.calls[0]
    assert (kind, key) == ("submit", "sk-typed-KEY-999")
    assert [d.name for d in store.documents(job_id)] == ["notes.txt", "memo.md"]
    assert "sk-typed-KEY-999" not in str(store.get_job(job_id).settings)
    shown = [e.value for e in (*at.markdown, *at.caption, *at.code, *at.success, *at.error)]
    assert not [text for text in shown if "sk-typed-KEY-999" in str(text)]


def test_missing_model_blocks_the_run_with_what_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANALYZER_BASE_URL", "http://127.0.0.1:9/v1")
    with injected_runner(monkeypatch, RecordingRunner(JobStore())):
        at = AppTest.from_file(APP, default_timeout=30).run()
        at.button(key="samples_add").click().run()
    assert at.button(key="analyze").disabled
    assert any("model name" in w.value for w in at.warning)


def test_test_connection_lists_the_providers_models(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with injected_runner(monkeypatch, RecordingRunner(JobStore())):
        at = AppTest.from_file(APP, default_timeout=30).run()
        at.sidebar.button[0].click().run()
    assert any("2 models" in s.value for s in at.sidebar.success), at.sidebar.error
    picker = at.sidebar.selectbox(key="provider_model_pick")
    assert picker.options == ["fake-model", "fake-model-large"]
    picker.select("fake-model-large").run()
    assert at.sidebar.text_input(key="provider_model").value == "fake-model-large"


def test_test_connection_with_a_wrong_key_says_so(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYZER_API_KEY", "sk-wrong")
    with injected_runner(monkeypatch, RecordingRunner(JobStore())):
        at = AppTest.from_file(APP, default_timeout=30).run()
        at.sidebar.button[0].click().run()
    assert at.sidebar.error and "Connection failed" in at.sidebar.error[0].value
    assert "sk-wrong" not in at.sidebar.error[0].value


def test_a_server_folder_under_the_input_dir_can_be_analysed(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "shared"
    (root / "march" / "deep").mkdir(parents=True)
    (root / "march" / "a.txt").write_text("Invoice A, total 10 EUR.", encoding="utf-8")
    (root / "march" / "deep" / "b.md").write_text("Invoice B, total 20 EUR.", encoding="utf-8")
    (root / "april.txt").write_text("not in the chosen folder", encoding="utf-8")
    monkeypatch.setenv("ANALYZER_INPUT_DIR", str(root))
    store = JobStore()
    with injected_runner(monkeypatch, RecordingRunner(store)) as runner:
        at = AppTest.from_file(APP, default_timeout=30).run()
        folder = at.selectbox(key="input_folder")
        assert "march" in folder.options and "march/deep" in folder.options
        folder.select("march").run()
        at.button(key="analyze").click().run()
    job_id = runner.calls[0][1]
    assert sorted(d.name for d in store.documents(job_id)) == ["a.txt", "deep/b.md"]
