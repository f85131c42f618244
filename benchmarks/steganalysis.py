"""Steganalysis benchmark: how detectable stegavox's stego photos are, next to non-robust peers.

Protocol (the literature's, on the photo the platform serves):

1. Each source photo is centre-cropped and resized (Lanczos) to 1600×1200 (1200×1600 if
   portrait): WhatsApp's long side.
2. For each mode of :data:`MODES` (:class:`benchmarks.stego_modes.Mode`: plain ``hide`` or a
   platform design, a message length in seconds of Codec2 1200 bit/s or the full capacity) the
   stego PNG is made, then the "platform" recompresses it: one Pillow JPEG at ``--quality``
   (4:2:0). The cover goes through the same JPEG.
3. ``--crops-per-photo`` 16-pixel-aligned ``--crop``×``--crop`` crops are cut at seeded
   positions (the same for the cover and every stego of a photo) *in the DCT domain* (jpeglib):
   no second compression.
4. Peers (non-robust, conseal simulators: J-UNIWARD, UERD, nsF5) embed into the luma of each
   cover crop the same number of message bits as the ``--peer-reference`` mode puts in the crop's
   area (``channel bits × crop area / image area``, as bits per non-zero AC coefficient of the
   cover crop); chroma untouched.
5. Features: DCTR (8000-D) and/or GFR (17000-D) of each crop (sealwatch), cached on disk by the
   sha256 of the JPEG bytes (``data/steganalysis_cache/``).
6. Detector: the FLD ensemble (Kodovský et al. 2012, sealwatch), trained on the crop pairs of a
   random half of the photos, tested on the other half (no photo on both sides), ``--splits``
   times. P_E = ½(P_FA + P_MD) of the ensemble's majority-vote decisions on the test half (the
   literature's figure; the minimum over thresholds of the vote score is also stored). Mean ± std
   over the splits. The ensemble's subspace size and number of learners are searched by default
   (slow: up to ~12 min per training on 96 DCTR pairs with 2 cores); ``--fld-d-sub 800
   --fld-learners 51`` fixes them (seconds).
7. Keyless statistics (no training, no key), ROC AUC cover vs stego over all photos at full size
   (0.5: no separation; >0.5: the statistic points at the stego image):

   * lattice: for each of the 12 first zig-zag AC frequencies of the 8×8 luma DCT and each QIM
     step a lattice design could use (JPEG Q30..Q95 entries × {1, 2, 2.5}, and the embedder's
     step rule), the periodicity Re mean(exp(2πi c/s)) over the coefficients with |c| > s/2,
     minus its mean at s×1.25 and s/1.25 (a lattice is a sharp peak; a photo's own histogram and
     a mere change of spread are smooth); max over frequencies and steps. On the stego PNG (what
     the sender uploads) and on the platform JPEG (there, steps whose lower neighbour is within
     10 % of the file's own quantisation step are skipped: every JPEG has that lattice);
   * histogram: *fewer* pixel values ≤ 2 or ≥ 253 in the PNG (what a soft knee against clipping
     leaves);
   * preamble: among blocks whose first AC coefficient is off the zero cell of the old public
     Q30×2 preamble lattice, the fraction within 10 % of a step of a lattice point (PNG, JPEG);
   * public INN (where a mode hides with ``--method inn``): the shipped INN (its weights are
     public) reveals its whole capacity; *filler*: the revealed bits' agreement with the public
     filler ``--method inn`` wrote after the message before 2026-12-03 (chance level both on a
     clean photo and with the keyed filler: the AUC then compares two chance levels, e.g. a
     clean photo's revealed bits are biased, a stego image's balanced); *confidence*: the mean
     |revealed value| (PNG, JPEG).

   The JPEG-side statistics are also computed on the crops (``*_crops``), where the peers can be
   compared.
8. Learned detector (``--zhunet-epochs`` > 0; off by default): the project's Zhu-Net (grey) on
   the luma of the crops decompressed without rounding, for the first ``--zhunet-splits`` photo
   splits of the FLD. ``--zhunet-val-photos`` photos of the training half validate (the rest
   train), the test half is never seen; whole cover/stego pairs per mini-batch, the same random
   8-aligned ``--zhunet-train-crop`` sub-crop, flip and quarter turn on both images of a pair;
   Adamax, learning rate halved on a validation-loss plateau; the weights of the lowest validation
   loss are tested, training stops after ``--zhunet-patience`` epochs without a lower one or at
   ``--zhunet-epochs``. P_E of its decisions on the test photos' crops, and the training curve.
   ``--zhunet-variants`` limits it to some modes or peers (one run is 20–40 min on two cores).

    python benchmarks/steganalysis.py [--photos-root data/real_photos --split heldout] [--features dctr gfr]
    python benchmarks/steganalysis.py --skimage --photos 4 --crops-per-photo 1 --modes "whatsapp 10 s" --splits 2

Writes ``steganalysis.json`` to ``--output`` (default benchmarks/results) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import io
import json
import os
import platform as host
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.stego_modes import Mode  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.metrics import psnr_8bit  # noqa: E402
from common.platforms import jpeg_bytes  # noqa: E402
from datamodules.sample_photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, fit_cover, sample_photo  # noqa: E402
from steganography.embedders.classical import (  # noqa: E402
    AC_POSITIONS,
    dct_basis,
    jpeg_luma_quantisation,
    lattice_steps,
    luma_blocks,
)

#: The stegavox modes measured (edit here; ``--modes`` picks by name).
MODES = (
    # The application's covert default (spread 16) at several message lengths.
    Mode("whatsapp 0 s (preamble and header only)", "whatsapp", 0.0),
    Mode("plain 1 s", None, 1.0),
    Mode("plain 4 s", None, 4.0),
    Mode("plain 10 s", None, 10.0),
    Mode("whatsapp 1 s", "whatsapp", 1.0),
    Mode("whatsapp 4 s", "whatsapp", 4.0),
    Mode("whatsapp 10 s", "whatsapp", 10.0),
    # Also robust to a crop that shifts the 8-px grid (the default before 2026-12-02 afternoon).
    Mode("whatsapp 4 s, crop-robust", "whatsapp", 4.0, crop_robust=True),
    Mode("whatsapp 10 s, crop-robust", "whatsapp", 10.0, crop_robust=True),
    # The design's own lattice only (no finer one; before 2026-12-02 night).
    Mode("whatsapp 4 s, one lattice", "whatsapp", 4.0, ladder=False),
    Mode("whatsapp 10 s, one lattice", "whatsapp", 10.0, ladder=False),
    # Other spreads at the same message, and the detectable maximum (one coefficient per bit).
    Mode("plain 10 s spread 1", None, 10.0, (("spread", 1),)),
    Mode("whatsapp 10 s spread 1", "whatsapp", 10.0, (("spread", 1),)),
    # The change of a group shared by other powers of the cost (1: before 2026-12-02 evening), and a shallower move.
    Mode("whatsapp 10 s cost^1", "whatsapp", 10.0, (("cost_exponent", 1.0),)),
    Mode("whatsapp 10 s cost^2", "whatsapp", 10.0, (("cost_exponent", 2.0),)),
    Mode("whatsapp 10 s cost^3", "whatsapp", 10.0, (("cost_exponent", 3.0),)),
    Mode("whatsapp 10 s margin 0.45", "whatsapp", 10.0, (("margin", 0.45),)),
    Mode("plain 10 s cost^1", None, 10.0, (("cost_exponent", 1.0),)),
    # The whole capacity of the covert design (spread 16), whatever its length.
    Mode("whatsapp full covert design", "whatsapp", None, (("spread", 16),)),
    Mode("whatsapp 10 s spread 2", "whatsapp", 10.0, (("spread", 2),)),
    Mode("whatsapp 10 s spread 4", "whatsapp", 10.0, (("spread", 4),)),
    Mode("whatsapp 10 s spread 8", "whatsapp", 10.0, (("spread", 8),)),
    Mode("whatsapp 10 s spread 16, 24 per block", "whatsapp", 10.0, (("spread", 16), ("bits_per_block", 24))),
    Mode("whatsapp 10 s spread 32, 48 per block", "whatsapp", 10.0, (("spread", 32), ("bits_per_block", 48))),
    Mode("whatsapp 10 s spread 32, 16 per block", "whatsapp", 10.0, (("spread", 32), ("bits_per_block", 16))),
    Mode("plain full (maximum)", None, None, (("spread", 1),)),
    Mode("whatsapp full (maximum)", "whatsapp", None, (("spread", 1),)),
    # The canonical-grid INN of `--platform any` (the cover keeps its size; the strength follows the message).
    Mode("any 1 s", "any", 1.0),
    Mode("any 5 s", "any", 5.0),
    # The learned hider of plain `hide --method inn` (the shipped inn_small.pt; its whole capacity is written).
    Mode("inn 1 s", None, 1.0, method="inn"),
    Mode("inn 5 s", None, 5.0, method="inn"),
)
#: Non-robust JPEG peers (conseal simulators), embedding in the luma DCT of the crops.
PEERS = ("J-UNIWARD", "UERD", "nsF5")
#: Cover size (landscape; portrait photos get the transpose): WhatsApp's long side.
COVER_SIZE = (1600, 1200)
#: Crop positions are aligned to the 4:2:0 MCU, so that chroma is cut on block boundaries too.
CROP_ALIGN = 16
#: Photos of ``--skimage`` (colour and grey samples of scikit-image, upscaled where small).
SKIMAGE_PHOTOS = HELD_OUT_PHOTOS + TRAIN_PHOTOS
#: Keyless lattice scan: AC frequencies scanned, candidate qualities and step multiples.
SCAN_FREQUENCIES = 12
SCAN_QUALITIES = range(30, 96)
SCAN_MULTIPLES = (1.0, 2.0, 2.5)
#: A candidate step's periodicity is compared with that at this ratio above and below it.
SCAN_NEIGHBOUR_RATIO = 1.25
#: Fewest coefficients above half a step for a candidate step to count.
SCAN_MIN_COUNT = 128
#: The public lattice of the first AC coefficient that the classical embedder's preamble once used
#: (Q30 table entry × 2, no dither): the tell of :func:`preamble_fraction`.
OLD_PREAMBLE_QUALITY = 30
OLD_PREAMBLE_STEP_MULTIPLE = 2.0
#: The public filler `--method inn` wrote after the message before 2026-12-03:
#: ``numpy.random.default_rng(OLD_INN_FILLER_SEED)`` bits, the tell :func:`public_inn_reveal` looks for.
OLD_INN_FILLER_SEED = 0x1CE
#: Highest peer payload (bits per non-zero AC); the reference's share is clipped to it.
PEER_MAX_ALPHA = 1.0
FEATURES = ("dctr", "gfr")
CACHE = ROOT / "data" / "steganalysis_cache"


# --------------------------------------------------------------------------- photos and crops


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from ``parts`` (stable across runs and processes, unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little") >> 1


def cover_size(image: Image.Image) -> tuple[int, int]:
    """:data:`COVER_SIZE`, transposed for a portrait ``image``."""
    width, height = COVER_SIZE
    return (height, width) if image.height > image.width else (width, height)


def make_cover(image: Image.Image) -> Image.Image:
    """The benchmark cover of a source photo: centre crop and Lanczos resize to :func:`cover_size`."""
    return fit_cover(image, *cover_size(image))


def photo_sources(args: argparse.Namespace) -> list[dict]:
    """Source photos: ``{"package", "name", "source"}`` per photo (``source`` says how to load it)."""
    if args.skimage:
        return [{"package": "scikit-image", "name": name, "source": ("skimage", name)} for name in SKIMAGE_PHOTOS[: args.photos]]
    from datamodules import real_photos  # written alongside; imported only when used

    rows = [row for row in real_photos.read_manifest(args.photos_root) if row["split"] == args.split]
    if not rows:
        raise SystemExit(f"no photos of split {args.split!r} in {args.photos_root}")
    return [{"package": row["package"], "name": row["name"], "licence": row.get("licence"), "source": ("real", str(args.photos_root), dict(row))}
            for row in rows[: args.photos]]


def load_source(source: tuple) -> Image.Image:
    """The RGB source photo of :func:`photo_sources`' ``source``."""
    if source[0] == "skimage":
        return Image.fromarray(sample_photo(source[1]))
    from datamodules import real_photos

    return real_photos.load_photo(Path(source[1]), source[2]).convert("RGB")


