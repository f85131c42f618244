"""PixInWav (Geleta et al. 2021): hide an RGB image in the short-time DCT of host audio.

Pipeline (all ``nn.Module``s, no Lightning):

* :class:`ImageContainerMapping`: image ``(B, 3, H, W)`` in [0, 1] + a zero 4th channel →
  ``PixelShuffle(2)`` → one plane ``(B, 1, 2H, 2W)`` → bilinear resize to the STDCT container
  ``(B, 1, frame_length, frames)``. Its inverse resizes back with the least-squares inverse of
  that bilinear map (exact for a container at least ``2H × 2W``), ``PixelUnshuffle(2)`` and
  keeps 3 channels.
* :class:`PixInWavUNet`: the paper's two-level U-Net (3×3 conv + BatchNorm + LeakyReLU(0.8),
  max-pool 8, transposed-conv ×4 then ×2 upsampling, skip connections).
* :class:`PixInWav`: hider, STDCT synthesis of the container waveform, a noise channel, STDCT
  analysis and revealer, for the four ``architecture`` variants (see :data:`ARCHITECTURES`).
* :class:`PixInWavLoss`: β·L1(image) + (1−β)·MSE(spectrogram) + λ·soft-DTW(waveforms), with
  :func:`soft_dtw` (Cuturi & Blondel 2017) written here as a batched anti-diagonal wavefront.
* Channels (:class:`Clean`, :class:`AdditiveGaussianNoise`, :class:`SpeckleNoise`,
  :class:`OverTheAir`) applied to the container waveform, built from strings by
  :func:`make_channel`.
"""

from __future__ import annotations

import abc
import math

import torch
import torchaudio.functional as AF
from torch import nn
from torch.nn import functional as F

from common.dsp import STDCT
from common.export import exportable

#: Hiding variants of the paper's ablation:
#:
#: * ``res_indep``: ``container = host + hider(image)``; the hider never sees the host, so an
#:   image can be encoded offline and added to any audio (the paper's proposal).
#: * ``res_dep``: ``container = host + hider(image, host)``; a second encoder of the host STDCT
#:   is added to the image encoder at the U-Net bottleneck (as in the public code).
#: * ``plain_dep``: ``container = hider(image, host)``; same hider as ``res_dep``, no residual
#:   connection: the net must synthesise the whole container.
#: * ``res_scale``: ``container = host + g · M(image)``, with ``M`` the fixed image→container
#:   mapping and ``g`` one learnable scalar gain initialised at ``residual_scale`` (0.01 by
#:   default, i.e. the [0, 1] image enters the coefficients at 1/100 of its range, well below
#:   typical speech STDCT magnitudes). There is no hiding U-Net; only the revealer learns.
#:   This is the public code's ``res_scale`` model (learned scalar times the upsampled image).
ARCHITECTURES = ("res_indep", "res_dep", "plain_dep", "res_scale")

#: What the revealer reads:
#:
#: * ``waveform``: the STDCT of the received waveform — all a real receiver has. The container
#:   STDCT the hider writes is generally not the STDCT of any waveform (frames overlap: 4096/62
#:   is 66x redundant), so synthesis followed by analysis keeps only its consistent part (3 % of
#:   the energy of a mapped image at paper settings; ``benchmarks/pixinwav.py`` measures it).
#: * ``spectrogram``: the container STDCT itself, plus the STDCT of what the channel changed in
#:   the waveform (``received - container``). This is what the public PixInWav code trains and
#:   evaluates by default (its revealer reads the container spectrogram, and noise is added as
#:   the STDCT of a noise waveform; the waveform round trip is an option, ``switch``), so the
#:   paper's numbers compare with this setting.
REVEAL_SOURCES = ("waveform", "spectrogram")
LEAKY_SLOPE = 0.8
POOL = 8  # max-pool factor of each U-Net level (upsampling is ×4 then ×2 = ×8)
LEVELS = 2
ALIGNMENT = POOL**LEVELS  # U-Net inputs are zero-padded to a multiple of this


