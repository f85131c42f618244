"""Classical robust hider: dithered quantisation index modulation of 8x8 block-DCT luma coefficients.

Each hidden bit moves one low/mid-frequency DCT coefficient of an 8x8 luma block (Y of YCbCr,
the channel JPEG keeps at full resolution) onto a dithered lattice ``(k + d) * s``: ``k`` even
for a 0, odd for a 1. A perturbation below ``s/2`` is harmless.

The steps follow JPEG: ``s`` is ``step_multiple`` times the entry of the JPEG luma quantisation
table at ``quality_target`` (the *design* quality, the lowest the payload must survive). Every
JPEG at a quality ``Q >= quality_target`` has table entries ``q <= s / step_multiple`` and moves
a coefficient by at most ``q/2``; a chain of two such JPEGs by at most ``q1/2 + q2/2``. With
``step_multiple = 2`` (the default) that is at most ``s/2``, so plain nearest-lattice decoding
survives any single JPEG and any two-JPEG chain whose qualities are at or above the design
quality, without knowing them. (Smaller steps are refused: with the keyed dither, one
requantisation at a step close to the lattice's merges neighbouring points of both parities.)

Nothing is findable without the key, and two images of one key are not linkable:

* the dither ``d`` of every position is keyed: scanning an image for a lattice finds none;
* every image draws a random salt, recorded in its preamble; the payload's positions and
  dither are keyed by the key *and* the salt;
* a message changes as many coefficients as it has bits (the capacity is what the cover could
  carry; the rest is left as it is), scattered over the whole grid in keyed order;
* there is no change to the pixel histogram beyond the embedding itself.

Content-adaptive spreading (``spread``, :data:`DEFAULT_SPREAD` coefficients per bit): a bit sets
the projection of its group of coefficients (in lattice steps, on keyed ±1/sqrt(spread)
weights) onto the dithered lattice, and the change is shared among the group in inverse
proportion to each coefficient's UERD cost (:func:`uerd_costs`), so textured blocks take most
of it; the receiver computes the same projections and needs no side information
(spread-transform dither modulation, Chen & Wornell 2001). :meth:`ClassicalEmbedder.maximal`
is the same design with one coefficient per bit: the most capacity, the most detectable.

Crops: the block grid starts :data:`GRID_MARGIN` pixels inside the image and ends at least as
far from the right and bottom edges, so cropping up to that many pixels from any edge removes
no embedded block. A preamble (salt, design, step multiple, grid size in blocks, CRC-16) sits
in :data:`PREAMBLE_COPIES` whitened copies at keyed positions of the first
:data:`PREAMBLE_FREQUENCIES` AC frequencies of the grid's top-left corner, on a fixed dithered
lattice (:data:`PREAMBLE_QUALITY`); the receiver searches every grid origin within the margin
(:func:`find_grid`), combines the copies softly and keeps the origin whose preamble checks.

The luma change is added equally to R, G and B, which leaves Cb and Cr untouched. Rounding to
uint8 and clipping to [0, 255] are corrected by a few projection passes (set the coefficients to
their targets, round and clip, measure again; dithered rounding where plain rounding cancelled a
change), which also lets the DC and the unused coefficients absorb clipping in saturated blocks.
"""

from __future__ import annotations

import binascii
import copy
import dataclasses
import functools
import hashlib

import numpy as np
from PIL import Image

from common import recent
from common.payload.ecc import interleaver_permutation
from common.settings import JPEG_QUALITY_TARGET
from steganography.embedders.base import Embedder, message_digest

#: JPEG (ITU-T T.81 Annex K) luminance quantisation table for quality 50, natural order.
JPEG_LUMA_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
)

#: ITU-R BT.601 full-range luma weights, as used by JFIF/libjpeg.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: Default seed of the layout (the application passes one derived from the passphrase).
DEFAULT_SEED = 0x57E6A
#: Smallest lattice step in DCT units, so that pixel rounding alone (std ~0.3) cannot flip a bit.
MIN_STEP = 4.0
#: Lattice step in multiples of the design quality's JPEG table: 2 survives two-JPEG chains.
DEFAULT_STEP_MULTIPLE = 2.0
#: Payload coefficients per bit by default, the covert design (see ``spread`` of
#: :class:`ClassicalEmbedder`; :meth:`ClassicalEmbedder.maximal` is the detectable one).
DEFAULT_SPREAD = 16
#: How deep inside its decision cell each bit's projection is put (lattice steps from the boundary).
DEFAULT_MARGIN = 0.5
#: Power of the UERD cost by which a group's change is shared (see :class:`ClassicalEmbedder`).
DEFAULT_COST_EXPONENT = 1.5
#: Smallest step multiple: below 2 the keyed dither puts lattice points between JPEG grid points,
#: where one requantisation can merge neighbours of both parities.
MIN_STEP_MULTIPLE = 2.0
#: Unused border (pixels) on every side of the block grid: crops up to this size lose no block.
GRID_MARGIN = 16
#: The preamble's lattice: ``PREAMBLE_STEP_MULTIPLE`` times the JPEG table at this quality (fixed:
#: the receiver reads the preamble before it knows the design).
PREAMBLE_QUALITY = 50
PREAMBLE_STEP_MULTIPLE = 2.0
#: The preamble sits on the first :data:`PREAMBLE_FREQUENCIES` zig-zag AC frequencies of blocks in
#: the grid's top-left corner: one copy of every bit within :data:`PREAMBLE_CORNER` x
#: :data:`PREAMBLE_CORNER` blocks (so the smallest grid holds it), :data:`PREAMBLE_COPIES` in all
#: within :data:`PREAMBLE_REGION` x :data:`PREAMBLE_REGION` blocks (soft-combined where present).
PREAMBLE_FREQUENCIES = 5
PREAMBLE_CORNER = 16
PREAMBLE_REGION = 48
PREAMBLE_COPIES = 6
#: Preamble fields: a per-image salt (keys the payload's positions, signs and dither), quality
#: (7 bits), bits per block (6), step multiple in halves (3), log2 of the spread (3), grid columns
#: (12), grid rows (12), then a CRC-16 of those 64 bits.
SALT_BITS = 21
_PREAMBLE_FIELDS = (
    ("salt", SALT_BITS), ("quality", 7), ("bits_per_block", 6), ("step_halves", 3), ("spread_log2", 3),
    ("cols", 12), ("rows", 12),
)  # fmt: skip
PREAMBLE_FIELD_BITS = sum(width for _, width in _PREAMBLE_FIELDS)
PREAMBLE_BITS = PREAMBLE_FIELD_BITS + 16
#: Smallest grid (blocks per side): the corner that holds one copy of the preamble.
MIN_GRID_BLOCKS = PREAMBLE_CORNER
#: Largest grid (blocks per side) the preamble can record.
MAX_GRID_BLOCKS = 2**12 - 1
#: Payload coefficients one bit may be spread over (see :class:`ClassicalEmbedder`).
SPREADS = (1, 2, 4, 8, 16, 32, 64, 128)
#: Covert capacity: the share of the (spread) capacity a message may fill. Measured 2026-12-02
#: (evening design: probed code, cost^-1.5 sharing) on 48 held-out photos at 1600x1200 after a Q75
#: JPEG (``benchmarks/steganalysis.py``, docs/covertness.md): DCTR + FLD P_E at WhatsApp's design
#: 0.29-0.33 from 4 s of Codec2 1200 to the whole spread capacity, no trend with the length (plain
#: ``hide`` 0.40 at 4 s, 0.36 at 10 s): the whole spread-16 capacity is the covert one.
COVERT_FRACTION = 1.0


