"""Learned (INN) vs classical hider on the same held-out photos through real Pillow JPEG.

1. Robustness (``steganography.app.sweep``, what ``stegavox sweep`` runs): for each channel quality
   Q in {50, 75, 90}, each method embeds a random payload filling the cover with the BCH code it
   picks on that cover for target Q (as ``stegavox hide`` does), then the stego image is
   recompressed at Q and unpacked: per image, bit-exact or not; net bpp, PSNR, SSIM of the stego
   image. LPIPS is not reported: its pretrained backbone cannot be obtained offline.
2. Detectability: a small grey-input Zhu-Net is trained for a few minutes (100 steps of 8 pairs)
   on 96x96 crops of the *training* photos (the classical embedder needs more than 64x64),
   cover vs the method's own stego crop (full capacity, random bits), and tested on crops of the
   held-out photos; the held-out accuracy is reported (0.5 = chance).
3. Training throughput (images/s, one CPU thread) of the demo and research configs of
   :class:`~steganography.tasks.inn.INNHidingTask` (hider + Zhu-Net steps; LPIPS off: no weights).

Images: the held-out scikit-image photos of :mod:`datamodules.sample_photos` (never trained on).
Run: ``OMP_NUM_THREADS=1 python -m benchmarks.inn [--parts throughput,robustness,detectability]
[--out benchmarks/results/inn.json]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from common.settings import JPEG_QUALITY_TARGET, VALIDATION_JPEG_QUALITIES
from datamodules.sample_photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, sample_photo
from steganography.app import sweep
from steganography.embedders import pipeline
from steganography.embedders.base import Embedder
from steganography.models.zhunet import ZhuNet
from steganography.tasks.inn import INNHidingTask

ROOT = Path(__file__).resolve().parents[1]
QUALITIES = VALIDATION_JPEG_QUALITIES
METHODS = ("classical", "inn")


def robustness(method: str, images: list[tuple[str, Image.Image]], options: dict) -> dict:
    """Per quality: the sweep report of ``method`` (built with ``options``) tuned to that quality."""
    results = {}
    for quality in QUALITIES:
        embedder = pipeline.make_embedder(method, quality_target=quality, **options)
        report = sweep.sweep(images, embedder, [quality], quality_target=quality)
        results[quality] = report
        print(sweep.report_table(report), flush=True)
    return results


def crops(names: tuple[str, ...], count: int, size: int, seed: int) -> list[Image.Image]:
    """``count`` random ``size`` crops (8-pixel aligned) of the named photos."""
    rng = np.random.default_rng(seed)
    photos = [sample_photo(name) for name in names]
    out = []
    for index in range(count):
        image = photos[index % len(photos)]
        top = 8 * int(rng.integers((image.shape[0] - size) // 8 + 1))
        left = 8 * int(rng.integers((image.shape[1] - size) // 8 + 1))
        out.append(Image.fromarray(image[top : top + size, left : left + size]))
    return out


def stego_pairs(embedder: Embedder, covers: list[Image.Image], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Covers and their full-capacity stego images as ``(N, 3, S, S)`` tensors."""
    rng = np.random.default_rng(seed)
    stegos = []
    for cover in covers:
        bits = rng.integers(0, 2, embedder.capacity_bits(*cover.size), dtype=np.uint8)
        stegos.append(embedder.embed(cover, bits))

    def stack(images: list[Image.Image]) -> torch.Tensor:
        return torch.stack([torch.from_numpy(np.asarray(i).copy()).permute(2, 0, 1).float() / 255 for i in images])

    return stack(covers), stack(stegos)


