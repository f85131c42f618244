"""Real-speech preparation and dominant-talker mixtures, on tiny corpora the tests write themselves."""

from __future__ import annotations

import csv
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from common.speech_synthesis import synthesise_speech
from datamodules.base import DatasetNotFoundError
from datamodules.real_speech import (
    FIELDS,
    KLETTRES_SOUNDS,
    RESERVED_PACKAGES,
    SOURCES,
    VALIDATION_SPEAKERS,
    DominantTalkerDataModule,
    DominantTalkerMixtures,
    Source,
    UtteranceBank,
    ffmpeg_executable,
    prepare,
    read_manifest,
    trim_silence,
    utterance_split,
)

SPEAKERS = ("anna", "bert", "cleo", "dora")


def _utterance(seed: int, seconds: float, rate: int = 16000) -> np.ndarray:
    speech = synthesise_speech(np.random.default_rng(seed), int(seconds * rate), rate)
    silence = np.zeros(rate // 4, dtype=np.float32)
    return np.concatenate([silence, speech, silence]).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(real_speech_corpus):
    return real_speech_corpus


def test_mixture_components_add_up_and_talkers_are_below_the_target(corpus):
    bank = UtteranceBank(corpus, "train")
    assert bank.speakers == ["anna", "bert", "cleo"]
    mixtures = DominantTalkerMixtures(bank, 8, 24000, talker_probability=1.0, two_talker_probability=0.0, reverb_probability=0.0)
    for index in range(len(mixtures)):
        item = mixtures[index]
        assert set(item) == {"noisy", "clean", "talker", "noise"}
        assert all(v.shape == (1, 24000) and v.dtype == torch.float32 for v in item.values())
        assert torch.allclose(item["noisy"], item["clean"] + item["talker"] + item["noise"], atol=1e-5)
        ratio = 20 * torch.log10(item["clean"].pow(2).mean().sqrt() / item["talker"].pow(2).mean().sqrt())
        assert 3.0 - 1e-3 <= float(ratio) <= 12.0 + 1e-3
        assert item["noisy"].abs().max() < 1.0


def test_noise_only_mixtures_and_reverb(corpus):
    bank = UtteranceBank(corpus, "train")
    mixtures = DominantTalkerMixtures(bank, 4, 16000, snr_range=(5.0, 5.0), talker_probability=0.0, reverb_probability=1.0)
    item = mixtures[0]
    assert item["talker"].abs().max() == 0
    snr = 20 * torch.log10(item["clean"].pow(2).mean().sqrt() / item["noise"].pow(2).mean().sqrt())
    assert abs(float(snr) - 5.0) < 1e-3


def test_validation_is_deterministic_and_uses_held_out_utterances(corpus):
    data = DominantTalkerDataModule(root=str(corpus), segment_seconds=1.0, num_train=4, num_val=4, batch_size=2)
    data.check_data()
    data.setup("fit")
    first = [data.val_set[i]["noisy"] for i in range(4)]
    again = DominantTalkerDataModule(root=str(corpus), segment_seconds=1.0, num_train=4, num_val=4)
    again.setup("fit")
    assert all(torch.equal(a, again.val_set[i]["noisy"]) for i, a in enumerate(first))
    assert set(data.val_set.bank.speakers) == set(SPEAKERS)  # dora (held out) + the held-out prompts
    assert {r["path"] for r in data.val_set.bank.rows}.isdisjoint({r["path"] for r in data.train_set.mixtures.bank.rows})
    batch = next(iter(data.train_dataloader()))
    assert batch["noisy"].shape == batch["clean"].shape == (2, 1, 16000)
    data.train_set.epoch = 1  # a new epoch draws new mixtures
    assert not torch.equal(data.train_set[0]["noisy"], data.train_set.mixtures[0]["noisy"])


def test_missing_corpus_fails_fast(tmp_path):
    with pytest.raises(DatasetNotFoundError):
        DominantTalkerDataModule(root=str(tmp_path / "absent")).check_data()


def test_trim_silence_and_stable_utterance_split():
    wave = _utterance(0, 1.0)
    trimmed = trim_silence(wave, 16000)
    assert len(trimmed) < len(wave) - 16000 // 4
    assert trim_silence(np.zeros(800, dtype=np.float32), 16000).size == 0
    names = [f"prompt-{i}" for i in range(400)]
    splits = [utterance_split(n, 0.1) for n in names]
    assert splits == [utterance_split(n, 0.1) for n in names]
    assert 0.05 < splits.count("val") / len(splits) < 0.15


def _package_tree(root, package, folder, files):
    base = root / package / "usr" / "share" / "asterisk" / "sounds" / folder
    for name, (wave, rate) in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(base / name), wave, rate, subtype="PCM_16")
    return base


