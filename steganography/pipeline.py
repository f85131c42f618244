"""Hide an encoded audio file in a cover image and get it back, with any :class:`Embedder`.

Sender: measure the embedder's raw bit-error rate on *this* cover through real JPEG at and
above the target quality, pick the BCH code from it, pack (encrypt, code, frame), embed, and
check that the stego image and its JPEG recompression at the target quality both give the
payload back. Receiver: extract soft bits, unpack (BCH, decrypt) — exact bytes or a documented
error. Embedders are looked up by name in a small registry (:func:`register_embedder`).
"""

from __future__ import annotations

import dataclasses
import importlib
import math

import numpy as np
from PIL import Image

from common.errors import InputError, PayloadUnrecoverableError, StegavoxError
from common.image import jpeg_roundtrip
from common.payload import container, ecc
from steganography.embedder import Embedder

#: Embedders by ``--method`` name: ``"module:Class"``, imported on first use.
_EMBEDDERS: dict[str, str] = {"classical": "steganography.classical:ClassicalEmbedder"}

#: Qualities above the target at which the raw bit-error rate is also measured (capped at 95).
CALIBRATION_OFFSETS = (0, 5, 10, 20)
#: Seed of the random probe bits used to measure the bit-error rate.
PROBE_SEED = 0
#: How many times a failed check after embedding retries with a stronger BCH code.
STRONGER_CODE_ATTEMPTS = 3


def register_embedder(name: str, target: str) -> None:
    """Make ``--method name`` build ``target`` (``"package.module:Class"``, an :class:`Embedder`)."""
    _EMBEDDERS[name] = target


def available_embedders() -> tuple[str, ...]:
    """Names accepted by :func:`make_embedder`."""
    return tuple(sorted(_EMBEDDERS))


def make_embedder(name: str, **options) -> Embedder:
    """Build the embedder registered as ``name`` with keyword ``options`` (e.g. ``quality_target``).

    Raises:
        InputError: no embedder has that name.
    """
    if name not in _EMBEDDERS:
        raise InputError(f"unknown method {name!r}; choose one of {', '.join(available_embedders())}")
    module_name, class_name = _EMBEDDERS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)(**options)


class CoverTooSmallError(InputError):
    """The payload's frame does not fit in the cover (exit code 2).

    Attributes:
        fit_bytes: the largest audio file (bytes) that fits with the chosen code.
        needed_bytes: the size of the audio file that was to be hidden.
    """

    def __init__(self, message: str, fit_bytes: int, needed_bytes: int) -> None:
        super().__init__(message)
        self.fit_bytes = fit_bytes
        self.needed_bytes = needed_bytes


@dataclasses.dataclass
class HideResult:
    """A stego image and how its payload was protected."""

    stego: Image.Image
    bch_t: int
    bch_m: int
    frame_bits: int
    capacity_bits: int
    #: Measured raw bit-error rate per JPEG quality (empty when the code was given).
    bit_error_rates: dict[int, float]
    #: Whether the payload came back after Pillow JPEG at the target quality.
    survives_target: bool


def calibration_qualities(quality_target: int) -> list[int]:
    """JPEG qualities at which :func:`measure_bit_error_rates` probes a cover."""
    return sorted({min(quality_target + offset, 95) for offset in CALIBRATION_OFFSETS} | {quality_target})


def measure_bit_error_rates(
    embedder: Embedder,
    cover: Image.Image,
    qualities: list[int],
    seed: int = PROBE_SEED,
) -> dict[int, float]:
    """Raw bit-error rate of random bits filling ``cover``, after real JPEG at each quality.

    Rates with fewer than 3 errors are reported as 3 / bits, an upper bound rather than a
    misleading zero (see :func:`common.payload.ecc.conservative_ber`).
    """
    capacity = embedder.capacity_bits(*cover.size)
    if capacity == 0:
        return {quality: 0.5 for quality in qualities}
    bits = np.random.default_rng(seed).integers(0, 2, capacity, dtype=np.uint8)
    stego = embedder.embed(cover, bits)
    rates = {}
    for quality in qualities:
        errors = int(np.count_nonzero(embedder.extract(jpeg_roundtrip(stego, quality), capacity) != bits))
        rates[quality] = max(errors, 3) / capacity
    return rates


def choose_code(bit_error_rates: dict[int, float], quality_target: int) -> tuple[int, int]:
    """``(t, m)`` of the BCH code for the measured rates (see :func:`ecc.choose_bch_params`).

    Raises:
        InputError: no BCH code copes with the measured rate.
    """
    try:
        return ecc.choose_bch_params(list(bit_error_rates.values()))
    except ValueError:
        worst = max(bit_error_rates.values())
        raise InputError(
            f"this cover cannot carry data through JPEG quality {quality_target} "
            f"(raw bit-error rate up to {worst:.1%}); try a lower --quality-target or another cover"
        ) from None


