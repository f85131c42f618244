"""Hide an encoded audio file in a cover image and get it back, with any :class:`Embedder`.

Sender: pack (encrypt, code, frame) and embed, then measure the raw bit-error rate of *this*
stego image through real JPEG at and above the target quality, check that the payload comes
back at the target quality, and re-embed with a stronger BCH code if the measurement asks for
one. Receiver: extract soft bits, unpack (BCH, decrypt) — exact bytes or a documented
error. Embedders are looked up by name in a small registry (:func:`register_embedder`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math

import numpy as np
from PIL import Image

from common.errors import InputError, PayloadUnrecoverableError, StegavoxError
from common.image import jpeg_roundtrip
from common.payload import container, ecc
from steganography.embedders.base import Embedder

#: Embedders by ``--method`` name: ``"module:Class"``, imported on first use.
_EMBEDDERS: dict[str, str] = {
    "classical": "steganography.embedders.classical:ClassicalEmbedder",
    "inn": "steganography.embedders.inn:INNEmbedder",
}

#: Qualities above the target at which the raw bit-error rate is also measured (capped at 95):
#: just above the target the JPEG grid is least aligned with the embedding lattice.
CALIBRATION_OFFSETS = (0, 5, 10)
#: Seed of the random probe bits used to measure the bit-error rate of a cover.
PROBE_SEED = 0
#: Raw bit-error rate the first attempt's code is designed for (then checked on the stego image).
FIRST_GUESS_BER = 0.015
#: Codeword failure probability a code must reach at the measured rates.
TARGET_CODEWORD_FAILURE = 1e-6
#: A retry designs its code for this multiple of the measured bit-error rate.
RETRY_MARGIN = 1.25
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
    #: Measured raw bit-error rate per JPEG quality.
    bit_error_rates: dict[int, float]
    #: Whether the payload came back after Pillow JPEG at the target quality.
    survives_target: bool


def calibration_qualities(quality_target: int) -> list[int]:
    """JPEG qualities at which a stego image's raw bit-error rate is measured."""
    return sorted({min(quality_target + offset, max(quality_target, 95)) for offset in CALIBRATION_OFFSETS})


def _error_rate(soft: np.ndarray, bits: np.ndarray) -> float:
    """Share of wrong hard decisions; fewer than 3 errors count as 3 (an upper bound, not a
    misleading zero, see :func:`common.payload.ecc.conservative_ber`)."""
    return max(int(np.count_nonzero((soft[: bits.size] > 0) != bits)), 3) / max(bits.size, 1)


def measure_bit_error_rates(
    embedder: Embedder, stego: Image.Image, bits: np.ndarray, qualities: list[int]
) -> tuple[dict[int, float], dict[int, np.ndarray]]:
    """Raw bit-error rates of the ``bits`` hidden in ``stego`` after real JPEG at each quality.

    Returns:
        The rates and the extracted soft bits (the whole capacity) per quality.
    """
    capacity = embedder.capacity_bits(*stego.size)
    soft = {quality: embedder.extract_soft(jpeg_roundtrip(stego, quality), capacity) for quality in qualities}
    return {quality: _error_rate(values, bits) for quality, values in soft.items()}, soft


def probe_bit_error_rates(
    embedder: Embedder, cover: Image.Image, qualities: list[int], seed: int = PROBE_SEED
) -> dict[int, float]:
    """Raw bit-error rates of random bits filling ``cover``, after real JPEG at each quality."""
    capacity = embedder.capacity_bits(*cover.size)
    if capacity == 0:
        return {quality: 0.5 for quality in qualities}
    bits = np.random.default_rng(seed).integers(0, 2, capacity, dtype=np.uint8)
    return measure_bit_error_rates(embedder, embedder.embed(cover, bits), bits, qualities)[0]


def choose_code(bit_error_rates: dict[int, float], quality_target: int, margin: float = 1.0) -> tuple[int, int]:
    """``(t, m)`` of the BCH code for the worst measured rate (see :func:`ecc.choose_bch_params`).

    The rates are one image's at several JPEG qualities, not a sample of images, so the code is
    designed for their maximum (no spread term), times ``margin``.

    Raises:
        InputError: no BCH code copes with the measured rate.
    """
    worst = max(bit_error_rates.values())
    try:
        return _code_for(min(0.5, margin * worst))
    except ValueError:
        raise InputError(
            f"this cover cannot carry data through JPEG quality {quality_target} "
            f"(raw bit-error rate up to {worst:.1%}); try a lower --quality-target or another cover"
        ) from None