def zigzag_order(size: int = 8) -> list[tuple[int, int]]:
    """(row, column) positions of a ``size`` x ``size`` block in JPEG zig-zag order."""
    positions = [(row, col) for row in range(size) for col in range(size)]
    return sorted(positions, key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else rc[1]))


#: The 63 AC positions ``(row, column)`` in zig-zag order; a cover uses the first ``bits_per_block``.
AC_POSITIONS = np.array(zigzag_order()[1:])


def jpeg_luma_quantisation(quality: int) -> np.ndarray:
    """The luma quantisation table libjpeg (and so Pillow) uses at ``quality`` in 1..100."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((JPEG_LUMA_TABLE * scale + 50) // 100, 1, 255)


def lattice_steps(quality: int, bits_per_block: int, step_multiple: float = 1.0) -> np.ndarray:
    """QIM step of each of the first ``bits_per_block`` AC positions for design ``quality``.

    The JPEG table entry times ``step_multiple``, raised where needed to the smallest integer
    multiple of the entry that reaches :data:`MIN_STEP`.
    """
    rows, cols = AC_POSITIONS[:bits_per_block].T
    table = jpeg_luma_quantisation(quality)[rows, cols].astype(np.float64)
    return table * np.maximum(step_multiple, np.ceil(MIN_STEP / table))


@functools.lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """The orthonormal 1-D 8-point DCT-II matrix; row ``u`` is basis function ``u``."""
    frequency, sample = np.arange(8)[:, None], np.arange(8)[None, :]
    matrix = np.sqrt(2 / 8) * np.cos(np.pi * (2 * sample + 1) * frequency / 16)
    matrix[0] /= np.sqrt(2)
    return matrix


@functools.lru_cache(maxsize=1)
def _block_dct_basis() -> np.ndarray:
    """The orthonormal 2-D 8x8 DCT as a ``(64, 64)`` matrix on row-major blocks.

    Row ``8 * u + v`` holds the basis image of frequency ``(u, v)``: coefficients are
    ``blocks @ basis.T`` and, the matrix being orthogonal, blocks are ``coefficients @ basis``.
    """
    matrix = _dct_matrix()
    return np.kron(matrix, matrix).astype(np.float32)


def dct_basis(positions: np.ndarray) -> np.ndarray:
    """Basis images ``(len(positions), 64)`` of the DCT frequencies ``positions`` ``(P, 2)``."""
    return _block_dct_basis()[positions[:, 0] * 8 + positions[:, 1]]


def image_to_blocks(image: np.ndarray) -> np.ndarray:
    """The whole 8x8 blocks of an ``(H, W)`` image as ``(blocks, 64)``, each row-major."""
    rows, cols = image.shape[0] // 8, image.shape[1] // 8
    return image[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).transpose(0, 2, 1, 3).reshape(rows * cols, 64)


def luma_blocks(rgb: np.ndarray) -> np.ndarray:
    """Luma of the whole 8x8 blocks of an RGB ``(H, W, 3)`` as ``(blocks, 64)``, row-major."""
    return image_to_blocks(rgb @ np.asarray(LUMA_WEIGHTS, dtype=rgb.dtype))


def blocks_to_image(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Inverse of :func:`image_to_blocks`: ``(rows*cols, 64)`` → ``(8*rows, 8*cols)``."""
    return blocks.reshape(rows, cols, 8, 8).transpose(0, 2, 1, 3).reshape(rows * 8, cols * 8)


