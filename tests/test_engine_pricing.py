"""Model prices: a built-in table an analyst can correct in <ANALYZER_DATA_DIR>/prices.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from analyzer.engines.base import Price, Usage
from analyzer.engines.pricing import (
    DEFAULT_PRICES,
    load_price_table,
    price_for,
    price_is_known,
    save_price_table,
)


def test_known_models_and_their_variants() -> None:
    assert price_for("gpt-4o-mini") == Price(0.15, 0.60)
    assert price_for("gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)  # not gpt-4o's price
    assert price_for("openai/GPT-4o") == Price(2.50, 10.00)
    assert price_for("gpt-4.1-mini") == Price(0.40, 1.60)
    assert price_for("local") == Price(0.0, 0.0)


def test_unknown_models_cost_nothing_but_say_so() -> None:
    assert price_for("my-finetune") == Price()
    assert price_is_known("my-finetune") is False
    assert price_is_known("gpt-4o") is True
    assert price_is_known("gpt-4omega") is False  # a prefix must end at a name boundary


def test_cost_of_a_usage() -> None:
    cost = price_for("gpt-4o-mini").cost(Usage(input_tokens=2_000_000, output_tokens=500_000))
    assert cost == pytest.approx(0.15 * 2 + 0.60 * 0.5)


def test_overrides_win(isolated_environment: Path) -> None:
    overrides = {"gpt-4o-mini": {"input_per_million": 1, "output_per_million": 2}}
    assert price_for("gpt-4o-mini", overrides) == Price(1.0, 2.0)
    assert price_for("gpt-4o", overrides) == Price(2.50, 10.00)


def test_prices_file_in_the_data_dir_is_used(isolated_environment: Path) -> None:
    isolated_environment.mkdir(parents=True)
    (isolated_environment / "prices.json").write_text(
        json.dumps(
            {
                "gpt-4o-mini": {"input_per_million": 0.2, "output_per_million": 0.8},
                "house-model": {"input_per_million": 0.01, "output_per_million": 0.02},
            }
        ),
        encoding="utf-8",
    )
    assert price_for("gpt-4o-mini") == Price(0.2, 0.8)  # from ANALYZER_DATA_DIR
    assert price_for("house-model-v2") == Price(0.01, 0.02)
    assert price_is_known("house-model")


def test_save_then_load_round_trip(tmp_path: Path) -> None:
    table = {**DEFAULT_PRICES, "house-model": Price(0.5, 1.5)}
    path = save_price_table(table, tmp_path / "data")
    assert path == tmp_path / "data" / "prices.json"
    assert load_price_table(tmp_path / "data") == table
    assert list((tmp_path / "data").iterdir()) == [path]  # no temporary file left behind


def test_a_broken_prices_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "prices.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_price_table(tmp_path) == DEFAULT_PRICES
    assert "not readable JSON" in caplog.text


def test_bad_entries_are_skipped_good_ones_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "prices.json").write_text(
        json.dumps(
            {
                "negative": {"input_per_million": -1, "output_per_million": 1},
                "text": {"input_per_million": "cheap", "output_per_million": 1},
                "infinite": {"input_per_million": 1e999, "output_per_million": 1},
                "list": [1, 2],
                "good": {"input_per_million": 3, "output_per_million": 4},
            }
        ),
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING):
        table = load_price_table(tmp_path)
    assert table["good"] == Price(3.0, 4.0)
    assert not {"negative", "text", "infinite", "list"} & table.keys()
    assert caplog.text.count("Ignoring the price") == 4


def test_saving_refuses_invalid_prices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="finite number"):
        save_price_table({"x": {"input_per_million": -5, "output_per_million": 0}}, tmp_path)
