"""The job store: SQLite (WAL) in ANALYZER_DATA_DIR, the source of truth for every job.

Jobs, their documents (uploaded bytes are copied to files under uploads/ at once), the
append-only event log with the job's strictly increasing ids, and one result row per finished
document. A row is committed in the same transaction as its `document` event, so a process that
dies loses no finished document. Every call opens its own short-lived connection: the store is
shared by threads (Streamlit reruns, the runner), and by processes (API, app, CLI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer import events as ev
from analyzer.config import data_dir as default_data_dir
from analyzer.documents import Source
from analyzer.events import Event

FINAL_STATUSES = frozenset({"completed", "cancelled", "failed"})
STATUS_OF_FINAL_EVENT = {ev.COMPLETE: "completed", ev.CANCELLED: "cancelled", ev.ERROR: "failed"}
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, heartbeat_at REAL, owner_pid INTEGER,
    total INTEGER NOT NULL, concurrency INTEGER NOT NULL, schema_json TEXT NOT NULL,
    settings_json TEXT NOT NULL, snapshot_json TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS documents (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
    path TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL, id INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (job_id, id)
);
CREATE TABLE IF NOT EXISTS rows (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, row_json TEXT NOT NULL, PRIMARY KEY (job_id, idx)
);
"""
# Settings keys that must never reach the disk, whatever a caller passes.
_SECRET_KEYS = re.compile(r"key|token|secret|password", re.IGNORECASE)


@dataclass
class DocumentInfo:
    index: int
    name: str
    size: int
    status: str  # pending | ok | failed


@dataclass
class JobInfo:
    id: str
    title: str
    status: str  # queued | running | completed | cancelled | failed | interrupted
    created_at: float
    updated_at: float
    total: int
    done: int
    failed: int
    concurrency: int
    schema: dict[str, Any]
    settings: dict[str, Any]
    snapshot: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    heartbeat_at: float | None = None
    owner_pid: int | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class JobNotFound(KeyError):
    pass


