"""Jobs: the history of analyses, with open / resume / cancel / delete / download."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from analyzer.engines.base import EngineError
from analyzer.schema import Schema
from analyzer.ui import actions
from analyzer.ui import format as fmt
from analyzer.ui.i18n import t
from analyzer.ui.provider import provider_panel
from analyzer.ui.results_panel import download_buttons
from analyzer.ui.state import (
    ACTIVE_STATUSES,
    PAGES,
    RESUMABLE_STATUSES,
    job_store,
    load_preferences,
)


def jobs_frame(jobs: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "open": f"./?job={job.id}",
                "title": job.title or job.id,
                "status": f"{fmt.status_icon(job.status)} {t(f'job.status.{job.status}')}",
                "progress": (job.done / job.total) if job.total else 0.0,
                "documents": f"{job.done} / {job.total}",
                "failed": job.failed,
                "created": fmt.timestamp(job.created_at),
                "id": job.id,
            }
            for job in jobs
        ]
    )


def job_actions(job: Any, current: Any) -> None:
    cols = st.columns(4)
    if cols[0].button(t("jobs.open"), icon=":material/open_in_new:", key="jobs_open"):
        st.switch_page(PAGES["analyze"], query_params={"job": job.id})
    if job.status in RESUMABLE_STATUSES and cols[1].button(
        t("jobs.resume"), icon=":material/play_arrow:", key="jobs_resume"
    ):
        try:
            actions.resume_job(job, current)
        except (EngineError, ValueError, OSError) as error:
            st.error(t("job.resume_failed", error=error))
        else:
            st.switch_page(PAGES["analyze"], query_params={"job": job.id})
    if job.status in ACTIVE_STATUSES and cols[1].button(
        t("jobs.cancel"), icon=":material/stop_circle:", key="jobs_cancel"
    ):
        actions.cancel_job(job.id)
        st.toast(t("job.cancelling"), icon="⏹️")
    with cols[2]:
        confirm = st.checkbox(t("jobs.delete_confirm"), key=f"jobs_delete_confirm_{job.id}")
    if cols[3].button(
        t("jobs.delete"),
        icon=":material/delete:",
        key="jobs_delete",
        disabled=not confirm or job.status in ACTIVE_STATUSES,
    ):
        actions.delete_job(job.id)
        st.toast(t("jobs.deleted", job=job.id), icon="🗑️")
        st.rerun()
    if job.done:
        download_buttons(job, Schema.from_dict(job.schema), key_prefix="jobs_dl")


with st.sidebar:
    choice = provider_panel(load_preferences())

st.title(t("jobs.header"), anchor=False)
st.caption(t("jobs.caption"))
jobs = job_store().list_jobs()
if not jobs:
    st.info(t("jobs.none"), icon="📭")
    st.stop()

st.dataframe(
    jobs_frame(jobs),
    hide_index=True,
    width="stretch",
    column_config={
        "open": st.column_config.LinkColumn(t("jobs.col.open"), display_text="↗", width="small"),
        "title": st.column_config.TextColumn(t("jobs.col.title"), width="large"),
        "status": st.column_config.TextColumn(t("jobs.col.status")),
        "progress": st.column_config.ProgressColumn(
            t("jobs.col.progress"), min_value=0.0, max_value=1.0, format="percent"
        ),
        "documents": st.column_config.TextColumn(t("metric.documents"), width="small"),
        "failed": st.column_config.NumberColumn(t("jobs.col.failed"), width="small"),
        "created": st.column_config.TextColumn(t("jobs.col.created")),
        "id": st.column_config.TextColumn(t("jobs.col.id"), width="small"),
    },
)

by_id = {job.id: job for job in jobs}
selected = st.selectbox(
    t("jobs.select"),
    list(by_id),
    format_func=lambda job_id: (
        f"{fmt.status_icon(by_id[job_id].status)} {by_id[job_id].title or job_id} · {job_id}"
    ),
    key="jobs_selected",
)
with st.container(border=True):
    job_actions(by_id[selected], choice.settings)
