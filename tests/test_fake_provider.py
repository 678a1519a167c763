"""The fake provider speaks the real wire format: checked with a plain HTTP client, no engine."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
import sseclient

from tests.fake_provider import (
    FakeProvider,
    connection_reset,
    example_for_schema,
    fake_provider_fixture,  # noqa: F401 - pytest fixture
    malformed_chunk,
    rate_limited,
    split_tokens,
    stream_cut,
)

MESSAGES = [{"role": "user", "content": "Say hello."}]


def stream_events(base_url: str, body: dict[str, Any]) -> list[str]:
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [event.data for event in sseclient.SSEClient(response.iter_bytes()).events()]


def test_stream_has_role_deltas_finish_usage_and_done(fake_provider: FakeProvider) -> None:
    fake_provider.reply = "Hello there, analyst."
    body = {
        "model": "fake-model",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = stream_events(fake_provider.base_url, body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(data) for data in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello there, analyst."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert fake_provider.usages == [chunks[-1]["usage"]]


def test_stream_without_include_usage_sends_no_usage(fake_provider: FakeProvider) -> None:
    events = stream_events(
        fake_provider.base_url, {"model": "m", "messages": MESSAGES, "stream": True}
    )
    chunks = [json.loads(data) for data in events[:-1]]
    assert all("usage" not in chunk for chunk in chunks)


def test_non_streaming_answer_and_model_list(fake_provider: FakeProvider) -> None:
    fake_provider.reply = lambda body: f"echo {body['messages'][-1]['content']}"
    answer = httpx.post(
        f"{fake_provider.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES}
    ).json()
    assert answer["choices"][0]["message"]["content"] == "echo Say hello."
    models = httpx.get(f"{fake_provider.base_url}/models").json()
    assert [m["id"] for m in models["data"]] == ["fake-model", "fake-model-large"]


def test_records_headers_body_and_time(fake_provider: FakeProvider) -> None:
    before = time.monotonic()
    httpx.post(
        f"{fake_provider.base_url}/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"Authorization": "Bearer abc", "X-Extra": "1"},
    )
    [request] = fake_provider.chat_requests
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["x-extra"] == "1"
    assert request.body["messages"] == MESSAGES
    assert before <= request.received_at <= time.monotonic()


def test_faults_are_consumed_in_order_then_normal(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(rate_limited(retry_after=3), rate_limited(retry_after_ms=250))
    url = f"{fake_provider.base_url}/chat/completions"
    body = {"model": "m", "messages": MESSAGES}
    first, second, third = (httpx.post(url, json=body) for _ in range(3))
    assert (first.status_code, first.headers["retry-after"]) == (429, "3")
    assert (second.status_code, second.headers["retry-after-ms"]) == (429, "250")
    assert third.status_code == 200
    assert fake_provider.pending_faults == 0


def test_retry_after_as_http_date(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(rate_limited(retry_after_date_in=5))
    response = httpx.post(
        f"{fake_provider.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES}
    )
    assert response.headers["retry-after"].endswith("GMT")


def test_stream_cut_breaks_the_chunked_body(fake_provider: FakeProvider) -> None:
    fake_provider.reply = "one two three four five"
    fake_provider.add_faults(stream_cut(after_chunks=2))
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    with pytest.raises(httpx.RemoteProtocolError):
        stream_events(fake_provider.base_url, body)


def test_a_stream_fault_past_the_end_still_strikes(fake_provider: FakeProvider) -> None:
    fake_provider.reply = "short"
    fake_provider.add_faults(stream_cut(after_chunks=50))
    with pytest.raises(httpx.RemoteProtocolError):
        stream_events(fake_provider.base_url, {"model": "m", "messages": MESSAGES, "stream": True})


def test_malformed_chunk_is_not_json(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(malformed_chunk(after_chunks=1))
    events = stream_events(
        fake_provider.base_url, {"model": "m", "messages": MESSAGES, "stream": True}
    )
    bad = [data for data in events if data != "[DONE]" and not _is_json(data)]
    assert len(bad) == 1


def test_connection_reset_sends_no_byte(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(connection_reset())
    with pytest.raises(httpx.TransportError):
        httpx.post(
            f"{fake_provider.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES}
        )
    assert len(fake_provider.chat_requests) == 1


def test_api_key_model_and_parameter_checks() -> None:
    with FakeProvider(
        api_key="right", known_models=["a"], reject_json_schema=True, reject_stream_options=True
    ) as fp:
        url = f"{fp.base_url}/chat/completions"
        good = {"Authorization": "Bearer right"}
        assert httpx.post(url, json={"model": "a", "messages": MESSAGES}).status_code == 401
        missing = httpx.post(url, json={"model": "b", "messages": MESSAGES}, headers=good)
        assert missing.status_code == 404 and "`b`" in missing.json()["error"]["message"]
        schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
        refused = httpx.post(
            url, json={"model": "a", "messages": MESSAGES, "response_format": schema}, headers=good
        )
        assert refused.status_code == 400 and "response_format" in refused.text
        json_object = {
            "model": "a",
            "messages": MESSAGES,
            "response_format": {"type": "json_object"},
        }
        assert httpx.post(url, json=json_object, headers=good).status_code == 200
        options = {"model": "a", "messages": MESSAGES, "stream_options": {"include_usage": True}}
        assert httpx.post(url, json=options, headers=good).status_code == 400


def test_peak_in_flight_counts_overlapping_requests() -> None:
    with FakeProvider(ttft=0.3) as fp:
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        threads = [
            threading.Thread(target=stream_events, args=(fp.base_url, body)) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert fp.peak_in_flight == 3
        assert fp.in_flight == 0


def test_default_reply_follows_the_requested_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "total": {"type": ["number", "null"]},
            "when": {"type": "string", "format": "date"},
            "kind": {"enum": ["invoice", "receipt"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    assert example_for_schema(schema) == {
        "total": 1.5,
        "when": "2024-01-31",
        "kind": "invoice",
        "tags": ["example"],
    }


def test_split_tokens_keeps_every_character() -> None:
    for text in ["", "a", "  lead and trail  ", '{"a": 1,\n "b": "日本語"}']:
        assert "".join(split_tokens(text)) == text


def _is_json(data: str) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
