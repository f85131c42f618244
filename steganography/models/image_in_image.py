"""Rehman et al. (2017) CNN image-in-image steganography: a grey image hidden in a colour one.

Encoder: a host branch (RGB cover) and a guest branch (1-channel payload) of 3×3×C conv+ReLU
layers; the guest branch's features are concatenated into the host branch at every other layer
up to ``depth``; then 1×1 convs C→C/2→3. Decoder: 3×3 convs (C, C, C/2, C/2, 3, 3) then a 1×1
conv to one channel. Inputs are zero-centred (x − 0.5); outputs are mapped back to [0, 1] scale.
:class:`ImageInImageNetwork` holds both (what ``python -m common.export`` ships).
"""

from __future__ import annotations

import torch
from torch import nn

from common.export import exportable
from common.image import to_uint8


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), nn.ReLU())


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every convolution (as in the paper)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class ImageInImageEncoder(nn.Module):
    """Two-branch encoder: ``(cover (B,3,H,W), secret (B,1,H,W)) → stego (B,3,H,W)``.

    Args:
        depth: host-branch conv layers; guest features join at layers 1, 3, 5, ... < depth.
        channels: feature channels of every 3×3 layer.
    """

    def __init__(self, depth: int = 7, channels: int = 16) -> None:
        super().__init__()
        self.merge_layers = [i for i in range(depth) if i % 2 == 0]
        self.host = nn.ModuleList()
        for i in range(depth):
            in_channels = 3 if i == 0 else channels
            if i in self.merge_layers:
                in_channels += channels
            self.host.append(_conv_relu(in_channels, channels))
        self.guest = nn.ModuleList(
            [_conv_relu(1 if i == 0 else channels, channels) for i in range(max(self.merge_layers) + 1)]
        )
        self.head = nn.Sequential(_conv_relu(channels, channels // 2, 1), nn.Conv2d(channels // 2, 3, 1))
        xavier_init(self)

    def forward(self, cover: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
        host, guest = cover - 0.5, secret - 0.5
        for i, layer in enumerate(self.host):
            if i < len(self.guest):
                guest = self.guest[i](guest)
            if i in self.merge_layers:
                host = torch.cat([host, guest], dim=1)
            host = layer(host)
        return self.head(host) + 0.5


class ImageInImageDecoder(nn.Module):
    """Decoder: ``stego (B,3,H,W) → secret (B,1,H,W)``.

    Args:
        channels: width of the first 3×3 layers (the paper's 16).
    """

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        widths = [channels, channels, channels // 2, channels // 2, 3, 3]
        layers, in_channels = [], 3
        for width in widths:
            layers.append(_conv_relu(in_channels, width))
            in_channels = width
        layers.append(nn.Conv2d(in_channels, 1, 1))
        self.net = nn.Sequential(*layers)
        xavier_init(self)

    def forward(self, stego: torch.Tensor) -> torch.Tensor:
        return self.net(stego - 0.5) + 0.5


@exportable
class ImageInImageNetwork(nn.Module):
    """Encoder and decoder: ``(cover (B,3,H,W), secret (B,1,H,W)) → (stego, revealed)``.

    In evaluation mode the secret is revealed from the stego image rounded to 8 bits (what an
    image file holds), in training mode from the unrounded one.

    Args:
        depth: encoder host-branch depth (paper: 7).
        channels: conv width (paper: 16).
    """

    def __init__(self, depth: int = 7, channels: int = 16) -> None:
        super().__init__()
        self.encoder = ImageInImageEncoder(depth, channels)
        self.decoder = ImageInImageDecoder(channels)

    def forward(self, cover: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stego = self.encoder(cover, secret)
        channel = stego if self.training else to_uint8(stego).float() / 255.0
        return stego, self.decoder(channel)


class ImageInImageLoss(nn.Module):
    """α‖cover − stego‖² + β‖secret − revealed‖² (mean squared errors; the paper's weight
    penalty λ(‖We‖² + ‖Wd‖²) is applied as the optimiser's weight decay).

    Args:
        alpha: weight of the cover term.
        beta: weight of the payload term.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def forward(
        self, cover: torch.Tensor, stego: torch.Tensor, secret: torch.Tensor, revealed: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        cover_loss = nn.functional.mse_loss(stego, cover)
        secret_loss = nn.functional.mse_loss(revealed, secret)
        return {
            "loss": self.alpha * cover_loss + self.beta * secret_loss,
            "cover_mse": cover_loss,
            "secret_mse": secret_loss,
        }


def to_grey(images: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of RGB images ``(B, 3, H, W)`` → ``(B, 1, H, W)``."""
    weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)
