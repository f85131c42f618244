"""Start-up and end-to-end wall time of the ``stegavox`` command (issue 10), as ratios.

Each command runs as a fresh process, ``--repeats`` times, interleaved with the baseline
``python -c "import numpy, PIL.Image"`` so that machine load affects both alike; the table gives
medians and the ratio to the baseline. Commands: ``stegavox --help``; ``hide`` of 12 s of
synthesised speech (Opus 16 kbit/s) into a 1920x1080 cover (classical method, target Q75,
including its JPEG self-check); ``reveal`` of that stego PNG and of a Pillow JPEG Q75 copy
(``--method classical`` and, for the PNG, the default method detection). It also records which
heavy modules ``--help`` and a classical reveal import.

Targets (issue 10): ``--help`` at most 4x the baseline; hide at most 1.5 s and reveal at most 1 s
on an idle 2-core machine, start-up included.

Run: ``python benchmarks/startup.py [--repeats 5]``; writes ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
PASSPHRASE = "startup benchmark passphrase"
HEAVY = ("torch", "torchaudio", "scipy", "enhancer", "lightning", "steganography.models", "soundfile")


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv} exited {result.returncode}: {result.stderr[-500:]}")
    return seconds


def imported_heavy(code: str, env: dict[str, str]) -> list[str]:
    probe = code + "\nimport sys\nprint(sorted({m.split('.')[0] if not m.startswith('steganography.models') else m for m in sys.modules if m.startswith(HEAVY)}))"
    result = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + probe], env=env, capture_output=True, text=True, check=False
    )
    return result.stdout.strip().splitlines()[-1:] if result.returncode == 0 else [f"error: {result.stderr[-300:]}"]


def prepare(root: Path) -> dict[str, Path]:
    import skimage.data
    import soundfile as sf

    from common.speech_synthesis import synthesise_speech

    cover = Image.fromarray(skimage.data.astronaut()).resize((1920, 1080), Image.Resampling.LANCZOS)
    paths = {"cover": root / "cover.png", "speech": root / "speech.wav", "stego": root / "stego.png", "jpeg": root / "shared.jpg"}
    cover.save(paths["cover"])
    sf.write(paths["speech"], synthesise_speech(np.random.default_rng(0), 12 * 16000, 16000), 16000)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    env = {**os.environ, "STEGAVOX_PASSPHRASE": PASSPHRASE}
    stegavox = [sys.executable, "-m", "steganography.app.cli"]
    with tempfile.TemporaryDirectory(prefix="startup-") as temporary:
        paths = prepare(Path(temporary))
        hide = [*stegavox, "hide", "--audio", str(paths["speech"]), "--cover", str(paths["cover"]),
                "--out", str(paths["stego"]), "--method", "classical", "--force"]  # fmt: skip
        subprocess.run(hide, env=env, check=True, capture_output=True)
        Image.open(paths["stego"]).save(paths["jpeg"], quality=75, subsampling="4:2:0")
        out = Path(temporary) / "out.opus"
        commands = {
            "baseline: python -c 'import numpy, PIL.Image'": [sys.executable, "-c", "import numpy, PIL.Image"],
            "stegavox --help": [*stegavox, "--help"],
            "hide 1920x1080, 12 s Opus": hide,
            "reveal stego.png --method classical": [*stegavox, "reveal", "--stego", str(paths["stego"]), "--out", str(out),
                                                    "--method", "classical", "--force"],
            "reveal shared.jpg (Q75) --method classical": [*stegavox, "reveal", "--stego", str(paths["jpeg"]),
                                                          "--out", str(out), "--method", "classical", "--force"],
            "reveal stego.png (method detected)": [*stegavox, "reveal", "--stego", str(paths["stego"]), "--out", str(out),
                                                   "--force"],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                times[name].append(wall(argv, env))
        heavy = {
            "--help": imported_heavy(
                "import contextlib, io\nimport steganography.app.cli as c\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n    c.main(['--help'])", env
            ),
            "reveal --method classical": imported_heavy(
                "import contextlib, io\nimport steganography.app.cli as c\n"
                f"c.main(['reveal', '--stego', {str(paths['stego'])!r}, '--out', {str(out)!r}, '--method', 'classical', '--force'])",
                env,
            ),
        }
    baseline = statistics.median(next(iter(times.values())))
    rows = {
        name: {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
               "ratio_to_baseline": statistics.median(values) / baseline}
        for name, values in times.items()
    }  # fmt: skip
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_after": os.getloadavg(),
        "repeats": args.repeats,
        "results": rows,
        "heavy_modules_imported": heavy,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print("| command | median (s) | min–max (s) | × baseline |\n| --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['median_s']:.2f} | {row['min_s']:.2f}–{row['max_s']:.2f} | {row['ratio_to_baseline']:.1f} |")
    print(f"load average after: {report['load_average_after']}")
    for name, modules in heavy.items():
        print(f"heavy modules after {name}: {modules}")


if __name__ == "__main__":
    main()
