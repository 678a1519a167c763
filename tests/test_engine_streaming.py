"""Streaming answers through the OpenAI-compatible engine, against the fake provider's socket."""

from __future__ import annotations

import threading
import time

import pytest

from analyzer.engines.base import Usage, estimate_tokens
from analyzer.engines.openai_compat import OpenAICompatibleEngine
from tests.fake_provider import (
    FakeProvider,
    collect,
    fake_prompt_tokens,
    fake_provider_fixture,  # noqa: F401 - pytest fixture
    split_tokens,
)

MESSAGES = [
    {"role": "system", "content": "You extract fields from documents."},
    {"role": "user", "content": "Invoice 42: total 99.50 EUR."},
]


def test_text_arrives_as_deltas_and_usage_comes_from_the_stream(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.reply = "The total is 99.50 EUR."
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        answer = collect(engine.stream(MESSAGES))
    assert answer.text == "The total is 99.50 EUR."
    deltas = [c.text for c in answer.chunks if c.text]
    assert deltas == split_tokens("The total is 99.50 EUR.")  # streamed, not one blob
    assert answer.chunks[-1].usage is not None  # the last chunk carries the usage
    assert answer.usage == Usage(
        input_tokens=fake_prompt_tokens(MESSAGES), output_tokens=len(deltas), estimated=False
    )
    assert answer.notices == []


def test_request_body_asks_for_a_stream_with_usage(fake_provider: FakeProvider) -> None:
    with OpenAICompatibleEngine(
        fake_provider.base_url, "fake-model", temperature=0.2, max_tokens=77
    ) as engine:
        collect(engine.stream(MESSAGES, max_tokens=55))
        collect(engine.stream(MESSAGES))
    first, second = (request.body for request in fake_provider.chat_requests)
    assert first["model"] == "fake-model"
    assert first["messages"] == MESSAGES
    assert first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert first["temperature"] == 0.2
    assert first["max_tokens"] == 55
    assert second["max_tokens"] == 77
    assert "response_format" not in first


def test_usage_is_estimated_when_the_server_sends_none() -> None:
    with FakeProvider(reply="Twelve apples and three pears.", send_usage=False) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            answer = collect(engine.stream(MESSAGES))
    expected_input = sum(estimate_tokens(m["content"]) for m in MESSAGES)
    assert answer.usage == Usage(
        input_tokens=expected_input,
        output_tokens=estimate_tokens("Twelve apples and three pears."),
        estimated=True,
    )


def test_server_that_ignores_stream_true_still_works() -> None:
    with FakeProvider(
        reply="one piece", ignore_stream=True, usage={"prompt_tokens": 11, "completion_tokens": 2}
    ) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            answer = collect(engine.stream(MESSAGES))
    assert answer.text == "one piece"
    assert answer.usage == Usage(11, 2, estimated=False)


def test_answer_cut_at_max_tokens_gives_a_notice(fake_provider: FakeProvider) -> None:
    fake_provider.reply = "a b c d e f g h"
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        answer = collect(engine.stream(MESSAGES, max_tokens=3))
    assert answer.text == "a b c"
    assert answer.notices == ["the answer reached max_tokens (3) and was cut short"]


def test_unicode_answers_survive_streaming(fake_provider: FakeProvider) -> None:
    fake_provider.reply = '{"会社名": "株式会社サンプル", "合計": 12800}'
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        assert collect(engine.stream(MESSAGES)).text == fake_provider.reply


def test_threads_stream_at_once_through_one_engine() -> None:
    workers = 4
    with FakeProvider(reply="slow and steady", ttft=0.4) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            answers: list[str] = []
            lock = threading.Lock()

            def work() -> None:
                text = collect(engine.stream(MESSAGES)).text
                with lock:
                    answers.append(text)

            threads = [threading.Thread(target=work) for _ in range(workers)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
            elapsed = time.monotonic() - started
        assert answers == ["slow and steady"] * workers
        assert fp.peak_in_flight == workers
        assert elapsed < 0.4 * workers  # overlapped, not one after the other


def test_max_concurrency_caps_requests_in_flight() -> None:
    with FakeProvider(ttft=0.2) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model", max_concurrency=2) as engine:
            threads = [
                threading.Thread(target=lambda: collect(engine.stream(MESSAGES))) for _ in range(5)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
        assert len(fp.chat_requests) == 5
        assert fp.peak_in_flight == 2
        assert engine.max_concurrency == 2


def test_list_models(fake_provider: FakeProvider) -> None:
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        assert engine.list_models() == ["fake-model", "fake-model-large"]
    assert fake_provider.requests[-1].path == "/v1/models"


def test_label_names_model_and_url_without_credentials() -> None:
    engine = OpenAICompatibleEngine("https://user:pw@api.example.com/v1/?token=x", "gpt-4o-mini")
    try:
        assert engine.label == "gpt-4o-mini @ https://api.example.com/v1"
        assert "pw" not in repr(engine) and "token" not in repr(engine)
    finally:
        engine.close()


@pytest.mark.parametrize("bad_url", ["", "api.openai.com/v1", "ftp://example.com/v1"])
def test_a_base_url_that_is_not_http_is_refused_at_once(bad_url: str) -> None:
    from analyzer.engines.base import EngineError

    with pytest.raises(EngineError, match="must start with http:// or https://"):
        OpenAICompatibleEngine(bad_url, "m")
