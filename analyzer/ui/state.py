"""What the Streamlit pages share across reruns: the job store, the one runner, preferences.

Session State dies with a refresh and is per tab, so nothing a job needs lives there: the job
store (on disk) is the source of truth and `?job=ID` in the URL is the only link a page keeps.
The runner is one per process (`st.cache_resource`); tests swap it through `RUNNER_OVERRIDE`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import streamlit as st

from analyzer.config import data_dir

# Job statuses (analyzer.jobs): the live view polls while a job is active.
ACTIVE_STATUSES = frozenset({"queued", "running"})
FINAL_STATUSES = frozenset({"completed", "cancelled", "failed"})
RESUMABLE_STATUSES = frozenset({"interrupted", "cancelled"})

# OpenAI-compatible servers an analyst is likely to have; "custom" keeps whatever URL is typed.
PROVIDER_PRESETS: dict[str, str] = {
    "HolySheep": "https://api.holysheep.ai/v1",
    "OpenAI": "https://api.openai.com/v1",
    "Ollama": "http://localhost:11434/v1",
    "vLLM": "http://localhost:8000/v1",
    "LM Studio": "http://localhost:1234/v1",
    "llama.cpp server": "http://localhost:8080/v1",
}
CUSTOM_PRESET = "custom"
LANGUAGES = ("en", "ja")
PREFERENCES_FILE = "ui_preferences.json"

# The st.Page objects app.py registers, so other pages can switch to them (st.switch_page).
PAGES: dict[str, Any] = {}

# Tests put a synchronous runner here (AppTest does not wait for background threads).
RUNNER_OVERRIDE: Callable[[], Any] | None = None


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> Any:
    from analyzer.jobs.store import JobStore

    return JobStore(Path(path))


def job_store() -> Any:
    """The job store under ANALYZER_DATA_DIR (cached per directory)."""
    return _store_at(str(data_dir().resolve()))


@st.cache_resource(show_spinner=False)
def _process_runner() -> Any:
    from analyzer.jobs import get_runner

    runner = get_runner()
    # A previous process (or a cleared cache) may have left jobs marked running that nothing
    # runs any more: mark them interrupted so the page offers to resume them.
    runner.recover_interrupted()
    return runner


def runner() -> Any:
    """The one background runner of this process."""
    if RUNNER_OVERRIDE is not None:
        return RUNNER_OVERRIDE()
    return _process_runner()


def configured(name: str) -> str | None:
    """A provider setting from `.streamlit/secrets.toml`, else the environment."""
    try:
        if st.secrets.load_if_toml_exists() and st.secrets.get(name):
            return str(st.secrets[name])
    except (FileNotFoundError, OSError, ValueError):
        pass  # an unreadable secrets file is the same as none: the environment still counts
    return os.environ.get(name) or None


@dataclass
class Preferences:
    """Defaults an analyst sets once on the Settings page (never a key)."""

    language: str = "en"
    preset: str = "summary"
    concurrency: int = 4
    provider_preset: str = "OpenAI"
    base_url: str = ""
    model: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preferences:
        known = {f.name for f in fields(cls)}
        prefs = cls(**{k: v for k, v in data.items() if k in known})
        if prefs.language not in LANGUAGES:
            prefs.language = "en"
        prefs.concurrency = max(1, min(64, int(prefs.concurrency)))
        return prefs


def preferences_path() -> Path:
    return data_dir() / PREFERENCES_FILE


def load_preferences() -> Preferences:
    try:
        data = json.loads(preferences_path().read_text(encoding="utf-8"))
        return Preferences.from_dict(data if isinstance(data, dict) else {})
    except (OSError, ValueError, TypeError):
        return Preferences()  # missing or damaged: defaults, never a crash


def save_preferences(prefs: Preferences) -> None:
    path = preferences_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(prefs), ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)  # atomic: a second tab never reads half a file


def input_dir() -> Path | None:
    """The server-side folder analysts may pick documents from (ANALYZER_INPUT_DIR)."""
    value = configured("ANALYZER_INPUT_DIR")
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def inside(root: Path, candidate: Path) -> bool:
    """True when `candidate` resolves to `root` or below it (no `..` or symlink escapes)."""
    try:
        candidate.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
