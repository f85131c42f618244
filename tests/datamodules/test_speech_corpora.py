"""Tiny on-disk copies of the DNS Challenge, VoiceBank+DEMAND and LibriSpeech layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from datamodules.audio_files import fit_length, list_audio_files, pad_collate, read_segment
from datamodules.dns import DNSDataModule, DNSMixtures, DNSSyntheticTestSet, reverberate, split_files
from datamodules.librispeech import LibriSpeech, LibriSpeechDataModule
from datamodules.voicebank import VoiceBankDataModule, VoiceBankDemand


def _tone(seconds: float, rate: int, frequency: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * frequency * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _write(path: Path, wave: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, rate)


@pytest.fixture(scope="module")
def dns_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("DNS-Challenge")
    data = root / "datasets"
    for i in range(6):
        _write(data / "clean" / "read_speech" / f"book_{i:05d}_chp_0001_reader_{i}_{i}.wav", _tone(1.0 + 0.2 * i, 16000, 200 + 50 * i, i), 16000)
    for i in range(4):
        _write(data / "noise" / f"noise_{i}.wav", np.random.default_rng(10 + i).standard_normal(8000 + 3000 * i).astype(np.float32) * 0.1, 16000)
    rir = np.zeros(4000, dtype=np.float32)
    rir[100], rir[900], rir[2500] = 1.0, 0.5, 0.25
    _write(data / "impulse_responses" / "SLR26" / "room_0.wav", rir, 16000)
    _write(data / "impulse_responses" / "SLR28" / "room_1.wav", rir[::-1].copy(), 16000)
    test = data / "test_set" / "synthetic" / "no_reverb"
    for file_id in (0, 3, 17):
        clean = _tone(1.0, 16000, 300, file_id)
        _write(test / "clean" / f"clean_fileid_{file_id}.wav", clean, 16000)
        _write(test / "noisy" / f"clnsp{file_id}_car_1234_0_snr5_tl-25_fileid_{file_id}.wav", clean + 0.05, 16000)
    return root


def test_audio_file_helpers(tmp_path):
    _write(tmp_path / "a" / "x.flac", _tone(0.5, 48000, 440), 48000)
    _write(tmp_path / "b" / "y.wav", _tone(0.1, 16000, 440), 16000)
    (tmp_path / "b" / "notes.txt").write_text("not audio")
    files = list_audio_files(tmp_path / "a", tmp_path / "b")
    assert [f.name for f in files] == ["x.flac", "y.wav"]
    assert read_segment(files[0], 16000).shape == (8000,)  # 48 kHz resampled
    assert read_segment(files[0], 16000, 4000, np.random.default_rng(0)).shape == (4000,)
    looped = read_segment(files[1], 16000, 4000, loop=True)
    assert torch.equal(looped[1600:3200], looped[:1600])
    assert fit_length(torch.ones(3), 5).tolist() == [1, 1, 1, 0, 0]
    batch = pad_collate([{"audio": torch.ones(1, 3), "text": "a"}, {"audio": torch.ones(1, 5), "text": "b"}])
    assert batch["audio"].shape == (2, 1, 5) and batch["length"].tolist() == [3, 5] and batch["text"] == ["a", "b"]


def test_reverberation_target_keeps_direct_path_and_early_reflections():
    speech = torch.zeros(2000)
    speech[0] = 1.0
    rir = torch.zeros(3000)
    rir[50], rir[50 + 400], rir[50 + 2000] = 1.0, 0.5, 0.25
    reverberant, early = reverberate(speech, rir, early_ms=50.0, sample_rate=16000)
    assert reverberant[[0, 400]].tolist() == pytest.approx([1.0, 0.5]) and reverberant.shape == (2000,)
    assert early[[0, 400]].tolist() == pytest.approx([1.0, 0.5]) and early[401:].abs().max() < 1e-6
    assert abs(reverberant[1999].item()) < 1e-6  # the tap at 2000 is beyond this signal
    long = reverberate(torch.ones(3000), rir, 50.0, 16000)
    assert (long[0] - long[1]).abs().max() > 0.2


def test_dns_mixtures_snr_talker_rir_and_level(dns_root):
    clean = list_audio_files(dns_root / "datasets" / "clean")
    noise = list_audio_files(dns_root / "datasets" / "noise")
    rirs = list_audio_files(dns_root / "datasets" / "impulse_responses")
    dry = DNSMixtures(clean, noise, length=4, num_samples=12000, snr_range=(5.0, 5.0), talker_probability=0.0, level_range=(-20.0, -20.0), seed=0)
    item = dry[0]
    assert item["noisy"].shape == item["clean"].shape == (1, 12000)
    residual = item["noisy"] - item["clean"]
    assert abs(10 * torch.log10(item["clean"].pow(2).sum() / residual.pow(2).sum()).item() - 5.0) < 0.1
    assert abs(20 * torch.log10(item["noisy"].pow(2).mean().sqrt()).item() + 20.0) < 0.1
    assert torch.equal(dry[1]["noisy"], dry[1]["noisy"])  # seeded: deterministic
    with_talker = DNSMixtures(clean, noise, length=2, num_samples=12000, snr_range=(30.0, 30.0), talker_probability=1.0, talker_snr_range=(6.0, 6.0), seed=0)[0]
    residual = with_talker["noisy"] - with_talker["clean"]
    assert 4.0 < 10 * torch.log10(with_talker["clean"].pow(2).sum() / residual.pow(2).sum()).item() < 7.0
    reverberant = DNSMixtures(clean, noise, rirs, length=2, num_samples=12000, rir_probability=1.0, seed=0)[0]
    assert torch.isfinite(reverberant["noisy"]).all() and reverberant["clean"].abs().max() > 0
    fresh = DNSMixtures(clean, noise, length=2, num_samples=4000)
    assert not torch.equal(fresh[0]["noisy"], fresh[0]["noisy"])  # unseeded: new mixture each time


def test_dns_datamodule_splits_files_and_reads_synthetic_test_set(dns_root):
    data = DNSDataModule(root=str(dns_root), segment_seconds=0.5, num_train=6, num_val=3, val_fraction=0.3, batch_size=3)
    data.setup("fit")
    assert not set(data.train_set.clean_files) & set(data.val_set.clean_files)
    assert not set(data.train_set.noise_files) & set(data.val_set.noise_files)
    batch = next(iter(data.train_dataloader()))
    assert batch["noisy"].shape == batch["clean"].shape == (3, 1, 8000)
    val = [next(iter(data.val_dataloader()))["noisy"] for _ in range(2)]
    assert torch.equal(val[0], val[1])
    data.setup("test")
    test = next(iter(data.test_dataloader()))
    assert test["noisy"].shape == (3, 1, 160000) and test["fileid"].tolist() == [0, 3, 17]
    assert torch.allclose(test["noisy"][:, :, :16000] - test["clean"][:, :, :16000], torch.full((3, 1, 16000), 0.05), atol=1e-4)


def test_dns_test_set_reports_unpaired_files(dns_root, tmp_path):
    (tmp_path / "noisy").mkdir()
    (tmp_path / "clean").mkdir()
    _write(tmp_path / "noisy" / "clnsp1_x_snr0_tl-20_fileid_5.wav", _tone(0.1, 16000, 100), 16000)
    with pytest.raises(FileNotFoundError, match="fileids"):
        DNSSyntheticTestSet(tmp_path)
    assert len(DNSSyntheticTestSet(dns_root / "datasets/test_set/synthetic/no_reverb", num_samples=None)) == 3


def test_split_files_is_stable_and_never_empty():
    files = [Path(f"f{i}.wav") for i in range(50)]
    train, val = split_files(files, 0.2)
    assert sorted(train + val) == sorted(files) and 3 < len(val) < 20
    assert split_files(list(reversed(files)), 0.2)[1] == list(reversed(val))
    train, val = split_files(files[:2], 0.01)
    assert len(train) == len(val) == 1


@pytest.fixture(scope="module")
def voicebank_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("VoiceBank-DEMAND")
    for split, speakers in (("trainset_28spk", ("p226", "p227", "p287")), ("testset", ("p232",))):
        for speaker in speakers:
            for n in (1, 2):
                clean = _tone(0.3 * n, 48000, 220, n)
                _write(root / f"clean_{split}_wav" / f"{speaker}_{n:03d}.wav", clean, 48000)
                _write(root / f"noisy_{split}_wav" / f"{speaker}_{n:03d}.wav", clean + 0.02, 48000)
    return root


def test_voicebank_pairs_resamples_and_holds_out_speakers(voicebank_root):
    data = VoiceBankDataModule(root=str(voicebank_root), segment_seconds=0.25, batch_size=2)
    data.setup("fit")
    assert {n.stem.split("_")[0] for n, _ in data.train_set.pairs} == {"p227"}
    assert {n.stem.split("_")[0] for n, _ in data.val_set.pairs} == {"p226", "p287"}
    batch = next(iter(data.train_dataloader()))
    assert batch["noisy"].shape == batch["clean"].shape == (2, 1, 4000)
    offset = (batch["noisy"] - batch["clean"])[..., 100:-100]  # away from the resampler's edges
    assert torch.allclose(offset, torch.full_like(offset, 0.02), atol=2e-3)  # the same crop in both
    val = next(iter(data.val_dataloader()))
    assert val["noisy"].shape == (2, 1, 9600) and val["length"].tolist() == [4800, 9600]
    data.setup("test")
    assert len(data.test_set) == 2 and data.test_set[0]["name"] == "p232_001"
    with pytest.raises(FileNotFoundError):
        VoiceBankDemand(voicebank_root / "missing")


@pytest.fixture(scope="module")
def librispeech_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpora") / "LibriSpeech"
    for split, speaker in (("train-clean-100", 19), ("dev-clean", 84)):
        chapter_dir = root / split / str(speaker) / "121123"
        lines = []
        for n in range(3):
            utterance = f"{speaker}-121123-{n:04d}"
            _write(chapter_dir / f"{utterance}.flac", _tone(0.2 + 0.1 * n, 16000, 150 + 10 * n, n), 16000)
            lines.append(f"{utterance} WORDS OF UTTERANCE {n}")
        (chapter_dir / f"{speaker}-121123.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def test_librispeech_utterances_with_transcripts(librispeech_root):
    dataset = LibriSpeech(librispeech_root.parent, ["train-clean-100"])  # the parent folder works too
    assert len(dataset) == 3 and dataset.files[0].name == "19-121123-0000.flac"
    item = dataset[2]
    assert item["audio"].shape == (1, 6400) and item["transcript"] == "WORDS OF UTTERANCE 2"
    assert (item["speaker"], item["chapter"], item["utterance_id"]) == (19, 121123, "19-121123-0002")
    assert LibriSpeech(librispeech_root, ["dev-clean"], segment_seconds=0.25)[0]["audio"].shape == (1, 4000)
    with pytest.raises(FileNotFoundError):
        LibriSpeech(librispeech_root, ["test-other"])


def test_librispeech_datamodule_batches_full_utterances(librispeech_root):
    data = LibriSpeechDataModule(root=str(librispeech_root), segment_seconds=0.1, eval_segment_seconds=None, batch_size=3, test_splits=["dev-clean"])
    data.setup("fit")
    train = next(iter(data.train_dataloader()))
    assert train["audio"].shape == (3, 1, 1600) and len(train["transcript"]) == 3
    val = next(iter(data.val_dataloader()))
    assert val["audio"].shape == (3, 1, 6400) and val["length"].tolist() == [3200, 4800, 6400]
