"""A cancel stops the engine within a second, wherever it is waiting."""

from __future__ import annotations

import threading
import time

import pytest

from analyzer.engines.base import Cancelled, CancelToken
from analyzer.engines.openai_compat import OpenAICompatibleEngine
from tests.fake_provider import (
    FakeProvider,
    collect,
    fake_provider_fixture,  # noqa: F401 - pytest fixture
    header_delay,
    rate_limited,
)

MESSAGES = [{"role": "user", "content": "Summarise."}]


def cancel_later(token: CancelToken, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, token.cancel)
    timer.start()
    return timer


def test_cancel_interrupts_a_blocked_read_of_a_slow_stream() -> None:
    with FakeProvider(reply="one two three", token_delay=10) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            token = CancelToken()
            received: list[str] = []
            started = time.monotonic()
            cancel_later(token, 0.3)
            with pytest.raises(Cancelled):
                for chunk in engine.stream(MESSAGES, cancel=token):
                    received.append(chunk.text)
            elapsed = time.monotonic() - started
        assert received == ["one"]  # it was really streaming, then blocked on the next token
        assert elapsed < 1.0
        assert len(fp.chat_requests) == 1  # a cancel is not a failure to retry


def test_cancel_while_waiting_for_the_response_headers(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(header_delay(10))
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        token = CancelToken()
        started = time.monotonic()
        cancel_later(token, 0.3)
        with pytest.raises(Cancelled):
            collect(engine.stream(MESSAGES, cancel=token))
        assert time.monotonic() - started < 1.0
        # the engine is still usable at once: the abandoned request does not block it
        assert collect(engine.stream(MESSAGES)).text == "This is the fake provider's answer."


def test_cancel_during_a_retry_wait(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(rate_limited(retry_after=30))
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        token = CancelToken()
        notices: list[str] = []
        started = time.monotonic()
        cancel_later(token, 0.3)
        with pytest.raises(Cancelled):
            for chunk in engine.stream(MESSAGES, cancel=token):
                if chunk.notice:
                    notices.append(chunk.notice)
        assert time.monotonic() - started < 1.0
    assert "retrying in 30.0 s" in notices[0]
    assert len(fake_provider.chat_requests) == 1


def test_an_already_cancelled_token_sends_nothing(fake_provider: FakeProvider) -> None:
    token = CancelToken()
    token.cancel()
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        with pytest.raises(Cancelled):
            collect(engine.stream(MESSAGES, cancel=token))
    assert fake_provider.requests == []


def test_closing_the_generator_hangs_up_on_the_server() -> None:
    with FakeProvider(reply="a b c d e f g h i j", token_delay=0.05) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            stream = engine.stream(MESSAGES)
            assert next(stream).text == "a"
            stream.close()
            deadline = time.monotonic() + 3
            while fp.in_flight and time.monotonic() < deadline:
                time.sleep(0.02)
        assert fp.in_flight == 0
        assert fp.aborted == 1  # the server noticed the client left mid-answer
        assert fp.usages == []  # ... and never finished the answer