def crop_positions(width: int, height: int, size: int, count: int, seed: int, align: int = CROP_ALIGN) -> list[tuple[int, int]]:
    """``count`` seeded ``(top, left)`` corners of ``size`` crops, multiples of ``align``, inside the image."""
    rng = np.random.default_rng(seed)
    rows, cols = (height - size) // align + 1, (width - size) // align + 1
    if rows < 1 or cols < 1:
        raise ValueError(f"a {size}-pixel crop does not fit in {width}x{height}")
    return [(align * int(rng.integers(rows)), align * int(rng.integers(cols))) for _ in range(count)]


@contextlib.contextmanager
def jpeg_file(data: bytes | None = None) -> Iterator[str]:
    """A temporary ``.jpg`` path holding ``data`` (jpeglib and sealwatch read and write paths)."""
    handle, path = tempfile.mkstemp(suffix=".jpg")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data or b"")
        yield path
    finally:
        os.unlink(path)


def read_dct(data: bytes):
    """jpeglib's DCT view (``Y``: ``(bh, bw, 8, 8)``, ``Cb``, ``Cr``, ``qt``) of JPEG bytes, loaded."""
    import jpeglib

    with jpeg_file(data) as path:
        jpeg = jpeglib.read_dct(path)
        jpeg.load()
    return jpeg


def write_dct(Y: np.ndarray, Cb: np.ndarray, Cr: np.ndarray, qt: np.ndarray, quant_tbl_no) -> bytes:
    """JPEG bytes of quantised DCT planes (no new quantisation)."""
    import jpeglib

    jpeg = jpeglib.from_dct(Y=np.ascontiguousarray(Y), Cb=np.ascontiguousarray(Cb), Cr=np.ascontiguousarray(Cr), qt=qt, quant_tbl_no=quant_tbl_no)
    with jpeg_file() as path:
        jpeg.write_dct(path)
        return Path(path).read_bytes()


