"""The HTTP API (DESIGN.md "HTTP API"): submit jobs, follow them over SSE, download results.

A thin driver over `analyzer.jobs`: the store holds jobs, events and rows; the runner does the
work. Every handler here only validates input, calls one of those and shapes the answer.
Errors are JSON ``{"detail": "one sentence"}`` with the right 4xx code. The provider key comes
only from the server's environment (the runner holds it in memory): no route accepts one and
no response carries one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from sse_starlette import EventSourceResponse

from analyzer.api import uploads
from analyzer.api.auth import require_token, require_token_or_query
from analyzer.api.settings import MAX_CONCURRENCY, ApiSettings
from analyzer.api.sse import job_event_stream, stream_is_over
from analyzer.config import ProviderSettings
from analyzer.export import to_csv_bytes, to_jsonl_bytes, to_xlsx_bytes
from analyzer.jobs.runner import Runner
from analyzer.jobs.store import JobStore
from analyzer.schema import PRESETS, Schema, SchemaError

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_CONCURRENCY = 4
RUNNING_STATUSES = frozenset({"queued", "running"})
RESUMABLE_STATUSES = frozenset({"cancelled", "interrupted", "failed"})
RESULT_FORMATS = {
    "csv": ("text/csv; charset=utf-8", to_csv_bytes),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        to_xlsx_bytes,
    ),
    "jsonl": ("application/x-ndjson; charset=utf-8", to_jsonl_bytes),
}
# The multipart form, described for /docs (the handler parses the stream itself).
_UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files", "schema"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "documents (PDF, DOCX, text, …); a .zip expands",
                        },
                        "schema": {
                            "type": "string",
                            "description": f"a preset ({', '.join(PRESETS)}) or the JSON text "
                            'of a schema: {"fields": [{"name": …, "type": …}]}',
                        },
                        "concurrency": {"type": "integer", "minimum": 1},
                        "base_url": {"type": "string", "description": "provider base URL"},
                        "model": {"type": "string", "description": "model at the provider"},
                        "title": {"type": "string"},
                    },
                }
            }
        },
    }
}


def create_app(
    store: JobStore | None = None,
    runner: Runner | None = None,
    *,
    settings: ApiSettings | None = None,
) -> FastAPI:
    """The FastAPI app. Without arguments it uses the default data dir and a fresh Runner."""
    api_settings = settings or ApiSettings.from_env()
    # A runner brings its own store: use that one, so both see the same jobs.
    job_store = store or getattr(runner, "store", None) or JobStore()
    job_runner = runner or Runner(job_store, api_key=os.environ.get("ANALYZER_API_KEY") or None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(job_runner.recover_interrupted)
        yield
        if runner is None:  # we made it, we stop it
            await run_in_threadpool(job_runner.shutdown)

    app = FastAPI(
        title="DocPulse API",
        summary="Run an LLM over a batch of documents and follow its progress over SSE.",
        lifespan=lifespan,
    )
    app.state.api_settings = api_settings
    app.state.store = job_store
    app.state.runner = job_runner

    app.add_api_route("/", _demo_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/demo", _demo_page, methods=["GET"], include_in_schema=False)
    app.include_router(_events_router(job_store, api_settings))
    app.include_router(_jobs_router(job_store, job_runner, api_settings))
    return app


def _demo_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


# --- shaping answers ----------------------------------------------------------------------------


def _as_dict(item: Any) -> dict[str, Any]:
    return dataclasses.asdict(item) if dataclasses.is_dataclass(item) else dict(vars(item))


def job_view(job: Any, documents: list[Any] | None = None) -> dict[str, Any]:
    """A job as JSON: its stored record (never a key) plus links to follow and download it."""
    view = _as_dict(job)
    view["settings"] = {k: v for k, v in (view.get("settings") or {}).items() if k != "api_key"}
    base = f"/api/jobs/{view['id']}"
    view["links"] = {
        "self": base,
        "events": f"{base}/events",
        **{f"results_{fmt}": f"{base}/results.{fmt}" for fmt in RESULT_FORMATS},
    }
    if documents is not None:
        view["documents"] = [_as_dict(document) for document in documents]
    return view


def _job_or_404(store: JobStore, job_id: str) -> Any:
    job = store.get_job(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No job with id '{job_id}'.")
    return job


# --- the events stream ---------------------------------------------------------------------------


def _parse_last_event_id(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Last-Event-ID must be a whole number (the id of the last event received).",
        ) from None
    return max(0, value)


def _events_router(store: JobStore, settings: ApiSettings) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["events"])

    @router.get(
        "/jobs/{job_id}/events",
        dependencies=[Depends(require_token_or_query)],
        response_class=EventSourceResponse,
        summary="Follow a job's events (Server-Sent Events)",
        description=(
            "Replays the job's events after `Last-Event-ID` (header, or the `last_event_id` "
            "query parameter), then streams new ones until `complete`, `cancelled` or "
            "`error`. Each event's SSE `id:` is its id, `event:` its name, `data:` its JSON. "
            "With ANALYZER_API_TOKEN set, send `Authorization: Bearer <token>`, or `?token=` "
            "from a browser EventSource, which cannot set headers. A job that already ended "
            "and has nothing newer answers 204, which tells an EventSource to stop."
        ),
    )
    async def job_events(
        job_id: str, request: Request, last_event_id: str | None = None
    ) -> Response:
        await run_in_threadpool(_job_or_404, store, job_id)
        raw = request.headers.get("last-event-id")
        after_id = _parse_last_event_id(raw if raw is not None else last_event_id)
        if await run_in_threadpool(stream_is_over, store, job_id, after_id):
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        return EventSourceResponse(
            job_event_stream(store, job_id, after_id),
            ping=settings.ping_seconds,
            sep="\n",  # sse-starlette adds Cache-Control: no-store, X-Accel-Buffering: no
        )

    return router


# --- jobs ----------------------------------------------------------------------------------------


def _schema_from_field(raw: str | None) -> Schema:
    """A preset name or inline JSON. Never a file path: clients must not read server files."""
    spec = (raw or "").strip()
    if not spec:
        raise SchemaError(
            f"The 'schema' field is missing: give a preset ({', '.join(PRESETS)}) "
            'or the JSON text of a schema, e.g. {"fields": [{"name": "title", "type": "text"}]}.'
        )
    if spec in PRESETS:
        return PRESETS[spec]
    if not spec.startswith("{"):
        raise SchemaError(
            f"Unknown schema preset '{spec[:60]}': use one of {', '.join(PRESETS)} "
            "or the JSON text of a schema."
        )
    try:
        data = json.loads(spec)
    except json.JSONDecodeError as error:
        raise SchemaError(
            f"The schema is not valid JSON (line {error.lineno}, column {error.colno})."
        ) from None
    return Schema.from_dict(data)


def _concurrency_from_field(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_CONCURRENCY:
        raise uploads.UploadRejected(
            f"'concurrency' must be a whole number from 1 to {MAX_CONCURRENCY}."
        )
    return value


def _provider_from_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The job's provider settings: the server's environment, optionally another base_url/model.

    The server's key goes only to the server's own provider: a request that points the job at
    another base URL while the server holds a key is refused, or the key would leak to it.
    """
    if any("key" in name.lower() for name in fields):
        raise uploads.UploadRejected(
            "API keys are not accepted in requests: the server uses its ANALYZER_API_KEY."
        )
    base_url = fields.get("base_url", "").strip() or None
    model = fields.get("model", "").strip() or None
    server = ProviderSettings.from_env()
    if base_url and server.api_key and base_url.rstrip("/") != (server.base_url or "").rstrip("/"):
        raise uploads.UploadRejected(
            "This server holds a provider key for its own ANALYZER_BASE_URL only: "
            "leave base_url out, or run a server without ANALYZER_API_KEY."
        )
    chosen = ProviderSettings.from_env(base_url=base_url, model=model)
    if chosen.base_url and not chosen.model:
        raise uploads.UploadRejected("'base_url' needs 'model' (or ANALYZER_MODEL on the server).")
    return chosen.public_dict()