def _recovers(embedder: Embedder, image: Image.Image, capacity: int, audio: bytes, passphrase: bytes) -> bool:
    try:
        recovered, _, _ = container.unpack(embedder.extract_soft(image, capacity), passphrase)
    except StegavoxError:
        return False
    return recovered == audio


def _fit_error(capacity: int, audio: bytes, t: int, m: int) -> CoverTooSmallError:
    fit = container.max_payload_bytes(capacity, t, m)
    return CoverTooSmallError(
        f"cover too small: the audio takes {len(audio)} bytes but only {fit} bytes fit", fit, len(audio)
    )


def hide(
    cover: Image.Image,
    audio: bytes,
    meta: container.AudioMeta,
    passphrase: bytes,
    embedder: Embedder,
    quality_target: int,
    bch_t: int | None = None,
) -> HideResult:
    """Hide the audio file bytes ``audio`` in ``cover``.

    Args:
        cover: RGB cover image.
        audio: complete encoded audio file (see :func:`common.payload.codecs.encode_audio`).
        meta: its codec, sample rate and channels.
        passphrase: encryption passphrase.
        embedder: the hider.
        quality_target: JPEG quality the stego image must survive (checked with Pillow).
        bch_t: BCH strength over GF(2^13); ``None`` measures the cover and picks the smallest
            code that reaches a codeword failure rate of 1e-6, made stronger if the check fails.
            A given ``bch_t`` is used as is (see :attr:`HideResult.survives_target`).

    Raises:
        CoverTooSmallError: the frame does not fit.
        InputError: no code makes the payload survive ``quality_target`` on this cover (or a
            given ``bch_t`` does not even survive the lossless stego image).
    """
    capacity = embedder.capacity_bits(*cover.size)
    if bch_t is None:
        rates = measure_bit_error_rates(embedder, cover, calibration_qualities(quality_target))
        t, m = choose_code(rates, quality_target)
    else:
        rates, t, m = {}, bch_t, ecc.DEFAULT_BCH_M
    for attempt in range(STRONGER_CODE_ATTEMPTS + 1):
        frame = container.frame_bits(len(audio), t, m)
        if frame > capacity:
            raise _fit_error(capacity, audio, t, m)
        bits = container.pack(audio, meta, passphrase, t, m)
        stego = embedder.embed(cover, bits)
        lossless = _recovers(embedder, stego, capacity, audio, passphrase)
        survives = lossless and _recovers(embedder, jpeg_roundtrip(stego, quality_target), capacity, audio, passphrase)
        if survives or (lossless and bch_t is not None):
            return HideResult(stego, t, m, frame, capacity, rates, survives)
        if bch_t is not None:
            raise InputError(
                f"BCH t={t} is too weak for this cover: the payload does not come back even without recompression"
            )
        if attempt < STRONGER_CODE_ATTEMPTS and t < ecc.MAX_BCH_T:
            t = min(math.ceil(1.5 * t), ecc.MAX_BCH_T)
        else:
            break
    raise InputError(
        f"the payload does not survive JPEG quality {quality_target} on this cover even with BCH t={t}; "
        "try a lower --quality-target, a shorter or lower-bitrate audio, or a larger cover"
    )


def max_payload_bytes(embedder: Embedder, cover: Image.Image, quality_target: int) -> tuple[int, int, int]:
    """The largest audio file (bytes) :func:`hide` can put in ``cover``, and its BCH ``(t, m)``."""
    capacity = embedder.capacity_bits(*cover.size)
    rates = measure_bit_error_rates(embedder, cover, calibration_qualities(quality_target))
    t, m = choose_code(rates, quality_target)
    return container.max_payload_bytes(capacity, t, m), t, m


def reveal(
    stego: Image.Image, passphrase: bytes, embedder: Embedder
) -> tuple[bytes, container.AudioMeta, container.UnpackStats]:
    """The audio file bytes hidden in ``stego`` (possibly recompressed), exactly as sent.

    Raises:
        PayloadUnrecoverableError: no payload, or too many bit errors.
        AuthenticationError: wrong passphrase or a miscorrected payload.
    """
    capacity = embedder.capacity_bits(*stego.size)
    if capacity == 0:
        width, height = stego.size
        raise PayloadUnrecoverableError(f"no stegavox payload found (a {width}x{height} image holds none)")
    return container.unpack(embedder.extract_soft(stego, capacity), passphrase)
