"""Classical robust hider: quantisation index modulation of 8x8 block-DCT luma coefficients.

Each hidden bit moves one low/mid-frequency DCT coefficient of an 8x8 luma block (Y of YCbCr,
the channel JPEG keeps at full resolution) onto a lattice: even multiples of a step ``s`` for a
0, odd multiples for a 1. A perturbation below ``s/2`` is harmless.

The steps are aligned with JPEG: ``s`` is ``step_multiple`` times the entry of the JPEG luma
quantisation table at ``quality_target`` (the *design* quality, the lowest the payload must
survive). Every JPEG at a quality ``Q >= quality_target`` has table entries ``q <= s /
step_multiple`` and moves a coefficient by at most ``q/2``; a chain of two such JPEGs by at most
``q1/2 + q2/2``. With ``step_multiple = 2`` (the default) that is at most ``s/2`` in the worst
case and far less on average, so plain nearest-lattice decoding survives any single JPEG and any
two-JPEG chain whose qualities are at or above the design quality, without knowing them. With
``step_multiple = 1`` (smaller changes, higher PSNR) only requantisation at one known quality is
survived; the extractor then estimates the step each frequency was requantised with and decides
against where the lattice points land after it (:func:`qim_soft_decision`). There is no random
dither: it would break the alignment. Security comes from the encrypted payload, not from the
embedding; seeded permutations of the positions only spread burst errors (clipped, saturated
regions) over the whole bit string.

Crops: the block grid starts :data:`GRID_MARGIN` pixels inside the image and ends at least as
far from the right and bottom edges, so cropping up to that many pixels from any edge removes
no embedded block. A preamble on the first AC coefficient of 56 blocks of every 16x16-block tile
(size-independent, whitened per tile) records the design, the step multiple and the grid's size
in blocks, protected by a CRC-16; the receiver searches every grid origin within the margin
(:func:`find_grid`) and keeps the one whose preamble checks.

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

import numpy as np
from PIL import Image

from common.payload.ecc import interleaver_permutation
from common.settings import JPEG_QUALITY_TARGET
from steganography.embedders.base import Embedder

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

#: Default seed of the position permutations (public: the receiver needs only the image).
DEFAULT_SEED = 0x57E6A
#: Smallest lattice step in DCT units, so that pixel rounding alone (std ~0.3) cannot flip a bit.
MIN_STEP = 4.0
#: Lattice step in multiples of the design quality's JPEG table: 2 survives two-JPEG chains.
DEFAULT_STEP_MULTIPLE = 2.0
#: Pixel values within ``2 * HEADROOM`` of 0 or 255 are compressed halfway towards the middle
#: before embedding (a soft knee, at most ``HEADROOM`` levels): near-saturated blocks otherwise
#: clip after JPEG decoding and caused all bit errors of chains at the design quality.
HEADROOM = 8
#: Unused border (pixels) on every side of the block grid: crops up to this size lose no block.
GRID_MARGIN = 16
#: The preamble's step is ``PREAMBLE_STEP_MULTIPLE`` times the first AC entry at this quality.
PREAMBLE_QUALITY = 30
PREAMBLE_STEP_MULTIPLE = 2.0
#: Preamble tile: 16 x 16 blocks, of which :data:`PREAMBLE_BITS` carry one preamble bit each.
PREAMBLE_TILE = 16
#: Preamble fields: quality (7 bits), bits per block (6), step multiple in halves (3),
#: grid columns (12), grid rows (12), then a CRC-16 of those 40 bits.
_PREAMBLE_FIELDS = (("quality", 7), ("bits_per_block", 6), ("step_halves", 3), ("cols", 12), ("rows", 12))
PREAMBLE_FIELD_BITS = sum(width for _, width in _PREAMBLE_FIELDS)
PREAMBLE_BITS = PREAMBLE_FIELD_BITS + 16
#: Largest grid (blocks per side) the preamble can record.
MAX_GRID_BLOCKS = 2**12 - 1


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


def _preamble_step() -> float:
    return float(lattice_steps(PREAMBLE_QUALITY, 1, PREAMBLE_STEP_MULTIPLE)[0])


@dataclasses.dataclass(frozen=True)
class Preamble:
    """What the receiver reads first: the design and the block grid of the embedding."""

    quality: int
    bits_per_block: int
    step_multiple: float
    cols: int
    rows: int

    def __post_init__(self) -> None:
        halves = self.step_multiple * 2
        if not (1 <= self.quality <= 100 and 1 <= self.bits_per_block <= 63):
            raise ValueError(f"bad quality {self.quality} or bits per block {self.bits_per_block}")
        if halves != round(halves) or not 1 <= halves <= 7:
            raise ValueError(f"step_multiple must be a multiple of 0.5 in 0.5..3.5, got {self.step_multiple}")
        if not (PREAMBLE_TILE <= self.cols <= MAX_GRID_BLOCKS and PREAMBLE_TILE <= self.rows <= MAX_GRID_BLOCKS):
            raise ValueError(f"grid of {self.cols}x{self.rows} blocks outside {PREAMBLE_TILE}..{MAX_GRID_BLOCKS}")

    def to_bits(self) -> np.ndarray:
        """:data:`PREAMBLE_BITS` bits: the fields MSB first, then their CRC-16."""
        values = {
            "quality": self.quality,
            "bits_per_block": self.bits_per_block,
            "step_halves": round(2 * self.step_multiple),
            "cols": self.cols,
            "rows": self.rows,
        }
        word = 0
        for name, width in _PREAMBLE_FIELDS:
            word = (word << width) | values[name]
        word = (word << 16) | binascii.crc_hqx(word.to_bytes(PREAMBLE_FIELD_BITS // 8, "big"), 0xFFFF)
        return ((word >> np.arange(PREAMBLE_BITS - 1, -1, -1)) & 1).astype(np.uint8)

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
        try:
            return cls(
                values["quality"], values["bits_per_block"], values["step_halves"] / 2, values["cols"], values["rows"]
            )
        except ValueError:
            return None


def grid_size(width: int, height: int) -> tuple[int, int]:
    """``(cols, rows)`` of the block grid a ``width`` x ``height`` cover is embedded with."""
    return max((width - 2 * GRID_MARGIN) // 8, 0), max((height - 2 * GRID_MARGIN) // 8, 0)


@functools.lru_cache(maxsize=8)
def _tile_slots(seed: int) -> np.ndarray:
    """Preamble bit index of each block of a tile (row-major, ``-1``: no preamble bit there)."""
    slots = np.full(PREAMBLE_TILE * PREAMBLE_TILE, -1, dtype=np.int64)
    slots[interleaver_permutation(PREAMBLE_TILE * PREAMBLE_TILE, seed + 2)[:PREAMBLE_BITS]] = np.arange(PREAMBLE_BITS)
    slots.flags.writeable = False
    return slots


def _tile_whitening(tile_rows: np.ndarray, tile_cols: np.ndarray, slots: np.ndarray, seed: int) -> np.ndarray:
    """Pseudo-random 0/1 mask XORed onto each preamble bit, from its tile and slot (a hash).

    Different in every tile, so that flat or repetitive content, which reads the same in every
    tile, cannot pass as a consistent preamble.
    """
    key = (
        tile_rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        ^ tile_cols.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
        ^ slots.astype(np.uint64) * np.uint64(0x165667B19E3779F9)
        ^ np.uint64(seed)
    )
    key ^= key >> np.uint64(31)
    key *= np.uint64(0xBF58476D1CE4E5B9)
    key ^= key >> np.uint64(29)
    return ((key >> np.uint64(17)) & np.uint64(1)).astype(np.uint8)


def preamble_positions(cols: int, rows: int, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks (row-major indices), preamble bit index and whitening bit of every preamble position.

    Every block of the grid whose position in its 16 x 16-block tile is one of the tile's
    :data:`PREAMBLE_BITS` slots carries that preamble bit on its first AC coefficient.
    """
    row, col = np.divmod(np.arange(rows * cols, dtype=np.int64), cols)
    slots = _tile_slots(seed)[(row % PREAMBLE_TILE) * PREAMBLE_TILE + col % PREAMBLE_TILE]
    used = slots >= 0
    blocks, slots = np.flatnonzero(used), slots[used]
    whitening = _tile_whitening(row[used] // PREAMBLE_TILE, col[used] // PREAMBLE_TILE, slots, seed)
    return blocks, slots, whitening


def _qim_margin(values: np.ndarray, step: float) -> np.ndarray:
    """Plain QIM soft bits (sign: parity of the nearest lattice point; size: margin in [0, 1])."""
    ratio = values / step
    nearest = np.round(ratio)
    return np.where(np.mod(nearest, 2.0) == 1.0, 1.0, -1.0) * (1.0 - 2.0 * np.abs(ratio - nearest))


def _first_ac_map(luma: np.ndarray) -> np.ndarray:
    """First AC coefficient (frequency (0, 1)) of the 8x8 block at every top-left pixel."""
    matrix = _dct_matrix()
    windows = np.lib.stride_tricks.sliding_window_view(luma, 8, axis=0) @ matrix[0].astype(np.float32)
    return np.lib.stride_tricks.sliding_window_view(windows, 8, axis=1) @ matrix[1].astype(np.float32)


def find_grid(luma: np.ndarray, seed: int = DEFAULT_SEED, max_offset: int = GRID_MARGIN) -> tuple[int, int, Preamble] | None:
    """``(x, y, preamble)``: the grid origin in ``luma`` and the preamble read there, or ``None``.

    Every origin ``0..max_offset`` in each direction is tried (a crop of ``c`` pixels from the
    left moves the origin from :data:`GRID_MARGIN` to ``GRID_MARGIN - c``): the preamble bits of
    all whole blocks are combined softly (whitening removed) and decoded; among the origins
    whose preamble passes its CRC and fits the image, the one with the largest mean QIM margin
    in favour of the decoded bits wins.
    """
    height, width = luma.shape
    if height < 8 * PREAMBLE_TILE + GRID_MARGIN or width < 8 * PREAMBLE_TILE + GRID_MARGIN:
        return None
    coefficient = _first_ac_map(luma.astype(np.float32))
    step = _preamble_step()
    all_blocks, all_slots, all_whitening = preamble_positions(width // 8, height // 8, seed)
    all_row, all_col = np.divmod(all_blocks, width // 8)
    all_sign = 1.0 - 2.0 * all_whitening.astype(np.float32)
    best = None
    for y in range(min(max_offset, height - 8 * PREAMBLE_TILE - GRID_MARGIN) + 1):
        for x in range(min(max_offset, width - 8 * PREAMBLE_TILE - GRID_MARGIN) + 1):
            # Only blocks inside the sender's grid whatever the crop (it ends at least
            # GRID_MARGIN pixels before the uncropped right and bottom edges).
            cols, rows = (width - x - GRID_MARGIN) // 8, (height - y - GRID_MARGIN) // 8
            inside = (all_row < rows) & (all_col < cols)
            row, col = all_row[inside], all_col[inside]
            soft = _qim_margin(coefficient[y + 8 * row, x + 8 * col], step) * all_sign[inside]
            combined = np.bincount(all_slots[inside], weights=soft, minlength=PREAMBLE_BITS)
            preamble = Preamble.from_bits((combined > 0).astype(np.uint8))
            slack = GRID_MARGIN // 8
            if preamble is None or not (cols <= preamble.cols <= cols + slack and rows <= preamble.rows <= rows + slack):
                continue
            # Mean margin in the decoded bits' favour: highest on the exact origin (an origin
            # one pixel off may still decode, with smaller margins).
            score = float(np.mean(soft * np.where(combined > 0, 1.0, -1.0)[all_slots[inside]]))
            if best is None or score > best[0]:
                best = (score, x, y, preamble)
    return None if best is None else best[1:]


def soft_knee(rgb: np.ndarray, headroom: float) -> np.ndarray:
    """``rgb`` with values within ``2 * headroom`` of 0 or 255 moved halfway towards the middle, rounded."""
    if headroom <= 0:
        return rgb
    low, high = 2.0 * headroom, 255.0 - 2.0 * headroom
    out = np.where(rgb > high, high + (rgb - high) / 2, rgb)
    return np.round(np.where(rgb < low, low - (low - rgb) / 2, out)).astype(rgb.dtype)


class ClassicalEmbedder(Embedder):
    """JPEG-aligned QIM in the 8x8 block DCT of the luma channel.

    Args:
        quality_target: lowest JPEG quality the embedding is designed to survive (the design
            quality; a platform profile passes its lowest reported quality minus a margin).
            Lower means larger steps: more robust, more visible.
        bits_per_block: coefficients used per 8x8 block, taken in zig-zag order after the DC.
            Raw capacity is about ``bits_per_block * ((width - 32) // 8) * ((height - 32) // 8)``.
        seed: seed of the permutations placing the preamble and spreading consecutive bits
            over the image (sender and receiver must agree; the default is public).
        iterations: projection passes correcting rounding and clipping to uint8 (blocks where
            rounding cancelled a change are rounded with a seeded dither on the next pass).
        step_multiple: lattice step in JPEG table entries at ``quality_target`` (a multiple of
            0.5 in 0.5..3.5): 2 survives two-JPEG chains at or above ``quality_target`` with plain
            decoding; 1 survives one JPEG at a known quality (requantisation-aware decoding).

    The receiver reads the design and the grid from the stego image itself; this instance's
    settings do not matter for extraction (except ``seed``).
    """

    name = "classical"

    def __init__(
        self,
        quality_target: int = JPEG_QUALITY_TARGET,
        bits_per_block: int = 12,
        seed: int = DEFAULT_SEED,
        iterations: int = 3,
        step_multiple: float = DEFAULT_STEP_MULTIPLE,
    ) -> None:
        if not 1 <= bits_per_block <= 63:
            raise ValueError(f"bits_per_block must be in 1..63, got {bits_per_block}")
        if not 1 <= quality_target <= 100:
            raise ValueError(f"quality_target must be in 1..100, got {quality_target}")
        if iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {iterations}")
        if 2 * step_multiple != round(2 * step_multiple) or not 0.5 <= step_multiple <= 3.5:
            raise ValueError(f"step_multiple must be a multiple of 0.5 in 0.5..3.5, got {step_multiple}")
        self.quality_target = quality_target
        self.bits_per_block = bits_per_block
        self.seed = seed
        self.iterations = iterations
        self.step_multiple = float(step_multiple)
        #: QIM step of each used AC position.
        self.steps = lattice_steps(quality_target, bits_per_block, self.step_multiple)
        #: Preamble step (its coefficient is the first AC position).
        self.preamble_step = _preamble_step()

    def keyed(self, seed: int) -> ClassicalEmbedder:
        """A copy whose preamble positions, whitening and bit order are keyed by ``seed``."""
        keyed = copy.copy(self)
        keyed.seed = seed
        return keyed

    def capacity_bits(self, width: int, height: int) -> int:
        cols, rows = grid_size(width, height)
        if cols < PREAMBLE_TILE or rows < PREAMBLE_TILE or max(cols, rows) > MAX_GRID_BLOCKS:
            return 0
        return rows * cols * self.bits_per_block - preamble_positions(cols, rows, self.seed)[0].size

    def embed(self, cover: Image.Image, bits: np.ndarray) -> Image.Image:
        bits = np.asarray(bits, dtype=np.uint8).ravel()
        width, height = cover.size
        capacity = self.capacity_bits(width, height)
        if bits.size > capacity or capacity == 0:
            raise ValueError(f"{bits.size} bits do not fit in a {width}x{height} cover ({capacity} bits)")
        if bits.size and bits.max() > 1:
            raise ValueError("bits must be 0 or 1")
        cols, rows = grid_size(width, height)
        preamble = Preamble(self.quality_target, self.bits_per_block, self.step_multiple, cols, rows)
        preamble_blocks, slots, whitening = preamble_positions(cols, rows, self.seed)
        block, coefficient = _payload_layout(cols, rows, self.bits_per_block, self.seed)
        block = np.concatenate([preamble_blocks, block[: bits.size]])
        count = preamble_blocks.size
        coefficient = np.concatenate([np.zeros(count, dtype=np.int64), coefficient[: bits.size]])
        steps = np.concatenate([np.full(count, self.preamble_step), self.steps[coefficient[count:]]])
        wanted = np.concatenate([preamble.to_bits()[slots] ^ whitening, bits])
        steps, wanted = steps.astype(np.float32), wanted.astype(np.float32)
        basis = dct_basis(AC_POSITIONS[: self.bits_per_block])

        rgb = soft_knee(np.array(cover.convert("RGB"), dtype=np.float32), HEADROOM)
        region = rgb[GRID_MARGIN : GRID_MARGIN + rows * 8, GRID_MARGIN : GRID_MARGIN + cols * 8]
        values = (luma_blocks(region) @ basis.T)[block, coefficient]
        # Nearest multiple of the step whose parity is the bit.
        target = (2.0 * np.round((values / steps - wanted) / 2.0) + wanted) * steps
        generator = np.random.default_rng(self.seed)
        stuck_blocks = None
        for _ in range(self.iterations):
            delta = np.zeros((rows * cols, basis.shape[0]), dtype=np.float32)
            delta[block, coefficient] = target - values
            change = delta @ basis
            if stuck_blocks is not None:
                # Plain rounding can cancel a change outright (e.g. a lone coefficient whose
                # basis image has the same magnitude on all 64 pixels): dither those blocks.
                change += (generator.random(change.shape, dtype=np.float32) - 0.5) * stuck_blocks[:, None]
            # The pixels are integers, so rounding the change rounds the pixels; the same change
            # on R, G and B keeps Cb and Cr.
            region += blocks_to_image(np.round(change), rows, cols)[..., None]
            np.clip(region, 0.0, 255.0, out=region)
            values = (luma_blocks(region) @ basis.T)[block, coefficient]
            residual = np.abs(target - values)
            if bool((residual < 0.05 * steps).all()):
                break
            stuck_blocks = np.zeros(rows * cols, dtype=np.float32)
            stuck_blocks[block[residual > 0.25 * steps]] = 1.0
        return Image.fromarray(rgb.astype(np.uint8), mode="RGB")

    def read_preamble(self, stego: Image.Image) -> tuple[int, int, Preamble] | None:
        """The grid origin ``(x, y)`` in ``stego`` and its :class:`Preamble`, or ``None``."""
        rgb = np.asarray(stego.convert("RGB"), dtype=np.float32)
        return find_grid(rgb @ np.asarray(LUMA_WEIGHTS, dtype=np.float32), self.seed)

    def extract_soft_all(self, stego: Image.Image) -> np.ndarray:
        """Soft values of every payload position of the grid recorded in ``stego``'s preamble.

        Empty if no preamble is found. See :meth:`extract_soft` for their meaning.
        """
        rgb = np.asarray(stego.convert("RGB"), dtype=np.float32)
        luma = rgb @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)
        found = find_grid(luma, self.seed)
        if found is None:
            return np.zeros(0, dtype=np.float32)
        x, y, preamble = found
        cols, rows = preamble.cols, preamble.rows
        # Blocks a crop cut off (beyond the margin) read as flat: their soft values are zeroed.
        height, width = luma.shape
        padded = np.zeros((y + 8 * rows, x + 8 * cols), dtype=np.float32)
        visible = luma[: padded.shape[0], : padded.shape[1]]
        padded[: visible.shape[0], : visible.shape[1]] = visible
        region = padded[y:, x:]
        blocks = image_to_blocks(region)
        block, coefficient = _payload_layout(cols, rows, preamble.bits_per_block, self.seed)
        steps = lattice_steps(preamble.quality, preamble.bits_per_block, preamble.step_multiple).astype(np.float32)
        used = blocks @ dct_basis(AC_POSITIONS[: preamble.bits_per_block]).T
        if preamble.step_multiple >= 2:
            jpeg_steps = steps
        else:
            jpeg_steps = np.array(
                [estimate_quantisation_step(used[:, i], step) for i, step in enumerate(steps)], dtype=np.float32
            )
        soft = qim_soft_decision(used[block, coefficient], steps[coefficient], jpeg_steps[coefficient]).astype(np.float32)
        row, col = np.divmod(block, cols)
        soft[(y + 8 * row + 8 > height) | (x + 8 * col + 8 > width)] = 0.0
        return soft

    def extract_soft(self, stego: Image.Image, num_bits: int) -> np.ndarray:
        """Soft bits: the signed, normalised margin ``(d0 - d1) / (d0 + d1)`` in [-1, 1].

        ``d0`` and ``d1`` are the distances of the observed coefficient to the nearest value a
        0 or a 1 can take: the lattice points ``k * step``, or, for ``step_multiple < 2`` after
        JPEG with step ``q`` (estimated per frequency by :func:`estimate_quantisation_step`),
        the points ``q * round(k * step / q)`` that requantisation moved them to. Bits beyond
        the image's capacity (or all of them, without a readable preamble) come back as 0.
        """
        everything = self.extract_soft_all(stego)
        soft = np.zeros(num_bits, dtype=np.float32)
        count = min(num_bits, everything.size)
        soft[:count] = everything[:count]
        return soft


@functools.lru_cache(maxsize=16)
def _payload_layout(cols: int, rows: int, bits_per_block: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Block and coefficient index of every payload position, in order (cached, read-only).

    Every position but the preamble's, in an order that scatters consecutive bits over the image.
    """
    preamble_blocks = preamble_positions(cols, rows, seed)[0]
    order = interleaver_permutation(rows * cols * bits_per_block, seed + 1)
    order = order[~np.isin(order, preamble_blocks * bits_per_block)]
    block, coefficient = order // bits_per_block, order % bits_per_block
    block.flags.writeable = coefficient.flags.writeable = False
    return block, coefficient


def estimate_quantisation_step(values: np.ndarray, lattice_step: float, min_samples: int = 64) -> float:
    """The JPEG quantisation step that ``values`` (one DCT frequency, all blocks) went through.

    JPEG leaves every coefficient on a multiple of its step ``q`` (up to decoding noise of a few
    tenths), so the phases ``2 pi c / q`` of the non-zero coefficients concentrate at 0: their
    mean cosine is a grid score. The step among 2 .. ``lattice_step`` whose grid fits clearly
    better than the embedding lattice itself (by 0.1, and scoring at least 0.4) is returned;
    otherwise ``lattice_step`` (no recompression, too few non-zero coefficients, or a step that
    divides the lattice step), which makes :func:`qim_soft_decision` the plain QIM decision.
    """

    def grid_score(step: float) -> float | None:
        nonzero = values[np.abs(values) > step / 2]
        if nonzero.size < min_samples:
            return None
        return float(np.cos(nonzero * np.float32(2 * np.pi / step)).mean())

    best_step, best_score = float(lattice_step), max(0.4, (grid_score(lattice_step) or 0.0) + 0.1)
    for step in range(2, int(lattice_step)):
        score = grid_score(step)
        if score is not None and score > best_score:
            best_step, best_score = float(step), score
    return best_step


def qim_soft_decision(values: np.ndarray, lattice_steps: np.ndarray, jpeg_steps: np.ndarray) -> np.ndarray:
    """Soft bits ``(d0 - d1) / (d0 + d1)`` of QIM ``values`` requantised with ``jpeg_steps``.

    Where the JPEG step divides the lattice step, lattice points stay in place and this is the
    plain QIM margin ``1 - 2 |values / step - k|`` with the sign of the bit ``k mod 2``.
    Elsewhere lattice point ``k * lattice_step`` is expected at
    ``jpeg_step * round(k * lattice_step / jpeg_step)``; when that ratio is within decoding
    noise of a rounding tie both neighbours are accepted.
    """
    ratio = values / lattice_steps
    nearest = np.round(ratio)
    soft = np.where(np.mod(nearest, 2.0) == 1.0, 1.0, -1.0) * (1.0 - 2.0 * np.abs(ratio - nearest))
    moved = np.mod(lattice_steps, jpeg_steps) != 0
    if moved.any():
        soft[moved] = _requantised_soft_decision(values[moved], lattice_steps[moved], jpeg_steps[moved])
    return soft


def _requantised_soft_decision(values: np.ndarray, lattice_steps: np.ndarray, jpeg_steps: np.ndarray) -> np.ndarray:
    # Requantisation moves a lattice point by at most half a JPEG step (at most half a lattice
    # step), so the sent index is within one of round(values / step), and the nearest point of
    # the other parity is one of its neighbours.
    k = np.round(values / lattice_steps)[:, None] + np.arange(-1, 2, dtype=values.dtype)
    ratio = k * (lattice_steps / jpeg_steps)[:, None] + 0.5
    tie = (0.6 / jpeg_steps)[:, None]
    step, observed = jpeg_steps[:, None], values[:, None]
    distance = np.minimum(
        np.abs(observed - np.floor(ratio - tie) * step), np.abs(observed - np.floor(ratio + tie) * step)
    )
    odd = np.mod(k, 2) == 1
    d1 = np.where(odd, distance, np.inf).min(axis=1)
    d0 = np.where(odd, np.inf, distance).min(axis=1)
    return (d0 - d1) / np.maximum(d0 + d1, 1e-6)
