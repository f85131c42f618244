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

``--texture`` measures the texture gain of that hider
(:class:`~steganography.embedders.canonical.TextureGain`: the residual's gain follows the cover's
local texture) on real photographs at a long side of 1,600 pixels (:mod:`datamodules.real_photos`;
``python -m datamodules.real_photos prepare --out data/real_photos`` first): ``tune``, a sweep of
gain curves on photos of the ``tune`` split, which is how the default was chosen; ``held-out``, off
against on for photos of the ``heldout`` split: PSNR, PSNR over the flat pixels (local luma
deviation under :data:`FLAT_DEVIATION` levels), the worst raw bit-error rate over the
``--platform any`` checks, and ``api.hide`` of 5 s of Codec2 1200 with ``api.reveal`` after the
checks, the worst case and random unknown-platform draws (``--conditions``), on the first
``--covers`` photos of :data:`TEXTURE_HELD_OUT_PHOTOS`; ``--crops`` saves 1:1
crops of the smoothest part of the first held-out photo. ``--texture-gain off`` runs the main
benchmark without the gain (the default is on).

``--adaptive`` measures the strength that follows the message (``hide`` takes the gentlest rung
of :data:`~steganography.embedders.canonical.STRENGTH_LADDER` whose probe-designed code still
fits), on the same real photographs at 1,600 px with 5 s of Codec2 1200: ``tune``, each strength
of :data:`ADAPTIVE_SWEEP` alone on the tune photos (PSNR, flat-area PSNR, worst raw bit-error rate,
whether the designed frame fits, ``api.hide`` at that strength), which is how the ladder was
chosen; ``tune-report`` and ``held-out``, ``api.hide`` at the default strength alone against the
ladder on the tune or held-out photos: strength chosen, PSNR, flat-area PSNR, the stego image's
worst raw bit-error rate over the checks, ``api.reveal`` after the checks, the worst case and
``--conditions`` random draws, and the hide's seconds; ``--crops`` saves the ladder's 1:1 crop of
the same smooth area as ``--texture held-out`` (``benchmarks/results/platform_any_adaptive.json``).

    python benchmarks/platform_any.py [--conditions 6] [--covers 4] [--output DIR] [--texture-gain off]
    python benchmarks/platform_any.py --strength-sweep
    python benchmarks/platform_any.py --texture tune
    python benchmarks/platform_any.py --texture held-out [--conditions 1] [--covers 4] [--crops docs/images]
    python benchmarks/platform_any.py --adaptive tune
    python benchmarks/platform_any.py --adaptive tune-report|held-out [--conditions 1] [--covers 6] [--crops docs/images]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
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
from steganography.embedders.canonical import (
    DEFAULT_STRENGTH,
    DEFAULT_TEXTURE,
    STRENGTH_LADDER,
    CanonicalINNEmbedder,
    TextureGain,
)

