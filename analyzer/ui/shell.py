"""What every page shares: the language switch and keeping sidebar state across pages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from analyzer.ui.i18n import LANGUAGE_KEY, LANGUAGE_NAMES, t
from analyzer.ui.state import LANGUAGES, Preferences

log = logging.getLogger("docpulse.app")

# Widget values Streamlit would forget on a page that does not draw their widget (it drops the
# state of widgets missing from a run); re-assigning them each run keeps the sidebar as it was.
PERSISTENT_KEYS = (
    "provider_mode",
    "provider_preset",
    "provider_base_url",
    "provider_model",
    "provider_api_key",
    "provider_concurrency",
)


def keep_sidebar_state() -> None:
    for key in PERSISTENT_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def init_language(prefs: Preferences) -> None:
    """First run of a session: `?lang=ja` in the URL, else the saved default."""
    if LANGUAGE_KEY not in st.session_state:
        wanted = st.query_params.get("lang")
        st.session_state[LANGUAGE_KEY] = wanted if wanted in LANGUAGES else prefs.language
    else:
        st.session_state[LANGUAGE_KEY] = st.session_state[LANGUAGE_KEY]


def _keep_a_language() -> None:
    # A segmented control can be cleared by clicking the active option: keep the last one.
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        st.session_state["lang_last"] = chosen
    else:
        st.session_state[LANGUAGE_KEY] = st.session_state.get("lang_last", LANGUAGES[0])


def language_switch() -> None:
    st.segmented_control(
        "🌐",
        list(LANGUAGES),
        key=LANGUAGE_KEY,
        format_func=lambda code: LANGUAGE_NAMES[code],
        label_visibility="collapsed",
        selection_mode="single",
        on_change=_keep_a_language,
    )


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn an unexpected error into one st.error that says what to do, never a traceback.

    The traceback goes to the server log for whoever runs the app. Streamlit's own control
    flow (st.rerun, st.stop) derives from BaseException and passes through untouched.
    """
    try:
        yield
    except Exception as error:
        log.exception("page failed")
        st.error(t("app.unexpected", error=type(error).__name__), icon="🚫")
