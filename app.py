"""DocPulse, the Streamlit app: `streamlit run app.py`.

This file is the Analyze page and the navigation. Like every page it only drives the analyzer
package: documents are copied into the job store, the job runs in the process's background
runner, and the page shows what the store says (`?job=ID` re-attaches after a refresh).
"""

from __future__ import annotations

import streamlit as st

from analyzer.documents import DocumentError
from analyzer.engines.base import EngineError
from analyzer.ui import actions
from analyzer.ui.documents_picker import document_picker, reset_picker
from analyzer.ui.fields import field_editor
from analyzer.ui.i18n import t
from analyzer.ui.job_view import job_view
from analyzer.ui.provider import provider_panel
from analyzer.ui.shell import friendly_errors, init_language, keep_sidebar_state, language_switch
from analyzer.ui.state import PAGES, load_preferences, runner

st.set_page_config(page_title="DocPulse", page_icon="📄", layout="wide")
prefs = load_preferences()
init_language(prefs)
keep_sidebar_state()


def analyze_page() -> None:
    with st.sidebar:
        choice = provider_panel(prefs)
    job_id = st.query_params.get("job")
    if job_id:
        job_view(job_id, choice.settings)
        return

    st.title(t("app.title"), anchor=False)
    st.caption(t("app.tagline"))
    with st.container(border=True):
        st.subheader(t("docs.header"), anchor=False)
        picked = document_picker()
    with st.container(border=True):
        st.subheader(t("fields.header"), anchor=False)
        schema = field_editor(prefs.preset)
    with st.container(border=True):
        st.subheader(t("run.header"), anchor=False)
        ready = bool(picked.sources) and schema is not None and choice.problem is None
        if choice.problem:
            st.warning(t("run.provider_invalid", error=choice.problem), icon="⚙️")
        elif ready and schema is not None:
            st.caption(
                t(
                    "run.summary",
                    docs=len(picked.sources),
                    fields=len(schema.field_names),
                    provider=choice.label,
                    concurrency=choice.concurrency,
                )
            )
        else:
            st.caption(t("run.not_ready"))
        clicked = st.button(
            t("run.button"),
            type="primary",
            icon=":material/play_arrow:",
            disabled=not ready,
            width="stretch",
            key="analyze",
        )
    if clicked and ready and schema is not None:
        try:
            new_job = actions.start_job(picked.sources, schema, choice.settings, choice.concurrency)
        except (DocumentError, EngineError, ValueError, OSError) as error:
            st.error(t("run.submit_failed", error=error), icon="🚫")
            return
        reset_picker()
        st.query_params["job"] = new_job
        st.rerun()


with friendly_errors():
    runner()  # one per process; on first use it marks jobs a dead process left as interrupted

with st.sidebar:
    language_switch()
PAGES["analyze"] = st.Page(
    analyze_page, title=t("nav.analyze"), icon=":material/insights:", default=True
)
PAGES["jobs"] = st.Page("pages/1_Jobs.py", title=t("nav.jobs"), icon=":material/history:")
PAGES["settings"] = st.Page(
    "pages/2_Settings.py", title=t("nav.settings"), icon=":material/settings:"
)
navigation = st.navigation([PAGES["analyze"], PAGES["jobs"], PAGES["settings"]])
with friendly_errors():
    navigation.run()
