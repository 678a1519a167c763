"""What `python -m analyzer run` shows on stderr while it works.

On a terminal: a tqdm bar (percent, documents n/total, tokens, ETA, current document).
Elsewhere (CI logs, pipes): one plain line per finished document and per warning, so a log
file still tells the story without carriage-return noise.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from tqdm import tqdm

from analyzer import events as ev


class ProgressView(Protocol):
    def show(self, event: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class _Silent:
    def show(self, event: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class _Bar:
    def __init__(self, total: int) -> None:
        self.bar = tqdm(total=total, unit="doc", file=sys.stderr, dynamic_ncols=True)

    def show(self, event: dict[str, Any]) -> None:
        data = event["data"]
        if event["event"] == ev.PROGRESS:
            self.bar.total = data["total"]
            self.bar.n = data["current"]
            self.bar.set_postfix_str(
                f"tokens={data.get('tokens_processed', 0)} "
                f"eta={_format_eta(data.get('eta_seconds'))} {data['current_document'][:40]}",
                refresh=False,
            )
            self.bar.refresh()
        elif event["event"] == ev.LOG and data["level"] != "info":
            self.bar.write(f"{data['level']}: {data['document']}: {data['message']}")

    def close(self) -> None:
        self.bar.close()


class _Lines:
    def show(self, event: dict[str, Any]) -> None:
        data = event["data"]
        if event["event"] == ev.DOCUMENT:
            row = data["row"]
            detail = row["error"] if row["status"] != "ok" else f"{row['seconds']} s"
            print(f"[{data['status']}] {data['document']}: {detail}", file=sys.stderr)
        elif event["event"] == ev.LOG and data["level"] == "warning":
            print(f"warning: {data['document']}: {data['message']}", file=sys.stderr)
        elif event["event"] == ev.COMPLETE:
            print(
                f"done: {data['total_documents']} documents, {data['total_tokens']} tokens, "
                f"{data['total_time_seconds']} s",
                file=sys.stderr,
            )

    def close(self) -> None:
        pass


def make_progress_view(total: int, *, quiet: bool) -> ProgressView:
    if quiet:
        return _Silent()
    if sys.stderr.isatty():
        return _Bar(total)
    return _Lines()
