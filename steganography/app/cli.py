"""The ``stegavox`` command: hide speech in a picture so that it survives JPEG, and get it back.

Subcommands are registered by the ``add_*_command`` functions in :data:`COMMANDS`; a later
feature adds itself with one more function there.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from common.audio import load_audio, resample
from common.errors import InputError, StegavoxError
from common.image import open_image
from common.payload import codecs, container, crypto, ecc
from common.settings import JPEG_QUALITY_TARGET, SPEECH_SAMPLE_RATE, SWEEP_JPEG_QUALITIES
from enhancer.pretrained import enhance_waveform, load_pretrained_enhancer
from steganography.app import pipeline

#: Sample rate and channel count audio is converted to before encoding (wide-band speech).
APP_CHANNELS = 1
DEFAULT_CODEC = "opus"
DEFAULT_METHOD = "classical"
LOSSLESS_SUFFIXES = (".png",)
ENHANCED_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}

EXIT_CODES_EPILOG = """\
exit codes:
  0  success
  2  bad input or usage (unreadable/corrupt/non-8-bit image or audio, empty/NaN audio,
     cover too small, output exists without --force)
  3  payload unrecoverable (no payload found, too many bit errors)
  4  authentication failed (wrong passphrase, or a payload altered beyond what BCH corrected)

The passphrase comes from --passphrase-file or the environment variable STEGAVOX_PASSPHRASE;
it is never printed."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, in the application's format."""

    def error(self, message: str) -> None:
        raise InputError(f"{message} (see {self.prog} --help)")


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load_speech(path: Path) -> torch.Tensor:
    """Mono wave at :data:`SPEECH_SAMPLE_RATE`, with a note for every conversion."""
    wave, sample_rate = load_audio(path, mono=False)
    if wave.shape[0] != APP_CHANNELS:
        note(f"mixing {wave.shape[0]} channels down to mono")
        wave = wave.mean(dim=0, keepdim=True)
    if sample_rate != SPEECH_SAMPLE_RATE:
        note(f"resampling {sample_rate} Hz to {SPEECH_SAMPLE_RATE} Hz")
        wave = resample(wave, sample_rate, SPEECH_SAMPLE_RATE)
    return wave


def _max_seconds(fit_bytes: int, codec: str, bitrate_kbps: int | None) -> float:
    rate = codecs.encoded_sample_rate(codec, SPEECH_SAMPLE_RATE)
    return codecs.max_duration_seconds(fit_bytes, codec, rate, APP_CHANNELS, bitrate_kbps)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def run_hide(args: argparse.Namespace) -> int:
    """``stegavox hide``: encode, encrypt, code and hide an audio file in a cover image."""
    out = Path(args.out)
    if out.suffix.lower() not in LOSSLESS_SUFFIXES:
        raise InputError(f"the stego image must be saved losslessly: use a .png name, not {out.name}")
    check_output(out, args.force, inputs=(Path(args.audio), Path(args.cover)))
    if args.bitrate is not None and args.codec != "opus":
        raise InputError(f"--bitrate applies to opus only, not to {args.codec}")
    passphrase = crypto.read_passphrase(args.passphrase_file)
    embedder = pipeline.make_embedder(args.method, quality_target=args.quality_target)
    cover = open_image(args.cover)
    wave = _load_speech(Path(args.audio))
    if args.enhance:
        wave = enhance_waveform(load_pretrained_enhancer(), wave, SPEECH_SAMPLE_RATE)
    audio = codecs.encode_audio(wave, SPEECH_SAMPLE_RATE, args.codec, args.bitrate)
    meta = container.AudioMeta(args.codec, codecs.encoded_sample_rate(args.codec, SPEECH_SAMPLE_RATE), APP_CHANNELS)
    try:
        result = pipeline.hide(cover, audio, meta, passphrase, embedder, args.quality_target, args.bch_t)
    except pipeline.CoverTooSmallError as err:
        seconds = _max_seconds(err.fit_bytes, args.codec, args.bitrate)
        raise InputError(
            f"cover too small: {err.needed_bytes} bytes of {args.codec} audio do not fit; this cover holds "
            f"{err.fit_bytes} bytes, about {seconds:.3g} s of {args.codec} speech"
        ) from None
    buffer = io.BytesIO()
    result.stego.save(buffer, format="PNG", compress_level=1)
    write_atomic(out, buffer.getvalue())
    width, height = cover.size
    seconds = wave.shape[-1] / SPEECH_SAMPLE_RATE
    print(
        f"hid {seconds:.1f} s of {args.codec} audio ({len(audio)} bytes) in {width}x{height}: "
        f"{8 * len(audio) / (width * height):.4f} bpp net, BCH t={result.bch_t} m={result.bch_m}, "
        f"{result.frame_bits}/{result.capacity_bits} channel bits, "
        f"PSNR {_psnr(np.asarray(cover), np.asarray(result.stego)):.1f} dB -> {out}"
    )
    if result.survives_target:
        print(f"checked: the payload comes back after Pillow JPEG at quality {args.quality_target}")
    else:
        note(f"with BCH t={result.bch_t} the payload does NOT come back after JPEG quality {args.quality_target}")
    return 0


