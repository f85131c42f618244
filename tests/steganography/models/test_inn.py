from __future__ import annotations

import pytest
import torch

from steganography.models.inn import PRESETS, HaarWavelet, InvertibleHider, soft_clamp


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _perturbed(model: InvertibleHider, scale: float = 0.05, seed: int = 0) -> InvertibleHider:
    """Give every parameter (including the zero-initialised output convs) random values, so the
    network is far from the identity and inversion is actually exercised."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model


def _inputs(model: InvertibleHider, batch: int, height: int, width: int, dtype=torch.float32):
    generator = torch.Generator().manual_seed(1)
    cover = torch.rand(batch, 3, height, width, generator=generator, dtype=dtype)
    bits = torch.randint(0, 2, (batch, *model.message_shape(height, width)), generator=generator)
    return cover, (2 * bits - 1).to(dtype)


def test_haar_wavelet_is_orthonormal_and_exactly_invertible() -> None:
    wavelet = HaarWavelet().double()
    images = torch.rand(2, 3, 8, 6, dtype=torch.float64)
    bands = wavelet(images)
    assert bands.shape == (2, 12, 4, 3)
    assert torch.allclose(bands.square().sum(), images.square().sum())  # energy preserved
    assert torch.allclose(wavelet.inverse(bands), images, atol=1e-14)
    # Sub-band 0 of a constant image is its (scaled) mean, the others are zero.
    flat = wavelet(torch.full((1, 1, 2, 2), 0.25, dtype=torch.float64))
    assert torch.allclose(flat.flatten(), torch.tensor([0.5, 0.0, 0.0, 0.0], dtype=torch.float64))


def test_soft_clamp_is_bounded_with_unit_slope() -> None:
    values = torch.tensor([-1e6, -1e-3, 0.0, 1e-3, 1e6])
    clamped = soft_clamp(values, 2.0)
    assert clamped.abs().max() < 2.0
    assert torch.allclose(clamped[1:4], values[1:4], atol=1e-8)


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_reverse_inverts_forward(dtype: torch.dtype, tolerance: float) -> None:
    model = _perturbed(InvertibleHider.from_preset("tiny", num_blocks=3).to(dtype))
    cover, message = _inputs(model, 2, 16, 24, dtype)
    stego, z = model(cover, message)
    assert (stego - cover).abs().max() > 1e-2  # the perturbed network really changes the image
    cover_hat, message_hat = model.reverse(stego, z)
    assert (cover_hat - cover).abs().max() < tolerance
    assert (message_hat - message).abs().max() < tolerance


def test_default_depth_inverts_in_float32() -> None:
    model = _perturbed(InvertibleHider(levels=2, num_blocks=8, width=4, depth=2), scale=0.02)
    cover, message = _inputs(model, 1, 32, 32)
    cover_hat, message_hat = model.reverse(*model(cover, message))
    assert (cover_hat - cover).abs().max() < 1e-5
    assert (message_hat - message).abs().max() < 1e-5


@pytest.mark.parametrize(("height", "width"), [(8, 8), (40, 24)])
@pytest.mark.parametrize("levels", [1, 3])
def test_shapes_scale_with_area(height: int, width: int, levels: int) -> None:
    model = InvertibleHider.from_preset("tiny", levels=levels, message_channels=2)
    size = 2**levels
    assert model.block_size == size
    assert model.message_shape(height, width) == (2, height // size, width // size)
    assert model.bits_per_image(height, width) == 2 * height * width // size**2
    cover, message = _inputs(model, 3, height, width)
    stego, z = model(cover, message)
    assert stego.shape == cover.shape and z.shape == message.shape
    assert model.reveal(stego).shape == message.shape


def test_identity_at_initialisation() -> None:
    model = InvertibleHider.from_preset("tiny")
    cover, message = _inputs(model, 2, 16, 16)
    stego, z = model(cover, message)
    assert torch.allclose(stego, cover, atol=1e-6) and torch.allclose(z, message)


def test_rejects_bad_sizes() -> None:
    model = InvertibleHider.from_preset("tiny", levels=2)
    with pytest.raises(ValueError, match="multiple of 4"):
        model.message_shape(18, 16)
    cover, message = _inputs(model, 1, 16, 16)
    with pytest.raises(ValueError, match="message must have shape"):
        model(cover, message[..., :2])
    with pytest.raises(ValueError, match="unknown preset"):
        InvertibleHider.from_preset("huge")


def test_reveal_uses_constant_z() -> None:
    model = _perturbed(InvertibleHider.from_preset("tiny", reveal_z=0.25))
    cover, message = _inputs(model, 2, 16, 16)
    stego, _ = model(cover, message)
    expected = model.reverse(stego, torch.full_like(message, 0.25))[1]
    assert torch.equal(model.reveal(stego), expected)


@pytest.mark.parametrize("fill", ["zeros", "ones", "checkerboard", "far_outside"])
def test_output_finite_for_extreme_inputs(fill: str) -> None:
    model = _perturbed(InvertibleHider.from_preset("tiny", num_blocks=4), scale=0.2)
    cover, _ = _inputs(model, 1, 16, 16)
    if fill == "zeros":
        cover = torch.zeros_like(cover)
    elif fill == "ones":
        cover = torch.ones_like(cover)
    elif fill == "checkerboard":
        cover = ((torch.arange(16).view(16, 1) + torch.arange(16)) % 2).float().expand_as(cover).contiguous()
    else:
        cover = 100.0 * (2 * cover - 1)
    for sign in (-1.0, 1.0):
        message = torch.full((1, *model.message_shape(16, 16)), sign)
        stego, z = model(cover, message)
        assert torch.isfinite(stego).all() and torch.isfinite(z).all()
        assert torch.isfinite(model.reveal(stego)).all()


def test_gradient_flows_to_every_parameter_and_input() -> None:
    model = _perturbed(InvertibleHider.from_preset("tiny"))
    cover, message = _inputs(model, 2, 16, 16)
    cover.requires_grad_(True)
    stego, _ = model(cover, message)
    loss = (stego - cover).square().mean() + (model.reveal(stego) - message).square().mean()
    loss.backward()
    assert cover.grad is not None and torch.isfinite(cover.grad).all()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        # The channel-attention MLP has a small ReLU bottleneck that may be inactive on one batch.
        if ".channel.mlp." not in name:
            assert parameter.grad.abs().sum() > 0, name


def test_zero_initialised_network_still_trains_its_output_layers() -> None:
    model = InvertibleHider.from_preset("tiny")
    cover, message = _inputs(model, 2, 16, 16)
    stego, _ = model(cover, message)
    (model.reveal(stego) - message).square().mean().backward()
    assert model.blocks[0].message_subnet.output.weight.grad.abs().sum() > 0


def test_presets_are_valid_and_ordered_by_size() -> None:
    sizes = [sum(p.numel() for p in InvertibleHider.from_preset(name).parameters()) for name in PRESETS]
    assert sizes == sorted(sizes)
