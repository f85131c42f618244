"""End-to-end validation of a hider in training: real speech through the application's exact path.

Each check sends speech through what ``stegavox hide`` / ``stegavox reveal`` do: the utterance is
encoded (:func:`common.payload.codecs.encode_audio`, Opus at a low bitrate by default), hidden with
:func:`steganography.embedders.pipeline.hide` (AES-GCM, BCH code chosen and verified by ``hide`` itself,
embedding), recompressed with real Pillow JPEG at each quality, revealed with
:func:`steganography.embedders.pipeline.reveal` and compared byte for byte with what was sent.

How much audio goes in: the longest prefix of the utterance that fits the cover at the code
:func:`steganography.embedders.pipeline.max_payload_bytes` chooses (what ``stegavox capacity`` reports),
estimated with :func:`common.payload.codecs.max_duration_seconds` and shortened by 10 % steps until
the encoded (VBR) file really fits. An item that cannot carry even the audio file's header, or
that ``hide`` rejects, is a failure with a reason and counts as not recovered at every quality.

Speech: the first ``num_items`` LibriSpeech utterances (sorted by id) of one split, or, without a
LibriSpeech folder, the demo's synthesised utterances. Covers: procedural demo scenes of
``cover_size`` pixels, the same every check (so successive checks are comparable), independent of
the training data: training crops (256² for COCO) are too small to carry an Ogg-Opus file (~1 kB of
header alone) at a few bits per 8×8 block.
"""

from __future__ import annotations

import dataclasses
import os

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image

from common.errors import AuthenticationError, InputError, PayloadUnrecoverableError
from common.image import jpeg_roundtrip
from common.payload import codecs, container
from common.settings import JPEG_QUALITY_TARGET, SPEECH_SAMPLE_RATE, VALIDATION_JPEG_QUALITIES
from datamodules.demo import SynthesisedSpeech, item_rng
from datamodules.librispeech import LibriSpeech
from datamodules.synthetic import procedural_image
from steganography.embedders import pipeline
from steganography.embedders.base import Embedder
from steganography.embedders.inn import INNEmbedder

#: Passphrase of the check's payloads (any fixed one: only the round trip is measured).
PASSPHRASE = b"stegavox end-to-end check"
#: Duration of each synthesised utterance when no LibriSpeech folder is given.
SYNTHESISED_SECONDS = 10.0
#: Each retry keeps this share of the prefix when the encoded file came out larger than the estimate.
SHORTEN_FACTOR = 0.9
#: Reason of an item whose cover cannot take any prefix of its utterance.
DOES_NOT_FIT = "does not fit"


@dataclasses.dataclass
class RoundTrip:
    """What became of one utterance hidden in one cover.

    Attributes:
        payload_bytes: size of the audio file hidden (0 if none was).
        seconds: duration of the speech in it.
        pixels: cover pixels.
        recovered: per JPEG quality, whether :func:`pipeline.reveal` gave back the exact bytes.
        wrong: per JPEG quality, whether it gave back *different* bytes without an error.
        reason: why the item was not hidden (``None`` if it was).
    """

    payload_bytes: int = 0
    seconds: float = 0.0
    pixels: int = 0
    recovered: dict[int, bool] = dataclasses.field(default_factory=dict)
    wrong: dict[int, bool] = dataclasses.field(default_factory=dict)
    reason: str | None = None

    @property
    def hidden(self) -> bool:
        return self.reason is None


def longest_fitting_prefix(
    wave: torch.Tensor, sample_rate: int, fit_bytes: int, codec: str, bitrate_kbps: int | None
) -> tuple[bytes, int]:
    """The encoded longest prefix of ``wave (channels, samples)`` whose file is at most ``fit_bytes``.

    Returns:
        The file's bytes and the prefix length in samples; ``(b"", 0)`` if no prefix fits.
    """
    file_rate = codecs.encoded_sample_rate(codec, sample_rate)
    seconds = codecs.max_duration_seconds(fit_bytes, codec, file_rate, wave.shape[0], bitrate_kbps)
    num_samples = min(wave.shape[-1], int(seconds * sample_rate))
    while num_samples > 0:
        audio = codecs.encode_audio(wave[:, :num_samples], sample_rate, codec, bitrate_kbps)
        if len(audio) <= fit_bytes:
            return audio, num_samples
        num_samples = int(num_samples * SHORTEN_FACTOR)
    return b"", 0