def crop_jpeg(data: bytes, top: int, left: int, size: int) -> bytes:
    """The ``size`` crop at ``(top, left)`` of a 4:2:0 (or 4:4:4) JPEG, cut losslessly in the DCT domain.

    Raises:
        ValueError: the crop is not on the chroma MCU grid.
    """
    jpeg = read_dct(data)
    factor = 8 * int(jpeg.samp_factor[0][0]), 8 * int(jpeg.samp_factor[0][1])  # luma pixels per chroma block (v, h)
    if top % factor[0] or left % factor[1] or size % factor[0] or size % factor[1]:
        raise ValueError(f"crop {size} at ({top}, {left}) is not aligned to the {factor} chroma blocks")
    luma = jpeg.Y[top // 8 : (top + size) // 8, left // 8 : (left + size) // 8]
    rows, cols = slice(top // factor[0], (top + size) // factor[0]), slice(left // factor[1], (left + size) // factor[1])
    return write_dct(luma, jpeg.Cb[rows, cols], jpeg.Cr[rows, cols], jpeg.qt, jpeg.quant_tbl_no)


def nzac(Y: np.ndarray) -> int:
    """Non-zero AC coefficients of a ``(bh, bw, 8, 8)`` DCT plane."""
    return int(np.count_nonzero(Y) - np.count_nonzero(Y[:, :, 0, 0]))


def decode(data: bytes) -> np.ndarray:
    """Decoded RGB ``(H, W, 3)`` uint8 of image bytes (Pillow, as the receiver and Zhu-Net see it)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


# --------------------------------------------------------------------------- peers


def simulate_peer(name: str, data: bytes, alpha: float, seed: int) -> bytes:
    """A crop JPEG after ``name``'s embedding simulator at ``alpha`` bits per non-zero AC of its luma.

    The peers change only the quantised luma DCT; chroma and tables are written back as they were.
    """
    import warnings

    import conseal
    import jpeglib

    jpeg = read_dct(data)
    if alpha <= 0 or nzac(jpeg.Y) == 0:
        return data
    qt = jpeg.qt[jpeg.quant_tbl_no[0]]
    # conseal warns when its payload search stops at 30 halvings of λ (the payload is then within
    # a fraction of a bit of the target for these sizes): not worth a line per crop.
    warnings.filterwarnings("ignore", "optimization might not have converged", RuntimeWarning)
    if name == "J-UNIWARD":
        with jpeg_file(data) as path:
            x0 = jpeglib.read_spatial(path, jpeglib.JCS_GRAYSCALE).spatial[..., 0]
        Y = conseal.juniward.simulate_single_channel(x0=x0, y0=jpeg.Y, qt=qt, alpha=alpha, seed=seed)
    elif name == "UERD":
        Y = conseal.uerd.simulate_single_channel(y0=jpeg.Y, qt=qt, alpha=alpha, seed=seed)
    elif name == "nsF5":
        Y = conseal.nsF5.simulate_single_channel(y0=jpeg.Y, alpha=alpha, seed=seed)
    else:
        raise ValueError(f"unknown peer {name!r}")
    return write_dct(Y.astype(np.int16), jpeg.Cb, jpeg.Cr, jpeg.qt, jpeg.quant_tbl_no)


# --------------------------------------------------------------------------- keyless statistics


def lattice_candidates(count: int = SCAN_FREQUENCIES) -> list[np.ndarray]:
    """Candidate QIM steps per AC frequency: JPEG Q30..Q95 entries × {1, 2, 2.5} and the
    embedder's own step rule (:func:`lattice_steps`) at those, at least 2."""
    rows, cols = AC_POSITIONS[:count].T
    steps: list[set[float]] = [set() for _ in range(count)]
    for quality in SCAN_QUALITIES:
        entries = jpeg_luma_quantisation(quality)[rows, cols].astype(np.float64)
        for multiple in SCAN_MULTIPLES:
            for index, step in enumerate(np.concatenate([entries * multiple, lattice_steps(quality, count, multiple)])):
                steps[index % count].add(float(step))
    return [np.array(sorted(step for step in found if step >= 2.0)) for found in steps]


def block_ac(rgb: np.ndarray, count: int = SCAN_FREQUENCIES) -> np.ndarray:
    """The first ``count`` zig-zag AC coefficients of every 8×8 luma block, ``(blocks, count)``."""
    return luma_blocks(np.asarray(rgb, dtype=np.float32)) @ dct_basis(AC_POSITIONS[:count]).T


def periodicity(values: np.ndarray, step: float, min_count: int = SCAN_MIN_COUNT, ratio: float = SCAN_NEIGHBOUR_RATIO) -> float:
    """Lattice peak of ``values`` at ``step``: Re mean(exp(2πi c/step)) minus the mean of the same
    at ``step × ratio`` and ``step / ratio``, over the values with |c| > step/2 (NaN with fewer
    than ``min_count``).

    A lattice through 0 puts the phases at 0 (+1) at its own step only: a sharp peak. A smooth
    histogram gives a smooth curve (values piled up just above the threshold even give a dip),
    and so does a change of its spread (e.g. a dithered lattice), which the neighbours cancel.
    """
    chosen = values[np.abs(values) > step / 2]
    if chosen.size < min_count:
        return float("nan")

    def coherence(period: float) -> float:
        return float(np.cos((2 * np.pi / period) * chosen).mean())

    return coherence(step) - 0.5 * (coherence(step * ratio) + coherence(step / ratio))


def lattice_map(rgb: np.ndarray, candidates: list[np.ndarray], file_table: np.ndarray | None = None) -> list[np.ndarray]:
    """:func:`periodicity` per frequency and candidate step. With a JPEG's luma ``file_table``
    (natural order), steps whose lower neighbour is within 10 % of the file's own step are NaN:
    every JPEG has a lattice there."""
    coefficients = block_ac(rgb, len(candidates))
    found = []
    for index, steps in enumerate(candidates):
        floor = 0.0 if file_table is None else 1.1 * SCAN_NEIGHBOUR_RATIO * float(file_table[tuple(AC_POSITIONS[index])])
        found.append(np.array([periodicity(coefficients[:, index], float(step)) if step > floor else np.nan for step in steps]))
    return found


def lattice_score(rgb: np.ndarray, candidates: list[np.ndarray], file_table: np.ndarray | None = None) -> float:
    """Keyless QIM-lattice score: max of :func:`lattice_map` over frequencies and candidate steps."""
    finite = [value for values in lattice_map(rgb, candidates, file_table) for value in values if np.isfinite(value)]
    return float(max(finite, default=0.0))


def saturation_fraction(rgb: np.ndarray) -> float:
    """Fraction of RGB values ≤ 2 or ≥ 253."""
    rgb = np.asarray(rgb)
    return float(np.mean((rgb <= 2) | (rgb >= 253)))


def preamble_fraction(rgb: np.ndarray) -> float:
    """Among the 8×8 blocks whose first AC coefficient is over half a step of the old public
    preamble lattice (Q30 entry × 2, :data:`OLD_PREAMBLE_QUALITY`) away from 0, the fraction within
    10 % of a step of a lattice point (the zero cell is left out: flat blocks sit there in any photo)."""
    step = OLD_PREAMBLE_STEP_MULTIPLE * float(jpeg_luma_quantisation(OLD_PREAMBLE_QUALITY)[tuple(AC_POSITIONS[0])])
    ratio = block_ac(rgb, 1)[:, 0] / step
    ratio = ratio[np.abs(ratio) > 0.5]
    return float(np.mean(np.abs(ratio - np.round(ratio)) < 0.1)) if ratio.size else 0.0


@functools.cache
def shipped_inn():
    """The INN of ``--method inn`` as shipped (public weights: any steganalyst has them)."""
    from steganography.embedders.inn import INNEmbedder

    return INNEmbedder()


def public_inn_reveal(image: Image.Image) -> tuple[float, float]:
    """What the shipped INN reveals over its whole capacity of ``image``, without a key: the mean
    agreement (+1 / −1) of its bits with the old public filler of :data:`OLD_INN_FILLER_SEED`
    (about 0 on a clean photo; near 1 where most of the capacity was that filler), and the mean
    |revealed value| (its confidence)."""
    embedder = shipped_inn()
    capacity = embedder.capacity_bits(*image.size)
    revealed = embedder.extract_soft(image, capacity)
    filler = np.random.default_rng(OLD_INN_FILLER_SEED).integers(0, 2, capacity, dtype=np.uint8).astype(bool)
    return float(np.mean(np.where((revealed > 0) == filler, 1.0, -1.0))), float(np.abs(revealed).mean())


def keyless_png(rgb: np.ndarray, candidates: list[np.ndarray]) -> dict[str, float]:
    """Keyless statistics of an uploaded (lossless) image; each oriented so that larger = more stego-like."""
    return {"lattice_png": lattice_score(rgb, candidates),
            "histogram_png": -saturation_fraction(rgb), "preamble_png": preamble_fraction(rgb)}


def keyless_jpeg(data: bytes, candidates: list[np.ndarray], suffix: str = "") -> dict[str, float]:
    """Keyless statistics of a JPEG (decoded, as any receiver), larger = more stego-like."""
    jpeg = read_dct(data)
    table = jpeg.qt[jpeg.quant_tbl_no[0]]
    rgb = decode(data)
    return {f"lattice_jpeg{suffix}": lattice_score(rgb, candidates, table),
            f"preamble_jpeg{suffix}": preamble_fraction(rgb)}


def auc(negatives: Sequence[float], positives: Sequence[float]) -> float:
    """ROC AUC of scores separating ``positives`` (stego) from ``negatives`` (cover); ties count ½."""
    negatives, positives = np.asarray(negatives, dtype=np.float64), np.asarray(positives, dtype=np.float64)
    if not negatives.size or not positives.size:
        return float("nan")
    greater = (positives[:, None] > negatives[None, :]).mean()
    equal = (positives[:, None] == negatives[None, :]).mean()
    return float(greater + 0.5 * equal)


# --------------------------------------------------------------------------- per photo


@dataclasses.dataclass(frozen=True)
class Settings:
    """What :func:`process_photo` needs (picklable for the worker pool)."""

    quality: int
    crop: int
    crops_per_photo: int
    modes: tuple[Mode, ...]
    reference: Mode
    peers: tuple[str, ...]

    @property
    def public_inn(self) -> bool:
        """Whether a mode hides with ``--method inn`` (then :func:`public_inn_reveal` is measured)."""
        return any(mode.method == "inn" for mode in self.modes)


def public_inn_statistics(image: Image.Image, jpeg: bytes, settings: Settings) -> dict[str, float]:
    """:func:`public_inn_reveal` of an uploaded image and of its platform JPEG (none unless
    :attr:`Settings.public_inn`)."""
    if not settings.public_inn:
        return {}
    statistics = {}
    for suffix, received in (("png", image), ("jpeg", Image.open(io.BytesIO(jpeg)))):
        statistics[f"filler_{suffix}"], statistics[f"inn_confidence_{suffix}"] = public_inn_reveal(received)
    return statistics


def process_photo(index: int, source: tuple, settings: Settings) -> dict:
    """Cover, stegos and peers of one photo: crop JPEGs and per-image statistics.

    Returns:
        ``{"size", "cover": {...}, "modes": {name: {...}}, "peers": {name: {...}}}``; each entry
        holds ``crops`` (JPEG bytes, the same positions throughout) and its keyless statistics.
    """
    started = time.perf_counter()
    cover = make_cover(load_source(source))
    width, height = cover.size
    area_share = settings.crop**2 / (width * height)
    candidates = lattice_candidates()
    positions = crop_positions(width, height, settings.crop, settings.crops_per_photo, stable_seed("crops", index))
    cover_rgb = np.asarray(cover)
    cover_jpeg = jpeg_bytes(cover, settings.quality)
    cover_decoded = decode(cover_jpeg)
    cover_crops = [crop_jpeg(cover_jpeg, top, left, settings.crop) for top, left in positions]
    cover_nzac = [nzac(read_dct(data).Y) for data in cover_crops]
    out = {
        "size": [width, height],
        "positions": positions,
        "cover": {"crops": cover_crops, "nzac": cover_nzac,
                  "keyless": keyless_png(cover_rgb, candidates) | keyless_jpeg(cover_jpeg, candidates)
                  | public_inn_statistics(cover, cover_jpeg, settings),
                  "keyless_crops": [keyless_jpeg(data, candidates, "_crops") for data in cover_crops]},
        "modes": {},
        "peers": {},
    }
    reference_bits = None
    for mode in dict.fromkeys((*settings.modes, settings.reference)):
        try:
            stego, bits = mode.stego(cover, stable_seed("mode", index, mode.name))
        except (ValueError, InputError) as err:  # too long for this cover, or no code carries it
            out["modes"][mode.name] = {"error": str(err)}
            continue
        if mode == settings.reference:
            reference_bits = bits
        if mode not in settings.modes:
            continue
        stego_rgb = np.asarray(stego.convert("RGB"))
        stego_jpeg = jpeg_bytes(stego, settings.quality)
        crops = [crop_jpeg(stego_jpeg, top, left, settings.crop) for top, left in positions]
        out["modes"][mode.name] = {
            "bits": bits,
            "psnr_png": psnr_8bit(stego_rgb, cover_rgb),
            "psnr_jpeg": psnr_8bit(decode(stego_jpeg), cover_decoded),
            "bpnzac": [bits * area_share / max(count, 1) for count in cover_nzac],
            "bpnzac_stego_nzac": [bits * area_share / max(nzac(read_dct(data).Y), 1) for data in crops],
            "crops": crops,
            "keyless": keyless_png(stego_rgb, candidates) | keyless_jpeg(stego_jpeg, candidates)
            | public_inn_statistics(stego, stego_jpeg, settings),
            "keyless_crops": [keyless_jpeg(data, candidates, "_crops") for data in crops],
        }
    for peer in settings.peers if reference_bits is not None else ():
        wanted = reference_bits * area_share
        alphas = [min(wanted / count, PEER_MAX_ALPHA) if count else 0.0 for count in cover_nzac]
        crops = [simulate_peer(peer, data, alpha, stable_seed("peer", index, peer, k)) for k, (data, alpha) in enumerate(zip(cover_crops, alphas))]
        out["peers"][peer] = {
            "bits_per_crop": [alpha * count for alpha, count in zip(alphas, cover_nzac)],
            "bpnzac": alphas,
            "clipped_crops": sum(wanted > PEER_MAX_ALPHA * count for count in cover_nzac),
            "psnr_jpeg_crops": [psnr_8bit(decode(s), decode(c)) for s, c in zip(crops, cover_crops)],
            "crops": crops,
            "keyless_crops": [keyless_jpeg(data, candidates, "_crops") for data in crops],
        }
    out["seconds"] = time.perf_counter() - started
    return out


def _process_photo_star(arguments: tuple) -> dict:
    return process_photo(*arguments)


# --------------------------------------------------------------------------- features


def feature_vector(path: str, feature: str, quality: int) -> np.ndarray:
    """DCTR or GFR features of a JPEG file as one float32 vector (a fixed order)."""
    import sealwatch

    if feature == "dctr":
        features = sealwatch.dctr.extract_from_file(path, qf=quality)
        return np.concatenate([np.ravel(features[key]) for key in features]).astype(np.float32)
    if feature == "gfr":
        return np.ravel(sealwatch.gfr.extract_from_file(path, qf=quality)).astype(np.float32)
    raise ValueError(f"unknown feature set {feature!r}")


def cached_features(data: bytes, feature: str, quality: int, cache: Path) -> np.ndarray:
    """:func:`feature_vector` of JPEG bytes, read from or written to ``cache`` (keyed by their sha256)."""
    path = cache / f"{feature}-q{quality}" / f"{hashlib.sha256(data).hexdigest()}.npz"
    if path.exists():
        return np.load(path)["features"]
    with jpeg_file(data) as jpeg_path:
        vector = feature_vector(jpeg_path, feature, quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(partial, features=vector)
    partial.replace(path)  # atomic: a concurrent reader never sees half a file
    return vector


def _cached_features_star(arguments: tuple) -> np.ndarray:
    return cached_features(*arguments)


def parallel_map(function: Callable, tasks: Iterable, pool) -> list:
    """``function`` over ``tasks`` in ``pool`` (in order), or in this process when ``pool`` is ``None``."""
    return list(pool.imap(function, tasks, chunksize=1)) if pool is not None else [function(task) for task in tasks]


# --------------------------------------------------------------------------- detectors


def photo_splits(photos: int, splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``splits`` random halves of photo indices ``0..photos-1``: (train, test), disjoint, seeded."""
    if photos < 2:
        raise ValueError("at least 2 photos are needed to split by photo")
    halves = []
    for split in range(splits):
        order = np.random.default_rng([seed, split]).permutation(photos)
        halves.append((np.sort(order[: photos // 2]), np.sort(order[photos // 2 :])))
    return halves


def pe_from_decisions(cover_decisions: np.ndarray, stego_decisions: np.ndarray) -> float:
    """½(P_FA + P_MD) of ±1 decisions (+1: stego)."""
    return 0.5 * (float(np.mean(np.asarray(cover_decisions) > 0)) + float(np.mean(np.asarray(stego_decisions) <= 0)))


def pe_min_threshold(cover_scores: np.ndarray, stego_scores: np.ndarray) -> float:
    """min over thresholds t of ½(P_FA + P_MD), deciding stego when score > t."""
    cover_scores, stego_scores = np.asarray(cover_scores, dtype=np.float64), np.asarray(stego_scores, dtype=np.float64)
    thresholds = np.concatenate([[-np.inf], np.unique(np.concatenate([cover_scores, stego_scores]))])
    false_alarm = (cover_scores[None, :] > thresholds[:, None]).mean(axis=1)
    missed = (stego_scores[None, :] <= thresholds[:, None]).mean(axis=1)
    return float(np.min(0.5 * (false_alarm + missed)))


def fld_split(cover: np.ndarray, stego: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int,
              d_sub: int | str = "automatic", learners: int | str = "automatic") -> dict:
    """Train the FLD ensemble on the ``train`` rows of paired features, test on the ``test`` rows.

    Returns:
        ``pe`` (majority vote), ``pe_min_threshold`` (vote score), the ensemble's ``d_sub`` and ``learners``.
    """
    from sealwatch.ensemble_classifier import FldEnsembleTrainer

    trainer = FldEnsembleTrainer(np.ascontiguousarray(cover[train], dtype=np.float64), np.ascontiguousarray(stego[train], dtype=np.float64),
                                 seed=seed, L=learners, d_sub=d_sub, verbose=0)
    ensemble, _ = trainer.train()
    return {"pe": pe_from_decisions(ensemble.predict(cover[test]), ensemble.predict(stego[test])),
            "pe_min_threshold": pe_min_threshold(ensemble.predict_confidence(cover[test]), ensemble.predict_confidence(stego[test])),
            "d_sub": int(ensemble.d_sub), "learners": ensemble.num_base_learners}


def _fld_split_star(arguments: tuple) -> dict:
    return fld_split(*arguments)


def fld_errors(cover: np.ndarray, stego: np.ndarray, photo: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], seed: int,
               d_sub: int | str = "automatic", learners: int | str = "automatic", pool=None) -> dict:
    """P_E of the FLD ensemble per split: train on the pairs of the training photos, test on the rest.

    Args:
        cover, stego: paired feature rows ``(pairs, dims)``.
        photo: the photo index of each pair.
        splits: (train photos, test photos) per split.
        d_sub, learners: the ensemble's subspace size and number of base learners ("automatic": searched).
        pool: worker pool for the splits (``None``: here).
    """
    jobs = []
    for number, (train, test) in enumerate(splits):
        train_rows, test_rows = np.isin(photo, train), np.isin(photo, test)
        if train_rows.any() and test_rows.any():
            jobs.append((cover, stego, train_rows, test_rows, seed + number, d_sub, learners))
    runs = parallel_map(_fld_split_star, jobs, pool)
    return {"pe": mean_std([run["pe"] for run in runs]), "pe_min_threshold": mean_std([run["pe_min_threshold"] for run in runs]),
            "pe_splits": [run["pe"] for run in runs], "ensembles": [{"d_sub": run["d_sub"], "learners": run["learners"]} for run in runs]}


def mean_std(values: Sequence[float]) -> dict:
    return {"mean": float(np.mean(values)) if len(values) else None, "std": float(np.std(values)) if len(values) else None}


@dataclasses.dataclass(frozen=True)
class ZhuNetSettings:
    """How the learned detector is trained (:func:`zhunet_split`).

    Attributes:
        max_epochs: cap on the training epochs.
        patience: stop after this many epochs without a lower validation loss.
        val_photos: photos of each training half kept for validation (early stopping, model selection).
        train_crop: side of the random 8-aligned sub-crops trained on (0: the whole crop); the
            validation and test crops are always whole.
        batch_pairs: cover/stego pairs per mini-batch (both images of a pair in the same batch).
        lr: Adamax's initial learning rate (halved when the validation loss stalls for 3 epochs).
        splits: how many of the FLD's photo splits are used (the first ones).
        variants: the modes or peers it is trained for (None: every variant of the run).
    """

    max_epochs: int
    patience: int = 10
    val_photos: int = 4
    train_crop: int = 128
    batch_pairs: int = 8
    lr: float = 1e-3
    splits: int = 2
    variants: tuple[str, ...] | None = None


def decompress_luma(data: bytes) -> np.ndarray:
    """The luma of JPEG bytes decompressed without rounding or clipping (dequantised DCT, inverse
    DCT, +128), float32 ``(H, W)``: what a steganalyst computes from the file, with no rounding loss."""
    from scipy.fft import idctn

    jpeg = read_dct(data)
    table = jpeg.qt[jpeg.quant_tbl_no[0]].astype(np.float64)
    blocks = idctn(jpeg.Y * table, axes=(2, 3), norm="ortho") + 128.0
    rows, cols = jpeg.Y.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(8 * rows, 8 * cols).astype(np.float32)


def augment_pair(cover: np.ndarray, stego: np.ndarray, rng: np.random.Generator, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """The same random 8-aligned ``crop`` (0: whole), flip and quarter turn applied to a cover and its stego.

    On images whose sides are multiples of 8 these keep the 8×8 JPEG grid on block boundaries.
    """
    if crop:
        top = 8 * int(rng.integers((cover.shape[0] - crop) // 8 + 1))
        left = 8 * int(rng.integers((cover.shape[1] - crop) // 8 + 1))
        cover, stego = cover[top : top + crop, left : left + crop], stego[top : top + crop, left : left + crop]
    if rng.integers(2):
        cover, stego = cover[:, ::-1], stego[:, ::-1]
    turns = int(rng.integers(4))
    return np.rot90(cover, turns), np.rot90(stego, turns)


def zhunet_inputs(luma: Sequence[np.ndarray]):
    """Zhu-Net's ``(B, 3, H, W)`` float tensor for luma images in grey levels (the grey model's BT.601
    weights sum to 1, so three equal channels give back the luma)."""
    import torch

    return torch.from_numpy(np.stack([np.ascontiguousarray(image) for image in luma]) / np.float32(255.0))[:, None].expand(-1, 3, -1, -1)


def zhunet_scores(model, cover: Sequence[np.ndarray], stego: Sequence[np.ndarray], batch: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Stego-minus-cover logits of the cover and stego images (eval mode) and their mean cross-entropy."""
    import torch

    model.eval()
    scores = []
    with torch.no_grad():
        for images in (cover, stego):
            scores.append(torch.cat([model(zhunet_inputs(images[i : i + batch])) for i in range(0, len(images), batch)]))
    logits = torch.cat(scores)
    labels = torch.cat([torch.zeros(len(cover), dtype=torch.long), torch.ones(len(stego), dtype=torch.long)])
    loss = float(torch.nn.functional.cross_entropy(logits, labels))
    margin = (logits[:, 1] - logits[:, 0]).numpy()
    return margin[: len(cover)], margin[len(cover) :], loss


def zhunet_split(cover: Sequence[np.ndarray], stego: Sequence[np.ndarray], photo: np.ndarray, split: tuple[np.ndarray, np.ndarray],
                 settings: ZhuNetSettings, seed: int) -> dict:
    """Train Zhu-Net (grey) on the pairs of a split's training photos, test it on its test photos.

    ``settings.val_photos`` seeded photos of the training half validate: the weights of the epoch
    with the lowest validation loss are tested, and training stops after ``settings.patience``
    epochs without a lower one (or at ``settings.max_epochs``). Each mini-batch holds whole
    cover/stego pairs, augmented identically (:func:`augment_pair`); Adamax, the learning rate
    halved after 3 epochs without a lower validation loss.

    Returns:
        test ``pe`` (argmax decisions), ``pe_min_threshold`` (over the logit margin),
        ``test_accuracy``, the ``curve`` (epoch, train loss and accuracy, validation loss and
        accuracy, learning rate, seconds), ``best_epoch``, ``epochs`` run and the photos used.
    """
    import copy

    import torch

    from steganography.models.zhunet import ZhuNet

    rng = np.random.default_rng([seed, 18])
    train_photos = np.asarray(split[0])
    if not 0 < settings.val_photos < len(train_photos):
        raise ValueError(f"cannot keep {settings.val_photos} of {len(train_photos)} training photos for validation")
    val_photos = np.sort(rng.choice(train_photos, settings.val_photos, replace=False))
    fit_photos = np.setdiff1d(train_photos, val_photos)

    def rows(photos: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(photo, photos))

    fit, val, test = rows(fit_photos), rows(val_photos), rows(split[1])
    if not (fit.size and val.size and test.size):
        raise ValueError("every one of the training, validation and test photos needs crops")
    torch.manual_seed(seed)
    model = ZhuNet(colour="grey")
    optimiser = torch.optim.Adamax(model.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=3)
    batch = 2 * settings.batch_pairs
    curve, best, best_state, started = [], None, None, time.perf_counter()
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        order, losses, correct = rng.permutation(fit), [], 0
        for start in range(0, len(order), settings.batch_pairs):
            pairs = [augment_pair(cover[i], stego[i], rng, settings.train_crop) for i in order[start : start + settings.batch_pairs]]
            images = zhunet_inputs([c for c, _ in pairs] + [s for _, s in pairs])
            labels = torch.cat([torch.zeros(len(pairs), dtype=torch.long), torch.ones(len(pairs), dtype=torch.long)])
            logits = model(images)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item() * len(labels))
            correct += int((logits.argmax(1) == labels).sum())
        cover_margin, stego_margin, val_loss = zhunet_scores(model, [cover[i] for i in val], [stego[i] for i in val], batch)
        curve.append({"epoch": epoch, "train_loss": float(np.sum(losses) / (2 * len(fit))), "train_accuracy": correct / (2 * len(fit)),
                      "val_loss": val_loss, "val_accuracy": 1.0 - pe_from_decisions(cover_margin, stego_margin),
                      "lr": optimiser.param_groups[0]["lr"], "seconds": round(time.perf_counter() - started, 1)})
        print(f"  Zhu-Net epoch {epoch}: {curve[-1]}", flush=True)
        scheduler.step(val_loss)
        if best is None or val_loss < curve[best - 1]["val_loss"]:
            best, best_state = epoch, copy.deepcopy(model.state_dict())
        elif epoch - best >= settings.patience:
            break
    model.load_state_dict(best_state)
    cover_margin, stego_margin, test_loss = zhunet_scores(model, [cover[i] for i in test], [stego[i] for i in test], batch)
    pe = pe_from_decisions(cover_margin, stego_margin)
    return {"pe": pe, "pe_min_threshold": pe_min_threshold(cover_margin, stego_margin), "test_accuracy": 1.0 - pe, "test_loss": test_loss,
            "best_epoch": best, "epochs": len(curve), "curve": curve, "seconds": round(time.perf_counter() - started, 1),
            "pairs": {"train": int(fit.size), "val": int(val.size), "test": int(test.size)},
            "photos": {"train": fit_photos.tolist(), "val": val_photos.tolist(), "test": np.asarray(split[1]).tolist()}}


def zhunet_errors(cover: Sequence[np.ndarray], stego: Sequence[np.ndarray], photo: np.ndarray,
                  splits: list[tuple[np.ndarray, np.ndarray]], settings: ZhuNetSettings, seed: int) -> dict:
    """:func:`zhunet_split` on the first ``settings.splits`` photo splits: P_E and test accuracy, mean ± std."""
    runs = [zhunet_split(cover, stego, photo, split, settings, seed + number) for number, split in enumerate(splits[: settings.splits])]
    return {"pe": mean_std([run["pe"] for run in runs]), "pe_min_threshold": mean_std([run["pe_min_threshold"] for run in runs]),
            "test_accuracy": mean_std([run["test_accuracy"] for run in runs]), "pe_splits": [run["pe"] for run in runs], "runs": runs}


# --------------------------------------------------------------------------- run


def automatic_or_int(text: str) -> int | str:
    """``"automatic"`` (or ``"auto"``) or a positive integer (argparse type)."""
    if text in ("auto", "automatic"):
        return "automatic"
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'automatic', got {text!r}")
    return value


def select_modes(names: Sequence[str] | None, canonical_checkpoint: Path | None = None) -> tuple[Mode, ...]:
    """The modes of :data:`MODES` named in ``names`` (all when ``None``); with
    ``canonical_checkpoint`` the ``any`` modes use those weights (named after the file)."""
    known = {mode.name: mode for mode in MODES}
    unknown = [name for name in names or () if name not in known]
    if unknown:
        raise SystemExit(f"unknown modes {unknown}; known: {list(known)}")
    modes = tuple(known[name] for name in names) if names else MODES
    if canonical_checkpoint is None:
        return modes
    return tuple(
        dataclasses.replace(mode, name=f"{mode.name}, {canonical_checkpoint.stem}",
                            embedder_options=(*mode.embedder_options, ("checkpoint", str(canonical_checkpoint))))
        if mode.platform == "any" else mode
        for mode in modes
    )  # fmt: skip


def summarise(photos: list[dict], args: argparse.Namespace, pool) -> dict:
    """Per variant (mode or peer): bits, bpnzac, PSNR, P_E per feature set, keyless AUCs, Zhu-Net."""
    splits = photo_splits(len(photos), args.splits, args.seed)
    cover_crops = [data for photo in photos for data in photo["cover"]["crops"]]
    crop_photo = np.array([index for index, photo in enumerate(photos) for _ in photo["cover"]["crops"]])
    variants = [("mode", name) for name in dict.fromkeys(n for p in photos for n in p["modes"]) if name in args.mode_names]
    variants += [("peer", name) for name in dict.fromkeys(n for p in photos for n in p["peers"])]
    features = {}
    for feature in args.features:
        blobs = cover_crops + [data for kind, name in variants for photo in photos for data in photo[f"{kind}s"].get(name, {}).get("crops", [])]
        unique = list(dict.fromkeys(blobs))
        started = time.perf_counter()
        vectors = dict(zip(unique, parallel_map(_cached_features_star, [(data, feature, args.quality, args.cache) for data in unique], pool)))
        print(f"{feature}: {len(unique)} crops in {time.perf_counter() - started:.0f} s", flush=True)
        features[feature] = vectors
    cover_keyless = [photo["cover"]["keyless"] for photo in photos]
    cover_keyless_crops = [stats for photo in photos for stats in photo["cover"]["keyless_crops"]]
    rows, luma = {}, {}
    for kind, name in variants:
        present = [i for i, photo in enumerate(photos) if "crops" in photo[f"{kind}s"].get(name, {})]
        entries = [photos[i][f"{kind}s"][name] for i in present]
        pair_rows = np.isin(crop_photo, present)
        stego_crops = [data for entry in entries for data in entry["crops"]]
        paired_cover = [data for data, keep in zip(cover_crops, pair_rows) if keep]
        row = {"kind": kind, "photos": len(present), "crops": len(stego_crops)}
        if kind == "mode":
            row |= {"channel_bits": float(np.mean([e["bits"] for e in entries])),
                    "bits_per_crop": float(np.mean([e["bits"] for e in entries])) * args.crop**2 / (COVER_SIZE[0] * COVER_SIZE[1]),
                    "bpnzac": float(np.median([v for e in entries for v in e["bpnzac"]])),
                    "bpnzac_stego_nzac": float(np.median([v for e in entries for v in e["bpnzac_stego_nzac"]])),
                    "psnr_png": float(np.mean([e["psnr_png"] for e in entries])),
                    "psnr_jpeg": float(np.mean([e["psnr_jpeg"] for e in entries]))}
            keyless = {key: auc([cover_keyless[i][key] for i in present], [e["keyless"][key] for e in entries]) for key in cover_keyless[0]}
        else:
            row |= {"reference": args.peer_reference,
                    "bits_per_crop": float(np.mean([v for e in entries for v in e["bits_per_crop"]])),
                    "bpnzac": float(np.median([v for e in entries for v in e["bpnzac"]])),
                    "clipped_crops": int(sum(e["clipped_crops"] for e in entries)),
                    "psnr_jpeg_crops": float(np.mean([v for e in entries for v in e["psnr_jpeg_crops"]]))}
            keyless = {}
        stego_keyless_crops = [stats for e in entries for stats in e["keyless_crops"]]
        paired_keyless = [stats for stats, keep in zip(cover_keyless_crops, pair_rows) if keep]
        keyless |= {key: auc([s[key] for s in paired_keyless], [s[key] for s in stego_keyless_crops]) for key in cover_keyless_crops[0]}
        row["keyless_auc"] = keyless
        row["detectors"] = {}
        for feature, vectors in features.items():
            cover_x = np.stack([vectors[data] for data in paired_cover])
            stego_x = np.stack([vectors[data] for data in stego_crops])
            started = time.perf_counter()
            row["detectors"][feature] = fld_errors(cover_x, stego_x, crop_photo[pair_rows], splits, args.seed, args.fld_d_sub, args.fld_learners, pool)
            print(f"{name}: FLD ensemble on {feature} in {time.perf_counter() - started:.0f} s, P_E {row['detectors'][feature]['pe']}", flush=True)
        if args.zhunet.max_epochs > 0 and (args.zhunet.variants is None or name in args.zhunet.variants):
            for data in paired_cover + stego_crops:
                if data not in luma:
                    luma[data] = decompress_luma(data)
            started = time.perf_counter()
            row["zhunet"] = zhunet_errors([luma[data] for data in paired_cover], [luma[data] for data in stego_crops],
                                          crop_photo[pair_rows], splits, args.zhunet, args.seed)
            print(f"{name}: Zhu-Net in {time.perf_counter() - started:.0f} s, P_E {row['zhunet']['pe']} (splits {row['zhunet']['pe_splits']})",
                  flush=True)
        rows[name] = row
    return {"splits": [{"train": [int(i) for i in train], "test": [int(i) for i in test]} for train, test in splits], "variants": rows}


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def print_table(result: dict) -> None:
    features = result["settings"]["features"]
    zhunet = result["settings"]["zhunet"]["max_epochs"] > 0
    pe_columns = "".join(f" P_E {feature.upper()} |" for feature in FEATURES)
    print(f"\n| mode | bits | bits per crop | bpnzac | PSNR dB (PNG / JPEG) |{pe_columns} lattice AUC (PNG / JPEG / crops) | "
          f"histogram AUC | preamble AUC (PNG / JPEG / crops) | public INN filler / confidence AUC (PNG / JPEG) |{' P_E Zhu-Net |' if zhunet else ''}")
    print("| --- " * (11 + zhunet) + "|")
    for name, row in result["variants"].items():
        auc_ = row["keyless_auc"]
        pe = "".join(
            f" {fmt(row['detectors'][f]['pe']['mean'], 3)} ± {fmt(row['detectors'][f]['pe']['std'], 3)} |" if f in features else " – |"
            for f in FEATURES
        )
        if row["kind"] == "mode":
            label, bits, psnr = name, f"{row['channel_bits']:.0f}", f"{fmt(row['psnr_png'], 1)} / {fmt(row['psnr_jpeg'], 1)}"
        else:
            label, bits, psnr = f"{name} (bits of {row['reference']})", "–", f"– / {fmt(row['psnr_jpeg_crops'], 1)} (crops)"
        lattice = f"{fmt(auc_.get('lattice_png'))} / {fmt(auc_.get('lattice_jpeg'))} / {fmt(auc_.get('lattice_jpeg_crops'))}"
        preamble = f"{fmt(auc_.get('preamble_png'))} / {fmt(auc_.get('preamble_jpeg'))} / {fmt(auc_.get('preamble_jpeg_crops'))}"
        filler = (f"{fmt(auc_.get('filler_png'))} / {fmt(auc_.get('filler_jpeg'))}, "
                  f"{fmt(auc_.get('inn_confidence_png'))} / {fmt(auc_.get('inn_confidence_jpeg'))}")
        tail = "" if not zhunet else (f" {fmt(row['zhunet']['pe']['mean'], 3)} ± {fmt(row['zhunet']['pe']['std'], 3)} |" if "zhunet" in row else " – |")
        print(f"| {label} | {bits} | {row['bits_per_crop']:.0f} | {row['bpnzac']:.3f} | {psnr} |{pe} {lattice} | "
              f"{fmt(auc_.get('histogram_png'))} | {preamble} | {filler} |{tail}")
    print("\nP_E: ½(P_FA + P_MD) of the FLD ensemble's majority vote on the held-out photos' crops, mean ± std over "
          f"{result['settings']['splits']} photo splits (0.5: undetectable). AUC: cover vs stego, 0.5: no separation, "
          "below 0.5: separation the other way; full-size images except 'crops'. PSNR of peers: decoded crop vs decoded "
          "cover crop (JPEG).")


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos-root", type=Path, default=ROOT / "data" / "real_photos")
    parser.add_argument("--split", default="heldout", help="manifest split of the photos (tune or heldout)")
    parser.add_argument("--skimage", action="store_true", help="scikit-image's sample photos instead (quick runs)")
    parser.add_argument("--photos", type=int, default=None, help="use the first N photos")
    parser.add_argument("--modes", nargs="+", default=None, metavar="NAME", help=f"modes by name (default all of {[m.name for m in MODES]})")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    parser.add_argument("--peer-reference", default="whatsapp 10 s", help="mode whose bits per crop area the peers embed")
    parser.add_argument("--quality", type=int, default=75, help="the platform's JPEG quality (4:2:0)")
    parser.add_argument("--crop", type=int, default=256, help="crop side (a multiple of 16)")
    parser.add_argument("--crops-per-photo", type=int, default=4)
    parser.add_argument("--features", nargs="+", default=["dctr"], choices=FEATURES)
    parser.add_argument("--splits", type=int, default=5, help="random photo halves (train / test)")
    parser.add_argument("--fld-d-sub", type=automatic_or_int, default="automatic",
                        help="FLD ensemble subspace size (default: searched, as in the literature; e.g. 800 for quick runs)")
    parser.add_argument("--fld-learners", type=automatic_or_int, default="automatic",
                        help="FLD ensemble base learners (default: until the OOB error settles, at most 500; e.g. 51 for quick runs)")
    parser.add_argument("--zhunet-epochs", type=int, default=0, help="learned detector: Zhu-Net per mode, at most this many epochs (0: skip)")
    parser.add_argument("--zhunet-patience", type=int, default=10, help="stop after this many epochs without a lower validation loss")
    parser.add_argument("--zhunet-splits", type=int, default=2, help="Zhu-Net on the first N photo splits")
    parser.add_argument("--zhunet-variants", nargs="+", default=None, metavar="NAME",
                        help="modes or peers the Zhu-Net is trained for (default: all of the run's)")
    parser.add_argument("--zhunet-val-photos", type=int, default=4, help="photos of each training half kept for validation")
    parser.add_argument("--zhunet-train-crop", type=int, default=128, help="random 8-aligned sub-crop trained on (0: the whole crop)")
    parser.add_argument("--zhunet-batch-pairs", type=int, default=8, help="cover/stego pairs per mini-batch")
    parser.add_argument("--zhunet-lr", type=float, default=1e-3, help="Adamax's initial learning rate")
    parser.add_argument("--canonical-checkpoint", type=Path, default=None,
                        help="weights of the canonical INN for the 'any' modes (default: the shipped file)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for Zhu-Net (default: torch's)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (photos, features)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cache", type=Path, default=CACHE, help="feature cache folder")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    if args.crop % CROP_ALIGN:
        parser.error(f"--crop must be a multiple of {CROP_ALIGN}")
    if args.zhunet_train_crop % 8 or not 0 <= args.zhunet_train_crop <= args.crop:
        parser.error("--zhunet-train-crop must be a multiple of 8 between 0 and --crop")
    args.zhunet = ZhuNetSettings(args.zhunet_epochs, args.zhunet_patience, args.zhunet_val_photos, args.zhunet_train_crop,
                                 args.zhunet_batch_pairs, args.zhunet_lr, min(args.zhunet_splits, args.splits),
                                 None if args.zhunet_variants is None else tuple(args.zhunet_variants))
    if args.threads and args.zhunet_epochs > 0:
        import torch

        torch.set_num_threads(args.threads)
    modes = select_modes(args.modes, args.canonical_checkpoint)
    args.mode_names = {mode.name for mode in modes}
    unknown = set(args.zhunet_variants or ()) - args.mode_names - set(args.peers)
    if unknown:
        parser.error(f"--zhunet-variants: {sorted(unknown)} are neither a --modes mode nor a --peers peer")
    reference = {mode.name: mode for mode in MODES}.get(args.peer_reference)
    if reference is None:
        parser.error(f"--peer-reference {args.peer_reference!r} is not a mode of MODES")
    started = time.time()
    photos_meta = photo_sources(args)
    settings = Settings(args.quality, args.crop, args.crops_per_photo, modes, reference, tuple(args.peers))
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(args.workers) if args.workers > 1 else contextlib.nullcontext() as pool:
        photos = []
        for index, photo in enumerate(parallel_map(_process_photo_star, [(i, p["source"], settings) for i, p in enumerate(photos_meta)], pool)):
            photos.append(photo)
            print(f"{photos_meta[index]['package']}/{photos_meta[index]['name']}: {photo['size'][0]}x{photo['size'][1]}, "
                  f"{len(photo['modes'])} modes, {len(photo['peers'])} peers in {photo['seconds']:.1f} s", flush=True)
        summary = summarise(photos, args, pool)
    result = {
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/steganalysis.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "host": {"cpus": os.cpu_count(), "python": host.python_version()},
        "wall_s": round(time.time() - started, 1),
        "settings": {"cover_size": list(COVER_SIZE), "quality": args.quality, "subsampling": "4:2:0", "crop": args.crop,
                     "crops_per_photo": args.crops_per_photo, "splits": args.splits, "features": args.features,
                     "peers": args.peers, "peer_reference": args.peer_reference, "peer_max_alpha": PEER_MAX_ALPHA,
                     "fld_d_sub": args.fld_d_sub, "fld_learners": args.fld_learners, "zhunet": dataclasses.asdict(args.zhunet),
                     "seed": args.seed, "workers": args.workers,
                     "source": "scikit-image" if args.skimage else f"{os.path.relpath(args.photos_root, ROOT)} ({args.split})",
                     "modes": [dataclasses.asdict(mode) for mode in modes],
                     "pe": "majority-vote decisions of the FLD ensemble (pe); min over thresholds of its vote score (pe_min_threshold)",
                     "keyless_orientation": "larger = stego: lattice periodicity, minus saturated fraction, preamble fraction, "
                                            "public INN filler agreement, public INN confidence"},
        "photos": [{key: meta.get(key) for key in ("package", "name", "licence")} | {"size": photo["size"], "crop_positions": photo["positions"]}
                   for meta, photo in zip(photos_meta, photos)],
        "errors": {f"{photos_meta[i]['name']}/{name}": entry["error"]
                   for i, photo in enumerate(photos) for name, entry in photo["modes"].items() if "error" in entry},
        **summary,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "steganalysis.json").write_text(json.dumps(result, indent=1, default=_json_default))
    print_table(result)
    return result


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


if __name__ == "__main__":
    main()
