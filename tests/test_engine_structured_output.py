"""Asking for JSON: json_schema first, then json_object, then the prompt alone, remembered."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest

from analyzer.engines.base import EngineError
from analyzer.engines.openai_compat import (
    OpenAICompatibleEngine,
    forget_quirks,
    known_quirks,
)
from tests.fake_provider import (
    FakeProvider,
    collect,
    fake_provider_fixture,  # noqa: F401 - pytest fixture
    http_error,
    prose,
    response_format_unsupported,
)

SCHEMA = {
    "title": "invoice fields",
    "type": "object",
    "properties": {
        "total_amount": {"type": ["number", "null"]},
        "due_date": {"type": ["string", "null"], "format": "date"},
    },
    "required": ["total_amount", "due_date"],
}
MESSAGES = [
    {"role": "system", "content": "You extract invoice fields."},
    {"role": "user", "content": "Invoice: total 12.00, due 2024-05-01."},
]


@pytest.fixture(autouse=True)
def fresh_negotiation() -> Iterator[None]:
    """What a server accepts is remembered process-wide: start and leave each test clean."""
    forget_quirks()
    yield
    forget_quirks()


def bodies(fp: FakeProvider) -> list[dict]:
    return [request.body for request in fp.chat_requests]


def test_json_schema_is_sent_as_response_format(fake_provider: FakeProvider) -> None:
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        answer = collect(engine.stream(MESSAGES, json_schema=SCHEMA))
    [body] = bodies(fake_provider)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "invoice_fields", "schema": SCHEMA},
    }
    assert body["messages"] == MESSAGES  # the schema travels as a parameter, not in the prompt
    jsonschema.validate(json.loads(answer.text), SCHEMA)
    assert answer.notices == []


def test_refused_json_schema_falls_back_to_json_object_and_remembers() -> None:
    with FakeProvider(reject_json_schema=True) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            first = collect(engine.stream(MESSAGES, json_schema=SCHEMA))
            second = collect(engine.stream(MESSAGES, json_schema=SCHEMA))
        kinds = [body.get("response_format", {}).get("type") for body in bodies(fp)]
        assert kinds == ["json_schema", "json_object", "json_object"]  # 2nd call goes straight
        assert first.notices == [
            "the provider does not support response_format json_schema; "
            "asking for a JSON object instead"
        ]
        assert second.notices == []
        # json_object carries no schema, so the prompt must: OpenAI even demands the word JSON
        system = bodies(fp)[1]["messages"][0]
        assert system["role"] == "system"
        assert system["content"].startswith("You extract invoice fields.")
        assert json.dumps(SCHEMA) in system["content"]
        assert "JSON" in system["content"]
        assert MESSAGES[0]["content"] == "You extract invoice fields."  # caller's list untouched


def test_refused_response_format_falls_back_to_the_prompt_only() -> None:
    with FakeProvider(reject_response_format=True, reply='{"total_amount": 12}') as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            first = collect(engine.stream(MESSAGES, json_schema=SCHEMA))
            collect(engine.stream(MESSAGES, json_schema=SCHEMA))
        kinds = [body.get("response_format", {}).get("type") for body in bodies(fp)]
        assert kinds == ["json_schema", "json_object", None, None]
        assert first.text == '{"total_amount": 12}'
        assert len(first.notices) == 2
        assert "JSON Schema" in bodies(fp)[-1]["messages"][0]["content"]
        assert known_quirks(fp.base_url, "fake-model").structured == "prompt"


def test_negotiation_is_remembered_per_server_and_model() -> None:
    with FakeProvider(reject_json_schema=True) as picky, FakeProvider() as capable:
        with (
            OpenAICompatibleEngine(picky.base_url, "fake-model") as first,
            OpenAICompatibleEngine(picky.base_url, "fake-model") as same_server,
            OpenAICompatibleEngine(capable.base_url, "fake-model") as other_server,
        ):
            collect(first.stream(MESSAGES, json_schema=SCHEMA))
            collect(same_server.stream(MESSAGES, json_schema=SCHEMA))
            collect(other_server.stream(MESSAGES, json_schema=SCHEMA))
        assert bodies(picky)[-1]["response_format"]["type"] == "json_object"
        assert len(bodies(picky)) == 3  # the second engine did not ask for json_schema again
        assert bodies(capable)[0]["response_format"]["type"] == "json_schema"


def test_refused_stream_options_are_dropped_and_usage_estimated() -> None:
    with FakeProvider(reject_stream_options=True) as fp:
        with OpenAICompatibleEngine(fp.base_url, "fake-model") as engine:
            first = collect(engine.stream(MESSAGES))
            collect(engine.stream(MESSAGES))
        with_options = ["stream_options" in body for body in bodies(fp)]
        assert with_options == [True, False, False]
        assert "stream_options" in first.notices[0]
        assert first.usage.estimated is True
        assert first.usage.output_tokens > 0


def test_max_completion_tokens_and_temperature_are_negotiated(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.add_faults(
        http_error(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            param="max_tokens",
        ),
        http_error(
            400,
            "Unsupported value: 'temperature' does not support 0 with this model.",
            param="temperature",
        ),
    )
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model", max_tokens=99) as engine:
        answer = collect(engine.stream(MESSAGES))
        collect(engine.stream(MESSAGES))
    last = bodies(fake_provider)[-1]
    assert last["max_completion_tokens"] == 99 and "max_tokens" not in last
    assert "temperature" not in last
    assert len(bodies(fake_provider)) == 4
    assert len(answer.notices) == 2


def test_a_server_that_refuses_json_in_every_form_is_not_asked_forever(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.add_faults(*[response_format_unsupported()] * 5)
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        with pytest.raises(EngineError, match=r"refused the request \(400\).*response_format"):
            collect(engine.stream(MESSAGES, json_schema=SCHEMA))
    assert len(bodies(fake_provider)) == 3  # json_schema, json_object, prompt: then give up


def test_a_400_about_something_else_is_not_negotiated(fake_provider: FakeProvider) -> None:
    fake_provider.add_faults(http_error(400, "messages[1].content must be a string"))
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        with pytest.raises(EngineError, match="must be a string"):
            collect(engine.stream(MESSAGES, json_schema=SCHEMA))
    assert len(bodies(fake_provider)) == 1


def test_prose_instead_of_json_reaches_the_caller_unchanged(fake_provider: FakeProvider) -> None:
    # Validating the answer is the schema module's job; the engine must not hide what came.
    fake_provider.add_faults(prose("Sure! The total is twelve."))
    with OpenAICompatibleEngine(fake_provider.base_url, "fake-model") as engine:
        answer = collect(engine.stream(MESSAGES, json_schema=SCHEMA))
    assert answer.text == "Sure! The total is twelve."
