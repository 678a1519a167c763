"""Small formatting helpers for numbers the pages show (language-neutral)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

STATUS_ICONS = {
    "queued": "⏳",
    "running": "🔄",
    "completed": "✅",
    "cancelled": "⏹️",
    "failed": "❌",
    "interrupted": "⏸️",
    "ok": "✅",
    "pending": "⏳",
}


def duration(seconds: float | None) -> str:
    """`42s`, `3:07`, `1:02:03`; an em dash when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size(num_bytes: int) -> str:
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def tokens(count: int | None) -> str:
    if not count:
        return "0"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.2f}M"
    if count >= 10_000:
        return f"{count / 1000:.1f}k"
    return f"{count:,}"


def cost(usd: float | None) -> str:
    if not usd:
        return "$0"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def status_icon(status: str) -> str:
    return STATUS_ICONS.get(status, "•")


def timestamp(value: Any) -> str:
    """A job's created_at (epoch seconds or ISO text) as local `YYYY-MM-DD HH:MM`."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed.astimezone().strftime("%Y-%m-%d %H:%M")
    return ""
