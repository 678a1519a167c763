"""What the HTTP API is allowed to accept, read once from the environment when the app starts."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MAX_UPLOAD_MB = 200
DEFAULT_MAX_FILES = 1000
MAX_CONCURRENCY = 32


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """Token and upload limits. ``api_token=None`` means the API is open (loopback only)."""

    api_token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024
    max_files: int = DEFAULT_MAX_FILES
    # Keep-alive comment interval on event streams: proxies drop connections silent for long.
    ping_seconds: float = 15.0

    @classmethod
    def from_env(cls) -> ApiSettings:
        return cls(
            api_token=os.environ.get("ANALYZER_API_TOKEN") or None,
            max_upload_bytes=_positive_int("ANALYZER_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)
            * 1024
            * 1024,
            max_files=_positive_int("ANALYZER_MAX_FILES", DEFAULT_MAX_FILES),
        )

    def __repr__(self) -> str:  # the token must never reach a log line
        token = "set" if self.api_token else "none"
        return (
            f"ApiSettings(api_token={token}, max_upload_bytes={self.max_upload_bytes}, "
            f"max_files={self.max_files}, ping_seconds={self.ping_seconds})"
        )
