"""Personalised DCCRN: the mask conditioned on a few seconds of the target speaker's own voice.

As in the DNS Challenge's personalised track: a separate enrollment clip of the speaker (another
recording, not the noisy input) gives a speaker embedding (:class:`EnrollmentEncoder`: log-mel
frames -> 1-D convolutions -> GRU -> mean over frames -> linear -> unit norm), which scales and
shifts each channel of the DCCRN bottleneck (FiLM) before and after the complex LSTM. The
enhancement path is the blind DCCRN's and stays causal: the embedding is one vector per clip,
computed before the noisy signal is processed.

The FiLM layers start at identity (zero weights and biases: scale 1, shift 0), so a
:class:`PersonalDCCRN` loaded with a blind DCCRN's weights (:meth:`PersonalDCCRN.load_blind_state_dict`)
gives exactly the blind model's output, with or without an enrollment; without one it is always
the blind path.
"""

from __future__ import annotations

import torch
import torchaudio.functional as AF
from torch import nn
from torch.nn import functional as F

from common.dsp import STFT
from common.export import exportable
from common.settings import SPEECH_SAMPLE_RATE
from enhancer.dccrn import DCCRN


class EnrollmentEncoder(nn.Module):
    """Unit-norm speaker embedding ``(B, embedding_dim)`` of enrollment audio ``(B, L)`` or ``(B, 1, L)``.

    Args:
        sample_rate: the audio's rate.
        n_mels: mel bands of the log-mel frames (25 ms window, 10 ms hop).
        channels: width of the convolutions and the GRU.
        embedding_dim: size of the embedding.
    """

    def __init__(self, sample_rate: int = SPEECH_SAMPLE_RATE, n_mels: int = 40, channels: int = 64, embedding_dim: int = 64) -> None:
        super().__init__()
        win, hop = int(0.025 * sample_rate), int(0.010 * sample_rate)
        n_fft = 1 << (win - 1).bit_length()
        self.stft = STFT(n_fft, hop, win, "hann", center=True)
        filters = AF.melscale_fbanks(n_fft // 2 + 1, 50.0, sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("filters", filters, persistent=False)  # (F, n_mels)
        self.convs = nn.Sequential(
            nn.Conv1d(n_mels, channels, 3, padding=1), nn.ReLU(), nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU()
        )
        self.gru = nn.GRU(channels, channels, batch_first=True)
        self.projection = nn.Linear(channels, embedding_dim)

    def forward(self, enrollment: torch.Tensor) -> torch.Tensor:
        x = enrollment.reshape(enrollment.shape[0], -1)
        x = x / x.pow(2).mean(dim=-1, keepdim=True).add(1e-10).sqrt()  # level-invariant
        power = self.stft(x).abs().pow(2)  # (B, F, T)
        mel = torch.log(torch.einsum("bft,fm->bmt", power, self.filters) + 1e-6)
        hidden, _ = self.gru(self.convs(mel).transpose(1, 2))  # (B, T, C)
        return F.normalize(self.projection(hidden.mean(dim=1)), dim=-1)


@exportable
class PersonalDCCRN(DCCRN):
    """DCCRN whose bottleneck is modulated (FiLM, per channel) by an enrollment's speaker embedding.

    ``forward(wave, enrollment)``: ``wave`` ``(B, L)`` or ``(B, 1, L)`` as :class:`DCCRN`;
    ``enrollment`` ``(B, L')``, ``(B, 1, L')`` or a batch of one for every item (another clip of
    the target speaker, at the model's rate, any length of a few seconds), or ``None``: the blind
    DCCRN path.

    Args:
        n_fft, win_length, hop_length, window, channels, kernel_size, lstm_hidden, lstm_layers,
        batch_norm, dropped_bin, normalise_input, sample_rate: see :class:`DCCRN`.
        embedding_dim: size of the speaker embedding.
        encoder_channels: width of the :class:`EnrollmentEncoder`.
        n_mels: mel bands of the :class:`EnrollmentEncoder`.
    """

    conditioning_modules = ("enrollment_encoder", "film")

    def __init__(
        self,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 100,
        window: str = "hann",
        channels: tuple[int, ...] | list[int] = (16, 32, 64, 128, 128, 128),
        kernel_size: tuple[int, int] | list[int] = (5, 2),
        lstm_hidden: int = 128,
        lstm_layers: int = 2,
        batch_norm: bool = True,
        dropped_bin: str = "dc",
        normalise_input: bool = True,
        sample_rate: int = SPEECH_SAMPLE_RATE,
        embedding_dim: int = 64,
        encoder_channels: int = 64,
        n_mels: int = 40,
    ) -> None:
        super().__init__(
            n_fft, win_length, hop_length, window, channels, kernel_size, lstm_hidden, lstm_layers, batch_norm,
            dropped_bin, normalise_input, sample_rate,
        )
        self.config |= {"embedding_dim": embedding_dim, "encoder_channels": encoder_channels, "n_mels": n_mels}
        self.enrollment_encoder = EnrollmentEncoder(sample_rate, n_mels, encoder_channels, embedding_dim)
        width = 2 * tuple(channels)[-1]  # real and imaginary channels of the bottleneck
        self.film = nn.ModuleList(nn.Linear(embedding_dim, 2 * width) for _ in range(2))  # before / after the LSTM
        for layer in self.film:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, wave: torch.Tensor, enrollment: torch.Tensor | None = None) -> torch.Tensor:
        """Enhance ``wave`` for the speaker of ``enrollment`` (``None``: blind); returns ``wave``'s shape."""
        return self.enhance(wave, None if enrollment is None else self.enrollment_encoder(enrollment))

    def condition(self, features: torch.Tensor, context: torch.Tensor | None, position: int) -> torch.Tensor:
        """``features * (1 + scale) + shift``, per channel, from the speaker embedding ``context``."""
        if context is None:
            return features
        scale, shift = self.film[position](context)[..., None, None].chunk(2, dim=1)
        return features * (1 + scale) + shift

    def load_blind_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load a blind :class:`DCCRN`'s weights (or a personalised one's); the conditioning
        modules keep their initialisation when ``state`` lacks them.

        Raises:
            ValueError: ``state`` has keys or shapes this model lacks, or lacks some of the DCCRN's.
        """
        own = self.state_dict()
        conditioning = tuple(f"{m}." for m in self.conditioning_modules)
        unexpected = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
        missing = [k for k in own if k not in state and not k.startswith(conditioning)]
        if unexpected or missing:
            raise ValueError(f"not a DCCRN of this architecture: unexpected or reshaped {unexpected}, missing {missing}")
        self.load_state_dict(state, strict=False)
