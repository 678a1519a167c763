"""Paths and uploads → the list of documents to analyse (folders and .zip files expanded)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .archive import is_junk, read_zip
from .errors import DocumentError
from .formats import ARCHIVE_SUFFIXES
from .limits import Limits
from .source import Source

_DEFAULT_LIMITS = Limits()


def expand_paths(paths: Iterable[str | Path], *, limits: Limits = _DEFAULT_LIMITS) -> list[Source]:
    """Files as they are; folders recursively (sorted, hidden files and folders skipped);
    .zip files expanded to their members ("batch.zip/sub/b.pdf").

    Every file found becomes a Source, readable or not, so it gets a row that says what is
    wrong with it. A .zip that cannot be expanded stays one Source whose extraction explains
    why. Names are relative to the folder given; a single file keeps its own name.
    """
    sources: list[Source] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for file in _walk(path):
                sources.extend(_file_sources(file, file.relative_to(path).as_posix(), limits))
        else:
            sources.extend(_file_sources(path, path.name, limits))
    return sources


def expand_upload(name: str, data: bytes, *, limits: Limits = _DEFAULT_LIMITS) -> list[Source]:
    """An uploaded file: a .zip becomes its members, anything else a single Source.

    Raises DocumentError when a .zip cannot be used (damaged, a zip bomb, no documents inside).
    """
    if Path(name).suffix.lower() not in ARCHIVE_SUFFIXES:
        return [Source(name, data=data)]
    members = read_zip(name, data, limits)
    if not members:
        raise DocumentError(f"{name} contains no documents.")
    return [Source(f"{name}/{member}", data=content) for member, content in members]


def _file_sources(path: Path, display: str, limits: Limits) -> list[Source]:
    if path.suffix.lower() not in ARCHIVE_SUFFIXES:
        return [Source(display, path=path)]
    try:
        members = read_zip(display, path, limits)
    except DocumentError:
        return [Source(display, path=path)]  # extract() will say what is wrong with it
    return [Source(f"{display}/{member}", data=content) for member, content in members]


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(root):  # symlinked folders not followed: no loops
        dirnames[:] = sorted(d for d in dirnames if not is_junk(d))
        found.extend(Path(folder, f) for f in filenames if not is_junk(f))
    return sorted(found, key=lambda p: p.relative_to(root).parts)