@dataclasses.dataclass(frozen=True)
class Preamble:
    """What the receiver reads first: the image's salt, the design and the block grid."""

    salt: int
    quality: int
    bits_per_block: int
    step_multiple: float
    spread: int
    cols: int
    rows: int

    def __post_init__(self) -> None:
        if self.spread not in SPREADS:
            raise ValueError(f"spread must be one of {SPREADS}, got {self.spread}")
        halves = self.step_multiple * 2
        if not 0 <= self.salt < 2**SALT_BITS:
            raise ValueError(f"salt {self.salt} is not a {SALT_BITS}-bit number")
        if not (1 <= self.quality <= 100 and 1 <= self.bits_per_block <= 63):
            raise ValueError(f"bad quality {self.quality} or bits per block {self.bits_per_block}")
        if halves != round(halves) or not 2 * MIN_STEP_MULTIPLE <= halves <= 7:
            raise ValueError(f"step_multiple must be a multiple of 0.5 in {MIN_STEP_MULTIPLE}..3.5, got {self.step_multiple}")
        if not (MIN_GRID_BLOCKS <= self.cols <= MAX_GRID_BLOCKS and MIN_GRID_BLOCKS <= self.rows <= MAX_GRID_BLOCKS):
            raise ValueError(f"grid of {self.cols}x{self.rows} blocks outside {MIN_GRID_BLOCKS}..{MAX_GRID_BLOCKS}")

    def to_bits(self) -> np.ndarray:
        """:data:`PREAMBLE_BITS` bits: the fields MSB first, then their CRC-16."""
        values = dataclasses.asdict(self) | {
            "step_halves": round(2 * self.step_multiple),
            "spread_log2": SPREADS.index(self.spread),
        }
        word = 0
        for name, width in _PREAMBLE_FIELDS:
            word = (word << width) | values[name]
        word = (word << 16) | binascii.crc_hqx(word.to_bytes(PREAMBLE_FIELD_BITS // 8, "big"), 0xFFFF)
        return np.array([(word >> shift) & 1 for shift in range(PREAMBLE_BITS - 1, -1, -1)], dtype=np.uint8)

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> Preamble | None:
        """Parse :meth:`to_bits` output; ``None`` if the CRC or a field is wrong."""
        word = 0
        for bit in np.asarray(bits).ravel()[:PREAMBLE_BITS]:
            word = (word << 1) | int(bit)
        fields_word, check = word >> 16, word & 0xFFFF
        if binascii.crc_hqx(fields_word.to_bytes(PREAMBLE_FIELD_BITS // 8, "big"), 0xFFFF) != check:
            return None
        values = {}
        shift = PREAMBLE_FIELD_BITS
        for name, width in _PREAMBLE_FIELDS:
            shift -= width
            values[name] = (fields_word >> shift) & ((1 << width) - 1)
        step_multiple = values.pop("step_halves") / 2
        spread = SPREADS[values.pop("spread_log2")]
        try:
            return cls(step_multiple=step_multiple, spread=spread, **values)
        except ValueError:
            return None


def grid_size(width: int, height: int) -> tuple[int, int]:
    """``(cols, rows)`` of the block grid a ``width`` x ``height`` cover is embedded with."""
    return max((width - 2 * GRID_MARGIN) // 8, 0), max((height - 2 * GRID_MARGIN) // 8, 0)


def keyed_uniform(seed: int, index: np.ndarray) -> np.ndarray:
    """Keyed pseudo-random numbers in [0, 1), one per ``index`` (a 64-bit mix of seed and index).

    A pure function of its inputs (no library random stream), so stego images stay readable
    across numpy versions.
    """
    key = index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(seed & (2**64 - 1))
    key ^= key >> np.uint64(31)
    key *= np.uint64(0xBF58476D1CE4E5B9)
    key ^= key >> np.uint64(29)
    key *= np.uint64(0x94D049BB133111EB)
    key ^= key >> np.uint64(32)
    return (key >> np.uint64(11)).astype(np.float64) / 2.0**53


def message_salt(seed: int, bits: np.ndarray) -> int:
    """A :data:`SALT_BITS`-bit salt of one message: a keyed hash of its bits (the application's
    frames differ in every message, their AES salt and nonce being random), so that
    :meth:`ClassicalEmbedder.embed` is a function of its inputs."""
    return message_digest(seed, bits) >> (64 - SALT_BITS)


def salted_seed(seed: int, salt: int) -> int:
    """The seed of one image's payload layout and dither: the key's ``seed`` and the image's salt."""
    return int(hashlib.sha256(f"stegavox/classical/{seed}/{salt}".encode()).hexdigest()[:15], 16)


@dataclasses.dataclass(frozen=True)
class PreambleLayout:
    """Where the preamble's copies sit, keyed by the seed alone (grid block row and column,
    zig-zag AC index), which bit each carries, its whitening bit, its lattice step and dither."""

    rows: np.ndarray
    cols: np.ndarray
    frequency: np.ndarray
    bit: np.ndarray
    whitening: np.ndarray
    step: np.ndarray
    dither: np.ndarray

    def present(self, cols: int, rows: int) -> np.ndarray:
        """Which copies lie inside a grid of ``cols`` x ``rows`` blocks."""
        return (self.rows < rows) & (self.cols < cols)


@functools.lru_cache(maxsize=8)
def preamble_layout(seed: int = DEFAULT_SEED) -> PreambleLayout:
    """The :class:`PreambleLayout` of ``seed``: one copy of every bit at distinct keyed positions of
    the :data:`PREAMBLE_CORNER` corner, the other copies anywhere else in the
    :data:`PREAMBLE_REGION` region."""
    per_block = PREAMBLE_FREQUENCIES
    corner = np.arange(PREAMBLE_CORNER**2 * per_block)
    first = corner[interleaver_permutation(corner.size, seed + 2)[:PREAMBLE_BITS]]
    block, frequency = np.divmod(first, per_block)
    first_rows, first_cols = np.divmod(block, PREAMBLE_CORNER)
    region = np.arange(PREAMBLE_REGION**2 * per_block)
    block, frequency_rest = np.divmod(region, per_block)
    rows_rest, cols_rest = np.divmod(block, PREAMBLE_REGION)
    taken = np.zeros(region.size, dtype=bool)
    taken[(first_rows * PREAMBLE_REGION + first_cols) * per_block + frequency] = True
    free = np.flatnonzero(~taken)
    rest = free[interleaver_permutation(free.size, seed + 3)[: (PREAMBLE_COPIES - 1) * PREAMBLE_BITS]]
    rows = np.concatenate([first_rows, rows_rest[rest]])
    cols = np.concatenate([first_cols, cols_rest[rest]])
    frequency = np.concatenate([frequency, frequency_rest[rest]])
    copies = np.arange(rows.size)
    layout = PreambleLayout(
        rows=rows,
        cols=cols,
        frequency=frequency,
        bit=copies % PREAMBLE_BITS,
        whitening=(keyed_uniform(seed + 4, copies) < 0.5).astype(np.uint8),
        step=lattice_steps(PREAMBLE_QUALITY, PREAMBLE_FREQUENCIES, PREAMBLE_STEP_MULTIPLE)[frequency],
        dither=keyed_uniform(seed + 5, copies),
    )
    for array in dataclasses.astuple(layout):
        array.flags.writeable = False
    return layout


def dithered_qim_targets(values: np.ndarray, bits: np.ndarray, steps: np.ndarray, dither: np.ndarray) -> np.ndarray:
    """The nearest point of the dithered lattice ``(dither + k) * step`` whose index ``k`` has the
    parity of each bit."""
    ratio = values / steps - dither
    return (2.0 * np.round((ratio - bits) / 2.0) + bits + dither) * steps


def dithered_qim_margin(values: np.ndarray, steps: np.ndarray, dither: np.ndarray) -> np.ndarray:
    """Soft bits of dithered QIM: the parity of the nearest lattice index as the sign, the
    distance from the decision boundary as the size (1 on a lattice point, 0 halfway)."""
    ratio = values / steps - dither
    nearest = np.round(ratio)
    return np.where(np.mod(nearest, 2.0) == 1.0, 1.0, -1.0) * (1.0 - 2.0 * np.abs(ratio - nearest))


def _block_coefficients(luma: np.ndarray, top: np.ndarray, left: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """The DCT coefficient of AC index ``frequency`` of the 8x8 block at each pixel ``(top, left)``."""
    offsets = np.arange(8)
    windows = luma[top[:, None, None] + offsets[:, None], left[:, None, None] + offsets]
    return np.einsum("pk,pk->p", windows.reshape(-1, 64), dct_basis(AC_POSITIONS[frequency]))


def _preamble_passes_crc(packed: np.ndarray) -> bool:
    """Whether the :data:`PREAMBLE_BITS` bits packed MSB first in ``packed`` (10 bytes) carry a
    valid CRC-16 (:meth:`Preamble.from_bits` checks it the same way, bit by bit)."""
    data = packed.tobytes()
    return binascii.crc_hqx(data[: PREAMBLE_FIELD_BITS // 8], 0xFFFF) == int.from_bytes(data[PREAMBLE_FIELD_BITS // 8 :], "big")


#: Unit roundoff of float32, and a bound on the relative error of a float32 dot product of 64
#: terms in any order (Higham's gamma_64), plus the rounding of the float32 basis.
_FLOAT32_UNIT = 2.0**-24
_DOT64_ERROR = 64 * _FLOAT32_UNIT / (1 - 64 * _FLOAT32_UNIT) + 2 * _FLOAT32_UNIT
#: Most undecided preamble bits whose every combination :func:`find_grid` checks against the CRC.
_MAX_UNDECIDED_BITS = 10


def _preamble_soft_everywhere(
    luma: np.ndarray, layout: PreambleLayout, copies: np.ndarray, origins_y: int, origins_x: int
) -> tuple[np.ndarray, np.ndarray]:
    """Soft preamble copies ``(origins_y, origins_x, copies)`` at every grid origin at once, and a
    bound on how far :func:`_block_coefficients` (float32) may put each from them.

    The coefficients are computed separably in float64 (rows then columns of each copy's
    window), which rounds differently from the float32 dot products of
    :func:`_block_coefficients`; the bound is the float32 dot product's worst case
    (:data:`_DOT64_ERROR` times the sum of absolute products), through the margin's slope
    (2 per step).
    """
    height, width = luma.shape
    rows, cols = layout.rows[copies], layout.cols[copies]
    need_h, need_w = 8 * int(rows.max()) + 8 + origins_y - 1, 8 * int(cols.max()) + 8 + origins_x - 1
    padded = np.zeros((max(need_h, height), max(need_w, width)), dtype=np.float64)
    padded[:height, :width] = luma
    window_rows = 8 * rows[:, None] + np.arange(origins_y + 7)
    window_cols = 8 * cols[:, None] + np.arange(origins_x + 7)
    patches = padded[window_rows[:, :, None], window_cols[:, None, :]]
    u, v = AC_POSITIONS[layout.frequency[copies]].T
    matrix = _dct_matrix()

    def separable(window: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        across = np.einsum("prxj,pj->prx", np.lib.stride_tricks.sliding_window_view(window, 8, axis=2), second)
        return np.einsum("pyxi,pi->pyx", np.lib.stride_tricks.sliding_window_view(across, 8, axis=1), first)

    values = separable(patches, matrix[u], matrix[v])
    magnitude = separable(np.abs(patches), np.abs(matrix[u]), np.abs(matrix[v]))
    step, dither = layout.step[copies], layout.dither[copies]
    sign = 1.0 - 2.0 * layout.whitening[copies]
    soft = dithered_qim_margin(np.ascontiguousarray(values.transpose(1, 2, 0)), step, dither) * sign
    error = 2.0 * _DOT64_ERROR * np.ascontiguousarray(magnitude.transpose(1, 2, 0)) / step
    return soft, error


def _find_grid_at(
    luma: np.ndarray, layout: PreambleLayout, x: int, y: int
) -> tuple[float, Preamble] | None:
    """The preamble read at grid origin ``(x, y)`` and its score, or ``None`` (see :func:`find_grid`)."""
    height, width = luma.shape
    sign = 1.0 - 2.0 * layout.whitening
    slack = GRID_MARGIN // 8
    # Only blocks inside the sender's grid whatever the crop (it ends at least
    # GRID_MARGIN pixels before the uncropped right and bottom edges).
    cols, rows = (width - x - GRID_MARGIN) // 8, (height - y - GRID_MARGIN) // 8
    inside = layout.present(cols, rows)
    values = _block_coefficients(luma, y + 8 * layout.rows[inside], x + 8 * layout.cols[inside], layout.frequency[inside])
    soft = dithered_qim_margin(values, layout.step[inside], layout.dither[inside]) * sign[inside]
    combined = np.bincount(layout.bit[inside], weights=soft, minlength=PREAMBLE_BITS)
    preamble = Preamble.from_bits((combined > 0).astype(np.uint8))
    if preamble is None or not (cols <= preamble.cols <= cols + slack and rows <= preamble.rows <= rows + slack):
        return None
    # Mean margin in the decoded bits' favour: highest on the exact origin (an origin
    # one pixel off may still decode, with smaller margins).
    return float(np.mean(soft * np.where(combined > 0, 1.0, -1.0)[layout.bit[inside]])), preamble


def find_grid(luma: np.ndarray, seed: int = DEFAULT_SEED, max_offset: int = GRID_MARGIN) -> tuple[int, int, Preamble] | None:
    """``(x, y, preamble)``: the grid origin in ``luma`` and the preamble read there, or ``None``.

    Every origin ``0..max_offset`` in each direction is tried (a crop of ``c`` pixels from the
    left moves the origin from :data:`GRID_MARGIN` to ``GRID_MARGIN - c``): the copies of each
    preamble bit inside the image are combined softly (whitening removed) and decoded; among the
    origins whose preamble passes its CRC and fits the image, the one with the largest mean
    margin in favour of the decoded bits wins.

    All origins are first read at once (:func:`_preamble_soft_everywhere`); an origin is then
    read exactly (:func:`_find_grid_at`, in float32 as ever) only where some value of its
    undecided bits (those the rounding bound leaves open) passes the CRC, so the answer is the
    exact reading's at a fraction of its cost.
    """
    height, width = luma.shape
    smallest = 8 * MIN_GRID_BLOCKS + GRID_MARGIN
    if height < smallest or width < smallest:
        return None
    layout = preamble_layout(seed)
    origins_y = min(max_offset, height - smallest) + 1
    origins_x = min(max_offset, width - smallest) + 1
    # Copies inside the grid of origin (0, 0) hold every copy of any other origin.
    copies = np.flatnonzero(layout.present((width - GRID_MARGIN) // 8, (height - GRID_MARGIN) // 8))
    soft, error = _preamble_soft_everywhere(luma, layout, copies, origins_y, origins_x)
    ys, xs = np.arange(origins_y)[:, None, None], np.arange(origins_x)[None, :, None]
    inside = (layout.rows[copies] < (height - ys - GRID_MARGIN) // 8) & (layout.cols[copies] < (width - xs - GRID_MARGIN) // 8)
    # Sums per preamble bit (every bit has a copy in the corner every origin holds).
    by_bit = np.argsort(layout.bit[copies], kind="stable")
    starts = np.searchsorted(layout.bit[copies][by_bit], np.arange(PREAMBLE_BITS))
    combined = np.add.reduceat((soft * inside)[..., by_bit], starts, axis=-1)
    undecided = np.abs(combined) <= np.add.reduceat((error * inside)[..., by_bit], starts, axis=-1) * 1.5 + 1e-9
    packed = np.packbits(combined > 0, axis=-1)
    best = None
    for y in range(origins_y):
        for x in range(origins_x):
            open_bits = np.flatnonzero(undecided[y, x])
            if open_bits.size > _MAX_UNDECIDED_BITS:
                candidate = True
            elif open_bits.size == 0:
                candidate = _preamble_passes_crc(packed[y, x])
            else:
                bits = (combined[y, x] > 0).astype(np.uint8)
                candidate = False
                for value in range(2**open_bits.size):
                    bits[open_bits] = (value >> np.arange(open_bits.size)) & 1
                    if _preamble_passes_crc(np.packbits(bits)):
                        candidate = True
                        break
            if not candidate:  # no reading at this origin passes the CRC
                continue
            found = _find_grid_at(luma, layout, x, y)
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], x, y, found[1])
    return None if best is None else best[1:]


class _CoverWork:
    """What :meth:`ClassicalEmbedder.embed` computes from a cover alone, computed once per cover
    and grid (``hide`` embeds into one cover several times: a probe, then every attempt).

    The values are those the embedding computed each time before (same operations, same
    order), so the stego images are the same bit for bit.
    """

    def __init__(self, rgb: np.ndarray, cols: int, rows: int) -> None:
        rgb.flags.writeable = False
        #: The cover's RGB pixels as float32 (read-only: the embedding works on a copy).
        self.rgb = rgb
        self.cols, self.rows = cols, rows
        region = rgb[GRID_MARGIN : GRID_MARGIN + rows * 8, GRID_MARGIN : GRID_MARGIN + cols * 8]
        #: Luma of the grid's blocks ``(blocks, 64)``.
        self.luma = luma_blocks(region)
        self._coefficients: dict[int, np.ndarray] = {}
        self._costs: dict[int, np.ndarray] = {}

    def coefficients(self, frequencies: int) -> np.ndarray:
        """DCT coefficients of the first ``frequencies`` zig-zag AC positions ``(blocks, frequencies)``."""
        if frequencies not in self._coefficients:
            self._coefficients[frequencies] = self.luma @ dct_basis(AC_POSITIONS[:frequencies]).T
        return self._coefficients[frequencies]

    def uerd_costs(self, quality: int) -> np.ndarray:
        """:func:`uerd_costs` of the blocks counted in the JPEG table of ``quality``."""
        if quality not in self._costs:
            table = jpeg_luma_quantisation(quality).ravel().astype(np.float64)
            self._costs[quality] = uerd_costs(self.luma @ _block_dct_basis().T, self.rows, self.cols, table)
        return self._costs[quality]


#: The :class:`_CoverWork` of the cover embedded into last (by pixel digest and grid).
_COVER_WORK = recent.RecentValues(1)


def _cover_work(cover: Image.Image, cols: int, rows: int) -> _CoverWork:
    """The (cached) :class:`_CoverWork` of ``cover`` on a ``cols`` x ``rows`` grid, found by a
    digest of its pixels (a changed image is another cover)."""
    pixels = np.asarray(cover if cover.mode == "RGB" else cover.convert("RGB"))
    return _COVER_WORK.get((recent.digest(pixels), pixels.shape, cols, rows), lambda: _CoverWork(pixels.astype(np.float32), cols, rows))


class ClassicalEmbedder(Embedder):
    """JPEG-range dithered QIM in the 8x8 block DCT of the luma channel.

    Args:
        quality_target: lowest JPEG quality the embedding is designed to survive (the design
            quality; a platform profile passes its lowest reported quality minus a margin).
            Lower means larger steps: more robust, more visible.
        bits_per_block: coefficients per 8x8 block that may carry a bit, taken in zig-zag order
            after the DC. The capacity is about ``bits_per_block * ((width - 32) // 8) *
            ((height - 32) // 8)``; a message changes only as many coefficients as it has bits.
        seed: key of the layout (preamble positions, whitening and dither; with the image's salt,
            the payload's positions and dither). Sender and receiver must agree; the application
            derives it from the passphrase.
        iterations: projection passes correcting rounding and clipping to uint8 (blocks where
            rounding cancelled a change are rounded with a seeded dither on the next pass).
        step_multiple: lattice step in JPEG table entries at ``quality_target`` (a multiple of
            0.5 in 2..3.5): 2 survives two-JPEG chains at or above ``quality_target``; more
            leaves a margin for crops that misalign the JPEG grid.
        spread: payload coefficients per bit: the bit sets the projection of their values (in
            lattice steps) on a keyed ±1/sqrt(spread) direction onto the dithered lattice, and
            the change that moves the projection is shared among them in inverse proportion to
            their UERD cost (:func:`uerd_costs`): textured blocks take most of it, smooth ones
            little (spread-transform dither modulation; 1 is plain QIM on one coefficient).
        salt: the image's salt (``None``: :func:`message_salt` of the key and the bits, as the
            application uses it: a frame's bits are fresh random-looking bits for every message).
        margin: how far inside its bit's decision cell each projection is put, in lattice steps
            from the boundary (0.5: onto the lattice point, as plain QIM). A projection already
            that deep in the right cell is left alone, one short of it is moved just that deep:
            less change, the same decision rule (the receiver needs no setting).
        cost_exponent: the change of a group is shared in inverse proportion to the UERD cost to
            this power (1: the least sum of cost x change^2; more: concentrated on the cheapest
            coefficients, as an additive cost per changed JPEG level would have it).
        shrink_bias: a coefficient whose share of the change moves it towards 0 takes this many
            times the share its cost gives it (1: sign-blind). Sign-blind changes widen the cover's
            DCT histogram (fewer small levels, more large ones: a first-order tell); shrinking as
            much as growing keeps its spread (platform designs use
            :data:`common.platforms.CLASSICAL_SHRINK_BIAS`).

    The receiver reads the salt, the design and the grid from the stego image itself; this
    instance's settings do not matter for extraction (except ``seed``).
    """

    name = "classical"
    covert_fraction = COVERT_FRACTION

    def __init__(
        self,
        quality_target: int = JPEG_QUALITY_TARGET,
        bits_per_block: int = 12,
        seed: int = DEFAULT_SEED,
        iterations: int = 3,
        step_multiple: float = DEFAULT_STEP_MULTIPLE,
        spread: int = DEFAULT_SPREAD,
        salt: int | None = None,
        margin: float = DEFAULT_MARGIN,
        cost_exponent: float = DEFAULT_COST_EXPONENT,
        shrink_bias: float = 1.0,
    ) -> None:
        if not 1 <= bits_per_block <= 63:
            raise ValueError(f"bits_per_block must be in 1..63, got {bits_per_block}")
        if not 1 <= quality_target <= 100:
            raise ValueError(f"quality_target must be in 1..100, got {quality_target}")
        if iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {iterations}")
        if 2 * step_multiple != round(2 * step_multiple) or not MIN_STEP_MULTIPLE <= step_multiple <= 3.5:
            raise ValueError(f"step_multiple must be a multiple of 0.5 in {MIN_STEP_MULTIPLE}..3.5, got {step_multiple}")
        if spread not in SPREADS:
            raise ValueError(f"spread must be one of {SPREADS}, got {spread}")
        if salt is not None and not 0 <= salt < 2**SALT_BITS:
            raise ValueError(f"salt must be a {SALT_BITS}-bit number, got {salt}")
        if not 0.0 < margin <= 0.5:
            raise ValueError(f"margin must be in (0, 0.5], got {margin}")
        if cost_exponent <= 0:
            raise ValueError(f"cost_exponent must be positive, got {cost_exponent}")
        if shrink_bias <= 0:
            raise ValueError(f"shrink_bias must be positive, got {shrink_bias}")
        self.quality_target = quality_target
        self.bits_per_block = bits_per_block
        self.seed = seed
        self.iterations = iterations
        self.step_multiple = float(step_multiple)
        self.spread = spread
        self.salt = salt
        self.margin = float(margin)
        self.cost_exponent = float(cost_exponent)
        self.shrink_bias = float(shrink_bias)
        #: QIM step of each used AC position.
        self.steps = lattice_steps(quality_target, bits_per_block, self.step_multiple)

    def maximal(self) -> ClassicalEmbedder:
        """This design with one coefficient per bit: ``spread`` times the capacity, more detectable."""
        maximal = copy.copy(self)
        maximal.spread = 1
        return maximal

    def gentler(self) -> list[ClassicalEmbedder]:
        """This design on each finer lattice, down to :data:`MIN_STEP_MULTIPLE` (in half steps),
        finest first: less change per bit, more bit errors, so a stronger code."""
        finer = []
        for halves in range(round(2 * MIN_STEP_MULTIPLE), round(2 * self.step_multiple)):
            variant = copy.copy(self)
            variant.step_multiple = halves / 2
            variant.steps = lattice_steps(self.quality_target, self.bits_per_block, variant.step_multiple)
            finer.append(variant)
        return finer

    def footprint(self, frame_bits: int) -> float:
        """Frame bits times the step multiple: each bit moves its projection by half a step on
        average, so the JPEG levels a frame changes grow with both (on the tune photos, WhatsApp,
        10 s: the J-UNIWARD distortion of step 2 was 0.885 of step 2.5's, this ratio 0.893)."""
        return frame_bits * self.step_multiple

    def keyed(self, seed: int) -> ClassicalEmbedder:
        """A copy whose layout (preamble, and with the salt the payload's) is keyed by ``seed``."""
        keyed = copy.copy(self)
        keyed.seed = seed
        return keyed

    def capacity_bits(self, width: int, height: int) -> int:
        cols, rows = grid_size(width, height)
        if min(cols, rows) < MIN_GRID_BLOCKS or max(cols, rows) > MAX_GRID_BLOCKS:
            return 0
        return _payload_slots(cols, rows, self.bits_per_block) // self.spread

    def embed(self, cover: Image.Image, bits: np.ndarray) -> Image.Image:
        bits = np.asarray(bits, dtype=np.uint8).ravel()
        width, height = cover.size
        capacity = self.capacity_bits(width, height)
        if bits.size > capacity or capacity == 0:
            raise ValueError(f"{bits.size} bits do not fit in a {width}x{height} cover ({capacity} bits)")
        if bits.size and bits.max() > 1:
            raise ValueError("bits must be 0 or 1")
        cols, rows = grid_size(width, height)
        salt = self.salt if self.salt is not None else message_salt(self.seed, bits)
        preamble = Preamble(salt, self.quality_target, self.bits_per_block, self.step_multiple, self.spread, cols, rows)
        layout = preamble_layout(self.seed)
        present = layout.present(cols, rows)
        payload = _payload_layout(cols, rows, self.bits_per_block, self.seed, salt, self.spread)
        used = bits.size * self.spread
        payload_block, payload_coefficient = payload.block[:used], payload.coefficient[:used]
        block = np.concatenate([(layout.rows * cols + layout.cols)[present], payload_block])
        coefficient = np.concatenate([layout.frequency[present], payload_coefficient])
        steps = np.concatenate([layout.step[present], self.steps[payload_coefficient]]).astype(np.float32)
        frequencies = max(self.bits_per_block, PREAMBLE_FREQUENCIES)
        basis = dct_basis(AC_POSITIONS[:frequencies])

        work = _cover_work(cover, cols, rows)
        rgb = work.rgb.copy()
        region = rgb[GRID_MARGIN : GRID_MARGIN + rows * 8, GRID_MARGIN : GRID_MARGIN + cols * 8]
        values = work.coefficients(frequencies)[block, coefficient]
        count = int(present.sum())
        preamble_bits = (preamble.to_bits()[layout.bit] ^ layout.whitening)[present].astype(np.float32)
        target = np.concatenate([
            dithered_qim_targets(values[:count], preamble_bits, steps[:count], layout.dither[present].astype(np.float32)),
            values[count:] + self._spread_changes(work, payload, values[count:], bits),
        ])  # fmt: skip
        generator = np.random.default_rng(self.seed)
        stuck_blocks = None
        for _ in range(self.iterations):
            delta = np.zeros((rows * cols, basis.shape[0]), dtype=np.float32)
            delta[block, coefficient] = target - values
            change = delta @ basis
            if stuck_blocks is not None:
                # Plain rounding can cancel a change outright (e.g. a lone coefficient whose
                # basis image has the same magnitude on all 64 pixels): dither those blocks
                # (the whole draw, so that the generator's stream stays the same).
                noise = generator.random(change.shape, dtype=np.float32)
                change[stuck_blocks] += noise[stuck_blocks] - 0.5
            # The pixels are integers, so rounding the change rounds the pixels; the same change
            # on R, G and B keeps Cb and Cr.
            region += blocks_to_image(np.round(change), rows, cols)[..., None]
            np.clip(region, 0.0, 255.0, out=region)
            values = (luma_blocks(region) @ basis.T)[block, coefficient]
            residual = np.abs(target - values)
            if bool((residual < 0.05 * steps).all()):
                break
            stuck_blocks = np.zeros(rows * cols, dtype=bool)
            stuck_blocks[block[residual > 0.25 * steps]] = True
        return Image.fromarray(rgb.astype(np.uint8), mode="RGB")

    def _spread_changes(self, work: _CoverWork, payload: _PayloadLayout, values: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Changes (DCT units) of the first ``values.size`` positions of ``payload`` that put each
        group's projection on the dithered lattice point of its bit at the least UERD cost (of
        ``work``'s cover), with :attr:`shrink_bias` favouring changes towards 0."""
        spread, used = self.spread, values.size
        coefficient = payload.coefficient[:used]
        steps = self.steps[coefficient]
        direction = payload.direction[:used]
        projection = (direction * values / steps).reshape(-1, spread).sum(axis=1)
        dither = payload.dither[: bits.size]
        nearest = dithered_qim_targets(projection, bits.astype(np.float64), np.ones(bits.size), dither)
        depth = 0.5 - self.margin  # how far from its lattice point a projection may stay
        move = nearest + np.clip(projection - nearest, -depth, depth) - projection
        if spread == 1:
            return (move * steps).astype(np.float32)
        frequency = AC_POSITIONS[coefficient, 0] * 8 + AC_POSITIONS[coefficient, 1]
        costs = work.uerd_costs(self.quality_target)[payload.block[:used], frequency]
        # Least sum of cost x (change / step)^2 moving the projection by (wanted - projection).
        ease = np.where(np.isfinite(costs), np.maximum(costs, 1e-12) ** -self.cost_exponent, 0.0).reshape(-1, spread)
        ease = np.where(ease.sum(axis=1, keepdims=True) > 0, ease, 1.0)  # all wet: share equally
        weights = direction.reshape(-1, spread)
        # Coefficients this move takes towards 0 take more of it (shrink_bias), keeping the histogram's spread.
        shrinks = np.sign(move[:, None] * weights) * np.sign(values.reshape(-1, spread)) < 0
        ease = np.where(shrinks, self.shrink_bias * ease, ease)
        share = ease * weights / (ease * weights**2).sum(axis=1, keepdims=True)
        return (move[:, None] * share).ravel().astype(np.float32) * steps

    def read_preamble(self, stego: Image.Image) -> tuple[int, int, Preamble] | None:
        """The grid origin ``(x, y)`` in ``stego`` and its :class:`Preamble`, or ``None``."""
        rgb = np.asarray(stego if stego.mode == "RGB" else stego.convert("RGB"), dtype=np.float32)
        return find_grid(rgb @ np.asarray(LUMA_WEIGHTS, dtype=np.float32), self.seed)

    def extract_soft_all(self, stego: Image.Image) -> np.ndarray:
        """Soft values of every payload position of the grid recorded in ``stego``'s preamble.

        Empty if no preamble is found. See :meth:`extract_soft` for their meaning.
        """
        rgb = np.asarray(stego if stego.mode == "RGB" else stego.convert("RGB"), dtype=np.float32)
        luma = rgb @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)
        found = find_grid(luma, self.seed)
        if found is None:
            return np.zeros(0, dtype=np.float32)
        x, y, preamble = found
        cols, rows, per_block = preamble.cols, preamble.rows, preamble.bits_per_block
        # Blocks a crop cut off (beyond the margin) read as flat: their soft values are zeroed.
        height, width = luma.shape
        padded = np.zeros((y + 8 * rows, x + 8 * cols), dtype=np.float32)
        visible = luma[: padded.shape[0], : padded.shape[1]]
        padded[: visible.shape[0], : visible.shape[1]] = visible
        used = image_to_blocks(padded[y:, x:]) @ dct_basis(AC_POSITIONS[:per_block]).T
        spread = preamble.spread
        payload = _payload_layout(cols, rows, per_block, self.seed, preamble.salt, spread)
        block, coefficient = payload.block, payload.coefficient
        steps = lattice_steps(preamble.quality, per_block, preamble.step_multiple)
        projection = (payload.direction * used[block, coefficient] / steps[coefficient]).reshape(-1, spread).sum(axis=1)
        soft = dithered_qim_margin(projection, np.ones(projection.size), payload.dither).astype(np.float32)
        if y + 8 * rows > height or x + 8 * cols > width:  # a crop beyond the margin
            row, col = np.divmod(block, cols)
            cut = ((y + 8 * row + 8 > height) | (x + 8 * col + 8 > width)).reshape(-1, spread).any(axis=1)
            soft[cut] = 0.0
        return soft

    def extract_soft(self, stego: Image.Image, num_bits: int) -> np.ndarray:
        """Soft bits in [-1, 1] (:func:`dithered_qim_margin`): the parity of the nearest dithered
        lattice point as the sign, the distance from the decision boundary as the size. Bits
        beyond the image's capacity (or all of them, without a readable preamble) come back as 0.
        """
        everything = self.extract_soft_all(stego)
        soft = np.zeros(num_bits, dtype=np.float32)
        count = min(num_bits, everything.size)
        soft[:count] = everything[:count]
        return soft


@functools.lru_cache(maxsize=16)
def _payload_slots(cols: int, rows: int, bits_per_block: int) -> int:
    """Payload positions of a grid, whatever the key: every position less every preamble copy the
    grid could hold. In a grid smaller than the preamble's region how many copies fall inside
    depends on the key, and the capacity must not (``stegavox capacity`` knows no passphrase, and
    ``hide`` must accept what it promises); the few positions this leaves over stay unused."""
    return max(rows * cols * bits_per_block - PREAMBLE_COPIES * PREAMBLE_BITS, 0)


def _preamble_payload_slots(cols: int, rows: int, bits_per_block: int, seed: int) -> np.ndarray:
    """Payload position indices (``block * bits_per_block + coefficient``) the preamble occupies."""
    layout = preamble_layout(seed)
    present = layout.present(cols, rows) & (layout.frequency < bits_per_block)
    return (layout.rows * cols + layout.cols)[present] * bits_per_block + layout.frequency[present]


@functools.lru_cache(maxsize=16)
def _payload_positions(cols: int, rows: int, bits_per_block: int, seed: int, salt: int) -> np.ndarray:
    """Position index (``block * bits_per_block + coefficient``) of every payload bit, in order
    (cached, read-only): every position but the preamble's, in an order keyed by the seed and
    the image's salt that scatters consecutive bits over the image."""
    order = interleaver_permutation(rows * cols * bits_per_block, salted_seed(seed, salt))
    order = order[~np.isin(order, _preamble_payload_slots(cols, rows, bits_per_block, seed))]
    order.flags.writeable = False
    return order


@dataclasses.dataclass(frozen=True)
class _PayloadLayout:
    """The payload positions of one grid, key and salt in order (whole groups of ``spread``):
    their block and coefficient, keyed spreading weight (:func:`_spread_direction`) and the
    dither of each group (:func:`_group_dither`); read-only. A message of ``n`` bits uses the
    first ``n * spread`` positions (and ``n`` dithers)."""

    positions: np.ndarray
    block: np.ndarray
    coefficient: np.ndarray
    direction: np.ndarray
    dither: np.ndarray


@functools.lru_cache(maxsize=4)
def _payload_layout(cols: int, rows: int, bits_per_block: int, seed: int, salt: int, spread: int) -> _PayloadLayout:
    """The :class:`_PayloadLayout` of a grid, key and salt (cached: ``hide`` reads back the image it
    embedded, through several JPEGs)."""
    positions = _payload_positions(cols, rows, bits_per_block, seed, salt)
    positions = positions[: _payload_slots(cols, rows, bits_per_block) // spread * spread]
    block, coefficient = np.divmod(positions, bits_per_block)
    direction, dither = _spread_direction(seed, salt, positions, spread), _group_dither(seed, salt, positions, spread)
    layout = _PayloadLayout(positions, block, coefficient, direction, dither)
    for array in dataclasses.astuple(layout):
        array.flags.writeable = False
    return layout


def _spread_direction(seed: int, salt: int, positions: np.ndarray, spread: int) -> np.ndarray:
    """Keyed ±1/sqrt(spread) weight of each payload position in its group's projection (1 alone)."""
    if spread == 1:
        return np.ones(positions.size)
    signs = np.where(keyed_uniform(salted_seed(seed, salt) + 2, positions) < 0.5, -1.0, 1.0)
    return signs / np.sqrt(spread)


def _group_dither(seed: int, salt: int, positions: np.ndarray, spread: int) -> np.ndarray:
    """Dither (in steps) of each group's projection, keyed by the seed, the image's salt and the
    group's first position."""
    return keyed_uniform(salted_seed(seed, salt) + 1, positions[::spread])


def uerd_costs(coefficients: np.ndarray, rows: int, cols: int, table: np.ndarray) -> np.ndarray:
    """UERD costs (Guo et al. 2015) of a one-step change of each DCT coefficient.

    ``coefficients`` are the 8x8 DCTs of a ``rows`` x ``cols`` grid of blocks (``(blocks, 64)``,
    row-major frequencies, DCT units); ``table`` the JPEG table (64) they are counted in. The
    cost is the frequency's step (the DC: the mean of its two neighbours') over the block's AC
    energy (the sum of its dequantised AC magnitudes) plus a quarter of its eight neighbours'
    (edges mirrored); a block without energy is wet (infinite cost).
    """
    quantised = np.round(coefficients / table) * table
    energy = np.abs(quantised[:, 1:]).sum(axis=1).reshape(rows, cols)
    padded = np.pad(energy, 1, mode="symmetric")
    neighbours = sum(
        padded[1 + dy : 1 + dy + rows, 1 + dx : 1 + dx + cols] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx
    )
    block_cost = (energy + 0.25 * neighbours).reshape(-1, 1)
    mode_cost = table.astype(np.float64).copy()
    mode_cost[0] = 0.5 * (table[1] + table[8])
    with np.errstate(divide="ignore"):
        return np.where(block_cost > 0, mode_cost / block_cost, np.inf)