def run_reveal(args: argparse.Namespace) -> int:
    """``stegavox reveal``: extract, correct, decrypt and write the hidden audio file."""
    out = Path(args.out)
    check_output(out, args.force, inputs=(Path(args.stego),))
    passphrase = crypto.read_passphrase(args.passphrase_file)
    embedder = pipeline.make_embedder(args.method)
    stego = open_image(args.stego)
    audio, meta, stats = pipeline.reveal(stego, passphrase, embedder)
    suffix = codecs.file_extension(meta.codec)
    if out.suffix.lower() != suffix:
        raise InputError(f"the hidden audio is {meta.codec}; name the output {out.stem}{suffix}")
    write_atomic(out, audio)
    print(
        f"revealed {len(audio)} bytes of {meta.codec} audio ({meta.sample_rate} Hz) -> {out}; "
        f"corrected {stats.body_errors} bit errors (raw BER {stats.estimated_ber:.2e})"
    )
    return 0


def run_enhance(args: argparse.Namespace) -> int:
    """``stegavox enhance``: remove noise and background voices from a speech file."""
    source, out = Path(args.input), Path(args.output)
    if out.suffix.lower() not in ENHANCED_FORMATS:
        raise InputError(f"write the enhanced audio as {', '.join(ENHANCED_FORMATS)}, not {out.name}")
    check_output(out, args.force, inputs=(source,))
    wave, sample_rate = load_audio(source, mono=False)
    enhanced = enhance_waveform(load_pretrained_enhancer(args.weights), wave, sample_rate)
    peak = float(enhanced.abs().max())
    if peak > 0.999:  # the mask can raise the peak slightly: limit rather than clip
        enhanced = enhanced * (0.999 / peak)
    buffer = io.BytesIO()
    sf.write(buffer, enhanced.T.numpy(), sample_rate, format=ENHANCED_FORMATS[out.suffix.lower()])
    write_atomic(out, buffer.getvalue())
    print(f"enhanced {wave.shape[-1] / sample_rate:.1f} s ({wave.shape[0]} channel(s), {sample_rate} Hz) -> {out}")
    return 0


def run_capacity(args: argparse.Namespace) -> int:
    """``stegavox capacity``: how much audio a cover holds at a target JPEG quality."""
    embedder = pipeline.make_embedder(args.method, quality_target=args.quality_target)
    cover = open_image(args.cover)
    width, height = cover.size
    fit, t, m = pipeline.max_payload_bytes(embedder, cover, args.quality_target)
    print(
        f"{width}x{height} cover, method {args.method}, JPEG quality >= {args.quality_target}: "
        f"{embedder.capacity_bits(width, height)} channel bits, BCH t={t} m={m} -> {fit} bytes "
        f"({8 * fit / (width * height):.4f} bpp net)"
    )
    for codec in codecs.CODECS:
        bitrate = codecs.DEFAULT_OPUS_BITRATE_KBPS if codec == "opus" else None
        label = f"{codec} {bitrate} kbit/s" if bitrate else codec
        print(f"  {label:<16} {_max_seconds(fit, codec, None):8.3g} s of speech")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    """``stegavox sweep``: robustness of a method over a folder of images and JPEG qualities."""
    from steganography.app import sweep

    out_dir = Path(args.out_dir)
    images = sweep.load_image_folder(Path(args.images))
    embedder = pipeline.make_embedder(args.method, quality_target=args.quality_target)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, plot_path = out_dir / "sweep.json", out_dir / "sweep.png"
    for path in (json_path, plot_path):
        check_output(path, args.force)
    report = sweep.sweep(images, embedder, args.qualities, args.quality_target, bch_t=args.bch_t)
    write_atomic(json_path, sweep.report_json(report).encode())
    write_atomic(plot_path, sweep.report_plot(report))
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


def add_hide_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "hide", "hide an audio file in a cover image")
    parser.add_argument("--audio", required=True, metavar="IN.wav", help="speech to hide (any soundfile format)")
    parser.add_argument("--cover", required=True, metavar="COVER.png", help="8-bit cover image")
    parser.add_argument("--out", required=True, metavar="STEGO.png", help="stego image to write (PNG)")
    parser.add_argument(
        "--codec", choices=codecs.CODECS, default=DEFAULT_CODEC, help="audio codec (default: %(default)s)"
    )
    parser.add_argument("--bitrate", type=int, metavar="KBPS", help="opus bitrate in kbit/s (default: 16)")
    parser.add_argument(
        "--bch-t",
        type=bch_strength,
        default=None,
        metavar="auto|N",
        help="BCH bit errors corrected per codeword (default: auto, measured on the cover)",
    )
    parser.add_argument("--enhance", action="store_true", help="remove noise and background voices (DCCRN) first")
    parser.add_argument("--passphrase-file", metavar="FILE", help="file holding the passphrase")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    _common_options(parser)
    parser.set_defaults(func=run_hide)


def add_reveal_command(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_command(subparsers, "reveal", "recover the audio file hidden in a (recompressed) stego image")
    parser.add_argument("--stego", required=True, metavar="FILE", help="stego image (PNG, or a recompressed JPEG)")
    parser.add_argument(
        "--out", required=True, metavar="OUT.{wav,flac,opus}", help="audio file to write (the hidden codec's extension)"
    )
    parser.add_argument("--passphrase-file", metavar="FILE", help="file holding the passphrase")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    _common_options(parser, quality_target=False)
    parser.set_defaults(func=run_reveal)


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``stegavox`` with ``argv`` (default: the process arguments); returns the exit code."""
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
        print("stegavox: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
