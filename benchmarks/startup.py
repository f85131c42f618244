"""Start-up and end-to-end wall time of the ``stegavox`` command (issues 10 and 19), as ratios.

Each command runs as a fresh process, interleaved with two references (``python -c pass`` and
``python -c "import numpy, PIL.Image"``) so that machine load affects all alike; the table gives
the median and maximum wall time, the median's ratio to the numpy + Pillow reference, and the
CPU time (user + system) of the process and its children, which load inflates far less.
Commands, on a 1920x1080 photo (skimage's coffee, upscaled) and synthesised speech:

* ``stegavox --version`` and ``--help``;
* ``reveal`` of a plain classical stego PNG to the hidden file itself (exact Codec2 bytes), to a
  WAV (decoded with numpy, no torch), and to the exact file with the method detected;
* plain ``hide`` (no platform) of 3 s of speech as Codec2, with its JPEG self-checks;
* ``hide --platform whatsapp`` and ``hide --platform any`` of 5 s of speech (``--codec auto``);
  ``any`` runs ``--any-repeats`` times (default 10): its median and maximum say how predictable
  it is.

It also records which heavy modules (torch, torchaudio, lightning, enhancer, scipy, the models)
the reveals and the plain hide import. Targets (issues 10 and 19): ``--help`` at most 4x the
reference; plain hide at most 1.5 s and reveal at most 1 s on an idle 2-core machine.

Run: ``python benchmarks/startup.py [--repeats 5] [--any-repeats 10]``; writes
``benchmarks/results/startup.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
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
#: The reference the ratios are taken to.
REFERENCE = "reference: python -c 'import numpy, PIL.Image'"


def wall(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time and CPU time (user + system, with the processes it waited for) of one run of
    ``argv``, and its exit code. On a loaded machine the CPU time is what the wall time would be
    on an idle one, for single-threaded work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        print(f"{argv[3:5]} exited {result.returncode}: {result.stderr.strip()[-300:]}", file=sys.stderr)
    return seconds, cpu, result.returncode


def imported_heavy(argv: list[str], env: dict[str, str]) -> list[str]:
    """The heavy modules a ``stegavox`` command line (``argv`` after the program) imports."""
    probe = (
        "import contextlib, io, sys\nimport steganography.app.cli as c\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    code = c.main({argv!r})\n"
        f"HEAVY = {HEAVY!r}\n"
        "print(code, sorted({m.split('.')[0] if not m.startswith('steganography.models') else m "
        "for m in sys.modules if m.startswith(HEAVY)}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    return result.stdout.strip().splitlines()[-1:] if result.returncode == 0 else [f"error: {result.stderr[-300:]}"]


def prepare(root: Path) -> dict[str, Path]:
    import skimage.data
    import soundfile as sf

    from common.speech_synthesis import synthesise_speech

    cover = Image.fromarray(skimage.data.coffee()).resize((1920, 1080), Image.Resampling.LANCZOS)
    paths = {"cover": root / "cover.png", "short": root / "speech3.wav", "speech": root / "speech5.wav"}
    cover.save(paths["cover"])
    sf.write(paths["short"], synthesise_speech(np.random.default_rng(0), 3 * 16000, 16000), 16000)
    sf.write(paths["speech"], synthesise_speech(np.random.default_rng(1), 5 * 16000, 16000), 16000)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command but --platform any")
    parser.add_argument("--any-repeats", type=int, default=10, help="runs of hide --platform any")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    env = {**os.environ, "STEGAVOX_PASSPHRASE": PASSPHRASE}
    stegavox = [sys.executable, "-m", "steganography.app.cli"]
    with tempfile.TemporaryDirectory(prefix="startup-") as temporary:
        root = Path(temporary)
        paths = prepare(root)
        stego, out = root / "stego.png", root / "out"
        plain = ["hide", "--audio", str(paths["short"]), "--cover", str(paths["cover"]), "--out", str(stego),
                 "--codec", "codec2", "--force", "--quiet"]  # fmt: skip
        subprocess.run([*stegavox, *plain], env=env, check=True, capture_output=True)

        def platform_hide(name: str) -> list[str]:
            from common import platforms

            jpeg = name in platforms.PROFILES and platforms.PROFILES[name].output_format == "jpeg"
            return ["hide", "--audio", str(paths["speech"]), "--cover", str(paths["cover"]), "--out",
                    str(root / f"{name}.{'jpg' if jpeg else 'png'}"), "--platform", name, "--force", "--quiet",
                    *(["--detectable-ok"] if name == "any" else [])]  # fmt: skip

        reveal = ["reveal", "--stego", str(stego), "--force", "--quiet"]
        commands = {
            "reference: python -c pass": [sys.executable, "-c", "pass"],
            REFERENCE: [sys.executable, "-c", "import numpy, PIL.Image"],
            "stegavox --version": [*stegavox, "--version"],
            "stegavox --help": [*stegavox, "--help"],
            "reveal → exact file (.c2), --method classical": [*stegavox, *reveal, "--out", f"{out}.c2", "--method", "classical"],
            "reveal → WAV (decoded), --method classical": [*stegavox, *reveal, "--out", f"{out}.wav", "--method", "classical"],
            "reveal → exact file, method detected": [*stegavox, *reveal, "--out", f"{out}.c2"],
            "hide (plain PNG), 3 s as Codec2 1600": [*stegavox, *plain],
            "hide --platform whatsapp, 5 s, codec auto": [*stegavox, *platform_hide("whatsapp")],
        }  # fmt: skip
        any_name = "hide --platform any, 5 s, codec auto"
        times: dict[str, list[float]] = {name: [] for name in [*commands, any_name]}
        cpu_times: dict[str, list[float]] = {name: [] for name in times}
        codes: dict[str, list[int]] = {name: [] for name in times}

        def run(name: str, argv: list[str]) -> None:
            seconds, cpu, code = wall(argv, env)
            times[name].append(seconds)
            cpu_times[name].append(cpu)
            codes[name].append(code)

        for _ in range(args.repeats):
            for name, argv in commands.items():
                run(name, argv)
        for _ in range(args.any_repeats):
            run(REFERENCE, commands[REFERENCE])
            run(any_name, [*stegavox, *platform_hide("any")])
        heavy = {
            "reveal → exact file": imported_heavy([*reveal, "--out", f"{out}.c2", "--method", "classical"], env),
            "reveal → WAV": imported_heavy([*reveal, "--out", f"{out}.wav", "--method", "classical"], env),
            "hide (plain PNG)": imported_heavy(plain, env),
        }
    reference = statistics.median(times[REFERENCE])
    rows = {
        name: {"runs": len(values), "median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
               "ratio_to_reference": statistics.median(values) / reference, "exit_codes": sorted(set(codes[name])),
               "cpu_median_s": statistics.median(cpu_times[name]), "cpu_max_s": max(cpu_times[name])}
        for name, values in times.items()
    }  # fmt: skip
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/startup.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_after": os.getloadavg(),
        "reference": REFERENCE,
        "results": rows,
        "heavy_modules_imported": heavy,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print("| command | runs | median (s) | max (s) | × reference | CPU median / max (s) |\n| --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        failed = "" if row["exit_codes"] == [0] else f" (exit {row['exit_codes']})"
        cells = f"{row['runs']} | {row['median_s']:.2f} | {row['max_s']:.2f} | {row['ratio_to_reference']:.1f}"
        cells += f" | {row['cpu_median_s']:.2f} / {row['cpu_max_s']:.2f}"
        print(f"| {name}{failed} | {cells} |")
    print(f"load average after: {report['load_average_after']}")
    for name, modules in heavy.items():
        print(f"heavy modules after {name}: {modules}")


if __name__ == "__main__":
    main()
