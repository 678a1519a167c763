"""The HTTP API with SSE progress streams (`python -m analyzer serve`).

`create_app()` builds the FastAPI app; `serve()` runs it on uvicorn.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not pull in FastAPI for the CLI's other commands.
    if name == "create_app":
        from analyzer.api.app import create_app

        return create_app
    if name == "serve":
        from analyzer.api.server import serve

        return serve
    raise AttributeError(name)
