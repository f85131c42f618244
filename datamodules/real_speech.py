"""Real recorded speech from Debian packages (Asterisk voice prompts, KLettres' recorded letters
and syllables), and the dominant-talker enhancement task built on it.

Preparation (``python -m datamodules.real_speech prepare --out data/real_speech``) downloads
the packages of :data:`SOURCES` with ``apt-get download`` (or takes their ``.deb`` files from
``--from-dir``), unpacks them with ``dpkg -x`` in a temporary folder, decodes every prompt
(G.722 and GSM through ffmpeg: the system one or the ``imageio-ffmpeg`` wheel's; WAV and Ogg
Vorbis through soundfile), trims leading and trailing silence, resamples to 16 kHz (the 8 kHz sets are marked
``band_limited``) and writes::

    data/real_speech/
        manifest.csv          # path, package, speaker, sex, language, licence, duration,
                              # band_limited, source_rate, split
        wav/<speaker>/<language>_<prompt>.wav   # 16 kHz mono PCM16

Splits: the whole speakers of :data:`VALIDATION_SPEAKERS` are ``val`` (never trained on: one
female, two male voices); every other speaker's prompts are split by utterance,
``val_fraction`` of the prompt names (a stable hash, so the same prompt name is in the same split
in every language) going to ``val``.

Speakers (``sex`` from the package documentation where it names the speaker, else from the
median F0 of the voiced frames, measured on the prepared files: < 165 Hz ``m``, > 190 Hz ``f``):
the Asterisk sets are five women (Allison, June, July, Armelle, Menardi); each KLettres language
is one volunteer (``klettres_<language>``; German two, one per part), eight of them men, ten
women, three undetermined (F0 between the two ranges, or a child's).

Some Asterisk packages are reserved for evaluation elsewhere in the project and are refused
here (:data:`RESERVED_PACKAGES`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from common.audio import resample
from common.settings import SPEECH_SAMPLE_RATE
from datamodules.base import DatasetNotFoundError, SplitDataModule, require_folders
from datamodules.debian_packages import read_csv, unpacked_tree, write_csv
from datamodules.mixing import mix, scale_to_snr
from datamodules.synthetic import synthesise_noise

SAMPLE_RATE = SPEECH_SAMPLE_RATE
MANIFEST = "manifest.csv"
FIELDS = ("path", "package", "speaker", "sex", "language", "licence", "duration", "band_limited", "source_rate", "split")
#: Speakers held out entirely (validation only): June (f, fr-CA), KLettres en (m) and lt (m).
VALIDATION_SPEAKERS = ("june", "klettres_en", "klettres_lt")
VALIDATION_SPEAKER = VALIDATION_SPEAKERS[0]  # the only one held out before
ASTERISK_SOUNDS = "usr/share/asterisk/sounds"
KLETTRES_SOUNDS = "usr/share/klettres"


@dataclass(frozen=True)
class Source:
    """One Debian package of recorded prompts (``folder`` under ``base`` in the package's tree)."""

    package: str
    folder: str
    speaker: str
    language: str
    licence: str
    codec: str  # "g722" (16 kHz), "gsm" (8 kHz), "wav" or "ogg"
    sex: str = "f"  # "f" or "m"
    base: str = ASTERISK_SOUNDS


def _klettres(language: str, sex: str, part: str = "") -> Source:
    # KLettres' letters (alpha/) and syllables (syllab/), read by one native speaker per language
    # (German: one voice per part).
    folder, speaker = (f"{language}/{part}", f"klettres_{language}_{part}") if part else (language, f"klettres_{language}")
    return Source("klettres-data", folder, speaker, language.split("_")[0], "GPL-2+", "ogg", sex, KLETTRES_SOUNDS)


SOURCES = (
    Source("asterisk-core-sounds-en-g722", "en_US_f_Allison", "allison", "en", "CC-BY-SA-3.0", "g722"),
    Source("asterisk-core-sounds-es-g722", "es_MX_f_Allison", "allison", "es", "CC-BY-SA-3.0", "g722"),
    Source("asterisk-core-sounds-fr-g722", "fr_CA_f_June", "june", "fr", "CC-BY-SA-3.0", "g722"),
    Source("asterisk-prompt-es-co", "es", "july", "es", "GPL-2", "gsm"),
    Source("asterisk-prompt-fr-armelle", "fr", "armelle", "fr", "BSD-style (Michel Gutierrez 2006)", "gsm"),
    # The package itself only depends on one of its format variants; the WAV one holds the audio.
    Source("asterisk-prompt-it-menardi-wav", "it_IT_f_Menardi", "menardi", "it", "CC-BY-SA-3.0", "wav"),
    # KLettres (KDE Edu, GPL-2+): sex from the median F0 of the prepared files (see the module doc).
    *(_klettres(lang, "m") for lang in ("da", "en", "fr", "hu", "lt", "ml", "nds")),
    *(_klettres(lang, "f") for lang in ("ar", "cs", "en_GB", "it", "nb", "nl", "pt_BR", "ru", "uk")),
    _klettres("de", "f", "alpha"),
    _klettres("de", "m", "syllab"),
    # Median F0 173-193 Hz (es, he) or a child-like 310-360 Hz (tn): sex not determined.
    *(_klettres(lang, "?") for lang in ("es", "he", "tn")),
)
#: Packages that hold evaluation material of other parts of the project: never used here.
RESERVED_PACKAGES = ("asterisk-core-sounds-it", "asterisk-core-sounds-ru", "asterisk-moh-opsound", "codec2-examples")
AUDIO_SUFFIXES = {".g722": "g722", ".gsm": "gsm", ".wav": "wav", ".ogg": "ogg"}


def ffmpeg_executable() -> str:
    """The ``ffmpeg`` on PATH, or the one bundled with the ``imageio-ffmpeg`` wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as err:
        raise RuntimeError("decoding G.722/GSM needs ffmpeg: apt-get install ffmpeg, or pip install imageio-ffmpeg") from err
    return imageio_ffmpeg.get_ffmpeg_exe()


def decode(path: Path, codec: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate of a G.722 / GSM (raw, via ffmpeg), WAV or Ogg file."""
    if codec in ("wav", "ogg"):
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data.mean(axis=1), rate
    rate = 16000 if codec == "g722" else 8000
    command = [ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-f", codec, "-i", str(path),
               "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"]
    raw = subprocess.run(command, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0, rate


def trim_silence(wave: np.ndarray, rate: int, threshold_db: float = -40.0, margin_seconds: float = 0.05) -> np.ndarray:
    """Cut leading and trailing frames (10 ms) quieter than ``threshold_db`` below the loudest."""
    frame = max(1, rate // 100)
    count = len(wave) // frame
    if count == 0:
        return wave
    energy = np.square(wave[: count * frame].reshape(count, frame), dtype=np.float64).mean(axis=1)
    loud = np.flatnonzero(energy > energy.max() * 10 ** (threshold_db / 10))
    if loud.size == 0:
        return wave[:0]
    margin = int(margin_seconds * rate)
    return wave[max(0, loud[0] * frame - margin) : min(len(wave), (loud[-1] + 1) * frame + margin)]


def utterance_split(name: str, val_fraction: float) -> str:
    """``val`` for a stable ``val_fraction`` of prompt names, else ``train``."""
    digest = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    return "val" if digest / 0xFFFFFFFF < val_fraction else "train"


def prepare(
    out: str | os.PathLike,
    from_dir: str | os.PathLike | None = None,
    sources: tuple[Source, ...] = SOURCES,
    val_fraction: float = 0.1,
    validation_speaker: str | tuple[str, ...] = VALIDATION_SPEAKERS,
    min_seconds: float = 0.4,
) -> list[dict]:
    """Build the corpus at ``out`` (see the module docstring); return the manifest rows.

    Args:
        out: output folder.
        from_dir: a folder holding the packages' ``.deb`` files or already unpacked trees
            (``<package>/usr/share/...``); ``None`` downloads the ``.deb`` files with
            ``apt-get download``.
        sources: the packages to use.
        val_fraction: fraction of prompt names held out for validation (other speakers).
        validation_speaker: speaker (or speakers) held out entirely.
        min_seconds: shorter prompts (after trimming) are skipped.
    """
    for source in sources:
        if any(source.package.startswith(reserved) for reserved in RESERVED_PACKAGES):
            raise ValueError(f"{source.package} is reserved for evaluation")
    held_out = {validation_speaker} if isinstance(validation_speaker, str) else set(validation_speaker)
    out = Path(out)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        trees: dict[str, Path] = {}  # several speakers may come from one package
        for source in sources:
            if source.package not in trees:
                trees[source.package] = unpacked_tree(source.package, work, from_dir)
            folder = trees[source.package] / source.base / source.folder
            if not folder.is_dir():
                raise FileNotFoundError(f"{source.package}: no folder {folder}")
            for path in sorted(folder.rglob("*")):
                codec = AUDIO_SUFFIXES.get(path.suffix.lower())
                if codec is None or "silence" in path.relative_to(folder).parts:
                    continue
                wave, rate = decode(path, codec)
                wave = trim_silence(wave, rate)
                if len(wave) < min_seconds * rate:
                    continue
                prompt = "_".join(path.relative_to(folder).with_suffix("").parts)
                wave16 = resample(torch.from_numpy(np.ascontiguousarray(wave)), rate, SAMPLE_RATE).numpy()
                relative = Path("wav") / source.speaker / f"{source.language}_{prompt}.wav"
                (out / relative).parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(out / relative), np.clip(wave16, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
                split = "val" if source.speaker in held_out else utterance_split(prompt, val_fraction)
                rows.append({
                    "path": relative.as_posix(), "package": source.package, "speaker": source.speaker,
                    "sex": source.sex, "language": source.language, "licence": source.licence,
                    "duration": f"{len(wave16) / SAMPLE_RATE:.3f}", "band_limited": int(rate < SAMPLE_RATE),
                    "source_rate": rate, "split": split,
                })
    write_manifest(out / MANIFEST, rows)
    return rows


def write_manifest(path: Path, rows: list[dict]) -> None:
    """Write the manifest ``rows`` (columns :data:`FIELDS`)."""
    write_csv(path, FIELDS, rows)


def read_manifest(root: str | os.PathLike) -> list[dict]:
    """The manifest rows with ``duration`` as float and ``band_limited`` as bool."""
    rows = read_csv(Path(root) / MANIFEST)
    for row in rows:
        row["duration"], row["band_limited"] = float(row["duration"]), row["band_limited"] in ("1", "True", "true")
    return rows


# ----------------------------------------------------------------------------------------------
# Dominant-talker mixtures


class UtteranceBank:
    """The 16 kHz utterances of one split, in memory, grouped by speaker."""

    def __init__(self, root: str | os.PathLike, split: str, speakers: list[str] | None = None) -> None:
        rows = [r for r in read_manifest(root) if r["split"] == split and (speakers is None or r["speaker"] in speakers)]
        if not rows:
            raise ValueError(f"no {split} utterances in {root}")
        self.rows = rows
        self.waves = [self._read(Path(root) / r["path"]) for r in rows]
        self.by_speaker: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            self.by_speaker.setdefault(row["speaker"], []).append(index)
        self.speakers = sorted(self.by_speaker)

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        wave = data.mean(axis=1)
        if rate != SAMPLE_RATE:
            wave = resample(torch.from_numpy(wave), rate, SAMPLE_RATE).numpy()
        return wave

    def segment(self, rng: np.random.Generator, speaker: str, num_samples: int, first: int | None = None) -> np.ndarray:
        """``num_samples`` of ``speaker``'s utterances (at their recorded level), concatenated with
        short pauses, starting with utterance ``first`` if given, cut at a random offset."""
        return self.segment_utterances(rng, speaker, num_samples, first)[0]

    def segment_utterances(
        self, rng: np.random.Generator, speaker: str, num_samples: int, first: int | None = None
    ) -> tuple[np.ndarray, set[int]]:
        """:meth:`segment` and the indices of the utterances it drew from."""
        pool = self.by_speaker[speaker]
        pieces, total, used = [], 0, set()
        index = first if first is not None else pool[int(rng.integers(len(pool)))]
        lead = len(self.waves[index])
        while total < num_samples + SAMPLE_RATE // 2:
            wave = self.waves[index]
            used.add(index)
            pause = np.zeros(int(rng.uniform(0.05, 0.3) * SAMPLE_RATE), dtype=np.float32)
            pieces += [wave, pause]
            total += len(wave) + len(pause)
            index = pool[int(rng.integers(len(pool)))]
        joined = np.concatenate(pieces)
        # Start within the first half of the first utterance, so that it is heard.
        start = int(rng.integers(0, max(1, min(len(joined) - num_samples, lead // 2) + 1)))
        return joined[start : start + num_samples], used

    def enrollment(self, rng: np.random.Generator, speaker: str, num_samples: int, exclude: set[int]) -> np.ndarray:
        """``num_samples`` of ``speaker``'s utterances other than ``exclude`` (those of the mixture),
        in random order with short pauses, each at most once until all are used: the enrollment
        clip of personalised enhancement, never the same audio as the target.

        Raises:
            ValueError: ``speaker`` has no other utterance.
        """
        pool = [i for i in self.by_speaker[speaker] if i not in exclude]
        if not pool:
            raise ValueError(f"{speaker} has no utterance outside the mixture for an enrollment")
        pieces, total = [], 0
        while total < num_samples:
            for index in rng.permutation(pool):
                pause = np.zeros(int(rng.uniform(0.05, 0.3) * SAMPLE_RATE), dtype=np.float32)
                pieces += [self.waves[int(index)], pause]
                total += len(self.waves[int(index)]) + len(pause)
                if total >= num_samples:
                    break
        return np.concatenate(pieces)[:num_samples]


def synthetic_rir(rng: np.random.Generator, rt60: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A room impulse response: a unit direct path then exponentially decaying noise."""
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60) * 0.3
    delay = int(0.002 * sample_rate)
    tail[: delay + 1] = 0.0
    tail[0] = 1.0
    return (tail / np.sqrt(np.sum(tail**2))).astype(np.float32)


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    return fftconvolve(wave, rir)[: len(wave)].astype(np.float32)


class DominantTalkerMixtures(Dataset):
    """``{"noisy", "clean", "talker", "noise"}`` items ``(1, samples)``: a target speaker's
    speech + (with ``talker_probability``) one or two other speakers ``talker_snr_range`` dB
    below it + synthetic noise at ``snr_range`` dB SNR, optionally reverberant. ``clean`` is
    the dominant voice, ``talker`` and ``noise`` the interferers as mixed (same gain), so that
    ``noisy == clean + talker + noise``.

    Items are a pure function of ``(seed, index)``: the validation set is deterministic.

    Args:
        bank: the utterances to draw from.
        length: items per epoch.
        num_samples: samples per item.
        snr_range: speech-to-noise ratio (dB).
        talker_probability: chance of competing talkers.
        two_talker_probability: chance that there are two of them (given there are any).
        talker_snr_range: target-to-talker ratio (dB), per talker.
        reverb_probability: chance that the scene is reverberant (target = reverberant voice).
        level_range: mixture RMS level (dBFS).
        seed: base seed.
        balance_speakers: draw the target speaker uniformly (then one of their utterances)
            instead of an utterance uniformly, so that speakers with many prompts do not
            dominate.
        enrollment_seconds: when positive, items also carry ``"enrollment"`` ``(1, samples)``:
            that much of the target speaker's other utterances (:meth:`UtteranceBank.enrollment`;
            drawn from their own random stream, so the mixtures are those without it).
    """

    def __init__(
        self,
        bank: UtteranceBank,
        length: int,
        num_samples: int,
        snr_range: tuple[float, float] = (0.0, 15.0),
        talker_probability: float = 0.8,
        two_talker_probability: float = 0.3,
        talker_snr_range: tuple[float, float] = (3.0, 12.0),
        reverb_probability: float = 0.2,
        level_range: tuple[float, float] = (-35.0, -15.0),
        seed: int = 0,
        balance_speakers: bool = False,
        enrollment_seconds: float = 0.0,
    ) -> None:
        self.bank, self.length, self.num_samples, self.balance_speakers = bank, length, num_samples, balance_speakers
        self.enrollment_samples = int(enrollment_seconds * SAMPLE_RATE)
        self.snr_range, self.talker_probability, self.two_talker_probability = snr_range, talker_probability, two_talker_probability
        self.talker_snr_range, self.reverb_probability, self.level_range, self.seed = talker_snr_range, reverb_probability, level_range, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        bank, n = self.bank, self.num_samples
        if self.balance_speakers:
            pool = bank.by_speaker[bank.speakers[int(rng.integers(len(bank.speakers)))]]
            first = pool[int(rng.integers(len(pool)))]
        else:
            first = int(rng.integers(len(bank.rows)))
        speaker = bank.rows[first]["speaker"]
        clean, used = bank.segment_utterances(rng, speaker, n, first)
        others = [s for s in bank.speakers if s != speaker]
        talkers = []
        if others and rng.random() < self.talker_probability:
            count = 2 if (len(others) > 1 and rng.random() < self.two_talker_probability) else 1
            for other in rng.choice(others, size=count, replace=False):
                talkers.append((bank.segment(rng, str(other), n), float(rng.uniform(*self.talker_snr_range))))
        noise = synthesise_noise(rng, n, SAMPLE_RATE)
        if rng.random() < self.reverb_probability:
            rt60 = float(rng.uniform(0.2, 0.7))
            clean = reverberate(clean, synthetic_rir(rng, rt60))
            talkers = [(reverberate(t, synthetic_rir(rng, rt60)), snr) for t, snr in talkers]
        snr = float(rng.uniform(*self.snr_range))
        level = float(rng.uniform(*self.level_range))
        item = make_mixture(clean, noise, snr, talkers, level)
        if self.enrollment_samples:
            enrollment = bank.enrollment(np.random.default_rng([self.seed, index, 1]), speaker, self.enrollment_samples, used)
            item["enrollment"] = torch.from_numpy(enrollment).unsqueeze(0)
        return item


def make_mixture(
    clean: np.ndarray, noise: np.ndarray, snr_db: float, talkers: list[tuple[np.ndarray, float]], level_db: float
) -> dict[str, torch.Tensor]:
    """Mix (through :func:`datamodules.mixing.mix`) and return every component at the mixture's gain."""
    clean_t, noise_t = torch.from_numpy(np.ascontiguousarray(clean)), torch.from_numpy(np.ascontiguousarray(noise))
    talker_t = None
    if talkers:
        # Each talker at its own ratio below the target; mix() then adds their sum at the ratio
        # it already has (so it keeps that level).
        talker_t = sum(scale_to_snr(clean_t, torch.from_numpy(np.ascontiguousarray(t)), s) for t, s in talkers)
    noisy, gain = mix(clean_t, noise_t, snr_db, talker_t, _ratio_db(clean_t, talker_t) if talker_t is not None else 0.0, level_db)
    noise_part = scale_to_snr(clean_t, noise_t, snr_db) * gain
    talker_part = (talker_t * gain) if talker_t is not None else torch.zeros_like(clean_t)
    return {
        "noisy": noisy.unsqueeze(0).float(),
        "clean": (clean_t * gain).unsqueeze(0).float(),
        "talker": talker_part.unsqueeze(0).float(),
        "noise": noise_part.unsqueeze(0).float(),
    }


def _ratio_db(clean: torch.Tensor, other: torch.Tensor) -> float:
    """The current clean-to-``other`` RMS ratio in dB (so that ``mix`` keeps ``other`` as is)."""
    return float(20 * torch.log10(clean.pow(2).mean().clamp_min(1e-16).sqrt() / other.pow(2).mean().clamp_min(1e-16).sqrt()))


class DominantTalkerDataModule(SplitDataModule):
    """Real-speech dominant-talker enhancement (``{"noisy", "clean"}`` plus the interferers).

    Training mixtures draw from the ``train`` utterances (new random mixtures every epoch when
    the trainer has ``reload_dataloaders_every_n_epochs: 1``: the item index is offset by the
    epoch); validation and test use the ``val`` utterances, fixed: by default the held-out
    prompts of the training speakers and the whole held-out speakers; with ``val_speakers``
    only those speakers' (speaker-held-out validation: voices never trained on).

    Args:
        root: the folder written by ``python -m datamodules.real_speech prepare``.
        segment_seconds: item length.
        num_train: training mixtures per epoch.
        num_val: validation mixtures (fixed).
        snr_range, talker_probability, two_talker_probability, talker_snr_range,
        reverb_probability, level_range: see :class:`DominantTalkerMixtures`.
        seed: base seed (validation uses ``seed + 1000``).
        balance_speakers: see :class:`DominantTalkerMixtures` (training and validation).
        val_speakers: the speakers whose ``val`` utterances validate (``None``: all).
        enrollment_seconds: when positive, every item carries an ``"enrollment"`` clip of the
            target speaker from other utterances of the same split (personalised enhancement;
            see :class:`DominantTalkerMixtures`).
        batch_size, num_workers: see :class:`SplitDataModule`.
    """

    def __init__(
        self,
        root: str = "data/real_speech",
        segment_seconds: float = 3.0,
        num_train: int = 1000,
        num_val: int = 32,
        snr_range: tuple[float, float] = (0.0, 15.0),
        talker_probability: float = 0.8,
        two_talker_probability: float = 0.3,
        talker_snr_range: tuple[float, float] = (3.0, 12.0),
        reverb_probability: float = 0.2,
        level_range: tuple[float, float] = (-35.0, -15.0),
        seed: int = 0,
        balance_speakers: bool = False,
        val_speakers: list[str] | None = None,
        enrollment_seconds: float = 0.0,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    def check_data(self) -> None:
        layout = "data/real_speech/{manifest.csv,wav/<speaker>/*.wav} (python -m datamodules.real_speech prepare)"
        require_folders("Real speech (Asterisk prompts)", layout, self.hparams.root)
        if not (Path(self.hparams.root) / MANIFEST).is_file():
            raise DatasetNotFoundError(f"Real speech (Asterisk prompts) not found: no {Path(self.hparams.root) / MANIFEST}; expected layout {layout}")

    def _mixtures(self, split: str, length: int, seed: int) -> DominantTalkerMixtures:
        hp = self.hparams
        speakers = list(hp.val_speakers) if split == "val" and hp.val_speakers else None
        return DominantTalkerMixtures(
            UtteranceBank(hp.root, split, speakers), length, int(hp.segment_seconds * SAMPLE_RATE), tuple(hp.snr_range),
            hp.talker_probability, hp.two_talker_probability, tuple(hp.talker_snr_range), hp.reverb_probability,
            tuple(hp.level_range), seed, hp.balance_speakers, hp.enrollment_seconds,
        )

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = EpochShuffled(self._mixtures("train", hp.num_train, hp.seed))
        self.val_set = self._mixtures("val", hp.num_val, hp.seed + 1000)
        self.test_set = self.val_set

    def train_dataloader(self):
        # Fresh mixtures each epoch when the trainer reloads the loaders every epoch
        # (``reload_dataloaders_every_n_epochs: 1``).
        trainer = getattr(self, "trainer", None)
        self.train_set.epoch = trainer.current_epoch if trainer is not None else 0
        return super().train_dataloader()


class EpochShuffled(Dataset):
    """Fresh mixtures every epoch: item ``i`` of epoch ``e`` is mixture ``e * len + i``."""

    def __init__(self, mixtures: DominantTalkerMixtures) -> None:
        self.mixtures, self.epoch = mixtures, 0

    def __len__(self) -> int:
        return len(self.mixtures)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.mixtures[self.epoch * len(self.mixtures) + index]


def main(argv: list[str] | None = None) -> None:
    """``python -m datamodules.real_speech prepare --out data/real_speech [--from-dir DIR]``."""
    parser = argparse.ArgumentParser(description="real recorded speech for the enhancer")
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="download (apt-get download), decode and split the prompt packages")
    prep.add_argument("--out", default="data/real_speech")
    prep.add_argument("--from-dir", default=None, help="folder with the .deb files (or unpacked <package>/usr trees)")
    prep.add_argument("--val-fraction", type=float, default=0.1)
    prep.add_argument("--validation-speakers", default=",".join(VALIDATION_SPEAKERS), help="comma-separated speakers held out entirely")
    args = parser.parse_args(argv)
    held_out = tuple(s for s in args.validation_speakers.split(",") if s)
    rows = prepare(args.out, args.from_dir, val_fraction=args.val_fraction, validation_speaker=held_out)
    for speaker in sorted({r["speaker"] for r in rows}):
        mine = [r for r in rows if r["speaker"] == speaker]
        train = sum(float(r["duration"]) for r in mine if r["split"] == "train") / 60
        val = sum(float(r["duration"]) for r in mine if r["split"] == "val") / 60
        print(f"{speaker:14s} {mine[0]['sex']} {len(mine):5d} utterances  train {train:6.1f} min  val {val:6.1f} min  "
              f"band-limited {mine[0]['band_limited']}  {mine[0]['package']} ({mine[0]['licence']})")
    print(f"wrote {len(rows)} utterances and {Path(args.out) / MANIFEST}")


if __name__ == "__main__":
    main()
