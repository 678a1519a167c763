"""What keeps the API safe: the token, upload limits, hostile file names, refusing open binds."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.api.server import RedactTokenFilter, is_loopback, serve
from analyzer.api.settings import ApiSettings
from analyzer.api.uploads import sanitize_filename, sanitize_member_path, unique_names
from tests.api_server import (
    ApiHarness,
    api_harness,
    multipart_body,
    text_documents,
)

TOKEN = "docpulse-test-token-0123456789"


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with api_harness(monkeypatch, token=TOKEN) as harness:
        yield harness


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    settings = ApiSettings(max_upload_bytes=64 * 1024, max_files=3)
    with api_harness(monkeypatch, settings=settings) as harness:
        yield harness


# --- the token ------------------------------------------------------------------------------


def test_every_api_route_wants_the_token(guarded: ApiHarness) -> None:
    job_id = guarded.submit(text_documents(1))  # the harness client sends the right token
    routes = [
        ("GET", "/api/jobs"),
        ("GET", f"/api/jobs/{job_id}"),
        ("GET", f"/api/jobs/{job_id}/events"),
        ("GET", f"/api/jobs/{job_id}/results.csv"),
        ("POST", f"/api/jobs/{job_id}/cancel"),
        ("POST", f"/api/jobs/{job_id}/resume"),
        ("DELETE", f"/api/jobs/{job_id}"),
        ("POST", "/api/jobs"),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
            response = guarded.client.request(method, path, headers={"Authorization": ""} | headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in response.text
    missing = guarded.client.get("/api/jobs", headers={"Authorization": ""})
    assert "Authorization: Bearer" in missing.json()["detail"]
    wrong = guarded.client.get("/api/jobs", headers={"Authorization": "Bearer nope"})
    assert wrong.json() == {"detail": "The API token was refused."}
    assert guarded.client.get(f"/api/jobs/{job_id}").status_code == 200
    guarded.wait_until_finished(job_id)


def test_events_take_the_token_as_a_query_parameter_only_there(guarded: ApiHarness) -> None:
    job_id = guarded.submit(text_documents(1))
    no_header = {"Authorization": ""}  # what a browser's EventSource sends
    query_only = guarded.client.get(
        f"/api/jobs/{job_id}/events", params={"token": TOKEN}, headers=no_header
    )
    assert query_only.status_code == 200
    assert "event: complete" in query_only.text
    wrong = guarded.client.get(
        f"/api/jobs/{job_id}/events", params={"token": "nope"}, headers=no_header
    )
    assert wrong.status_code == 401
    elsewhere = guarded.client.get(
        f"/api/jobs/{job_id}", params={"token": TOKEN}, headers=no_header
    )
    assert elsewhere.status_code == 401


def test_the_page_and_docs_stay_public_they_hold_no_data(guarded: ApiHarness) -> None:
    no_header = {"Authorization": ""}
    assert guarded.client.get("/", headers=no_header).status_code == 200
    assert guarded.client.get("/docs", headers=no_header).status_code == 200


def test_serve_refuses_a_network_address_without_a_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert serve("0.0.0.0", 0) == 2
    message = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without a token" in message
    assert "ANALYZER_API_TOKEN" in message


def test_serve_refuses_bad_limits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANALYZER_MAX_UPLOAD_MB", "lots")
    assert serve("127.0.0.1", 0) == 2
    assert "ANALYZER_MAX_UPLOAD_MB must be a whole number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("docpulse.example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_access_log_hides_a_token_in_the_query() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/api/jobs/x/events?token={TOKEN}&last_event_id=3", "1.1", 200),
        None,
    )
    assert RedactTokenFilter().filter(record)
    assert TOKEN not in record.getMessage()
    assert "token=***&last_event_id=3" in record.getMessage()


# --- upload limits --------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_413_and_nothing_is_stored(small_limits: ApiHarness) -> None:
    response = small_limits.client.post(
        "/api/jobs",
        data={"schema": "summary"},
        files=[("files", ("small.txt", b"ok")), ("files", ("big.txt", b"x" * 200 * 1024))],
    )
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "'big.txt' is larger than the limit of 0.0625 MB per file" in detail
    assert "ANALYZER_MAX_UPLOAD_MB" in detail
    assert small_limits.store.list_jobs() == []


def test_more_files_than_allowed_is_413(small_limits: ApiHarness) -> None:
    response = small_limits.client.post(
        "/api/jobs",
        data={"schema": "summary"},
        files=[("files", (name, data)) for name, data in text_documents(4)],
    )
    assert response.status_code == 413
    assert "Too many files: at most 3 per job (ANALYZER_MAX_FILES)" in response.json()["detail"]
    assert small_limits.store.list_jobs() == []


def test_zip_members_count_toward_the_file_limit(small_limits: ApiHarness) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in text_documents(4):
            zipped.writestr(name, data)
    response = small_limits.client.post(
        "/api/jobs",
        data={"schema": "summary"},
        files=[("files", ("batch.zip", archive.getvalue()))],
    )
    assert response.status_code == 413
    assert "members of .zip archives" in response.json()["detail"]


def test_an_uploaded_zip_expands_into_its_documents(api_zip: ApiHarness) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in text_documents(2, prefix="in-zip"):
            zipped.writestr(name, data)
    job_id = api_zip.submit([("batch.zip", archive.getvalue()), ("loose.txt", b"Total 5 EUR")])
    names = [d.name for d in api_zip.store.documents(job_id)]
    assert sorted(names) == ["batch.zip/in-zip-1.txt", "batch.zip/in-zip-2.txt", "loose.txt"]
    api_zip.wait_until_finished(job_id)


@pytest.fixture
def api_zip(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with api_harness(monkeypatch) as harness:
        yield harness


# --- hostile file names ---------------------------------------------------------------------


def test_hostile_file_names_are_stored_sanitised(
    api_zip: ApiHarness, isolated_environment: Path, tmp_path: Path
) -> None:
    long_name = "長" * 150 + ".txt"  # 450 bytes of UTF-8
    hostile = [
        "../../etc/passwd",
        "a/../../b.pdf",
        "..\\..\\windows\\system.ini",
        "evil\x00.txt",
        "bell\x07\u202etxt.exe",
        "..",
        long_name,
        "請求書 2024年3月.txt",
        "dup.txt",
        "DUP.txt",
    ]
    body, content_type = multipart_body(
        {"schema": "summary"}, [(name, b"Total 10 EUR") for name in hostile]
    )
    response = api_zip.client.post(
        "/api/jobs", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job_id"]
    names = [d.name for d in api_zip.store.documents(job_id)]
    assert names[:6] == ["passwd", "b.pdf", "system.ini", "evil.txt", "belltxt.exe", "document"]
    assert names[6].endswith(".txt") and names[6].startswith("長")
    assert len(names[6].encode("utf-8")) <= 200
    assert names[7:] == ["請求書 2024年3月.txt", "dup.txt", "DUP (2).txt"]
    for name in names:
        assert "/" not in name and "\\" not in name and "\x00" not in name
    api_zip.wait_until_finished(job_id)
    # Nothing escaped the data dir or the temp upload folder.
    assert not (tmp_path / "etc").exists()
    assert not (isolated_environment.parent / "passwd").exists()


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("/tmp/../x.docx", "x.docx"),
        ("  .hidden  ", "hidden"),
        ("a<b>c:d|e?f*.txt", "a_b_c_d_e_f_.txt"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("契約書（最終版）.pdf", "契約書（最終版）.pdf"),
        ("", "document"),
        ("../", "document"),
    ],
)
def test_sanitize_filename(raw: str, safe: str) -> None:
    assert sanitize_filename(raw) == safe


def test_a_long_name_keeps_its_suffix_and_whole_characters() -> None:
    name = sanitize_filename("日本語" * 100 + ".pdf", max_bytes=50)
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= 50
    name.encode("utf-8").decode("utf-8")  # no broken multi-byte character


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("batch.zip/sub/b.pdf", "batch.zip/sub/b.pdf"),
        ("batch.zip/../../etc/passwd", "batch.zip/etc/passwd"),
        ("batch.zip/./a\x00b.txt", "batch.zip/ab.txt"),
        ("batch.zip\\win\\c.docx", "batch.zip/win/c.docx"),
        ("../..", "document"),
    ],
)
def test_sanitize_member_path(raw: str, safe: str) -> None:
    assert sanitize_member_path(raw) == safe


def test_unique_names() -> None:
    assert unique_names(["a.pdf", "a.pdf", "A.PDF", "b", "b"]) == [
        "a.pdf",
        "a (2).pdf",
        "A (3).PDF",
        "b",
        "b (2)",
    ]
