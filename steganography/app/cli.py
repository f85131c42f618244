"""The ``stegavox`` command: hide speech in a picture so that it survives JPEG, and get it back.

Subcommands are registered by the ``add_*_command`` functions in :data:`COMMANDS`; a later
feature adds itself with one more function there.

Start-up is kept light: ``stegavox --help`` imports neither torch nor the enhancer nor any model;
torch, soundfile, the codecs and the enhancer are imported inside the subcommands that use them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.errors import InputError, StegavoxError
from common.image import open_image
from common.metrics import psnr_8bit
from common.payload import container, crypto, ecc
from common.settings import JPEG_QUALITY_TARGET, SPEECH_SAMPLE_RATE, SWEEP_JPEG_QUALITIES
from steganography.embedders import pipeline

if TYPE_CHECKING:
    import torch

#: Sample rate and channel count audio is converted to before encoding (wide-band speech).
APP_CHANNELS = 1
DEFAULT_CODEC = "opus"
DEFAULT_METHOD = "classical"
LOSSLESS_SUFFIXES = (".png",)
ENHANCED_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
#: Codecs ``--codec`` accepts: those the container format has an id for (the same set as
#: ``common.payload.codecs.CODECS``, checked by a test; read here without importing torch).
CODEC_CHOICES = tuple(container.CODEC_IDS)
#: Signals after which ``stegavox`` removes its temporary files and exits with 128 + signal.
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

EXIT_CODES_EPILOG = """\
exit codes:
  0  success
  2  bad input or usage (unreadable/corrupt/non-8-bit image or audio, empty/NaN audio,
     cover too small, output exists without --force)
  3  no payload for this passphrase (nothing hidden, a different passphrase, or damaged
     beyond repair: deliberately one answer), or too many bit errors in the audio
  4  the hidden audio failed authentication (only reachable with the right passphrase:
     altered beyond what BCH corrected)

The passphrase comes from --passphrase-file or the environment variable STEGAVOX_PASSPHRASE;
it is never printed."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, in the application's format.

    Options must be spelled out (no abbreviations: ``--passphrase`` must not silently mean
    ``--passphrase-file``), and unknown arguments are named without their values, which may be
    secrets typed in the wrong place.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:
        raise InputError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args=None, namespace=None):  # argparse's signature
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            options = [token.split("=", 1)[0] for token in extras if token.startswith("-")]
            if "--passphrase" in options:
                raise InputError(
                    "there is no --passphrase option (a passphrase on the command line is visible to other "
                    "users): use --passphrase-file FILE or the environment variable STEGAVOX_PASSPHRASE"
                )
            command = getattr(namespace, "command", None)
            if "--passphrase-file" in options and command:  # only hide and reveal read a passphrase
                raise InputError(f"{command} takes no passphrase: drop --passphrase-file")
            named = ", ".join(options) if options else "extra positional arguments"
            self.error(f"unrecognized arguments: {named} (values not shown)")
        return namespace


def version() -> str:
    """The installed package version of ``stegavox``."""
    try:
        return metadata.version("stegavox")
    except metadata.PackageNotFoundError:
        return "unknown"


def note(message: str) -> None:
    """Print an informational line on stderr."""
    print(f"stegavox: note: {message}", file=sys.stderr)


def quality(text: str) -> int:
    """argparse type: a JPEG quality in 1..100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"JPEG quality must be in 1..100, got {value}")
    return value


def bch_strength(text: str) -> int | None:
    """argparse type: ``auto`` (``None``) or a BCH t."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer, got {text!r}") from None
    if not 1 <= value <= ecc.MAX_BCH_T:
        raise argparse.ArgumentTypeError(f"BCH t must be in 1..{ecc.MAX_BCH_T}, got {value}")
    return value


def check_output(path: Path, force: bool, inputs: Sequence[Path] = ()) -> None:
    """Refuse to write ``path`` over an input, or over an existing file without ``force``."""
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source):
            raise InputError(f"refusing to overwrite the input {source} with the output")
    if path.exists() and not force:
        raise InputError(f"{path} exists; use --force to overwrite it")
    if path.exists() and not path.is_file():
        raise InputError(f"{path} exists and is not a regular file")
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")


