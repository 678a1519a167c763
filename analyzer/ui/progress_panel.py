"""The live view of a running job: a fragment that polls one snapshot from the job store.

The job runs in the background runner, never in the script thread. Every 0.5 s this fragment
alone reruns, reads the job's snapshot and its latest events (a few cheap SQLite reads), and
draws them. When the job is final it reruns the whole page, which then draws the results and
no longer calls the fragment, so the timer stops.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from analyzer import events as ev
from analyzer.ui import format as fmt
from analyzer.ui.i18n import t
from analyzer.ui.state import ACTIVE_STATUSES, job_store, runner

POLL_SECONDS = 0.5
# Events read per tick: about a minute of a busy job (tokens ≤ 4/s, progress ≥ 1/s, logs).
RECENT_EVENTS = 300
LOG_LINES = 8
FAILED_SHOWN = 5
LOG_ICONS = {"info": "·", "warning": "!", "error": "✗"}


def _cancel(job_id: str) -> None:
    runner().cancel(job_id)
    st.toast(t("job.cancelling"), icon="⏹️")


def recent_events(job_id: str) -> list[dict[str, Any]]:
    store = job_store()
    last = store.last_event_id(job_id)
    return store.events(job_id, after_id=max(0, last - RECENT_EVENTS))


@st.fragment(run_every=POLL_SECONDS)
def live_progress(job_id: str) -> None:
    """Draw the job's progress; rerun the page once the job is no longer active."""
    store = job_store()
    job = store.get_job(job_id)
    if job is None or job.status not in ACTIVE_STATUSES:
        st.rerun()  # the full run draws the final state (results, resume, error)
    draw_progress(job, recent_events(job_id), store.cancel_requested(job_id))


def draw_progress(job: Any, recent: list[dict[str, Any]], cancelling: bool) -> None:
    snap: dict[str, Any] = job.snapshot or {}
    total = int(snap.get("total") or job.total or 0)
    current = int(snap.get("current") or job.done or 0)
    percent = float(snap.get("progress_percent") or (100.0 * current / total if total else 0.0))
    text = t("job.progress_text", percent=percent, current=current, total=total)
    if snap.get("current_document"):
        chunk = f" ({snap['chunk']})" if snap.get("chunk") else ""
        text += " · " + t("job.progress_current", document=snap["current_document"] + chunk)
    if not snap:
        text = t("job.waiting")
    st.progress(min(1.0, max(0.0, percent / 100.0)), text=text)

    cols = st.columns(5)
    cols[0].metric(t("metric.documents"), f"{current} / {total}")
    cols[1].metric(t("metric.tokens"), fmt.tokens(snap.get("tokens_processed")))
    cols[2].metric(t("metric.elapsed"), fmt.duration(snap.get("elapsed_seconds")))
    cols[3].metric(t("metric.eta"), fmt.duration(snap.get("eta_seconds")))
    cols[4].metric(t("metric.cost"), fmt.cost(snap.get("cost_usd")))

    _streaming_answer(recent)
    failed = int(snap.get("failed") or job.failed or 0)
    if failed:
        _failed_documents(job.id, failed)
    _log(recent)

    if cancelling:
        st.info(t("job.cancelling"), icon="⏹️")
    else:
        st.button(
            t("job.cancel"),
            key=f"cancel_{job.id}",
            icon=":material/stop_circle:",
            on_click=_cancel,
            args=(job.id,),
        )


def _streaming_answer(recent: list[dict[str, Any]]) -> None:
    latest = next((e for e in reversed(recent) if e["event"] == ev.TOKENS), None)
    if latest is None or not latest["data"].get("partial_output"):
        return
    data = latest["data"]
    st.caption(t("job.streaming", document=data.get("document") or "…"))
    # The model's text is shown as code: never rendered as Markdown or HTML.
    st.code(data["partial_output"], language=None, wrap_lines=True)


def _failed_documents(job_id: str, count: int) -> None:
    failed_rows = [row for row in job_store().rows(job_id) if row.get("status") != "ok"]
    lines = [f"❌ {row.get('document')}: {row.get('error') or ''}" for row in failed_rows]
    st.warning(t("job.failed_docs", count=count), icon="⚠️")
    st.code("\n".join(lines[-FAILED_SHOWN:]), language=None, wrap_lines=True)


def log_lines(recent: list[dict[str, Any]], limit: int = LOG_LINES) -> list[str]:
    lines = []
    for event in recent:
        if event["event"] != ev.LOG:
            continue
        data = event["data"]
        icon = LOG_ICONS.get(str(data.get("level")), "·")
        where = f"[{data['document']}] " if data.get("document") else ""
        lines.append(f"{icon} {where}{data.get('message', '')}")
    return lines[-limit:]


def _log(recent: list[dict[str, Any]]) -> None:
    lines = log_lines(recent)
    if lines:
        st.caption(t("job.log"))
        st.code("\n".join(lines), language=None, wrap_lines=True)