def test_prepare_from_unpacked_packages(tmp_path):
    source_dir = tmp_path / "debs"
    _package_tree(source_dir, "pkg-wide", "xx_f_Wide", {f"p{i}.wav": (_utterance(i, 0.8), 16000) for i in range(5)}
                  | {"silence/1.wav": (np.zeros(16000, dtype=np.float32), 16000)})
    _package_tree(source_dir, "pkg-narrow", "yy", {f"digits/{i}.wav": (_utterance(10 + i, 0.8, 8000), 8000) for i in range(4)})
    sources = (Source("pkg-wide", "xx_f_Wide", "wide", "xx", "CC0", "wav"), Source("pkg-narrow", "yy", "narrow", "yy", "GPL-2", "wav"))
    rows = prepare(tmp_path / "out", source_dir, sources, val_fraction=0.5, validation_speaker="narrow")
    assert len(rows) == 9  # the silence folder is skipped
    manifest = read_manifest(tmp_path / "out")
    with open(tmp_path / "out" / "manifest.csv") as handle:
        assert tuple(csv.DictReader(handle).fieldnames) == FIELDS
    for row in manifest:
        data, rate = sf.read(str(tmp_path / "out" / row["path"]))
        assert rate == 16000 and abs(len(data) / 16000 - row["duration"]) < 1e-3
        assert row["band_limited"] == (row["speaker"] == "narrow")
        assert row["split"] == "val" if row["speaker"] == "narrow" else row["split"] in ("train", "val")
    assert {r["split"] for r in manifest if r["speaker"] == "wide"} == {"train", "val"}
    with pytest.raises(ValueError, match="reserved"):
        prepare(tmp_path / "x", source_dir, (Source("asterisk-core-sounds-it-g722", "it", "s", "it", "?", "g722"),))


def test_prepare_decodes_g722(tmp_path):
    """G.722 (the 16 kHz sets) through ffmpeg; the 8 kHz sets are GSM, which this ffmpeg build can
    decode but not encode, so the GSM path is exercised by the real packages only."""
    try:
        ffmpeg = ffmpeg_executable()
    except RuntimeError:
        pytest.skip("no ffmpeg")
    wide = tmp_path / "w.wav"
    sf.write(str(wide), _utterance(1, 0.8), 16000, subtype="PCM_16")
    narrow = tmp_path / "n.wav"
    sf.write(str(narrow), _utterance(2, 0.8, 8000), 8000, subtype="PCM_16")
    base = tmp_path / "debs"
    for package, folder, codec, source in (("pkg-a", "a", "g722", wide), ("pkg-b", "b", "wav", narrow)):
        target = base / package / "usr" / "share" / "asterisk" / "sounds" / folder / f"hello.{codec}"
        target.parent.mkdir(parents=True)
        if codec == "wav":
            shutil.copy(source, target)
        else:
            subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(source), "-f", codec, str(target)], check=True)
    sources = (Source("pkg-a", "a", "a", "xx", "CC0", "g722"), Source("pkg-b", "b", "b", "xx", "CC0", "wav"))
    rows = prepare(tmp_path / "out", base, sources, validation_speaker="b")
    assert [(r["source_rate"], r["band_limited"]) for r in rows] == [(16000, 0), (8000, 1)]
    original, _ = sf.read(str(wide))
    decoded, _ = sf.read(str(tmp_path / "out" / rows[0]["path"]))
    assert 0.5 < len(decoded) / len(original) <= 1.0 and np.abs(decoded).max() > 0.05
    shutil.rmtree(tmp_path / "out")


def test_prepare_klettres_layout_two_speakers_from_one_package(tmp_path):
    """KLettres' layout (Ogg Vorbis under usr/share/klettres/<language>/{alpha,syllab}, 44.1 kHz),
    one package unpacked once for several speakers, a speaker per sub-folder, several speakers held
    out, and the sex column."""
    base = tmp_path / "debs" / "klettres-data" / "usr" / "share" / "klettres"
    for folder, count in (("xx/alpha", 3), ("xx/syllab", 3), ("yy/alpha", 4)):
        (base / folder).mkdir(parents=True)
        for i in range(count):
            sf.write(str(base / folder / f"{chr(65 + i)}.ogg"), _utterance(20 + i, 0.6, 44100), 44100, format="OGG", subtype="VORBIS")
    (base / "xx" / "sounds.xml").write_text("<sounds/>")
    sources = (
        Source("klettres-data", "xx/alpha", "kl_xx_a", "xx", "GPL-2+", "ogg", "f", KLETTRES_SOUNDS),
        Source("klettres-data", "xx/syllab", "kl_xx_s", "xx", "GPL-2+", "ogg", "m", KLETTRES_SOUNDS),
        Source("klettres-data", "yy", "kl_yy", "yy", "GPL-2+", "ogg", "m", KLETTRES_SOUNDS),
    )
    rows = prepare(tmp_path / "out", tmp_path / "debs", sources, val_fraction=0.0, validation_speaker=("kl_xx_s", "kl_yy"))
    assert len(rows) == 10
    assert {r["speaker"]: r["sex"] for r in rows} == {"kl_xx_a": "f", "kl_xx_s": "m", "kl_yy": "m"}
    assert {r["speaker"] for r in rows if r["split"] == "val"} == {"kl_xx_s", "kl_yy"}
    assert {r["path"] for r in rows if r["speaker"] == "kl_yy"} == {f"wav/kl_yy/yy_alpha_{c}.wav" for c in "ABCD"}
    assert all(r["source_rate"] == 44100 and r["band_limited"] == 0 for r in rows)
    data, rate = sf.read(str(tmp_path / "out" / rows[0]["path"]))
    assert rate == 16000 and np.abs(data).max() > 0.05


