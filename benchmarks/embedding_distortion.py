"""How much a classical design changes what a steganalyst sees, without training a detector.

For each photo of a ``datamodules.real_photos`` split (``tune`` by default: the design is chosen
here, never on ``heldout``), cut to 1600x1200 as in ``benchmarks/steganalysis.py``, and each
variant of the classical embedder (sharing power of the UERD cost, margin), the frame ``hide``
would make of ``--seconds`` of Codec2 1200 bit/s is embedded and the stego image compressed as
the platform does (Pillow Q75). Reported per variant (means over the photos): channel bits,
changed luma DCT coefficients of that JPEG, their L1 change, the J-UNIWARD distortion of the
change (conseal's costs of the cover's Q75 JPEG: sum of cost x |change|), its geometric-mean
ratio to the first variant, and the PSNR of the stego PNG.

    python benchmarks/embedding_distortion.py --seconds 10 --platform whatsapp
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conseal import juniward  # noqa: E402

from benchmarks.steganalysis import make_cover, read_dct  # noqa: E402
from benchmarks.stego_modes import message_bits, redesigned  # noqa: E402
from common.platforms import jpeg_bytes  # noqa: E402
from datamodules import real_photos  # noqa: E402
from steganography.app import api  # noqa: E402

#: Variants compared (embedder options over the application's design).
VARIANTS = {
    "cost^1": {"cost_exponent": 1.0},
    "cost^1.5": {"cost_exponent": 1.5},
    "cost^2": {"cost_exponent": 2.0},
    "cost^3": {"cost_exponent": 3.0},
    "cost^1, margin 0.45": {"cost_exponent": 1.0, "margin": 0.45},
    "cost^2, margin 0.45": {"cost_exponent": 2.0, "margin": 0.45},
    "cost^1.5, step x2": {"cost_exponent": 1.5, "step_multiple": 2.0},
    "cost^1.5, step x3": {"cost_exponent": 1.5, "step_multiple": 3.0},
    "cost^1.5, Q75 design, step x2": {"cost_exponent": 1.5, "quality_target": 75, "step_multiple": 2.0},
    "cost^1.5, margin 0.45": {"cost_exponent": 1.5, "margin": 0.45},
    "cost^1.5, step x2, margin 0.45": {"cost_exponent": 1.5, "step_multiple": 2.0, "margin": 0.45},
    "cost^1.5, step x3, margin 0.4": {"cost_exponent": 1.5, "step_multiple": 3.0, "margin": 0.4},
    "cost^1.5, margin 0.4": {"cost_exponent": 1.5, "margin": 0.4},
    "cost^1.5, margin 0.3": {"cost_exponent": 1.5, "margin": 0.3},
    "cost^1.5, step x3, margin 0.3": {"cost_exponent": 1.5, "step_multiple": 3.0, "margin": 0.3},
    "cost^1.5, step x2, shrink 1": {"cost_exponent": 1.5, "step_multiple": 2.0, "shrink_bias": 1.0},
    "cost^1.5, step x2, shrink 1.5": {"cost_exponent": 1.5, "step_multiple": 2.0, "shrink_bias": 1.5},
    "cost^1.5, step x2, shrink 1.75": {"cost_exponent": 1.5, "step_multiple": 2.0, "shrink_bias": 1.75},
    "cost^1.5, step x2, shrink 2": {"cost_exponent": 1.5, "step_multiple": 2.0, "shrink_bias": 2.0},
    "cost^1.5, step x2, shrink 1.75, margin 0.45": {"cost_exponent": 1.5, "step_multiple": 2.0, "shrink_bias": 1.75, "margin": 0.45},
    "cost^1.5, step x2, shrink 1.75, margin 0.4": {"cost_exponent": 1.5, "step_multiple": 2.0, "shrink_bias": 1.75, "margin": 0.4},
    "cost^1.5, step x2, shrink 1.75, margin 0.35": {"cost_exponent": 1.5, "step_multiple": 2.0, "shrink_bias": 1.75, "margin": 0.35},
}


def platform_jpeg(image: Image.Image, quality: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Luma DCT coefficients, luma table and decoded grey image of the platform's JPEG of ``image``."""
    data = jpeg_bytes(image, quality)
    jpeg = read_dct(data)
    with Image.open(io.BytesIO(data)) as decoded:
        grey = np.asarray(decoded.convert("L"), dtype=np.float64)
    return jpeg.Y.copy(), jpeg.qt[0].copy(), grey


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos-root", type=Path, default=ROOT / "data" / "real_photos")
    parser.add_argument("--split", default="tune")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--platform", default="whatsapp", help="profile, or 'plain' for plain hide")
    parser.add_argument("--quality", type=int, default=75, help="the platform's JPEG quality")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="variants to compare (the first is the reference of the ratios)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "embedding_distortion.json")
    args = parser.parse_args(argv)
    variants = {name: VARIANTS[name] for name in args.variants}
    platform = None if args.platform == "plain" else args.platform
    rows = [row for row in real_photos.read_manifest(args.photos_root) if row["split"] == args.split]
    results: dict[str, list] = {name: [] for name in variants}
    for row in rows:
        plan = api.design(make_cover(real_photos.load_photo(args.photos_root, row).convert("RGB")), platform)
        cover_dct, table, cover_grey = platform_jpeg(plan.cover, args.quality)
        cost_up, cost_down = juniward.compute_cost_adjusted(cover_grey, cover_dct, table)
        for name, options in variants.items():
            embedder = redesigned(plan.embedder, options).keyed(7)
            count = message_bits(args.seconds, plan, embedder)
            if count > embedder.capacity_bits(*plan.cover.size):
                results[name].append(None)  # its code needs more bits than the cover holds
                continue
            stego = embedder.embed(plan.cover, np.random.default_rng(3).integers(0, 2, count, dtype=np.uint8))
            change = platform_jpeg(stego, args.quality)[0].astype(np.int64) - cover_dct
            error = np.asarray(plan.cover, dtype=np.float64) - np.asarray(stego, dtype=np.float64)
            results[name].append({
                "photo": row["name"], "bits": count, "changed": int(np.count_nonzero(change)), "l1": int(np.abs(change).sum()),
                "juniward": float(np.where(change > 0, cost_up * change, -cost_down * change).sum()),
                "psnr": float(10 * np.log10(255**2 / np.mean(error**2))),
            })  # fmt: skip
        print(row["name"], "done", flush=True)
    reference = results[args.variants[0]]
    summary = {}
    for name, found in results.items():
        pairs = [(r, q) for r, q in zip(found, reference) if r and q]
        summary[name] = {key: float(np.mean([r[key] for r in found if r])) for key in ("bits", "changed", "l1", "juniward", "psnr")}
        summary[name]["juniward_ratio"] = float(np.exp(np.mean([np.log(r["juniward"] / q["juniward"]) for r, q in pairs])))
        summary[name]["refused"] = sum(r is None for r in found)
    print("| variant | channel bits | changed coefficients | J-UNIWARD distortion (× first) | PSNR dB | refused |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in summary.items():
        print(f"| {name} | {row['bits']:.0f} | {row['changed']:.0f} | {row['juniward_ratio']:.3f} | {row['psnr']:.2f} | {row['refused']} |")
    report = {"settings": {k: str(v) for k, v in vars(args).items()}, "summary": summary, "photos": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
