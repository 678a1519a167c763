"""One job on the Analyze page (`?job=ID`): header, then live progress or results.

Everything is read from the store, so a refresh, a second tab or a shared link shows the same
job in the same state; nothing is restarted by looking at it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from analyzer.config import ProviderSettings
from analyzer.engines.base import EngineError
from analyzer.ui import actions
from analyzer.ui import format as fmt
from analyzer.ui.i18n import t
from analyzer.ui.progress_panel import live_progress
from analyzer.ui.results_panel import results_panel
from analyzer.ui.state import ACTIVE_STATUSES, job_store

STATUS_BADGE_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/autorenew:",
    "completed": ":material/check_circle:",
    "cancelled": ":material/stop_circle:",
    "failed": ":material/error:",
    "interrupted": ":material/pause_circle:",
}
STATUS_COLORS = {
    "queued": "gray",
    "running": "blue",
    "completed": "green",
    "cancelled": "orange",
    "failed": "red",
    "interrupted": "orange",
}


def _leave_job() -> None:
    st.query_params.pop("job", None)


def _provider_label(settings: dict[str, Any]) -> str:
    if not settings.get("base_url"):
        return t("provider.mode.local")
    return f"{settings.get('model') or '?'} @ {settings['base_url']}"


def header(job: Any) -> None:
    top = st.columns([5, 1], vertical_alignment="center")
    top[0].subheader(job.title or job.id, anchor=False)
    top[1].button(
        t("job.new"), icon=":material/add:", on_click=_leave_job, width="stretch", key="new_job"
    )
    st.badge(
        t(f"job.status.{job.status}"),
        icon=STATUS_BADGE_ICONS.get(job.status),
        color=STATUS_COLORS.get(job.status, "gray"),
    )
    st.caption(
        t(
            "job.caption",
            job=job.id,
            status=t(f"job.status.{job.status}"),
            created=fmt.timestamp(job.created_at),
            provider=_provider_label(job.settings or {}),
        )
    )


def job_view(job_id: str, current: ProviderSettings | None) -> None:
    job = job_store().get_job(job_id)
    if job is None:
        st.error(t("job.not_found", job=job_id), icon="🔎")
        st.button(t("job.new"), icon=":material/add:", on_click=_leave_job, key="new_job")
        return
    header(job)
    if job.status in ACTIVE_STATUSES:
        live_progress(job.id)
        return
    snap = job.snapshot or {}
    current_docs = snap.get("current", job.done)
    total = snap.get("total", job.total)
    percent = 100.0 * current_docs / total if total else 0.0
    st.progress(
        min(1.0, percent / 100.0),
        text=t("job.progress_text", percent=percent, current=current_docs, total=total),
    )
    if job.status == "interrupted":
        st.warning(t("job.interrupted_note", current=current_docs, total=total), icon="⏸️")
        _resume_button(job, current)
    elif job.status == "cancelled":
        st.warning(t("job.cancelled_note", current=current_docs, total=total), icon="⏹️")
        _resume_button(job, current)
    elif job.status == "failed":
        st.error(t("job.failed_note", error=job.error or ""), icon="🚫")

    def retry(old_job: Any) -> None:
        try:
            new_id = actions.retry_failed(
                old_job, current, t("results.retry_title", title=old_job.title or old_job.id)
            )
        except (EngineError, ValueError, OSError) as error:
            st.session_state["job_action_error"] = t("run.submit_failed", error=error)
            return
        st.query_params["job"] = new_id

    if message := st.session_state.pop("job_action_error", None):
        st.error(message)
    results_panel(job, on_retry=retry)


def _resume_button(job: Any, current: ProviderSettings | None) -> None:
    def resume() -> None:
        try:
            actions.resume_job(job, current)
        except (EngineError, ValueError, OSError) as error:
            st.session_state["job_action_error"] = t("job.resume_failed", error=error)
            return
        st.toast(t("job.resumed"), icon="▶️")

    st.button(
        t("job.resume"), icon=":material/play_arrow:", on_click=resume, key=f"resume_{job.id}"
    )
