"""The Analyze page attached to a job (`?job=ID`): live progress, results, cancel, unknown ids.

The store is seeded with the events a runner would write; the page must draw what it says.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from analyzer.jobs.store import JobStore
from tests.app_support import (  # noqa: F401 - fixtures
    APP,
    RecordingRunner,
    injected_runner,
    progress,
    recording_runner_fixture,
    results_table,
    row,
    seed_job,
    store_fixture,
)


def open_job(job_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["job"] = job_id
    return at.run()


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.code] + [str(e.value) for e in at.warning]
    parts += [str(e.value) for e in at.error] + [str(e.value) for e in at.info]
    return "\n".join(parts)


def test_running_job_shows_progress_metrics_streaming_answer_log_and_failures(
    store: JobStore, runner: RecordingRunner
) -> None:
    job = seed_job(store, ["a.pdf", "b.pdf", "broken.pdf", "d.pdf", "e.pdf"])
    job.emit("progress", **progress(job.job_id, 0, 5))
    job.emit(
        "log", level="info", message="Started: 5 documents with fake, 2 at a time.", document=""
    )
    job.emit(
        "document",
        index=2,
        document="broken.pdf",
        status="failed",
        error=row("broken.pdf", ok=False)["error"],
        row=row("broken.pdf", ok=False),
    )
    job.emit("document", index=0, document="a.pdf", status="ok", error="", row=row("a.pdf"))
    job.emit(
        "log",
        level="error",
        message="The PDF is damaged: it cannot be read.",
        document="broken.pdf",
    )
    job.emit(
        "tokens",
        tokens_processed=1500,
        elapsed_seconds=9.0,
        document="b.pdf",
        partial_output='{"title": "Quarterly rep',
    )
    job.emit(
        "progress",
        **progress(
            job.job_id,
            2,
            5,
            current_document="b.pdf",
            failed=1,
            tokens_processed=1500,
            eta_seconds=75.0,
        ),
    )

    at = open_job(job.job_id)

    assert not at.exception
    bar = at.get("progress")[0]
    assert bar.value == 40
    assert "2/5" in bar.proto.text and "b.pdf" in bar.proto.text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Documents"] == "2 / 5"
    assert metrics["Tokens"] == "1,500"
    assert metrics["Time left"] == "1:15"
    assert metrics["Cost"] == "$0.0012"
    shown = texts(at)
    assert '{"title": "Quarterly rep' in shown
    assert "broken.pdf: The PDF is damaged" in shown
    assert "Started: 5 documents" in shown
    assert [b.label for b in at.button if b.key == f"cancel_{job.job_id}"] == ["Cancel"]
    assert not at.download_button  # results and downloads come once the job is final


def test_cancel_button_asks_the_runner_and_the_page_says_it_is_stopping(
    store: JobStore, runner: RecordingRunner
) -> None:
    job = seed_job(store, ["a.pdf", "b.pdf"])
    job.emit("progress", **progress(job.job_id, 1, 2, current_document="b.pdf"))
    at = open_job(job.job_id)

    at.button(key=f"cancel_{job.job_id}").click().run()

    assert ("cancel", job.job_id, None) in runner.calls
    assert store.cancel_requested(job.job_id)
    assert "stops within seconds" in texts(at)
    assert not [b for b in at.button if b.key == f"cancel_{job.job_id}"]


def test_finished_job_shows_results_filter_retry_and_downloads(
    store: JobStore, runner: RecordingRunner
) -> None:
    job = seed_job(store, ["a.pdf", "broken.pdf", "c.pdf"], title="March invoices")
    for index, name in enumerate(["a.pdf", "broken.pdf", "c.pdf"]):
        result = row(name, ok=name != "broken.pdf")
        job.emit(
            "document",
            index=index,
            document=name,
            status=result["status"],
            error=result["error"],
            row=result,
        )
    job.emit("progress", **progress(job.job_id, 3, 3, status="completed", failed=1))
    job.emit(
        "complete",
        status="completed",
        total_documents=3,
        total_tokens=240,
        total_time_seconds=2.4,
        avg_latency_ms=800,
        ok=2,
        failed=1,
        cost_usd=0.0,
    )
    store.set_status(job.job_id, "completed")

    at = open_job(job.job_id)

    assert not at.exception
    assert at.get("progress")[0].value == 100
    assert not [b for b in at.button if b.key == f"cancel_{job.job_id}"]  # no live panel
    table = results_table(at)
    assert list(table["document"]) == ["a.pdf", "broken.pdf", "c.pdf"]
    assert list(table["status"]) == ["✅ ok", "❌ failed", "✅ ok"]
    assert table.loc[0, "title"] == "Title of a.pdf"
    assert {b.label for b in at.download_button} == {"CSV (Excel)", "Excel (.xlsx)", "JSON Lines"}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Succeeded"] == "2" and metrics["Failed"] == "1"

    at.segmented_control(key=f"filter_{job.job_id}").set_value("failed").run()
    failed = results_table(at)
    assert list(failed["document"]) == ["broken.pdf"]
    assert "damaged" in failed.loc[0, "error"]

    at.button(key=f"retry_{job.job_id}").click().run()
    (kind, new_id, _key) = runner.calls[-1]
    assert kind == "submit" and new_id != job.job_id
    assert at.query_params["job"] == [new_id] or at.query_params["job"] == new_id
    assert [doc.name for doc in store.documents(new_id)] == ["broken.pdf"]
    assert store.get_job(new_id).title == "Retry of March invoices"


def test_interrupted_job_offers_resume(store: JobStore, runner: RecordingRunner) -> None:
    job = seed_job(store, ["a.pdf", "b.pdf"], status="interrupted")
    job.emit("document", index=0, document="a.pdf", status="ok", error="", row=row("a.pdf"))
    job.emit("progress", **progress(job.job_id, 1, 2))
    at = open_job(job.job_id)

    assert "interrupted" in texts(at)
    at.button(key=f"resume_{job.job_id}").click().run()
    assert runner.calls[-1][:2] == ("resume", job.job_id)


def test_unknown_job_id_says_what_to_do(runner: RecordingRunner) -> None:
    at = open_job("no-such-job")
    assert not at.exception
    assert "No job with id no-such-job" in at.error[0].value
    at.button(key="new_job").click().run()
    assert "job" not in at.query_params
    assert at.button(key="analyze").disabled  # back on an empty form
