"""The Jobs page (history, open, resume, delete) and the Settings page (defaults, prices)."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from analyzer.config import data_dir
from analyzer.engines.pricing import load_price_table
from analyzer.jobs.store import JobStore
from analyzer.ui.state import load_preferences
from tests.app_support import (  # noqa: F401 - fixtures
    APP,
    RecordingRunner,
    injected_runner,
    progress,
    recording_runner_fixture,
    row,
    seed_job,
    store_fixture,
)


def page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    return at.switch_page(path).run()


def test_jobs_page_lists_jobs_with_status_progress_and_links(
    store: JobStore, runner: RecordingRunner
) -> None:
    done = seed_job(store, ["a.pdf", "b.pdf"], title="Done batch", status="completed")
    for index, name in enumerate(["a.pdf", "b.pdf"]):
        done.emit("document", index=index, document=name, status="ok", error="", row=row(name))
    running = seed_job(store, ["c.pdf"], title="Running batch")
    running.emit("progress", **progress(running.job_id, 0, 1))

    at = page("pages/1_Jobs.py")

    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["title"]) == {"Done batch", "Running batch"}
    links = dict(zip(table["title"], table["open"], strict=True))
    assert links["Done batch"] == f"./?job={done.job_id}"
    statuses = dict(zip(table["title"], table["status"], strict=True))
    assert statuses["Done batch"] == "✅ Completed"
    assert statuses["Running batch"] == "🔄 Running"


def test_jobs_page_resumes_cancels_and_deletes(store: JobStore, runner: RecordingRunner) -> None:
    stopped = seed_job(store, ["a.pdf"], title="Stopped", status="interrupted")
    at = page("pages/1_Jobs.py")
    at.selectbox(key="jobs_selected").select(stopped.job_id).run()
    at.button(key="jobs_resume").click().run()
    assert runner.calls[-1][:2] == ("resume", stopped.job_id)

    at = page("pages/1_Jobs.py")
    at.selectbox(key="jobs_selected").select(stopped.job_id).run()
    assert at.button(key="jobs_delete").disabled  # not without the confirmation
    at.checkbox(key=f"jobs_delete_confirm_{stopped.job_id}").check().run()
    at.button(key="jobs_delete").click().run()
    assert store.get_job(stopped.job_id) is None
    assert any("No jobs yet" in i.value for i in at.info)


def test_settings_page_saves_defaults_and_prices(runner: RecordingRunner) -> None:
    at = page("pages/2_Settings.py")
    assert not at.exception
    form_boxes = at.selectbox
    form_boxes[0].select("ja")
    at.number_input[0].set_value(7)
    at.button[0].click()  # the form's submit button comes first on the page
    at.run()
    prefs = load_preferences()
    assert (prefs.language, prefs.concurrency) == ("ja", 7)
    saved = json.loads((data_dir() / "ui_preferences.json").read_text(encoding="utf-8"))
    assert "api_key" not in saved

    at.session_state["prices_editor"] = {
        "edited_rows": {},
        "added_rows": [{"model": "my-model", "input": 1.5, "output": 3.0}],
        "deleted_rows": [],
    }
    at.run()
    at.button(key="prices_save").click().run()
    table = load_price_table()
    assert (table["my-model"].input_per_million, table["my-model"].output_per_million) == (1.5, 3.0)
    stored = json.loads((data_dir() / "prices.json").read_text(encoding="utf-8"))
    assert list(stored) == ["my-model"]  # only what the analyst changed
