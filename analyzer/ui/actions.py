"""What the buttons do: copy documents into the store, hand jobs to the runner, cancel, resume.

Thin calls into analyzer.jobs; no analysis happens here. The API key travels to the runner in
memory, beside the job id; the store only ever gets `ProviderSettings.public_dict()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analyzer.config import ProviderSettings
from analyzer.documents import DocumentError, Source, expand_upload
from analyzer.schema import Schema
from analyzer.ui.state import configured, job_store, runner


def upload_sources(name: str, data: bytes) -> tuple[list[Source], str | None]:
    """An uploaded file as sources (a .zip becomes its members).

    A file that cannot even be opened is still analysed as it is, so it shows up as a failed
    row that says why, instead of silently vanishing from the batch.
    """
    try:
        return expand_upload(name, data), None
    except DocumentError as error:
        return [Source(name=name, data=data)], str(error)


def job_title(sources: Sequence[Source], schema_name: str) -> str:
    if not sources:
        return schema_name
    first = sources[0].name
    more = f" +{len(sources) - 1}" if len(sources) > 1 else ""
    return f"{first}{more} · {schema_name}"


def start_job(
    sources: Sequence[Source],
    schema: Schema,
    settings: ProviderSettings,
    concurrency: int,
    *,
    title: str | None = None,
) -> str:
    """Copy the documents into the store, submit the job, return its id."""
    store = job_store()
    job_id = store.create_job(
        schema=schema.to_dict(),
        settings=settings.public_dict(),
        concurrency=concurrency,
        documents=list(sources),
        title=title or job_title(sources, "custom"),
    )
    runner().submit(job_id, api_key=settings.api_key)
    return job_id


def key_for(job_settings: dict[str, Any], current: ProviderSettings | None) -> str | None:
    """The key to resume or retry a stored job with (the store never holds one).

    The key typed in this session is used when it belongs to the same server; otherwise the
    configured one (secrets / environment).
    """
    if not job_settings.get("base_url"):
        return None
    if current is not None and current.api_key and current.base_url == job_settings["base_url"]:
        return current.api_key
    return configured("ANALYZER_API_KEY")


def retry_failed(job: Any, current: ProviderSettings | None, title: str) -> str:
    """A new job with only the failed documents of `job`, same fields and provider."""
    store = job_store()
    failed = {doc.index for doc in store.documents(job.id) if doc.status == "failed"}
    sources = [source for index, source in store.sources(job.id) if index in failed]
    new_id = store.create_job(
        schema=job.schema,
        settings=job.settings,
        concurrency=job.concurrency,
        documents=sources,
        title=title,
    )
    runner().submit(new_id, api_key=key_for(job.settings, current))
    return new_id


def resume_job(job: Any, current: ProviderSettings | None) -> None:
    runner().resume(job.id, api_key=key_for(job.settings, current))


def cancel_job(job_id: str) -> None:
    runner().cancel(job_id)


def delete_job(job_id: str) -> None:
    job_store().delete_job(job_id)
