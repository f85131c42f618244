"""Real photographs (camera pictures, no rendered or painted art) from Debian packages, for the
steganalysis benchmark.

Preparation (``python -m datamodules.real_photos prepare --out data/real_photos``) downloads the
packages of :data:`SOURCES` with ``apt-get download`` (or takes their ``.deb`` files or unpacked
trees from ``--from-dir``), unpacks them with ``dpkg -x`` in a temporary folder and copies the
photographs listed there, each picked by eye, byte for byte (a JPEG stays the same JPEG)::

    data/real_photos/
        manifest.csv                   # path, package, name, licence, width, height, split
        images/<package>/<name>        # the original file

Enlightenment keeps each background in an Edje (``.edj``) container at several resolutions; its
largest JPEG is copied out byte for byte as ``<background>.jpg``. ``width`` and ``height`` are
those of the photo as displayed (EXIF orientation applied); ``licence`` is the one the package's
``/usr/share/doc/<package>/copyright`` gives.

Splits (:data:`SPLITS`) go by whole package, so that no collection of photos is on both sides:
the benchmark tunes on ``tune`` (OpenCV's sample pictures, Palapeli's puzzle photos, the one
photograph of ``lomiri-wallpapers-20.04`` and digiKam's background) and reports on ``heldout``
(the MATE, Plasma, LXQt and Enlightenment wallpapers).

``lomiri-wallpapers-16.04`` is reserved for evaluation elsewhere in the project and is refused
here (:data:`RESERVED_PACKAGES`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from datamodules.debian_packages import read_csv, unpacked_tree, write_csv

MANIFEST = "manifest.csv"
FIELDS = ("path", "package", "name", "licence", "width", "height", "split")


@dataclass(frozen=True)
class Source:
    """The photographs of one Debian package: ``photos`` are paths under ``folder`` (itself
    relative to the unpacked tree)."""

    package: str
    folder: str
    photos: tuple[str, ...]
    licence: str


SOURCES = (
    Source("mate-backgrounds", "usr/share/backgrounds/mate/nature", (
        "Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg",
        "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg",
    ), "GPL-2+"),
    # The other wallpapers (Altai, Autumn, Canopee, Flow, Kay, ...) are rendered or painted.
    Source("plasma-workspace-wallpapers", "usr/share/wallpapers", tuple(
        f"{wallpaper}/contents/images/2560x1600.jpg" for wallpaper in (
            "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
            "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
        )
    ), "GPL-2+"),  # each wallpaper's metadata.json says LGPL-3
    Source("lxqt-themes", "usr/share/lxqt/wallpapers", (
        "Butterfly-Kenneth-Wimer.jpg", "Valendas.png", "after-the-rain.jpg", "appleflower.png", "beam.png",
        "butterfly.png", "cloud.png", "drop.png", "flowers.png", "fog.jpg", "this-is-not-windows.jpg",
    ), "LGPL-2.1+"),  # the folder's own License file says CC-BY-SA-3.0
    Source("enlightenment-data", "usr/share/enlightenment/data/backgrounds", tuple(
        f"{background}.edj" for background in (
            "Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches", "Mountain", "Peaks",
            "Red-Maple", "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles", "Sunset-Clouds", "White-Flower",
            "Yellow-Flower",
        )
    ), "BSD-2-clause"),
    Source("opencv-doc", "usr/share/doc/opencv-doc/examples", (
        "data/aloeL.jpg", "text/scenetext02.jpg", "text/scenetext04.jpg", "text/scenetext05.jpg",
    ), "Apache-2.0 AND BSD-3-Clause"),  # the other samples are under 1024 pixels, drawings or logos
    Source("palapeli-data", "usr/share/palapeli/collection", (
        "castle-maintenon.jpg", "cincinnati-bridge.jpg", "citrus-fruits.jpg", "european-honey-bee.jpg",
        "panther-chameleon-female.jpg",
    ), "GPL-2+"),
    # Fossa, Infinite-Sea and Painting-Colors are rendered.
    Source("lomiri-wallpapers-20.04", "usr/share/backgrounds", ("Kleiber_by_Lukas_Baubkus.jpg",), "CC-BY-SA-3.0"),
    Source("digikam-data", "usr/share/digikam/about/images", ("body-background.jpg",), "GPL-2+"),
)
#: Whole packages per split: ``tune`` for the benchmark's tuning, ``heldout`` for its report.
SPLITS = {
    "mate-backgrounds": "heldout",
    "plasma-workspace-wallpapers": "heldout",
    "lxqt-themes": "heldout",
    "enlightenment-data": "heldout",
    "opencv-doc": "tune",
    "palapeli-data": "tune",
    "lomiri-wallpapers-20.04": "tune",
    "digikam-data": "tune",
}
#: Packages that hold evaluation material of other parts of the project: never used here.
RESERVED_PACKAGES = ("lomiri-wallpapers-16.04",)
EET_MAGIC = 0x1EE70F42
JPEG_START = b"\xff\xd8\xff"
EXIF_ORIENTATION = 0x0112


def photo_name(relative: str) -> str:
    """The photo's file name in the corpus: its own, prefixed with its top folder when it lies
    deeper (``<Wallpaper>/contents/images/2560x1600.jpg`` -> ``<Wallpaper>_2560x1600.jpg``);
    an Edje file gives its JPEG (``Bamboo.edj`` -> ``Bamboo.jpg``)."""
    parts = PurePosixPath(relative).parts
    name = PurePosixPath(parts[-1] if len(parts) == 1 else f"{parts[0]}_{parts[-1]}")
    return str(name.with_suffix(".jpg") if name.suffix == ".edj" else name)


def largest_edje_jpeg(path: str | os.PathLike) -> bytes:
    """The bytes of the largest JPEG image stored (uncompressed) in an Edje / EET v2 file."""
    data = Path(path).read_bytes()
    magic, entry_count, _ = struct.unpack_from(">3I", data)
    if magic != EET_MAGIC:
        raise ValueError(f"{path} is not an EET v2 file")
    best = b""
    for index in range(entry_count):
        offset, size, _, name_offset, name_size, flags = struct.unpack_from(">6I", data, 12 + 24 * index)
        name = data[name_offset : name_offset + name_size].rstrip(b"\0")
        stored = data[offset : offset + size]
        # flags bit 0: compressed, bit 1: ciphered
        if name.startswith(b"edje/images/") and flags & 0b11 == 0 and stored.startswith(JPEG_START) and size > len(best):
            best = stored
    if not best:
        raise ValueError(f"{path} holds no JPEG image")
    return best


def displayed_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height of an image once its EXIF orientation is applied (reads the header only)."""
    with Image.open(path) as image:
        width, height = image.size
        return (height, width) if image.getexif().get(EXIF_ORIENTATION) in (5, 6, 7, 8) else (width, height)


