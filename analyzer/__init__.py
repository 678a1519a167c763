"""DocPulse: run an LLM over a batch of documents and watch it work.

`analyzer.analyze(sources, schema, engine)` is the generator everything else drives.
"""

from __future__ import annotations

from typing import Any

__all__ = ["analyze"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import analyzer.config` stays light for the app and the CLI's --help.
    if name == "analyze":
        from analyzer.pipeline import analyze

        return analyze
    raise AttributeError(name)
