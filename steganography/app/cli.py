"""The ``stegavox`` command: hide speech in a picture so that it survives JPEG, and get it back.

Subcommands are registered by the ``add_*_command`` functions in :data:`COMMANDS`; a later
feature adds itself with one more function there.

Start-up is kept light: ``stegavox --help`` imports neither torch nor the enhancer nor any model;
torch, soundfile, the codecs and the enhancer are imported inside the subcommands that use them.
"""

from __future__ import annotations

import argparse
import io
import signal
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from common.errors import InputError, StegavoxError
from common.image import open_image
from common.payload import container, crypto, ecc
from common.settings import JPEG_QUALITY_TARGET, SWEEP_JPEG_QUALITIES
from steganography.app import files
from steganography.app.web.command import add_serve_command
from steganography.embedders import pipeline

#: ``hide``'s codec without ``--platform`` (with one: ``auto``, the best that fits).
DEFAULT_CODEC = "opus"
DEFAULT_METHOD = "classical"
ENHANCED_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
#: Codecs ``--codec`` accepts: those the container format has an id for (the same set as
#: ``common.payload.codecs.CODECS``, checked by a test; read here without importing torch).
CODEC_CHOICES = tuple(container.CODEC_IDS)

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


class ProgressLine:
    """A :data:`steganography.embedders.pipeline.Progress` on stderr: ``stegavox: <stage> NN%``.

    Nothing is shown during the first :attr:`delay` seconds (quick commands print only their
    result or their one-line error). On a terminal one line is rewritten in place and cleared
    by :meth:`close`; otherwise a line is printed at each new stage and, within a stage, at
    most every :attr:`interval` seconds.
    """

    delay = 1.0
    interval = 1.0

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.started = time.monotonic()
        self.stage: str | None = None
        self.printed_at = 0.0
        self.shown = False

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self.started < self.delay or (stage == self.stage and now - self.printed_at < self.interval):
            return
        self.stage, self.printed_at = stage, now
        line = f"stegavox: {stage} {100 * fraction:3.0f}%"
        if self.terminal:
            self.stream.write(f"\r\x1b[K{line}")
            self.stream.flush()
            self.shown = True
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Clear the terminal line (before the result or the error is printed)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _progress(args: argparse.Namespace) -> ProgressLine | None:
    """The command's progress reporter (``None`` with ``--quiet``), closed by :func:`_main`."""
    if args.quiet:
        return None
    args.progress_line = ProgressLine()
    return args.progress_line


def run_hide(args: argparse.Namespace) -> int:
    """``stegavox hide``: encode, encrypt, code and hide an audio file in a cover image
    (:func:`steganography.app.api.hide`)."""
    from common import platforms
    from steganography.app import api

    codec = args.codec or ("auto" if args.platform else DEFAULT_CODEC)
    out = Path(args.out)
    if args.platform in platforms.PROFILES:
        target = platforms.get_profile(args.platform).label
    else:
        target = "any platform" if args.platform == platforms.ANY_PLATFORM else args.platform
    files.check_stego_name(out, api.output_format(args.platform), target or "a plain hide")
    files.check_output(out, args.force, inputs=(Path(args.audio), Path(args.cover)))
    api.check_codec_options(codec, args.bitrate)
    passphrase = crypto.read_passphrase(args.passphrase_file)
    quality_target = None if args.quality_target == JPEG_QUALITY_TARGET and args.platform else args.quality_target
    outcome = api.hide(
        args.cover,
        args.audio,
        passphrase,
        platform=args.platform,
        codec=codec,
        bitrate=args.bitrate,
        quality_target=quality_target,
        bch_t=args.bch_t,
        method=args.method,
        enhance=args.enhance,
        hd=args.hd,
        detectable_ok=args.detectable_ok,
        crop_robust=args.crop_robust,
        progress=_progress(args),
    )
    report = outcome.report
    for line in report.notes:
        note(line)
    files.write_atomic(out, outcome.data, force=args.force)
    width, height = report.stego_size
    where = f" for {target}" if args.platform else ""
    print(
        f"hid {report.seconds:.1f} s of {api.codec_label(report.codec, report.bitrate)} audio ({report.audio_bytes} bytes) "
        f"in {width}x{height}{where} (method {report.method}, designed for JPEG >= Q{report.design_quality}): "
        f"{8 * report.audio_bytes / (width * height):.4f} bpp net, BCH t={report.bch_t} m={report.bch_m}, "
        f"{report.frame_bits}/{report.capacity_bits} channel bits, PSNR {report.psnr_db:.1f} dB -> {out}"
        + (f" (JPEG Q{report.output_quality})" if report.output_format == "jpeg" else "")
    )
    checked = ", ".join(f"JPEG Q{label}" if isinstance(label, int) else str(label) for label in report.bit_error_rates)
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
    """``stegavox reveal``: extract, correct, decrypt and write the hidden audio file
    (:func:`steganography.app.api.reveal`)."""
    from common.payload import codecs
    from steganography.app import api

    out = Path(args.out)
    files.check_output(out, args.force, inputs=(Path(args.stego),))
    passphrase = crypto.read_passphrase(args.passphrase_file)
    outcome = api.reveal(args.stego, passphrase, args.method, progress=_progress(args))
    suffix = codecs.file_extension(outcome.codec)
    if out.suffix.lower() not in (suffix, ".wav"):
        raise InputError(
            f"the hidden audio is {outcome.codec}; name the output {out.stem}{suffix} (exact bytes) or {out.stem}.wav (decoded)"
        )
    data = outcome.audio_bytes
    if out.suffix.lower() != suffix:  # .wav of a compressed codec: decode it
        data = outcome.wav_bytes()
        note(f"decoded the {len(outcome.audio_bytes)} bytes of {outcome.codec} to a {len(data)}-byte WAV")
    files.write_atomic(out, data, force=args.force)
    print(
        f"revealed {len(data)} bytes of {outcome.codec} audio ({outcome.sample_rate} Hz, hidden by {outcome.method}) -> {out}; "
        f"corrected {outcome.corrected_bits} bit errors (raw BER {outcome.estimated_ber:.2e})"
    )
    return 0


