"""Robustness sweep: hide random payloads in many images, recompress with real JPEG, recover.

Each image gets a random payload that fills its capacity (random bytes stand in for an encoded
audio file), is packed by the real container (AES-256-GCM, BCH, interleaving), embedded, then
recompressed with Pillow's JPEG encoder (4:2:0) at every quality and revealed. Recovery counts
only if the container returns the exact payload: one image that fails is one failure, never
averaged away. Used by ``stegavox sweep`` and the benchmarks.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from common.errors import InputError, StegavoxError
from common.image import jpeg_roundtrip, open_image, pil_to_tensor
from common.metrics import psnr, ssim
from common.payload import container, ecc
from common.settings import SPEECH_SAMPLE_RATE
from steganography.embedders import pipeline
from steganography.embedders.base import Embedder

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
#: Passphrase of the sweep's payloads (they are random bytes; the key only exercises the path).
SWEEP_PASSPHRASE = b"stegavox sweep"
#: Metadata the random payloads are labelled with.
SWEEP_META = container.AudioMeta("pcm16", SPEECH_SAMPLE_RATE, 1)


def load_image_folder(folder: Path) -> list[tuple[str, Image.Image]]:
    """``(file name, RGB image)`` of every image file in ``folder``, sorted by name.

    Raises:
        InputError: no such folder, no image in it, or an unreadable image.
    """
    if not folder.is_dir():
        raise InputError(f"image folder not found: {folder}")
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return [(path.name, open_image(path)) for path in paths]


def _image_quality(cover: Image.Image, stego: Image.Image) -> tuple[float, float]:
    reference, estimate = pil_to_tensor(cover)[None], pil_to_tensor(stego)[None]
    return float(psnr(estimate, reference)), float(ssim(estimate, reference))


def sweep_image(
    name: str,
    cover: Image.Image,
    embedder: Embedder,
    qualities: Sequence[int],
    quality_target: int,
    bch_t: int | None = None,
    bch_m: int = ecc.DEFAULT_BCH_M,
    seed: int = 0,
) -> dict:
    """One image's row of :func:`sweep`: code, net bpp, PSNR/SSIM, and per quality BER and recovery.

    With ``bch_t=None`` the code is chosen as ``stegavox hide`` does (measured on this image at
    and above ``quality_target``); an image for which no code suffices carries no payload and
    counts as not recovered.
    """
    width, height = cover.size
    capacity = embedder.capacity_bits(width, height)
    row: dict = {"name": name, "width": width, "height": height, "capacity_bits": capacity}
    try:
        if bch_t is None:
            rates = pipeline.probe_bit_error_rates(
                embedder, cover, pipeline.calibration_qualities(quality_target), seed=seed
            )
            bch_t, bch_m = pipeline.choose_code(rates, quality_target)
        payload_bytes = container.max_payload_bytes(capacity, bch_t, bch_m)
    except InputError:
        payload_bytes = 0
    row.update(bch_t=bch_t, bch_m=bch_m, payload_bytes=payload_bytes, net_bpp=8 * payload_bytes / (width * height))
    if payload_bytes == 0:
        row.update(psnr=None, ssim=None, per_quality={q: {"ber": None, "recovered": False} for q in qualities})
        return row
    payload = np.random.default_rng(seed).bytes(payload_bytes)
    bits = container.pack(payload, SWEEP_META, SWEEP_PASSPHRASE, bch_t, bch_m)
    stego = embedder.embed(cover, bits)
    row["psnr"], row["ssim"] = _image_quality(cover, stego)
    per_quality = {}
    for quality in qualities:
        soft = embedder.extract_soft(jpeg_roundtrip(stego, quality), capacity)
        ber = float(np.mean((soft[: bits.size] > 0) != bits))
        try:
            recovered = container.unpack(soft, SWEEP_PASSPHRASE)[0] == payload
        except StegavoxError:
            recovered = False
        per_quality[quality] = {"ber": ber, "recovered": bool(recovered)}
    row["per_quality"] = per_quality
    return row


def summarise(rows: Sequence[dict], qualities: Sequence[int]) -> list[dict]:
    """Per quality: raw BER mean/max over images, images recovered, net bpp and PSNR/SSIM."""
    carried = [row for row in rows if row["payload_bytes"] > 0]

    def stats(values: list[float]) -> tuple[float | None, float | None]:
        return (float(np.mean(values)), float(np.min(values))) if values else (None, None)

    psnr_mean, psnr_min = stats([row["psnr"] for row in carried])
    ssim_mean, ssim_min = stats([row["ssim"] for row in carried])
    summary = []
    for quality in qualities:
        bers = [row["per_quality"][quality]["ber"] for row in carried]
        summary.append(
            {
                "quality": quality,
                "images": len(rows),
                "recovered": sum(row["per_quality"][quality]["recovered"] for row in rows),
                "ber_mean": float(np.mean(bers)) if bers else None,
                "ber_max": float(np.max(bers)) if bers else None,
                "net_bpp_mean": float(np.mean([row["net_bpp"] for row in rows])),
                "net_bpp_min": float(np.min([row["net_bpp"] for row in rows])),
                "psnr_mean": psnr_mean,
                "psnr_min": psnr_min,
                "ssim_mean": ssim_mean,
                "ssim_min": ssim_min,
            }
        )
    return summary


def sweep(
    images: Sequence[tuple[str, Image.Image]],
    embedder: Embedder,
    qualities: Sequence[int],
    quality_target: int,
    bch_t: int | None = None,
    bch_m: int = ecc.DEFAULT_BCH_M,
    seed: int = 0,
) -> dict:
    """Sweep ``images`` over JPEG ``qualities``; see :func:`sweep_image` and :func:`summarise`.

    Returns:
        ``{"method", "quality_target", "bch": "auto" or [t, m], "qualities": summary rows,
        "images": per-image rows}`` (JSON-serialisable).
    """
    qualities = list(qualities)
    rows = [
        sweep_image(name, cover, embedder, qualities, quality_target, bch_t, bch_m, seed + index)
        for index, (name, cover) in enumerate(images)
    ]
    return {
        "method": embedder.name,
        "quality_target": quality_target,
        "bch": "auto" if bch_t is None else [bch_t, bch_m],
        "qualities": summarise(rows, qualities),
        "images": rows,
    }


def report_json(report: dict) -> str:
    """The report as indented JSON."""
    return json.dumps(report, indent=2) + "\n"


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report_table(report: dict) -> str:
    """A plain-text table of the per-quality summary."""
    lines = [
        f"method {report['method']}, quality target {report['quality_target']}, BCH {report['bch']}",
        f"{'JPEG Q':>6} {'recovered':>10} {'BER mean':>9} {'BER max':>9} {'net bpp':>8} {'PSNR dB':>8} {'SSIM':>7}",
    ]
    for row in report["qualities"]:
        lines.append(
            f"{row['quality']:>6} {row['recovered']:>5}/{row['images']:<4} {_number(row['ber_mean'], '9.2e')} "
            f"{_number(row['ber_max'], '9.2e')} {row['net_bpp_mean']:8.4f} {_number(row['psnr_mean'], '8.2f')} "
            f"{_number(row['ssim_mean'], '7.4f')}"
        )
    return "\n".join(lines)


def report_plot(report: dict) -> bytes:
    """PNG bytes of a plot: raw BER (mean, max) and fraction recovered against JPEG quality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = report["qualities"]
    qualities = [row["quality"] for row in summary]
    floor = 1e-6  # log axis: zero errors are drawn at the floor
    figure, ber_axis = plt.subplots(figsize=(7, 4))
    for key, style in (("ber_mean", "o-"), ("ber_max", "s--")):
        values = [max(row[key], floor) if row[key] is not None else np.nan for row in summary]
        ber_axis.semilogy(qualities, values, style, label=key.replace("_", " "))
    ber_axis.set_xlabel("JPEG quality (Pillow, 4:2:0)")
    ber_axis.set_ylabel("raw bit-error rate")
    recovered_axis = ber_axis.twinx()
    recovered_axis.plot(qualities, [row["recovered"] / row["images"] for row in summary], "g^-", label="recovered")
    recovered_axis.set_ylabel("images recovered bit-exact")
    recovered_axis.set_ylim(-0.05, 1.05)
    handles = ber_axis.get_legend_handles_labels()[0] + recovered_axis.get_legend_handles_labels()[0]
    ber_axis.legend(handles, [h.get_label() for h in handles], loc="center right")
    ber_axis.set_title(
        f"{report['method']} (target Q{report['quality_target']}), "
        f"net {summary[0]['net_bpp_mean']:.3f} bpp, PSNR {_number(summary[0]['psnr_mean'], '.1f')} dB"
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