#: Temporary files of this process not yet published or removed (cleaned up on SIGTERM/SIGHUP).
_PENDING_TEMPORARIES: set[str] = set()


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP, so that ``finally`` clauses clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Deferral(threading.local):
    """Per thread: depth of :func:`_signals_deferred` blocks and a signal that arrived in one
    (handlers run in the main thread, so only its blocks ever defer anything)."""

    depth = 0
    pending: int | None = None


_DEFERRAL = _Deferral()


def _interruption(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Postpone SIGINT, SIGTERM and SIGHUP (as handled by :func:`main`) to the end of the block,
    so that a temporary file is always either registered for clean-up or already gone.

    Python runs signal handlers in the main thread whichever thread the signal hits, so this is
    a flag checked by the handler, not a signal mask (other threads, e.g. torch's, do not block).
    """
    _DEFERRAL.depth += 1
    try:
        yield
    finally:
        _DEFERRAL.depth -= 1
    if _DEFERRAL.depth == 0 and _DEFERRAL.pending is not None:
        signum, _DEFERRAL.pending = _DEFERRAL.pending, None
        raise _interruption(signum)


def _file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` would give a new file."""
    try:  # Linux: read it without changing it (os.umask would, for a moment, for every thread)
        status = Path("/proc/self/status").read_text()
        umask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _publish(temporary: Path, path: Path, force: bool) -> None:
    """Move the finished ``temporary`` to ``path``; without ``force`` only if ``path`` is absent
    *now* (a hard link fails if the name exists, so concurrent writers cannot both win)."""
    if force:
        if path.exists() and not path.is_file():
            raise InputError(f"{path} exists and is not a regular file")
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise InputError(f"{path} exists; use --force to overwrite it") from None
    except OSError:  # no hard links on this file system: reserve the name exclusively, then replace
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise InputError(f"{path} exists; use --force to overwrite it") from None
        os.replace(temporary, path)
    else:
        os.unlink(temporary)


def write_atomic(path: Path, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    The temporary file never outlives the call (nor SIGTERM/SIGHUP, see :func:`main`); the
    output gets the mode a plain ``open()`` would give it (umask), and without ``force`` an
    existing ``path`` is never replaced, even one created by a concurrent writer since
    :func:`check_output`.

    Raises:
        InputError: ``path`` exists (without ``force``), or the folder is not writable.
    """
    try:
        with _signals_deferred():
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            _PENDING_TEMPORARIES.add(temporary)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), _file_mode())
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        with _signals_deferred():
            _publish(Path(temporary), path, force)
            _PENDING_TEMPORARIES.discard(temporary)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        with _signals_deferred():
            if temporary in _PENDING_TEMPORARIES:
                Path(temporary).unlink(missing_ok=True)
                _PENDING_TEMPORARIES.discard(temporary)


def _remove_pending_temporaries() -> None:
    for temporary in list(_PENDING_TEMPORARIES):
        Path(temporary).unlink(missing_ok=True)
        _PENDING_TEMPORARIES.discard(temporary)


def _load_speech(path: Path) -> torch.Tensor:
    """Mono wave at :data:`SPEECH_SAMPLE_RATE` (:func:`steganography.app.api.load_speech`), with a
    note for every conversion."""
    from steganography.app import api

    notes: list[str] = []
    wave = api.load_speech(path, notes=notes)
    for message in notes:
        note(message)
    return wave


def _refuse_what_cannot_fit(audio: Path, cover_size: tuple[int, int], capacity: int, codec: str) -> None:
    """Refuse, before decoding and encoding anything, audio that cannot fit with any code.

    Raises:
        InputError: the cover holds no frame at all, or the audio is longer than the cover
            could hold even at :data:`steganography.app.api.MIN_BYTES_PER_SECOND` with the
            weakest BCH code.
    """
    width, height = cover_size
    fit_upper = container.max_payload_bytes(capacity, 1, ecc.DEFAULT_BCH_M)
    if fit_upper == 0:
        raise InputError(
            f"cover too small: a {width}x{height} cover holds no payload (the frame header alone needs "
            f"{container.HEADER_BITS} channel bits, this cover has {capacity})"
        )
    from common.audio import audio_seconds
    from steganography.app.api import MIN_BYTES_PER_SECOND

    seconds = audio_seconds(audio) if audio.is_file() else None

    floor = MIN_BYTES_PER_SECOND.get(codec, 0)
    if seconds is not None and floor and seconds * floor > fit_upper:
        raise InputError(
            f"cover too small: {seconds:.1f} s of {codec} audio need at least {seconds * floor:.0f} bytes but a "
            f"{width}x{height} cover holds at most {fit_upper} bytes, about {fit_upper / floor:.3g} s at best; "
            "use a shorter recording or a larger cover"
        )


def _max_seconds(fit_bytes: int, codec: str, bitrate_kbps: int | None) -> float:
    from common.payload import codecs

    rate = codecs.encoded_sample_rate(codec, SPEECH_SAMPLE_RATE)
    return codecs.max_duration_seconds(fit_bytes, codec, rate, APP_CHANNELS, bitrate_kbps)


def run_hide(args: argparse.Namespace) -> int:
    """``stegavox hide``: encode, encrypt, code and hide an audio file in a cover image."""
    if args.codec is None:
        args.codec = "auto" if args.platform else DEFAULT_CODEC
    if args.platform or args.codec == "auto":
        return run_hide_for_platform(args)
    out = Path(args.out)
    if out.suffix.lower() not in LOSSLESS_SUFFIXES:
        raise InputError(f"the stego image must be saved losslessly: use a .png name, not {out.name}")
    check_output(out, args.force, inputs=(Path(args.audio), Path(args.cover)))
    if args.bitrate is not None and args.codec != "opus":
        raise InputError(f"--bitrate applies to opus only, not to {args.codec}")
    passphrase = crypto.read_passphrase(args.passphrase_file)
    embedder = pipeline.make_embedder(args.method, quality_target=args.quality_target)
    cover = open_image(args.cover, note=note)
    limit = (embedder.maximal().capacity_bits(*cover.size) if args.detectable_ok
             else pipeline.covert_capacity_bits(embedder, *cover.size))  # fmt: skip
    _refuse_what_cannot_fit(Path(args.audio), cover.size, limit, args.codec)
    from common.payload import codecs

    wave = _load_speech(Path(args.audio))
    if args.enhance:
        from enhancer.pretrained import enhance_waveform, load_pretrained_enhancer

        wave = enhance_waveform(load_pretrained_enhancer(), wave, SPEECH_SAMPLE_RATE)
    audio = codecs.encode_audio(wave, SPEECH_SAMPLE_RATE, args.codec, args.bitrate)
    meta = container.AudioMeta(args.codec, codecs.encoded_sample_rate(args.codec, SPEECH_SAMPLE_RATE), APP_CHANNELS)
    try:
        result = pipeline.hide(
            cover, audio, meta, passphrase, embedder, args.quality_target, args.bch_t, detectable_ok=args.detectable_ok
        )
    except pipeline.CoverTooSmallError as err:
        if err.detectable_fit_bytes is not None:
            raise InputError(str(err)) from None
        seconds = _max_seconds(err.fit_bytes, args.codec, args.bitrate)
        raise InputError(
            f"cover too small: {err.needed_bytes} bytes of {args.codec} audio do not fit; this cover holds "
            f"{err.fit_bytes} bytes, about {seconds:.3g} s of {args.codec} speech"
        ) from None
    buffer = io.BytesIO()
    result.stego.save(buffer, format="PNG", compress_level=1)
    write_atomic(out, buffer.getvalue(), force=args.force)
    width, height = cover.size
    seconds = wave.shape[-1] / SPEECH_SAMPLE_RATE
    print(
        f"hid {seconds:.1f} s of {args.codec} audio ({len(audio)} bytes) in {width}x{height}: "
        f"{8 * len(audio) / (width * height):.4f} bpp net, BCH t={result.bch_t} m={result.bch_m}, "
        f"{result.frame_bits}/{result.capacity_bits} channel bits, "
        f"PSNR {psnr_8bit(np.asarray(result.stego), np.asarray(cover)):.1f} dB -> {out}"
    )
    if result.detectable_note:
        note(result.detectable_note)
    if result.survives_target:
        print(f"checked: the payload comes back after Pillow JPEG at quality {args.quality_target}")
    else:
        note(f"with BCH t={result.bch_t} the payload does NOT come back after JPEG quality {args.quality_target}")
    return 0


def run_hide_for_platform(args: argparse.Namespace) -> int:
    """``stegavox hide --platform NAME`` (or ``--codec auto``): through :func:`steganography.app.api.hide`."""
    from common import platforms
    from steganography.app import api

    out = Path(args.out)
    profile = platforms.get_profile(args.platform) if args.platform and args.platform in platforms.PROFILES else None
    if args.platform and profile is None and args.platform != platforms.ANY_PLATFORM:
        raise InputError(f"unknown platform {args.platform!r}; choose one of {', '.join(platforms.PROFILES)}, {platforms.ANY_PLATFORM}")
    suffixes = (".jpg", ".jpeg") if profile is not None and profile.output_format == "jpeg" else LOSSLESS_SUFFIXES
    if out.suffix.lower() not in suffixes:
        raise InputError(f"write the stego image for {args.platform or 'this'} as {' or '.join(suffixes)}, not {out.name}")
    check_output(out, args.force, inputs=(Path(args.audio), Path(args.cover)))
    if args.bitrate is not None and args.codec not in ("opus", "codec2"):
        raise InputError(f"--bitrate applies to opus (kbit/s) and codec2 (bit/s) only, not to {args.codec}")
    passphrase = crypto.read_passphrase(args.passphrase_file)
    cover = open_image(args.cover, note=note)
    wave = _load_speech(Path(args.audio))
    quality_target = None if args.quality_target == JPEG_QUALITY_TARGET and args.platform else args.quality_target
    try:
        outcome = api.hide(
            cover,
            wave.numpy(),
            passphrase,
            platform=args.platform,
            codec=args.codec,
            bitrate=args.bitrate,
            quality_target=quality_target,
            bch_t=args.bch_t,
            method=args.method,
            sample_rate=SPEECH_SAMPLE_RATE,
            enhance=args.enhance,
            hd=args.hd,
            detectable_ok=args.detectable_ok,
        )
    except pipeline.CoverTooSmallError as err:
        raise InputError(str(err)) from None
    report = outcome.report
    for line in report.notes:
        note(line)
    write_atomic(out, outcome.data, force=args.force)
    width, height = report.stego_size
    label = api.codec_label(report.codec, report.bitrate)
    print(
        f"hid {report.seconds:.1f} s of {label} audio ({report.audio_bytes} bytes) in {width}x{height}"
        f"{' for ' + profile.label if profile else ''}{' for any platform' if report.platform == platforms.ANY_PLATFORM else ''} "
        f"(method {report.method}, designed for JPEG >= Q{report.design_quality}): "
        f"BCH t={report.bch_t} m={report.bch_m}, {report.frame_bits}/{report.capacity_bits} channel bits, "
        f"PSNR {report.psnr_db:.1f} dB -> {out}"
        + (f" (JPEG Q{report.output_quality})" if report.output_format == "jpeg" else "")
    )
    checked = ", ".join(str(label) for label in report.bit_error_rates)
    if report.survives:
        print(f"checked: the payload comes back after each of: {checked}")
    else:
        note(f"with BCH t={report.bch_t} the payload does NOT come back after all of: {checked}")
    return 0


def run_platforms(args: argparse.Namespace) -> int:
    """``stegavox platforms``: the sharing-platform profiles ``hide --platform`` knows."""
    from common import platforms

    print(platforms.format_table())
    return 0


def run_reveal(args: argparse.Namespace) -> int:
    """``stegavox reveal``: extract, correct, decrypt and write the hidden audio file."""
    out = Path(args.out)
    check_output(out, args.force, inputs=(Path(args.stego),))
    passphrase = crypto.read_passphrase(args.passphrase_file)
    embedder = pipeline.make_embedder(args.method) if args.method else None
    stego = open_image(args.stego, note=note, exif_orientation=False)  # the pixels as hide wrote them
    audio, meta, stats = pipeline.reveal(stego, passphrase, embedder)
    from common.payload import codecs

    suffix = codecs.file_extension(meta.codec)
    if out.suffix.lower() not in (suffix, ".wav"):
        raise InputError(
            f"the hidden audio is {meta.codec}; name the output {out.stem}{suffix} (exact bytes) or {out.stem}.wav (decoded)"
        )
    if out.suffix.lower() != suffix:  # .wav of a compressed codec: decode it
        from steganography.app.api import RevealOutcome

        hidden_bytes = len(audio)
        audio = RevealOutcome(audio, meta.codec, meta.sample_rate, 0, 0.0).wav_bytes()
        note(f"decoded the {hidden_bytes} bytes of {meta.codec} to a {len(audio)}-byte WAV")
    write_atomic(out, audio, force=args.force)
    print(
        f"revealed {len(audio)} bytes of {meta.codec} audio ({meta.sample_rate} Hz, hidden by {pipeline.method_name(stats.method)}) -> {out}; "
        f"corrected {stats.body_errors} bit errors (raw BER {stats.estimated_ber:.2e})"
    )
    return 0


def run_enhance(args: argparse.Namespace) -> int:
    """``stegavox enhance``: remove noise and background voices from a speech file."""
    source, out = Path(args.input), Path(args.output)
    if out.suffix.lower() not in ENHANCED_FORMATS:
        raise InputError(f"write the enhanced audio as {', '.join(ENHANCED_FORMATS)}, not {out.name}")
    check_output(out, args.force, inputs=(source,))
    import soundfile as sf

    from common.audio import load_audio
    from enhancer.pretrained import enhance_waveform, load_pretrained_enhancer

    wave, sample_rate = load_audio(source, mono=False)
    enhanced = enhance_waveform(load_pretrained_enhancer(args.weights), wave, sample_rate)
    peak = float(enhanced.abs().max())
    if peak > 0.999:  # the mask can raise the peak slightly: limit rather than clip
        enhanced = enhanced * (0.999 / peak)
    buffer = io.BytesIO()
    sf.write(buffer, enhanced.T.numpy(), sample_rate, format=ENHANCED_FORMATS[out.suffix.lower()])
    write_atomic(out, buffer.getvalue(), force=args.force)
    print(f"enhanced {wave.shape[-1] / sample_rate:.1f} s ({wave.shape[0]} channel(s), {sample_rate} Hz) -> {out}")
    return 0


def run_capacity(args: argparse.Namespace) -> int:
    """``stegavox capacity``: what ``hide`` accepts for a cover, covertly and at most, per codec."""
    from steganography.app import api

    cover = open_image(args.cover, note=note)
    quality_target = None if args.quality_target == JPEG_QUALITY_TARGET and args.platform else args.quality_target
    result = api.capacity(cover, args.platform, quality_target, args.method, args.hd)
    for line in result["notes"]:
        note(line)
    (width, height), (t, m) = result["size"], result["bch"]
    target = f" for {args.platform}" if args.platform else ""
    print(
        f"{width}x{height}{target}, method {result['method']}, designed for JPEG >= Q{result['design_quality']}: "
        f"BCH t={t} m={m}; covert: {result['covert_bits']} channel bits -> {result['covert_bytes']} bytes; "
        f"maximum (detectable, --detectable-ok): {result['capacity_bits']} channel bits -> {result['bytes']} bytes"
    )
    if result["bytes"] == 0:
        print(f"  holds nothing: the frame header alone needs {container.HEADER_BITS} channel bits")
        return 0
    print(f"  {'seconds of speech':<20} {'covert':>8} {'maximum':>8}")
    for label, seconds in result["seconds"].items():
        print(f"  {label:<20} {result['covert_seconds'][label]:8.3g} {seconds:8.3g}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    """``stegavox sweep``: robustness of a method over a folder of images and JPEG qualities."""
    from steganography.app import sweep

    out_dir = Path(args.out_dir)
    images = sweep.load_image_folder(Path(args.images))
    # The robustness of the whole capacity: the design with the most of it.
    embedder = pipeline.make_embedder(args.method, quality_target=args.quality_target).maximal()
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, plot_path = out_dir / "sweep.json", out_dir / "sweep.png"
    for path in (json_path, plot_path):
        check_output(path, args.force)
    report = sweep.sweep(images, embedder, args.qualities, args.quality_target, bch_t=args.bch_t)
    write_atomic(json_path, sweep.report_json(report).encode(), force=args.force)
    write_atomic(plot_path, sweep.report_plot(report), force=args.force)
    print(sweep.report_table(report))
    print(f"wrote {json_path} and {plot_path}")
    return 0


def _add_command(subparsers: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _common_options(parser: argparse.ArgumentParser, quality_target: bool = True) -> None:
    parser.add_argument(
        "--method", default=DEFAULT_METHOD, choices=pipeline.available_embedders(), help="hider (default: %(default)s)"
    )
    if quality_target:
        parser.add_argument(
            "--quality-target",
            type=quality,
            default=JPEG_QUALITY_TARGET,
            metavar="Q",
            help="lowest JPEG quality the payload must survive (default: %(default)s)",
        )


def _platform_options(parser: argparse.ArgumentParser) -> None:
    from common.platforms import ANY_PLATFORM, PROFILES

    parser.add_argument(
        "--platform",
        choices=(*PROFILES, ANY_PLATFORM),
        help="fit the cover to this platform's size and design for its JPEG quality range; "
        f"{ANY_PLATFORM}: unknown size, crop and quality, with the learned canonical-grid hider (see stegavox platforms)",
    )
    parser.add_argument("--hd", action="store_true", help="with --platform: its HD upload size")


def add_platforms_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "platforms", "list the sharing-platform profiles hide --platform uses")
    parser.set_defaults(func=run_platforms)


def add_hide_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "hide", "hide an audio file in a cover image")
    parser.add_argument("--audio", required=True, metavar="IN.wav", help="speech to hide (any soundfile format)")
    parser.add_argument("--cover", required=True, metavar="COVER.png", help="8-bit cover image")
    parser.add_argument("--out", required=True, metavar="STEGO.png", help="stego image to write (PNG)")
    parser.add_argument(
        "--codec",
        choices=("auto", *CODEC_CHOICES),
        default=None,
        help=f"audio codec; auto: the best quality that fits (default: auto with --platform, else {DEFAULT_CODEC})",
    )
    parser.add_argument(
        "--bitrate", type=int, metavar="RATE", help="opus kbit/s (default 16) or codec2 bit/s (700-3200, default 1600)"
    )
    _platform_options(parser)
    parser.add_argument(
        "--bch-t",
        type=bch_strength,
        default=None,
        metavar="auto|N",
        help="BCH bit errors corrected per codeword (default: auto, measured on the cover)",
    )
    parser.add_argument("--enhance", action="store_true", help="remove noise and background voices (DCCRN) first")
    parser.add_argument(
        "--detectable-ok",
        action="store_true",
        help="accept a message above the covert capacity (up to the maximum): steganalysis can then detect the image",
    )
    parser.add_argument("--passphrase-file", metavar="FILE", help="file holding the passphrase")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    _common_options(parser)
    parser.set_defaults(func=run_hide)


def add_reveal_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "reveal", "recover the audio file hidden in a (recompressed) stego image")
    parser.add_argument("--stego", required=True, metavar="FILE", help="stego image (PNG, or a recompressed JPEG)")
    parser.add_argument(
        "--out",
        required=True,
        metavar="OUT.{wav,flac,opus,c2}",
        help="audio file to write: .wav (decoded, whatever the codec) or the hidden codec's extension (exact bytes)",
    )
    parser.add_argument("--passphrase-file", metavar="FILE", help="file holding the passphrase")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    _common_options(parser, quality_target=False)
    parser.set_defaults(func=run_reveal, method=None)  # detected from the image


def add_enhance_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "enhance", "remove noise and background voices from speech (DCCRN)")
    parser.add_argument("input", metavar="IN.wav", help="speech to enhance (any soundfile format, rate, channels)")
    parser.add_argument("output", metavar="OUT.wav", help="enhanced audio (.wav, .flac or .ogg; same rate and channels)")
    parser.add_argument("--weights", metavar="FILE.pt", help="exported enhancer weights (default: the shipped model)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.set_defaults(func=run_enhance)


def add_capacity_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "capacity", "bytes and seconds of audio a cover holds")
    parser.add_argument("--cover", required=True, metavar="COVER.png", help="8-bit cover image")
    _platform_options(parser)
    _common_options(parser)
    parser.set_defaults(func=run_capacity)


def add_sweep_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "sweep", "measure robustness over a folder of images and real JPEG qualities")
    parser.add_argument("--images", required=True, metavar="DIR", help="folder of cover images")
    parser.add_argument("--out-dir", required=True, metavar="DIR", help="folder for sweep.json and sweep.png")
    parser.add_argument(
        "--qualities",
        type=quality,
        nargs="+",
        default=list(SWEEP_JPEG_QUALITIES),
        metavar="Q",
        help="JPEG qualities (default: %(default)s)",
    )
    parser.add_argument(
        "--bch-t",
        type=bch_strength,
        default=None,
        metavar="auto|N",
        help="BCH t for every image (default: auto, chosen per image as hide does)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing results")
    _common_options(parser)
    parser.set_defaults(func=run_sweep)


#: Functions adding one subcommand each, in ``--help`` order.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_hide_command,
    add_reveal_command,
    add_enhance_command,
    add_capacity_command,
    add_sweep_command,
    add_platforms_command,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``stegavox`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = _Parser(
        prog="stegavox",
        description="Hide speech inside pictures so that it survives JPEG recompression and comes back bit-exact.",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stegavox {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def _on_signal(signum: int, frame: object) -> None:
    if _DEFERRAL.depth > 0:
        _DEFERRAL.pending = signum
        return
    raise _interruption(signum)


@contextlib.contextmanager
def _cleanup_on_termination() -> Iterator[None]:
    """In the main thread: turn SIGTERM/SIGHUP into :class:`Terminated` and SIGINT into
    KeyboardInterrupt (so temporary files are removed on the way out, see
    :func:`_signals_deferred`) for the duration of the block; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (*TERMINATING_SIGNALS, signal.SIGINT)
    previous = {signum: signal.signal(signum, _on_signal) for signum in handled}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``stegavox`` with ``argv`` (default: the process arguments); returns the exit code.

    SIGTERM and SIGHUP end it with 128 + the signal number, and no temporary file is left.
    """
    with _cleanup_on_termination():
        try:
            return _main(argv)
        except Terminated as stop:
            _remove_pending_temporaries()
            print(f"stegavox: terminated by {signal.Signals(stop.signum).name}", file=sys.stderr)
            return 128 + stop.signum
        except KeyboardInterrupt:
            _remove_pending_temporaries()
            print("stegavox: interrupted", file=sys.stderr)
            return 130


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return InputError.exit_code
        return args.func(args)
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except StegavoxError as err:
        print(f"stegavox: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        _remove_pending_temporaries()
        print("stegavox: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
