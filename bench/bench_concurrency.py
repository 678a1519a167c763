"""Batch throughput: DocPulse's concurrent generator against the original one-at-a-time loop.

Both run in this one process against the same loopback provider (tests/fake_provider.py) with
0.2 s time-to-first-token, on the same 32 documents:

- baseline: the original design's loop — one document at a time, 0.1 s sleep between documents;
- docpulse: `analyzer.analyze(..., concurrency=8)`;
- ideal:    ceil(32 / 8) × the time of one request alone (the provider-bound floor).

Run:  python -m bench.bench_concurrency   (prints the ratios; exits 1 if a target is missed)
Targets (issue 2): speed-up over the baseline ≥ 6×, and within 1.6× of the ideal.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from typing import Any

from analyzer.documents import Source
from analyzer.engines.openai_compat import OpenAICompatibleEngine
from analyzer.pipeline import analyze
from analyzer.schema import PRESETS, build_messages, parse_answer
from tests.fake_provider import FakeProvider

SCHEMA = PRESETS["invoice"]
ANSWER = json.dumps({"vendor": "ACME", "invoice_number": "INV-1", "total_amount": 1200})


def make_sources(count: int) -> list[Source]:
    return [
        Source(
            name=f"invoice-{n:03d}.txt",
            data=f"ACME Corp\nInvoice number: INV-{n}\nTotal: 1,200 USD\n".encode(),
        )
        for n in range(count)
    ]


def one_request(engine: OpenAICompatibleEngine, source: Source) -> dict[str, Any]:
    text = source.read_bytes().decode()
    messages = build_messages(SCHEMA, text, document_name=source.name)
    answer = "".join(c.text for c in engine.stream(messages, json_schema=SCHEMA.json_schema()))
    return parse_answer(SCHEMA, answer)


def baseline_loop(engine: OpenAICompatibleEngine, sources: list[Source]) -> float:
    """The original design: one document after the other, sleeping 0.1 s in between."""
    started = time.perf_counter()
    for source in sources:
        one_request(engine, source)
        time.sleep(0.1)
    return time.perf_counter() - started


def docpulse_run(engine: OpenAICompatibleEngine, sources: list[Source], concurrency: int) -> float:
    started = time.perf_counter()
    final = None
    for event in analyze(sources, SCHEMA, engine, concurrency=concurrency):
        final = event
    elapsed = time.perf_counter() - started
    assert final is not None and final["event"] == "complete", final
    assert final["data"]["ok"] == len(sources), final
    return elapsed


def single_request_time(engine: OpenAICompatibleEngine, source: Source, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        one_request(engine, source)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ttft", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sources = make_sources(args.documents)
    with FakeProvider(reply=ANSWER, ttft=args.ttft) as provider:
        engine = OpenAICompatibleEngine(provider.base_url, "fake-model")
        one = single_request_time(engine, sources[0])
        ideal = math.ceil(args.documents / args.concurrency) * one
        baseline = baseline_loop(engine, sources)
        runs = [docpulse_run(engine, sources, args.concurrency) for _ in range(args.repeats)]
        ours = statistics.median(runs)
        peak = provider.peak_in_flight
        engine.close()

    speedup = baseline / ours
    over_ideal = ours / ideal
    print(f"documents={args.documents} concurrency={args.concurrency} ttft={args.ttft}s")
    print(f"one request          {one:8.3f} s")
    print(f"baseline loop        {baseline:8.3f} s")
    each = ", ".join(f"{r:.3f}" for r in runs)
    print(f"docpulse (median/{args.repeats}) {ours:8.3f} s   runs: {each}")
    print(f"ideal ceil(n/c)*one  {ideal:8.3f} s")
    print(f"peak in flight at the provider: {peak}")
    print(f"speed-up vs baseline: {speedup:.1f}x   (target >= 6x)")
    print(f"docpulse / ideal:     {over_ideal:.2f}x  (target <= 1.6x)")
    return 0 if speedup >= 6 and over_ideal <= 1.6 else 1


if __name__ == "__main__":
    sys.exit(main())
