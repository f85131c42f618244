"""PayloadRoundTripCheck: LibriSpeech speech through hide → real JPEG → reveal, exact bytes or a
counted failure, never wrong bytes; logged as ``val/e2e_*`` at the scheduled validations only."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from common.speech_synthesis import synthesise_speech
from datamodules.demo import DemoImageDataModule
from datamodules.synthetic import procedural_image
from steganography.embedders.classical import ClassicalEmbedder
from steganography.tasks import payload_check
from steganography.models.inn import InvertibleHider
from steganography.tasks.inn import INNHidingTask
from steganography.tasks.payload_check import DOES_NOT_FIT, PayloadRoundTripCheck, round_trip, summarise

SAMPLE_RATE = 16000


@pytest.fixture
def librispeech(tmp_path: Path) -> Path:
    """A ``LibriSpeech/dev-clean`` with two 2-second utterances of one chapter."""
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    chapter.mkdir(parents=True)
    lines = []
    for index in range(2):
        utterance_id = f"84-121123-{index:04d}"
        speech = synthesise_speech(np.random.default_rng(index), 2 * SAMPLE_RATE, SAMPLE_RATE)
        sf.write(chapter / f"{utterance_id}.flac", speech, SAMPLE_RATE)
        lines.append(f"{utterance_id} SOME WORDS")
    (chapter / "84-121123.trans.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def tiny_task() -> INNHidingTask:
    torch.manual_seed(0)
    return INNHidingTask(
        InvertibleHider(levels=3, message_channels=4, num_blocks=1, width=4, depth=1), lpips_weight=0.0,
        adversarial_weight=0.0, val_qualities=[75], num_logged_images=1,
    )  # fmt: skip


def trainer(check: PayloadRoundTripCheck, tmp_path: Path, **options) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[check], default_root_dir=tmp_path, **options,
    )  # fmt: skip


def data() -> DemoImageDataModule:
    return DemoImageDataModule(image_size=16, num_train=2, num_val=1, batch_size=1)


def test_exact_bytes_come_back_through_the_application_path(librispeech, tmp_path, monkeypatch):
    """The classical embedder in place of the INN: the plumbing must recover real speech bit-exact."""
    check = PayloadRoundTripCheck(librispeech, "dev-clean", num_items=1, cover_size=320, qualities=[50, 75, 90])
    monkeypatch.setattr(check, "embedder", lambda module: ClassicalEmbedder(quality_target=75))
    run = trainer(check, tmp_path)
    run.validate(tiny_task(), datamodule=data(), verbose=False)
    metrics = {name: float(value) for name, value in run.callback_metrics.items() if name.startswith("val/e2e")}
    [result] = check.results
    # Designed for Q75: back at and above it; below it (Q50) maybe not, but never different bytes.
    assert result.hidden and result.recovered[75] and result.recovered[90] and not any(result.wrong.values())
    assert metrics["val/e2e_recovered_q75"] == metrics["val/e2e_recovered_q90"] == 1.0
    assert metrics["val/e2e_wrong_bytes"] == 0.0
    assert metrics["val/e2e_hidden"] == 1.0
    # The longest prefix that fits: an Ogg-Opus file (~1 kB header) with some speech, under 2 s.
    assert 1000 < metrics["val/e2e_payload_bytes"] == result.payload_bytes
    assert 0.0 < result.seconds < 2.0 and metrics["val/e2e_seconds"] == pytest.approx(result.seconds)
    assert metrics["val/e2e_net_bpp"] == pytest.approx(8 * result.payload_bytes / 320**2)


def test_untrained_inn_reports_nothing_recovered_and_no_wrong_bytes(tmp_path, monkeypatch):
    """The task's own (untrained) hider on synthesised speech, checked at the scheduled epoch only."""
    calls = []
    original = payload_check.round_trip
    monkeypatch.setattr(payload_check, "round_trip", lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    check = PayloadRoundTripCheck(None, num_items=1, cover_size=256, qualities=[75], every_n_epochs=2)
    run = trainer(check, tmp_path, max_epochs=2, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=1)
    run.fit(tiny_task(), datamodule=data())
    assert len(calls) == 1  # not in the sanity check, not after epoch 0
    [result] = check.results
    assert not result.hidden and "cannot carry data" in result.reason
    metrics = run.callback_metrics
    assert float(metrics["val/e2e_recovered_q75"]) == 0.0 and float(metrics["val/e2e_wrong_bytes"]) == 0.0
    assert float(metrics["val/e2e_hidden"]) == 0.0 and float(metrics["val/e2e_payload_bytes"]) == 0.0


def test_a_cover_too_small_for_the_audio_file_is_a_failure_not_an_error():
    cover = Image.fromarray(procedural_image(np.random.default_rng(0), 96, 96))
    wave = torch.from_numpy(synthesise_speech(np.random.default_rng(0), SAMPLE_RATE, SAMPLE_RATE))[None]
    result = round_trip(ClassicalEmbedder(quality_target=75), cover, wave, SAMPLE_RATE, [75])
    assert result.reason == DOES_NOT_FIT and result.payload_bytes == 0
    metrics = summarise([result], [75])
    assert metrics["val/e2e_recovered_q75"] == metrics["val/e2e_net_bpp"] == metrics["val/e2e_hidden"] == 0.0


def test_missing_librispeech_split_fails_at_setup(tmp_path):
    check = PayloadRoundTripCheck(tmp_path, "dev-clean")
    with pytest.raises(FileNotFoundError, match="dev-clean"):
        check.setup(trainer(check, tmp_path), tiny_task(), "fit")
    with pytest.raises(ValueError, match="bitrate"):
        PayloadRoundTripCheck(None, codec="flac", bitrate_kbps=8)
