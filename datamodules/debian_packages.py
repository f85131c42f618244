"""Data from Debian packages: unpack a package's file tree, and the CSV manifests of the
prepared folders (``datamodules.real_speech``, ``datamodules.real_photos``)."""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path


def unpacked_tree(package: str, work: Path, from_dir: str | os.PathLike | None) -> Path:
    """The unpacked file tree of ``package``: ``from_dir/<package>`` if it holds ``usr/``, else its
    ``.deb`` from ``from_dir`` (or from ``apt-get download`` into ``work``) unpacked with ``dpkg -x``."""
    if from_dir is not None and (Path(from_dir) / package / "usr").is_dir():
        return Path(from_dir) / package
    debs = sorted(Path(from_dir).glob(f"{package}_*.deb")) if from_dir is not None else []
    if not debs:
        if from_dir is not None:
            raise FileNotFoundError(f"no {package}_*.deb or {package}/usr in {from_dir}")
        subprocess.run(["apt-get", "download", package], cwd=work, check=True, capture_output=True)
        debs = sorted(work.glob(f"{package}_*.deb"))
    tree = work / package
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(tree)], check=True)
    return tree


def write_csv(path: Path, fields: Sequence[str], rows: list[dict]) -> None:
    """Write ``rows`` (dicts with the keys ``fields``) as a CSV file with a header line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file written by :func:`write_csv`, values as strings."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
