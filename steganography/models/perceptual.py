"""LPIPS perceptual distance (Zhang et al. 2018) that refuses to run on random weights.

The ``lpips`` package ships its small linear heads but takes the backbone (AlexNet, VGG-16 or
SqueezeNet 1.1) from torchvision, which downloads ImageNet weights into the torch hub cache. On an
offline machine that download fails, and ``pnet_rand=True`` would silently give random features.
:class:`LPIPSLoss` instead looks for the backbone checkpoint locally (an explicit path, or
torchvision's file name in ``$TORCH_HOME/hub/checkpoints``), downloads torchvision's weights into
that cache when they are not there yet, and raises :class:`PretrainedWeightsMissingError` (one
line) when they can be neither found nor downloaded.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import lpips
import torch
from torch import nn

from common.errors import ResourceUnavailableError

#: torchvision checkpoint file names of the LPIPS backbones (as cached by ``torch.hub``).
BACKBONE_CHECKPOINTS = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
#: Where torchvision publishes them.
BACKBONE_URL = "https://download.pytorch.org/models/{}"
#: Seconds to wait for the download server before giving up.
DOWNLOAD_TIMEOUT = 30


class PretrainedWeightsMissingError(ResourceUnavailableError):
    """A pretrained network's weights are not available on this machine."""


def download_backbone(net: str, path: Path) -> None:
    """Download torchvision's ``net`` weights to ``path`` (atomically); one-line error offline."""
    url = BACKBONE_URL.format(BACKBONE_CHECKPOINTS[net])
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise PretrainedWeightsMissingError(
            f"LPIPS needs pretrained {net} weights: {path} not found and {url} could not be downloaded "
            f"({getattr(err, 'reason', err)}); copy {BACKBONE_CHECKPOINTS[net]} there (docs/training.md: LPIPS weights) "
            "or set lpips_weight: 0"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as partial:
        partial.write(data)
    os.replace(partial.name, path)


def default_backbone_checkpoint(net: str) -> Path:
    """Where torchvision caches the backbone weights of ``net`` (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_CHECKPOINTS[net]


class LPIPSLoss(nn.Module):
    """Frozen LPIPS distance between images in [0, 1]; differentiable w.r.t. the images.

    Args:
        net: backbone, ``"alex"`` (default, the usual choice for a loss), ``"vgg"`` or ``"squeeze"``.
        backbone_checkpoint: torchvision state-dict file of the backbone; defaults to
            :func:`default_backbone_checkpoint`, downloaded there if missing.

    Raises:
        PretrainedWeightsMissingError: the given checkpoint is not on disk, or the default one is
            neither cached nor downloadable.
        ValueError: unknown ``net``, or the checkpoint does not fit the backbone.
    """

    def __init__(self, net: str = "alex", backbone_checkpoint: str | os.PathLike | None = None) -> None:
        super().__init__()
        if net not in BACKBONE_CHECKPOINTS:
            raise ValueError(f"net must be one of {sorted(BACKBONE_CHECKPOINTS)}, got {net!r}")
        if backbone_checkpoint is not None:
            path = Path(backbone_checkpoint)
            if not path.is_file():
                raise PretrainedWeightsMissingError(f"LPIPS backbone checkpoint {path} not found")
        else:
            path = default_backbone_checkpoint(net)
            if not path.is_file():
                download_backbone(net, path)
        with warnings.catch_warnings():  # torchvision's deprecation notes about `pretrained=`
            warnings.simplefilter("ignore", UserWarning)
            # Linear heads from the lpips package; backbone built empty and filled below.
            self.model = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
        self._load_backbone(path)
        self.model.requires_grad_(False)
        self.model.eval()

    def _load_backbone(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        backbone = {}
        for name, parameter in self.model.net.named_parameters():
            key = "features." + name.split(".", 1)[1]  # lpips "sliceN.<index>..." = torchvision "features.<index>..."
            if key not in state or state[key].shape != parameter.shape:
                raise ValueError(f"{path} is not a torchvision checkpoint of the LPIPS backbone ({key} missing)")
            backbone[name] = state[key]
        self.model.net.load_state_dict(backbone)

    def train(self, mode: bool = True) -> LPIPSLoss:
        """Keep the frozen network in eval mode (no dropout) whatever the parent's mode."""
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """Distance per image ``(B,)`` between ``images`` and ``references`` ``(B, 3, H, W)`` in [0, 1]."""
        return self.model(images, references, normalize=True).flatten()
