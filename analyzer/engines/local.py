"""The embedded default engine: a small GGUF model run by llama.cpp on the CPU.

No API key, no network. Answers are forced into the JSON Schema by a grammar (constrained
decoding), so a 135M-parameter model cannot answer in prose; the token budget is capped per field
so it cannot ramble, and an answer cut by that cap is closed into valid JSON.
One generation runs at a time (``max_concurrency = 1``): llama.cpp already uses every core.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from analyzer.engines.base import (
    Cancelled,
    CancelToken,
    Chunk,
    EngineError,
    Message,
    Price,
    Usage,
)
from analyzer.engines.model_files import (
    LoadedModel,
    check_model_file,
    default_model_path,
    default_threads,
    import_llama_cpp,
    load_model,
    local_model_available,
)

__all__ = ["LocalEngine", "default_model_path", "local_model_available"]

#: room kept in the context window for instructions, the schema and role markers
PROMPT_OVERHEAD_TOKENS = 640
#: JSON braces, commas and spaces beyond the per-field budget
ANSWER_SLACK_TOKENS = 24
#: list fields: at most this many items (one long list must not starve the other fields)
MAX_LIST_ITEMS = 8


class LocalEngine:
    """Engine protocol over llama-cpp-python; the model is loaded once per process and shared."""

    max_concurrency: int | None = 1
    price = Price(0.0, 0.0)
    # A 135M model follows the short prompt better (measured with bench/evaluate.py).
    compact_prompt = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = 384,
        temperature: float = 0.0,
        per_field_tokens: int = 48,
    ) -> None:
        self.model_path = Path(model_path).expanduser() if model_path else default_model_path()
        # Fail at construction (a setup error, exit 2) rather than on every document.
        check_model_file(self.model_path)
        import_llama_cpp()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.per_field_tokens = per_field_tokens
        self.label = f"local: {self.model_path.name}"
        # Document text per request. The pipeline measures text with estimate_tokens, which can
        # be ~20 % low for this tokenizer, hence the margin.
        self.context_tokens = max(256, int((n_ctx - PROMPT_OVERHEAD_TOKENS - max_tokens) * 0.8))
        self._model: LoadedModel | None = None

    @property
    def model(self) -> LoadedModel | None:
        """The shared model once this engine has used it (None before the first answer)."""
        return self._model

    def answer_budget(self, json_schema: dict[str, Any] | None, max_tokens: int | None) -> int:
        """Tokens one answer may use: the caller's cap, tightened to what the fields need."""
        budget = min(max_tokens or self.max_tokens, self.max_tokens)
        fields = (json_schema or {}).get("properties")
        if isinstance(fields, dict) and fields:
            budget = min(budget, self.per_field_tokens * len(fields) + ANSWER_SLACK_TOKENS)
        return max(16, budget)

    def stream(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        first_use = self._model is None
        model, loaded_now = load_model(self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads)
        self._model = model
        if first_use:
            how = "loaded in" if loaded_now else "already in memory (loaded in"
            close = "" if loaded_now else ")"
            yield Chunk(
                notice=f"local model {how} {model.load_seconds:.1f} s{close} ({model.path.name})"
            )

        budget = self.answer_budget(json_schema, max_tokens)
        prompt_tokens = model.count_prompt_tokens(messages)
        room = self.n_ctx - prompt_tokens
        if room < 32:
            raise EngineError(
                f"The request has {prompt_tokens} tokens, more than the local model's context of "
                f"{self.n_ctx}: use a shorter document part or a provider with a larger context."
            )
        budget = min(budget, room)
        # Field order is kept: the grammar makes the model answer in the order the prompt lists.
        grammar = (
            _grammar_for(json.dumps(json_schema), self.per_field_tokens) if json_schema else None
        )

        pieces: list[str] = []
        finish_reason: str | None = None
        with model.generating(cancel):
            started = time.perf_counter()
            llama_stream = model.llm.create_chat_completion(
                messages=messages,
                stream=True,
                temperature=self.temperature,
                max_tokens=budget,
                grammar=grammar,
            )
            try:
                for part in llama_stream:
                    # Per token: a cancel stops the model within one token's time.
                    if cancel.cancelled:
                        raise Cancelled()
                    choice = part["choices"][0]
                    text = choice.get("delta", {}).get("content")
                    if text:
                        pieces.append(text)
                        yield Chunk(text=text)
                    finish_reason = choice.get("finish_reason") or finish_reason
            except (Cancelled, GeneratorExit):
                raise
            except Exception as error:  # noqa: BLE001 - llama.cpp raises bare ValueError/RuntimeError
                raise EngineError(
                    f"The local model failed while answering ({type(error).__name__}: {error}): "
                    "try a shorter document or another model."
                ) from None
            finally:
                llama_stream.close()
            seconds = time.perf_counter() - started

        answer = "".join(pieces)
        output_tokens = model.count_tokens(answer)
        if json_schema is not None and finish_reason == "length":
            repaired = complete_json_prefix(answer, json_schema)
            if repaired != answer:
                yield Chunk(
                    notice=f"local model hit its {budget}-token cap; closed the JSON answer"
                )
                if repaired.startswith(answer):
                    yield Chunk(text=repaired[len(answer) :])
                else:
                    yield Chunk(restart=True)
                    yield Chunk(text=repaired)
        rate = output_tokens / seconds if seconds > 0 else 0.0
        yield Chunk(
            notice=(
                f"local model: {output_tokens} tokens in {seconds:.1f} s ({rate:.0f} tokens/s, "
                f"prompt {prompt_tokens} tokens)"
            )
        )
        yield Chunk(usage=Usage(input_tokens=prompt_tokens, output_tokens=output_tokens))

    def close(self) -> None:
        # The model stays loaded for the next engine of this process (Streamlit reruns, jobs).
        self._model = None


@lru_cache(maxsize=32)
def _grammar_for(schema_json: str, per_field_tokens: int) -> Any:
    """A llama.cpp grammar that only lets the model write JSON valid for the schema."""
    grammars = import_llama_cpp().llama_grammar
    schema = json.loads(schema_json)
    try:
        bounded = grammar_schema(schema, max_string_chars=per_field_tokens * 3)
        gbnf = strict_string_chars(grammars.json_schema_to_gbnf(json.dumps(bounded)))
    except Exception:  # noqa: BLE001 - an exotic schema the converter cannot take: any JSON
        gbnf = grammars.JSON_GBNF
    return grammars.LlamaGrammar.from_string(gbnf, verbose=False)


# llama-cpp-python 0.3.36's schema converter lets raw control characters (a newline) into
# strings, which JSON forbids: a model that writes one produces an answer no parser accepts.
# llama.cpp's own converter excludes them; so do we.
_LOOSE_CHAR_RULE = r'char ::= [^"\\] |'
_STRICT_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] |'


