"""Field-level accuracy of an engine on a labelled evaluation set.

    python bench/evaluate.py                          # the local model (default)
    python bench/evaluate.py --local-model /path/to/other.gguf
    ANALYZER_API_KEY=... python bench/evaluate.py \
        --base-url https://api.openai.com/v1 --model gpt-4o-mini

Runs every labelled document through the real pipeline (extract → prompt → engine → validated
row) and scores each field: numbers, dates, enums and booleans must match exactly after
normalisation; text scores when the token overlap (F1) with the label is at least 0.5.
Prints accuracy per field, per language and overall, with time per document and tokens/s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

DEFAULT_LABELS = Path(__file__).resolve().parent / "eval" / "labels.json"
TEXT_OVERLAP_THRESHOLD = 0.5

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日"),
)


# --- normalisation and scoring (pure) ------------------------------------------------------------
def normalise_text(value: Any) -> str:
    text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return unicodedata.normalize("NFKC", text).casefold().strip()


def text_tokens(value: Any) -> list[str]:
    """Words for Latin text, single characters for CJK (which has no spaces)."""
    return _WORD.findall(normalise_text(value))


def token_f1(predicted: Any, expected: Any) -> float:
    got, want = text_tokens(predicted), text_tokens(expected)
    if not got or not want:
        return 0.0
    remaining = list(want)
    common = 0
    for token in got:
        if token in remaining:
            remaining.remove(token)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def normalise_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    cleaned = re.sub(r"[^\d.\-]", "", normalise_text(value).replace(",", ""))
    try:
        return float(cleaned)
    except ValueError:
        return None


def normalise_date(value: Any) -> str | None:
    if value is None:
        return None
    text = normalise_text(value)
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            return f"{year:04d}-{month:02d}-{day:02d}"
    return text or None


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list) and not value)


def field_correct(field_type: str, predicted: Any, expected: Any) -> bool:
    """Does the prediction count as right for this field type?"""
    if is_empty(expected):
        return is_empty(predicted)
    if is_empty(predicted):
        return False
    if field_type in ("number", "integer"):
        got, want = normalise_number(predicted), normalise_number(expected)
        return got is not None and want is not None and math.isclose(got, want, abs_tol=0.005)
    if field_type == "date":
        return normalise_date(predicted) == normalise_date(expected)
    if field_type in ("enum", "boolean"):
        return normalise_text(predicted) == normalise_text(expected)
    return token_f1(predicted, expected) >= TEXT_OVERLAP_THRESHOLD


# --- running --------------------------------------------------------------------------------------
@dataclass
class Judgement:
    document: str
    language: str
    field: str
    correct: bool
    predicted: Any
    expected: Any


@dataclass
class RunStats:
    documents: int = 0
    failed: int = 0
    seconds: float = 0.0
    output_tokens: int = 0
    input_tokens: int = 0


def build_engine(args: argparse.Namespace) -> Any:
    from analyzer.config import ProviderSettings, make_engine
    from analyzer.engines.local import LocalEngine

    if args.base_url:
        settings = ProviderSettings.from_env(base_url=args.base_url, model=args.model)
        return make_engine(settings)  # the key comes from ANALYZER_API_KEY, never from argv
    return LocalEngine(model_path=args.local_model or os.environ.get("ANALYZER_LOCAL_MODEL"))


def run_group(
    engine: Any,
    schema_spec: dict[str, Any],
    entries: list[dict[str, Any]],
    base: Path,
    stats: RunStats,
) -> dict[str, dict[str, Any]]:
    """Analyse one schema's documents through the real pipeline; rows by document name."""
    from analyzer.documents import Source
    from analyzer.pipeline import analyze
    from analyzer.schema import Schema

    schema = Schema.from_dict(schema_spec)
    sources = [Source(name=Path(e["file"]).name, path=base / e["file"]) for e in entries]
    rows: dict[str, dict[str, Any]] = {}
    concurrency = engine.max_concurrency or 4
    for event in analyze(sources, schema, engine, concurrency=concurrency):
        if event["event"] == "document":
            row = event["data"]["row"]
            rows[row["document"]] = row
            stats.documents += 1
            stats.failed += row["status"] != "ok"
            stats.seconds += float(row.get("seconds") or 0)
            stats.output_tokens += int(row.get("output_tokens") or 0)
            stats.input_tokens += int(row.get("input_tokens") or 0)
            mark = "ok" if row["status"] == "ok" else f"FAILED: {row['error']}"
            print(f"  {row['document']:<28} {row.get('seconds', 0):>5.1f} s  {mark}", flush=True)
        elif event["event"] == "error":
            raise SystemExit(f"the run failed: {event['data']['message']}")
    return rows