def test_shipped_sources_hold_out_men_and_avoid_reserved_packages():
    assert not any(s.package.startswith(RESERVED_PACKAGES) for s in SOURCES)
    sexes = {s.speaker: s.sex for s in SOURCES}
    assert len(sexes) == len({(s.speaker, s.language) for s in SOURCES if s.speaker != "allison"}) + 1  # one speaker per source but Allison
    assert set(VALIDATION_SPEAKERS) <= set(sexes) and "m" in {sexes[s] for s in VALIDATION_SPEAKERS}
    assert sum(sex == "m" for sex in sexes.values()) >= 8
    assert all(s.licence and s.sex in ("f", "m", "?") for s in SOURCES)


def test_balanced_speakers_and_speaker_held_out_validation(corpus):
    bank = UtteranceBank(corpus, "train")
    for index in list(bank.by_speaker["anna"]) * 9:  # anna: 10x the prompts of the others
        bank.rows.append(bank.rows[index])
        bank.waves.append(bank.waves[index])
        bank.by_speaker["anna"].append(len(bank.rows) - 1)
    targets = []
    segment_utterances = bank.segment_utterances

    def recording(rng, speaker, num_samples, first=None):
        if first is not None:  # the target's segment
            targets.append(speaker)
        return segment_utterances(rng, speaker, num_samples, first)

    bank.segment_utterances = recording
    for balance in (False, True):
        targets.clear()
        mixtures = DominantTalkerMixtures(bank, 150, 1600, talker_probability=0.0, reverb_probability=0.0, balance_speakers=balance)
        assert all(mixtures[i]["clean"].shape == (1, 1600) for i in range(len(mixtures)))
        share = targets.count("anna") / len(targets)
        assert (0.2 < share < 0.47) if balance else share > 0.7
    data = DominantTalkerDataModule(root=str(corpus), segment_seconds=0.5, num_train=2, num_val=4, val_speakers=["dora"], balance_speakers=True)
    data.setup("fit")
    assert data.val_set.bank.speakers == ["dora"] and data.val_set.balance_speakers
    assert "dora" not in data.train_set.mixtures.bank.speakers


def test_enrollment_is_other_utterances_of_the_target_and_leaves_the_mixtures_unchanged(corpus):
    bank = UtteranceBank(corpus, "train")
    used_by_item = []
    segment_utterances = bank.segment_utterances

    def recording(rng, speaker, num_samples, first=None):
        wave, used = segment_utterances(rng, speaker, num_samples, first)
        if first is not None:  # the target's segment
            used_by_item.append((speaker, used))
        return wave, used

    bank.segment_utterances = recording
    plain = DominantTalkerMixtures(bank, 6, 8000, talker_probability=1.0, reverb_probability=0.0, seed=3)
    enrolled = DominantTalkerMixtures(bank, 6, 8000, talker_probability=1.0, reverb_probability=0.0, seed=3, enrollment_seconds=1.5)
    for index in range(6):
        item = plain[index]
        assert "enrollment" not in item
        used_by_item.clear()
        with_enrollment = enrolled[index]
        assert torch.equal(item["noisy"], with_enrollment["noisy"])
        enrollment = with_enrollment["enrollment"]
        assert enrollment.shape == (1, 24000) and enrollment.dtype == torch.float32
        speaker, used = used_by_item[0]
        starts = [i for i in bank.by_speaker[speaker] if torch.equal(enrollment[0, : len(bank.waves[i])], torch.from_numpy(bank.waves[i]))]
        assert starts and not set(starts) & used  # a different utterance of the same speaker
        assert not any(torch.equal(enrollment[0, : len(bank.waves[i])], torch.from_numpy(bank.waves[i])) for i in used)
    with pytest.raises(ValueError, match="no utterance"):
        bank.enrollment(np.random.default_rng(0), "anna", 100, set(bank.by_speaker["anna"]))
    data = DominantTalkerDataModule(root=str(corpus), segment_seconds=0.5, num_train=2, num_val=2, val_speakers=["dora"], enrollment_seconds=1.0)
    data.setup("fit")
    assert data.val_set[0]["enrollment"].shape == (1, 16000) and data.train_set[0]["enrollment"].shape == (1, 16000)