def conv_bn_act(in_channels: int, out_channels: int) -> list[nn.Module]:
    """3×3 convolution, BatchNorm and LeakyReLU(0.8), the paper's basic layer."""
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(LEAKY_SLOPE),
    ]


class DoubleConv(nn.Sequential):
    """Two basic layers; with ``linear_output`` the second is a bare 3×3 convolution."""

    def __init__(self, in_channels: int, out_channels: int, linear_output: bool = False) -> None:
        second = [nn.Conv2d(out_channels, out_channels, 3, padding=1)] if linear_output else conv_bn_act(out_channels, out_channels)
        super().__init__(*conv_bn_act(in_channels, out_channels), *second)


class Encoder(nn.Module):
    """Two levels of ``DoubleConv`` + max-pool 8; returns ``[level 1, level 2]`` features."""

    def __init__(self, in_channels: int, base_channels: int) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            [DoubleConv(in_channels, base_channels), DoubleConv(base_channels, 2 * base_channels)]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = F.max_pool2d(level(x), POOL)
            features.append(x)
        return features


class UpBlock(nn.Module):
    """×8 upsampling (transposed convs, stride 4 then 2), concatenation with the skip
    features, ``DoubleConv``."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int, linear_output: bool = False) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, 3, stride=4),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.ConvTranspose2d(out_channels, out_channels, 3, stride=2, output_padding=1),
            nn.LeakyReLU(LEAKY_SLOPE),
        )
        self.conv = DoubleConv(out_channels + skip_channels, out_channels, linear_output)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class PixInWavUNet(nn.Module):
    """The PixInWav hiding/revealing U-Net.

    Layout (public code, ``umodel_rgb_shuffle.py``): encoder ``DoubleConv(in, C)`` → pool 8 →
    ``DoubleConv(C, 2C)`` → pool 8; decoder: up ×8 to ``C`` + skip (level 1) → ``DoubleConv(2C,
    C)``; up ×8 to ``out`` + skip (the input) → ``DoubleConv(out + in, out)``. With ``C = 64``
    and one channel in and out this is 482,092 parameters in the public code, whose last layer
    is BatchNorm + LeakyReLU on the 1-channel output; the paper reports 482,090 per net. We
    end with a bare 3×3 convolution (no output BatchNorm: 2 parameters fewer), which gives the
    paper's count and lets the output take any scale and sign.

    Inputs of any size are zero-padded to a multiple of 64 and the output is cropped back.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        base_channels: ``C`` (paper: 64).
        context_channels: channels of an optional second input (the host STDCT for the
            ``*_dep`` hiders), encoded by its own encoder and added at the bottleneck.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base_channels: int = 64, context_channels: int = 0) -> None:
        super().__init__()
        self.encoder = Encoder(in_channels, base_channels)
        self.context_encoder = Encoder(context_channels, base_channels) if context_channels else None
        self.up1 = UpBlock(2 * base_channels, base_channels, base_channels)
        self.up2 = UpBlock(base_channels, out_channels, in_channels, linear_output=True)

    @staticmethod
    def _pad(x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return F.pad(x, (0, -width % ALIGNMENT, 0, -height % ALIGNMENT))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        height, width = x.shape[-2:]
        x = self._pad(x)
        level1, bottleneck = self.encoder(x)
        if self.context_encoder is not None:
            if context is None:
                raise ValueError("this U-Net needs a context input (the host spectrogram)")
            bottleneck = bottleneck + self.context_encoder(self._pad(context))[-1]
        return self.up2(self.up1(bottleneck, level1), x)[..., :height, :width]


class ResidualGain(nn.Module):
    """The ``res_scale`` hider: one learnable scalar gain on the mapped image."""

    def __init__(self, initial_gain: float) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(float(initial_gain)))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.gain * x


def linear_resize_matrix(source: int, target: int) -> torch.Tensor:
    """The ``(target, source)`` matrix of 1-D linear resizing as done by ``F.interpolate``
    (``align_corners=False``), in float64. Bilinear resizing is this map on each axis."""
    impulses = torch.eye(source, dtype=torch.float64).unsqueeze(1)
    return F.interpolate(impulses, size=target, mode="linear", align_corners=False)[:, 0].T