PASSPHRASE = "benchmark passphrase"
SPEECH_SECONDS = 5.0
SIZES = ((1920, 1080), (4000, 3000))
EXACT_GRID = (platforms.Channel((70,)), platforms.Channel((80,)), platforms.Channel((90,)), platforms.Channel((90, 70)))
#: Real photographs (``datamodules.real_photos``) the texture gain is tuned on (split ``tune``) and reported on (``heldout``).
TEXTURE_TUNE_PHOTOS = (
    "castle-maintenon.jpg", "body-background.jpg", "Kleiber_by_Lukas_Baubkus.jpg", "text_scenetext04.jpg",
    "european-honey-bee.jpg", "data_aloeL.jpg",
)  # fmt: skip
TEXTURE_HELD_OUT_PHOTOS = (
    "Kite_2560x1600.jpg", "after-the-rain.jpg", "FallenLeaf_2560x1600.jpg", "EveningGlow_2560x1600.jpg", "Storm.jpg",
    "Snow-Trees.jpg",
)  # fmt: skip
#: Long side (pixels) of the texture benchmark's covers: the issue's target size.
TEXTURE_LONG_SIDE = 1600
#: Local luma deviation (8-bit levels) under which a pixel counts as flat (sky, wall, blurred background).
FLAT_DEVIATION = 2.0
#: Gain curves of the texture sweep: ``None`` is a uniform gain (``strength`` alone).
TEXTURE_SWEEP = (
    None,
    TextureGain(reference=6.0, floor=0.6, ceiling=1.0),
    TextureGain(reference=6.0, floor=0.45, ceiling=1.15),
    TextureGain(reference=6.0, floor=0.6, ceiling=1.15),
    TextureGain(reference=6.0, floor=0.6, ceiling=4 / 3),
)
#: Strengths of the ``--adaptive tune`` sweep (each alone, no ladder).
ADAPTIVE_SWEEP = (0.7, 0.85, 1.0, 1.1, 1.2, 1.25, 1.3, 1.4, 1.5)
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
        outcome = api.hide(cover, speech, PASSPHRASE, sample_rate=SPEECH_SAMPLE_RATE, detectable_ok=method == "canonical", **options)
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
    """Seconds of ``api.hide`` of the 1080p astronaut cover per method (``--platform any`` also at
    the default strength alone, without the ladder), interleaved, median of ``repeats``."""
    cover = photo_cover("astronaut", 1920, 1080)
    runs = {
        "classical (Q75)": ({}, {}),
        "classical (--platform whatsapp)": ({"platform": "whatsapp"}, {}),
        "canonical (--platform any)": ({"platform": "any", "detectable_ok": True}, {}),
        "canonical (--platform any, strength 1.5 alone)": ({"platform": "any", "detectable_ok": True}, {"ladder": ()}),
        "inn (Q75, full resolution)": ({"method": "inn", "detectable_ok": True}, {}),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (options, canonical) in runs.items():
            started = time.perf_counter()
            try:
                with canonical_options(**canonical):
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


@contextlib.contextmanager
def canonical_options(**options):
    """Every :class:`CanonicalINNEmbedder` built inside (e.g. by ``api.hide``) gets the keyword ``options``."""
    original = CanonicalINNEmbedder.__init__
    CanonicalINNEmbedder.__init__ = functools.partialmethod(original, **options)
    try:
        yield
    finally:
        CanonicalINNEmbedder.__init__ = original


@contextlib.contextmanager
def recorded_strengths():
    """The ``strength`` of every :meth:`CanonicalINNEmbedder.embed` call inside, in order (a list
    filled as they happen): the last is the stego image's, the others probes and retries."""
    original, strengths = CanonicalINNEmbedder.embed, []

    def embed(self, cover, bits):
        strengths.append(self.strength)
        return original(self, cover, bits)

    CanonicalINNEmbedder.embed = embed
    try:
        yield strengths
    finally:
        CanonicalINNEmbedder.embed = original


def real_cover(name: str, split: str, long_side: int = TEXTURE_LONG_SIDE):
    """The real photograph ``name`` (of ``split``) resized (Lanczos) to a long side of ``long_side``."""
    from PIL import Image

    from datamodules.real_photos import load_photo, read_manifest

    root = Path(__file__).resolve().parents[1] / "data" / "real_photos"
    if not (root / "manifest.csv").exists():
        raise SystemExit(f"no {root}: run python -m datamodules.real_photos prepare --out data/real_photos")
    row = next(row for row in read_manifest(root) if row["name"] == name)
    if row["split"] != split:
        raise ValueError(f"{name} is in split {row['split']}, not {split}")
    image = load_photo(root, row).convert("RGB")
    scale = long_side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def flat_psnr(stego, cover) -> float:
    """PSNR (dB) over the pixels of ``cover`` whose local luma deviation is under :data:`FLAT_DEVIATION`."""
    from common.image import pil_to_tensor

    deviation = DEFAULT_TEXTURE.local_deviation(pil_to_tensor(cover).unsqueeze(0), 512)[0, 0].numpy()
    flat = deviation < FLAT_DEVIATION
    if not flat.any():
        return float("nan")
    error = (np.asarray(stego, dtype=np.float64) - np.asarray(cover, dtype=np.float64)) ** 2
    return float(10 * np.log10(255.0**2 / error[flat].mean()))


def raw_rates(embedder, cover) -> dict:
    """PSNR, flat-area PSNR and raw bit-error rates of random bits filling ``cover`` through the ``any`` checks."""
    capacity = embedder.capacity_bits(*cover.size)
    bits = np.random.default_rng(1).integers(0, 2, capacity, dtype=np.uint8)
    stego = embedder.embed(cover, bits)
    rates, _ = pipeline.measure_bit_error_rates(embedder, stego, bits, platforms.unknown_platform_channels(*cover.size))
    return {
        "psnr_db": round(psnr_8bit(np.asarray(stego), np.asarray(cover)), 2),
        "flat_psnr_db": round(flat_psnr(stego, cover), 2),
        "worst_ber": max(rates.values()),
        "ber": rates,
    }


def texture_label(texture: TextureGain | None) -> str:
    if texture is None:
        return "off"
    return f"reference {texture.reference:g}, floor {texture.floor:g}, ceiling {texture.ceiling:.3g}, sigma {texture.sigma:g}"


def texture_tune() -> list[dict]:
    """The ``--texture tune`` sweep: each gain curve of :data:`TEXTURE_SWEEP` on each tune photo."""
    seed = crypto.embedding_seed(PASSPHRASE.encode())
    rows = []
    for texture in TEXTURE_SWEEP:
        embedder = CanonicalINNEmbedder(texture=texture).keyed(seed)
        for name in TEXTURE_TUNE_PHOTOS:
            row = {"texture": texture_label(texture), "photo": name, **raw_rates(embedder, real_cover(name, "tune"))}
            rows.append(row)
            print(f"tune {row['texture']:<55} {name:<30} PSNR {row['psnr_db']:.2f} flat {row['flat_psnr_db']:.2f} "
                  f"worst BER {row['worst_ber']:.2e}", flush=True)
    return rows


def smoothest_window(cover, side: int = 256) -> tuple[int, int]:
    """Top-left ``(x, y)`` of the ``side``-pixel square of ``cover`` with the lowest mean local
    luma deviation among those neither nearly black nor nearly white (a sky, a wall)."""
    from common.image import pil_to_tensor

    image = pil_to_tensor(cover).unsqueeze(0)
    deviation = DEFAULT_TEXTURE.local_deviation(image, 512)[0, 0].numpy()
    luma = np.asarray(cover.convert("L"), dtype=np.float64)
    best, where = np.inf, (0, 0)
    for y in range(0, cover.height - side + 1, side // 8):
        for x in range(0, cover.width - side + 1, side // 8):
            if 40 <= luma[y : y + side, x : x + side].mean() <= 225 and deviation[y : y + side, x : x + side].mean() < best:
                best, where = deviation[y : y + side, x : x + side].mean(), (x, y)
    return where


def texture_held_out(conditions: int, crops: Path | None, covers: int) -> list[dict]:
    """The ``--texture held-out`` report: without and with the default gain on the first ``covers``
    held-out photos; ``crops``: a folder for 1:1 crops of the smoothest part of the first photo
    (cover, before, after)."""
    seed = crypto.embedding_seed(PASSPHRASE.encode())
    speech = synthesise_speech(np.random.default_rng(0), int(SPEECH_SECONDS * SPEECH_SAMPLE_RATE))
    rng = np.random.default_rng(2026)
    rows = []
    for index, name in enumerate(TEXTURE_HELD_OUT_PHOTOS[:covers]):
        cover = real_cover(name, "heldout")
        channels = platforms.unknown_platform_channels(*cover.size) + [worst_case(*cover.size)]
        channels += [random_channel(rng, *cover.size) for _ in range(conditions)]
        window = smoothest_window(cover)
        for texture, stage in ((None, "before"), (DEFAULT_TEXTURE, "after")):
            row = {"texture": texture_label(texture), "photo": name, "size": list(cover.size)}
            row |= raw_rates(CanonicalINNEmbedder(texture=texture).keyed(seed), cover)
            with canonical_options(texture=texture, ladder=()):
                try:
                    outcome = api.hide(
                        cover, speech, PASSPHRASE, platform="any", codec="codec2", bitrate=1200, sample_rate=SPEECH_SAMPLE_RATE,
                        detectable_ok=True,
                    )
                except StegavoxError as err:
                    outcome, row["hide_error"] = None, str(err)
                if outcome is not None:
                    audio = api.reveal(outcome.image, PASSPHRASE).audio_bytes
                    report = outcome.report
                    row |= {"hidden": True, "bch_t": report.bch_t, "frame_bits": report.frame_bits}
                    row["hide_psnr_db"] = round(report.psnr_db, 2)
                    row["revealed"] = [
                        {"channel": str(channel.label), **decode(channel.apply(outcome.image), audio, "canonical")}
                        for channel in channels
                    ]
                    if crops is not None and index == 0:
                        box = (*window, window[0] + 256, window[1] + 256)
                        crops.mkdir(parents=True, exist_ok=True)
                        cover.crop(box).save(crops / "any_smooth_crop_cover.png")
                        outcome.image.crop(box).save(crops / f"any_smooth_crop_{stage}.png")
                        row["crop"] = list(box)
            recovered = sum(case["recovered"] for case in row.get("revealed", []))
            rows.append(row)
            print(f"held-out {row['texture'][:9]:<9} {name:<28} PSNR {row['psnr_db']:.2f} flat {row['flat_psnr_db']:.2f} "
                  f"worst BER {row['worst_ber']:.2e} hide t={row.get('bch_t')} revealed {recovered}/{len(channels)}", flush=True)
    return rows


def speech_codec2() -> tuple[np.ndarray, int]:
    """The benchmark's 5 s of synthetic speech and the bytes of its Codec2 1200 file."""
    from common.payload.codecs import encode_audio

    speech = synthesise_speech(np.random.default_rng(0), int(SPEECH_SECONDS * SPEECH_SAMPLE_RATE))
    return speech, len(encode_audio(speech, SPEECH_SAMPLE_RATE, "codec2", 1200))


def hide_codec2(cover, speech: np.ndarray, **options) -> tuple[api.HideOutcome | None, dict]:
    """``api.hide`` of ``speech`` as Codec2 1200 with ``--platform any``, the canonical hider built
    with ``options``: the outcome and a row (strength used, embeds, code, PSNR, seconds)."""
    with canonical_options(**options), recorded_strengths() as strengths:
        started = time.perf_counter()
        try:
            outcome = api.hide(cover, speech, PASSPHRASE, platform="any", codec="codec2", bitrate=1200, sample_rate=SPEECH_SAMPLE_RATE,
                               detectable_ok=True)
        except StegavoxError as err:
            return None, {"hidden": False, "hide_error": str(err), "embeds": list(strengths)}
        seconds = time.perf_counter() - started
    report = outcome.report
    return outcome, {
        "hidden": True,
        "strength": strengths[-1],
        "embeds": list(strengths),
        "bch_t": report.bch_t,
        "bch_m": report.bch_m,
        "frame_bits": report.frame_bits,
        "capacity_bits": report.capacity_bits,
        "hide_worst_ber": max(report.bit_error_rates.values()),
        "psnr_db": round(report.psnr_db, 2),
        "flat_psnr_db": round(flat_psnr(outcome.image, cover), 2),
        "hide_s": round(seconds, 2),
    }


def adaptive_tune() -> list[dict]:
    """The ``--adaptive tune`` sweep: each strength of :data:`ADAPTIVE_SWEEP` alone (no ladder) on
    each tune photo: PSNR and raw bit-error rates of random bits filling the grid, the code the
    pipeline designs from them and whether 5 s of Codec2 1200 then fits, and ``api.hide`` of it."""
    seed = crypto.embedding_seed(PASSPHRASE.encode())
    speech, audio_bytes = speech_codec2()
    rows = []
    for strength in ADAPTIVE_SWEEP:
        embedder = CanonicalINNEmbedder(strength=strength, ladder=()).keyed(seed)
        for name in TEXTURE_TUNE_PHOTOS:
            cover = real_cover(name, "tune")
            row = {"strength": strength, "photo": name, **raw_rates(embedder, cover)}
            try:
                code = pipeline.choose_code(row["ber"], platforms.UNKNOWN_QUALITY_RANGE[0], margin=embedder.design_margin)
                frame = container.frame_bits(audio_bytes, *code)
            except StegavoxError:  # no BCH code copes with the rate
                code, frame = None, None
            row |= {"designed_code": code, "designed_frame_bits": frame, "fits": frame is not None and frame <= embedder.capacity_bits(*cover.size)}
            row["hide"] = hide = hide_codec2(cover, speech, strength=strength, ladder=())[1]
            rows.append(row)
            print(f"tune strength {strength:<5} {name:<30} PSNR {row['psnr_db']:.2f} flat {row['flat_psnr_db']:.2f} worst BER "
                  f"{row['worst_ber']:.2e} code {code} frame {frame} fits {row['fits']} hide {hide['hidden']} "
                  f"t={hide.get('bch_t')} embeds {len(hide['embeds'])} {hide.get('hide_s')} s", flush=True)
    return rows


def adaptive_report(split: str, conditions: int, crops: Path | None, covers: int) -> list[dict]:
    """The ``--adaptive held-out`` (or ``tune-report``) report: ``api.hide`` of 5 s of Codec2 1200
    at the default strength alone (``fixed``) and with the strength ladder (``adaptive``) on the
    first ``covers`` photos of ``split`` (``heldout`` or ``tune``), each revealed after the checks,
    the worst case and ``conditions`` random unknown-platform draws; ``crops``: a folder for a 1:1
    crop of the smoothest part of the first photo with the ladder (``any_smooth_crop_adaptive.png``,
    beside the texture report's)."""
    speech, _ = speech_codec2()
    rng = np.random.default_rng(2026)
    rows = []
    photos = TEXTURE_HELD_OUT_PHOTOS if split == "heldout" else TEXTURE_TUNE_PHOTOS
    for index, name in enumerate(photos[:covers]):
        cover = real_cover(name, split)
        channels = platforms.unknown_platform_channels(*cover.size) + [worst_case(*cover.size)]
        channels += [random_channel(rng, *cover.size) for _ in range(conditions)]
        x, y = smoothest_window(cover)
        box = (x, y, x + 256, y + 256)
        for stage, options in (("fixed", {"ladder": ()}), ("adaptive", {})):
            outcome, row = hide_codec2(cover, speech, **options)
            row = {"stage": stage, "photo": name, "size": list(cover.size), "crop": list(box), **row}
            if outcome is not None:
                audio = api.reveal(outcome.image, PASSPHRASE).audio_bytes
                row["crop_psnr_db"] = round(psnr_8bit(np.asarray(outcome.image.crop(box)), np.asarray(cover.crop(box))), 2)
                row["revealed"] = [{"channel": str(channel.label), **decode(channel.apply(outcome.image), audio, "canonical")} for channel in channels]
                if crops is not None and index == 0 and stage == "adaptive":
                    crops.mkdir(parents=True, exist_ok=True)
                    outcome.image.crop(box).save(crops / "any_smooth_crop_adaptive.png")
            rows.append(row)
            recovered = sum(case["recovered"] for case in row.get("revealed", []))
            print(f"{split} {stage:<8} {name:<28} strength {row.get('strength')} t={row.get('bch_t')} PSNR {row.get('psnr_db')} "
                  f"flat {row.get('flat_psnr_db')} crop {row.get('crop_psnr_db')} worst BER {row.get('hide_worst_ber', float('nan')):.2e} "
                  f"revealed {recovered}/{len(channels)} hide {row.get('hide_s')} s embeds {len(row['embeds'])}", flush=True)
    return rows


def print_adaptive_tables(result: dict) -> None:
    if "tune" in result:
        print("\n| strength | PSNR dB (mean) | flat PSNR dB (mean) | worst raw BER (max / median) | designed frame fits | hides (t range) | hide s (mean) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for strength in dict.fromkeys(row["strength"] for row in result["tune"]):
            rows = [row for row in result["tune"] if row["strength"] == strength]
            worst = [row["worst_ber"] for row in rows]
            hidden = [row["hide"] for row in rows if row["hide"]["hidden"]]
            span = f" ({min(r['bch_t'] for r in hidden)}-{max(r['bch_t'] for r in hidden)})" if hidden else ""
            print(f"| {strength} | {np.mean([r['psnr_db'] for r in rows]):.2f} | {np.nanmean([r['flat_psnr_db'] for r in rows]):.2f} | "
                  f"{max(worst):.2e} / {np.median(worst):.2e} | {sum(r['fits'] for r in rows)}/{len(rows)} | {len(hidden)}/{len(rows)}{span} | "
                  f"{np.mean([r['hide_s'] for r in hidden]) if hidden else float('nan'):.1f} |")
    for part in ("tune_report", "held_out"):
        if part not in result:
            continue
        print(f"\n{part}\n| hide | PSNR dB (mean, min) | flat PSNR dB (mean) | crop PSNR dB (first photo) | worst raw BER | strengths | hides | reveals | hide s (mean, max) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for stage in ("fixed", "adaptive"):
            rows = [row for row in result[part] if row["stage"] == stage]
            hidden = [row for row in rows if row["hidden"]]
            cases = [case for row in hidden for case in row["revealed"]]
            if not hidden:
                print(f"| {stage} | | | | | | 0/{len(rows)} | | |")
                continue
            psnr, seconds = [r["psnr_db"] for r in hidden], [r["hide_s"] for r in hidden]
            print(f"| {stage} | {np.mean(psnr):.2f}, {min(psnr):.2f} | {np.nanmean([r['flat_psnr_db'] for r in hidden]):.2f} | "
                  f"{hidden[0].get('crop_psnr_db')} | {max(r['hide_worst_ber'] for r in hidden):.2e} | "
                  f"{', '.join(str(r['strength']) for r in hidden)} | {len(hidden)}/{len(rows)} | {sum(c['recovered'] for c in cases)}/{len(cases)} | "
                  f"{np.mean(seconds):.1f}, {max(seconds):.1f} |")


def print_texture_tables(result: dict) -> None:
    print("\n| gain | photos | PSNR dB (mean) | flat PSNR dB (mean) | worst raw BER (max) | (median) | hides | reveals |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for part in ("tune", "held_out"):
        rows = result.get(part, [])
        for label in dict.fromkeys(row["texture"] for row in rows):
            chosen = [row for row in rows if row["texture"] == label]
            psnr, flat = np.mean([r["psnr_db"] for r in chosen]), np.nanmean([r["flat_psnr_db"] for r in chosen])
            worst = [r["worst_ber"] for r in chosen]
            hides = f"{sum(bool(r.get('hidden')) for r in chosen)}/{len(chosen)}" if part == "held_out" else ""
            cases = [case for r in chosen for case in r.get("revealed", [])]
            reveals = f"{sum(c['recovered'] for c in cases)}/{len(cases)}" if part == "held_out" else ""
            worst_text = f"{max(worst):.2e} | {np.median(worst):.2e}"
            print(f"| {label} | {part} | {psnr:.2f} | {flat:.2f} | {worst_text} | {hides} | {reveals} |")


def update_report(path: Path, part: str, shared: dict, measured: dict) -> dict:
    """Merge one part of a sweep (``tune``, ``held_out``, …) into the JSON report at ``path``: its
    results with their date, command and host, beside the other parts already there."""
    result = json.loads(path.read_text()) if path.exists() else {}
    result |= shared | {
        "long_side": TEXTURE_LONG_SIDE,
        "flat_deviation": FLAT_DEVIATION,
        f"{part}_date": datetime.date.today().isoformat(),
        f"{part}_command": "python benchmarks/platform_any.py " + " ".join(sys.argv[1:]),
        f"{part}_host": {"cpus": os.cpu_count(), "load": os.getloadavg()},
        part: measured,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conditions", type=int, default=6, help="random unknown-platform draws per stego image")
    parser.add_argument("--stress", type=int, default=3, help="stress draws per stego image (soft vs hard)")
    parser.add_argument("--covers", type=int, default=len(HELD_OUT_PHOTOS), help="use the first N held-out photos")
    parser.add_argument("--timing-repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--strength-sweep", action="store_true", help="only the residual-gain sweep on training photos")
    parser.add_argument("--timing-only", action="store_true", help="only the 1080p hide timing (writes platform_any_timing.json)")
    parser.add_argument("--texture", choices=("tune", "held-out"), help="only the texture-gain sweep or report")
    parser.add_argument("--crops", type=Path, help="with --texture held-out: a folder for 1:1 crops of a smooth area")
    parser.add_argument("--texture-gain", choices=("on", "off"), default="on", help="the canonical hider's texture gain")
    parser.add_argument("--adaptive", choices=("tune", "tune-report", "held-out"), help="only the strength-ladder sweep or a report")
    args = parser.parse_args()
    if args.adaptive:
        part = args.adaptive.replace("-", "_")
        shared = {"ladder": list(STRENGTH_LADDER), "default_strength": DEFAULT_STRENGTH}
        measured = adaptive_tune() if part == "tune" else adaptive_report(
            "heldout" if part == "held_out" else "tune", args.conditions, args.crops, args.covers
        )  # fmt: skip
        print_adaptive_tables(update_report(args.output / "platform_any_adaptive.json", part, shared, measured))
        return
    if args.texture:
        part = args.texture.replace("-", "_")
        measured = texture_tune() if part == "tune" else texture_held_out(args.conditions, args.crops, args.covers)
        print_texture_tables(update_report(args.output / "platform_any_texture.json", part, {"default": texture_label(DEFAULT_TEXTURE)}, measured))
        return
    with canonical_options(texture=DEFAULT_TEXTURE if args.texture_gain == "on" else None):
        run(args)


def run(args: argparse.Namespace) -> None:
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
