"""Safe reading of .zip archives: the documents inside, with zip bombs and tricks refused.

Checked before anything is unpacked: the number of entries and the uncompressed sizes the
archive declares (zipfile then never inflates a member past its declared size). Nothing is
ever written to disk, and member names are only display names, cleaned of absolute paths and
'..' so they cannot pretend to be somewhere else.
Directory entries, __MACOSX/ resource forks, hidden files and Office lock files are skipped.
Nested archives are NOT expanded (a zip inside a zip becomes a row that says so): one level is
what analysts send, and refusing deeper levels takes the classic nested-bomb trick off the table.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

from .errors import DocumentError
from .limits import Limits, human_size

JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})


def is_junk(part: str) -> bool:
    """A path component no analyst means as a document."""
    return part.startswith((".", "~$")) or part.casefold() in JUNK_NAMES


def clean_member_name(raw: str) -> str | None:
    """'a/../../etc/passwd' → 'etc/passwd'; None for names that are nothing but tricks."""
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts and len(parts[0]) == 2 and parts[0][1] == ":":  # 'C:' drive prefix
        parts = parts[1:]
    return "/".join(parts) or None


def read_zip(name: str, archive: bytes | Path, limits: Limits) -> list[tuple[str, bytes]]:
    """(member name, bytes) for each document in the archive, in archive order.

    Raises DocumentError with one sentence when the archive as a whole cannot be used.
    """
    with _open(name, archive) as handle:
        kept = _checked_members(name, handle, limits)
        return [(member, _read_member(name, handle, info, member)) for info, member in kept]


def _open(name: str, archive: bytes | Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(archive) if isinstance(archive, bytes) else archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise not_a_zip(name) from None


def _checked_members(
    name: str, handle: zipfile.ZipFile, limits: Limits
) -> list[tuple[zipfile.ZipInfo, str]]:
    """The document entries, once their number and declared sizes are within the limits."""
    infos = handle.infolist()
    if len(infos) > limits.max_archive_members:
        raise DocumentError(
            f"{name} holds {len(infos):,} entries, more than the limit of "
            f"{limits.max_archive_members:,} per archive."
        )
    kept = [(info, member) for info in infos if (member := _document_name(info))]
    _check_sizes(name, kept, limits)
    return kept


def not_a_zip(name: str) -> DocumentError:
    return DocumentError(
        f"{name} is not a valid .zip archive (the file is damaged or is not a zip)."
    )


def _document_name(info: zipfile.ZipInfo) -> str | None:
    if info.is_dir():
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        return None  # a symlink entry: its "content" is a path, never a document
    member = clean_member_name(info.filename)
    if member is None or any(is_junk(part) for part in PurePosixPath(member).parts):
        return None
    return member


def _check_sizes(name: str, kept: list[tuple[zipfile.ZipInfo, str]], limits: Limits) -> None:
    total = 0
    for info, member in kept:
        if info.file_size > limits.max_bytes:
            raise DocumentError(
                f"{name}: {member} is {human_size(info.file_size)} uncompressed, over the limit "
                f"of {human_size(limits.max_bytes)} per document."
            )
        total += info.file_size
    if total > limits.max_archive_bytes:
        raise DocumentError(
            f"{name} unpacks to {human_size(total)}, over the limit of "
            f"{human_size(limits.max_archive_bytes)} per archive (it may be a zip bomb)."
        )


def _read_member(name: str, handle: zipfile.ZipFile, info: zipfile.ZipInfo, member: str) -> bytes:
    if info.flag_bits & 0x1:
        raise DocumentError(f"{name} is password-protected: unzip it and add its files.")
    try:
        # zipfile never returns more than the declared size (and checks the CRC), so the
        # sizes checked up front bound what is unpacked here.
        return handle.read(info)
    except NotImplementedError:
        raise DocumentError(
            f"{name}: {member} uses a compression method that cannot be read; "
            "re-create the archive with ordinary (deflate) compression."
        ) from None
    except RuntimeError:  # zipfile's "password required"
        raise DocumentError(f"{name} is password-protected: unzip it and add its files.") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise DocumentError(f"{name} is damaged: {member} could not be unpacked.") from None


def archive_problem(name: str, archive: bytes | Path, limits: Limits) -> DocumentError:
    """Why a .zip handed to extract() is not read: it is damaged or hostile, or it is an
    archive inside an archive (the only way a sound one gets there). Nothing is unpacked."""
    try:
        with _open(name, archive) as handle:
            _checked_members(name, handle, limits)
    except DocumentError as error:
        return error
    return DocumentError(
        f"{name} is a .zip archive inside another archive; nested archives are not expanded: "
        "unzip it and add its files."
    )
