"""``--platform any`` against the classical lattice: unknown downscale, crop and recompression.

For each held-out photo (never trained on: ``datamodules.sample_photos.HELD_OUT_PHOTOS``) at
1920×1080 and at 12 MP (4000×3000), 5 s of synthetic speech is hidden twice with
:func:`steganography.app.api.hide` (``--codec auto``):

* ``canonical``: ``platform="any"`` — the learned canonical-grid hider, cover size kept;
* ``classical``: no platform, designed for the lowest quality of the unknown range (Q70), cover
  size kept — the lattice on the cover's own grid.

Each stego image then goes through two families of channels the sender did not know:

* **exact grid**: JPEG at Q70, Q80, Q90 and the chain Q90→Q70, no change of geometry;
* **unknown geometry**: ``--conditions`` random draws (seeded) of a long side in 1080–1600
  (bicubic), a crop (none; up to 1 % from every edge; or 2 % from one edge) and one JPEG at
  Q70–90 or a chain of two, plus the fixed worst case: 2 % from the left and top, long side 1080,
  Q90→Q70.

The receiver has only the image and the passphrase (:func:`api.reveal`). A case counts as
recovered only with the exact bytes; any other outcome must be a documented error. Each
received image is also decoded from *hard* decisions (the signs of the same soft values) to
measure what soft (Chase) decoding adds; a **stress** set (long side 700–1000, Q50–65, crops up to
3 %) shows where that matters. Capacity (net bits per pixel of the cover, from ``api.capacity``)
and PSNR come from the same stego images. Timing: ``hide`` of the 1920×1080 astronaut cover by
each method, in this process, interleaved, median of ``--timing-repeats`` (ratios to the classical
hide; every hide uses a new passphrase salt, so the bits and the code it settles on vary).

``--strength-sweep`` instead measures, on *training* photos (the held-out ones stay unseen), the
canonical hider's PSNR and raw bit-error rates through the unknown-platform checks at several
residual gains (the ``strength`` of :class:`~steganography.embedders.canonical.CanonicalINNEmbedder`),
which is how its default was chosen.

    python benchmarks/platform_any.py [--conditions 6] [--covers 4] [--output DIR]
    python benchmarks/platform_any.py --strength-sweep
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform as host
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import platforms
from common.errors import StegavoxError
from common.metrics import psnr_8bit
from common.payload import container, crypto
from common.settings import SPEECH_SAMPLE_RATE
from common.speech_synthesis import synthesise_speech
from datamodules.sample_photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, photo_cover
from steganography.app import api
from steganography.embedders import pipeline

PASSPHRASE = "benchmark passphrase"
SPEECH_SECONDS = 5.0
SIZES = ((1920, 1080), (4000, 3000))
EXACT_GRID = (platforms.Channel((70,)), platforms.Channel((80,)), platforms.Channel((90,)), platforms.Channel((90, 70)))
#: Published capacities of learned watermarkers that survive resizing, for scale.
ANCHORS = {
    "StegaStamp (400×400)": 56,
    "TrustMark (256×256)": 100,
    "MBRS (256×256)": 256,
    "Chunky Seal (256×256)": 1024,
}


def random_channel(rng: np.random.Generator, width: int, height: int, stress: bool = False) -> platforms.Channel:
    """One draw of the unknown platform (see the module docstring)."""
    long_side = int(rng.integers(700, 1001) if stress else rng.integers(1080, 1601))
    low, high = (50, 65) if stress else platforms.UNKNOWN_QUALITY_RANGE
    chain = tuple(int(q) for q in rng.integers(low, high + 1, size=2 if rng.random() < 0.4 else 1))
    largest = 0.03 if stress else platforms.UNKNOWN_MAX_CROP
    kind = rng.integers(3)
    if kind == 0:
        crop = (0, 0, 0, 0)
    elif kind == 1:
        crop = tuple(int(rng.uniform(0, largest / 2) * side) for side in (width, height, width, height))
    else:
        edge = int(rng.integers(4))
        crop = tuple(round(largest * (width, height)[edge % 2]) if index == edge else 0 for index in range(4))
    return platforms.Channel(chain, crop=crop, long_side=long_side)


def worst_case(width: int, height: int) -> platforms.Channel:
    crop = round(platforms.UNKNOWN_MAX_CROP * width), round(platforms.UNKNOWN_MAX_CROP * height)
    return platforms.Channel((90, 70), crop=(*crop, 0, 0), long_side=platforms.UNKNOWN_LONG_SIDES[0])


def decode(received, audio: bytes, method: str) -> dict:
    """Reveal as the receiver does, then again from hard decisions of the same soft values."""
    started = time.perf_counter()
    try:
        got = api.reveal(received, PASSPHRASE)
        soft = {"recovered": got.audio_bytes == audio, "wrong_bytes": int(got.audio_bytes != audio), "error": None}
    except StegavoxError as err:
        soft = {"recovered": False, "wrong_bytes": 0, "error": f"exit {err.exit_code}: {err}"}
    seconds = time.perf_counter() - started
    secret = PASSPHRASE.encode()
    embedder = pipeline.make_embedder(method).keyed(crypto.embedding_seed(secret))
    values = pipeline.extract_all(embedder, received)
    try:
        hard_audio, _, _ = container.unpack((values > 0).astype(np.uint8), secret)
        hard = hard_audio == audio
    except StegavoxError:
        hard = False
    try:
        soft_audio, _, stats = container.unpack(values, secret)
        errors = stats.body_errors
    except StegavoxError:
        errors = None
    return {**soft, "hard_recovered": bool(hard), "corrected_bits": errors, "reveal_s": round(seconds, 2)}


def hide(method: str, cover, speech: np.ndarray) -> tuple[api.HideOutcome | None, dict]:
    options = {"platform": "any"} if method == "canonical" else {"quality_target": platforms.UNKNOWN_QUALITY_RANGE[0]}
    started = time.perf_counter()
    try:
        outcome = api.hide(cover, speech, PASSPHRASE, sample_rate=SPEECH_SAMPLE_RATE, **options)
    except StegavoxError as err:
        return None, {"hidden": False, "error": str(err)}
    elapsed = time.perf_counter() - started
    capacity = api.capacity(cover, **options)
    report = outcome.report
    return outcome, {
        "hidden": True,
        "codec": api.codec_label(report.codec, report.bitrate),
        "audio_bytes": report.audio_bytes,
        "psnr_db": round(psnr_8bit(np.asarray(outcome.image), np.asarray(cover)), 2),
        "capacity_bytes": capacity["bytes"],
        "net_bpp": 8 * capacity["bytes"] / (cover.width * cover.height),
        "codec2_700_seconds": round(capacity["seconds"]["codec2 700 bit/s"], 1),
        "hide_s": round(elapsed, 1),
    }


def time_hides(speech: np.ndarray, repeats: int) -> dict:
    """Seconds of ``api.hide`` of the 1080p astronaut cover per method, interleaved, median of ``repeats``."""
    cover = photo_cover("astronaut", 1920, 1080)
    runs = {
        "classical (Q75)": {},
        "classical (--platform whatsapp)": {"platform": "whatsapp"},
        "canonical (--platform any)": {"platform": "any"},
        "inn (Q75, full resolution)": {"method": "inn"},
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, options in runs.items():
            started = time.perf_counter()
            try:
                api.hide(cover, speech, PASSPHRASE, sample_rate=SPEECH_SAMPLE_RATE, **options)
                seconds[name].append(time.perf_counter() - started)
            except StegavoxError as err:
                seconds[name].append(float("nan"))
                print(f"  {name}: {err}", flush=True)
    median = {name: float(np.median(values)) for name, values in seconds.items()}
    reference = median["classical (Q75)"]
    return {
        name: {"seconds": round(value, 2), "ratio_to_classical_q75": round(value / reference, 2), "runs": [round(v, 2) for v in seconds[name]]}
        for name, value in median.items()
    }


def strength_sweep(strengths: tuple[float, ...] = (1.0, 1.25, 1.5, 2.0), photos: tuple[str, ...] = ("cat", "camera", "immunohistochemistry")) -> dict:
    """PSNR and raw bit-error rates of the canonical hider per residual gain, on training photos."""
    from steganography.embedders.canonical import CanonicalINNEmbedder

    rows = []
    for strength in strengths:
        embedder = CanonicalINNEmbedder(strength=strength).keyed(crypto.embedding_seed(PASSPHRASE.encode()))
        for name in photos:
            assert name in TRAIN_PHOTOS
            cover = photo_cover(name, 1920, 1080)
            capacity = embedder.capacity_bits(*cover.size)
            bits = np.random.default_rng(1).integers(0, 2, capacity, dtype=np.uint8)
            stego = embedder.embed(cover, bits)
            rates, _ = pipeline.measure_bit_error_rates(embedder, stego, bits, platforms.unknown_platform_channels(*cover.size))
            rows.append({"strength": strength, "photo": name, "psnr_db": round(psnr_8bit(np.asarray(stego), np.asarray(cover)), 2), "ber": rates})
            print(f"strength {strength} {name:<22} PSNR {rows[-1]['psnr_db']:.2f} worst BER {max(rates.values()):.2e}", flush=True)
    print("\n| strength | PSNR dB (mean) | worst raw BER over the checks (max over photos) |\n| --- | --- | --- |")
    for strength in strengths:
        chosen = [row for row in rows if row["strength"] == strength]
        print(f"| {strength} | {np.mean([row['psnr_db'] for row in chosen]):.2f} | {max(max(row['ber'].values()) for row in chosen):.2e} |")
    return {"date": datetime.date.today().isoformat(), "command": "python benchmarks/platform_any.py --strength-sweep", "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conditions", type=int, default=6, help="random unknown-platform draws per stego image")
    parser.add_argument("--stress", type=int, default=3, help="stress draws per stego image (soft vs hard)")
    parser.add_argument("--covers", type=int, default=len(HELD_OUT_PHOTOS), help="use the first N held-out photos")
    parser.add_argument("--timing-repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--strength-sweep", action="store_true", help="only the residual-gain sweep on training photos")
    parser.add_argument("--timing-only", action="store_true", help="only the 1080p hide timing (writes platform_any_timing.json)")
    args = parser.parse_args()
    if args.timing_only:
        timing = {"date": datetime.date.today().isoformat(), "command": "python benchmarks/platform_any.py " + " ".join(sys.argv[1:]),
                  "host": {"cpus": os.cpu_count(), "load": os.getloadavg()}}
        timing["timing_1080p_hide"] = time_hides(synthesise_speech(np.random.default_rng(0), int(SPEECH_SECONDS * SPEECH_SAMPLE_RATE)), args.timing_repeats)
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "platform_any_timing.json").write_text(json.dumps(timing, indent=1))
        print_tables({"rows": [], **timing})
        return
    if args.strength_sweep:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "platform_any_strength.json").write_text(json.dumps(strength_sweep(), indent=1))
        return
    speech = synthesise_speech(np.random.default_rng(0), int(SPEECH_SECONDS * SPEECH_SAMPLE_RATE))
    rng = np.random.default_rng(2026)
    started = time.time()
    rows = []
    for name in HELD_OUT_PHOTOS[: args.covers]:
        for width, height in SIZES:
            cover = photo_cover(name, width, height)
            unknown = [random_channel(rng, width, height) for _ in range(args.conditions)] + [worst_case(width, height)]
            stress = [random_channel(rng, width, height, stress=True) for _ in range(args.stress)]
            for method in ("canonical", "classical"):
                outcome, row = hide(method, cover, speech)
                row |= {"cover": name, "size": [width, height], "method": method}
                if outcome is not None:
                    audio = api.reveal(outcome.image, PASSPHRASE).audio_bytes  # the hidden file itself
                    for family, channels in (("exact", EXACT_GRID), ("unknown", unknown), ("stress", stress)):
                        row[family] = [{"channel": str(channel.label), **decode(channel.apply(outcome.image), audio, method)} for channel in channels]
                rows.append(row)
                summary = {family: f"{sum(c['recovered'] for c in row.get(family, []))}/{len(row.get(family, []))}" for family in ("exact", "unknown", "stress")}
                print(f"{name:<10} {width}x{height} {method:<9} {row.get('codec', row.get('error'))} PSNR {row.get('psnr_db')} "
                      f"bpp {row.get('net_bpp', 0):.4f} hide {row.get('hide_s')} s {summary}", flush=True)
    timing = time_hides(speech, args.timing_repeats)
    result = {
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/platform_any.py " + " ".join(sys.argv[1:]),
        "host": {"cpus": os.cpu_count(), "load": os.getloadavg(), "python": host.python_version()},
        "wall_s": round(time.time() - started, 1),
        "speech_seconds": SPEECH_SECONDS,
        "anchors_bits": ANCHORS,
        "rows": rows,
        "timing_1080p_hide": timing,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "platform_any.json").write_text(json.dumps(result, indent=1))
    print_tables(result)


def print_tables(result: dict) -> None:
    if not result["rows"]:
        print_timing(result)
        return
    print("\n| method | channel | recovered k/n (soft) | hard decisions k/n | wrong bytes | net bpp (median) | PSNR dB (median) | codec2 700 s (min) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for method in ("canonical", "classical"):
        rows = [row for row in result["rows"] if row["method"] == method and row["hidden"]]
        if not rows:
            continue
        for family in ("exact", "unknown", "stress"):
            cases = [case for row in rows for case in row[family]]
            print(
                f"| {method} | {family} | {sum(c['recovered'] for c in cases)}/{len(cases)} | {sum(c['hard_recovered'] for c in cases)}/{len(cases)} | "
                f"{sum(c['wrong_bytes'] for c in cases)} | {np.median([r['net_bpp'] for r in rows]):.4f} | "
                f"{np.median([r['psnr_db'] for r in rows]):.1f} | {min(r['codec2_700_seconds'] for r in rows)} |"
            )
    print_timing(result)


def print_timing(result: dict) -> None:
    print("\n| hide of astronaut 1920×1080 | median s | × classical (Q75) | runs (s) |")
    print("| --- | --- | --- | --- |")
    for name, entry in result["timing_1080p_hide"].items():
        print(f"| {name} | {entry['seconds']} | {entry['ratio_to_classical_q75']} | {', '.join(map(str, entry['runs']))} |")


if __name__ == "__main__":
    main()
