"""The job store: SQLite (WAL) in ANALYZER_DATA_DIR, the source of truth for every job.

Jobs, their documents (uploaded bytes are copied to files under uploads/ at once), the
append-only event log with the job's strictly increasing ids, and one result row per finished
document. A row is committed in the same transaction as its `document` event, so a process that
dies loses no finished document. Every call opens its own short-lived connection: the store is
shared by threads (Streamlit reruns, the runner), and by processes (API, app, CLI).
A runner claims a job (owner, pid, heartbeat) in one transaction before it runs it, so two
processes sharing a data dir never run the same job twice (see liveness.py).
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
from analyzer.jobs.liveness import held_by_live_owner

FINAL_STATUSES = frozenset({"completed", "cancelled", "failed"})
STATUS_OF_FINAL_EVENT = {ev.COMPLETE: "completed", ev.CANCELLED: "cancelled", ev.ERROR: "failed"}
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, heartbeat_at REAL, owner_pid INTEGER,
    owner TEXT,
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
CREATE INDEX IF NOT EXISTS jobs_by_creation ON jobs (created_at);
"""
# Settings that must never reach the disk, whatever a caller passes (api_key, auth_token…);
# anchored at the end of the name: max_tokens or tokens_per_minute are settings, not secrets.
_SECRET_KEYS = re.compile(
    r"(^|_)(api_?key|key|secret|password|token|authorization|credentials?)$", re.IGNORECASE
)
# Statuses in which a runner holds the job; no other runner may take it while that one lives.
HELD_STATUSES = frozenset({"queued", "running"})


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
    owner: str | None = None  # the runner that holds (or last held) the job

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_orphaned(self) -> bool:
        """Marked queued/running, but no live runner is behind it any more."""
        return self.status in HELD_STATUSES and not held_by_live_owner(
            self.owner_pid, self.heartbeat_at
        )


class JobNotFound(KeyError):
    pass


class JobStore:
    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "jobs.sqlite3"
        self.uploads_dir = self.data_dir / "uploads"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
            db.executescript(_SCHEMA_SQL)
            _add_missing_columns(db)

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
        try:
            stored = [self._keep(folder, index, doc) for index, doc in enumerate(documents)]
            self._insert_job(job_id, stored, schema, public_settings(settings), concurrency, title)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # no half-stored job left behind
            raise
        return job_id

    def _insert_job(
        self,
        job_id: str,
        stored: list[tuple[int, str, int, str]],
        schema: dict[str, Any],
        safe_settings: dict[str, Any],
        concurrency: int,
        title: str,
    ) -> None:
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

    @staticmethod
    def _keep(
        folder: Path, index: int, document: tuple[str, bytes] | Source
    ) -> tuple[int, str, int, str]:
        """Copy one document's bytes under uploads/<job>/; returns (index, name, size, path).

        The file on disk is named by position only: the uploaded name is data for display,
        never part of a path.
        """
        if isinstance(document, Source):
            name, data, path = document.name, document.data, document.path
        else:
            name, data, path = document[0], document[1], None
        target = folder / f"{index:06d}{_safe_suffix(name)}"
        if data is None and path is not None:
            # A file on this machine (CLI, server-side folder): copy it too, so a job can be
            # resumed even if the original moves; the copy is what the job analyses.
            shutil.copyfile(path, target)
        else:
            target.write_bytes(data or b"")
        return index, name, target.stat().st_size, str(target)

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
            owner=row["owner"],
        )

    def set_status(self, job_id: str, status: str, *, error: str | None = None) -> None:
        with self._transaction() as db:
            self._require(db, job_id)
            db.execute(
                "UPDATE jobs SET status = ?, updated_at = ?, error = COALESCE(?, error)"
                " WHERE id = ?",
                (status, time.time(), error, job_id),
            )

    def claim(
        self, job_id: str, owner: str, status: str = "running", *, clear_cancel: bool = False
    ) -> bool:
        """Make `owner` (a runner of this process) the holder of the job, with `status`.

        Atomic across processes: refused (False) while another live runner holds the job with a
        fresh heartbeat, so two processes can never run the same job at once. `clear_cancel`
        forgets an earlier run's cancel request in the same transaction.
        """
        now = time.time()
        with self._transaction() as db:
            row = self._require(db, job_id)
            held_elsewhere = (
                row["status"] in HELD_STATUSES
                and row["owner"] != owner
                and held_by_live_owner(row["owner_pid"], row["heartbeat_at"], now)
            )
            if held_elsewhere:
                return False
            db.execute(
                "UPDATE jobs SET status = ?, owner = ?, owner_pid = ?, heartbeat_at = ?,"
                " updated_at = ?, error = '',"
                " cancel_requested = CASE WHEN ? THEN 0 ELSE cancel_requested END WHERE id = ?",
                (status, owner, os.getpid(), now, now, clear_cancel, job_id),
            )
            return True

    def held_job_ids(self) -> list[str]:
        """Jobs marked queued or running (by a live runner or by one that is gone)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
            ).fetchall()
        return [row[0] for row in rows]

    def interrupt_if_orphaned(self, job_id: str) -> bool:
        """queued/running with no live runner behind it → "interrupted" (atomically)."""
        with self._transaction() as db:
            row = self._require(db, job_id)
            if row["status"] not in HELD_STATUSES or held_by_live_owner(
                row["owner_pid"], row["heartbeat_at"]
            ):
                return False
            db.execute(
                "UPDATE jobs SET status = 'interrupted', updated_at = ? WHERE id = ?",
                (time.time(), job_id),
            )
            return True

    def heartbeat(self, job_id: str, owner: str | None = None) -> None:
        """Say the job's runner is alive. With `owner`, only that runner's claim is refreshed."""
        query = "UPDATE jobs SET heartbeat_at = ? WHERE id = ?"
        params: tuple[Any, ...] = (time.time(), job_id)
        if owner is not None:
            query += " AND owner = ?"
            params += (owner,)
        with self._connect() as db:
            db.execute(query, params)

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
    def _require(db: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return row

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
            self._require(db, job_id)  # a deleted job's runner must not leave orphan events
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
                snapshot = {**json.loads(row[0]), **snapshot_update}
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


def public_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings without anything that looks like a credential: what may be stored."""
    return {k: v for k, v in settings.items() if not _SECRET_KEYS.search(str(k))}


def _safe_suffix(name: str) -> str:
    """The name's extension if it is plain letters/digits ('.pdf'), else nothing."""
    suffix = Path(name.replace("\\", "/")).suffix
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,12}", suffix) else ""


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Stores made by an earlier version lack newer columns; add them in place."""
    have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    if "owner" not in have:
        try:
            db.execute("ALTER TABLE jobs ADD COLUMN owner TEXT")
        except sqlite3.OperationalError as error:  # another process added it just now
            if "duplicate column" not in str(error):
                raise


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
