"""Step 1 of the Analyze page: uploads, the sample documents, or a server-side folder.

It only gathers `Source`s (bytes and names); reading them is analyzer.documents' job and
happens in the runner. Uploaded files are expanded once per file (a .zip into its members).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from analyzer.documents import Source, expand_paths
from analyzer.ui import format as fmt
from analyzer.ui.actions import upload_sources
from analyzer.ui.i18n import t
from analyzer.ui.state import input_dir, inside

UPLOAD_TYPES = ["pdf", "txt", "md", "csv", "docx", "zip"]
_EXPANDED = "upload_expanded"  # file_id → (sources, error) so a rerun never re-reads a zip
NO_FOLDER = ""


@dataclass
class Picked:
    sources: list[Source] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(source.size for source in self.sources)


def uploader_key() -> str:
    return f"uploads_{st.session_state.get('uploads_version', 0)}"


def reset_picker() -> None:
    """After a job is submitted: an empty form for the next one."""
    st.session_state["uploads_version"] = st.session_state.get("uploads_version", 0) + 1
    st.session_state["use_samples"] = False
    st.session_state.pop(_EXPANDED, None)


def _add_samples() -> None:
    st.session_state["use_samples"] = True


def _remove_samples() -> None:
    st.session_state["use_samples"] = False


def document_picker() -> Picked:
    picked = Picked()
    files = st.file_uploader(
        t("docs.upload"),
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=uploader_key(),
        help=t("docs.upload_help"),
    )
    cache: dict[str, tuple[list[Source], str | None]] = st.session_state.setdefault(_EXPANDED, {})
    for upload in files or []:
        if upload.file_id not in cache:
            cache[upload.file_id] = upload_sources(upload.name, upload.getvalue())
        sources, error = cache[upload.file_id]
        picked.sources.extend(sources)
        if error:
            picked.problems.append(t("docs.bad_upload", name=upload.name, error=error))

    if st.session_state.get("use_samples"):
        from analyzer.samples import sample_sources

        samples = sample_sources()
        picked.sources.extend(samples)
        cols = st.columns([3, 1], vertical_alignment="center")
        cols[0].success(t("docs.samples_selected", count=len(samples)), icon="📄")
        cols[1].button(
            t("docs.samples_remove"),
            on_click=_remove_samples,
            key="samples_remove",
            icon=":material/close:",
            width="stretch",
        )
    else:
        st.button(
            t("docs.samples"),
            icon=":material/science:",
            on_click=_add_samples,
            key="samples_add",
        )
    root = input_dir()
    if root is not None:
        picked.sources.extend(_folder_sources(root, picked))

    for problem in picked.problems:
        st.warning(problem, icon="⚠️")
    if picked.sources:
        st.caption(t("docs.selected", count=len(picked.sources), size=fmt.size(picked.total_bytes)))
    else:
        st.caption(t("docs.none"))
    return picked


def _folders(root: Path) -> list[str]:
    subfolders = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and inside(root, p)
    )
    return [NO_FOLDER, ".", *subfolders[:500]]


def _folder_sources(root: Path, picked: Picked) -> list[Source]:
    choice = st.selectbox(
        t("docs.folder"),
        _folders(root),
        key="input_folder",
        format_func=lambda f: t("docs.folder_none") if f == NO_FOLDER else f,
        help=t("docs.folder_help", root=root),
    )
    if choice == NO_FOLDER:
        return []
    folder = root / choice
    if not inside(root, folder):
        picked.problems.append(t("docs.folder_outside", root=root))
        return []
    return expand_paths([folder])