class ImageContainerMapping(nn.Module):
    """Image ↔ STDCT container mapping (no learning).

    ``to_container``: zero 4th channel → ``PixelShuffle(2)`` → bilinear resize to
    ``container_size``. ``to_image`` inverts it: least-squares inverse of the bilinear resize
    (pseudo-inverse of the separable per-axis matrices, so it is exact when the container is at
    least ``2H × 2W``), ``PixelUnshuffle(2)``, first 3 channels. ``plane_from_container`` and
    ``image_from_plane`` expose the two steps, since the revealer U-Net works in between.

    Args:
        image_size: side ``H = W`` of the square images.
        container_size: ``(coefficients, frames)`` of the STDCT container.

    Raises:
        ValueError: container smaller than ``2H × 2W`` (the mapping would lose pixels).
    """

    def __init__(self, image_size: int, container_size: tuple[int, int]) -> None:
        super().__init__()
        plane = 2 * image_size
        if min(container_size) < plane:
            raise ValueError(
                f"container {tuple(container_size)} is smaller than the {plane}x{plane} shuffled image; "
                "use more STDCT coefficients/frames or a smaller image"
            )
        self.image_size, self.container_size = image_size, tuple(container_size)
        rows, columns = (linear_resize_matrix(plane, size) for size in container_size)
        self.register_buffer("row_inverse", torch.linalg.pinv(rows).float(), persistent=False)
        self.register_buffer("column_inverse", torch.linalg.pinv(columns).float(), persistent=False)

    def plane_from_image(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → ``(B, 1, 2H, 2W)`` (zero 4th channel, pixel shuffle)."""
        padded = torch.cat([image, torch.zeros_like(image[:, :1])], dim=1)
        return F.pixel_shuffle(padded, 2)

    def image_from_plane(self, plane: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 2H, 2W)`` → ``(B, 3, H, W)`` (pixel unshuffle, drop the 4th channel)."""
        return F.pixel_unshuffle(plane, 2)[:, :3]

    def to_container(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → ``(B, 1, coefficients, frames)``."""
        plane = self.plane_from_image(image)
        return F.interpolate(plane, size=self.container_size, mode="bilinear", align_corners=False)

    def plane_from_container(self, container: torch.Tensor) -> torch.Tensor:
        """``(B, 1, coefficients, frames)`` → ``(B, 1, 2H, 2W)`` (least-squares inverse resize)."""
        rows, columns = self.row_inverse.to(container.dtype), self.column_inverse.to(container.dtype)
        return rows @ container @ columns.T

    def to_image(self, container: torch.Tensor) -> torch.Tensor:
        """``(B, 1, coefficients, frames)`` → ``(B, 3, H, W)``."""
        return self.image_from_plane(self.plane_from_container(container))


def _normal_like(wave: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like ``wave``, from ``generator`` when one is given."""
    if generator is None:
        return torch.randn_like(wave)
    return torch.randn(wave.shape, generator=generator, device=generator.device, dtype=wave.dtype).to(wave.device)


class Channel(nn.Module, abc.ABC):
    """A transmission channel for the container waveform ``(B, 1, samples)``; ``name`` labels
    its metrics."""

    name = "channel"

    @abc.abstractmethod
    def forward(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The received waveform; random draws come from ``generator`` when one is given."""


class Clean(Channel):
    """The identity channel."""

    name = "clean"

    def forward(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return wave


class AdditiveGaussianNoise(Channel):
    """``wave + σ·n``, ``n ~ N(0, 1)`` per sample (σ in waveform units, as the paper)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma
        self.name = f"awgn_{sigma:g}"

    def forward(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return wave + self.sigma * _normal_like(wave, generator)


class SpeckleNoise(Channel):
    """Multiplicative noise ``wave · (1 + σ·n)``, ``n ~ N(0, 1)`` per sample."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma
        self.name = f"speckle_{sigma:g}"

    def forward(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return wave * (1.0 + self.sigma * _normal_like(wave, generator))


def synthetic_room_impulse_response(
    batch: int,
    sample_rate: int,
    rt60: float,
    drr_db: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Procedural room impulse responses ``(batch, taps)``: a unit direct path at lag 0 plus
    a Gaussian-noise tail whose amplitude decays by 60 dB over ``rt60`` seconds, scaled to a
    direct-to-reverberant energy ratio of ``drr_db``. ``taps = rt60 · sample_rate``."""
    taps = max(2, int(round(rt60 * sample_rate)))
    time = torch.arange(taps, dtype=dtype) / sample_rate
    noise_device = generator.device if generator is not None else "cpu"
    noise = torch.randn(batch, taps, generator=generator, device=noise_device, dtype=dtype).cpu()
    tail = noise * torch.pow(10.0, -3.0 * time / rt60)
    tail[:, 0] = 0.0
    tail = tail / tail.pow(2).sum(dim=-1, keepdim=True).sqrt() * 10.0 ** (-drr_db / 20.0)
    tail[:, 0] = 1.0
    return tail.to(device)


class OverTheAir(Channel):
    """Loudspeaker → room → microphone: synthetic room reverberation
    (:func:`synthetic_room_impulse_response`, drawn per item), band-limiting to
    ``[low_hz, high_hz]`` (zero-phase band-pass with a Butterworth magnitude of order
    ``order``, i.e. ``6·order`` dB/octave roll-off on each side, applied in the FFT domain with
    zero padding: a small loudspeaker and a phone microphone) and additive white noise at
    ``snr_db`` below the received signal.

    Args:
        sample_rate: waveform rate in Hz.
        rt60: reverberation time in seconds.
        drr_db: direct-to-reverberant energy ratio in dB.
        low_hz: lower band edge (-3 dB) in Hz.
        high_hz: upper band edge (-3 dB) in Hz (at most Nyquist).
        order: Butterworth order of each band edge.
        snr_db: signal-to-noise ratio of the microphone noise in dB.
    """

    def __init__(
        self,
        sample_rate: int,
        rt60: float = 0.3,
        drr_db: float = 3.0,
        low_hz: float = 100.0,
        high_hz: float = 7000.0,
        order: float = 4.0,
        snr_db: float = 30.0,
    ) -> None:
        super().__init__()
        if not 0 < low_hz < high_hz <= sample_rate / 2:
            raise ValueError(f"need 0 < low_hz < high_hz <= {sample_rate / 2} Hz, got {low_hz}, {high_hz}")
        self.sample_rate, self.rt60, self.drr_db = sample_rate, rt60, drr_db
        self.low_hz, self.high_hz, self.order, self.snr_db = low_hz, high_hz, order, snr_db
        self.name = "over_the_air"

    def band_pass(self, wave: torch.Tensor) -> torch.Tensor:
        """Zero-phase Butterworth-magnitude band-pass of ``wave`` ``(..., samples)``."""
        length = wave.shape[-1]
        size = 2 * length  # zero padding keeps the filter's spread from wrapping around
        frequencies = torch.fft.rfftfreq(size, 1.0 / self.sample_rate, device=wave.device, dtype=wave.dtype)
        power = 2.0 * self.order
        high_pass = 1.0 / (1.0 + (self.low_hz / frequencies.clamp_min(1e-3)) ** power).sqrt()
        low_pass = 1.0 / (1.0 + (frequencies / self.high_hz) ** power).sqrt()
        spectrum = torch.fft.rfft(wave, n=size, dim=-1) * (high_pass * low_pass)
        return torch.fft.irfft(spectrum, n=size, dim=-1)[..., :length]

    def forward(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        length = wave.shape[-1]
        responses = synthetic_room_impulse_response(
            wave.shape[0], self.sample_rate, self.rt60, self.drr_db, generator, wave.device, wave.dtype
        )
        reverberant = AF.fftconvolve(wave, responses.reshape(wave.shape[0], *[1] * (wave.dim() - 2), -1))[..., :length]
        received = self.band_pass(reverberant)
        power = received.pow(2).mean(dim=-1, keepdim=True)
        noise_std = (power / 10.0 ** (self.snr_db / 10.0)).sqrt()
        return received + noise_std * _normal_like(received, generator)


def make_channel(spec: str, sample_rate: int) -> Channel:
    """Build a channel from a string: ``clean``, ``awgn:<σ>``, ``speckle:<σ>``, ``ota`` or
    ``ota:<key>=<value>,...`` (keys of :class:`OverTheAir`, e.g. ``ota:rt60=0.5,snr_db=20``)."""
    kind, _, argument = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "clean" and not argument:
        return Clean()
    if kind in ("awgn", "speckle") and argument:
        return (AdditiveGaussianNoise if kind == "awgn" else SpeckleNoise)(float(argument))
    if kind == "ota":
        options = dict(item.split("=", 1) for item in argument.split(",") if item)
        try:
            channel = OverTheAir(sample_rate, **{key.strip(): float(value) for key, value in options.items()})
        except TypeError as err:
            raise ValueError(f"bad over-the-air options in {spec!r}: {err}") from err
        if argument:
            channel.name = "ota_" + "_".join(f"{k.strip()}-{float(v):g}" for k, v in options.items())
        return channel
    raise ValueError(f"unknown channel {spec!r}; use clean, awgn:<sigma>, speckle:<sigma> or ota[:key=value,...]")


@exportable
class PixInWav(nn.Module):
    """Image-in-audio hider and revealer on the STDCT.

    Args:
        architecture: one of :data:`ARCHITECTURES`.
        image_size: side of the square RGB images.
        num_samples: host audio length in samples (paper: 67,522 at 44.1 kHz).
        frame_length: STDCT frame = number of coefficients (paper: 4096).
        hop_length: STDCT hop (paper: 62).
        window: STDCT window name.
        base_channels: U-Net width ``C`` (paper: 64).
        residual_scale: initial gain of the ``res_scale`` variant (unused by the others).
        reveal_from: what the revealer reads (see :data:`REVEAL_SOURCES`).
    """

    def __init__(
        self,
        architecture: str = "res_indep",
        image_size: int = 256,
        num_samples: int = 67522,
        frame_length: int = 4096,
        hop_length: int = 62,
        window: str = "hamming",
        base_channels: int = 64,
        residual_scale: float = 0.01,
        reveal_from: str = "waveform",
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")
        if reveal_from not in REVEAL_SOURCES:
            raise ValueError(f"unknown reveal_from {reveal_from!r}; choose from {REVEAL_SOURCES}")
        self.architecture, self.num_samples, self.reveal_from = architecture, num_samples, reveal_from
        self.stdct = STDCT(frame_length, hop_length, window)
        self.container_size = (frame_length, self.stdct.num_frames(num_samples))
        self.mapping = ImageContainerMapping(image_size, self.container_size)
        if architecture == "res_scale":
            self.hider: nn.Module = ResidualGain(residual_scale)
        else:
            context = 1 if architecture in ("res_dep", "plain_dep") else 0
            self.hider = PixInWavUNet(1, 1, base_channels, context_channels=context)
        self.revealer = PixInWavUNet(1, 1, base_channels)

    def hide(self, image: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Container for ``image`` ``(B, 3, H, W)`` in host ``audio`` ``(B, 1, samples)``.

        Returns ``host_spec`` and ``container_spec`` ``(B, 1, coefficients, frames)`` and
        ``container_wave`` ``(B, 1, samples)`` (the STDCT synthesis of ``container_spec``).
        """
        if audio.shape[-1] != self.num_samples:
            raise ValueError(f"host audio has {audio.shape[-1]} samples; this model expects {self.num_samples}")
        host_spec = self.stdct(audio)
        mapped = self.mapping.to_container(image)
        if self.architecture == "plain_dep":
            container_spec = self.hider(mapped, host_spec)
        else:
            residual = self.hider(mapped, host_spec if self.architecture == "res_dep" else None)
            container_spec = host_spec + residual
        container_wave = self.stdct.inverse(container_spec, audio.shape[-1])
        return {"host_spec": host_spec, "container_spec": container_spec, "container_wave": container_wave}

    def reveal_spectrogram(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Revealed image ``(B, 3, H, W)`` (unclamped) from an STDCT ``(B, 1, coefficients, frames)``."""
        plane = self.mapping.plane_from_container(spectrogram)
        return self.mapping.image_from_plane(self.revealer(plane))

    def reveal(self, wave: torch.Tensor) -> torch.Tensor:
        """Revealed image from a waveform ``(B, 1, samples)`` alone (what a real receiver has)."""
        return self.reveal_spectrogram(self.stdct(wave))

    def reveal_received(self, hidden: dict[str, torch.Tensor], received_wave: torch.Tensor) -> torch.Tensor:
        """Revealed image for :meth:`hide` outputs ``hidden`` received as ``received_wave``, from
        the STDCT that ``reveal_from`` names (see :data:`REVEAL_SOURCES`)."""
        if self.reveal_from == "waveform":
            return self.reveal(received_wave)
        return self.reveal_spectrogram(hidden["container_spec"] + self.stdct(received_wave - hidden["container_wave"]))

    def forward(
        self,
        image: torch.Tensor,
        audio: torch.Tensor,
        channel: Channel | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Hide, transmit through ``channel`` (identity if ``None``) and reveal.

        Returns the :meth:`hide` outputs plus ``received_wave`` and ``revealed_image``.
        """
        outputs = self.hide(image, audio)
        received = outputs["container_wave"] if channel is None else channel(outputs["container_wave"], generator)
        return {**outputs, "received_wave": received, "revealed_image": self.reveal_received(outputs, received)}


def soft_minimum(values: torch.Tensor, gamma: float) -> torch.Tensor:
    """Smoothed minimum ``-γ·log Σ exp(-v/γ)`` over the last dimension."""
    return -gamma * torch.logsumexp(-values / gamma, dim=-1)


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances ``(B, N, M)`` of ``x`` ``(B, N, D)``, ``y`` ``(B, M, D)``
    (written out rather than ``cdist`` so the gradient stays finite at zero distance)."""
    cross = x @ y.transpose(-1, -2)
    return (x.pow(2).sum(-1, keepdim=True) + y.pow(2).sum(-1).unsqueeze(-2) - 2.0 * cross).clamp_min(0.0)


def soft_dtw(cost: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Soft-DTW value (Cuturi & Blondel 2017) of cost matrices ``(B, N, M)`` → ``(B,)``.

    ``R[i, j] = cost[i, j] + softmin_γ(R[i-1, j-1], R[i-1, j], R[i, j-1])``, ``R[0, 0] = 0``,
    borders ``+∞``; the result is ``R[N, M]``. Cells with equal ``i + j`` (anti-diagonals) do not
    depend on each other, so the recursion runs as ``N + M - 1`` vectorised steps, each
    updating a whole anti-diagonal (indexed by ``i``) for the whole batch; autograd gives the
    gradient. "∞" is a large finite number (1e10, still finite after division by a small γ)
    so that no NaN appears in the backward pass.
    """
    batch, rows, columns = cost.shape
    big = 1e10
    row = torch.arange(rows + 1, device=cost.device)
    diagonals = torch.arange(2, rows + columns + 1, device=cost.device)
    column = diagonals.unsqueeze(1) - row  # (diagonals, rows + 1)
    valid = (row >= 1) & (column >= 1) & (column <= columns)
    # Cost of every anti-diagonal, (B, rows + 1) each; unbind keeps the backward to one stack.
    skewed = cost[:, (row - 1).clamp(0, rows - 1), (column - 1).clamp(0, columns - 1)].unbind(1)
    border = cost.new_full((batch, 1), big)
    before_previous = torch.cat([cost.new_zeros(batch, 1), cost.new_full((batch, rows), big)], dim=1)
    previous = cost.new_full((batch, rows + 1), big)
    for diagonal_cost, diagonal_valid in zip(skewed, valid.unbind(0)):
        up_left = torch.cat([border, before_previous[:, :-1]], dim=1)
        up = torch.cat([border, previous[:, :-1]], dim=1)
        neighbours = torch.stack([up_left, up, previous], dim=-1)
        current = torch.where(diagonal_valid, diagonal_cost + soft_minimum(neighbours, gamma), big)
        before_previous, previous = previous, current
    return previous[:, rows]


def frame_sequence(wave: torch.Tensor, num_steps: int) -> torch.Tensor:
    """``(B, ..., samples)`` → ``(B, num_steps, frame)``: the waveform (channels flattened) cut
    into ``num_steps`` non-overlapping frames of ``ceil(samples / num_steps)`` samples (end
    zero-padded); each frame is one vector of the sequence that soft-DTW aligns."""
    flat = wave.reshape(wave.shape[0], -1)
    frame = math.ceil(flat.shape[-1] / num_steps)
    return F.pad(flat, (0, frame * num_steps - flat.shape[-1])).reshape(flat.shape[0], num_steps, frame)


class SoftDTW(nn.Module):
    """Soft-DTW between two waveforms on a framed representation.

    Soft-DTW is quadratic in the sequence length, so the waveforms are not aligned sample by
    sample: each is cut by :func:`frame_sequence` into ``num_steps`` non-overlapping frames
    (paper scale: 67,522 samples → 256 frames of 264 samples), and the cost of matching frame
    ``i`` of one to frame ``j`` of the other is their squared Euclidean distance. Every sample
    enters the cost, while the warping works at frame resolution (a 257×257 table).

    Args:
        gamma: smoothing γ (paper: 1).
        num_steps: frames per waveform.
        divergence: return the soft-DTW divergence ``sdtw(x, y) − ½(sdtw(x, x) + sdtw(y, y))``
            (Blondel et al. 2021), which is 0 for identical inputs and non-negative; otherwise
            the raw soft-DTW value (the paper's term, negative for identical inputs).
    """

    def __init__(self, gamma: float = 1.0, num_steps: int = 256, divergence: bool = True) -> None:
        super().__init__()
        self.gamma, self.num_steps, self.divergence = gamma, num_steps, divergence

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-item value ``(B,)`` for waveforms ``(B, ..., samples)``."""
        fx, fy = frame_sequence(x, self.num_steps), frame_sequence(y, self.num_steps)
        if not self.divergence:
            return soft_dtw(squared_distances(fx, fy), self.gamma)
        costs = torch.cat([squared_distances(fx, fy), squared_distances(fx, fx), squared_distances(fy, fy)])
        xy, xx, yy = soft_dtw(costs, self.gamma).chunk(3)
        return xy - 0.5 * (xx + yy)


class PixInWavLoss(nn.Module):
    """``β·L1(revealed, image) + (1−β)·MSE(container STDCT, host STDCT) + λ·softDTW(host wave,
    container wave)``.

    Args:
        beta: image/audio trade-off β (paper: 0.05).
        dtw_weight: λ (paper: 1e-4); 0 skips the soft-DTW computation.
        dtw_gamma: soft-DTW γ (paper: 1).
        dtw_steps: frames per waveform for soft-DTW, see :class:`SoftDTW`.
        dtw_divergence: use the soft-DTW divergence, see :class:`SoftDTW`.
    """

    def __init__(
        self,
        beta: float = 0.05,
        dtw_weight: float = 1e-4,
        dtw_gamma: float = 1.0,
        dtw_steps: int = 256,
        dtw_divergence: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= beta <= 1.0:
            raise ValueError("beta must lie in [0, 1]")
        self.beta, self.dtw_weight = beta, dtw_weight
        self.soft_dtw = SoftDTW(dtw_gamma, dtw_steps, dtw_divergence)

    def forward(self, outputs: dict[str, torch.Tensor], image: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms for :class:`PixInWav` ``outputs`` of ``image`` hidden in ``audio``."""
        image_l1 = F.l1_loss(outputs["revealed_image"], image)
        spectrogram_mse = F.mse_loss(outputs["container_spec"], outputs["host_spec"])
        if self.dtw_weight > 0:
            dtw = self.soft_dtw(audio, outputs["container_wave"]).mean()
        else:
            dtw = image_l1.new_zeros(())
        loss = self.beta * image_l1 + (1.0 - self.beta) * spectrogram_mse + self.dtw_weight * dtw
        return {"loss": loss, "image_l1": image_l1, "spectrogram_mse": spectrogram_mse, "soft_dtw": dtw}
