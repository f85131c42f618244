"""The shipped enhancer: loading exported DCCRN weights and enhancing audio of any shape.

Export a trained ``EnhancerTask`` checkpoint with
``python -m enhancer.pretrained runs/<name>/version_N/checkpoints/last.ckpt enhancer/checkpoints/dccrn_demo.pt``.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import torch

from common.audio import resample
from common.errors import InputError
from enhancer.dccrn import DCCRN

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "dccrn_demo.pt"


def export_enhancer(checkpoint: str | os.PathLike, output: str | os.PathLike, metrics: dict[str, float] | None = None) -> dict:
    """Write the generator of an ``EnhancerTask`` Lightning checkpoint as a small file
    ``{"config": DCCRN kwargs, "state_dict": ..., "metrics": ...}`` and return it."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    hparams = state["hyper_parameters"]
    config = {"sample_rate": hparams.get("sample_rate", 16000), **(hparams.get("generator") or {})}
    model = DCCRN(**config)
    prefix = "generator."
    model.load_state_dict({k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)})
    exported = {
        "config": model.config,
        "state_dict": model.state_dict(),
        "metrics": metrics or {},
        "source": {"epoch": state.get("epoch"), "global_step": state.get("global_step")},
    }
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    torch.save(exported, output)
    return exported


def load_pretrained_enhancer(path: str | os.PathLike | None = None, map_location: str | torch.device = "cpu") -> DCCRN:
    """The exported DCCRN at ``path`` (default: the shipped demo model), in eval mode."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise InputError(f"enhancer weights not found: {path}")
    exported = torch.load(path, map_location=map_location, weights_only=True)
    model = DCCRN(**exported["config"])
    model.load_state_dict(exported["state_dict"])
    return model.eval().to(map_location)


def _crossfade_weights(chunk: int, overlap: int, device: torch.device) -> torch.Tensor:
    """A window whose shifted copies (hop ``chunk - overlap``) sum to one: flat with
    raised-cosine ramps of ``overlap`` samples."""
    weights = torch.ones(chunk, device=device)
    if overlap > 0:
        ramp = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(overlap, device=device) + 0.5) / overlap)
        weights[:overlap], weights[-overlap:] = ramp, ramp.flip(0)
    return weights


@torch.no_grad()
def enhance_waveform(
    model: DCCRN,
    wave: torch.Tensor,
    sample_rate: int,
    chunk_seconds: float = 20.0,
    overlap_seconds: float = 1.0,
) -> torch.Tensor:
    """Enhance ``wave`` ``(L,)`` or ``(C, L)`` at ``sample_rate``; returns the same shape and rate.

    Each channel is enhanced separately at the model's rate. Signals longer than
    ``chunk_seconds`` are cut into chunks overlapping by ``overlap_seconds`` and cross-faded
    back together (overlap-add with complementary raised-cosine ramps), so memory stays bounded.

    Raises:
        InputError: empty or non-finite audio.
    """
    if wave.numel() == 0 or wave.shape[-1] == 0:
        raise InputError("audio is empty")
    if not torch.isfinite(wave).all():
        raise InputError("audio contains NaN or infinite samples")
    if wave.dim() not in (1, 2):
        raise InputError(f"expected audio of shape (samples,) or (channels, samples), got {tuple(wave.shape)}")
    device = next(model.parameters()).device
    channels = wave.reshape(-1, wave.shape[-1]).float().to(device)
    length = channels.shape[-1]
    rate = model.sample_rate
    signal = resample(channels, sample_rate, rate)
    chunk = int(chunk_seconds * rate)
    overlap = min(int(overlap_seconds * rate), chunk // 2)
    if signal.shape[-1] <= chunk:
        enhanced = model(signal)
    else:
        # Chunks at a hop of chunk - overlap; zero lead-in/lead-out so that every real sample
        # lies in the flat part of one chunk or in a cross-fade of two (weights sum to one).
        hop, size = chunk - overlap, signal.shape[-1]
        count = math.ceil((size + 2 * overlap - chunk) / hop) + 1
        total = (count - 1) * hop + chunk
        padded = torch.nn.functional.pad(signal, (overlap, total - overlap - size))
        weights = _crossfade_weights(chunk, overlap, device)
        enhanced = torch.zeros_like(padded)
        for start in range(0, count * hop, hop):
            enhanced[:, start : start + chunk] += model(padded[:, start : start + chunk]) * weights
        enhanced = enhanced[:, overlap : overlap + size]
    restored = resample(enhanced, rate, sample_rate)
    restored = torch.nn.functional.pad(restored, (0, max(0, length - restored.shape[-1])))[:, :length]
    return restored.reshape(wave.shape).to(wave.device, wave.dtype if wave.is_floating_point() else torch.float32)


def main(argv: list[str] | None = None) -> None:
    """``python -m enhancer.pretrained CHECKPOINT OUTPUT``: export a trained enhancer."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("checkpoint", help="EnhancerTask Lightning checkpoint (.ckpt)")
    parser.add_argument("output", help="exported weights (.pt)")
    args = parser.parse_args(argv)
    exported = export_enhancer(args.checkpoint, args.output)
    size = Path(args.output).stat().st_size / 1e6
    print(f"exported DCCRN {exported['config']['channels']} ({size:.2f} MB) to {args.output}")


if __name__ == "__main__":
    main()
