"""Transient failures are retried with backoff; the answer that finally arrives is whole."""

from __future__ import annotations

import email.utils
import itertools
import random
import socket
import time

import pytest

from analyzer.engines.base import EngineError
from analyzer.engines.openai_compat import OpenAICompatibleEngine
from analyzer.engines.retry import backoff_delay, parse_retry_after
from tests.fake_provider import (
    FakeProvider,
    collect,
    connection_reset,
    fake_provider_fixture,  # noqa: F401 - pytest fixture
    malformed_chunk,
    rate_limited,
    server_error,
    slow,
    stream_cut,
    stream_error,
)

MESSAGES = [{"role": "user", "content": "Extract the total."}]
REPLY = '{"total": 99.5, "currency": "EUR"}'


def engine_for(fp: FakeProvider, **options: float) -> OpenAICompatibleEngine:
    settings = {"backoff_base": 0.01, "backoff_max": 5.0, "max_retries": 3, **options}
    return OpenAICompatibleEngine(fp.base_url, "fake-model", **settings)  # type: ignore[arg-type]


def gaps(fp: FakeProvider) -> list[float]:
    times = [request.received_at for request in fp.chat_requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_429_retry_after_seconds_is_honoured(fake_provider: FakeProvider) -> None:
    fake_provider.reply = REPLY
    fake_provider.add_faults(rate_limited(retry_after=1))
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert answer.text == REPLY
    assert answer.notices == [
        "rate limited by the provider (429); retrying in 1.0 s (attempt 2 of 4)"
    ]
    [gap] = gaps(fake_provider)
    assert 0.95 <= gap < 2.5


def test_429_retry_after_http_date_is_honoured(fake_provider: FakeProvider) -> None:
    # HTTP dates have whole seconds: "in 2 s" means somewhere in (1, 2] seconds from now.
    fake_provider.add_faults(rate_limited(retry_after_date_in=2))
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert "rate limited by the provider (429)" in answer.notices[0]
    [gap] = gaps(fake_provider)
    assert 0.95 <= gap < 3


def test_retry_after_ms_wins_and_is_precise(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(rate_limited(retry_after=30, retry_after_ms=300))
    with engine_for(fake_provider) as engine:
        collect(engine.stream(MESSAGES))
    [gap] = gaps(fake_provider)
    assert 0.28 <= gap < 1.5


def test_retry_after_is_capped_at_backoff_max(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(rate_limited(retry_after=3600))
    with engine_for(fake_provider, backoff_max=0.2) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert "retrying in 0.2 s" in answer.notices[0]
    assert gaps(fake_provider)[0] < 1.5


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504])
def test_server_errors_are_retried(fake_provider: FakeProvider, status: int) -> None:
    fake_provider.reply = REPLY
    fake_provider.add_faults(server_error(status))
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert answer.text == REPLY
    assert f"({status})" in answer.notices[0]
    assert len(fake_provider.chat_requests) == 2


def test_a_stream_cut_half_way_restarts_the_answer(fake_provider: FakeProvider) -> None:
    fake_provider.reply = "alpha beta gamma delta epsilon"
    fake_provider.add_faults(stream_cut(after_chunks=3))
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    streamed = [c.text for c in answer.chunks if c.text]
    assert streamed[:3] == ["alpha", " beta", " gamma"]  # the broken first try
    assert answer.restarts == 1  # ... was voided
    assert answer.text == "alpha beta gamma delta epsilon"
    assert answer.notices[0].startswith("the answer stream broke off before the end; retrying")
    restart_index = next(i for i, c in enumerate(answer.chunks) if c.restart)
    notice_index = next(i for i, c in enumerate(answer.chunks) if c.notice)
    assert notice_index < restart_index


def test_a_failure_before_any_text_needs_no_restart(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(server_error(502), stream_cut(after_chunks=0))
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert answer.restarts == 0
    assert len(answer.notices) == 2


def test_malformed_chunk_is_retried(fake_provider: FakeProvider) -> None:
    fake_provider.reply = REPLY
    fake_provider.add_faults(malformed_chunk(after_chunks=1))
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert answer.text == REPLY
    assert answer.notices[0].startswith("the provider sent a malformed chunk")


def test_error_object_inside_the_stream_is_retried(fake_provider: FakeProvider) -> None:
    fake_provider.reply = REPLY
    fake_provider.add_faults(stream_error("Model overloaded, try later.", after_chunks=2))
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert answer.text == REPLY
    assert "Model overloaded, try later" in answer.notices[0]
    assert answer.restarts == 1


def test_connection_reset_before_any_byte_is_retried(fake_provider: FakeProvider) -> None:
    fake_provider.reply = REPLY
    fake_provider.add_faults(connection_reset(), connection_reset())
    with engine_for(fake_provider) as engine:
        answer = collect(engine.stream(MESSAGES))
    assert answer.text == REPLY
    assert len(fake_provider.chat_requests) == 3
    assert all("closed before an answer" in notice for notice in answer.notices)


def test_a_stalled_stream_times_out_and_is_retried(fake_provider: FakeProvider) -> None:
    fake_provider.reply = REPLY
    fake_provider.add_faults(slow(ttft=3))
    with engine_for(fake_provider, read_timeout=0.3) as engine:
        started = time.monotonic()
        answer = collect(engine.stream(MESSAGES))
    assert time.monotonic() - started < 2.5
    assert answer.text == REPLY
    assert "stalled for 0.3 s" in answer.notices[0]


def test_giving_up_says_what_happened_and_what_to_do(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(*[rate_limited(retry_after=0)] * 10)
    with engine_for(fake_provider, max_retries=2) as engine:
        notices: list[str] = []
        with pytest.raises(EngineError) as failure:
            for chunk in engine.stream(MESSAGES):
                if chunk.notice:
                    notices.append(chunk.notice)
    message = str(failure.value)
    assert "rate limited by the provider (429)" in message
    assert "3 attempts" in message
    assert "lower the concurrency" in message
    assert fake_provider.base_url in message
    assert len(fake_provider.chat_requests) == 3
    assert [n.rsplit("(", 1)[1] for n in notices] == ["attempt 2 of 3)", "attempt 3 of 3)"]


def test_nothing_listening_is_retried_then_explained() -> None:
    with socket.socket() as placeholder:  # a port that is certainly closed
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    engine = OpenAICompatibleEngine(
        f"http://127.0.0.1:{port}/v1", "m", max_retries=2, backoff_base=0.01
    )
    with engine, pytest.raises(EngineError) as failure:
        collect(engine.stream(MESSAGES))
    assert "could not connect to the provider" in str(failure.value)
    assert "Check the base URL and that the server is running" in str(failure.value)


# -- the policy on its own -----------------------------------------------------------------------


def test_parse_retry_after_forms() -> None:
    now = time.time()
    assert parse_retry_after({"Retry-After": "7"}) == 7
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"Retry-After": "9", "retry-after-ms": "250"}) == 0.25
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after({"Retry-After": date}, now=now) <= 30  # type: ignore[operator]
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(7)
    for failures in range(1, 8):
        ceiling = min(10.0, 0.5 * 2 ** (failures - 1))
        delays = [backoff_delay(failures, base=0.5, maximum=10, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread, not fixed
    assert backoff_delay(3, base=1, maximum=10, retry_after=4) == 4
    assert backoff_delay(3, base=1, maximum=10, retry_after=400) == 10
