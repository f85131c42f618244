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
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

from common.errors import InputError, PayloadNotFoundError, StegavoxError
from common.payload import container, crypto, ecc
from common.platforms import Channel
from steganography.embedders.base import Embedder

#: Embedders by ``--method`` name: ``"module:Class"``, imported on first use.
_EMBEDDERS: dict[str, str] = {
    "classical": "steganography.embedders.classical:ClassicalEmbedder",
    "inn": "steganography.embedders.inn:INNEmbedder",
    "canonical": "steganography.embedders.canonical:CanonicalINNEmbedder",
}
#: Hiding method ids recorded in the frame header (append only: the ids are part of the format).
METHOD_IDS = {"classical": 1, "inn": 2, "canonical": 3}

#: Qualities above the target at which the raw bit-error rate is also measured (capped at 95):
#: just above the target the JPEG grid is least aligned with the embedding lattice.
CALIBRATION_OFFSETS = (0, 5, 10)
#: Seed of the random probe bits used to measure the bit-error rate of a cover.
PROBE_SEED = 0
#: Raw bit-error rate a code is designed for where there is no capacity to probe (a code to report).
FIRST_GUESS_BER = 0.015
#: Codeword failure probability a code must reach at the measured rates.
TARGET_CODEWORD_FAILURE = 1e-6
#: A retry designs its code for this multiple of the measured bit-error rate.
RETRY_MARGIN = 1.25
#: How many times a failed check after embedding retries with a stronger BCH code.
STRONGER_CODE_ATTEMPTS = 3
#: How many times a frame at the limit whose check asks for a code that no longer fits is packed
#: again with the same code (a fresh salt and nonce: other bits, other positions) and checked anew.
#: The code was designed from the cover's probe; a frame's own few errors can exceed it by chance,
#: and the image that is sent always passes its own check.
REDRAWS_AT_THE_LIMIT = 2

#: A progress callback: the stage under way (a short phrase) and the fraction of it done, 0..1.
Progress = Callable[[str, float], None]


def no_progress(stage: str, fraction: float) -> None:
    """A :data:`Progress` that reports nothing."""


