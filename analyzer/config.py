"""Provider settings and the data directory, read from the environment.

`ProviderSettings` is what a job stores about its provider. The API key travels beside it in
memory only: `public_dict()` is the only form that is ever persisted, logged or shown.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from analyzer.engines.base import Engine, EngineError


def data_dir() -> Path:
    """Where jobs, uploads and settings live (ANALYZER_DATA_DIR, default ./.analyzer)."""
    return Path(os.environ.get("ANALYZER_DATA_DIR") or ".analyzer")


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else None


@dataclass
class ProviderSettings:
    """Which model answers. ``base_url=None`` means the local model on the CPU."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never persisted, never printed
    temperature: float = 0.0
    max_tokens: int = 1024
    context_tokens: int | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    input_price_per_million: float | None = None
    output_price_per_million: float | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> ProviderSettings:
        settings = cls(
            base_url=os.environ.get("ANALYZER_BASE_URL") or None,
            model=os.environ.get("ANALYZER_MODEL") or None,
            api_key=os.environ.get("ANALYZER_API_KEY") or None,
            requests_per_minute=_env_int("ANALYZER_REQUESTS_PER_MINUTE"),
            tokens_per_minute=_env_int("ANALYZER_TOKENS_PER_MINUTE"),
            input_price_per_million=_env_float("ANALYZER_INPUT_PRICE"),
            output_price_per_million=_env_float("ANALYZER_OUTPUT_PRICE"),
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_public_dict(cls, data: dict[str, Any], api_key: str | None = None) -> ProviderSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "api_key"}
        return cls(**known, api_key=api_key)

    @property
    def is_local(self) -> bool:
        return not self.base_url

    def public_dict(self) -> dict[str, Any]:
        """Everything but the key: the only form that may be stored or shown."""
        data = asdict(self)
        data.pop("api_key", None)
        return data


def make_engine(settings: ProviderSettings) -> Engine:
    """Build the engine the settings describe. Raises EngineError with what to do next."""
    if settings.is_local:
        from analyzer.engines.local import LocalEngine

        return LocalEngine(model_path=os.environ.get("ANALYZER_LOCAL_MODEL") or None)

    from analyzer.engines.openai_compat import OpenAICompatibleEngine
    from analyzer.engines.pricing import price_for

    if not settings.model:
        raise EngineError(
            "No model name is set for the provider: pass --model or set ANALYZER_MODEL."
        )
    price = price_for(settings.model)
    if settings.input_price_per_million is not None:
        price = replace(price, input_per_million=settings.input_price_per_million)
    if settings.output_price_per_million is not None:
        price = replace(price, output_per_million=settings.output_price_per_million)
    extra: dict[str, Any] = {}
    if settings.context_tokens:
        extra["context_tokens"] = settings.context_tokens
    return OpenAICompatibleEngine(
        settings.base_url or "",
        settings.model,
        settings.api_key,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        price=price,
        requests_per_minute=settings.requests_per_minute,
        tokens_per_minute=settings.tokens_per_minute,
        **extra,
    )
