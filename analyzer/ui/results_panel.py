"""The results of a finished (or stopped) job: table, failed-row filter, downloads, charts, log.

Drawn by the full page run, never by the polling fragment: download buttons and charts would
otherwise be re-sent twice a second. Exports come from analyzer.export, generated only when a
download is clicked.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from analyzer import events as ev
from analyzer.export import rows_to_frame, to_csv_bytes, to_jsonl_bytes, to_xlsx_bytes
from analyzer.schema import Schema
from analyzer.ui import format as fmt
from analyzer.ui.i18n import t
from analyzer.ui.state import job_store

STATUS_TEXT = {"ok": "✅ ok", "failed": "❌ failed"}
DOWNLOADS = (
    ("csv", "text/csv", to_csv_bytes),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        to_xlsx_bytes,
    ),
    ("jsonl", "application/jsonl", to_jsonl_bytes),
)


def _export(job_id: str, schema: Schema, convert: Any) -> bytes:
    # Read the rows again at click time: the callable runs on its own thread.
    return convert(job_store().rows(job_id), schema)


def download_buttons(job: Any, schema: Schema, *, key_prefix: str = "dl") -> None:
    cols = st.columns(len(DOWNLOADS))
    for col, (suffix, mime, convert) in zip(cols, DOWNLOADS, strict=True):
        col.download_button(
            t(f"results.download.{suffix}"),
            data=partial(_export, job.id, schema, convert),
            file_name=f"docpulse-{job.id}.{suffix}",
            mime=mime,
            key=f"{key_prefix}_{suffix}_{job.id}",
            on_click="ignore",
            icon=":material/download:",
            width="stretch",
        )


def _column_config(schema: Schema) -> dict[str, Any]:
    config: dict[str, Any] = {
        "document": st.column_config.TextColumn(t("col.document"), pinned=True),
        "status": st.column_config.TextColumn(t("col.status"), width="small"),
        "error": st.column_config.TextColumn(t("col.error"), width="large"),
        "pages": st.column_config.NumberColumn(t("col.pages"), format="%d", width="small"),
        "input_tokens": st.column_config.NumberColumn(t("col.input_tokens"), format="%d"),
        "output_tokens": st.column_config.NumberColumn(t("col.output_tokens"), format="%d"),
        "seconds": st.column_config.NumberColumn(t("col.seconds"), format="%.2f"),
        "cost_usd": st.column_config.NumberColumn(t("col.cost"), format="$%.5f"),
    }
    for field in schema.to_dict()["fields"]:
        name, kind = field["name"], field.get("type", "text")
        if kind in ("number", "integer"):
            config[name] = st.column_config.NumberColumn(name)
        elif kind == "text":
            config[name] = st.column_config.TextColumn(name, width="large")
    return config


def results_frame(rows: list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    frame = rows_to_frame(rows, schema)
    if "status" in frame.columns:
        frame["status"] = frame["status"].map(lambda s: STATUS_TEXT.get(s, s))
    return frame


def results_panel(job: Any, *, on_retry: Any = None) -> None:
    """Summary, the result table (all or failed only), downloads, charts and the log."""
    store = job_store()
    schema = Schema.from_dict(job.schema)
    rows = store.rows(job.id)
    failed = [row for row in rows if row.get("status") != "ok"]
    snap = job.snapshot or {}

    cols = st.columns(5)
    cols[0].metric(t("metric.ok"), len(rows) - len(failed))
    cols[1].metric(t("metric.failed"), len(failed))
    cols[2].metric(t("metric.tokens"), fmt.tokens(snap.get("tokens_processed")))
    cols[3].metric(t("metric.elapsed"), fmt.duration(snap.get("elapsed_seconds")))
    cols[4].metric(t("metric.cost"), fmt.cost(snap.get("cost_usd")))

    if not rows:
        st.info(t("results.empty"))
        return
    download_buttons(job, schema)
    table, charts, log = st.tabs(
        [t("results.tab.table"), t("results.tab.charts"), t("results.tab.log")]
    )
    with table:
        _table(job, rows, failed, schema, on_retry)
    with charts:
        _charts(job, rows, schema)
    with log:
        _full_log(job.id)


def _table(
    job: Any,
    rows: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    schema: Schema,
    on_retry: Any,
) -> None:
    choice = st.segmented_control(
        t("results.filter"),
        ["all", "failed"],
        default="all",
        key=f"filter_{job.id}",
        format_func=lambda c: t(
            f"results.filter.{c}", count=len(rows) if c == "all" else len(failed)
        ),
        label_visibility="collapsed",
    )
    shown = failed if choice == "failed" else rows
    st.dataframe(
        results_frame(shown, schema),
        column_config=_column_config(schema),
        hide_index=True,
        width="stretch",
        key=f"results_{job.id}_{choice}",
    )
    if failed and on_retry is not None:
        st.button(
            t("results.retry", count=len(failed)),
            key=f"retry_{job.id}",
            icon=":material/replay:",
            on_click=on_retry,
            args=(job,),
        )


def fill_rates(rows: list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    """Per field, the share of succeeded documents where the model gave a value."""
    ok = [row for row in rows if row.get("status") == "ok"]
    rates = []
    for name in schema.field_names:
        filled = sum(1 for row in ok if row.get(name) not in (None, "", [], {}))
        rates.append({"field": name, "fill_rate": filled / len(ok) if ok else 0.0})
    return pd.DataFrame(rates, columns=["field", "fill_rate"])


def throughput(events: list[dict[str, Any]]) -> pd.DataFrame:
    """Documents finished against elapsed seconds, from the job's progress events."""
    points = [
        {"elapsed_seconds": e["data"].get("elapsed_seconds"), "documents": e["data"].get("current")}
        for e in events
        if e["event"] == ev.PROGRESS and e["data"].get("elapsed_seconds") is not None
    ]
    return pd.DataFrame(points, columns=["elapsed_seconds", "documents"])


def _charts(job: Any, rows: list[dict[str, Any]], schema: Schema) -> None:
    frame = pd.DataFrame(rows)
    needed = {"document", "seconds", "input_tokens", "output_tokens"}
    if frame.empty or not needed <= set(frame.columns):
        st.info(t("chart.none"))
        return
    left, right = st.columns(2)
    with left:
        st.caption(t("chart.seconds"))
        st.bar_chart(frame, x="document", y="seconds", height=260)
    with right:
        st.caption(t("chart.tokens"))
        st.bar_chart(frame, x="document", y=["input_tokens", "output_tokens"], height=260)
    left, right = st.columns(2)
    with left:
        st.caption(t("chart.throughput"))
        points = throughput(job_store().events(job.id))
        if not points.empty:
            st.line_chart(points, x="elapsed_seconds", y="documents", height=260)
    with right:
        st.caption(t("chart.fill_rate"))
        st.bar_chart(
            fill_rates(rows, schema), x="field", y="fill_rate", horizontal=True, height=260
        )


def _full_log(job_id: str) -> None:
    entries = [
        {
            "level": e["data"].get("level", ""),
            "document": e["data"].get("document", ""),
            "message": e["data"].get("message", ""),
        }
        for e in job_store().events(job_id)
        if e["event"] == ev.LOG
    ]
    st.dataframe(pd.DataFrame(entries), hide_index=True, width="stretch")
