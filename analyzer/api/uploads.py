"""Receiving a job's uploaded files safely: streamed to disk, size-capped, names sanitised.

The multipart body is parsed as it arrives (python-multipart's streaming parser) and each file
is written to a temporary folder chunk by chunk, so no more than one network chunk of an upload
is ever held in memory and a too-large file is refused as soon as it crosses the limit, not
after it has been received. File names come from the client and are never trusted: directories,
``..``, control and formatting characters are dropped, while Japanese and other scripts stay.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from analyzer.documents import DocumentError, Source, expand_upload

FILE_FIELDS = frozenset({"files", "file"})
MAX_TEXT_FIELD_BYTES = 1024 * 1024
MAX_TEXT_FIELDS = 32
# After refusing an upload, read (and drop) up to this much of the rest of the body so the
# client gets to read the 413 instead of a connection reset; beyond it the connection is closed.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
MAX_NAME_BYTES = 200
DEFAULT_NAME = "document"
# Characters Windows refuses in file names; analysts download results on Windows too.
_RESERVED = str.maketrans(dict.fromkeys('<>:"|?*', "_"))
# Unicode categories dropped from names: control, format (bidi overrides, zero-width),
# surrogates, line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class UploadRejected(Exception):
    """The upload cannot be accepted; ``detail`` is one sentence for the client."""

    status_code = 422

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code


class UploadTooLarge(UploadRejected):
    status_code = 413


def sanitize_filename(raw: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A safe, single-component file name for what a client called its file."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = name.translate(_RESERVED).strip().strip(".").strip()
    if not name:
        return DEFAULT_NAME
    return _shorten(name, max_bytes)


def _shorten(name: str, max_bytes: int) -> str:
    """Cut the stem (never the suffix) so the UTF-8 name fits `max_bytes`."""
    if len(name.encode("utf-8")) <= max_bytes:
        return name
    suffix = Path(name).suffix
    if len(suffix) > 16:
        suffix = ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    budget = max_bytes - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return (cut or DEFAULT_NAME) + suffix


def sanitize_member_path(raw: str) -> str:
    """A .zip member's display name ("batch.zip/sub/b.pdf"): each segment sanitised, no `..`."""
    segments = raw.replace("\\", "/").split("/")
    kept = [
        sanitize_filename(segment) for segment in segments if segment.strip() not in ("", ".", "..")
    ]
    return "/".join(kept) or DEFAULT_NAME


def unique_names(names: list[str]) -> list[str]:
    """Make names distinct (case-insensitively): the second ``a.pdf`` becomes ``a (2).pdf``."""
    taken: set[str] = set()
    result: list[str] = []
    for name in names:
        candidate, number = name, 2
        suffix = Path(name).suffix
        stem = name[: len(name) - len(suffix)] if suffix else name
        while candidate.casefold() in taken:
            candidate = f"{stem} ({number}){suffix}"
            number += 1
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


@dataclass
class ReceivedFile:
    name: str  # sanitised
    path: Path
    size: int = 0


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)