def round_trip(
    embedder: Embedder,
    cover: Image.Image,
    wave: torch.Tensor,
    sample_rate: int,
    qualities: list[int],
    quality_target: int = JPEG_QUALITY_TARGET,
    codec: str = "opus",
    bitrate_kbps: int | None = None,
    passphrase: bytes = PASSPHRASE,
) -> RoundTrip:
    """Hide the longest prefix of ``wave`` that fits ``cover`` and reveal it after JPEG at each quality.

    Args:
        embedder: the hider.
        cover: RGB cover image.
        wave: speech ``(channels, samples)`` at ``sample_rate``.
        sample_rate: rate of ``wave`` in Hz.
        qualities: Pillow JPEG qualities the stego image is recompressed at.
        quality_target: the quality :func:`pipeline.hide` designs and checks its code for.
        codec: audio codec (see :data:`common.payload.codecs.CODECS`).
        bitrate_kbps: Opus bitrate (``None``: the codec's default).
        passphrase: encryption passphrase.
    """
    result = RoundTrip(pixels=cover.width * cover.height)
    try:
        fit_bytes, _, _ = pipeline.max_payload_bytes(embedder, cover, quality_target, detectable_ok=True)
    except InputError as err:
        return dataclasses.replace(result, reason=str(err))
    audio, num_samples = longest_fitting_prefix(wave, sample_rate, fit_bytes, codec, bitrate_kbps)
    if not audio:
        return dataclasses.replace(result, reason=DOES_NOT_FIT)
    meta = container.AudioMeta(codec, codecs.encoded_sample_rate(codec, sample_rate), wave.shape[0])
    try:
        hidden = pipeline.hide(cover, audio, meta, passphrase, embedder, quality_target, detectable_ok=True)
    except pipeline.CoverTooSmallError:
        return dataclasses.replace(result, reason=DOES_NOT_FIT)
    except InputError as err:
        return dataclasses.replace(result, reason=str(err))
    result.payload_bytes, result.seconds = len(audio), num_samples / sample_rate
    for quality in qualities:
        try:
            revealed, _, _ = pipeline.reveal(jpeg_roundtrip(hidden.stego, quality), passphrase, embedder)
        except (PayloadUnrecoverableError, AuthenticationError):
            result.recovered[quality] = result.wrong[quality] = False
            continue
        result.recovered[quality] = revealed == audio
        result.wrong[quality] = revealed != audio
    return result


def summarise(results: list[RoundTrip], qualities: list[int]) -> dict[str, float]:
    """``val/e2e_*`` metrics of a check (see :class:`PayloadRoundTripCheck`)."""
    hidden = [result for result in results if result.hidden]
    count = max(len(results), 1)
    metrics = {
        f"val/e2e_recovered_q{quality}": sum(r.recovered.get(quality, False) for r in results) / count
        for quality in qualities
    }
    metrics["val/e2e_hidden"] = len(hidden) / count
    metrics["val/e2e_wrong_bytes"] = float(sum(sum(r.wrong.values()) for r in results))
    metrics["val/e2e_payload_bytes"] = sum(r.payload_bytes for r in hidden) / max(len(hidden), 1)
    metrics["val/e2e_seconds"] = sum(r.seconds for r in hidden) / max(len(hidden), 1)
    metrics["val/e2e_net_bpp"] = 8 * sum(r.payload_bytes for r in hidden) / max(sum(r.pixels for r in hidden), 1)
    return metrics


