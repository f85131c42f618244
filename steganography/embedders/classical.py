"""Classical robust hider: quantisation index modulation of 8x8 block-DCT luma coefficients.

Each hidden bit moves one low/mid-frequency DCT coefficient of an 8x8 luma block (Y of YCbCr,
the channel JPEG keeps at full resolution) onto a lattice: even multiples of a step ``s`` for a
0, odd multiples for a 1. A perturbation below ``s/2`` is harmless.

The steps are aligned with JPEG: ``s`` is an integer multiple of the entry of the JPEG luma
quantisation table at ``quality_target``. Every lattice point is then itself a JPEG
reconstruction point at that quality, so requantisation at exactly ``quality_target`` leaves the
embedded values unchanged, and requantisation at a higher quality (finer table) moves them by
less than half a (finer) JPEG step. The extractor also estimates the step each frequency was
requantised with and decides against where the lattice points land after that requantisation,
which keeps the full margin at every quality at or above the target. There is therefore no
random dither: it would break this alignment. Security comes from the encrypted payload, not
from the embedding; seeded permutations of the positions only spread burst errors (clipped,
saturated regions) over the whole bit string.

The luma change is added equally to R, G and B, which leaves Cb and Cr untouched. Rounding to
uint8 and clipping to [0, 255] are corrected by a few projection passes (set the coefficients to
their targets, round and clip, measure again; dithered rounding where plain rounding cancelled a
change), which also lets the DC and the unused coefficients absorb clipping in saturated blocks.

A short preamble, embedded with the much larger steps of :data:`PREAMBLE_QUALITY` in fixed
blocks, records ``quality_target`` and ``bits_per_block``, so the receiver needs only the image.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image

from common.dsp import dct
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
#: The preamble's steps are those of this quality: it survives JPEG down to about this quality.
PREAMBLE_QUALITY = 30
#: Preamble fields: quality_target (7 bits), bits_per_block (6 bits), a 3-bit check.
PREAMBLE_FIELD_BITS = 16
PREAMBLE_REPETITIONS = 6
PREAMBLE_BITS = PREAMBLE_FIELD_BITS * PREAMBLE_REPETITIONS


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


def lattice_steps(quality: int, bits_per_block: int) -> np.ndarray:
    """QIM step of each of the first ``bits_per_block`` AC positions for ``quality``.

    The JPEG table entry, times the smallest integer that brings it to :data:`MIN_STEP`.
    """
    rows, cols = AC_POSITIONS[:bits_per_block].T
    table = jpeg_luma_quantisation(quality)[rows, cols].astype(np.float64)
    return table * np.maximum(1.0, np.ceil(MIN_STEP / table))


@functools.lru_cache(maxsize=1)
def _block_dct_basis() -> torch.Tensor:
    """The orthonormal 2-D 8x8 DCT as a ``(64, 64)`` matrix on row-major blocks.

    Row ``8 * u + v`` holds the basis image of frequency ``(u, v)``: coefficients are
    ``blocks @ basis.T`` and, the matrix being orthogonal, blocks are ``coefficients @ basis``.
    """
    matrix = dct(torch.eye(8, dtype=torch.float64)).T
    return torch.kron(matrix, matrix).float()


def dct_basis(positions: np.ndarray) -> torch.Tensor:
    """Basis images ``(len(positions), 64)`` of the DCT frequencies ``positions`` ``(P, 2)``."""
    return _block_dct_basis()[torch.from_numpy(positions[:, 0] * 8 + positions[:, 1])]


def image_to_blocks(image: torch.Tensor) -> torch.Tensor:
    """The whole 8x8 blocks of an ``(H, W)`` image as ``(blocks, 64)``, each row-major."""
    rows, cols = image.shape[0] // 8, image.shape[1] // 8
    return image[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).transpose(1, 2).reshape(rows * cols, 64)


def luma_blocks(rgb: torch.Tensor) -> torch.Tensor:
    """Luma of the whole 8x8 blocks of an RGB ``(H, W, 3)`` as ``(blocks, 64)``, row-major."""
    return image_to_blocks(rgb @ torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype))


def blocks_to_image(blocks: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Inverse of :func:`image_to_blocks`: ``(rows*cols, 64)`` → ``(8*rows, 8*cols)``."""
    return blocks.reshape(rows, cols, 8, 8).transpose(1, 2).reshape(rows * 8, cols * 8)