class _FormReceiver:
    """python-multipart callbacks that write file parts to `folder` and enforce the limits."""

    def __init__(self, folder: Path, *, max_file_bytes: int, max_files: int) -> None:
        self.folder = folder
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.form = ReceivedForm()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field_name = ""
        self._text: bytearray | None = None
        self._file: ReceivedFile | None = None
        self._handle: IO[bytes] | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._text, self._file = None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        # Browsers send names as raw UTF-8; the parser hands the bytes back unchanged.
        self._field_name = options.get(b"name", b"").decode("utf-8", errors="replace")
        if b"filename" not in options:
            if len(self.form.fields) >= MAX_TEXT_FIELDS:
                raise UploadRejected(f"Too many form fields (at most {MAX_TEXT_FIELDS}).")
            self._text = bytearray()
            return
        if self._field_name not in FILE_FIELDS:
            raise UploadRejected(
                f"Unexpected file field '{self._field_name}': send documents as 'files'."
            )
        if len(self.form.files) >= self.max_files:
            raise UploadTooLarge(
                f"Too many files: at most {self.max_files} per job (ANALYZER_MAX_FILES)."
            )
        raw_name = options[b"filename"].decode("utf-8", errors="replace")
        path = self.folder / f"{len(self.form.files):05d}.upload"
        self._file = ReceivedFile(sanitize_filename(raw_name), path)
        self._handle = path.open("wb")
        self.form.files.append(self._file)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._file is not None and self._handle is not None:
            self._file.size += size
            if self._file.size > self.max_file_bytes:
                raise UploadTooLarge(
                    f"'{self._file.name}' is larger than the limit of "
                    f"{_megabytes(self.max_file_bytes)} per file (ANALYZER_MAX_UPLOAD_MB)."
                )
            self._handle.write(data[start:end])
        elif self._text is not None:
            if len(self._text) + size > MAX_TEXT_FIELD_BYTES:
                raise UploadTooLarge(f"The form field '{self._field_name}' is too large.")
            self._text.extend(data[start:end])

    def on_part_end(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._text is not None:
            self.form.fields[self._field_name] = self._text.decode("utf-8", errors="replace")
        self._text, self._file = None, None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


async def receive_form(
    request: Request, folder: Path, *, max_file_bytes: int, max_files: int
) -> ReceivedForm:
    """Parse a multipart/form-data body into text fields and files written under `folder`."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadRejected(
            "Send the job as multipart/form-data with one or more 'files' parts.", 415
        )
    receiver = _FormReceiver(folder, max_file_bytes=max_file_bytes, max_files=max_files)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())
    body = _BodyReader(request)
    try:
        while (chunk := await body.next_chunk()) is not None:
            # Disk writes happen in the callbacks: keep them off the event loop.
            await anyio.to_thread.run_sync(parser.write, chunk)
        parser.finalize()
    except UploadRejected:
        await body.drain()
        raise
    except FormParserError:
        raise UploadRejected("The multipart body is malformed.", 400) from None
    finally:
        receiver.close()
    return receiver.form


class _BodyReader:
    """The request body, message by message, knowing whether more is still to come."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.more = True

    async def next_chunk(self) -> bytes | None:
        while self.more:
            message = await self.request.receive()
            if message["type"] != "http.request":  # the client went away
                self.more = False
                raise UploadRejected("The upload was interrupted.", 400)
            self.more = bool(message.get("more_body", False))
            if message.get("body"):
                return message["body"]
        return None

    async def drain(self) -> None:
        """Read and drop the rest of a refused body (bounded) so the client sees our answer."""
        drained = 0
        while self.more and drained < DRAIN_LIMIT_BYTES:
            message = await self.request.receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            self.more = bool(message.get("more_body", False))


def to_sources(received: list[ReceivedFile], *, max_files: int) -> list[Source]:
    """Turn received files into Sources: a .zip expands to its members; names made distinct."""
    named: list[tuple[str, Source]] = []
    for upload in received:
        if upload.name.lower().endswith(".zip"):
            try:
                members = expand_upload(upload.name, upload.path.read_bytes())
            except DocumentError as error:
                raise UploadRejected(f"'{upload.name}': {error}") from None
            named += [(sanitize_member_path(member.name), member) for member in members]
        else:
            named.append((upload.name, Source(upload.name, path=upload.path)))
        if len(named) > max_files:
            raise UploadTooLarge(
                f"Too many files: at most {max_files} per job (ANALYZER_MAX_FILES), "
                "counting the members of .zip archives."
            )
    if not named:
        raise UploadRejected("No documents: send one or more 'files' parts.")
    names = unique_names([name for name, _ in named])
    return [
        Source(name, path=source.path, data=source.data)
        for name, (_, source) in zip(names, named, strict=True)
    ]
