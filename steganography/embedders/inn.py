"""The learned hider behind ``--method inn``: the shipped :class:`InvertibleHider` as an :class:`Embedder`.

The network is fully convolutional with block size ``s = 2**levels``: it hides ``message_channels``
bits per ``s × s`` block. Any cover works: the largest top-left region whose sides are multiples
of ``s`` carries the message (aligned with JPEG's 8×8 grid), the right and bottom borders are left
unchanged. Bit ``k`` is entry ``k`` of the row-major ``(C_m, H/s, W/s)`` message (bit 1 ↔ +1);
capacity not used by the payload is filled with pseudo-random bits, the distribution the network
was trained on, keyed by the passphrase and the message (:func:`message_digest`): without the
passphrase the filler cannot be told from a frame, nor two images of one sender linked by it
(before 2026-12-03 it was one public sequence, a keyless tell). Soft bits are the revealed
values (positive means 1).

The region is processed in tiles of the training crop size (``tile_size`` in the checkpoint's
metadata), so that the attention gates' global statistics match training; a tile never crosses
the 8×8 grid, and bit ``k`` keeps its place in the whole-image message. Tiles of one shape run
through the network in batches (:data:`TILE_BATCH_PIXELS`).

Checkpoints are shipped-format files (:mod:`common.export`) holding only the hider's weights, its
constructor arguments and training metadata; no LPIPS or Zhu-Net weights.

On the CPU the network runs on :func:`inference_threads` threads (one unless ``STEGAVOX_THREADS``
says otherwise). torch's OpenMP threads spin at every operation's barrier: where another process
holds a core, two threads took 5-10x as long as one (the same ``--platform any`` hide measured
5.8 s on one run and 30.9 s on the next, 11 s vs 82 s on one thread vs two under load), while
one thread takes the same time whatever the load; the output is the same bit for bit.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from common.export import load_module
from common.image import pil_to_tensor, tensor_to_pil
from steganography.embedders.base import Embedder, message_digest
from steganography.models.channel import quantize_ste
from steganography.models.inn import InvertibleHider

#: The checkpoint shipped with the package.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "inn_small.pt"
#: Seed of the filler bits written into capacity the payload does not use (with the key and the message).
FILLER_SEED = 0x1CE
#: Tiles of equal shape go through the network together, up to this many pixels per pass.
TILE_BATCH_PIXELS = 512 * 512
#: Tiles in the mosaic whose error rates design the code (:meth:`INNEmbedder.probe_cover`).
PROBE_TILES = 64
#: Environment variable with the number of CPU threads the networks may use (default 1).
THREADS_ENV_VAR = "STEGAVOX_THREADS"


def inference_threads() -> int:
    """CPU threads for the networks: ``STEGAVOX_THREADS`` if it is a positive integer, else 1
    (see the module docstring: predictable on a shared machine)."""
    value = os.environ.get(THREADS_ENV_VAR, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


class INNEmbedder(Embedder):
    """Hide bits with the trained invertible network (see the module docstring).

    Args:
        checkpoint: shipped-format hider file (:func:`common.export.load_module`).
        quality_target: accepted for the common embedder interface; the network was trained for
            a range of JPEG qualities and embeds the same way for every target.
        device: torch device to run the network on.
    """

    name = "inn"
    #: No covert capacity: on 48 held-out photos at 1600x1200 after a Q75 JPEG, DCTR + FLD tells the
    #: shipped model's stego images from clean ones with P_E 0.008 for 1 s and 5 s of Codec2 1200
    #: (it writes its whole capacity whatever the message), and anyone holding the public weights
    #: sees the revealed values' confidence (``benchmarks/steganalysis.py --modes 'inn 1 s' 'inn 5
    #: s'``, 2026-12-03, docs/covertness.md); ``hide`` uses it only when the sender accepts a
    #: detectable image.
    covert_fraction = 0.0
    #: A learned hider has no lattice that realigns just above the target: its error rate falls
    #: as the quality rises, so ``hide`` measures at the target only.
    calibration_offsets = (0,)

    def __init__(
        self, checkpoint: str | os.PathLike = DEFAULT_CHECKPOINT, quality_target: int | None = None, device: str = "cpu"
    ) -> None:
        hider, metadata = load_module(checkpoint, InvertibleHider)
        self._attach(hider.to(torch.device(device)), metadata, quality_target)

    @classmethod
    def from_hider(
        cls, hider: InvertibleHider, tile_size: int | None = None, quality_target: int | None = None
    ) -> INNEmbedder:
        """Wrap an in-memory hider (e.g. the one a training task is fitting) without a checkpoint.

        The hider stays where it is (its device, its weights); :meth:`embed` and
        :meth:`extract_soft` run it in eval mode and restore its training mode afterwards.

        Args:
            hider: the network.
            tile_size: side of the tiles the region is processed in (``None``: the whole region).
            quality_target: see the class arguments.
        """
        embedder = cls.__new__(cls)
        embedder._attach(hider, {} if tile_size is None else {"tile_size": tile_size}, quality_target)
        return embedder

    def _attach(self, hider: InvertibleHider, metadata: dict[str, Any], quality_target: int | None) -> None:
        self.hider, self.metadata = hider, metadata
        self.tile_size = metadata.get("tile_size")
        if self.tile_size is not None and self.tile_size % hider.block_size:
            raise ValueError(f"tile_size {self.tile_size} is not a multiple of the block size {hider.block_size}")
        self.quality_target = quality_target
        #: Key of the filler (:meth:`keyed`; the application derives it from the passphrase).
        self.seed = 0

    def keyed(self, seed: int) -> INNEmbedder:
        """A copy (the network shared) whose filler is keyed by ``seed``."""
        embedder = copy.copy(self)
        embedder.seed = seed
        return embedder

    @property
    def device(self) -> torch.device:
        """Where the network's weights are (and where it runs)."""
        return next(self.hider.parameters()).device

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode, no autograd and (on the CPU) :func:`inference_threads` threads for the
        network, restoring its training mode and torch's thread count on exit."""
        training = self.hider.training
        threads = torch.get_num_threads()
        if self.device.type == "cpu" and threads != inference_threads():
            torch.set_num_threads(inference_threads())
        self.hider.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.hider.train(training)
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)

    def _region(self, width: int, height: int) -> tuple[int, int]:
        """Height and width of the top-left region that carries the message."""
        size = self.hider.block_size
        return height - height % size, width - width % size

    def capacity_bits(self, width: int, height: int) -> int:
        region_height, region_width = self._region(width, height)
        if region_height == 0 or region_width == 0:
            return 0
        return self.hider.bits_per_image(region_height, region_width)

    def probe_cover(self, cover: Image.Image) -> Image.Image:
        """A mosaic of :data:`PROBE_TILES` whole tiles spread evenly over ``cover`` (the cover
        itself when it has no more): each tile is hidden in on its own and JPEG's 8×8 (and 4:2:0
        16×16) blocks never straddle tiles, so the mosaic's error rate stands for the cover's."""
        tile = self.tile_size or 0
        rows, cols = (cover.height // tile, cover.width // tile) if tile else (0, 0)
        if rows * cols <= PROBE_TILES:
            return cover
        side = math.isqrt(PROBE_TILES)
        picks = np.linspace(0, rows * cols - 1, side * side).round().astype(int)
        array = np.asarray(cover.convert("RGB"))
        mosaic = np.empty((side * tile, side * tile, 3), dtype=np.uint8)
        for index, pick in enumerate(picks):
            row, col = divmod(int(pick), cols)
            top, left = divmod(index, side)
            source = array[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile]
            mosaic[top * tile : (top + 1) * tile, left * tile : (left + 1) * tile] = source
        return Image.fromarray(mosaic)

    def _message(self, bits: np.ndarray, region_height: int, region_width: int) -> torch.Tensor:
        shape = self.hider.message_shape(region_height, region_width)
        capacity = int(np.prod(shape))
        bits = np.asarray(bits, dtype=np.uint8).reshape(-1)
        if bits.size > capacity:
            raise ValueError(f"{bits.size} bits do not fit in a capacity of {capacity}")
        return self._keyed_signs(bits, capacity, (FILLER_SEED, self.seed)).reshape(1, *shape)

    def _keyed_signs(self, bits: np.ndarray, capacity: int, stream: tuple[int, ...]) -> torch.Tensor:
        """``bits`` then filler bits up to ``capacity``, as ±1 values on the device; the filler is
        drawn from the generator seeded by ``stream`` and the message's :func:`message_digest`."""
        filler = np.random.default_rng([*stream, message_digest(self.seed, bits)]).integers(0, 2, capacity, dtype=np.uint8)
        filler[: bits.size] = bits
        return torch.from_numpy(filler.astype(np.float32) * 2 - 1).to(self.device)

    def _tiles(self, region_height: int, region_width: int) -> list[tuple[slice, slice, slice, slice]]:
        """Pixel and message-cell slices ``(rows, cols, cell_rows, cell_cols)`` of each tile."""
        tile, size = self.tile_size or max(region_height, region_width), self.hider.block_size
        tiles = []
        for top in range(0, region_height, tile):
            bottom = min(top + tile, region_height)
            for left in range(0, region_width, tile):
                right = min(left + tile, region_width)
                cells = slice(top // size, bottom // size), slice(left // size, right // size)
                tiles.append((slice(top, bottom), slice(left, right), *cells))
        return tiles

    def _batches(self, region_height: int, region_width: int) -> Iterator[list[tuple[slice, slice, slice, slice]]]:
        """The tiles of :meth:`_tiles` in batches of equal shape (one network pass each)."""
        by_shape: dict[tuple[int, int], list[tuple[slice, slice, slice, slice]]] = {}
        for tile in self._tiles(region_height, region_width):
            by_shape.setdefault((tile[0].stop - tile[0].start, tile[1].stop - tile[1].start), []).append(tile)
        for (height, width), tiles in by_shape.items():
            step = max(1, TILE_BATCH_PIXELS // (height * width))
            for start in range(0, len(tiles), step):
                yield tiles[start : start + step]

    def hide_tensor(self, image: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        """Unquantised stego ``(1, 3, H, W)`` of ``image`` (sides multiples of the block size)
        carrying the ±1 ``message (1, C_m, H/s, W/s)``, tile by tile in batches."""
        stego = image.clone()
        for batch in self._batches(*image.shape[-2:]):
            tiles = torch.cat([image[..., rows, cols] for rows, cols, _, _ in batch])
            cells = torch.cat([message[..., cell_rows, cell_cols] for _, _, cell_rows, cell_cols in batch])
            hidden, _ = self.hider(tiles, cells)
            for (rows, cols, _, _), tile in zip(batch, hidden):
                stego[..., rows, cols] = tile
        return stego

    def reveal_tensor(self, image: torch.Tensor) -> torch.Tensor:
        """Revealed soft values ``(1, C_m, H/s, W/s)`` of ``image`` (sides multiples of the block
        size), tile by tile in batches."""
        revealed = torch.empty(1, *self.hider.message_shape(*image.shape[-2:]), device=image.device)
        for batch in self._batches(*image.shape[-2:]):
            values = self.hider.reveal(torch.cat([image[..., rows, cols] for rows, cols, _, _ in batch]))
            for (_, _, cell_rows, cell_cols), value in zip(batch, values):
                revealed[..., cell_rows, cell_cols] = value
        return revealed

    def embed(self, cover: Image.Image, bits: np.ndarray) -> Image.Image:
        region_height, region_width = self._region(*cover.size)
        if region_height == 0 or region_width == 0:
            raise ValueError(f"a {cover.width}x{cover.height} cover is smaller than one {self.hider.block_size}-pixel block")
        with self._inference():
            image = pil_to_tensor(cover.convert("RGB")).unsqueeze(0).to(self.device)
            stego = image.clone()
            message = self._message(bits, region_height, region_width)
            stego[..., :region_height, :region_width] = self.hide_tensor(image[..., :region_height, :region_width], message)
        return tensor_to_pil(quantize_ste(stego)[0].cpu())

    def extract_soft(self, stego: Image.Image, num_bits: int) -> np.ndarray:
        capacity = self.capacity_bits(*stego.size)
        if num_bits > capacity:
            raise ValueError(f"asked for {num_bits} bits but a {stego.width}x{stego.height} image holds {capacity}")
        if num_bits == 0:  # e.g. an image smaller than one block: nothing to read
            return np.zeros(0, dtype=np.float32)
        region_height, region_width = self._region(*stego.size)
        with self._inference():
            image = pil_to_tensor(stego.convert("RGB")).unsqueeze(0).to(self.device)
            revealed = self.reveal_tensor(image[..., :region_height, :region_width])
        return revealed.reshape(-1)[:num_bits].float().cpu().numpy()
