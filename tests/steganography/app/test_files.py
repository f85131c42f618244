"""Publishing outputs: one winner among concurrent writers, the umask's mode, a stego name for
the file a platform gets."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from common.errors import InputError
from steganography.app import files


def test_concurrent_writers_never_overwrite(tmp_path: Path) -> None:
    """Issue 12: four hides on one --out without --force all exited 0. Publishing now fails if
    the name exists at the moment of the rename."""
    out = tmp_path / "out.png"
    barrier = threading.Barrier(8)
    outcomes: dict[int, str] = {}

    def writer(index: int) -> None:
        barrier.wait()
        try:
            files.write_atomic(out, b"writer %d" % index)
            outcomes[index] = "wrote"
        except InputError as err:
            outcomes[index] = str(err)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [index for index, outcome in outcomes.items() if outcome == "wrote"]
    assert len(winners) == 1
    assert out.read_bytes() == b"writer %d" % winners[0]
    assert all("--force" in outcome for index, outcome in outcomes.items() if index not in winners)
    assert [path.name for path in tmp_path.iterdir()] == ["out.png"]
    files.write_atomic(out, b"forced", force=True)
    assert out.read_bytes() == b"forced"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_output_mode_follows_the_umask(umask: int, tmp_path: Path) -> None:
    """Issue 12: outputs were created 0600 whatever the umask."""
    previous = os.umask(umask)
    try:
        files.write_atomic(tmp_path / "out.bin", b"data")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    ("name", "output_format", "accepted"),
    [("a.png", "png", True), ("a.PNG", "png", True), ("a.jpg", "png", False), ("a.jpeg", "jpeg", True), ("a.png", "jpeg", False)],
)
def test_stego_name_matches_the_file_written(name: str, output_format: str, accepted: bool) -> None:
    if accepted:
        files.check_stego_name(Path(name), output_format)
    else:
        with pytest.raises(InputError, match=f"not {name}"):
            files.check_stego_name(Path(name), output_format)
