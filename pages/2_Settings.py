"""Settings: defaults for new analyses, known servers, model prices. Never an API key."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analyzer.config import data_dir
from analyzer.engines.base import Price
from analyzer.engines.pricing import DEFAULT_PRICES, load_price_table, save_price_table
from analyzer.schema import PRESETS
from analyzer.ui.i18n import LANGUAGE_NAMES, t
from analyzer.ui.state import (
    CUSTOM_PRESET,
    LANGUAGES,
    PROVIDER_PRESETS,
    Preferences,
    load_preferences,
    save_preferences,
)


def defaults_form(prefs: Preferences) -> None:
    with st.form("settings_defaults", border=True):
        st.subheader(t("settings.defaults"), anchor=False)
        cols = st.columns(3)
        language = cols[0].selectbox(
            t("settings.language"),
            list(LANGUAGES),
            index=list(LANGUAGES).index(prefs.language),
            format_func=lambda code: LANGUAGE_NAMES[code],
        )
        presets = list(PRESETS)
        preset = cols[1].selectbox(
            t("settings.preset"),
            presets,
            index=presets.index(prefs.preset) if prefs.preset in presets else 0,
        )
        concurrency = cols[2].number_input(
            t("settings.concurrency"), min_value=1, max_value=32, value=prefs.concurrency
        )
        st.markdown(f"**{t('settings.provider')}**")
        st.caption(t("settings.provider_caption"))
        cols = st.columns(3)
        servers = [*PROVIDER_PRESETS, CUSTOM_PRESET]
        server = cols[0].selectbox(
            t("provider.preset"),
            servers,
            index=servers.index(prefs.provider_preset) if prefs.provider_preset in servers else 0,
            format_func=lambda p: t("provider.preset.custom") if p == CUSTOM_PRESET else p,
        )
        base_url = cols[1].text_input(t("provider.base_url"), value=prefs.base_url)
        model = cols[2].text_input(t("provider.model"), value=prefs.model)
        if st.form_submit_button(t("settings.save"), type="primary", icon=":material/save:"):
            updated = Preferences(
                language=language,
                preset=preset,
                concurrency=int(concurrency),
                provider_preset=server,
                base_url=base_url.strip() or PROVIDER_PRESETS.get(server, ""),
                model=model.strip(),
            )
            try:
                save_preferences(updated)
            except OSError as error:
                st.error(t("settings.save_failed", error=error))
            else:
                st.success(t("settings.saved"), icon="✅")


def prices_editor() -> None:
    st.subheader(t("settings.prices"), anchor=False)
    st.caption(t("settings.prices_caption"))
    table = load_price_table()
    frame = pd.DataFrame(
        [
            {"model": name, "input": price.input_per_million, "output": price.output_per_million}
            for name, price in sorted(table.items())
        ],
        columns=["model", "input", "output"],
    )
    edited = st.data_editor(
        frame,
        key="prices_editor",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "model": st.column_config.TextColumn(t("settings.price.model"), required=True),
            "input": st.column_config.NumberColumn(
                t("settings.price.input"), min_value=0.0, format="$%.3f", required=True
            ),
            "output": st.column_config.NumberColumn(
                t("settings.price.output"), min_value=0.0, format="$%.3f", required=True
            ),
        },
    )
    if st.button(t("settings.save"), key="prices_save", icon=":material/save:"):
        changed: dict[str, Price] = {}
        for record in edited.to_dict("records"):
            name = str(record.get("model") or "").strip()
            if not name or pd.isna(record.get("input")) or pd.isna(record.get("output")):
                continue
            price = Price(float(record["input"]), float(record["output"]))
            if DEFAULT_PRICES.get(name) != price:  # keep the file to what the analyst changed
                changed[name] = price
        try:
            save_price_table(changed)
        except (OSError, ValueError) as error:
            st.error(t("settings.save_failed", error=error))
        else:
            st.success(t("settings.saved"), icon="✅")


st.title(t("settings.header"), anchor=False)
defaults_form(load_preferences())
with st.container(border=True):
    prices_editor()
with st.expander(t("settings.presets")):
    st.dataframe(
        pd.DataFrame([{"server": name, "base_url": url} for name, url in PROVIDER_PRESETS.items()]),
        hide_index=True,
        width="stretch",
    )
st.caption(t("settings.data_dir", path=data_dir().resolve()))