def strict_string_chars(gbnf: str) -> str:
    """The grammar with JSON string characters limited to what JSON allows unescaped."""
    return gbnf.replace(_LOOSE_CHAR_RULE, _STRICT_CHAR_RULE)


def grammar_schema(schema: Any, *, max_string_chars: int) -> Any:
    """The schema rewritten for llama-cpp-python's grammar converter, with length bounds.

    The converter turns ``"type": [..]`` into a union of bare types and so silently drops
    ``enum``, ``format`` and ``maxLength`` that sit beside a type list; each type becomes its own
    ``anyOf`` branch here instead. Free strings get ``maxLength`` and lists ``maxItems`` so one
    field cannot eat the token budget of the others.
    """
    if isinstance(schema, list):
        return [grammar_schema(item, max_string_chars=max_string_chars) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        key: grammar_schema(value, max_string_chars=max_string_chars)
        if key in ("items", "anyOf", "oneOf", "allOf", "prefixItems")
        else value
        for key, value in schema.items()
    }
    if isinstance(out.get("properties"), dict):
        out["properties"] = {
            name: grammar_schema(sub, max_string_chars=max_string_chars)
            for name, sub in out["properties"].items()
        }
    if "enum" in out:
        # Constants already bound the answer; the type beside them adds nothing but null.
        choices = list(out["enum"])
        types = out.get("type")
        if (types == "null" or (isinstance(types, list) and "null" in types)) and (
            None not in choices
        ):
            choices.append(None)
        return {"enum": choices}
    types = out.get("type")
    if isinstance(types, list):
        rest = {key: value for key, value in out.items() if key != "type"}
        branches = [
            {"type": "null"}
            if kind == "null"
            else grammar_schema({**rest, "type": kind}, max_string_chars=max_string_chars)
            for kind in types
        ]
        return branches[0] if len(branches) == 1 else {"anyOf": branches}
    if types == "string" and not {"format", "pattern", "maxLength"} & out.keys():
        out["maxLength"] = max_string_chars
    if types == "array" and "maxItems" not in out:
        out["maxItems"] = MAX_LIST_ITEMS
    return out


