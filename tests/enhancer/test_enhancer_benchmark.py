"""Helpers of benchmarks/enhancer.py: held-out-speaker mixtures, per-speaker rows, the codec chain."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from common.speech_synthesis import synthesise_speech
from datamodules.real_speech import write_manifest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("enhancer")


def test_mixtures_of_held_out_speakers_only_and_per_speaker_rows(bench, real_speech_corpus):
    mixtures = bench.held_out_mixtures(real_speech_corpus, "talker", 4, 0.5, speakers=["anna", "dora"])
    assert [m["speaker"] for m in mixtures] == ["anna", "dora", "anna", "dora"]
    assert all(m["talker"].abs().max() > 0 for m in mixtures)  # the talker is the other held-out voice
    again = bench.held_out_mixtures(real_speech_corpus, "talker", 4, 0.5, speakers=["anna", "dora"])
    assert all(torch.equal(a["noisy"], b["noisy"]) for a, b in zip(mixtures, again))
    outputs = [m["clean"] + 0.1 * m["talker"] + m["noise"] for m in mixtures]
    result = bench.evaluate("oracle", outputs, mixtures, "talker", [0], 0.0)
    assert set(result["per_speaker"]) == {"anna", "dora"}
    assert result["per_speaker"]["anna"]["stoi"]["count"] == 2
    assert "talker_rejection_db" in result["per_speaker"]["dora"]
    assert not any(key.startswith("_") for key in result)


def test_codec_chain_keeps_length_and_scores(bench, real_speech_corpus):
    mixtures = bench.held_out_mixtures(real_speech_corpus, "noise", 1, 1.0, speakers=["anna"])
    wave = mixtures[0]["clean"]
    for codec, bitrate in bench.CHAIN_CODECS.values():
        heard = bench.through_codec(wave, codec, bitrate)
        assert heard.shape == wave.shape and heard.dtype == torch.float32
        assert float(torch.corrcoef(torch.stack([heard, wave]))[0, 1]) > 0.3  # delay compensated, same polarity
    report = bench.sender_chain({"noisy input": [m["noisy"] for m in mixtures]}, mixtures)
    assert set(report) == {"none (16 kHz PCM)", *bench.CHAIN_CODECS}
    assert report["opus 8k"]["noisy input"]["stoi"]["count"] == 1


def test_merge_peers_copies_unmeasured_rows_of_the_same_mixtures(bench):
    mixtures = {"per_set": 4, "seconds": 1.0, "seed": 1, "speakers": ["a"]}
    previous = {"date": "d", "command": "c", "mixtures": mixtures,
                "results": {"talker": {"noisy input": {"x": 0}, "shipped DCCRN": {"x": 1}, "DeepFilterNet3": {"x": 2}}}}
    report = {"mixtures": dict(mixtures), "results": {"talker": {"noisy input": {"x": 0}, "shipped DCCRN": {"x": 3}}}}
    merged = bench.merge_peers(report, previous, "old.json")
    assert merged["results"]["talker"] == {"noisy input": {"x": 0}, "shipped DCCRN": {"x": 3}, "DeepFilterNet3": {"x": 2}}
    assert merged["peers_from"]["systems"] == ["DeepFilterNet3"]
    with pytest.raises(ValueError, match="other mixtures"):
        bench.merge_peers({"mixtures": {**mixtures, "seed": 2}, "results": {}}, previous, "old.json")


def test_enrollments_are_other_utterances_and_leave_the_mixtures_unchanged(bench, tmp_path):
    rows = []
    for s, speaker in enumerate(("eve", "finn")):  # two held-out speakers, four val prompts each
        for u in range(4):
            relative = f"wav/{speaker}/xx_prompt{u}.wav"
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(tmp_path / relative), 0.3 * synthesise_speech(np.random.default_rng([s, u]), 6000, 16000), 16000, subtype="PCM_16")
            rows.append({"path": relative, "package": "pkg", "speaker": speaker, "language": "xx", "licence": "CC0",
                         "duration": "0.375", "band_limited": 0, "source_rate": 16000, "split": "val"})
    write_manifest(tmp_path / "manifest.csv", rows)
    plain = bench.held_out_mixtures(tmp_path, "talker", 2, 0.5)
    enrolled = bench.held_out_mixtures(tmp_path, "talker", 2, 0.5, enrollment_seconds=0.5)
    assert "enrollment" not in plain[0]
    for a, b in zip(plain, enrolled):
        assert torch.equal(a["noisy"], b["noisy"])
        assert b["enrollment"].shape == b["other_enrollment"].shape == (8000,)
        assert not torch.equal(b["enrollment"], b["other_enrollment"])
