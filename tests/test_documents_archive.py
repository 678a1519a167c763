"""Folders and .zip archives expand to their documents; zip bombs and tricks are refused."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from analyzer.documents import DocumentError, Limits, Source, expand_paths, expand_upload, extract
from tests import pdf_factory


def _names(sources: list[Source]) -> list[str]:
    return [source.name for source in sources]


def test_uploaded_zip_expands_to_its_documents_in_order() -> None:
    data = pdf_factory.make_zip(
        {
            "invoices/": b"",
            "invoices/a.pdf": pdf_factory.make_pdf(["Invoice A"]),
            "invoices/b.txt": "請求書 B".encode("cp932"),
            "notes.md": b"# Notes",
        }
    )
    sources = expand_upload("batch.zip", data)
    assert _names(sources) == [
        "batch.zip/invoices/a.pdf",
        "batch.zip/invoices/b.txt",
        "batch.zip/notes.md",
    ]
    assert [extract(source).text for source in sources] == ["Invoice A", "請求書 B", "# Notes"]


def test_other_uploads_are_a_single_document() -> None:
    data = pdf_factory.make_pdf(["x"])
    assert expand_upload("a.pdf", data) == [Source("a.pdf", data=data)]
    # Even unsupported ones: they become a row that says why.
    assert _names(expand_upload("setup.exe", b"MZ")) == ["setup.exe"]


def test_junk_entries_are_skipped() -> None:
    data = pdf_factory.make_zip(
        {
            "__MACOSX/._a.txt": b"\x00\x05\x16\x07resource fork",
            ".DS_Store": b"\x00\x00\x00\x01Bud1",
            "docs/.hidden.txt": b"secret",
            "docs/~$report.docx": b"lock file",
            "docs/Thumbs.db": b"thumbs",
            "docs/a.txt": b"kept",
        }
    )
    assert _names(expand_upload("mac.zip", data)) == ["mac.zip/docs/a.txt"]


def test_member_names_cannot_climb_out_of_the_archive() -> None:
    data = pdf_factory.make_zip(
        {
            "../../etc/passwd.txt": b"root",
            "/abs/path.txt": b"abs",
            "C:\\Users\\x\\win.txt": b"win",
        }
    )
    assert _names(expand_upload("evil.zip", data)) == [
        "evil.zip/etc/passwd.txt",
        "evil.zip/abs/path.txt",
        "evil.zip/Users/x/win.txt",
    ]


def test_nested_zip_is_not_expanded_and_says_so() -> None:
    inner = pdf_factory.make_zip({"deep.txt": b"deep"})
    data = pdf_factory.make_zip({"inner.zip": inner, "top.txt": b"top"})
    sources = expand_upload("outer.zip", data)
    assert _names(sources) == ["outer.zip/inner.zip", "outer.zip/top.txt"]
    with pytest.raises(DocumentError) as caught:
        extract(sources[0])
    assert str(caught.value) == (
        "outer.zip/inner.zip is a .zip archive inside another archive; nested archives are "
        "not expanded: unzip it and add its files."
    )


def test_zip_bomb_is_refused_before_unpacking() -> None:
    """Ten members of 20 MB of zeros each: 200 MB declared, 200 KB on the wire (the limits are
    scaled down with it; the defaults are 1 GB per archive and 200 MB per document)."""
    buffer = io.BytesIO()
    zeros = b"\x00" * (10 * 2**20)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(10):
            with archive.open(f"part{i}.txt", "w") as member:
                member.write(zeros)
                member.write(zeros)
    data = buffer.getvalue()
    assert len(data) < 2**20
    with pytest.raises(DocumentError) as caught:
        expand_upload("bomb.zip", data, limits=Limits(max_archive_bytes=100 * 2**20))
    assert str(caught.value) == (
        "bomb.zip unpacks to 200 MB, over the limit of 100 MB per archive (it may be a zip bomb)."
    )
    with pytest.raises(DocumentError, match=r"^bomb\.zip: part0\.txt is 20 MB uncompressed"):
        expand_upload("bomb.zip", data, limits=Limits(max_bytes=10 * 2**20))


def test_member_that_inflates_past_its_declared_size_is_refused() -> None:
    real = b"A" * 100_000
    data = bytearray(pdf_factory.make_zip({"liar.txt": real}))
    # Patch the declared uncompressed size (local header and central directory) to 1,000.
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 1_000)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1_000)
    with pytest.raises(DocumentError) as caught:
        expand_upload("liar.zip", bytes(data))
    assert str(caught.value) == "liar.zip is damaged: liar.txt could not be unpacked."


def test_too_many_entries() -> None:
    data = pdf_factory.make_zip({f"f{i}.txt": b"x" for i in range(30)})
    with pytest.raises(DocumentError) as caught:
        expand_upload("many.zip", data, limits=Limits(max_archive_members=20))
    assert str(caught.value) == "many.zip holds 30 entries, more than the limit of 20 per archive."


def test_damaged_empty_and_password_protected_zips() -> None:
    with pytest.raises(DocumentError, match=r"^bad\.zip is not a valid \.zip archive"):
        expand_upload("bad.zip", b"PK\x03\x04 not really")
    good = pdf_factory.make_zip({"a.txt": b"a" * 5000})
    with pytest.raises(DocumentError, match=r"^cut\.zip is not a valid \.zip archive"):
        expand_upload("cut.zip", pdf_factory.truncate(good, 0.5))
    with pytest.raises(DocumentError, match=r"^empty\.zip contains no documents\.$"):
        expand_upload("empty.zip", pdf_factory.make_zip({"folder/": b"", ".DS_Store": b"x"}))
    locked = bytearray(good)
    struct.pack_into("<H", locked, locked.index(b"PK\x03\x04") + 6, 0x1)
    struct.pack_into("<H", locked, locked.index(b"PK\x01\x02") + 8, 0x1)
    with pytest.raises(DocumentError, match=r"^locked\.zip is password-protected"):
        expand_upload("locked.zip", bytes(locked))


def test_folder_expands_recursively_sorted_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("hidden folder")
    (tmp_path / "b" / "z.txt").write_text("z")
    (tmp_path / "a" / "y.pdf").write_bytes(pdf_factory.make_pdf(["y"]))
    (tmp_path / "top.md").write_text("top")
    (tmp_path / ".hidden.txt").write_text("hidden")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    (tmp_path / "a" / "pack.zip").write_bytes(pdf_factory.make_zip({"in.txt": b"inside"}))
    sources = expand_paths([tmp_path])
    assert _names(sources) == [
        "a/pack.zip/in.txt",
        "a/y.pdf",
        "b/z.txt",
        "photo.png",  # unsupported, but still a row that says so
        "top.md",
    ]
    assert sources[1].path == tmp_path / "a" / "y.pdf" and sources[1].data is None
    assert extract(sources[0]).text == "inside"
    with pytest.raises(DocumentError, match=r"unsupported file type \.png"):
        extract(sources[3])


def test_single_files_and_zips_given_as_paths(tmp_path: Path) -> None:
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(pdf_factory.make_pdf(["Dear Sir"]))
    archive = tmp_path / "batch.zip"
    archive.write_bytes(pdf_factory.make_zip({"x.txt": b"x", "y.txt": b"y"}))
    assert _names(expand_paths([str(pdf), archive])) == [
        "letter.pdf",
        "batch.zip/x.txt",
        "batch.zip/y.txt",
    ]


def test_damaged_zip_in_a_folder_becomes_one_row_that_explains(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.zip").write_bytes(b"PK\x03\x04 garbage")
    sources = expand_paths([tmp_path])
    assert _names(sources) == ["sub/broken.zip"]
    with pytest.raises(DocumentError) as caught:
        extract(sources[0])
    assert str(caught.value) == (
        "sub/broken.zip is not a valid .zip archive (the file is damaged or is not a zip)."
    )


def test_source_size_is_cheap_and_safe(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"12345")
    assert Source("a.txt", path=path).size == 5
    assert Source("a.txt", data=b"123").size == 3
    assert Source("gone.txt", path=tmp_path / "gone.txt").size == 0
    with pytest.raises(ValueError):
        Source("nothing.txt")
