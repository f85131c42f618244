from __future__ import annotations

import pytest
import torch
from torch import nn

from common.errors import InputError
from common.export import export_checkpoint, spec
from common.metrics import si_sdr
from enhancer.dccrn import DCCRN
from enhancer.pretrained import (
    DEFAULT_CHECKPOINT,
    enhance_waveform,
    load_pretrained_enhancer,
)
from enhancer.task import EnhancerTask

TINY = {"channels": [2, 4, 4, 8, 8, 8], "lstm_hidden": 8, "lstm_layers": 1}


class Gain(nn.Module):
    """A pointwise stand-in model: chunked enhancement must equal whole-signal enhancement."""

    sample_rate = 16000

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(2.0))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return wave * self.gain


def test_export_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    task = EnhancerTask(generator=spec(DCCRN, **TINY)).eval()
    checkpoint = tmp_path / "last.ckpt"
    state = {"hyper_parameters": dict(task.hparams), "state_dict": task.state_dict(), "epoch": 3, "global_step": 40}
    task.on_save_checkpoint(state)
    torch.save(state, checkpoint)
    metadata = export_checkpoint(checkpoint, tmp_path / "out" / "dccrn.pt")
    assert metadata["global_step"] == 40 and metadata["monitor"] == "val/quality"
    model = load_pretrained_enhancer(tmp_path / "out" / "dccrn.pt")
    assert model.config["channels"] == TINY["channels"]
    x = torch.randn(1, 4000)
    with torch.no_grad():
        assert torch.equal(model(x), task.generator(x))
    with pytest.raises(InputError, match="not found"):
        load_pretrained_enhancer(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="not enhancer weights"):
        load_pretrained_enhancer(checkpoint)


@pytest.mark.parametrize("seconds", [0.3, 2.0, 2.55, 6.1])
def test_chunked_overlap_add_is_seamless(seconds):
    wave = torch.randn(2, int(seconds * 16000))
    out = enhance_waveform(Gain(), wave, 16000, chunk_seconds=1.0, overlap_seconds=0.25)
    assert out.shape == wave.shape
    assert torch.allclose(out, 2 * wave, atol=1e-5)


def test_any_rate_and_channel_count_with_a_dccrn():
    torch.manual_seed(0)
    model = EnhancerTask(generator=spec(DCCRN, **TINY)).generator.eval()
    stereo = torch.randn(2, 44100)
    assert enhance_waveform(model, stereo, 44100, chunk_seconds=0.5, overlap_seconds=0.1).shape == (2, 44100)
    mono = torch.randn(8000, dtype=torch.float64)
    out = enhance_waveform(model, mono, 8000)
    assert out.shape == (8000,) and out.dtype == torch.float64 and torch.isfinite(out).all()


@pytest.mark.parametrize("bad", [torch.zeros(0), torch.tensor([0.0, float("nan")]), torch.zeros(1, 1, 5)])
def test_bad_audio_raises_input_error(bad):
    with pytest.raises(InputError):
        enhance_waveform(Gain(), bad, 16000)


def test_shipped_demo_model_is_small_and_improves_a_noisy_mixture(clean_speech, noisy_speech):
    assert DEFAULT_CHECKPOINT.stat().st_size < 5e6
    model = load_pretrained_enhancer()
    enhanced = enhance_waveform(model, noisy_speech[0.0], 16000)
    assert si_sdr(enhanced, clean_speech) > si_sdr(noisy_speech[0.0], clean_speech) + 3.0