def judge(labels: dict[str, Any], rows: dict[str, dict[str, Any]]) -> list[Judgement]:
    judgements = []
    for entry in labels["documents"]:
        name = Path(entry["file"]).name
        row = rows.get(name, {})
        types = {
            f["name"]: f.get("type", "text") for f in labels["schemas"][entry["schema"]]["fields"]
        }
        for field, expected in entry["expected"].items():
            predicted = row.get(field) if row.get("status") == "ok" else None
            judgements.append(
                Judgement(
                    document=name,
                    language=entry.get("language", "?"),
                    field=f"{entry['schema']}.{field}",
                    correct=field_correct(types.get(field, "text"), predicted, expected),
                    predicted=predicted,
                    expected=expected,
                )
            )
    return judgements


def accuracy_table(judgements: Iterable[Judgement], key: str) -> list[tuple[str, int, int]]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for j in judgements:
        totals[getattr(j, key)][0] += j.correct
        totals[getattr(j, key)][1] += 1
    return [(name, right, count) for name, (right, count) in sorted(totals.items())]


def print_report(judgements: list[Judgement], stats: RunStats, label: str, verbose: bool) -> None:
    print(f"\nengine: {label}")
    for title, key in (("field", "field"), ("language", "language")):
        print(f"\n{'accuracy by ' + title:<32} right / all")
        for name, right, count in accuracy_table(judgements, key):
            print(f"  {name:<30} {right:>3} / {count:<3} {right / count:6.0%}")
    right = sum(j.correct for j in judgements)
    print(f"\noverall field accuracy: {right} / {len(judgements)} = {right / len(judgements):.0%}")
    if stats.documents:
        per_doc = stats.seconds / stats.documents
        rate = stats.output_tokens / stats.seconds if stats.seconds else 0.0
        print(
            f"documents: {stats.documents} ({stats.failed} failed), {per_doc:.1f} s/doc, "
            f"{stats.input_tokens} input + {stats.output_tokens} output tokens, "
            f"~{rate:.0f} output tokens/s"
        )
    if verbose:
        print("\nwrong answers:")
        for j in judgements:
            if not j.correct:
                print(f"  {j.document:<28} {j.field:<24} got {j.predicted!r}  want {j.expected!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="labels.json")
    parser.add_argument("--base-url", help="OpenAI-compatible provider (key: ANALYZER_API_KEY)")
    parser.add_argument("--model", help="model name at the provider")
    parser.add_argument("--local-model", help="a .gguf file instead of the bundled SmolLM2")
    parser.add_argument("--json", type=Path, help="also write every judgement to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the wrong answers")
    args = parser.parse_args(argv)

    labels = json.loads(args.labels.read_text(encoding="utf-8"))
    engine = build_engine(args)
    started = time.perf_counter()
    stats = RunStats()
    rows: dict[str, dict[str, Any]] = {}
    try:
        by_schema: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in labels["documents"]:
            by_schema[entry["schema"]].append(entry)
        for schema_name, entries in by_schema.items():
            print(f"{schema_name}: {len(entries)} documents", flush=True)
            spec = labels["schemas"][schema_name]
            rows.update(run_group(engine, spec, entries, args.labels.parent, stats))
    finally:
        engine.close()
    judgements = judge(labels, rows)
    print_report(judgements, stats, engine.label, args.verbose)
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.write_text(
            json.dumps([j.__dict__ for j in judgements], ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
