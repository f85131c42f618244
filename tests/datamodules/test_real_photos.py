"""Real-photo preparation on tiny package trees the tests write themselves (no network)."""

from __future__ import annotations

import csv
import io
import shutil
import struct
import subprocess

import pytest
from PIL import Image

import datamodules.real_photos as real_photos
from datamodules.real_photos import (
    EET_MAGIC,
    FIELDS,
    RESERVED_PACKAGES,
    SOURCES,
    SPLITS,
    Source,
    largest_edje_jpeg,
    load_photo,
    photo_name,
    prepare,
    read_manifest,
)


def _jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def _eet(entries: list[tuple[str, bytes, int]]) -> bytes:
    """An EET v2 file: header, directory (offset, size, data size, name offset, name size, flags),
    names, data."""
    names = b"".join(name.encode() + b"\0" for name, _, _ in entries)
    name_offset = 12 + 24 * len(entries)
    data_offset = name_offset + len(names)
    directory, blobs = b"", b""
    for name, blob, flags in entries:
        directory += struct.pack(">6I", data_offset + len(blobs), len(blob), len(blob), name_offset, len(name) + 1, flags)
        name_offset += len(name) + 1
        blobs += blob
    return struct.pack(">3I", EET_MAGIC, len(entries), 0) + directory + names + blobs


def _write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def package_trees(tmp_path):
    """Two unpacked packages in the real layouts: a Plasma-style wallpaper folder and Edje backgrounds."""
    root = tmp_path / "debs"
    wallpapers = root / "pkg-wall" / "usr" / "share" / "wallpapers"
    _write(wallpapers / "Lake" / "contents" / "images" / "2560x1600.jpg", _jpeg(40, 24, orientation=6))
    _write(wallpapers / "plain.jpg", _jpeg(32, 20))
    largest = _jpeg(48, 27)
    edje = _eet([
        ("edje/images/1", _jpeg(16, 9), 0),
        ("edje/file", b"\x00" * 4000, 1),
        ("edje/images/0", largest, 0),
        ("edje/images/2", _jpeg(64, 36)[:3] + b"\x00" * 9000, 1),  # compressed: not a JPEG stream
    ])
    _write(root / "pkg-edje" / "usr" / "share" / "bg" / "Moss.edj", edje)
    sources = (
        Source("pkg-wall", "usr/share/wallpapers", ("Lake/contents/images/2560x1600.jpg", "plain.jpg"), "GPL-2+"),
        Source("pkg-edje", "usr/share/bg", ("Moss.edj",), "BSD-2-clause"),
    )
    return root, sources, largest


def test_prepare_copies_the_listed_photos_byte_for_byte(tmp_path, package_trees):
    root, sources, largest = package_trees
    out = tmp_path / "out"
    rows = prepare(out, root, sources, {"pkg-wall": "heldout", "pkg-edje": "tune"})
    with open(out / "manifest.csv") as handle:
        assert tuple(csv.DictReader(handle).fieldnames) == FIELDS
    manifest = read_manifest(out)
    assert [r["path"] for r in manifest] == [r["path"] for r in rows] == [
        "images/pkg-wall/Lake_2560x1600.jpg", "images/pkg-wall/plain.jpg", "images/pkg-edje/Moss.jpg",
    ]
    lake = root / "pkg-wall" / "usr" / "share" / "wallpapers" / "Lake" / "contents" / "images" / "2560x1600.jpg"
    assert (out / manifest[0]["path"]).read_bytes() == lake.read_bytes()
    assert (out / manifest[2]["path"]).read_bytes() == largest
    assert [(r["width"], r["height"], r["split"], r["licence"]) for r in manifest] == [
        (24, 40, "heldout", "GPL-2+"), (32, 20, "heldout", "GPL-2+"), (48, 27, "tune", "BSD-2-clause"),
    ]  # the first is rotated by its EXIF orientation
    for row in manifest:
        photo = load_photo(out, row)
        assert photo.mode == "RGB" and photo.size == (row["width"], row["height"])


def test_prepare_unpacks_deb_files(tmp_path, package_trees):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("no dpkg-deb")
    root, sources, _ = package_trees
    (root / "pkg-wall" / "DEBIAN").mkdir()
    (root / "pkg-wall" / "DEBIAN" / "control").write_text(
        "Package: pkg-wall\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <test@example.org>\nDescription: test\n"
    )
    debs = tmp_path / "from"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--build", str(root / "pkg-wall"), str(debs / "pkg-wall_1.0-1_all.deb")],
                   check=True, capture_output=True)
    rows = prepare(tmp_path / "out", debs, sources[:1], {"pkg-wall": "tune"})
    assert [r["name"] for r in rows] == ["Lake_2560x1600.jpg", "plain.jpg"]


def test_reserved_packages_are_refused_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setattr(real_photos, "unpacked_tree", lambda *args: pytest.fail("nothing may be fetched"))
    reserved = Source(RESERVED_PACKAGES[0], "usr/share/backgrounds", ("a.jpg",), "CC-BY-4.0")
    with pytest.raises(ValueError, match="reserved"):
        prepare(tmp_path / "out", None, SOURCES + (reserved,), SPLITS | {reserved.package: "tune"})
    with pytest.raises(ValueError, match="no split"):
        prepare(tmp_path / "out", None, (Source("pkg-new", "usr", ("a.jpg",), "CC0"),), SPLITS)
    assert not (tmp_path / "out").exists()


def test_missing_photo_and_non_edje_files_fail(tmp_path, package_trees):
    root, _, _ = package_trees
    missing = Source("pkg-wall", "usr/share/wallpapers", ("gone.jpg",), "GPL-2+")
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        prepare(tmp_path / "out", root, (missing,), {"pkg-wall": "tune"})
    with pytest.raises(ValueError, match="not an EET"):
        largest_edje_jpeg(root / "pkg-wall" / "usr" / "share" / "wallpapers" / "plain.jpg")
    _write(tmp_path / "empty.edj", _eet([("edje/file", b"\x00" * 10, 0)]))
    with pytest.raises(ValueError, match="no JPEG"):
        largest_edje_jpeg(tmp_path / "empty.edj")


def test_the_listed_sources():
    """Every package has a split, none is reserved, names are unique, and 40+ photos are held out."""
    assert {s.package for s in SOURCES} == set(SPLITS) and set(SPLITS.values()) == {"tune", "heldout"}
    assert not any(s.package.startswith(reserved) for s in SOURCES for reserved in RESERVED_PACKAGES)
    for source in SOURCES:
        assert len({photo_name(p) for p in source.photos}) == len(source.photos)
    assert sum(len(s.photos) for s in SOURCES if SPLITS[s.package] == "heldout") >= 40
    assert photo_name("Bamboo.edj") == "Bamboo.jpg" and photo_name("text/scenetext02.jpg") == "text_scenetext02.jpg"