def detectability(method: str, options: dict, steps: int, size: int, seed: int = 0) -> dict:
    """Held-out accuracy of a Zhu-Net trained on ``method``'s stego crops vs covers (embedder built with ``options``)."""
    embedder = pipeline.make_embedder(method, quality_target=JPEG_QUALITY_TARGET, **options)
    train_cover, train_stego = stego_pairs(embedder, crops(TRAIN_PHOTOS, 96, size, seed), seed)
    test_cover, test_stego = stego_pairs(embedder, crops(HELD_OUT_PHOTOS, 32, size, seed + 1), seed + 1)
    torch.manual_seed(seed)
    detector = ZhuNet("grey", channels=(16, 16, 32), hidden_features=64)
    optimizer = torch.optim.Adam(detector.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    started = time.time()
    for _ in range(steps):
        index = torch.randint(len(train_cover), (8,), generator=generator)
        images = torch.cat([train_cover[index], train_stego[index]])
        labels = torch.cat([torch.zeros(8), torch.ones(8)]).long()
        loss = F.cross_entropy(detector(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    detector.eval()
    with torch.no_grad():
        predictions = detector(torch.cat([test_cover, test_stego])).argmax(dim=1)
    labels = torch.cat([torch.zeros(len(test_cover)), torch.ones(len(test_stego))]).long()
    accuracy = float((predictions == labels).float().mean())
    result = {"accuracy": accuracy, "train_pairs": len(train_cover), "test_pairs": len(test_cover),
              "crop": size, "steps": steps, "seconds": time.time() - started}  # fmt: skip
    print(f"{method}: Zhu-Net held-out accuracy {accuracy:.3f} ({result})", flush=True)
    return result


def throughput(config: str, image_size: int, batch_size: int, steps: int = 2, warmup: bool = True) -> dict:
    """Training images/s of the task built from ``trainer_configs/<config>`` (LPIPS off); the
    first (warm-up) step is not timed when ``warmup``. Also the floating-point operations of one
    hider + Zhu-Net step per image (``FlopCounterMode``: convolutions and matrix products,
    forward and backward; a device-independent measure for projecting GPU training time)."""
    init_args = {}
    for path in config.split("+"):
        init_args.update(yaml.safe_load((ROOT / "trainer_configs" / path).read_text())["model"]["init_args"])
    init_args["lpips_weight"] = 0.0
    task = INNHidingTask(**init_args)
    hider_optimizer, detector_optimizer = task.configure_optimizers()
    images = torch.rand(batch_size, 3, image_size, image_size)

    def step() -> None:
        out = task.generator_losses(images)
        hider_optimizer.zero_grad()
        out["loss"].backward()
        hider_optimizer.step()
        detector_optimizer.zero_grad()
        task.detector_loss(out["cover_view"], out["stego_view"]).backward()
        detector_optimizer.step()

    if warmup:
        step()
    started = time.time()
    for _ in range(steps):
        step()
    seconds = (time.time() - started) / steps
    with FlopCounterMode(display=False) as counter:
        step()
    result = {"config": config, "image_size": image_size, "batch_size": batch_size, "warmup": warmup,
              "seconds_per_step": seconds, "images_per_second": batch_size / seconds,
              "training_gflop_per_image": counter.get_total_flops() / batch_size / 1e9}  # fmt: skip
    print(f"throughput {result}", flush=True)
    return result


def table(results: dict) -> str:
    lines = [f"{'method':>9} {'JPEG Q':>6} {'recovered':>9} {'net bpp':>8} {'PSNR dB':>8} {'SSIM':>7} {'BER mean':>9}"]
    for method, reports in results.get("robustness", {}).items():
        for quality, report in reports.items():
            row = report["qualities"][0]
            psnr = "-" if row["psnr_mean"] is None else f"{row['psnr_mean']:.2f}"
            ssim = "-" if row["ssim_mean"] is None else f"{row['ssim_mean']:.4f}"
            ber = "-" if row["ber_mean"] is None else f"{row['ber_mean']:.2e}"
            lines.append(
                f"{method:>9} {quality:>6} {row['recovered']:>4}/{row['images']:<4} {row['net_bpp_mean']:8.4f} "
                f"{psnr:>8} {ssim:>7} {ber:>9}"
            )
    for method, result in results.get("detectability", {}).items():
        lines.append(f"{method:>9} Zhu-Net held-out accuracy {result['accuracy']:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="throughput,robustness,detectability", help="comma-separated parts to run")
    parser.add_argument("--detector-steps", type=int, default=100)
    parser.add_argument("--detector-crop", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--inn-checkpoint", type=Path, help="hider checkpoint (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "inn.json")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    images = [(name, Image.fromarray(sample_photo(name))) for name in HELD_OUT_PHOTOS]
    results: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "images": {name: list(image.size) for name, image in images},
        "threads": args.threads,
        "lpips": "not measured: the LPIPS backbone weights are not available offline",
    }
    if "throughput" in parts:
        results["throughput"] = [throughput("demo/inn.yaml", 64, 4), throughput("inn.yaml", 256, 2, steps=1, warmup=False)]
    options = {"inn": {"checkpoint": args.inn_checkpoint} if args.inn_checkpoint else {}, "classical": {}}
    if "robustness" in parts:
        results["robustness"] = {method: robustness(method, images, options[method]) for method in args.methods}
    if "detectability" in parts:
        results["detectability"] = {
            method: detectability(method, options[method], args.detector_steps, args.detector_crop) for method in args.methods
        }
    results["load_average"] = {"start": load_before, "end": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"wrote {args.out}; load average start {load_before}, end {results['load_average']['end']}")


if __name__ == "__main__":
    main()
