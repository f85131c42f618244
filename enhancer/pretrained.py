"""The shipped enhancer: loading exported DCCRN weights and enhancing audio of any shape.

The shipped model is ``checkpoints/dccrn_talker.pt`` (dominant-talker enhancement of real speech,
trained by ``trainer_configs/shipped/dccrn_talker.yaml``), a file in the shared export format of
:mod:`common.export`. Export a trained ``EnhancerTask`` checkpoint with
``python -m common.export runs/<name>/version_N/checkpoints/last.ckpt enhancer/checkpoints/dccrn_talker.pt``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from common.audio import resample
from common.errors import InputError
from common.export import load_module
from enhancer.dccrn import DCCRN
from enhancer.personal import PersonalDCCRN

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "dccrn_talker.pt"


def flip_polarity(model: DCCRN) -> DCCRN:
    """Negate the output of ``model`` exactly, in place: the DCCRN-E mask ``M tanh|M| / |M|`` is
    odd in ``M``, and ``M`` is the (linear) output of the last decoder, so negating that
    decoder's weights and bias negates the mask and hence the enhanced waveform."""
    last = model.decoders[-1].conv
    with torch.no_grad():
        for conv in (last.real, last.imag):
            conv.weight.neg_()
            conv.bias.neg_()
    return model


@torch.no_grad()
def output_polarity(model: DCCRN, seconds: float = 2.0, seed: int = 0) -> float:
    """Correlation between the model's output and a clean probe utterance (synthesised speech,
    plus white noise 10 dB below it): about +1 for a sound enhancer, negative when inverted."""
    import numpy as np

    from common.speech_synthesis import synthesise_speech

    rng = np.random.default_rng(seed)
    rate = model.sample_rate
    clean = torch.from_numpy(synthesise_speech(rng, int(seconds * rate), rate)).float()
    noisy = clean + clean.pow(2).mean().sqrt() * 10 ** (-10 / 20) * torch.from_numpy(rng.standard_normal(clean.numel())).float()
    was_training = model.training
    output = model.eval()(noisy[None])[0]
    model.train(was_training)
    return float(torch.corrcoef(torch.stack([output, clean]))[0, 1])


def initial_generator_state(path: str | os.PathLike, config: dict | None = None) -> dict[str, torch.Tensor]:
    """Weights of an exported enhancer to fine-tune from, with the polarity corrected.

    Earlier exports (``dccrn_demo.pt``) were trained with sign-blind losses only and output the
    inverted signal; their last decoder is negated here (:func:`flip_polarity`) when the probe
    of :func:`output_polarity` correlates negatively.

    Raises:
        InputError: the architecture of ``path`` differs from ``config`` (when given).
    """
    model = _load(path)
    exported_config = model.config
    if config is not None:
        keys = ("n_fft", "win_length", "hop_length", "channels", "kernel_size", "lstm_hidden", "lstm_layers", "dropped_bin")
        different = {k: (exported_config.get(k), config.get(k)) for k in keys if list(map(str, [exported_config.get(k)])) != list(map(str, [config.get(k)]))}
        if different:
            raise InputError(f"{path}: architecture differs from the generator's: {different}")
    if output_polarity(model) < 0:
        flip_polarity(model)
    return model.state_dict()


def load_pretrained_enhancer(path: str | os.PathLike | None = None, map_location: str | torch.device = "cpu") -> DCCRN:
    """The exported DCCRN at ``path`` (default: the shipped model, :data:`DEFAULT_CHECKPOINT`), in eval mode."""
    return _load(path if path is not None else DEFAULT_CHECKPOINT).to(map_location)


def _load(path: str | os.PathLike) -> DCCRN:
    """The DCCRN of a shipped-format file, on the CPU in eval mode; one-line errors."""
    try:
        model, _ = load_module(path, DCCRN)
    except FileNotFoundError as err:
        raise InputError(f"enhancer weights not found: {path}") from err
    except (ValueError, RuntimeError, KeyError) as err:
        raise InputError(f"not enhancer weights: {err}") from err
    return model


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
    enrollment: torch.Tensor | None = None,
) -> torch.Tensor:
    """Enhance ``wave`` ``(L,)`` or ``(C, L)`` at ``sample_rate``; returns the same shape and rate.

    ``enrollment`` ``(L',)`` at ``sample_rate``: a few seconds of the target speaker's voice from
    another recording, for a personalised model (:class:`enhancer.personal.PersonalDCCRN`), which
    then enhances every channel and chunk for that speaker.

    Each channel is enhanced separately at the model's rate. Signals longer than
    ``chunk_seconds`` are cut into chunks overlapping by ``overlap_seconds`` and cross-faded
    back together (overlap-add with complementary raised-cosine ramps), so memory stays bounded.

    Raises:
        InputError: empty or non-finite audio, or an enrollment for a blind model.
    """
    if enrollment is not None and not isinstance(model, PersonalDCCRN):
        raise InputError("a voice sample needs a personalised enhancer (PersonalDCCRN)")
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
    condition = () if enrollment is None else (resample(enrollment.reshape(1, -1).float().to(device), sample_rate, rate),)
    chunk = int(chunk_seconds * rate)
    overlap = min(int(overlap_seconds * rate), chunk // 2)
    if signal.shape[-1] <= chunk:
        enhanced = model(signal, *condition)
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
            enhanced[:, start : start + chunk] += model(padded[:, start : start + chunk], *condition) * weights
        enhanced = enhanced[:, overlap : overlap + size]
    restored = resample(enhanced, rate, sample_rate)
    restored = torch.nn.functional.pad(restored, (0, max(0, length - restored.shape[-1])))[:, :length]
    return restored.reshape(wave.shape).to(wave.device, wave.dtype if wave.is_floating_point() else torch.float32)

