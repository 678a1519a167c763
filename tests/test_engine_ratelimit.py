"""The client-side rate limit paces requests before the provider has to say 429."""

from __future__ import annotations

import threading
import time

import pytest

from analyzer.engines.openai_compat import OpenAICompatibleEngine
from analyzer.engines.ratelimit import TokenBucket
from tests.fake_provider import FakeProvider, collect


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock)  # one per second, burst of 60
    assert [bucket.reserve() for _ in range(60)] == [0.0] * 60
    assert bucket.reserve() == pytest.approx(1.0)
    assert bucket.reserve() == pytest.approx(2.0)  # callers queue behind each other
    clock.now += 2.0
    assert bucket.reserve() == pytest.approx(1.0)


def test_bucket_refills_but_not_beyond_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock)  # ten per second
    bucket.reserve(600)
    clock.now += 3600
    assert bucket.reserve(600) == 0.0
    assert bucket.reserve(10) == pytest.approx(1.0)


def test_a_request_bigger_than_the_whole_quota_still_goes_through() -> None:
    bucket = TokenBucket(1000, clock=FakeClock())
    assert bucket.reserve(50_000) == 0.0


def test_bucket_is_thread_safe() -> None:
    clock = FakeClock()
    bucket = TokenBucket(6000, clock=clock)
    threads = [
        threading.Thread(target=lambda: [bucket.reserve() for _ in range(1000)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 8000 taken from 6000: exactly 2000 units of debt at 100 units/s, whatever the interleaving
    assert bucket.reserve(0) == pytest.approx(20.0)


def test_engine_waits_and_says_so_when_requests_per_minute_is_reached() -> None:
    with FakeProvider(reply="ok") as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model", requests_per_minute=30) as engine:
            started = time.monotonic()
            for _ in range(30):  # the first minute's quota is available at once
                assert collect(engine.stream([{"role": "user", "content": "hi"}])).notices == []
            burst = time.monotonic() - started
            answer = collect(engine.stream([{"role": "user", "content": "hi"}]))
        assert answer.text == "ok"
        assert answer.notices and answer.notices[0].startswith("waiting ")
        assert "rate limit" in answer.notices[0]
        times = [request.received_at for request in fp.chat_requests]
        assert len(times) == 31
        # one request per two seconds: the 31st waits until 2 s after the budget began
        assert times[-1] - started >= 1.9
        assert burst < 5


def test_engine_counts_tokens_against_tokens_per_minute() -> None:
    with FakeProvider(reply="ok") as fp:
        with OpenAICompatibleEngine(
            fp.base_url, "fake-model", tokens_per_minute=6000, max_tokens=5000
        ) as engine:
            # prompt + max_tokens is what providers count up front: 5000+ of 6000 taken
            assert collect(engine.stream([{"role": "user", "content": "hi"}])).text == "ok"
            second = engine.stream([{"role": "user", "content": "hi"}])
            notice = next(second).notice
            second.close()  # no need to wait the ~40 s out
        assert notice is not None and notice.startswith("waiting 4")
        assert len(fp.chat_requests) == 1