def method_name(method_id: int) -> str:
    """The ``--method`` name of a header's method id (``"unknown"`` for an unassigned one)."""
    return next((name for name, number in METHOD_IDS.items() if number == method_id), "unknown")


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
        fit_bytes: the largest audio file (bytes) that fits with the chosen code (covertly,
            unless the detectable mode was accepted).
        needed_bytes: the size of the audio file that was to be hidden.
        detectable_fit_bytes: when the audio would fit in the detectable mode only, the largest
            that fits there (else ``None``).
    """

    def __init__(self, message: str, fit_bytes: int, needed_bytes: int, detectable_fit_bytes: int | None = None) -> None:
        super().__init__(message)
        self.fit_bytes = fit_bytes
        self.needed_bytes = needed_bytes
        self.detectable_fit_bytes = detectable_fit_bytes


@dataclasses.dataclass
class HideResult:
    """A stego image and how its payload was protected."""

    stego: Image.Image
    bch_t: int
    bch_m: int
    frame_bits: int
    capacity_bits: int
    #: Measured raw bit-error rate per JPEG quality (per :attr:`Channel.label` with channels).
    bit_error_rates: dict[int | str, float]
    #: Whether the payload came back after Pillow JPEG at the target quality.
    survives_target: bool
    #: The covert capacity of the cover (:func:`covert_capacity_bits` of the design given to hide).
    covert_bits: int

    @property
    def detectable_note(self) -> str | None:
        """The one line saying that the frame exceeds the covert capacity, or ``None``."""
        if self.frame_bits <= self.covert_bits:
            return None
        return (
            f"detectable: the message takes {self.frame_bits} channel bits, more than the {self.covert_bits} this "
            "cover hides covertly; steganalysis can tell this image from a photo"
        )


def calibration_qualities(quality_target: int, offsets: tuple[int, ...] | None = None) -> list[int]:
    """JPEG qualities at which a stego image's raw bit-error rate is measured (``offsets`` above
    the target; ``None``: :data:`CALIBRATION_OFFSETS`)."""
    return sorted({min(quality_target + offset, max(quality_target, 95)) for offset in offsets or CALIBRATION_OFFSETS})


def _error_rate(soft: np.ndarray, bits: np.ndarray, floor_bits: int | None = None) -> float:
    """Share of wrong hard decisions; fewer than 3 errors count as 3 in ``floor_bits`` (default:
    the bits measured): an upper bound, not a misleading zero, see
    :func:`common.payload.ecc.conservative_ber`."""
    errors = int(np.count_nonzero((soft[: bits.size] > 0) != bits))
    return max(errors / max(bits.size, 1), 3 / max(floor_bits or bits.size, 1))


def extract_all(embedder: Embedder, stego: Image.Image, min_bits: int = 0) -> np.ndarray:
    """Every soft bit ``embedder`` finds in ``stego`` (at least ``min_bits``, zero-padded).

    Uses the embedder's own idea of the payload's extent when it has one (``extract_soft_all``,
    e.g. the grid recorded in the classical preamble, which survives crops), else the capacity
    of the image as it is.
    """
    everything = getattr(embedder, "extract_soft_all", None)
    if everything is not None:
        soft = everything(stego)
    else:
        soft = embedder.extract_soft(stego, embedder.capacity_bits(*stego.size))
    if soft.size < min_bits:
        soft = np.concatenate([soft, np.zeros(min_bits - soft.size, dtype=np.float32)])
    return soft


def _as_channel(item: int | Channel) -> Channel:
    return item if isinstance(item, Channel) else Channel((int(item),))


def measure_bit_error_rates(
    embedder: Embedder,
    stego: Image.Image,
    bits: np.ndarray,
    qualities: list[int] | list[Channel],
    progress: Progress = no_progress,
    stage: str = "checking the stego image",
    floor_bits: int | None = None,
) -> tuple[dict[int | str, float], dict[int | str, np.ndarray]]:
    """Raw bit-error rates of the ``bits`` hidden in ``stego`` after real JPEG at each quality.

    ``qualities`` may also hold :class:`~common.platforms.Channel` s (crops and JPEG chains);
    results are keyed by their :attr:`~common.platforms.Channel.label` (a single JPEG's label
    is its quality). ``progress`` hears ``stage`` after each channel. A rate is at least 3 errors
    in ``floor_bits`` (default: in the bits measured).

    Returns:
        The rates and the extracted soft bits (the whole capacity) per quality or channel.
    """
    capacity = embedder.capacity_bits(*stego.size)
    channels = [_as_channel(item) for item in qualities]
    soft = {}
    for done, channel in enumerate(channels):
        progress(stage, done / len(channels))
        soft[channel.label] = extract_all(embedder, channel.apply(stego), capacity)
    progress(stage, 1.0)
    return {label: _error_rate(values, bits, floor_bits) for label, values in soft.items()}, soft


def probe_bit_error_rates(
    embedder: Embedder,
    cover: Image.Image,
    qualities: list[int] | list[Channel],
    seed: int = PROBE_SEED,
    progress: Progress = no_progress,
    floor_bits: int | None = None,
) -> dict[int | str, float]:
    """Raw bit-error rates of random bits filling ``cover`` (or the embedder's
    :meth:`~steganography.embedders.base.Embedder.probe_cover` of it), after real JPEG at each
    quality (or channel); at least 3 errors in ``floor_bits``, e.g. the frame to be checked (a
    frame of ``n`` bits is checked as at least 3 errors in ``n``)."""
    cover = embedder.probe_cover(cover)
    capacity = embedder.capacity_bits(*cover.size)
    if capacity == 0:
        return {_as_channel(quality).label: 0.5 for quality in qualities}
    bits = np.random.default_rng(seed).integers(0, 2, capacity, dtype=np.uint8)
    progress("measuring the cover", 0.0)
    stego = embedder.embed(cover, bits)
    return measure_bit_error_rates(embedder, stego, bits, qualities, progress, "measuring the cover", floor_bits)[0]


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


def probed_code(
    embedder: Embedder,
    cover: Image.Image,
    quality_target: int,
    channels: list[Channel] | None = None,
    floor_bits: int | None = None,
    progress: Progress = no_progress,
) -> tuple[int, int]:
    """The lightest BCH ``(t, m)`` the probe of ``cover`` allows (through ``channels``, or single
    JPEGs at and above ``quality_target``), with the embedder's margin: the code :func:`hide`
    starts with, so that a frame changes no more of the photo than the cover needs."""
    qualities = list(channels) if channels else calibration_qualities(quality_target, embedder.calibration_offsets)
    rates = probe_bit_error_rates(embedder, cover, qualities, progress=progress, floor_bits=floor_bits)
    return choose_code(rates, quality_target, margin=_margin(embedder))


def _margin(embedder: Embedder) -> float:
    """The multiple of a measured bit-error rate a code is designed for: the embedder's own
    :attr:`~steganography.embedders.base.Embedder.design_margin`, else :data:`RETRY_MARGIN`."""
    return embedder.design_margin or RETRY_MARGIN


def _recovers(soft: np.ndarray, audio: bytes, passphrase: bytes) -> bool:
    try:
        recovered, _, _ = container.unpack(soft, passphrase)
    except StegavoxError:
        return False
    return recovered == audio


def covert_capacity_bits(embedder: Embedder, width: int, height: int) -> int:
    """Channel bits a ``width`` x ``height`` cover carries covertly: the embedder's
    :attr:`~steganography.embedders.base.Embedder.covert_fraction` of its capacity."""
    return int(embedder.covert_fraction * embedder.capacity_bits(width, height))


def _fit_error(capacity: int, covert: int, audio: bytes, t: int, m: int, detectable_ok: bool) -> CoverTooSmallError:
    """The refusal of a frame too long for ``covert`` bits (or, ``detectable_ok``, ``capacity``:
    the whole capacity of the detectable design)."""
    fit = container.max_payload_bytes(capacity, t, m)
    if detectable_ok or container.frame_bits(len(audio), t, m) > capacity:
        return CoverTooSmallError(f"cover too small: the audio takes {len(audio)} bytes but only {fit} bytes fit", fit, len(audio))
    covert_fit = container.max_payload_bytes(covert, t, m)
    return CoverTooSmallError(
        f"too long to hide covertly: the audio takes {len(audio)} bytes, this cover hides {covert_fit} bytes "
        f"undetectably and {fit} bytes detectably (add --detectable-ok to accept a detectable image)",
        covert_fit,
        len(audio),
        detectable_fit_bytes=fit,
    )


def hide(
    cover: Image.Image,
    audio: bytes,
    meta: container.AudioMeta,
    passphrase: bytes,
    embedder: Embedder,
    quality_target: int,
    bch_t: int | None = None,
    channels: list[Channel] | None = None,
    initial_code: tuple[int, int] | None = None,
    detectable_ok: bool = False,
    progress: Progress = no_progress,
) -> HideResult:
    """Hide the audio file bytes ``audio`` in ``cover``.

    With ``channels`` (e.g. :meth:`common.platforms.PlatformProfile.check_channels`: JPEG chains
    over a platform's quality range, crops) the code is designed from a probe of the cover
    through all of them (as :func:`max_payload_bytes` does), and the payload must come back
    after every one of them on the actual stego image; otherwise as below.

    With ``bch_t=None`` the first attempt uses the lightest code a probe of the cover allows
    (:func:`probed_code`: the fewer channel bits, the fewer changes). The stego image is then recompressed with Pillow at the target quality and just above it; if the
    measured bit-error rates call for a stronger code than the one used (codeword failure
    above :data:`TARGET_CODEWORD_FAILURE`), or the payload does not come back at the target
    quality, it is packed and embedded again with a stronger code; where that code would not fit,
    the frame is first packed again with the same code (:data:`REDRAWS_AT_THE_LIMIT` times: other
    bits, checked on their own).

    An embedder with gentler variants of itself (:meth:`~steganography.embedders.base.Embedder.gentler`,
    e.g. the canonical hider's weaker residuals, the classical embedder's finer lattices) hides
    with ``bch_t=None`` through the variant whose probe-designed frame fits with the least
    :meth:`~steganography.embedders.base.Embedder.footprint` (:func:`ladder`), so that a short
    message changes the photo less; where its checks call for a code that no longer fits, the
    next variant in that order takes over (the embedder as given in any case).

    Args:
        cover: RGB cover image.
        audio: complete encoded audio file (see :func:`common.payload.codecs.encode_audio`).
        meta: its codec, sample rate and channels.
        passphrase: encryption passphrase.
        embedder: the hider.
        quality_target: JPEG quality the stego image must survive (checked with Pillow).
        bch_t: BCH strength over GF(2^13), used as is (see :attr:`HideResult.survives_target`);
            ``None`` chooses the code as described above.
        channels: platform checks (see above); ``None``: single JPEGs at and above the target.
        initial_code: the ``(t, m)`` :func:`max_payload_bytes` chose for this
            embedder, cover and channels (saves probing the cover a second time).
        detectable_ok: accept a frame above the covert capacity
            (:func:`covert_capacity_bits`), up to the whole capacity of the embedder's
            :meth:`~steganography.embedders.base.Embedder.maximal` design, which it then uses.
        progress: hears each stage (probing, embedding, checking) and how far it is.

    Only the frame is embedded: the rest of the capacity is left as it is.

    Raises:
        CoverTooSmallError: the frame does not fit (covertly, unless ``detectable_ok``).
        InputError: no code makes the payload survive ``quality_target`` on this cover (or a
            given ``bch_t`` does not even survive the lossless stego image).
    """
    design = embedder  # probed without the key, as max_payload_bytes (``capacity``) probes it
    covert = covert_capacity_bits(design, *cover.size)
    if detectable_ok and bch_t is None and initial_code is None:
        initial_code = probed_code(design, cover, quality_target, channels, covert, progress)
        if container.frame_bits(len(audio), *initial_code) > covert:
            design, initial_code = design.maximal(), None  # beyond the covert design (probed below)
    elif detectable_ok:
        guess = (bch_t, ecc.DEFAULT_BCH_M) if bch_t is not None else initial_code
        if container.frame_bits(len(audio), *guess) > covert:
            design = design.maximal()  # beyond the covert design: the most capacity
    embedder = design.keyed(crypto.embedding_seed(passphrase))
    capacity = embedder.capacity_bits(*cover.size)
    limit = capacity if detectable_ok else covert
    if capacity == 0:
        raise CoverTooSmallError(
            f"cover too small: the audio takes {len(audio)} bytes but a {cover.size[0]}x{cover.size[1]} cover holds none",
            0,
            len(audio),
        )
    qualities = [quality_target] if bch_t is not None else calibration_qualities(quality_target, embedder.calibration_offsets)
    if channels:
        qualities = list(channels)
    if bch_t is not None:
        t, m = bch_t, ecc.DEFAULT_BCH_M
    elif initial_code is not None:  # already probed (max_payload_bytes on the same cover)
        t, m = initial_code
    else:  # measure the cover
        t, m = probed_code(design, cover, quality_target, channels, limit, progress)
    check = functools.partial(
        _embed_checked, cover, audio, meta, passphrase, bch_t=bch_t, limit=limit, covert=covert, qualities=qualities,
        channels=channels, quality_target=quality_target, detectable_ok=detectable_ok, progress=progress,
    )  # fmt: skip
    if bch_t is not None or container.frame_bits(len(audio), t, m) > limit:
        return check(embedder, t, m)  # a frame that does not fit the design fits none of its variants
    failure = None
    for rung, code in ladder(design, cover, len(audio), (t, m), limit, quality_target, channels, progress):
        try:
            return check(rung.keyed(crypto.embedding_seed(passphrase)), *code)
        except InputError as err:  # the stego image asked for a code that no longer fits: the next rung
            failure = err if failure is None or rung is design else failure
    raise failure


def ladder(
    design: Embedder,
    cover: Image.Image,
    payload_bytes: int,
    code: tuple[int, int],
    limit: int,
    quality_target: int,
    channels: list[Channel] | None = None,
    progress: Progress = no_progress,
) -> Iterator[tuple[Embedder, tuple[int, int]]]:
    """The variants of ``design`` (:meth:`~steganography.embedders.base.Embedder.gentler`, then
    itself) to hide a frame of ``payload_bytes`` with, in the order :func:`hide` tries them, each
    with the code a probe of ``cover`` designs for it (``design``'s is ``code``).

    Only variants whose frame fits in ``limit`` bits come, the least
    :meth:`~steganography.embedders.base.Embedder.footprint` first (an unprobed one counted with
    ``code``), ``design`` itself in any case. The gentlest variant that fits is found by probing the
    next gentler one first (a message near the capacity costs one probe), then by bisection.
    """
    rungs = [*design.gentler(), design]
    top = len(rungs) - 1
    codes: dict[int, tuple[int, int] | None] = {top: code}

    def fits(index: int) -> bool:
        """Whether the frame fits with the code a probe of rung ``index`` designs."""
        if index not in codes:
            try:
                codes[index] = probed_code(rungs[index], cover, quality_target, channels, limit, progress)
            except InputError:  # no code copes with this rung's bit-error rate
                codes[index] = None
        return codes[index] is not None and container.frame_bits(payload_bytes, *codes[index]) <= limit

    def footprint(index: int) -> float:
        return rungs[index].footprint(container.frame_bits(payload_bytes, *(codes.get(index) or code)))

    low, high = (0, top - 1) if top and fits(top - 1) else (top, top)
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if fits(middle) else (middle + 1, high)
    for index in sorted(range(low, top + 1), key=footprint):
        if index == top or fits(index):
            yield rungs[index], codes[index]


def _embed_checked(
    cover: Image.Image,
    audio: bytes,
    meta: container.AudioMeta,
    passphrase: bytes,
    embedder: Embedder,
    t: int,
    m: int,
    *,
    bch_t: int | None,
    limit: int,
    covert: int,
    qualities: list[int] | list[Channel],
    channels: list[Channel] | None,
    quality_target: int,
    detectable_ok: bool,
    progress: Progress,
) -> HideResult:
    """Embed the frame with BCH ``(t, m)`` and check it, stronger codes as needed (see :func:`hide`)."""
    capacity = embedder.capacity_bits(*cover.size)
    redraws = REDRAWS_AT_THE_LIMIT
    attempt = 0
    while attempt <= STRONGER_CODE_ATTEMPTS:
        attempt += 1
        frame = container.frame_bits(len(audio), t, m)
        if frame > limit:
            raise _fit_error(embedder.maximal().capacity_bits(*cover.size), limit, audio, t, m, detectable_ok)
        bits = container.pack(audio, meta, passphrase, t, m, METHOD_IDS.get(embedder.name, 0))
        progress("embedding", 0.0)
        stego = embedder.embed(cover, bits)
        # Exact bits need no decoding to be trusted; otherwise let the container try.
        direct = embedder.extract_soft(stego, capacity)
        lossless = np.array_equal(direct[: bits.size] > 0, bits.astype(bool)) or _recovers(direct, audio, passphrase)
        if not lossless:
            if bch_t is not None or attempt > STRONGER_CODE_ATTEMPTS:
                raise InputError(
                    f"BCH t={t} is too weak for this cover: the payload does not come back even without recompression"
                )
            t = min(math.ceil(1.5 * t), ecc.MAX_BCH_T)
            continue
        rates, soft = measure_bit_error_rates(embedder, stego, bits, qualities, progress)
        if channels:
            survives = all(_recovers(soft[channel.label], audio, passphrase) for channel in channels)
        else:
            survives = _recovers(soft[quality_target], audio, passphrase)
        if bch_t is not None or (survives and code_suffices(t, m, rates)):
            return HideResult(stego, t, m, frame, capacity, rates, survives, covert)
        # A margin over the new measurement, so that the next one (other bits, same cover) passes.
        needed = choose_code(rates, quality_target, margin=_margin(embedder))
        needed = needed if needed != (t, m) else (min(math.ceil(1.5 * t), ecc.MAX_BCH_T), m)
        if container.frame_bits(len(audio), *needed) > limit and redraws > 0:
            redraws -= 1  # the stronger code does not fit: draw other bits with this one
            attempt -= 1
            continue
        t, m = needed
    raise InputError(
        f"the payload does not survive JPEG quality {quality_target} on this cover even with BCH t={t}; "
        "try a lower --quality-target, a shorter or lower-bitrate audio, or a larger cover"
    )


def max_payload_bytes(
    embedder: Embedder,
    cover: Image.Image,
    quality_target: int,
    channels: list[Channel] | None = None,
    detectable_ok: bool = False,
    progress: Progress = no_progress,
) -> tuple[int, int, int]:
    """The largest audio file (bytes) :func:`hide` can put in ``cover``, and its BCH ``(t, m)``.

    Covertly (within :func:`covert_capacity_bits`) unless ``detectable_ok`` (then in the whole
    capacity of the :meth:`~steganography.embedders.base.Embedder.maximal` design, probed as
    such). The code is the one :func:`hide` falls back on for a message near the limit: the
    same probe (through ``channels``, or single JPEGs at and above the target) and margin.
    """
    limit = covert_capacity_bits(embedder, *cover.size)
    if detectable_ok:
        embedder = embedder.maximal()
        limit = embedder.capacity_bits(*cover.size)
    capacity = embedder.capacity_bits(*cover.size)
    if capacity == 0:  # nothing fits (e.g. smaller than the embedder's grid): no probe to measure
        return 0, *choose_code({quality_target: FIRST_GUESS_BER}, quality_target)
    # The largest message's frame fills the limit, and is checked with at least 3 errors in it.
    t, m = probed_code(embedder, cover, quality_target, channels, limit, progress)
    return container.max_payload_bytes(limit, t, m), t, m


def candidate_embedders(stego: Image.Image, passphrase: bytes) -> list[Embedder]:
    """The embedders that may have hidden a payload in ``stego`` under ``passphrase``, keyed:
    ``classical`` alone if its preamble (keyed by the passphrase) is found, else ``canonical``
    then ``inn``. Without the passphrase a classical stego image looks like a photo, so both take
    the same path."""
    seed = crypto.embedding_seed(passphrase)
    classical = make_embedder("classical").keyed(seed)
    if classical.read_preamble(stego) is not None:
        return [classical]
    return [make_embedder("canonical").keyed(seed), make_embedder("inn").keyed(seed)]


def reveal(
    stego: Image.Image, passphrase: bytes, embedder: Embedder | None = None, progress: Progress = no_progress
) -> tuple[bytes, container.AudioMeta, container.UnpackStats]:
    """The audio file bytes hidden in ``stego`` (possibly recompressed, resized, cropped), exactly as sent.

    With ``embedder=None`` each of :func:`candidate_embedders` is tried until one finds a header
    whose recorded method (:data:`METHOD_IDS`) is its own.

    Raises:
        PayloadNotFoundError: no payload for this passphrase (nothing hidden or a wrong
            passphrase: one answer, after the same work).
        PayloadUnrecoverableError: too many bit errors behind an authentic header.
        AuthenticationError: a miscorrected payload (only behind an authentic header).
    """
    candidates = candidate_embedders(stego, passphrase) if embedder is None else [embedder.keyed(crypto.embedding_seed(passphrase))]
    for done, candidate in enumerate(candidates):
        progress(f"looking for a {candidate.name} payload", done / len(candidates))
        # Even no bits at all go through the container, which answers "nothing for this passphrase"
        # exactly as it does for a wrong passphrase (same message, same key derivation).
        try:
            audio, meta, stats = container.unpack(extract_all(candidate, stego), passphrase)
        except PayloadNotFoundError:
            continue
        if stats.method == METHOD_IDS.get(candidate.name, 0):
            return audio, meta, stats
    raise PayloadNotFoundError(container.NOT_FOUND_MESSAGE)
