"""One input document: a display name plus its bytes, on disk or in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass
class Source:
    """`name` is what the analyst uploaded ("a.pdf", "batch.zip/sub/b.pdf"); the bytes live at
    `path` or in `data`. Nothing is read until `read_bytes()` is called."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        if self.path is not None and not isinstance(self.path, Path):
            self.path = Path(self.path)
        if self.path is None and self.data is None:
            raise ValueError(f"Source {self.name!r} needs a path or data")

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    @property
    def size(self) -> int:
        """Size in bytes, without reading the file (0 when it has vanished)."""
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    @property
    def suffix(self) -> str:
        """Lower-case suffix of the display name (falling back to the path's), e.g. '.pdf'."""
        suffix = PurePosixPath(self.name.replace("\\", "/")).suffix.lower()
        if not suffix and self.path is not None:
            suffix = self.path.suffix.lower()
        return suffix