def complete_json_prefix(prefix: str, json_schema: dict[str, Any] | None = None) -> str:
    """Close a JSON answer cut short by the token cap so it parses.

    ``prefix`` is a prefix of valid JSON (the grammar guarantees it). A string value cut in the
    middle is closed and kept; a dangling key, colon, comma or half number is dropped; open
    lists and objects are closed; required top-level properties that never came are added as
    ``null`` (the schema validator then says which are missing, instead of a parse error).
    """
    properties = (json_schema or {}).get("properties")

    def free_text(field: str | None) -> bool:
        # A cut value of an enum or date field is no value at all: only free text is kept.
        sub = properties.get(field) if isinstance(properties, dict) and field else None
        return isinstance(sub, dict) and _is_free_text(sub)

    state = _scan_json_prefix(prefix, free_text)
    text = prefix[: state.safe_end] + state.suffix
    stack = state.safe_stack
    if not stack:
        if text.strip():
            return text  # a complete value
        text, stack = "{", [_Frame("{")]  # nothing came at all
    required = [name for name in (json_schema or {}).get("required", []) if isinstance(name, str)]
    closing: list[str] = []
    for depth in range(len(stack) - 1, -1, -1):
        frame = stack[depth]
        if depth == 0 and frame.kind == "{":
            # A pending key here is the one whose (now closed) list or object was cut.
            present = [*frame.keys, *([frame.pending_key] if frame.pending_key else [])]
            missing = [name for name in required if name not in present]
            for index, name in enumerate(missing):
                separator = ", " if present or index else ""
                closing.append(f"{separator}{json.dumps(name)}: null")
        closing.append("}" if frame.kind == "{" else "]")
    return text + "".join(closing)


class _Frame:
    __slots__ = ("expect_key", "keys", "kind", "pending_key")

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "{" or "["
        self.keys: list[str] = []  # object keys whose value is complete
        self.pending_key: str | None = None
        self.expect_key = kind == "{"

    def copy(self) -> _Frame:
        twin = _Frame(self.kind)
        twin.keys = list(self.keys)
        twin.pending_key = self.pending_key
        twin.expect_key = self.expect_key
        return twin


class _PrefixState:
    """The last place where the prefix can be cut and closed, and the open containers there."""

    def __init__(self) -> None:
        self.safe_end = 0
        self.safe_stack: list[_Frame] = []
        self.suffix = ""  # '"' when the cut falls inside a string value


def _is_free_text(schema: dict[str, Any]) -> bool:
    """Does a (possibly list-of-) string field take any text, with no enum/format/pattern?"""
    if {"enum", "const", "format", "pattern"} & schema.keys():
        return False
    if "items" in schema and isinstance(schema["items"], dict):
        return _is_free_text(schema["items"])
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list):
        return all(_is_free_text(b) for b in branches if isinstance(b, dict))
    return True


def _scan_json_prefix(prefix: str, keep_cut_string: Callable[[str | None], bool]) -> _PrefixState:
    state = _PrefixState()
    stack: list[_Frame] = []

    def value_done(end: int) -> None:
        if stack and stack[-1].kind == "{" and stack[-1].pending_key is not None:
            stack[-1].keys.append(stack[-1].pending_key)
            stack[-1].pending_key = None
        state.safe_end = end
        state.safe_stack = [frame.copy() for frame in stack]
        state.suffix = ""

    i, n = 0, len(prefix)
    while i < n:
        char = prefix[i]
        if char in " \t\r\n:":
            i += 1
        elif char == ",":
            if stack and stack[-1].kind == "{":
                stack[-1].expect_key = True
            i += 1
        elif char in "{[":
            stack.append(_Frame(char))
            i += 1
            state.safe_end = i
            state.safe_stack = [frame.copy() for frame in stack]
            state.suffix = ""
        elif char in "}]":
            if stack:
                stack.pop()
            i += 1
            value_done(i)
        elif char == '"':
            end = _string_end(prefix, i)
            is_key = bool(stack) and stack[-1].kind == "{" and stack[-1].expect_key
            if end is None:
                field = stack[0].pending_key if stack and stack[0].kind == "{" else None
                if not is_key and keep_cut_string(field):  # keep what was written, close it
                    kept = _drop_partial_escape(prefix[i:])
                    value_done(i + len(kept))
                    state.suffix = '"'
                break
            if is_key:
                stack[-1].pending_key = json.loads(prefix[i : end + 1])
                stack[-1].expect_key = False
            else:
                value_done(end + 1)
            i = end + 1
        else:
            end = i
            while end < n and prefix[end] not in ",}] \t\r\n":
                end += 1
            if end == n:  # a number or literal cut short: not safe to keep
                break
            value_done(end)
            i = end
    return state


def _string_end(text: str, start: int) -> int | None:
    """Index of the quote closing the string that opens at ``start``, or None if cut."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i
        else:
            i += 1
    return None


def _drop_partial_escape(fragment: str) -> str:
    """Drop a backslash escape cut in half at the end of an unterminated string."""
    backslash = fragment.rfind("\\")
    if backslash == -1:
        return fragment
    # Count the run of backslashes: an even run is complete escapes.
    run_start = backslash
    while run_start > 0 and fragment[run_start - 1] == "\\":
        run_start -= 1
    run = backslash - run_start + 1
    escape = fragment[backslash:]
    if run % 2 == 0:
        return fragment
    if escape.startswith("\\u") and len(escape) < 6:
        return fragment[:backslash]
    if len(escape) == 1:
        return fragment[:backslash]
    return fragment
