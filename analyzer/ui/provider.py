"""The provider panel in the sidebar: local model or an OpenAI-compatible server.

It only gathers settings; engines are built by `analyzer.config.make_engine`. The key typed
here stays in this session's memory and goes to the runner in memory; it is never stored, never
written back into a widget, never shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from analyzer.config import ProviderSettings, make_engine
from analyzer.engines.base import EngineError
from analyzer.ui.i18n import t
from analyzer.ui.state import CUSTOM_PRESET, PROVIDER_PRESETS, Preferences, configured

LOCAL, API = "local", "api"


@dataclass
class ProviderChoice:
    settings: ProviderSettings  # carries api_key in memory; persist only public_dict()
    concurrency: int
    problem: str | None  # what to fix before a job can start, or None

    @property
    def label(self) -> str:
        if self.settings.is_local:
            return t("provider.mode.local")
        return f"{self.settings.model or '?'} @ {self.settings.base_url}"


def _preset_for(url: str) -> str:
    for name, preset_url in PROVIDER_PRESETS.items():
        if preset_url.rstrip("/") == url.rstrip("/"):
            return name
    return CUSTOM_PRESET


def _init_state(prefs: Preferences) -> None:
    if "provider_mode" in st.session_state:
        return
    base_url = configured("ANALYZER_BASE_URL") or prefs.base_url
    st.session_state["provider_mode"] = API if configured("ANALYZER_BASE_URL") else LOCAL
    if not base_url:
        base_url = PROVIDER_PRESETS.get(prefs.provider_preset, "")
    st.session_state["provider_base_url"] = base_url
    st.session_state["provider_preset"] = _preset_for(base_url)
    st.session_state["provider_model"] = configured("ANALYZER_MODEL") or prefs.model
    st.session_state["provider_concurrency"] = prefs.concurrency


def _on_preset_change() -> None:
    preset = st.session_state["provider_preset"]
    if preset in PROVIDER_PRESETS:
        st.session_state["provider_base_url"] = PROVIDER_PRESETS[preset]
    st.session_state.pop("provider_models", None)


def _on_pick_model() -> None:
    st.session_state["provider_model"] = st.session_state["provider_model_pick"]


def provider_panel(prefs: Preferences) -> ProviderChoice:
    """Draw the provider controls (call inside `with st.sidebar`) and return the choice."""
    _init_state(prefs)
    st.subheader(t("provider.header"))
    mode = st.radio(
        t("provider.mode"),
        [LOCAL, API],
        key="provider_mode",
        format_func=lambda m: t(f"provider.mode.{m}"),
        label_visibility="collapsed",
    )
    if mode == LOCAL:
        st.caption(t("provider.local_note"))
        settings = ProviderSettings.from_env(base_url=None)
        settings.base_url = None
        settings.api_key = None
        choice = ProviderChoice(settings, 1, None)
    else:
        choice = _api_controls()
    if st.button(t("provider.test"), icon=":material/power:", width="stretch"):
        _test_connection(choice.settings)
    _model_picker()
    return choice


def _api_controls() -> ProviderChoice:
    st.selectbox(
        t("provider.preset"),
        [*PROVIDER_PRESETS, CUSTOM_PRESET],
        key="provider_preset",
        on_change=_on_preset_change,
        format_func=lambda p: t("provider.preset.custom") if p == CUSTOM_PRESET else p,
    )
    base_url = st.text_input(t("provider.base_url"), key="provider_base_url").strip()
    model = st.text_input(
        t("provider.model"), key="provider_model", help=t("provider.model_help")
    ).strip()
    configured_key = configured("ANALYZER_API_KEY")
    typed_key = st.text_input(
        t("provider.api_key"),
        type="password",
        key="provider_api_key",
        help=t("provider.api_key_help"),
        autocomplete="off",
    ).strip()
    if configured_key and not typed_key:
        st.caption(t("provider.key_configured", source=t("provider.key_source.secrets")))
    concurrency = st.slider(
        t("provider.concurrency"),
        min_value=1,
        max_value=32,
        key="provider_concurrency",
        help=t("provider.concurrency_help"),
    )
    settings = ProviderSettings.from_env(base_url=base_url or None, model=model or None)
    settings.api_key = typed_key or configured_key
    problem = None
    if not base_url:
        problem = t("provider.need_url", example=PROVIDER_PRESETS["OpenAI"])
    elif not model:
        problem = t("provider.need_model")
    return ProviderChoice(settings, int(concurrency), problem)


def _test_connection(settings: ProviderSettings) -> None:
    st.session_state.pop("provider_models", None)
    try:
        engine = make_engine(settings)
    except EngineError as error:
        st.error(t("provider.test_failed", error=error))
        return
    try:
        if settings.is_local:
            st.success(t("provider.test_ok_local", label=engine.label))
            return
        models = sorted(str(m) for m in engine.list_models())
        st.session_state["provider_models"] = models
        st.success(t("provider.test_ok", count=len(models)))
    except EngineError as error:
        st.error(t("provider.test_failed", error=error))
    finally:
        engine.close()


def _model_picker() -> None:
    models = st.session_state.get("provider_models")
    if models:
        current = st.session_state.get("provider_model")
        st.selectbox(
            t("provider.pick_model"),
            models,
            index=models.index(current) if current in models else None,
            key="provider_model_pick",
            on_change=_on_pick_model,
        )
