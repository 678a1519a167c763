"""Every test gets its own data dir and a clean provider environment (no key leaks in)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "analyzer-data"
    monkeypatch.setenv("ANALYZER_DATA_DIR", str(data_dir))
    for name in (
        "ANALYZER_BASE_URL",
        "ANALYZER_MODEL",
        "ANALYZER_API_KEY",
        "ANALYZER_API_TOKEN",
        "ANALYZER_REDIS_URL",
        "ANALYZER_MAX_INFLIGHT",
    ):
        monkeypatch.delenv(name, raising=False)
    return data_dir