@functools.lru_cache(maxsize=64)
def _code_for(bit_error_rate: float) -> tuple[int, int]:
    return ecc.choose_bch_params([bit_error_rate], TARGET_CODEWORD_FAILURE, std_factor=0.0)


def code_suffices(t: int, m: int, bit_error_rates: dict[int, float]) -> bool:
    """Whether BCH ``(t, m)`` meets the codeword failure target at the worst measured rate."""
    worst = max(bit_error_rates.values())
    failure = ecc.codeword_failure_probability(t, ecc.bch_code(t, m).codeword_bits, worst)
    return failure <= TARGET_CODEWORD_FAILURE


def _recovers(soft: np.ndarray, audio: bytes, passphrase: bytes) -> bool:
    try:
        recovered, _, _ = container.unpack(soft, passphrase)
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

    With ``bch_t=None`` the first attempt uses the code for :data:`FIRST_GUESS_BER` (or, if
    that frame does not fit, the weakest code adequate for a probe of the cover). The stego
    image is then recompressed with Pillow at the target quality and just above it; if the
    measured bit-error rates call for a stronger code than the one used (codeword failure
    above :data:`TARGET_CODEWORD_FAILURE`), or the payload does not come back at the target
    quality, it is packed and embedded again with a stronger code.

    Args:
        cover: RGB cover image.
        audio: complete encoded audio file (see :func:`common.payload.codecs.encode_audio`).
        meta: its codec, sample rate and channels.
        passphrase: encryption passphrase.
        embedder: the hider.
        quality_target: JPEG quality the stego image must survive (checked with Pillow).
        bch_t: BCH strength over GF(2^13), used as is (see :attr:`HideResult.survives_target`);
            ``None`` chooses the code as described above.

    Raises:
        CoverTooSmallError: the frame does not fit.
        InputError: no code makes the payload survive ``quality_target`` on this cover (or a
            given ``bch_t`` does not even survive the lossless stego image).
    """
    capacity = embedder.capacity_bits(*cover.size)
    qualities = [quality_target] if bch_t is not None else calibration_qualities(quality_target)
    if bch_t is not None:
        t, m = bch_t, ecc.DEFAULT_BCH_M
    else:
        t, m = choose_code({quality_target: FIRST_GUESS_BER}, quality_target)
        if container.frame_bits(len(audio), t, m) > capacity:
            t, m = choose_code(probe_bit_error_rates(embedder, cover, qualities), quality_target)
    for attempt in range(STRONGER_CODE_ATTEMPTS + 1):
        frame = container.frame_bits(len(audio), t, m)
        if frame > capacity:
            raise _fit_error(capacity, audio, t, m)
        bits = container.pack(audio, meta, passphrase, t, m)
        stego = embedder.embed(cover, bits)
        # Exact bits need no decoding to be trusted; otherwise let the container try.
        direct = embedder.extract_soft(stego, capacity)
        lossless = np.array_equal(direct[: bits.size] > 0, bits.astype(bool)) or _recovers(direct, audio, passphrase)
        if not lossless:
            if bch_t is not None or attempt == STRONGER_CODE_ATTEMPTS:
                raise InputError(
                    f"BCH t={t} is too weak for this cover: the payload does not come back even without recompression"
                )
            t = min(math.ceil(1.5 * t), ecc.MAX_BCH_T)
            continue
        rates, soft = measure_bit_error_rates(embedder, stego, bits, qualities)
        survives = _recovers(soft[quality_target], audio, passphrase)
        if bch_t is not None or (survives and code_suffices(t, m, rates)):
            return HideResult(stego, t, m, frame, capacity, rates, survives)
        # A margin over the new measurement, so that the next one (other bits, same cover) passes.
        needed = choose_code(rates, quality_target, margin=RETRY_MARGIN)
        t, m = needed if needed != (t, m) else (min(math.ceil(1.5 * t), ecc.MAX_BCH_T), m)
    raise InputError(
        f"the payload does not survive JPEG quality {quality_target} on this cover even with BCH t={t}; "
        "try a lower --quality-target, a shorter or lower-bitrate audio, or a larger cover"
    )


def max_payload_bytes(embedder: Embedder, cover: Image.Image, quality_target: int) -> tuple[int, int, int]:
    """The largest audio file (bytes) :func:`hide` can put in ``cover``, and its BCH ``(t, m)``."""
    capacity = embedder.capacity_bits(*cover.size)
    rates = probe_bit_error_rates(embedder, cover, calibration_qualities(quality_target))
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