def run_enhance(args: argparse.Namespace) -> int:
    """``stegavox enhance``: remove noise and background voices from a speech file
    (:func:`steganography.app.api.enhance`)."""
    import soundfile as sf

    from steganography.app import api

    source, out = Path(args.input), Path(args.output)
    if out.suffix.lower() not in ENHANCED_FORMATS:
        raise InputError(f"write the enhanced audio as {', '.join(ENHANCED_FORMATS)}, not {out.name}")
    files.check_output(out, args.force, inputs=(source,))
    enhanced, sample_rate = api.enhance(source, weights=args.weights)
    buffer = io.BytesIO()
    sf.write(buffer, enhanced.T, sample_rate, format=ENHANCED_FORMATS[out.suffix.lower()])
    files.write_atomic(out, buffer.getvalue(), force=args.force)
    print(f"enhanced {enhanced.shape[-1] / sample_rate:.1f} s ({enhanced.shape[0]} channel(s), {sample_rate} Hz) -> {out}")
    return 0


def run_capacity(args: argparse.Namespace) -> int:
    """``stegavox capacity``: what ``hide`` accepts for a cover, covertly and at most, per codec."""
    from steganography.app import api

    cover = open_image(args.cover, note=note)
    quality_target = None if args.quality_target == JPEG_QUALITY_TARGET and args.platform else args.quality_target
    result = api.capacity(
        cover, args.platform, quality_target, args.method, args.hd, crop_robust=args.crop_robust, progress=_progress(args)
    )
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
        print(f"  holds nothing: the frame header alone needs {container.HEADER_CODEWORD_BITS} channel bits")
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
        files.check_output(path, args.force)
    report = sweep.sweep(images, embedder, args.qualities, args.quality_target, bch_t=args.bch_t)
    files.write_atomic(json_path, sweep.report_json(report).encode(), force=args.force)
    files.write_atomic(plot_path, sweep.report_plot(report), force=args.force)
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
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
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
        f"{ANY_PLATFORM}: unknown size, crop and quality, with the learned canonical-grid hider (see stegavox platforms; "
        "detectable by steganalysis: needs --detectable-ok)",
    )
    parser.add_argument("--hd", action="store_true", help="with --platform: its HD upload size")
    parser.add_argument(
        "--crop-robust",
        action="store_true",
        help="with --platform: also survive a crop that shifts the 8-px JPEG grid before the upload "
        "(an edit; more change for the same message, so easier to detect)",
    )


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
    add_serve_command,
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
    """Run ``stegavox`` with ``argv`` (default: the process arguments); returns the exit code.

    SIGTERM and SIGHUP end it with 128 + the signal number, and no temporary file is left.
    """
    with files.cleanup_on_termination():
        try:
            return _main(argv)
        except files.Terminated as stop:
            files.remove_pending_temporaries()
            print(f"stegavox: terminated by {signal.Signals(stop.signum).name}", file=sys.stderr)
            return 128 + stop.signum
        except KeyboardInterrupt:
            files.remove_pending_temporaries()
            print("stegavox: interrupted", file=sys.stderr)
            return 130


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return InputError.exit_code
        try:
            return args.func(args)
        finally:
            if getattr(args, "progress_line", None) is not None:
                args.progress_line.close()
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except StegavoxError as err:
        print(f"stegavox: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        files.remove_pending_temporaries()
        print("stegavox: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
