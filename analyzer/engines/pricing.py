"""What a model costs, in USD per one million input / output tokens.

The built-in table holds list prices of common hosted models (they change: check the provider's
page). An analyst can correct or extend it in ``<ANALYZER_DATA_DIR>/prices.json``:

    {"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6}}

A model that is not in the table costs 0, and ``price_is_known`` tells the UI to say
"cost unknown" instead of "$0.00".
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analyzer.engines.base import Price

log = logging.getLogger(__name__)

PRICES_FILE = "prices.json"

DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    # other hosted models commonly reached through OpenAI-compatible gateways
    "deepseek-chat": Price(0.27, 1.10),
    "deepseek-reasoner": Price(0.55, 2.19),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-pro": Price(1.25, 10.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "mistral-small": Price(0.20, 0.60),
    # runs on your own machine
    "local": Price(0.0, 0.0),
}

PriceLike = Price | Mapping[str, Any]


def _normalise(model: str) -> str:
    """'openai/gpt-4o-mini' and 'GPT-4o-mini ' both mean 'gpt-4o-mini'."""
    return model.strip().lower().rsplit("/", 1)[-1]


def _lookup(model: str, table: Mapping[str, Price]) -> Price | None:
    """Exact name first, then the longest table name the model starts with.

    Longest prefix so 'gpt-4o-mini-2024-07-18' is priced as gpt-4o-mini, not gpt-4o. A name
    only matches at a '-', ':' or '.' boundary: 'gpt-4o' must not price 'gpt-4omega'.
    """
    name = _normalise(model)
    lowered = {_normalise(key): price for key, price in table.items()}
    if name in lowered:
        return lowered[name]
    for key in sorted(lowered, key=len, reverse=True):
        if name.startswith(key) and re.match(r"[-:.@]", name[len(key) :]):
            return lowered[key]
    return None


def _to_price(value: PriceLike) -> Price:
    """A Price from a Price or a {"input_per_million", "output_per_million"} mapping.

    Values come from a file a person edited: each must be a finite number >= 0.
    """
    if isinstance(value, Price):
        return value
    if not isinstance(value, Mapping):
        raise ValueError("a price must be an object with input_per_million/output_per_million")
    numbers = []
    for key in ("input_per_million", "output_per_million"):
        number = value.get(key, 0.0)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"{key} must be a number")
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{key} must be a finite number >= 0")
        numbers.append(float(number))
    return Price(*numbers)


def _resolve_dir(data_dir: Path | str | None) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    from analyzer.config import data_dir as configured_data_dir

    return configured_data_dir()


def load_price_table(data_dir: Path | str | None = None) -> dict[str, Price]:
    """The built-in prices, updated by ``<data_dir>/prices.json`` when that file exists.

    A broken file is logged and ignored (the built-in prices still work); a single bad entry
    is skipped, the others are used.
    """
    table = dict(DEFAULT_PRICES)
    path = _resolve_dir(data_dir) / PRICES_FILE
    if not path.is_file():
        return table
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("Ignoring %s: it is not readable JSON (%s).", path, error)
        return table
    if not isinstance(entries, dict):
        log.warning("Ignoring %s: it must be a JSON object of model name -> price.", path)
        return table
    for model, value in entries.items():
        try:
            table[str(model)] = _to_price(value)
        except ValueError as error:
            log.warning("Ignoring the price of %r in %s: %s.", model, path, error)
    return table


def save_price_table(table: Mapping[str, PriceLike], data_dir: Path | str | None = None) -> Path:
    """Write the whole table to ``<data_dir>/prices.json`` (atomically) and return the path."""
    directory = _resolve_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        str(model): {
            "input_per_million": price.input_per_million,
            "output_per_million": price.output_per_million,
        }
        for model, price in ((m, _to_price(v)) for m, v in table.items())
    }
    path = directory / PRICES_FILE
    # Write beside the target, then rename: a crash never leaves half a file behind.
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=directory, suffix=".tmp", delete=False
    ) as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        temp_name = handle.name
    os.replace(temp_name, path)
    return path


def price_for(
    model: str,
    overrides: Mapping[str, PriceLike] | None = None,
    *,
    data_dir: Path | str | None = None,
) -> Price:
    """The price of ``model``: ``overrides`` first, then prices.json, then the built-in table.

    Unknown models cost 0 (see ``price_is_known``).
    """
    if overrides:
        found = _lookup(model, {name: _to_price(value) for name, value in overrides.items()})
        if found is not None:
            return found
    return _lookup(model, load_price_table(data_dir)) or Price()


def price_is_known(
    model: str,
    overrides: Mapping[str, PriceLike] | None = None,
    *,
    data_dir: Path | str | None = None,
) -> bool:
    """True when some table names this model (a cost of $0.00 is then real, not a guess)."""
    table: dict[str, Price] = load_price_table(data_dir)
    table.update({name: _to_price(value) for name, value in (overrides or {}).items()})
    return _lookup(model, table) is not None
