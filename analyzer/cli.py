"""`python -m analyzer …`: run a batch, serve the API, follow a job (DESIGN.md "Command line").

A thin driver: it parses arguments, builds the pieces from the package and prints. Exit codes:
0 every document ok · 1 the table was written but some documents failed · 2 bad usage or setup.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from analyzer import events as ev
from analyzer.cli_progress import make_progress_view
from analyzer.config import ProviderSettings, make_engine
from analyzer.documents import Source, expand_paths
from analyzer.engines.base import EngineError
from analyzer.export import write_results
from analyzer.pipeline import analyze
from analyzer.rows import not_analysed_row
from analyzer.schema import PRESETS, Schema, SchemaError, load_schema

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
OUTPUT_SUFFIXES = (".csv", ".xlsx", ".jsonl")


class UsageError(Exception):
    """Bad arguments or setup: printed as one line, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analyzer",
        description="DocPulse: extract fields from a batch of documents with an LLM.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="analyse documents and write one row per document")
    run.add_argument("paths", nargs="*", metavar="PATH", help="file, folder (recursive) or .zip")
    run.add_argument(
        "--samples", action="store_true", help="also analyse the bundled sample documents"
    )
    run.add_argument(
        "--schema", required=True, help=f"preset ({', '.join(PRESETS)}) or a JSON/YAML file"
    )
    run.add_argument("--out", required=True, help="results file: .csv, .xlsx or .jsonl")
    run.add_argument("--base-url", help="OpenAI-compatible API base URL (none: local model)")
    run.add_argument("--model", help="model name at the provider")
    run.add_argument(
        "--api-key-env",
        default="ANALYZER_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (default ANALYZER_API_KEY)",
    )
    run.add_argument("--concurrency", type=int, default=4, help="documents in flight (default 4)")
    run.add_argument("--events", metavar="FILE|-", help="write every event as a JSON line")
    run.add_argument("--quiet", action="store_true", help="no progress output on stderr")

    serve = commands.add_parser("serve", help="start the HTTP API with SSE progress streams")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    follow = commands.add_parser("follow", help="follow a job of a running API server")
    follow.add_argument("job_id", metavar="JOB_ID")
    follow.add_argument("--url", default="http://127.0.0.1:8000")

    commands.add_parser("worker", help="a Redis worker (needs ANALYZER_REDIS_URL)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return run_command(args)
        if args.command == "serve":
            from analyzer.api.server import serve

            return serve(args.host, args.port)
        if args.command == "follow":
            from analyzer.follow import follow

            return follow(args.job_id, args.url, token=os.environ.get("ANALYZER_API_TOKEN"))
        return worker_command()
    except (UsageError, SchemaError, EngineError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def worker_command() -> int:
    raise UsageError(
        "Redis workers are not part of this build yet: run `python -m analyzer serve` "
        "(jobs run in the server process) and leave ANALYZER_REDIS_URL unset."
    )


def _sources(args: argparse.Namespace) -> list[Source]:
    sources: list[Source] = []
    if args.samples:
        from analyzer.samples import sample_sources

        sources.extend(sample_sources())
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    sources.extend(expand_paths(args.paths))
    if not sources:
        raise UsageError(
            "no documents to analyse: give files, folders or .zip archives, or --samples"
        )
    return sources


def _settings(args: argparse.Namespace) -> ProviderSettings:
    api_key = os.environ.get(args.api_key_env) or None
    base_url = args.base_url or os.environ.get("ANALYZER_BASE_URL") or None
    model = args.model or os.environ.get("ANALYZER_MODEL") or None
    if base_url and not model:
        raise UsageError("--base-url needs --model (or ANALYZER_MODEL)")
    return ProviderSettings.from_env(base_url=base_url, model=model, api_key=api_key)


def run_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--out must end in {', '.join(OUTPUT_SUFFIXES)}, not '{out.name}'")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    schema = load_schema(args.schema)
    sources = _sources(args)
    engine = make_engine(_settings(args))
    try:
        rows, final = _run_batch(args, sources, schema, engine)
    finally:
        engine.close()
    write_results(out, rows, schema)
    failed = sum(1 for row in rows if row["status"] != "ok")
    summary = f"{len(rows) - failed} ok, {failed} failed → {out}"
    if not args.quiet:
        print(summary, file=sys.stderr)
    if final["event"] == ev.ERROR:
        print(f"error: {final['data']['message']}", file=sys.stderr)
        return EXIT_USAGE
    if final["event"] == ev.CANCELLED or failed:
        return EXIT_SOME_FAILED
    return EXIT_OK


def _run_batch(
    args: argparse.Namespace, sources: list[Source], schema: Schema, engine: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    final: dict[str, Any] = {"event": ev.CANCELLED, "data": {}}
    events_out = _open_events(args.events)
    view = make_progress_view(len(sources), quiet=args.quiet)
    generator = analyze(sources, schema, engine, concurrency=args.concurrency)
    try:
        for event in _until_interrupted(generator):
            if events_out is not None:
                events_out.write(json.dumps(event, ensure_ascii=False) + "\n")
                events_out.flush()
            view.show(event)
            if event["event"] == ev.DOCUMENT:
                rows[event["data"]["index"]] = event["data"]["row"]
            if event["event"] in ev.FINAL_EVENTS:
                final = event
    finally:
        generator.close()
        view.close()
        if events_out is not None and events_out is not sys.stdout:
            events_out.close()
    # A Ctrl-C leaves documents without a row: they still get one, so nothing is lost silently.
    for index, source in enumerate(sources):
        if index not in rows:
            rows[index] = not_analysed_row(
                source.name, schema, "the run was stopped before this document finished."
            )
    return [rows[i] for i in sorted(rows)], final


def _until_interrupted(generator: Any) -> Any:
    """Yield events until Ctrl-C; then stop quietly so the rows so far are still written."""
    try:
        yield from generator
    except KeyboardInterrupt:
        print("\ninterrupted: writing the rows finished so far", file=sys.stderr)


def _open_events(target: str | None) -> IO[str] | None:
    if target is None:
        return None
    if target == "-":
        return sys.stdout
    return open(target, "w", encoding="utf-8")  # closed in _run_batch
