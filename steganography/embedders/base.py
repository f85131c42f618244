"""The interface every image hider implements, classical or learned.

Bits are numpy ``uint8`` arrays of 0/1. Images cross the interface as RGB Pillow images, the
form in which they are saved, shared and recompressed; soft bits are float32 arrays where a
positive value means bit 1 and the magnitude is the confidence.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod

import numpy as np
from PIL import Image


def message_digest(seed: int, bits: np.ndarray) -> int:
    """A 64-bit keyed hash of one message's ``bits`` under the key ``seed``: the per-message salt
    of an embedder's keyed choices (the application's frames differ in every message, their AES
    salt and nonce being random), so that two images of one sender cannot be linked and an
    embedding stays a function of its inputs."""
    bits = np.asarray(bits, dtype=np.uint8).ravel()
    digest = hashlib.sha256(seed.to_bytes(8, "big") + np.packbits(bits).tobytes() + bits.size.to_bytes(8, "big"))
    return int.from_bytes(digest.digest()[:8], "big")


class Embedder(ABC):
    """Hides a bit string in a cover image and extracts it from a (recompressed) stego image."""

    #: Short name used on the command line (``--method``).
    name: str = ""
    #: JPEG qualities above the target at which ``hide`` also measures raw bit-error rates
    #: (``None``: the pipeline's default, which looks just above the target where a JPEG-aligned
    #: lattice is least aligned with the recompression).
    calibration_offsets: tuple[int, ...] | None = None
    #: Multiple of the raw bit-error rate measured on a probe that ``hide`` designs the code for
    #: (``None``: the pipeline's default); larger where the rate of the actual stego image varies
    #: more around the probe's (few channel bits, few errors), so that ``hide`` rarely re-embeds.
    design_margin: float | None = None
    #: Share of :meth:`capacity_bits` a message may fill and still pass for a clean photo (the
    #: *covert* capacity, measured by ``benchmarks/steganalysis.py``); ``hide`` goes beyond it
    #: only when the sender accepts a detectable image. 1.0 where no such limit was measured.
    covert_fraction: float = 1.0

    @abstractmethod
    def capacity_bits(self, width: int, height: int) -> int:
        """Raw (channel) bits that fit in a ``width`` x ``height`` cover."""

    @abstractmethod
    def embed(self, cover: Image.Image, bits: np.ndarray) -> Image.Image:
        """Hide ``bits`` (at most ``capacity_bits``; the rest of the capacity is left as is)."""

    @abstractmethod
    def extract_soft(self, stego: Image.Image, num_bits: int) -> np.ndarray:
        """Soft estimates of the first ``num_bits`` hidden bits (positive means 1)."""

    def keyed(self, seed: int) -> Embedder:
        """This embedder with its own layout (marker positions, bit order) keyed by ``seed``.

        The application passes :func:`common.payload.crypto.embedding_seed` of the passphrase, so
        that without it nothing in the image — not even an embedder's marker — can be found.
        Embedders without a layout of their own return themselves.
        """
        return self

    def maximal(self) -> Embedder:
        """The variant of this design with the most capacity, for a sender who accepts a
        detectable image (e.g. the classical embedder without spreading); itself by default."""
        return self

    def gentler(self) -> list[Embedder]:
        """Variants of this design that may change the cover less and that the same receiver
        reads (e.g. a weaker residual, a finer lattice), gentlest first: ``hide`` uses the one
        whose frame (with the stronger code its probe asks for) fits with the least
        :meth:`footprint`. None by default."""
        return []

    def footprint(self, frame_bits: int) -> float:
        """How much hiding a frame of ``frame_bits`` channel bits changes the cover, in units that
        compare this design's :meth:`gentler` variants (not other designs): the frame's bits by
        default."""
        return float(frame_bits)

    def probe_cover(self, cover: Image.Image) -> Image.Image:
        """An image whose raw bit-error rates after recompression stand for ``cover``'s, used to
        design the error-correcting code before embedding; the cover itself unless an embedder
        can measure on less (e.g. a sample of its independent tiles)."""
        return cover

    def extract(self, stego: Image.Image, num_bits: int) -> np.ndarray:
        """Hard decisions of :meth:`extract_soft`."""
        return (self.extract_soft(stego, num_bits) > 0).astype(np.uint8)
