"""The wire between extract() and its worker processes: length-prefixed frames over pipes.

A frame is a 4-byte big-endian length and that many bytes; JSON frames carry messages and one
raw frame carries a document's bytes. JSON, not pickle: the worker parses hostile files, so
nothing it sends back may be able to run code in the parent.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import IO, Any

_LENGTH = struct.Struct(">I")
MAX_FRAME_BYTES = 2**31 - 1


class WorkerGone(Exception):
    """The worker's end of the pipe closed: it exited or was killed."""


def encode_message(message: dict[str, Any]) -> bytes:
    # Lone surrogates (broken font maps in PDFs) cannot be UTF-8: they become '?'.
    return json.dumps(message, ensure_ascii=False).encode("utf-8", errors="replace")


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    if len(payload) > MAX_FRAME_BYTES:
        raise ValueError("frame too large")
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)


def read_frame_blocking(stream: IO[bytes]) -> bytes | None:
    """Next frame, or None at a clean end of input (the parent went away)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    return payload


class FrameReader:
    """Reads frames from a pipe's file descriptor with a deadline (select + os.read)."""

    def __init__(self, fd: int, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._max = max_frame_bytes

    def read_message(self, deadline: float) -> dict[str, Any]:
        (length,) = _LENGTH.unpack(self._read_exact(_LENGTH.size, deadline))
        if length > self._max:
            raise WorkerGone(f"frame of {length} bytes is larger than allowed")
        message = json.loads(self._read_exact(length, deadline))
        if not isinstance(message, dict):
            raise WorkerGone("malformed message")
        return message

    def _read_exact(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(self._fd, max(65536, size - len(self._buffer)))
            if not chunk:
                raise WorkerGone("end of output")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
