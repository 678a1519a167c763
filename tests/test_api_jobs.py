"""The HTTP API as a client sees it: submit, inspect, download, cancel, resume, delete, errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from tests.api_server import SECRET, ApiHarness, api_harness, read_events, text_documents


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with api_harness(monkeypatch) as harness:
        yield harness


@pytest.fixture
def slow_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    """Each answer takes seconds: long enough to cancel a job mid-way."""
    with api_harness(monkeypatch, token_delay=0.3) as harness:
        yield harness


def test_submit_stream_and_download_every_format(api: ApiHarness) -> None:
    response = api.client.post(
        "/api/jobs",
        data={"schema": "summary", "concurrency": "2", "title": "March invoices"},
        files=[("files", (name, data)) for name, data in text_documents(2)],
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job_id"]
    assert response.headers["location"] == f"/api/jobs/{job_id}"

    events = read_events(api.client, job_id)
    assert events[-1]["event"] == "complete"
    assert [e["id"] for e in events] == [e["id"] for e in api.store.events(job_id)]
    assert {e["data"]["task_id"] for e in events} == {job_id}

    job = api.client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "completed"
    assert job["title"] == "March invoices"
    assert job["concurrency"] == 2
    assert [d["name"] for d in job["documents"]] == ["invoice-1.txt", "invoice-2.txt"]
    assert job["links"]["events"] == f"/api/jobs/{job_id}/events"
    assert [j["id"] for j in api.client.get("/api/jobs").json()] == [job_id]

    csv_response = api.client.get(f"/api/jobs/{job_id}/results.csv")
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert f"docpulse-{job_id}.csv" in csv_response.headers["content-disposition"]
    assert csv_response.content.startswith("\ufeff".encode())  # Excel reads UTF-8 right
    table = list(csv.DictReader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert [row["document"] for row in table] == ["invoice-1.txt", "invoice-2.txt"]
    assert {row["status"] for row in table} == {"ok"}

    jsonl = api.client.get(f"/api/jobs/{job_id}/results.jsonl")
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [row["document"] for row in rows] == ["invoice-1.txt", "invoice-2.txt"]

    xlsx = api.client.get(f"/api/jobs/{job_id}/results.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.values)
    assert values[0][:3] == ("document", "status", "error")
    assert [v[0] for v in values[1:]] == ["invoice-1.txt", "invoice-2.txt"]


def test_unknown_job_is_404_on_every_route(api: ApiHarness) -> None:
    for method, path in [
        ("GET", "/api/jobs/nope"),
        ("GET", "/api/jobs/nope/events"),
        ("GET", "/api/jobs/nope/results.csv"),
        ("POST", "/api/jobs/nope/cancel"),
        ("POST", "/api/jobs/nope/resume"),
        ("DELETE", "/api/jobs/nope"),
    ]:
        response = api.client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"detail": "No job with id 'nope'."}


def test_unknown_results_format_is_404(api: ApiHarness) -> None:
    job_id = api.submit(text_documents(1))
    response = api.client.get(f"/api/jobs/{job_id}/results.pdf")
    assert response.status_code == 404
    assert "csv, xlsx, jsonl" in response.json()["detail"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ('{"fields": [{"name": "colour", "type": "paint"}]}', "paint"),
        ("{not json", "not valid JSON"),
        ("recipes", "Unknown schema preset 'recipes'"),
        ("/etc/passwd", "Unknown schema preset '/etc/passwd'"),  # never read as a file
        ("", "'schema' field is missing"),
    ],
)
def test_bad_schema_is_422_with_one_sentence(api: ApiHarness, schema: str, expected: str) -> None:
    response = api.client.post(
        "/api/jobs", data={"schema": schema}, files=[("files", ("a.txt", b"hello"))]
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and expected in detail
    assert api.store.list_jobs() == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"concurrency": "0"}, "'concurrency' must be a whole number from 1 to 32"),
        ({"concurrency": "many"}, "'concurrency' must be a whole number"),
        ({"api_key": "sk-from-the-request"}, "API keys are not accepted"),
        ({"base_url": "http://attacker.example/v1"}, "holds a provider key"),
    ],
)
def test_bad_form_fields_are_422(api: ApiHarness, fields: dict[str, str], expected: str) -> None:
    response = api.client.post(
        "/api/jobs",
        data={"schema": "summary", **fields},
        files=[("files", ("a.txt", b"hello"))],
    )
    assert response.status_code == 422
    assert expected in response.json()["detail"]
    assert "sk-from-the-request" not in response.text


def test_a_job_needs_files_and_multipart(api: ApiHarness) -> None:
    response = api.client.post("/api/jobs", data={"schema": "summary"})
    assert response.status_code in (415, 422)  # urlencoded without files
    assert "files" in response.json()["detail"]
    response = api.client.post("/api/jobs", json={"schema": "summary"})
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


def test_cancel_then_resume_then_delete(slow_api: ApiHarness) -> None:
    api = slow_api
    job_id = api.submit(text_documents(3), concurrency="1")
    api.wait_for_events(job_id, 3)

    response = api.client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert read_events(api.client, job_id)[-1]["event"] == "cancelled"
    job = api.wait_until_finished(job_id)
    assert job["status"] == "cancelled"
    again = api.client.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]

    last_id = api.store.last_event_id(job_id)
    api.provider.token_delay = 0.0  # the rest may run fast
    assert api.client.post(f"/api/jobs/{job_id}/resume").status_code == 202
    resumed = read_events(api.client, job_id, last_event_id=last_id)
    assert resumed[0]["id"] > last_id  # the resumed run continues the id sequence
    assert resumed[-1]["event"] == "complete"
    job = api.wait_until_finished(job_id)
    assert job["status"] == "completed"
    rows = api.client.get(f"/api/jobs/{job_id}/results.jsonl").text.splitlines()
    assert len(rows) == 3

    assert api.client.post(f"/api/jobs/{job_id}/resume").status_code == 409
    assert api.client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert api.client.get(f"/api/jobs/{job_id}").status_code == 404


def test_a_running_job_cannot_be_deleted(slow_api: ApiHarness) -> None:
    job_id = slow_api.submit(text_documents(2))
    response = slow_api.client.delete(f"/api/jobs/{job_id}")
    assert response.status_code == 409
    assert "cancel it first" in response.json()["detail"]
    slow_api.client.post(f"/api/jobs/{job_id}/cancel")


def test_the_provider_key_never_appears_anywhere(
    api: ApiHarness, isolated_environment: Path
) -> None:
    job_id = api.submit(text_documents(2), title="key check")
    bodies: list[bytes] = []
    with api.client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        bodies.append(stream.read())
    api.wait_until_finished(job_id)
    for path in [
        "/api/jobs",
        f"/api/jobs/{job_id}",
        f"/api/jobs/{job_id}/results.csv",
        f"/api/jobs/{job_id}/results.jsonl",
        "/openapi.json",
        "/",
    ]:
        response = api.client.get(path)
        assert response.status_code == 200, path
        bodies.append(response.content)
    workbook = openpyxl.load_workbook(
        io.BytesIO(api.client.get(f"/api/jobs/{job_id}/results.xlsx").content)
    )
    bodies.append(repr([list(row) for row in workbook.active.values]).encode())
    # A failed request echoes what it got; the response must not carry the server's key either.
    bodies.append(
        api.client.post(
            "/api/jobs",
            data={"schema": "summary", "api_key": SECRET},
            files=[("files", ("a", b""))],
        ).content
    )

    assert b"complete" in bodies[0]
    for body in bodies:
        assert SECRET.encode() not in body
    # Nor in anything the job store wrote to disk.
    for path in isolated_environment.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    # The key did reach the provider, as the Authorization header and nowhere else.
    requests = api.provider.chat_requests
    assert requests and all(r.headers["authorization"] == f"Bearer {SECRET}" for r in requests)


def test_openapi_docs_describe_the_upload(api: ApiHarness) -> None:
    assert api.client.get("/docs").status_code == 200
    spec = api.client.get("/openapi.json").json()
    form = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"files", "schema", "concurrency"} <= set(form["schema"]["properties"])
    assert "/api/jobs/{job_id}/events" in spec["paths"]


def test_list_is_newest_first_and_limited(api: ApiHarness) -> None:
    first = api.submit(text_documents(1))
    second = api.submit(text_documents(1))
    listed = [job["id"] for job in api.client.get("/api/jobs").json()]
    assert listed == [second, first]
    assert [j["id"] for j in api.client.get("/api/jobs", params={"limit": 1}).json()] == [second]
    api.wait_until_finished(first)
    api.wait_until_finished(second)
