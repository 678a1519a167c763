"""`python -m analyzer run` as a user types it: a real subprocess against the loopback provider."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_provider import FakeProvider, unauthorized

SECRET = "sk-test-SECRET-cli-456"
ROOT = Path(__file__).resolve().parent.parent


def answer(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    vendor = "株式会社さくら商事" if "さくら" in text else "ACME Corp"
    return json.dumps({"vendor": vendor, "total_amount": "1,250,000円", "currency": "JPY"})


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(reply=answer, api_key=SECRET) as fp:
        yield fp


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("ACME Corp invoice, total 1,250,000 JPY", encoding="utf-8")
    (folder / "sub" / "b.txt").write_bytes(
        "株式会社さくら商事 請求書 合計 1,250,000円".encode("cp932")
    )
    return folder


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=120,
    )


def test_run_writes_a_csv_excel_opens_with_japanese_intact(
    provider: FakeProvider, docs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    result = run_cli(
        "run",
        str(docs),
        "--schema",
        "invoice",
        "--out",
        str(out),
        "--base-url",
        provider.base_url,
        "--model",
        "fake-model",
        env={"ANALYZER_API_KEY": SECRET},
    )
    assert result.returncode == 0, result.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM so Excel reads Japanese right"
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["document"] for r in rows] == ["a.txt", "sub/b.txt"]
    assert list(rows[0])[:4] == ["document", "status", "error", "pages"]
    assert rows[1]["vendor"] == "株式会社さくら商事"
    assert rows[1]["total_amount"] in ("1250000", "1250000.0")
    assert SECRET not in result.stdout + result.stderr


def test_events_go_to_stdout_as_json_lines(
    provider: FakeProvider, docs: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "run",
        str(docs),
        "--schema",
        "invoice",
        "--out",
        str(tmp_path / "r.jsonl"),
        "--base-url",
        provider.base_url,
        "--model",
        "fake-model",
        "--events",
        "-",
        env={"ANALYZER_API_KEY": SECRET},
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "progress" and names[-1] == "complete"
    assert names.count("document") == 2
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[1])["vendor"] == "株式会社さくら商事"


def test_exit_1_when_some_documents_failed(
    provider: FakeProvider, docs: Path, tmp_path: Path
) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    out = tmp_path / "r.xlsx"
    result = run_cli(
        "run",
        str(docs),
        "--schema",
        "invoice",
        "--out",
        str(out),
        "--base-url",
        provider.base_url,
        "--model",
        "fake-model",
        env={"ANALYZER_API_KEY": SECRET},
    )
    assert result.returncode == 1, result.stderr
    assert out.stat().st_size > 0
    assert "broken.pdf" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_key_is_a_setup_error_exit_2(docs: Path, tmp_path: Path) -> None:
    with FakeProvider(reply=answer) as fp:
        fp.add_faults(unauthorized(), unauthorized())
        result = run_cli(
            "run",
            str(docs),
            "--schema",
            "invoice",
            "--out",
            str(tmp_path / "r.csv"),
            "--base-url",
            fp.base_url,
            "--model",
            "fake-model",
            "--concurrency",
            "1",
            "--api-key-env",
            "MY_KEY",
            env={"MY_KEY": "sk-wrong-789"},
        )
        assert fp.chat_requests[0].headers["authorization"] == "Bearer sk-wrong-789"
    assert result.returncode == 2
    assert "401" in result.stderr and "sk-wrong-789" not in result.stderr + result.stdout
    assert (tmp_path / "r.csv").exists(), "the table is still written: every document has a row"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing-folder", "--schema", "invoice", "--out", "x.csv"], "no such file"),
        (["run", "{docs}", "--schema", "nope", "--out", "x.csv"], "nope"),
        (["run", "{docs}", "--schema", "invoice", "--out", "x.pdf"], "--out"),
        (
            [
                "run",
                "{docs}",
                "--schema",
                "invoice",
                "--out",
                "x.csv",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ],
            "--model",
        ),
        (["worker"], "Redis"),
    ],
)
def test_bad_usage_exits_2_with_one_clear_line(
    docs: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(*[a.replace("{docs}", str(docs)) for a in args], cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
