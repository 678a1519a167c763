"""A real `streamlit run app.py` on a loopback port, for the browser tests.

The server gets its own ANALYZER_DATA_DIR and is pointed at a provider through the environment
(ANALYZER_BASE_URL / ANALYZER_MODEL / ANALYZER_API_KEY), exactly as an analyst would configure it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


@dataclass
class StreamlitServer:
    url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not start in {START_TIMEOUT} s")


@contextmanager
def run_streamlit(work_dir: Path, env: Mapping[str, str | None]) -> Iterator[StreamlitServer]:
    """Start the app; `env` entries override the environment (None removes a variable)."""
    port = free_port()
    data_dir = work_dir / "analyzer-data"
    log_path = work_dir / "streamlit.log"
    child_env = dict(os.environ)
    child_env["ANALYZER_DATA_DIR"] = str(data_dir)
    child_env["PYTHONUNBUFFERED"] = "1"
    for name, value in env.items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=child_env, stdout=log_file, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log_path)
            yield StreamlitServer(url, data_dir, log_path, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
