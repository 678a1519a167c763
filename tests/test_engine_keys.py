"""The API key goes in the Authorization header and nowhere else: not in errors, notices, logs."""

from __future__ import annotations

import json
import logging

import pytest

from analyzer.engines.base import EngineError
from analyzer.engines.openai_compat import OpenAICompatibleEngine, sanitise
from tests.fake_provider import (
    FakeProvider,
    collect,
    connection_reset,
    fake_provider_fixture,  # noqa: F401 - pytest fixture
    http_error,
    rate_limited,
    server_error,
    stream_cut,
    stream_error,
)

KEY = "sk-test-SECRET123"
MESSAGES = [{"role": "user", "content": "Extract the total."}]


def test_key_is_sent_only_as_a_bearer_token() -> None:
    with FakeProvider(api_key=KEY) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model", KEY) as engine:
            assert collect(engine.stream(MESSAGES)).text
            assert engine.list_models()
        for request in fp.requests:
            assert request.headers["authorization"] == f"Bearer {KEY}"
            others = {k: v for k, v in request.headers.items() if k != "authorization"}
            assert KEY not in json.dumps(others)
            assert KEY not in request.path
            assert KEY not in json.dumps(request.body)


def test_no_key_means_no_authorization_header(fake_provider: FakeProvider) -> None:
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        collect(engine.stream(MESSAGES))
    assert "authorization" not in fake_provider.requests[0].headers


def test_key_never_leaks_into_errors_notices_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore, sseclient and ours, at their chattiest
    seen: list[str] = []
    with FakeProvider(api_key="sk-the-real-one") as refusing, FakeProvider() as flaky:
        # This server echoes the wrong key back in its 401 message, as careless ones do.
        with OpenAICompatibleEngine(refusing.base_url, "fake-model", KEY) as engine:
            seen += [repr(engine), engine.label, str(vars(engine))]
            with pytest.raises(EngineError) as refused:
                collect(engine.stream(MESSAGES))
            seen += [str(refused.value), repr(refused.value)]
            with pytest.raises(EngineError) as refused_list:
                engine.list_models()
            seen.append(str(refused_list.value))

        flaky.add_faults(
            rate_limited(retry_after=0),
            server_error(503, f"upstream said: invalid key {KEY}"),
            stream_cut(after_chunks=1),
            connection_reset(),
            stream_error(f"Bearer {KEY} expired"),
            http_error(400, f"Bad key {KEY} in request"),
        )
        with OpenAICompatibleEngine(
            flaky.base_url, "fake-model", KEY, backoff_base=0.01, max_retries=6
        ) as engine:
            with pytest.raises(EngineError) as bad_request:
                for chunk in engine.stream(MESSAGES):
                    seen.append(repr(chunk))
            seen.append(str(bad_request.value))
            flaky.add_faults(*[server_error(500, f"oops {KEY}")] * 3)
            engine.max_retries = 2
            with pytest.raises(EngineError) as exhausted:
                for chunk in engine.stream(MESSAGES):
                    seen.append(repr(chunk))
            seen.append(str(exhausted.value))

    assert "[redacted]" in str(bad_request.value)  # the server's words kept, the key not
    assert "The API key was refused (401)" in str(refused.value)
    logs = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert len(caplog.records) > 10  # the logs really were captured
    for text in [*seen, logs]:
        assert KEY not in text
        assert "SECRET123" not in text


def test_sanitise_scrubs_keys_it_was_told_about_and_ones_that_look_like_keys() -> None:
    text = "key abc-123-xyz; token sk-proj-AbCdEf123456; header Bearer eyJhbGci.x\nnext"
    cleaned = sanitise(text, secrets=("abc-123-xyz",))
    assert "abc-123-xyz" not in cleaned
    assert "sk-proj-AbCdEf123456" not in cleaned
    assert "eyJhbGci" not in cleaned
    assert "\n" not in cleaned
    assert len(sanitise("x" * 1000, limit=50)) == 50
