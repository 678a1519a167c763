"""Failures a retry cannot fix end at once with one sentence that says what to do."""

from __future__ import annotations

import socket

import pytest

from analyzer.engines.base import EngineError
from analyzer.engines.openai_compat import OpenAICompatibleEngine
from tests.fake_provider import (
    FakeProvider,
    collect,
    fake_provider_fixture,  # noqa: F401 - pytest fixture
    forbidden,
    http_error,
    unauthorized,
)

MESSAGES = [{"role": "user", "content": "Extract the total."}]


def failure_of(engine: OpenAICompatibleEngine) -> str:
    with pytest.raises(EngineError) as failure:
        collect(engine.stream(MESSAGES))
    return str(failure.value)


def test_401_with_a_key_says_the_key_was_refused() -> None:
    with FakeProvider(api_key="sk-the-right-one") as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model", "sk-a-wrong-one") as engine:
            message = failure_of(engine)
        assert message == (
            f"The API key was refused (401) by {fp.base_url}: check ANALYZER_API_KEY."
        )
        assert len(fp.chat_requests) == 1  # not retried


def test_401_without_a_key_says_one_is_needed(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(unauthorized())
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        message = failure_of(engine)
    assert message == f"{fake_provider.base_url} wants an API key (401): set ANALYZER_API_KEY."


def test_403_quotes_the_server_and_is_not_retried(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(forbidden("Project does not have access to model gpt-x."))
    with OpenAICompatibleEngine(fake_provider.base_url, "gpt-x", "sk-k") as engine:
        message = failure_of(engine)
    assert message.startswith(f"Access was denied (403) by {fake_provider.base_url}")
    assert "Project does not have access to model gpt-x" in message
    assert len(fake_provider.chat_requests) == 1


def test_404_unknown_model_names_it() -> None:
    with FakeProvider(known_models=["llama3"]) as fp:
        with OpenAICompatibleEngine(fp.base_url, "lama3") as engine:
            message = failure_of(engine)
        assert message == (
            f"Model 'lama3' was not found at {fp.base_url} (404): check the model name "
            "(GET /models lists them)."
        )
        assert len(fp.chat_requests) == 1


def test_404_wrong_base_url_points_at_the_url(fake_provider: FakeProvider) -> None:
    base_without_v1 = fake_provider.base_url.removesuffix("/v1")
    with OpenAICompatibleEngine(base_without_v1, "fake-model") as engine:
        message = failure_of(engine)
    assert message.startswith(f"Nothing was found at {base_without_v1}/chat/completions (404)")
    assert "ends in /v1" in message


def test_400_carries_the_servers_message_truncated_and_on_one_line(
    fake_provider: FakeProvider,
) -> None:
    long_reason = "This model's maximum context length is 8192 tokens.\n\x1b[31m" + "x" * 2000
    fake_provider.add_faults(http_error(400, long_reason))
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        message = failure_of(engine)
    assert message.startswith(f"The provider at {fake_provider.base_url} refused the request (400)")
    assert "maximum context length is 8192 tokens" in message
    assert "\n" not in message and "\x1b" not in message
    assert len(message) < 500
    assert len(fake_provider.chat_requests) == 1


def test_413_suggests_smaller_pieces(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(http_error(413, "Request too large"))
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        assert "context_tokens" in failure_of(engine)


def test_list_models_explains_a_refused_key() -> None:
    with FakeProvider(api_key="right") as fp:
        with OpenAICompatibleEngine(fp.base_url, "m", "wrong") as engine:
            with pytest.raises(EngineError, match=r"The API key was refused \(401\)"):
                engine.list_models()


def test_list_models_explains_a_wrong_url(fake_provider: FakeProvider) -> None:
    base = fake_provider.base_url.removesuffix("/v1")
    with OpenAICompatibleEngine(base, "m") as engine:
        with pytest.raises(EngineError, match=r"There is no model list at .*/models \(404\)"):
            engine.list_models()


def test_list_models_explains_nothing_listening() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with OpenAICompatibleEngine(f"http://127.0.0.1:{port}/v1", "m") as engine:
        with pytest.raises(EngineError, match=r"Could not connect to http://127\.0\.0\.1:\d+/v1"):
            engine.list_models()


def test_429_for_an_empty_account_is_not_retried(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(
        http_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            error_type="insufficient_quota",
        )
    )
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        message = failure_of(engine)
    assert "out of credit or quota (429)" in message
    assert len(fake_provider.chat_requests) == 1