class JobStore:
    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "jobs.sqlite3"
        self.uploads_dir = self.data_dir / "uploads"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA_SQL)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- jobs ---------------------------------------------------------------------------------
    def create_job(
        self,
        *,
        schema: dict[str, Any],
        settings: dict[str, Any],
        concurrency: int,
        documents: Sequence[tuple[str, bytes]] | Sequence[Source],
        title: str = "",
    ) -> str:
        """Copy the documents into the store and record a queued job. Returns its id."""
        job_id = uuid.uuid4().hex[:12]
        folder = self.uploads_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        stored: list[tuple[int, str, int, str]] = []
        for index, document in enumerate(documents):
            name, path, size = self._keep(folder, index, document)
            stored.append((index, name, size, path))
        safe_settings = {k: v for k, v in settings.items() if not _SECRET_KEYS.search(k)}
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs (id, title, status, created_at, updated_at, total, concurrency,"
                " schema_json, settings_json) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    title or _default_title(stored),
                    now,
                    now,
                    len(stored),
                    concurrency,
                    json.dumps(schema, ensure_ascii=False),
                    json.dumps(safe_settings, ensure_ascii=False),
                ),
            )
            db.executemany(
                "INSERT INTO documents (job_id, idx, name, size, path) VALUES (?, ?, ?, ?, ?)",
                [(job_id, i, n, s, p) for i, n, s, p in stored],
            )
        return job_id

    def _keep(
        self, folder: Path, index: int, document: tuple[str, bytes] | Source
    ) -> tuple[str, str, int]:
        if isinstance(document, Source):
            name, data, path = document.name, document.data, document.path
        else:
            name, data, path = document[0], document[1], None
        if data is None and path is not None:
            # A file on this machine (CLI, server-side folder): copy it too, so a job can be
            # resumed even if the original moves; the copy is what the job analyses.
            target = folder / f"{index:06d}{Path(name).suffix[:16]}"
            shutil.copyfile(path, target)
            return name, str(target), target.stat().st_size
        target = folder / f"{index:06d}{Path(name).suffix[:16]}"
        target.write_bytes(data or b"")
        return name, str(target), len(data or b"")

    def get_job(self, job_id: str) -> JobInfo | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            return self._job_info(db, row)

    def list_jobs(self, limit: int = 200) -> list[JobInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
            return [self._job_info(db, row) for row in rows]

    def _job_info(self, db: sqlite3.Connection, row: sqlite3.Row) -> JobInfo:
        counts = db.execute(
            "SELECT status, COUNT(*) FROM documents WHERE job_id = ? GROUP BY status", (row["id"],)
        ).fetchall()
        by_status = {status: count for status, count in counts}
        return JobInfo(
            id=row["id"],
            title=row["title"],
            status=row["status"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            total=row["total"],
            done=by_status.get("ok", 0) + by_status.get("failed", 0),
            failed=by_status.get("failed", 0),
            concurrency=row["concurrency"],
            schema=json.loads(row["schema_json"]),
            settings=json.loads(row["settings_json"]),
            snapshot=json.loads(row["snapshot_json"]),
            error=row["error"],
            heartbeat_at=row["heartbeat_at"],
            owner_pid=row["owner_pid"],
        )

    def set_status(self, job_id: str, status: str, *, error: str | None = None) -> None:
        with self._transaction() as db:
            self._require(db, job_id)
            db.execute(
                "UPDATE jobs SET status = ?, updated_at = ?, error = COALESCE(?, error)"
                " WHERE id = ?",
                (status, time.time(), error, job_id),
            )

    def claim(self, job_id: str) -> None:
        """This process runs the job now: status running, owner pid, fresh heartbeat."""
        now = time.time()
        with self._transaction() as db:
            self._require(db, job_id)
            db.execute(
                "UPDATE jobs SET status = 'running', owner_pid = ?, heartbeat_at = ?,"
                " updated_at = ?, cancel_requested = 0, error = '' WHERE id = ?",
                (os.getpid(), now, now, job_id),
            )

    def heartbeat(self, job_id: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", (time.time(), job_id))

    def request_cancel(self, job_id: str) -> None:
        with self._transaction() as db:
            self._require(db, job_id)
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))

    def clear_cancel(self, job_id: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET cancel_requested = 0 WHERE id = ?", (job_id,))

    def cancel_requested(self, job_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return bool(row and row[0])

    def delete_job(self, job_id: str) -> None:
        with self._transaction() as db:
            self._require(db, job_id)
            for table in ("events", "rows", "documents"):
                db.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.uploads_dir / job_id, ignore_errors=True)

    @staticmethod
    def _require(db: sqlite3.Connection, job_id: str) -> None:
        if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
            raise JobNotFound(job_id)

    # --- documents and rows -------------------------------------------------------------------
    def documents(self, job_id: str) -> list[DocumentInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT idx, name, size, status FROM documents WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
        return [DocumentInfo(r["idx"], r["name"], r["size"], r["status"]) for r in rows]

    def sources(self, job_id: str, pending_only: bool = False) -> list[tuple[int, Source]]:
        query = "SELECT idx, name, path FROM documents WHERE job_id = ?"
        if pending_only:
            query += " AND status = 'pending'"
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY idx", (job_id,)).fetchall()
        return [(r["idx"], Source(name=r["name"], path=Path(r["path"]))) for r in rows]

    def rows(self, job_id: str) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT row_json FROM rows WHERE job_id = ? ORDER BY idx", (job_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def reset_failed(self, job_id: str) -> int:
        """Forget failed documents' rows so a resume analyses them again; returns how many."""
        with self._transaction() as db:
            failed = [
                r[0]
                for r in db.execute(
                    "SELECT idx FROM documents WHERE job_id = ? AND status = 'failed'", (job_id,)
                )
            ]
            for index in failed:
                db.execute("DELETE FROM rows WHERE job_id = ? AND idx = ?", (job_id, index))
            db.execute(
                "UPDATE documents SET status = 'pending' WHERE job_id = ? AND status = 'failed'",
                (job_id,),
            )
        return len(failed)

    # --- events -------------------------------------------------------------------------------
    def append_event(self, job_id: str, event: Event) -> None:
        """Append to the log; keep the snapshot, the rows and the status in step, atomically."""
        name, data = event["event"], event["data"]
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO events (job_id, id, event, data) VALUES (?, ?, ?, ?)",
                (job_id, event["id"], name, json.dumps(data, ensure_ascii=False)),
            )
            if name == ev.DOCUMENT:
                db.execute(
                    "INSERT OR REPLACE INTO rows (job_id, idx, row_json) VALUES (?, ?, ?)",
                    (job_id, data["index"], json.dumps(data["row"], ensure_ascii=False)),
                )
                db.execute(
                    "UPDATE documents SET status = ? WHERE job_id = ? AND idx = ?",
                    (data["status"], job_id, data["index"]),
                )
            snapshot_update = _snapshot_update(name, data)
            if snapshot_update:
                row = db.execute(
                    "SELECT snapshot_json FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                snapshot = {**json.loads(row[0]), **snapshot_update} if row else snapshot_update
                db.execute(
                    "UPDATE jobs SET snapshot_json = ?, updated_at = ? WHERE id = ?",
                    (json.dumps(snapshot, ensure_ascii=False), now, job_id),
                )
            if name in STATUS_OF_FINAL_EVENT:
                db.execute(
                    "UPDATE jobs SET status = ?, updated_at = ?, error = ? WHERE id = ?",
                    (
                        STATUS_OF_FINAL_EVENT[name],
                        now,
                        data.get("message", "") if name == ev.ERROR else "",
                        job_id,
                    ),
                )

    def events(self, job_id: str, after_id: int = 0, limit: int | None = None) -> list[Event]:
        query = "SELECT id, event, data FROM events WHERE job_id = ? AND id > ? ORDER BY id"
        params: tuple[Any, ...] = (job_id, after_id)
        if limit is not None:
            query += " LIMIT ?"
            params += (limit,)
        with self._connect() as db:
            rows = db.execute(query, params).fetchall()
        return [{"id": r["id"], "event": r["event"], "data": json.loads(r["data"])} for r in rows]

    def last_event_id(self, job_id: str) -> int:
        with self._connect() as db:
            row = db.execute("SELECT MAX(id) FROM events WHERE job_id = ?", (job_id,)).fetchone()
        return int(row[0] or 0)


def _snapshot_update(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """What a page needs to draw a job without reading its whole log."""
    if name == ev.PROGRESS:
        return {k: v for k, v in data.items() if k != "task_id"}
    if name == ev.TOKENS:
        return {
            "tokens_processed": data.get("tokens_processed"),
            "partial_output": data.get("partial_output", ""),
            "partial_document": data.get("document", ""),
        }
    if name in (ev.COMPLETE, ev.CANCELLED, ev.ERROR):
        return {"final": {k: v for k, v in data.items() if k != "task_id"}, "final_event": name}
    return {}


def _default_title(stored: list[tuple[int, str, int, str]]) -> str:
    if not stored:
        return "empty batch"
    first = stored[0][1]
    return first if len(stored) == 1 else f"{first} + {len(stored) - 1} more"
