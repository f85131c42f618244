"""LPIPS wrapper tests. No pretrained weights exist offline: the "weights present" tests write a
checkpoint of *random* AlexNet features into a temporary torch hub cache, only to exercise the
loading plumbing; the distances they produce are meaningless."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from common.errors import ResourceUnavailableError
from steganography.models import perceptual
from steganography.models.perceptual import BACKBONE_CHECKPOINTS, LPIPSLoss, PretrainedWeightsMissingError, default_backbone_checkpoint


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def random_alexnet_features() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    features = torchvision.models.alexnet().features.state_dict()
    return {f"features.{name}": tensor for name, tensor in features.items()}


@pytest.fixture
def fake_cache(empty_torch_home: Path, random_alexnet_features: dict[str, torch.Tensor]) -> Path:
    path = default_backbone_checkpoint("alex")
    path.parent.mkdir(parents=True)
    torch.save(random_alexnet_features, path)
    return path


def test_offline_without_weights_raises_a_clear_error(empty_torch_home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(perceptual, "BACKBONE_URL", (tmp_path / "unreachable" / "{}").as_uri())
    with pytest.raises(PretrainedWeightsMissingError, match="LPIPS needs pretrained alex weights") as error:
        LPIPSLoss()
    message = str(error.value)
    assert isinstance(error.value, ResourceUnavailableError) and "\n" not in message
    assert "lpips_weight: 0" in message and "could not be downloaded" in message
    assert str(empty_torch_home / "hub" / "checkpoints" / BACKBONE_CHECKPOINTS["alex"]) in message


def test_missing_weights_are_downloaded_into_the_cache(
    empty_torch_home: Path, tmp_path: Path, random_alexnet_features: dict[str, torch.Tensor], monkeypatch
) -> None:
    server = tmp_path / "server"
    server.mkdir()
    torch.save(random_alexnet_features, server / BACKBONE_CHECKPOINTS["alex"])
    monkeypatch.setattr(perceptual, "BACKBONE_URL", server.as_uri() + "/{}")
    LPIPSLoss()
    cached = default_backbone_checkpoint("alex")
    assert cached.read_bytes() == (server / BACKBONE_CHECKPOINTS["alex"]).read_bytes()
    assert [p.name for p in cached.parent.iterdir()] == [cached.name], "a partial download was left behind"


def test_explicit_missing_checkpoint_raises(tmp_path: Path) -> None:
    with pytest.raises(PretrainedWeightsMissingError, match="nowhere.pth"):
        LPIPSLoss(backbone_checkpoint=tmp_path / "nowhere.pth")


def test_unknown_net_is_rejected() -> None:
    with pytest.raises(ValueError, match="net must be one of"):
        LPIPSLoss(net="resnet")


def test_loads_local_cache_and_is_a_frozen_differentiable_distance(
    fake_cache: Path, random_alexnet_features: dict[str, torch.Tensor]
) -> None:
    loss = LPIPSLoss()
    # The backbone holds the checkpoint's weights, not a fresh random initialisation.
    backbone = loss.model.net.state_dict()
    assert torch.equal(backbone["slice1.0.weight"], random_alexnet_features["features.0.weight"])
    assert torch.equal(backbone["slice5.10.bias"], random_alexnet_features["features.10.bias"])
    assert not any(parameter.requires_grad for parameter in loss.parameters())
    loss.train()
    assert not loss.model.training  # no dropout in the linear heads, whatever the parent does

    references = torch.rand(2, 3, 64, 64)
    images = (references + 0.1 * torch.randn_like(references)).clamp(0, 1).requires_grad_(True)
    distance = loss(images, references)
    assert distance.shape == (2,) and (distance > 0).all()
    assert torch.allclose(loss(references, references), torch.zeros(2), atol=1e-6)
    distance.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_explicit_checkpoint_path_is_used(tmp_path: Path, random_alexnet_features: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "my_alexnet.pth"
    torch.save(random_alexnet_features, path)
    loss = LPIPSLoss(backbone_checkpoint=path)
    assert torch.equal(loss.model.net.state_dict()["slice2.3.weight"], random_alexnet_features["features.3.weight"])


def test_checkpoint_of_the_wrong_network_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "not_alexnet.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="not a torchvision checkpoint"):
        LPIPSLoss(backbone_checkpoint=path)
