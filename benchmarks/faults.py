
"""Fault campaign: ``stegavox reveal`` on attacked stego images and with wrong passphrases.

Issue 12's guarantee, measured: exact bytes or a documented error (exit 2, 3 or 4), never wrong
audio and never an unexpected exception. Stego images are made with ``stegavox hide`` (in
process, classical method, Opus or FLAC speech, target Q75) in scikit-image photos and procedural
covers; each trial attacks one of them and runs ``stegavox reveal --method classical`` with the
right passphrase. Attacks: Pillow JPEG at quality 5-100 with 4:2:0 and 4:4:4, chains of two
JPEGs, crops, resizes, rotations (quarter turns and small angles), Gaussian noise, brightness and
contrast, WebP (lossy and lossless), PNG re-saves, bit flips in the file, truncation, another
photo with nothing hidden, and splices of two stego images. Then wrong passphrases (random, one
character off, empty, white-space and Unicode-normalisation variants) are tried on stego images.

Passphrases are compared after the documented normalisation (trailing line breaks removed,
UTF-8 NFC), so variants that normalise to the right passphrase are *expected* to come back
exact; they are counted in their own rows.

Outcomes: ``exact``, ``exit 2``, ``exit 3``, ``exit 4``, ``WRONG BYTES`` (exit 0 with other
bytes) and ``EXCEPTION`` (anything escaping ``stegavox``'s ``main``). The run also times reveals
with a wrong passphrase against reveals of a clean photo, each with a fresh key derivation (as in
a new process).

Run: ``python benchmarks/faults.py [--trials 1000] [--wrong-passphrases 200]`` (about 10 min on
2 cores); writes ``benchmarks/results/faults.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import io
import json
import os
import platform
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from datamodules.synthetic import textured_cover

RESULTS = Path(__file__).resolve().parent / "results" / "faults.json"
#: The right passphrase: non-ASCII, so that normalisation variants exist (NFC form).
PASSPHRASE = unicodedata.normalize("NFC", "Café Ångström, naïve façade — 2026")
#: Attack kinds in campaign order (each kind once in the first 14); a kind listed twice gets
#: twice the trials.
ATTACK_SCHEDULE = (
    "jpeg", "crop", "jpeg_chain", "resize", "noise", "webp", "rotate", "brightness", "bitflip", "truncate",
    "contrast", "png_resave", "other_photo", "splice", "jpeg", "jpeg", "jpeg", "jpeg_chain", "noise", "webp",
)  # fmt: skip
OK_ATTACK_OUTCOMES = {"exact", "exit 2", "exit 3", "exit 4"}


@dataclass
class Stego:
    """A stego image made by ``stegavox hide`` and the audio bytes it must give back."""

    name: str
    png: bytes
    audio: bytes
    codec: str

    @property
    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.png)).convert("RGB")



def covers(quick: bool = False) -> tuple[list[tuple[str, Image.Image]], list[Image.Image]]:
    """Covers for stego images and clean photos (never used as covers) for "another photo".

    ``quick``: two small procedural covers of one size and one procedural photo (for tests).
    """
    if quick:
        return [(f"procedural{seed}", textured_cover(seed, 256, 256)) for seed in range(2)], [textured_cover(99, 256, 256)]
    import skimage.data

    def rgb(array: np.ndarray) -> Image.Image:
        return Image.fromarray(array).convert("RGB")

    stego_covers = [
        ("astronaut", rgb(skimage.data.astronaut())),
        ("coffee", rgb(skimage.data.coffee())),
        ("chelsea", rgb(skimage.data.chelsea())),
    ] + [(f"procedural{seed}", textured_cover(seed, 360, 480)) for seed in range(3)]
    photos = [rgb(skimage.data.rocket()), rgb(skimage.data.camera()), textured_cover(99, 360, 480)]
    return stego_covers, photos


@contextlib.contextmanager
def passphrase_env(value: str):
    previous = os.environ.get("STEGAVOX_PASSPHRASE")
    os.environ["STEGAVOX_PASSPHRASE"] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("STEGAVOX_PASSPHRASE", None)
        else:
            os.environ["STEGAVOX_PASSPHRASE"] = previous


def run_cli(argv: list[str]) -> tuple[int | str, str]:
    """``stegavox`` in process: its exit code (or ``EXCEPTION: Type``) and its stderr."""
    from steganography.app import cli

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    except Exception as exc:  # noqa: BLE001 - exactly what the campaign counts
        return f"EXCEPTION: {type(exc).__name__}: {exc}"[:200], err.getvalue()
    return code, err.getvalue()


def make_stegos(workdir: Path, seed: int, quick: bool = False) -> list[Stego]:
    """Hide a short utterance in every cover with ``stegavox hide`` (Opus; FLAC for one; all
    FLAC and a fixed code with ``quick``)."""
    import soundfile as sf

    from common.payload import codecs
    from common.speech_synthesis import synthesise_speech

    stegos = []
    rng = np.random.default_rng(seed)
    stego_covers, _ = covers(quick)
    for index, (name, cover) in enumerate(stego_covers):
        codec = "flac" if index == 1 or quick else "opus"
        cover_path, out = workdir / f"{name}.png", workdir / f"{name}.stego.png"
        cover.save(cover_path)
        for seconds in (0.03,) if quick else (1.0, 0.6, 0.35, 0.2, 0.1):
            speech = synthesise_speech(rng, int(seconds * 16000), 16000, f0_range=(100.0, 150.0))
            sf.write(workdir / "speech.wav", speech, 16000)
            encoded: list[bytes] = []
            original = codecs.encode_audio

            def spy(*args, _original=original, _encoded=encoded, **kwargs) -> bytes:
                _encoded.append(_original(*args, **kwargs))
                return _encoded[-1]

            codecs.encode_audio = spy
            try:
                with passphrase_env(PASSPHRASE):
                    code, err = run_cli(
                        ["hide", "--detectable-ok", "--audio", str(workdir / "speech.wav"), "--cover", str(cover_path), "--out", str(out),
                         "--codec", codec, "--method", "classical", "--force", *(["--bch-t", "16"] if quick else [])]
                    )
            finally:
                codecs.encode_audio = original
            if code == 0:
                stegos.append(Stego(name, out.read_bytes(), encoded[-1], codec))
                break
            if "cover too small" not in err:
                raise RuntimeError(f"hide failed on {name}: {code} {err}")
    return stegos


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def attack(kind: str, rng: np.random.Generator, stego: Stego, stegos: list[Stego], photos: list[Image.Image]):
    """One attacked file: ``(bytes, suffix, parameters)``."""
    image = stego.image
    width, height = image.size
    if kind == "jpeg":
        quality, sub = int(rng.integers(5, 101)), str(rng.choice(["4:2:0", "4:4:4"]))
        return _encode(image, "JPEG", quality=quality, subsampling=sub), ".jpg", {"quality": quality, "subsampling": sub}
    if kind == "jpeg_chain":
        first, second = (int(q) for q in rng.integers(40, 101, 2))
        once = Image.open(io.BytesIO(_encode(image, "JPEG", quality=first, subsampling="4:2:0"))).convert("RGB")
        return _encode(once, "JPEG", quality=second, subsampling="4:2:0"), ".jpg", {"qualities": [first, second]}
    if kind == "crop":
        left, top, right, bottom = (int(v) for v in rng.integers(0, 65, 4) * rng.integers(0, 2, 4))
        box = (left, top, width - right, height - bottom)
        return _encode(image.crop(box), "PNG"), ".png", {"box": box}
    if kind == "resize":
        scale = float(rng.uniform(0.5, 1.5))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return _encode(image.resize(size, Image.Resampling.LANCZOS), "PNG"), ".png", {"scale": round(scale, 3)}
    if kind == "rotate":
        angle = float(rng.choice([90, 180, 270])) if rng.random() < 0.5 else float(rng.uniform(-5, 5))
        rotated = image.rotate(angle, expand=angle % 90 == 0, resample=Image.Resampling.BICUBIC)
        return _encode(rotated, "PNG"), ".png", {"angle": round(angle, 2)}
    if kind == "noise":
        sigma = float(rng.uniform(0.5, 12))
        noisy = np.asarray(image, dtype=np.float64) + rng.normal(0, sigma, (height, width, 3))
        return _encode(Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8)), "PNG"), ".png", {"sigma": round(sigma, 2)}
    if kind in ("brightness", "contrast"):
        factor = float(rng.uniform(0.7, 1.3))
        enhancer = ImageEnhance.Brightness(image) if kind == "brightness" else ImageEnhance.Contrast(image)
        return _encode(enhancer.enhance(factor), "PNG"), ".png", {"factor": round(factor, 3)}
    if kind == "webp":
        if rng.random() < 0.25:
            return _encode(image, "WEBP", lossless=True), ".webp", {"lossless": True}
        quality = int(rng.integers(30, 101))
        return _encode(image, "WEBP", quality=quality), ".webp", {"quality": quality}
    if kind == "png_resave":
        level = int(rng.integers(0, 10))
        return _encode(image, "PNG", compress_level=level, optimize=bool(rng.random() < 0.3)), ".png", {"level": level}
    if kind == "bitflip":
        data = bytearray(stego.png)
        flips = int(rng.integers(1, 65))
        for position in rng.integers(0, 8 * len(data), flips):
            data[position // 8] ^= 1 << (position % 8)
        return bytes(data), ".png", {"flips": flips}
    if kind == "truncate":
        keep = float(rng.uniform(0.05, 0.999))
        return stego.png[: int(len(stego.png) * keep)], ".png", {"keep": round(keep, 3)}
    if kind == "other_photo":
        index = int(rng.integers(0, len(photos)))
        return _encode(photos[index], "PNG"), ".png", {"photo": index}
    if kind == "splice":
        partners = [other for other in stegos if other is not stego and other.image.size == image.size]
        other = partners[int(rng.integers(0, len(partners)))] if partners else stego
        cut = int(rng.integers(width // 8, 7 * width // 8))
        spliced = image.copy()
        spliced.paste(other.image.crop((cut, 0, width, height)), (cut, 0))
        return _encode(spliced, "PNG"), ".png", {"partner": other.name, "cut": cut}
    raise ValueError(kind)


def classify(code: int | str, out: Path, expected: bytes) -> str:
    if isinstance(code, str):
        return "EXCEPTION"
    if code == 0:
        return "exact" if out.read_bytes() == expected else "WRONG BYTES"
    return f"exit {code}"


def reveal(path: Path, out: Path, passphrase: str) -> tuple[int | str, str]:
    out.unlink(missing_ok=True)
    with passphrase_env(passphrase):
        return run_cli(["reveal", "--stego", str(path), "--out", str(out), "--method", "classical"])


def wrong_passphrases(rng: np.random.Generator, count: int) -> list[tuple[str, str, bool]]:
    """``(category, passphrase, equivalent)``: ``equivalent`` ones normalise to the right one."""
    right = PASSPHRASE
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-_") + list("éèêÅåäöüßçñ—✓漢字")
    fixed = [
        ("empty", "", False),
        ("empty", "\n", False),
        ("empty", "\r\n", False),
        ("whitespace", right + "\n", True),
        ("whitespace", right + "\r\n", True),
        ("whitespace", right + " ", False),
        ("whitespace", " " + right, False),
        ("whitespace", right.replace(" ", "  ", 1), False),
        ("whitespace", right + "\t", False),
        ("unicode", unicodedata.normalize("NFD", right), True),
        ("unicode", unicodedata.normalize("NFKD", right), True),
        ("unicode", unicodedata.normalize("NFKC", right), True),
        ("unicode", right.replace("Å", "\u212b"), True),  # ANGSTROM SIGN: NFC maps it to Å
        ("unicode", right.replace("é", "e\u0301"), True),
        ("unicode", unicodedata.normalize("NFD", right).encode("ascii", "ignore").decode(), False),  # accents gone
        ("unicode", right.replace("é", "è"), False),
        ("unicode", right.replace("—", "-"), False),
        ("unicode", right.replace("ï", "i\u0308\u0301"), False),
        ("unicode", right.upper(), False),
        ("unicode", right.replace("ç", "c\u0327\u0327"), False),
    ]
    # Fewer than the fixed cases: an evenly spaced selection of them (for quick tests).
    items = list(fixed) if count >= len(fixed) else [fixed[i] for i in np.linspace(0, len(fixed) - 1, count).astype(int)]
    while len(items) < count:
        category = "random" if len(items) % 2 else "one_off"
        if category == "random":
            length = int(rng.integers(1, 41))
            candidate = "".join(rng.choice(alphabet, length))
        else:
            chars = list(right)
            position = int(rng.integers(0, len(chars)))
            operation = int(rng.integers(0, 5))
            if operation == 0:
                chars[position] = str(rng.choice(alphabet))
            elif operation == 1:
                chars.insert(position, str(rng.choice(alphabet)))
            elif operation == 2:
                del chars[position]
            elif operation == 3 and position + 1 < len(chars):
                chars[position], chars[position + 1] = chars[position + 1], chars[position]
            else:
                chars[position] = chars[position].swapcase() if chars[position].swapcase() != chars[position] else "x"
            candidate = "".join(chars)
        normalised = unicodedata.normalize("NFC", candidate.rstrip("\r\n"))
        if normalised == right or not normalised:
            continue
        items.append((category, candidate, False))
    return items


def run_campaign(
    trials: int, wrong: int, seed: int = 0, workdir: Path | None = None, log=print, quick: bool = False, timing_runs: int = 10
) -> dict:
    """Run ``trials`` attacks and ``wrong`` wrong-passphrase reveals; returns the report.

    ``quick`` uses two small procedural covers (see :func:`covers`), for tests.
    """
    from common.payload import container, crypto

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="faults-") as temporary:
        root = Path(workdir or temporary)
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        stegos = make_stegos(root, seed, quick)
        log(f"{len(stegos)} stego images made in {time.perf_counter() - start:.1f} s")
        _, photos = covers(quick)
        rows = []
        out = root / "revealed.bin"
        for trial in range(trials):
            kind = ATTACK_SCHEDULE[trial % len(ATTACK_SCHEDULE)]
            stego = stegos[int(rng.integers(0, len(stegos)))]
            data, suffix, params = attack(kind, rng, stego, stegos, photos)
            path = root / f"attacked{suffix}"
            path.write_bytes(data)
            began = time.perf_counter()
            code, err = reveal(path, out.with_suffix(".opus" if stego.codec == "opus" else ".flac"), PASSPHRASE)
            outcome = classify(code, out.with_suffix(".opus" if stego.codec == "opus" else ".flac"), stego.audio)
            rows.append(
                {"trial": trial, "kind": kind, "stego": stego.name, "params": params, "outcome": outcome,
                 "seconds": round(time.perf_counter() - began, 3), "message": err.strip()[-160:]}
            )
            if (trial + 1) % 100 == 0:
                log(f"{trial + 1}/{trials} attacks, {time.perf_counter() - start:.0f} s")
        # Wrong passphrases on the lossless stego images and on JPEG Q75 copies of them.
        passphrase_rows = []
        for index, (category, passphrase, equivalent) in enumerate(wrong_passphrases(rng, wrong)):
            stego = stegos[index % len(stegos)]
            data = stego.png if index % 2 == 0 else _encode(stego.image, "JPEG", quality=75, subsampling="4:2:0")
            path = root / ("stego.png" if index % 2 == 0 else "stego.jpg")
            path.write_bytes(data)
            target = out.with_suffix(".opus" if stego.codec == "opus" else ".flac")
            code, err = reveal(path, target, passphrase)
            passphrase_rows.append(
                {"category": category + (" (normalises to the right one)" if equivalent else ""),
                 "passphrase_repr": ascii(passphrase)[:80], "equivalent": equivalent,
                 "outcome": classify(code, target, stego.audio), "message": err.strip()[-160:]}
            )
        log(f"{len(passphrase_rows)} passphrase trials, {time.perf_counter() - start:.0f} s")
        # Timing: wrong passphrase on a stego vs the right one on a clean photo, fresh key each time.
        timing = {"wrong passphrase on a stego": [], "right passphrase on a clean photo": []}
        photo_path = root / "photo.png"
        photos[0].save(photo_path)
        stego_path = root / "timing.png"
        stego_path.write_bytes(stegos[0].png)
        messages = set()
        for index in range(timing_runs):
            for label, path, passphrase in [
                ("wrong passphrase on a stego", stego_path, f"wrong {index}"),
                ("right passphrase on a clean photo", photo_path, PASSPHRASE),
            ]:
                crypto.frame_keys.cache_clear()
                began = time.perf_counter()
                code, err = reveal(path, root / "t.opus", passphrase)
                timing[label].append(time.perf_counter() - began)
                messages.add((code, err.strip()))
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "python": sys.version.split()[0],
        "format_version": container.FORMAT_VERSION,
        "stego_images": [{"name": s.name, "codec": s.codec, "audio_bytes": len(s.audio)} for s in stegos],
        "attacks": summarise(rows, "kind"),
        "passphrases": summarise(passphrase_rows, "category"),
        "timing_ms": {label: {"median": 1000 * float(np.median(v)), "min": 1000 * min(v), "max": 1000 * max(v)}
                      for label, v in timing.items() if v},
        "timing_same_answer": len(messages) == 1,
        "timing_answer": sorted(map(str, messages))[:2],
        "attack_trials": rows,
        "passphrase_trials": passphrase_rows,
    }
    unexpected_attack = sum(1 for r in rows if r["outcome"] not in OK_ATTACK_OUTCOMES)
    unexpected_passphrase = sum(
        1 for r in passphrase_rows
        if r["outcome"] != ("exact" if r["equivalent"] else ("exit 2" if r["category"] == "empty" else "exit 3"))
    )
    report["totals"] = {
        "attacks": len(rows),
        "passphrases": len(passphrase_rows),
        "wrong_bytes": sum(r["outcome"] == "WRONG BYTES" for r in rows + passphrase_rows),
        "exceptions": sum(r["outcome"] == "EXCEPTION" for r in rows + passphrase_rows),
        "unexpected_attack_outcomes": unexpected_attack,
        "unexpected_passphrase_outcomes": unexpected_passphrase,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    return report


def summarise(rows: list[dict], key: str) -> dict:
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for row in rows:
        table[row[key]][row["outcome"]] += 1
        table["all"][row["outcome"]] += 1
    return {name: dict(counter) for name, counter in table.items()}


def markdown(table: dict, title: str) -> str:
    columns = ["exact", "exit 2", "exit 3", "exit 4", "WRONG BYTES", "EXCEPTION"]
    others = sorted({o for counts in table.values() for o in counts} - set(columns))
    header = [title, "n", *columns, *others]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name in sorted(table, key=lambda n: (n == "all", n)):
        counts = table[name]
        cells = [f"**{name}**" if name == "all" else name, str(sum(counts.values()))]
        cells += [str(counts.get(column, 0)) for column in columns + others]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--wrong-passphrases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = run_campaign(args.trials, args.wrong_passphrases, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(markdown(report["attacks"], "attack"))
    print()
    print(markdown(report["passphrases"], "passphrase"))
    print()
    for label, values in report["timing_ms"].items():
        print(f"{label}: median {values['median']:.0f} ms (min {values['min']:.0f}, max {values['max']:.0f})")
    print(f"same exit code and message for both: {report['timing_same_answer']}")
    print(json.dumps(report["totals"]))


if __name__ == "__main__":
    main()
