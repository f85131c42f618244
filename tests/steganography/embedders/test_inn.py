"""INNEmbedder: checkpoint round trip, any image size with unchanged borders, the shipped model,
and ``--method inn`` in the embedder registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from common.export import export_checkpoint, load_module, save_module
from common.metrics import psnr_8bit
from datamodules.synthetic import procedural_image
from steganography.embedders import pipeline
from steganography.embedders.inn import DEFAULT_CHECKPOINT, INNEmbedder
from steganography.models.inn import InvertibleHider

CONFIG = {"levels": 3, "message_channels": 2, "num_blocks": 2, "width": 4, "depth": 1, "clamp": 2.0}


@pytest.fixture
def random_checkpoint(tmp_path: Path) -> Path:
    """A small hider with random (non-identity) weights, saved as a checkpoint."""
    torch.manual_seed(0)
    hider = InvertibleHider(**CONFIG)
    with torch.no_grad():
        for parameter in hider.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    path = tmp_path / "hider.pt"
    save_module(path, hider, CONFIG, note="test")
    return path


def load_hider(path: Path) -> tuple[InvertibleHider, dict]:
    return load_module(path, InvertibleHider)


def cover(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(procedural_image(np.random.default_rng(seed), height, width))


def test_checkpoint_round_trip_restores_the_network(random_checkpoint: Path) -> None:
    hider, metadata = load_hider(random_checkpoint)
    assert metadata == {"note": "test"} and not hider.training
    reloaded, _ = load_hider(random_checkpoint)
    images = torch.rand(1, 3, 16, 16)
    assert torch.equal(hider.reveal(images), reloaded.reveal(images))
    with pytest.raises(ValueError, match="not a Linear"):
        load_module(random_checkpoint, torch.nn.Linear)
    with pytest.raises(FileNotFoundError):
        load_hider(random_checkpoint.parent / "missing.pt")


def test_capacity_counts_whole_blocks(random_checkpoint: Path) -> None:
    embedder = INNEmbedder(random_checkpoint)
    assert embedder.name == "inn"
    assert embedder.capacity_bits(70, 45) == 2 * 8 * 5
    assert embedder.capacity_bits(64, 64) == 2 * 64
    assert embedder.capacity_bits(7, 100) == 0


@pytest.mark.parametrize("size", [(7, 100), (100, 7), (5, 5)])
def test_an_image_smaller_than_one_block_holds_no_bits(size: tuple[int, int], random_checkpoint: Path) -> None:
    """Reading such an image raised ValueError from the network's shape check (a traceback in reveal)."""
    embedder = INNEmbedder(random_checkpoint)
    image = cover(*size)
    assert embedder.capacity_bits(*size) == 0
    soft = embedder.extract_soft(image, 0)
    assert soft.shape == (0,) and soft.dtype == np.float32
    assert pipeline.extract_all(embedder, image).size == 0


def test_any_size_keeps_the_borders_and_returns_8_bit_rgb(random_checkpoint: Path) -> None:
    embedder = INNEmbedder(random_checkpoint)
    image = cover(45, 38)
    bits = np.random.default_rng(1).integers(0, 2, 30, dtype=np.uint8)
    stego = embedder.embed(image, bits)
    assert stego.mode == "RGB" and stego.size == image.size
    before, after = np.asarray(image), np.asarray(stego)
    assert np.array_equal(before[32:], after[32:]) and np.array_equal(before[:, 40:], after[:, 40:])
    assert not np.array_equal(before[:32, :40], after[:32, :40])
    soft = embedder.extract_soft(stego, 30)
    assert soft.shape == (30,) and soft.dtype == np.float32
    with pytest.raises(ValueError):
        embedder.extract_soft(stego, embedder.capacity_bits(45, 38) + 1)
    with pytest.raises(ValueError):
        embedder.embed(image, np.zeros(embedder.capacity_bits(45, 38) + 1, dtype=np.uint8))


