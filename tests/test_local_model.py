"""The real bundled model (SmolLM2-135M, llama.cpp on the CPU) answering real extraction prompts.

Not skipped in CI: DocPulse's no-key default depends on it. Each answer is capped to a few dozen
tokens, so the whole file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import json
import re
import threading
import time

import jsonschema
import pytest

from analyzer.engines.base import Cancelled, CancelToken, Chunk
from analyzer.engines.local import LocalEngine
from analyzer.engines.model_files import forget_loaded_models

pytestmark = pytest.mark.local_model

SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": ["string", "null"], "description": "who issued the invoice"},
        "total_amount": {"type": ["number", "null"], "description": "total due"},
        "currency": {"type": ["string", "null"], "enum": ["GBP", "USD", "EUR", "JPY", None]},
        "invoice_date": {"type": ["string", "null"], "format": "date"},
    },
    "required": ["vendor", "total_amount", "currency", "invoice_date"],
    "additionalProperties": False,
}

INVOICE = """INVOICE No. 2024-117
From: Acme Tools Ltd, 12 High Street, Leeds
Date: 14 March 2024
Bill to: Northwind Traders
3 x claw hammer @ 12.50 = 37.50
VAT 20% = 7.50
Total due: GBP 45.00
"""

JAPANESE_INVOICE = """請求書 No. 0815
発行者: 株式会社さくら商事
発行日: 2024年4月1日
品目: コピー用紙 10箱 ¥3,000
合計金額: ¥33,000(税込)
"""


def messages_for(document: str) -> list[dict[str, str]]:
    fields = "\n".join(
        f"- {name}: {spec.get('description', spec.get('format', 'value'))}"
        for name, spec in SCHEMA["properties"].items()
    )
    return [
        {"role": "system", "content": "You extract fields from documents as one JSON object."},
        {"role": "user", "content": f"Fields:\n{fields}\n\nDocument:\n{document}"},
    ]


def collect(engine: LocalEngine, document: str, **kwargs) -> tuple[list[Chunk], str]:
    chunks = list(engine.stream(messages_for(document), json_schema=SCHEMA, **kwargs))
    answer = ""
    for chunk in chunks:
        answer = "" if chunk.restart else answer
        answer += chunk.text
    return chunks, answer


@pytest.fixture(scope="module")
def engine() -> LocalEngine:
    return LocalEngine(n_ctx=2048, max_tokens=96)


def test_extraction_streams_tokens_and_answers_schema_valid_json(engine: LocalEngine) -> None:
    chunks, answer = collect(engine, INVOICE)

    text_chunks = [c for c in chunks if c.text]
    assert len(text_chunks) >= 10, "tokens should arrive one by one, not as one block"
    assert chunks[-1].usage is not None and all(c.usage is None for c in chunks[:-1])
    usage = chunks[-1].usage
    assert not usage.estimated
    assert usage.output_tokens == engine.model.count_tokens(answer)
    assert 60 < usage.input_tokens < 400  # the prompt as the chat template renders it

    parsed = json.loads(answer)
    jsonschema.validate(parsed, SCHEMA)
    assert list(parsed) == list(SCHEMA["properties"])  # answered in field order
    notices = [c.notice for c in chunks if c.notice]
    assert "tokens/s" in notices[-1]


def test_first_use_reports_load_time_and_second_engine_reuses_the_model(
    engine: LocalEngine,
) -> None:
    collect(engine, INVOICE, max_tokens=8)
    other = LocalEngine(n_ctx=2048, max_tokens=96)
    first = next(iter(other.stream(messages_for(INVOICE), json_schema=SCHEMA, max_tokens=4)))
    assert first.notice is not None
    assert first.notice.startswith("local model already in memory (loaded in ")
    assert first.notice.endswith("(SmolLM2-135M-Instruct.Q4_1.gguf)")
    assert other.model is engine.model  # one Llama object in the process


def test_answer_cut_by_the_token_cap_is_still_schema_valid(engine: LocalEngine) -> None:
    _, whole = collect(engine, INVOICE)
    chunks, answer = collect(engine, INVOICE, max_tokens=16)
    jsonschema.validate(json.loads(answer), SCHEMA)
    assert any("16-token cap" in (c.notice or "") for c in chunks)
    assert len(answer) < len(whole)
    # counted by re-tokenizing the text, which may split a little differently than generation
    assert chunks[-1].usage.output_tokens <= 16 + 4


def test_japanese_document_still_yields_schema_valid_json(engine: LocalEngine) -> None:
    _, answer = collect(engine, JAPANESE_INVOICE, max_tokens=64)
    jsonschema.validate(json.loads(answer), SCHEMA)


def test_cancel_mid_stream_stops_the_model_and_frees_it(engine: LocalEngine) -> None:
    cancel = CancelToken()
    received = 0
    stream = engine.stream(messages_for(INVOICE), json_schema=SCHEMA, cancel=cancel)
    with pytest.raises(Cancelled):
        for chunk in stream:
            if chunk.text:
                received += 1
                if received == 3:
                    cancel.cancel()
            assert chunk.usage is None, "a cancelled answer reports no usage"
    assert received == 3  # nothing more after the cancel
    # the model is free again at once: another answer runs
    _, answer = collect(engine, INVOICE, max_tokens=8)
    assert answer.startswith("{")


def test_two_engines_never_generate_at_the_same_time(engine: LocalEngine) -> None:
    other = LocalEngine(n_ctx=2048, max_tokens=96)
    spans: dict[str, tuple[float, float]] = {}

    def run(name: str, which: LocalEngine) -> None:
        first = last = 0.0
        for chunk in which.stream(messages_for(INVOICE), json_schema=SCHEMA, max_tokens=16):
            if chunk.text:
                last = time.monotonic()
                first = first or last
        spans[name] = (first, last)

    threads = [
        threading.Thread(target=run, args=("a", engine)),
        threading.Thread(target=run, args=("b", other)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    (_, first_end), (second_start, _) = sorted(spans.values())
    assert first_end <= second_start, "the second generation started before the first one ended"


def test_a_fresh_load_reports_its_time() -> None:
    forget_loaded_models()
    fresh = LocalEngine(n_ctx=2048, max_tokens=96)
    first = next(iter(fresh.stream(messages_for(INVOICE), json_schema=SCHEMA, max_tokens=4)))
    assert re.fullmatch(
        r"local model loaded in \d+\.\d s \(SmolLM2-135M-Instruct\.Q4_1\.gguf\)", first.notice
    )
    assert fresh.model is not None and fresh.model.load_seconds < 30