def prepare(
    out: str | os.PathLike,
    from_dir: str | os.PathLike | None = None,
    sources: tuple[Source, ...] = SOURCES,
    splits: dict[str, str] = SPLITS,
) -> list[dict]:
    """Build the corpus at ``out`` (see the module docstring); return the manifest rows.

    Args:
        out: output folder.
        from_dir: a folder holding the packages' ``.deb`` files or already unpacked trees
            (``<package>/usr/...``); ``None`` downloads the ``.deb`` files with ``apt-get download``.
        sources: the packages and their photographs.
        splits: the split of each package.
    """
    for source in sources:
        if any(source.package.startswith(reserved) for reserved in RESERVED_PACKAGES):
            raise ValueError(f"{source.package} is reserved for evaluation")
        if source.package not in splits:
            raise ValueError(f"{source.package} has no split")
    out = Path(out)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as work:
        for source in sources:
            folder = unpacked_tree(source.package, Path(work), from_dir) / source.folder
            for relative in source.photos:
                original = folder / relative
                if not original.is_file():
                    raise FileNotFoundError(f"{source.package}: no photo {original}")
                name = photo_name(relative)
                target = out / "images" / source.package / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if original.suffix == ".edj":
                    target.write_bytes(largest_edje_jpeg(original))
                else:
                    shutil.copyfile(original, target)
                width, height = displayed_size(target)
                rows.append({
                    "path": target.relative_to(out).as_posix(), "package": source.package, "name": name,
                    "licence": source.licence, "width": width, "height": height, "split": splits[source.package],
                })
    write_manifest(out / MANIFEST, rows)
    return rows


def write_manifest(path: Path, rows: list[dict]) -> None:
    """Write the manifest ``rows`` (columns :data:`FIELDS`)."""
    write_csv(path, FIELDS, rows)


def read_manifest(root: str | os.PathLike) -> list[dict]:
    """The manifest rows with ``width`` and ``height`` as int."""
    rows = read_csv(Path(root) / MANIFEST)
    for row in rows:
        row["width"], row["height"] = int(row["width"]), int(row["height"])
    return rows


def load_photo(root: str | os.PathLike, row: dict) -> Image.Image:
    """The photo of a manifest ``row`` as an RGB Pillow image, EXIF orientation applied."""
    with Image.open(Path(root) / row["path"]) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def main(argv: list[str] | None = None) -> None:
    """``python -m datamodules.real_photos prepare --out data/real_photos [--from-dir DIR]``."""
    parser = argparse.ArgumentParser(description="real photographs for the steganalysis benchmark")
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="download (apt-get download) the packages and copy their photographs")
    prep.add_argument("--out", default="data/real_photos")
    prep.add_argument("--from-dir", default=None, help="folder with the .deb files (or unpacked <package>/usr trees)")
    args = parser.parse_args(argv)
    rows = prepare(args.out, args.from_dir)
    for source in SOURCES:
        mine = [r for r in rows if r["package"] == source.package]
        long_sides = [max(r["width"], r["height"]) for r in mine]
        print(f"{source.package:28s} {SPLITS[source.package]:8s} {len(mine):3d} photos  long side "
              f"{min(long_sides)}-{max(long_sides)} px  {source.licence}")
    for split in sorted(set(SPLITS.values())):
        print(f"{split}: {sum(r['split'] == split for r in rows)} photos")
    print(f"wrote {len(rows)} photos and {Path(args.out) / MANIFEST}")


if __name__ == "__main__":
    main()