def _jobs_router(store: JobStore, runner: Runner, settings: ApiSettings) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(require_token)])

    @router.post(
        "/jobs",
        status_code=status.HTTP_201_CREATED,
        openapi_extra=_UPLOAD_OPENAPI,
        summary="Submit a job",
        responses={
            413: {"description": "a file over ANALYZER_MAX_UPLOAD_MB or over ANALYZER_MAX_FILES"},
            422: {"description": "bad schema or form field"},
        },
    )
    async def create_job(request: Request) -> JSONResponse:
        with tempfile.TemporaryDirectory(prefix="docpulse-upload-") as folder:
            try:
                form = await uploads.receive_form(
                    request,
                    Path(folder),
                    max_file_bytes=settings.max_upload_bytes,
                    max_files=settings.max_files,
                )
                schema = _schema_from_field(form.fields.get("schema"))
                concurrency = _concurrency_from_field(form.fields.get("concurrency"))
                provider = _provider_from_fields(form.fields)
                sources = await run_in_threadpool(
                    uploads.to_sources, form.files, max_files=settings.max_files
                )
            except uploads.UploadRejected as error:
                raise HTTPException(error.status_code, error.detail) from None
            except SchemaError as error:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
            # The store copies the bytes now, so the temporary folder may go afterwards.
            job_id = await run_in_threadpool(
                lambda: store.create_job(
                    schema=schema.to_dict(),
                    settings=provider,
                    concurrency=concurrency,
                    documents=sources,
                    title=form.fields.get("title", "").strip()[:200],
                )
            )
        await run_in_threadpool(runner.submit, job_id)
        return JSONResponse(
            {"job_id": job_id},
            status_code=status.HTTP_201_CREATED,
            headers={"Location": f"/api/jobs/{job_id}"},
        )

    @router.get("/jobs", summary="List jobs, newest first")
    def list_jobs(limit: int = 200) -> list[dict[str, Any]]:
        return [job_view(job) for job in store.list_jobs(limit=max(1, min(limit, 1000)))]

    @router.get("/jobs/{job_id}", summary="One job with its documents")
    def get_job(job_id: str) -> dict[str, Any]:
        job = _job_or_404(store, job_id)
        return job_view(job, store.documents(job_id))

    @router.get(
        "/jobs/{job_id}/results.{fmt}",
        summary="Download the results table (csv, xlsx or jsonl)",
        response_class=Response,
    )
    def results(job_id: str, fmt: str) -> Response:
        job = _job_or_404(store, job_id)
        if fmt not in RESULT_FORMATS:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"Unknown results format '{fmt}': use {', '.join(RESULT_FORMATS)}.",
            )
        media_type, render = RESULT_FORMATS[fmt]
        body = render(store.rows(job_id), Schema.from_dict(job.schema))
        return Response(
            body,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="docpulse-{job_id}.{fmt}"'},
        )

    @router.post(
        "/jobs/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, summary="Cancel a job"
    )
    def cancel_job(job_id: str) -> dict[str, Any]:
        job = _job_or_404(store, job_id)
        if job.status not in RUNNING_STATUSES:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"The job is already {job.status}: nothing to cancel."
            )
        runner.cancel(job_id)
        return {"job_id": job_id, "status": "cancelling"}

    @router.post(
        "/jobs/{job_id}/resume",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Resume a cancelled or interrupted job (only documents without a row)",
    )
    def resume_job(job_id: str) -> dict[str, Any]:
        job = _job_or_404(store, job_id)
        if job.status not in RESUMABLE_STATUSES:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"Only a cancelled, interrupted or failed job can resume; this one is "
                f"{job.status}.",
            )
        runner.resume(job_id)
        return {"job_id": job_id, "status": "queued"}

    @router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a job")
    def delete_job(job_id: str) -> Response:
        job = _job_or_404(store, job_id)
        if job.status in RUNNING_STATUSES:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "The job is still running: cancel it first."
            )
        store.delete_job(job_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
