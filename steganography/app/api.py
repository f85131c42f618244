"""Python facade of ``stegavox``: :func:`hide` and :func:`reveal` on paths or arrays.

``hide(cover, audio, passphrase, platform="whatsapp")`` fits the cover to the platform (never
upscaling), designs the embedding for the platform's whole quality range with a margin, picks
the best codec that fits (``codec="auto"``), checks the payload on the actual stego image
through the platform's JPEG chains and crops, and returns the file to upload with a report.
``reveal(stego, passphrase)`` needs nothing else: the method is detected from the image.
The command line (``steganography/app/cli.py``) is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from common import platforms
from common.errors import InputError
from common.metrics import psnr_8bit
from common.payload import crypto
from common.settings import JPEG_QUALITY_TARGET, SPEECH_SAMPLE_RATE
from steganography.embedders.pipeline import Progress, no_progress

#: Channel count audio is converted to before encoding.
APP_CHANNELS = 1
#: ``codec="auto"`` tries these (codec, bitrate) in order, best quality first; bitrates are kbit/s
#: for Opus and bit/s for Codec2.
AUTO_CODECS: tuple[tuple[str, int | None], ...] = (
    ("flac", None),
    ("opus", 32),
    ("opus", 24),
    ("opus", 16),
    ("opus", 12),
    ("opus", 8),
    ("opus", 6),
    ("codec2", 3200),
    ("codec2", 2400),
    ("codec2", 1600),
    ("codec2", 1300),
    ("codec2", 1200),
    ("codec2", 700),
)

#: Lower bounds of the encoded size (bytes per second of 16 kHz mono) used to refuse audio that
#: cannot fit before it is decoded and encoded: exact for pcm16, codec2's lowest rate (700 bit/s)
#: for codec2; for flac and opus below what digital silence takes (checked by a test).
MIN_BYTES_PER_SECOND = {"pcm16": 2 * SPEECH_SAMPLE_RATE, "flac": 40, "opus": 100, "codec2": 87}


@dataclasses.dataclass
class HideReport:
    """What :func:`hide` did (sizes in pixels, bytes and seconds)."""

    method: str
    platform: str | None
    design_quality: int
    cover_size: tuple[int, int]
    stego_size: tuple[int, int]
    codec: str
    bitrate: int | None
    audio_bytes: int
    seconds: float
    bch_t: int
    bch_m: int
    frame_bits: int
    capacity_bits: int
    bit_error_rates: dict
    survives: bool
    psnr_db: float
    output_format: str
    output_quality: int | None
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class HideOutcome:
    """The stego image as decoded, the file bytes to write or upload, and the report."""

    image: Image.Image
    data: bytes
    report: HideReport


@dataclasses.dataclass
class RevealOutcome:
    """The exact hidden audio file, its codec and the decoded wave."""

    audio_bytes: bytes
    codec: str
    sample_rate: int
    corrected_bits: int
    estimated_ber: float
    #: The hiding method recorded in the header (``classical``, ``inn`` or ``canonical``).
    method: str = "unknown"

    def decoded(self):
        """``(wave (channels, samples) float32 tensor, sample_rate)`` of the hidden audio (imports
        torch; :meth:`decoded_array` does without)."""
        from common.payload import codecs

        return codecs.decode_audio(self.audio_bytes, self.codec)

    def decoded_array(self) -> tuple[np.ndarray, int]:
        """``(wave (channels, samples) float32 numpy array, sample_rate)`` of the hidden audio."""
        from common.payload import codecs

        return codecs.decode_audio_array(self.audio_bytes, self.codec)

    def wav_bytes(self) -> bytes:
        """The hidden audio as a 16-bit PCM WAV file (the exact bytes if it already is one;
        decoded with numpy, no torch)."""
        import soundfile as sf

        if self.codec == "pcm16":
            return self.audio_bytes
        wave, rate = self.decoded_array()
        buffer = io.BytesIO()
        sf.write(buffer, wave.T.clip(-1.0, 1.0), rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()


def as_image(
    cover: str | os.PathLike | Image.Image | np.ndarray,
    note: Callable[[str], None] | None = None,
    exif_orientation: bool = True,
) -> Image.Image:
    """A path, Pillow image or ``(H, W, 3)`` uint8 array as an RGB Pillow image (a path through
    :func:`common.image.open_image`, with its ``note`` and ``exif_orientation``)."""
    if isinstance(cover, Image.Image):
        return cover.convert("RGB")
    if isinstance(cover, np.ndarray):
        if cover.dtype != np.uint8 or cover.ndim not in (2, 3):
            raise InputError(f"image arrays must be uint8 (H, W) or (H, W, 3), got {cover.dtype} {cover.shape}")
        return Image.fromarray(cover).convert("RGB")
    from common.image import open_image

    return open_image(cover, note, exif_orientation)


def _as_passphrase(passphrase: str | bytes) -> bytes:
    """``passphrase`` normalised as the command line does (:func:`common.payload.crypto.normalise_passphrase`).

    Raises:
        InputError: the passphrase is empty (after its trailing line breaks).
    """
    data = crypto.normalise_passphrase(passphrase)
    if not data:
        raise InputError("the passphrase is empty")
    return data


def load_speech(audio, sample_rate: int | None = None, notes: list[str] | None = None) -> np.ndarray:
    """Mono float32 ``(1, samples)`` array at :data:`SPEECH_SAMPLE_RATE` from a path or an array
    (numpy only: hiding imports no torch unless it enhances).

    Raises:
        InputError: unreadable, empty or non-finite audio, or an array without its sample rate.
    """
    from common.audio import read_audio, resample_array

    if isinstance(audio, (str, os.PathLike)):
        wave, sample_rate = read_audio(Path(audio))
    else:
        if sample_rate is None:
            raise InputError("give the sample rate of an audio array")
        wave = np.asarray(audio, dtype=np.float32)
        wave = wave[None] if wave.ndim == 1 else wave
        if wave.size == 0 or not np.isfinite(wave).all():
            raise InputError("the audio array is empty or holds NaN or infinite samples")
    if wave.shape[0] != APP_CHANNELS:
        if notes is not None:
            notes.append(f"mixing {wave.shape[0]} channels down to mono")
        wave = wave.mean(axis=0, keepdims=True, dtype=np.float32)
    if sample_rate != SPEECH_SAMPLE_RATE:
        if notes is not None:
            notes.append(f"resampling {sample_rate} Hz to {SPEECH_SAMPLE_RATE} Hz")
        wave = resample_array(wave, sample_rate, SPEECH_SAMPLE_RATE)
    return wave


@dataclasses.dataclass
class Design:
    """Where and how to embed: the (resized) cover, the embedder and the checks it must pass."""

    cover: Image.Image
    embedder: object
    design_quality: int
    channels: list | None
    output_format: str
    output_quality: int | None
    notes: list[str]


def design(
    cover: Image.Image,
    platform: str | None = None,
    quality_target: int | None = None,
    method: str = "classical",
    hd: bool = False,
    crop_robust: bool = False,
) -> Design:
    """The embedding design for ``cover`` on ``platform`` (or for one ``quality_target``).

    With a platform the cover is downscaled to what the platform keeps, the embedder is designed
    for its lowest reported quality minus :data:`common.platforms.QUALITY_MARGIN` (or
    ``quality_target`` if lower), and the checks are the platform's JPEG chains and an aligned
    crop, with ``crop_robust`` also a crop that shifts the 8-px grid
    (:meth:`common.platforms.PlatformProfile.check_channels`); a
    platform that keeps a JPEG at or below some quality, or downsizes large files, gets a JPEG
    at the highest quality that avoids that. ``platform="any"``
    (:data:`common.platforms.ANY_PLATFORM`) keeps the cover's size and uses the ``canonical``
    hider, checked by :func:`common.platforms.unknown_platform_channels` (``method`` is ignored).
    """
    from steganography.embedders import pipeline

    notes: list[str] = []
    if platform is None:
        quality = JPEG_QUALITY_TARGET if quality_target is None else quality_target
        return Design(cover, pipeline.make_embedder(method, quality_target=quality), quality, None, "png", None, notes)
    if platform.lower() == platforms.ANY_PLATFORM:
        # Unknown size and quality: the learned canonical-grid hider, checked over the unknown range.
        low = platforms.UNKNOWN_QUALITY_RANGE[0]
        quality = low if quality_target is None else min(quality_target, low)
        embedder = pipeline.make_embedder("canonical", quality_target=quality)
        channels = platforms.unknown_platform_channels(*cover.size)
        return Design(cover, embedder, quality, channels, "png", None, notes)
    try:
        profile = platforms.get_profile(platform)
    except KeyError as err:
        raise InputError(str(err.args[0])) from None
    fitted = platforms.fit_to_platform(cover, profile, hd=hd)
    if fitted.size != cover.size:
        notes.append(f"resized {cover.size[0]}x{cover.size[1]} to {fitted.size[0]}x{fitted.size[1]} for {profile.label}")
    quality = profile.design_quality if quality_target is None else min(quality_target, profile.design_quality)
    options = {}
    if method == "classical":
        options = {"step_multiple": platforms.CLASSICAL_STEP_MULTIPLE, "shrink_bias": platforms.CLASSICAL_SHRINK_BIAS}
    embedder = pipeline.make_embedder(method, quality_target=quality, **options)
    channels = profile.check_channels(misaligned_crop=crop_robust)
    output_quality = None
    if profile.output_format == "jpeg":
        low = profile.quality_range[0]
        top = profile.keeps_jpeg_up_to or platforms.MAX_CHECK_QUALITY
        output_quality = top
        if profile.max_bytes:
            # The embedding adds texture: leave the stego JPEG a fifth of headroom.
            found = platforms.best_jpeg_under(fitted, int(0.8 * profile.max_bytes), low, top)
            output_quality = found[0] if found else low
            if not found:
                notes.append(f"even a Q{low} JPEG exceeds {profile.label}'s {profile.max_bytes} bytes: it may downsize it")
        channels = [platforms.Channel(c.chain, c.crop, before=(output_quality,)) for c in channels]
    return Design(fitted, embedder, quality, channels, profile.output_format, output_quality, notes)


def _encode(wave, codec: str, bitrate: int | None) -> bytes:
    from common.payload import codecs

    return codecs.encode_audio(wave, SPEECH_SAMPLE_RATE, codec, bitrate)


def _candidates(codec: str, bitrate: int | None) -> list[tuple[str, int | None]]:
    from common.payload import codecs

    if codec != "auto":
        return [(codec, bitrate)]
    return [(name, rate) for name, rate in AUTO_CODECS if name in codecs.CODECS and codecs.codec_available(name)]


def check_codec_options(codec: str, bitrate: int | None) -> None:
    """Refuse a bitrate the codec does not take.

    Raises:
        InputError: ``bitrate`` with ``codec="auto"`` or a codec other than Opus and Codec2.
    """
    if bitrate is not None and codec not in ("opus", "codec2"):
        raise InputError(f"--bitrate applies to opus (kbit/s) and codec2 (bit/s) only, not to {codec}")


def _audio_seconds(audio, sample_rate: int | None) -> float | None:
    """The duration of ``audio`` from its header (a path) or its length (an array), unread."""
    if isinstance(audio, (str, os.PathLike)):
        from common.audio import audio_seconds

        return audio_seconds(audio) if Path(audio).is_file() else None
    if sample_rate:
        return np.shape(audio)[-1] / sample_rate
    return None


class _Fitter:
    """What fits in one design: the covert (and, if accepted, the detectable) payload bytes and
    codes, measured once each, on demand, as :func:`capacity` measures them."""

    def __init__(self, plan: Design, bch_t: int | None, progress: Progress) -> None:
        self.plan, self.bch_t, self.progress = plan, bch_t, progress
        self._measured: dict[bool, tuple[int, int, int]] = {}

    def fit(self, detectable: bool) -> tuple[int, int, int]:
        """``(bytes, t, m)`` covertly, or with ``detectable`` in the whole capacity."""
        from common.payload import container, ecc
        from steganography.embedders import pipeline

        plan = self.plan
        # A design that is its own maximum, wholly covert, measures the same either way.
        detectable = detectable and (plan.embedder.maximal() is not plan.embedder or plan.embedder.covert_fraction < 1)
        if detectable not in self._measured:
            if self.bch_t is not None:
                code = (self.bch_t, ecc.DEFAULT_BCH_M)
                self._measured[detectable] = (container.max_payload_bytes(self.bits(detectable), *code), *code)
            else:
                self._measured[detectable] = pipeline.max_payload_bytes(
                    plan.embedder, plan.cover, plan.design_quality, plan.channels, detectable, self.progress
                )
        return self._measured[detectable]

    def bits(self, detectable: bool) -> int:
        """Channel bits: covert, or with ``detectable`` the whole capacity of the maximal design."""
        from steganography.embedders import pipeline

        embedder, size = self.plan.embedder, self.plan.cover.size
        return embedder.maximal().capacity_bits(*size) if detectable else pipeline.covert_capacity_bits(embedder, *size)

    def upper_bound(self, detectable: bool) -> int:
        """Bytes that fit with the weakest code: nothing larger can fit, whatever the measurement."""
        from common.payload import container, ecc

        return container.max_payload_bytes(self.bits(detectable), 1, ecc.DEFAULT_BCH_M)


def _first_fitting(sizes: Callable[[int], int], count: int, fit_bytes: int) -> int | None:
    """The first index ``i < count`` with ``sizes(i) <= fit_bytes``, for sizes that shrink with
    ``i`` (the candidates, best first): a bisection, so only about log2(count) are encoded."""
    low, high = 0, count  # invariant: the answer is in [low, high] (high: none fits)
    while low < high:
        middle = (low + high) // 2
        if sizes(middle) <= fit_bytes:
            high = middle
        else:
            low = middle + 1
    return low if low < count else None


def _longest_prefix(wave, codec: str, bitrate: int | None, fit_bytes: int) -> float:
    """Seconds of the start of ``wave`` whose ``codec`` file fits in ``fit_bytes`` (tenths of a
    second, bisected on the actual encoder)."""
    tenth = SPEECH_SAMPLE_RATE // 10
    low, high = 0, wave.shape[-1] // tenth  # tenths: low fits (or is 0), high + 1 does not
    while low < high:
        middle = (low + high + 1) // 2
        if len(_encode(wave[..., : middle * tenth], codec, bitrate)) <= fit_bytes:
            low = middle
        else:
            high = middle - 1
    return low / 10


def _refusal(wave, label: str, needed: int, fitter: _Fitter, detectable_ok: bool, codec: str, bitrate: int | None):
    """The one-line refusal of ``needed`` bytes of ``label`` audio: what fits, covertly and
    detectably, the longest start of this recording that fits, and (for an explicit codec) the
    best codec that fits all of it."""
    from steganography.embedders import pipeline

    # Below the measured fit only if the stego image itself called for a stronger code.
    fit = min(fitter.fit(detectable_ok)[0], needed - 1)
    detectable, detectable_fit = "", None
    if not detectable_ok:
        most = fitter.fit(True)[0]
        if most >= needed:
            detectable_fit = most
            detectable = " (it fits detectably: add --detectable-ok to accept an image steganalysis can detect)"
        elif most > fit:
            detectable = f" ({most} bytes detectably, with --detectable-ok)"
    prefix = _longest_prefix(wave, codec, bitrate, fit) if fit else 0.0
    fits = f"the first {prefix:.1f} s of this recording fit as {label}" if prefix else "not even 0.1 s of it fits"
    auto = _candidates("auto", None)
    best = _first_fitting(lambda index: len(_encode(wave, *auto[index])), len(auto), fit) if fit else None
    if best is not None and auto[best] != (codec, bitrate):
        fits += f"; all of it fits as {codec_label(*auto[best])} (--codec auto)"
    return pipeline.CoverTooSmallError(
        f"cover too small: {wave.shape[-1] / SPEECH_SAMPLE_RATE:.1f} s of speech take {needed} bytes as {label}, "
        f"this cover hides {fit} bytes {'in all' if detectable_ok else 'covertly'}{detectable}; {fits}",
        fit,
        needed,
        detectable_fit_bytes=detectable_fit,
    )


def hide(
    cover,
    audio,
    passphrase: str | bytes,
    platform: str | None = None,
    codec: str = "auto",
    bitrate: int | None = None,
    quality_target: int | None = None,
    bch_t: int | None = None,
    method: str = "classical",
    sample_rate: int | None = None,
    enhance: bool = False,
    hd: bool = False,
    detectable_ok: bool = False,
    crop_robust: bool = False,
    progress: Progress | None = None,
) -> HideOutcome:
    """Hide speech in a cover image; returns the file to upload and a :class:`HideReport`.

    The one hide path: the command line and the web page call it. What fits is measured as
    :func:`capacity` measures it, so whatever ``capacity`` promises, ``hide`` accepts; audio
    that cannot fit is refused before it is decoded (from its header) or right after it is
    encoded, naming the longest start of the recording that fits.

    Args:
        cover: path, Pillow image or uint8 array.
        audio: path, or a float array with ``sample_rate``.
        passphrase: the passphrase (str or bytes).
        platform: a :data:`common.platforms.PROFILES` name, or ``None`` for a plain PNG designed
            for ``quality_target``.
        codec: ``auto`` (the best that fits, see :data:`AUTO_CODECS`) or a codec name.
        bitrate: Opus kbit/s or Codec2 bit/s (only with an explicit codec).
        quality_target: the design quality without a platform (default 75); with one, a lower
            value overrides the platform's design quality.
        bch_t: a fixed BCH strength (default: chosen from measurements).
        enhance: run the shipped speech enhancer first.
        hd: use the platform's HD size limit.
        detectable_ok: accept a message above the covert capacity (up to the whole capacity;
            the image is then detectable by steganalysis); ``codec="auto"`` then picks the best
            codec that fits the whole capacity instead of the covert one.
        crop_robust: with a platform, also make the payload survive a crop that shifts the 8-px
            JPEG grid before the upload (an edit; the platform itself never does it): a coarser
            lattice and a stronger code, so more change for the same message.
        progress: called with each stage (``"measuring the cover"``, ``"encoding opus 16 kbit/s"``,
            ``"embedding"``, ``"checking the stego image"``, …) and the fraction of it done.

    Raises:
        InputError / CoverTooSmallError: bad input, or nothing fits (the message says what
            would); every error is a :class:`common.errors.StegavoxError`.
    """
    from common.payload import codecs, container
    from steganography.embedders import pipeline

    progress = progress or no_progress
    check_codec_options(codec, bitrate)
    secret = _as_passphrase(passphrase)
    progress("reading the cover", 0.0)
    opened: list[str] = []
    image = as_image(cover, note=opened.append)
    plan = design(image, platform, quality_target, method, hd, crop_robust)
    plan.notes[:0] = opened
    fitter = _Fitter(plan, bch_t, progress)
    candidates = _candidates(codec, bitrate)
    seconds = _audio_seconds(audio, sample_rate)
    floor = min(MIN_BYTES_PER_SECOND.get(name, 0) for name, _ in candidates)
    upper = fitter.upper_bound(detectable_ok)
    if upper == 0 and not detectable_ok and fitter.upper_bound(True) > 0:
        raise pipeline.CoverTooSmallError(
            f"not covert: images of the {plan.embedder.name} hider are detectable by steganalysis, so this cover hides "
            "0 bytes covertly; add --detectable-ok to accept an image steganalysis can detect",
            0,
            0,
        )
    if upper == 0:
        raise pipeline.CoverTooSmallError(
            f"cover too small: a {plan.cover.size[0]}x{plan.cover.size[1]} cover holds no payload "
            f"(the frame header alone needs {container.HEADER_CODEWORD_BITS} channel bits)",
            0,
            0,
        )
    if seconds is not None and seconds * floor > upper:  # refuse before reading or encoding anything
        raise pipeline.CoverTooSmallError(
            f"cover too small: {seconds:.1f} s of speech need at least {seconds * floor:.0f} bytes with "
            f"{'any codec' if len(candidates) > 1 else codec_label(*candidates[0])} but this cover holds at most "
            f"{upper} bytes{'' if detectable_ok else ' covertly'}, about {upper / floor:.3g} s at best; "
            "use a shorter recording or a larger cover",
            upper,
            round(seconds * floor),
        )
    progress("reading the audio", 0.0)
    wave = load_speech(audio, sample_rate, plan.notes)
    if enhance:
        progress("enhancing the speech", 0.0)
        wave, _ = _enhance(wave, SPEECH_SAMPLE_RATE)
    encoded: dict[int, bytes] = {}

    def encoded_size(index: int) -> int:
        if index not in encoded:
            progress(f"encoding {codec_label(*candidates[index])}", 0.0)
            encoded[index] = _encode(wave, *candidates[index])
        return len(encoded[index])

    # One codec in a plain PNG: pipeline.hide measures the cover itself (the same probe as capacity's).
    quick = len(candidates) == 1 and not plan.channels and bch_t is None
    if quick:
        index = 0
    else:
        index = _first_fitting(encoded_size, len(candidates), fitter.fit(detectable_ok)[0])
        if index is None:
            last = len(candidates) - 1
            raise _refusal(wave, codec_label(*candidates[last]), encoded_size(last), fitter, detectable_ok, *candidates[last])
    code = None if quick or bch_t is not None else tuple(fitter.fit(detectable_ok)[1:])
    while True:
        name, rate = candidates[index]
        encoded_size(index)
        data = encoded[index]
        meta = container.AudioMeta(name, codecs.encoded_sample_rate(name, SPEECH_SAMPLE_RATE), APP_CHANNELS)
        try:
            result = pipeline.hide(
                plan.cover, data, meta, secret, plan.embedder, plan.design_quality, bch_t,
                channels=plan.channels, initial_code=code, detectable_ok=detectable_ok, progress=progress,
            )  # fmt: skip
            break
        except pipeline.CoverTooSmallError:
            # At the limit the stego image's own check can ask for a code that no longer fits:
            # with --codec auto the next smaller codec is tried.
            if index + 1 >= len(candidates):
                raise _refusal(wave, codec_label(name, rate), len(data), fitter, detectable_ok, name, rate) from None
            index += 1
    return _outcome(plan, image, result, platform, name, rate, data, wave)


def _outcome(
    plan: Design, image: Image.Image, result, platform: str | None, name: str, rate: int | None, data: bytes, wave
) -> HideOutcome:
    """The file to write or upload (the platform's JPEG, else a PNG) and its report."""
    stego = result.stego
    if result.detectable_note:
        plan.notes.append(result.detectable_note)
    if plan.output_format == "jpeg":
        file_bytes = platforms.jpeg_bytes(stego, plan.output_quality)
        stego_out = platforms.decode(file_bytes)
        limit = platforms.get_profile(platform).max_bytes
        if limit and len(file_bytes) > limit:
            plan.notes.append(f"the JPEG has {len(file_bytes)} bytes, above {platform}'s {limit}: it may be downsized")
    else:
        buffer = io.BytesIO()
        stego.save(buffer, format="PNG", compress_level=1)
        file_bytes, stego_out = buffer.getvalue(), stego
    report = HideReport(
        method=plan.embedder.name,
        platform=platform,
        design_quality=plan.design_quality,
        cover_size=image.size,
        stego_size=stego.size,
        codec=name,
        bitrate=rate if name != "flac" else None,
        audio_bytes=len(data),
        seconds=wave.shape[-1] / SPEECH_SAMPLE_RATE,
        bch_t=result.bch_t,
        bch_m=result.bch_m,
        frame_bits=result.frame_bits,
        capacity_bits=result.capacity_bits,
        bit_error_rates=result.bit_error_rates,
        survives=result.survives_target,
        psnr_db=psnr_8bit(np.asarray(stego_out), np.asarray(plan.cover)),
        output_format=plan.output_format,
        output_quality=plan.output_quality,
        notes=plan.notes,
    )
    return HideOutcome(stego_out, file_bytes, report)


def enhance(audio, sample_rate: int | None = None, weights: str | os.PathLike | None = None):
    """``audio`` (path, or array with ``sample_rate``) with noise and background voices removed by
    the shipped DCCRN (or exported ``weights``): ``(wave, sample_rate)``, a float32 ``(channels,
    samples)`` array at the input's own rate and channel count, its peak limited to 0.999 (the
    mask can raise it slightly: limited rather than clipped).

    Raises:
        InputError: unreadable audio or weights.
    """
    import torch

    from common.audio import load_audio
    from enhancer.pretrained import enhance_waveform, load_pretrained_enhancer

    if isinstance(audio, (str, os.PathLike)):
        wave, sample_rate = load_audio(Path(audio), mono=False)
    else:
        if sample_rate is None:
            raise InputError("give the sample rate of an audio array")
        wave = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        wave = wave.unsqueeze(0) if wave.dim() == 1 else wave
    from steganography.embedders.inn import inference_threads

    threads = torch.get_num_threads()
    torch.set_num_threads(inference_threads())  # spinning OpenMP threads under load: see embedders.inn
    try:
        enhanced = enhance_waveform(load_pretrained_enhancer(weights), wave, sample_rate)
    finally:
        torch.set_num_threads(threads)
    peak = float(enhanced.abs().max())
    if peak > 0.999:
        enhanced = enhanced * (0.999 / peak)
    return enhanced.numpy(), sample_rate


#: :func:`enhance` under a name that :func:`hide`'s ``enhance`` flag does not hide.
_enhance = enhance


def output_format(platform: str | None) -> str:
    """The file :func:`hide` writes for ``platform``: ``"jpeg"`` for a platform that keeps the
    JPEG it gets, else ``"png"`` (no platform, ``any``, and platforms that re-encode a PNG).

    Raises:
        InputError: an unknown platform.
    """
    if platform is None or platform.lower() == platforms.ANY_PLATFORM:
        return "png"
    try:
        return platforms.get_profile(platform).output_format
    except KeyError as err:
        raise InputError(str(err.args[0])) from None


def codec_label(codec: str, bitrate: int | None) -> str:
    """``"opus 16 kbit/s"``, ``"codec2 1200 bit/s"``, ``"flac"``."""
    if bitrate is None:
        return codec
    return f"{codec} {bitrate} {'bit/s' if codec == 'codec2' else 'kbit/s'}"


def capacity(
    cover,
    platform: str | None = None,
    quality_target: int | None = None,
    method: str = "classical",
    hd: bool = False,
    crop_robust: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Bytes and seconds of speech per codec that :func:`hide` accepts for ``cover``: *covert*
    (within the covert capacity, :func:`steganography.embedders.pipeline.covert_capacity_bits`) and
    *maximum* (the whole capacity, detectable: ``detectable_ok=True``).

    The same design and the same measurement :func:`hide` starts from
    (:func:`steganography.embedders.pipeline.max_payload_bytes` with the platform's checks).
    """
    from common.payload import codecs

    plan = design(as_image(cover), platform, quality_target, method, hd, crop_robust)
    fitter = _Fitter(plan, None, progress or no_progress)
    fit, t, m = fitter.fit(True)
    covert_fit, covert_t, covert_m = fitter.fit(False)

    def seconds_per_codec(size: int) -> dict[str, float]:
        seconds = {}
        for name, rate in _candidates("auto", None) + [("pcm16", None)]:
            sample_rate = codecs.encoded_sample_rate(name, SPEECH_SAMPLE_RATE)
            seconds[codec_label(name, rate)] = codecs.max_duration_seconds(size, name, sample_rate, APP_CHANNELS, rate)
        return seconds

    return {
        "size": plan.cover.size,
        "method": plan.embedder.name,
        "design_quality": plan.design_quality,
        "capacity_bits": fitter.bits(True),
        "covert_bits": fitter.bits(False),
        "bch": (t, m),
        "covert_bch": (covert_t, covert_m),
        "covert_bytes": covert_fit,
        "covert_seconds": seconds_per_codec(covert_fit),
        "bytes": fit,
        "seconds": seconds_per_codec(fit),
        "notes": plan.notes,
    }


def reveal(stego, passphrase: str | bytes, method: str | None = None, progress: Progress | None = None) -> RevealOutcome:
    """The audio hidden in ``stego`` (path, Pillow image or array), exactly as sent; ``progress``
    hears each hiding method tried.

    Raises:
        PayloadUnrecoverableError (exit 3), AuthenticationError (exit 4), InputError (exit 2).
    """
    from steganography.embedders import pipeline

    embedder = pipeline.make_embedder(method) if method else None
    image = as_image(stego, exif_orientation=False)  # the pixels as hide wrote them
    audio, meta, stats = pipeline.reveal(image, _as_passphrase(passphrase), embedder, progress or no_progress)
    method_name = pipeline.method_name(stats.method)
    return RevealOutcome(audio, meta.codec, meta.sample_rate, stats.body_errors, stats.estimated_ber, method_name)