def encode_preamble(quality_target: int, bits_per_block: int) -> np.ndarray:
    """The :data:`PREAMBLE_BITS` preamble bits (fields repeated :data:`PREAMBLE_REPETITIONS` times)."""
    check = (quality_target + 3 * bits_per_block) % 8
    word = (quality_target << 9) | (bits_per_block << 3) | check
    fields = (word >> np.arange(PREAMBLE_FIELD_BITS - 1, -1, -1)) & 1
    return np.tile(fields, PREAMBLE_REPETITIONS).astype(np.uint8)


def decode_preamble(soft: np.ndarray) -> tuple[int, int] | None:
    """``(quality_target, bits_per_block)`` from soft preamble bits, or ``None`` if inconsistent."""
    combined = soft.reshape(PREAMBLE_REPETITIONS, PREAMBLE_FIELD_BITS).sum(axis=0)
    word = int(np.sum((combined > 0) << np.arange(PREAMBLE_FIELD_BITS - 1, -1, -1)))
    quality_target, bits_per_block, check = word >> 9, (word >> 3) & 63, word & 7
    if not (1 <= quality_target <= 100 and bits_per_block >= 1) or check != (quality_target + 3 * bits_per_block) % 8:
        return None
    return quality_target, bits_per_block


class ClassicalEmbedder(Embedder):
    """JPEG-aligned QIM in the 8x8 block DCT of the luma channel.

    Args:
        quality_target: lowest JPEG quality the embedding is designed to survive. Lower means
            larger steps: more robust, more visible.
        bits_per_block: coefficients used per 8x8 block, taken in zig-zag order after the DC.
            Raw capacity is about ``bits_per_block * (width // 8) * (height // 8)`` bits.
        seed: seed of the permutations placing the preamble and spreading consecutive bits
            over the image (sender and receiver must agree; the default is public).
        iterations: projection passes correcting rounding and clipping to uint8 (blocks where
            rounding cancelled a change are rounded with a seeded dither on the next pass).

    The receiver reads ``quality_target`` and ``bits_per_block`` from the stego image itself;
    this instance's values are only used if the preamble is unreadable.
    """

    name = "classical"

    def __init__(
        self,
        quality_target: int = JPEG_QUALITY_TARGET,
        bits_per_block: int = 12,
        seed: int = DEFAULT_SEED,
        iterations: int = 3,
    ) -> None:
        if not 1 <= bits_per_block <= 63:
            raise ValueError(f"bits_per_block must be in 1..63, got {bits_per_block}")
        if not 1 <= quality_target <= 100:
            raise ValueError(f"quality_target must be in 1..100, got {quality_target}")
        if iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {iterations}")
        self.quality_target = quality_target
        self.bits_per_block = bits_per_block
        self.seed = seed
        self.iterations = iterations
        #: QIM step of each used AC position.
        self.steps = lattice_steps(quality_target, bits_per_block)
        #: Preamble step (its coefficient is the first AC position).
        self.preamble_step = float(lattice_steps(PREAMBLE_QUALITY, 1)[0])

    def capacity_bits(self, width: int, height: int) -> int:
        blocks = (width // 8) * (height // 8)
        return blocks * self.bits_per_block - PREAMBLE_BITS if blocks >= PREAMBLE_BITS else 0

    def embed(self, cover: Image.Image, bits: np.ndarray) -> Image.Image:
        bits = np.asarray(bits, dtype=np.uint8).ravel()
        width, height = cover.size
        capacity = self.capacity_bits(width, height)
        if bits.size > capacity or capacity == 0:
            raise ValueError(f"{bits.size} bits do not fit in a {width}x{height} cover ({capacity} bits)")
        if bits.size and bits.max() > 1:
            raise ValueError("bits must be 0 or 1")
        preamble_blocks, block, coefficient = self._layout(width, height, self.bits_per_block, self.seed)
        block = np.concatenate([preamble_blocks, block[: bits.size]])
        coefficient = np.concatenate([np.zeros(PREAMBLE_BITS, dtype=np.int64), coefficient[: bits.size]])
        steps = np.concatenate([np.full(PREAMBLE_BITS, self.preamble_step), self.steps[coefficient[PREAMBLE_BITS:]]])
        wanted = np.concatenate([encode_preamble(self.quality_target, self.bits_per_block), bits])
        block, coefficient = torch.from_numpy(block), torch.from_numpy(coefficient)
        steps, wanted = torch.from_numpy(steps).float(), torch.from_numpy(wanted).float()
        basis = dct_basis(AC_POSITIONS[: self.bits_per_block])

        rgb = torch.from_numpy(np.array(cover.convert("RGB"), dtype=np.float32))
        rows, cols = height // 8, width // 8
        region = rgb[: rows * 8, : cols * 8]
        values = (luma_blocks(region) @ basis.T)[block, coefficient]
        # Nearest multiple of the step whose parity is the bit.
        target = (2.0 * torch.round((values / steps - wanted) / 2.0) + wanted) * steps
        generator = torch.Generator().manual_seed(self.seed)
        stuck_blocks = None
        for _ in range(self.iterations):
            delta = torch.zeros(rows * cols, basis.shape[0])
            delta[block, coefficient] = target - values
            change = delta @ basis
            if stuck_blocks is not None:
                # Plain rounding can cancel a change outright (e.g. a lone coefficient whose
                # basis image has the same magnitude on all 64 pixels): dither those blocks.
                change += (torch.rand(change.shape, generator=generator) - 0.5) * stuck_blocks[:, None]
            # The pixels are integers, so rounding the change rounds the pixels; the same change
            # on R, G and B keeps Cb and Cr.
            region += blocks_to_image(torch.round(change), rows, cols).unsqueeze(-1)
            region.clamp_(0.0, 255.0)
            values = (luma_blocks(region) @ basis.T)[block, coefficient]
            residual = (target - values).abs()
            if bool((residual < 0.05 * steps).all()):
                break
            stuck_blocks = torch.zeros(rows * cols)
            stuck_blocks[block[residual > 0.25 * steps]] = 1.0
        return Image.fromarray(rgb.numpy().astype(np.uint8), mode="RGB")

    def extract_soft(self, stego: Image.Image, num_bits: int) -> np.ndarray:
        """Soft bits: the signed, normalised margin ``(d0 - d1) / (d0 + d1)`` in [-1, 1].

        ``d0`` and ``d1`` are the distances of the observed coefficient to the nearest value a
        0 or a 1 can take: the lattice points ``k * step``, or, after JPEG with step ``q``
        (estimated per frequency by :func:`estimate_quantisation_step`), the points
        ``q * round(k * step / q)`` that requantisation moved them to. Bits beyond the image's
        capacity come back as 0 (unknown).
        """
        width, height = stego.size
        blocks = luma_blocks(torch.from_numpy(np.array(stego.convert("RGB"), dtype=np.float32)))
        preamble_blocks, _, _ = self._layout(width, height, 1, self.seed)
        fields = None
        if preamble_blocks.size:
            preamble = (blocks[torch.from_numpy(preamble_blocks)] @ dct_basis(AC_POSITIONS[:1]).T)[:, 0].numpy()
            step = np.full(preamble.size, self.preamble_step, dtype=np.float32)
            fields = decode_preamble(qim_soft_decision(preamble, step, step))
        quality_target, bits_per_block = fields or (self.quality_target, self.bits_per_block)

        _, block, coefficient = self._layout(width, height, bits_per_block, self.seed)
        block, coefficient = block[:num_bits], coefficient[:num_bits]
        steps = lattice_steps(quality_target, bits_per_block).astype(np.float32)
        used = (blocks @ dct_basis(AC_POSITIONS[:bits_per_block]).T).numpy()
        jpeg_steps = np.array(
            [estimate_quantisation_step(used[:, i], step) for i, step in enumerate(steps)], dtype=np.float32
        )
        soft = np.zeros(num_bits, dtype=np.float32)
        soft[: block.size] = qim_soft_decision(used[block, coefficient], steps[coefficient], jpeg_steps[coefficient])
        return soft

    @staticmethod
    def _layout(width: int, height: int, bits_per_block: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Preamble blocks, and block and coefficient index of every payload position in order.

        The preamble sits on the first AC coefficient of :data:`PREAMBLE_BITS` blocks chosen
        independently of ``bits_per_block``; the payload takes every other position, in an
        order that scatters consecutive bits over the image.
        """
        blocks = (width // 8) * (height // 8)
        if blocks < PREAMBLE_BITS:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        preamble_blocks = interleaver_permutation(blocks, seed)[:PREAMBLE_BITS].copy()
        order = interleaver_permutation(blocks * bits_per_block, seed + 1)
        order = order[~np.isin(order, preamble_blocks * bits_per_block)]
        return preamble_blocks, order // bits_per_block, order % bits_per_block


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