def test_tiles_are_processed_like_training_crops(random_checkpoint: Path, tmp_path: Path) -> None:
    hider, _ = load_hider(random_checkpoint)
    tiled = tmp_path / "tiled.pt"
    save_module(tiled, hider, CONFIG, tile_size=16)
    embedder = INNEmbedder(tiled)
    image = cover(40, 35)
    bits = np.random.default_rng(3).integers(0, 2, embedder.capacity_bits(40, 32), dtype=np.uint8)
    stego = embedder.embed(image, bits)
    # The tile at rows 16..32, columns 32..40 is hidden on its own with its part of the message.
    message = torch.from_numpy(bits.astype(np.float32) * 2 - 1).reshape(1, 2, 4, 5)
    tile = torch.from_numpy(np.asarray(image)[16:32, 32:40].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        expected = hider(tile, message[..., 2:4, 4:5])[0].clamp(0, 1).mul(255).round()
    assert np.array_equal(np.asarray(stego)[16:32, 32:40], expected[0].permute(1, 2, 0).numpy().astype(np.uint8))
    with torch.no_grad():
        revealed = hider.reveal(torch.from_numpy(np.asarray(stego)[16:32, 32:40].copy()).permute(2, 0, 1)[None].float() / 255)
    soft = embedder.extract_soft(stego, embedder.capacity_bits(40, 35)).reshape(2, 4, 5)
    assert np.allclose(soft[:, 2:4, 4:5], revealed[0].numpy())
    save_module(tiled, hider, CONFIG, tile_size=12)
    with pytest.raises(ValueError, match="multiple of the block size"):
        INNEmbedder(tiled)


def test_export_of_a_task_checkpoint(tmp_path: Path) -> None:
    from steganography.tasks.inn import INNHidingTask

    task = INNHidingTask(InvertibleHider(**CONFIG), lpips_weight=0.0, adversarial_weight=0.0, tile_size=16)
    lightning_checkpoint = tmp_path / "last.ckpt"
    state = {"hyper_parameters": dict(task.hparams), "state_dict": task.state_dict(), "global_step": 7, "epoch": 1}
    task.on_save_checkpoint(state)
    torch.save(state, lightning_checkpoint)
    export_checkpoint(lightning_checkpoint, tmp_path / "exported.pt")
    hider, metadata = load_hider(tmp_path / "exported.pt")
    assert metadata["global_step"] == 7 and metadata["tile_size"] == 16 and metadata["task"].endswith("INNHidingTask")
    assert INNEmbedder(tmp_path / "exported.pt").tile_size == 16
    for key, value in task.hider.state_dict().items():
        assert torch.equal(hider.state_dict()[key], value)


def test_shipped_checkpoint_hides_and_reveals_losslessly() -> None:
    embedder = INNEmbedder()
    assert DEFAULT_CHECKPOINT.stat().st_size < 8 * 2**20  # "a few MB": weights + hyper-parameters only
    image = cover(128, 96, seed=5)
    capacity = embedder.capacity_bits(*image.size)
    bits = np.random.default_rng(2).integers(0, 2, capacity, dtype=np.uint8)
    stego = embedder.embed(image, bits)
    accuracy = float(np.mean(embedder.extract(stego, capacity) == bits))
    assert accuracy > 0.95
    assert psnr_8bit(np.asarray(stego), np.asarray(image)) > 30.0


def test_registered_as_method_inn() -> None:
    assert "inn" in pipeline.available_embedders()
    assert isinstance(pipeline.make_embedder("inn", quality_target=75), INNEmbedder)


def test_from_hider_wraps_an_in_memory_hider_and_restores_its_training_mode(random_checkpoint: Path) -> None:
    hider, _ = load_hider(random_checkpoint)
    from_checkpoint = INNEmbedder(random_checkpoint)
    embedder = INNEmbedder.from_hider(hider.train())
    assert embedder.tile_size is None and embedder.device == next(hider.parameters()).device
    assert INNEmbedder.from_hider(hider, tile_size=16).tile_size == 16
    image = cover(40, 32)
    bits = np.random.default_rng(4).integers(0, 2, 40, dtype=np.uint8)
    stego = embedder.embed(image, bits)
    assert hider.training  # run in eval mode, handed back in training mode
    assert np.array_equal(np.asarray(stego), np.asarray(from_checkpoint.embed(image, bits)))
    assert np.array_equal(embedder.extract_soft(stego, 40), from_checkpoint.extract_soft(stego, 40)) and hider.training
    with pytest.raises(ValueError, match="multiple of the block size"):
        INNEmbedder.from_hider(hider, tile_size=12)


def test_probe_cover_is_a_mosaic_of_whole_tiles_spread_over_a_large_cover(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "tiled.pt"
    save_module(path, InvertibleHider(**CONFIG), CONFIG, tile_size=16)
    embedder = INNEmbedder(path)
    small = cover(100, 60)
    assert embedder.probe_cover(small) is small  # 6 x 3 tiles: no more than the mosaic holds
    large = cover(400, 300, seed=1)
    mosaic = embedder.probe_cover(large)
    assert mosaic.size == (128, 128)  # 8 x 8 tiles of 16 px
    tiles = np.asarray(mosaic).reshape(8, 16, 8, 16, 3).transpose(0, 2, 1, 3, 4).reshape(64, 16, 16, 3)
    source = np.asarray(large)[:288, :400].reshape(18, 16, 25, 16, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 16, 16, 3)
    assert np.array_equal(tiles[0], source[0]) and np.array_equal(tiles[-1], source[-1])  # first and last tile
    assert all(any(np.array_equal(tile, candidate) for candidate in source) for tile in tiles)
    assert INNEmbedder(DEFAULT_CHECKPOINT).calibration_offsets == (0,)
    assert pipeline.calibration_qualities(75, INNEmbedder.calibration_offsets) == [75]


def test_the_filler_is_keyed_by_the_passphrase_and_the_message() -> None:
    """The capacity after the message was one public sequence (a keyless tell: the shipped model
    revealed it from any ``--method inn`` image); now nothing about it is public or shared."""
    embedder = INNEmbedder()
    image = cover(128, 96, seed=6)
    capacity = embedder.capacity_bits(*image.size)
    message = np.random.default_rng(3).integers(0, 2, 40, dtype=np.uint8)
    other = message.copy()
    other[0] ^= 1

    def revealed(hider: INNEmbedder, bits: np.ndarray) -> np.ndarray:
        return hider.extract(hider.embed(image, bits), capacity)

    first = revealed(embedder.keyed(11), message)
    assert np.array_equal(first[: message.size], message)
    assert np.array_equal(first, revealed(embedder.keyed(11), message))  # a function of its inputs
    old_public_filler = np.random.default_rng(0x1CE).integers(0, 2, capacity, dtype=np.uint8)
    filler = first[message.size :]
    assert abs(np.mean(filler == old_public_filler[message.size :]) - 0.5) < 0.15
    for other_filler in (revealed(embedder.keyed(12), message)[message.size :], revealed(embedder.keyed(11), other)[other.size :]):
        assert abs(np.mean(other_filler == filler) - 0.5) < 0.15  # another key or message: unrelated