class PayloadRoundTripCheck(Callback):
    """Validate the task's hider end to end on real speech (see the module docstring).

    Runs at the end of validation every ``every_n_epochs`` epochs (not in the sanity check) on
    global rank 0 only, and logs with ``rank_zero_only=True``: the other ranks neither compute
    nor log these metrics, so do not monitor them (checkpointing, early stopping) under DDP.
    Logged, each a fraction of ``num_items`` unless stated:

    - ``val/e2e_recovered_q<Q>``: exact bytes back after Pillow JPEG at quality ``Q``;
    - ``val/e2e_hidden``: items ``hide`` accepted;
    - ``val/e2e_wrong_bytes``: count of (item, quality) where reveal returned different bytes
      without an error (0 by design: AES-GCM authenticates the payload);
    - ``val/e2e_payload_bytes``, ``val/e2e_seconds``: mean audio file size and duration of the
      items hidden;
    - ``val/e2e_net_bpp``: audio bits per cover pixel over the items hidden.

    Args:
        librispeech_root: the ``LibriSpeech`` folder (or its parent); ``None`` uses synthesised speech.
        split: LibriSpeech split folder, e.g. ``dev-clean``.
        num_items: utterances (each with its own cover).
        cover_size: side of the square procedural covers.
        qualities: Pillow JPEG qualities of the reveal.
        quality_target: the quality ``hide`` designs its code for.
        codec: audio codec (``opus``, ``flac`` or ``pcm16``).
        bitrate_kbps: Opus bitrate; ``None`` for the lossless codecs.
        tile_size: tile side the hider runs on (its training crop size; ``None``: whole cover).
        every_n_epochs: check every this many epochs.
        seed: seed of the covers and of the synthesised speech.
    """

    def __init__(
        self,
        librispeech_root: str | os.PathLike | None = "data/LibriSpeech",
        split: str = "dev-clean",
        num_items: int = 4,
        cover_size: int = 512,
        qualities: list[int] = list(VALIDATION_JPEG_QUALITIES),
        quality_target: int = JPEG_QUALITY_TARGET,
        codec: str = "opus",
        bitrate_kbps: int | None = 8,
        tile_size: int | None = None,
        every_n_epochs: int = 1,
        seed: int = 0,
    ) -> None:
        if num_items < 1 or every_n_epochs < 1 or cover_size < 1:
            raise ValueError("num_items, every_n_epochs and cover_size must be >= 1")
        if codec not in codecs.CODECS or (bitrate_kbps is not None and codec != "opus"):
            raise ValueError(
                f"codec must be one of {codecs.CODECS}, with a bitrate for opus only; got {codec!r}, {bitrate_kbps}"
            )
        self.librispeech_root, self.split, self.num_items = librispeech_root, split, num_items
        self.cover_size, self.qualities, self.quality_target = cover_size, list(qualities), quality_target
        self.codec, self.bitrate_kbps, self.tile_size = codec, bitrate_kbps, tile_size
        self.every_n_epochs, self.seed = every_n_epochs, seed
        self.utterances: list[torch.Tensor] = []
        self.covers: list[Image.Image] = []
        #: The items of the latest check.
        self.results: list[RoundTrip] = []

    def _load_utterances(self) -> list[torch.Tensor]:
        if self.librispeech_root is None:
            num_samples = int(SYNTHESISED_SECONDS * SPEECH_SAMPLE_RATE)
            speech = SynthesisedSpeech(self.num_items, num_samples, SPEECH_SAMPLE_RATE, "val", self.seed)
            return [speech[index]["audio"] for index in range(self.num_items)]
        corpus = LibriSpeech(self.librispeech_root, [self.split], SPEECH_SAMPLE_RATE, max_utterances=self.num_items)
        if len(corpus) < self.num_items:
            raise ValueError(f"LibriSpeech {self.split} has {len(corpus)} utterances, fewer than num_items={self.num_items}")
        return [corpus[index]["audio"] for index in range(self.num_items)]

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Load the speech and draw the covers once (a missing LibriSpeech split fails here, early)."""
        if self.utterances or not trainer.is_global_zero:
            return
        self.utterances = self._load_utterances()
        self.covers = [
            Image.fromarray(procedural_image(item_rng(self.seed, "val", index), self.cover_size, self.cover_size))
            for index in range(self.num_items)
        ]

    def embedder(self, pl_module: pl.LightningModule) -> Embedder:
        """The hider under test: the task's in-memory ``hider`` as the application's INN embedder."""
        return INNEmbedder.from_hider(pl_module.hider, self.tile_size, self.quality_target)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        embedder = self.embedder(pl_module)
        self.results = [
            round_trip(
                embedder, cover, wave, SPEECH_SAMPLE_RATE, self.qualities, self.quality_target, self.codec, self.bitrate_kbps
            )
            for cover, wave in zip(self.covers, self.utterances)
        ]
        metrics = summarise(self.results, self.qualities)
        for name, value in metrics.items():
            pl_module.log(name, value, rank_zero_only=True)
        recovered = ", ".join(f"Q{quality} {metrics[f'val/e2e_recovered_q{quality}']:.0%}" for quality in self.qualities)
        reasons = sorted({result.reason for result in self.results if not result.hidden})
        hidden = sum(result.hidden for result in self.results)
        rank_zero_info(
            f"end-to-end payload check: {hidden}/{len(self.results)} hidden, recovered {recovered}"
            + (f"; not hidden: {'; '.join(reasons)}" if reasons else "")
        )
