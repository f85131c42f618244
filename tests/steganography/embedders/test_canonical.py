"""CanonicalINNEmbedder: the grid layout (pilots, guard ring, capacity), keyed pilots, the exact
resampling of a known crop back onto the grid, the texture gain (low on flat areas, deterministic),
the work an embedding at another strength reuses, and — with the shipped model — exact round trips
and recovery after an unknown downscale, crop and JPEG, with the sync finding the crop and its
pilot search giving the exhaustive reference's results; ``hide`` picks the gentlest strength the
message allows."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from common import platforms
from common.errors import InputError
from common.export import save_module
from common.image import pil_to_tensor
from common.metrics import psnr_8bit
from common.payload import container
from datamodules.synthetic import procedural_image
from steganography.embedders import pipeline
from steganography.embedders.canonical import (
    DEFAULT_CHECKPOINT,
    DEFAULT_STRENGTH,
    DEFAULT_TEXTURE,
    GUARD_CELLS,
    PILOT_WINDOW,
    CanonicalINNEmbedder,
    GridMap,
    TextureGain,
)
from steganography.models.inn import InvertibleHider

CONFIG = {"levels": 3, "message_channels": 2, "num_blocks": 1, "width": 4, "depth": 1, "clamp": 2.0}


@pytest.fixture
def small_grid_checkpoint(tmp_path: Path) -> Path:
    """A random hider on a 256² canonical grid (structure only: it hides nothing reliably)."""
    torch.manual_seed(0)
    path = tmp_path / "canonical.pt"
    save_module(path, InvertibleHider(**CONFIG), CONFIG, tile_size=128, canonical_size=256)
    return path


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(procedural_image(np.random.default_rng(seed), height, width))


def test_layout_reserves_pilot_windows_and_a_guard_ring(small_grid_checkpoint: Path) -> None:
    embedder = CanonicalINNEmbedder(small_grid_checkpoint)
    cells = 256 // 8
    windows = 4 * (PILOT_WINDOW // 8) ** 2
    assert embedder.capacity_bits(1920, 1080) == 2 * ((cells - 2 * GUARD_CELLS) ** 2 - windows)
    assert embedder.capacity_bits(256, 256) == embedder.capacity_bits(4000, 3000)  # any size maps to the grid
    assert embedder.capacity_bits(255, 1000) == 0  # smaller than the grid: nothing
    assert not (embedder.data_mask & embedder.pilot_mask).any()
    assert not embedder.data_mask[:, :GUARD_CELLS].any() and not embedder.data_mask[:, :, -GUARD_CELLS:].any()
    with pytest.raises(ValueError, match="smaller than the 256-pixel canonical grid"):
        embedder.embed(photo(200, 300), np.ones(8, dtype=np.uint8))


def test_pilots_are_keyed_and_the_stego_keeps_the_cover_size(small_grid_checkpoint: Path) -> None:
    embedder = CanonicalINNEmbedder(small_grid_checkpoint)
    one, other = embedder.keyed(1), embedder.keyed(2)
    assert not torch.equal(one._pilots(), other._pilots()) and torch.equal(one._pilots(), embedder.keyed(1)._pilots())
    assert embedder.seed != one.seed  # keying returns a new embedder
    cover = photo(400, 300)
    stego = one.embed(cover, np.ones(100, dtype=np.uint8))
    assert stego.size == cover.size and stego.mode == "RGB"
    assert one.extract_soft(stego, 100).shape == (100,)
    with pytest.raises(ValueError, match="asked for"):
        one.extract_soft(stego, one.capacity_bits(400, 300) + 1)
    # A received image smaller than the grid (a thumbnail) is still read, all data cells of it.
    assert pipeline.extract_all(one, stego.resize((200, 150))).shape == (one.capacity_bits(400, 300),)


def test_a_known_crop_is_resampled_back_onto_the_grid(small_grid_checkpoint: Path) -> None:
    """The received grid after cutting 2 % from the left and top is mapped back by its GridMap."""
    embedder = CanonicalINNEmbedder(small_grid_checkpoint)
    size, cut = 256, 8  # a 2048-px image cropped by 64 px, at the grid's scale
    smooth = F.interpolate(torch.rand(1, 3, 16, 16), size=(size, size), mode="bicubic", align_corners=False)
    received = F.interpolate(smooth[..., cut:, cut:], size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    stretch = (size - cut) / size  # received pixel u_r shows grid pixel cut + u_r * stretch
    slope, offset = 1 / stretch - 1, (0.5 - cut) / stretch - 0.5
    grid_map = GridMap(slope, offset, slope, offset)
    aligned, inside = embedder.aligned(received, grid_map)
    interior = (slice(None), slice(None), slice(24, -24), slice(24, -24))
    assert (aligned - smooth)[interior].abs().mean() < 0.01 < (received - smooth)[interior].abs().mean()
    assert not inside[0].any() and not inside[:, 0].any() and inside[1:, 1:].all()  # the cut-off cells are erasures
    unchanged, everywhere = embedder.aligned(received, GridMap())
    assert unchanged is received and everywhere.all()


def test_shipped_model_survives_unknown_downscale_crop_and_jpeg() -> None:
    embedder = CanonicalINNEmbedder(DEFAULT_CHECKPOINT).keyed(7)
    assert embedder.grid == 512
    cover = photo(1280, 960, seed=3)
    capacity = embedder.capacity_bits(*cover.size)
    bits = np.random.default_rng(0).integers(0, 2, capacity, dtype=np.uint8)
    stego = embedder.embed(cover, bits)
    received = platforms.Channel((80,), crop=(20, 10, 0, 0), long_side=1100).apply(stego)
    with torch.inference_mode():
        grid_map = embedder.synchronise(embedder._canonical(received))
    # 20 px of 1280 = 8.0 grid px cut on the left: grid pixel u is near received (u - 8.0) / (1 - 8.0 / 512).
    assert grid_map.offset_x == pytest.approx(-8.0 / (1 - 8.0 / 512), abs=1.0)
    assert grid_map.slope_x == pytest.approx(1 / (1 - 8.0 / 512) - 1, abs=0.005)
    soft = embedder.extract_soft(received, capacity)
    assert np.mean((soft > 0) != bits) < 0.01
    # Without the key there are no pilots to find and the bits are coin flips.
    unkeyed = CanonicalINNEmbedder(DEFAULT_CHECKPOINT).extract_soft(received, capacity)
    assert 0.4 < np.mean((unkeyed > 0) != bits) < 0.6


def exhaustive_agreement_map(
    embedder: CanonicalINNEmbedder, received: torch.Tensor, top: int, left: int, side: int, phases: list[tuple[int, int]]
) -> torch.Tensor:
    """The reference :meth:`CanonicalINNEmbedder._agreement_map`: the network's reveal per
    phase, then every shift of that phase one at a time."""
    block, cells, reach = embedder.hider.block_size, side // embedder.hider.block_size, embedder.reach
    patch = side + 2 * reach
    agreement = torch.full((2 * reach, 2 * reach), float("nan"))
    padded = F.pad(received, (reach + block,) * 4, mode="replicate")
    patches = [padded[0, :, top + block + py : top + block + py + patch, left + block + px : left + block + px + patch] for py, px in phases]
    revealed = torch.sign(embedder.hider.reveal(torch.stack(patches)))
    pilots = embedder._pilots()[:, top // block : top // block + cells, left // block : left // block + cells]
    for index, (py, px) in enumerate(phases):
        for qy in range(2 * reach // block):
            for qx in range(2 * reach // block):
                read = revealed[index, :, qy : qy + cells, qx : qx + cells]
                agreement[py + block * qy, px + block * qx] = (read == pilots).float().mean()
    return agreement


def exhaustive(embedder: CanonicalINNEmbedder) -> CanonicalINNEmbedder:
    """A copy of ``embedder`` whose sync runs :func:`exhaustive_agreement_map`."""
    reference = embedder.keyed(embedder.seed)
    reference._agreement_map = functools.partial(exhaustive_agreement_map, reference)
    return reference


def assert_same_map(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal bit for bit, NaN (shifts not searched) where the other is NaN."""
    assert torch.equal(actual.isnan(), expected.isnan()) and torch.equal(actual.nan_to_num(), expected.nan_to_num())


def test_the_pilot_search_reveals_and_scores_exactly_like_the_reference(small_grid_checkpoint: Path) -> None:
    embedder = CanonicalINNEmbedder(small_grid_checkpoint).keyed(2)
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in embedder.hider.parameters():  # the zero-initialised output convolutions reveal nothing
            parameter.add_(0.1 * torch.randn_like(parameter))
    received = torch.rand(1, 3, 256, 256)
    with embedder._inference():
        for top, left, side, phases in ((24, 24, 64, [(0, 0), (3, 5), (7, 7)]), (200, 40, 32, [(py, px) for py in range(8) for px in range(8)])):
            actual = embedder._agreement_map(received, top, left, side, phases)
            assert_same_map(actual, exhaustive_agreement_map(embedder, received, top, left, side, phases))
            assert int(actual.isnan().sum()) == 32 * 32 - 16 * len(phases) and 0 < actual.nanmean() < 1


def test_shipped_model_pilot_search_finds_what_the_exhaustive_reference_finds() -> None:
    """After resizes, crops and JPEGs (and under another key, where there is nothing to find) the
    sync gives the grid map, bit for bit, that it gives with the reference agreement map; the
    full-window search on every shift too."""
    embedder = CanonicalINNEmbedder(DEFAULT_CHECKPOINT).keyed(5)
    cover = photo(1280, 960, seed=4)
    stego = embedder.embed(cover, np.random.default_rng(5).integers(0, 2, embedder.capacity_bits(*cover.size), dtype=np.uint8))
    channels = [
        platforms.Channel((75,), crop=(25, 0, 0, 24), long_side=1000),
        platforms.Channel((90, 70), crop=(7, 3, 11, 0), long_side=700),
        platforms.Channel((85,), crop=(0, 30, 28, 0), long_side=1500),
    ]
    with embedder._inference():
        for channel in channels:
            received = embedder._canonical(channel.apply(stego))
            assert embedder.synchronise(received) == exhaustive(embedder).synchronise(received) != GridMap()
        other_key = embedder.keyed(6)
        assert other_key.synchronise(received) == exhaustive(other_key).synchronise(received)
        every_phase = [(py, px) for py in range(8) for px in range(8)]
        top, left = embedder.windows()[1]
        expected = exhaustive_agreement_map(embedder, received, top, left, PILOT_WINDOW, every_phase)
        assert_same_map(embedder._agreement_map(received, top, left, PILOT_WINDOW, every_phase), expected)


def test_registered_for_the_application() -> None:
    assert "canonical" in pipeline.available_embedders() and pipeline.METHOD_IDS["canonical"] == 3
    assert pipeline.method_name(3) == "canonical" and pipeline.method_name(200) == "unknown"


def half_flat(width: int, height: int, seed: int = 0) -> Image.Image:
    """A cover whose left half is a flat grey (a sky, a wall) and right half a textured scene."""
    rng = np.random.default_rng(seed)
    pixels = procedural_image(rng, height, width).astype(np.float32)
    pixels += rng.normal(0, 20, (height, width, 1))  # a grain that masks the residual
    pixels[:, : width // 2] = 128
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def test_texture_gain_is_low_on_flat_areas_and_follows_the_cover_size(small_grid_checkpoint: Path) -> None:
    cover = half_flat(640, 480)
    image = pil_to_tensor(cover).unsqueeze(0)
    gain = DEFAULT_TEXTURE(image, 256)
    assert gain.shape == (1, 1, 480, 640)
    flat, textured = gain[..., :, :280], gain[..., :, 360:]
    assert torch.allclose(flat, torch.full_like(flat, DEFAULT_TEXTURE.floor))
    assert torch.allclose(textured, torch.full_like(textured, DEFAULT_TEXTURE.ceiling))
    assert torch.equal(TextureGain(floor=1.0, ceiling=1.0)(image, 256), torch.ones_like(gain))
    with pytest.raises(ValueError, match="invalid texture gain"):
        TextureGain(floor=0.0)
    # In the stego image the flat half changes less with the gain than without it, the textured half by the ceiling.
    bits = np.random.default_rng(0).integers(0, 2, 500, dtype=np.uint8)
    change = {}
    pattern = 0.02 * torch.sin(torch.arange(256.0)).view(1, 1, 1, 256)  # a residual of ±5 levels (the random hider's is nil)
    for texture in (DEFAULT_TEXTURE, None):
        embedder = CanonicalINNEmbedder(small_grid_checkpoint, strength=1.0, texture=texture).keyed(3)
        embedder.hide_tensor = lambda canonical, message: canonical + pattern
        stego = embedder.embed(cover, bits)
        difference = np.asarray(stego, dtype=float) - np.asarray(cover, dtype=float)
        change[texture] = np.abs(difference[:, :280]).mean(), np.abs(difference[:, 360:]).mean()
    assert change[DEFAULT_TEXTURE][0] < 0.75 * change[None][0]
    assert change[DEFAULT_TEXTURE][1] == pytest.approx(DEFAULT_TEXTURE.ceiling * change[None][1], rel=0.05)


def test_embed_is_a_pure_function_of_cover_bits_and_key(small_grid_checkpoint: Path) -> None:
    cover = photo(400, 300, seed=5)
    bits = np.random.default_rng(1).integers(0, 2, 300, dtype=np.uint8)
    first = CanonicalINNEmbedder(small_grid_checkpoint).keyed(11).embed(cover, bits)
    again = CanonicalINNEmbedder(small_grid_checkpoint).keyed(11).embed(cover.copy(), bits.copy())
    assert np.array_equal(np.asarray(first), np.asarray(again))


def test_an_embedding_at_another_strength_reuses_the_residual_and_gives_the_same_stego_image() -> None:
    """Embedding one cover and message again at another strength (``hide``'s rungs) runs the
    network once and gives the same pixels as a fresh start; a changed cover or a changed bit is
    another embedding."""
    from steganography.embedders import canonical

    def forget() -> None:
        canonical._RESIDUALS.clear()
        canonical._TEXTURE_GAINS.clear()

    embedder = CanonicalINNEmbedder(DEFAULT_CHECKPOINT).keyed(4)
    runs, hide_tensor = [], embedder.hide_tensor

    def counted(image: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        runs.append(image.shape)
        return hide_tensor(image, message)

    embedder.hide_tensor = counted  # the gentler copies share it
    gentlest = embedder.gentler()[0]
    cover = photo(640, 512, seed=3)
    bits = np.random.default_rng(2).integers(0, 2, embedder.capacity_bits(*cover.size), dtype=np.uint8)
    forget()
    fresh = np.asarray(gentlest.embed(cover, bits))
    forget()
    strong = np.asarray(embedder.embed(cover, bits))
    assert np.array_equal(np.asarray(gentlest.embed(cover, bits)), fresh) and len(runs) == 2
    assert not np.array_equal(strong, fresh)
    changed_cover, changed_bits = cover.copy(), bits.copy()
    changed_cover.putpixel((320, 256), (0, 0, 0))
    changed_bits[-1] ^= 1
    for other_cover, other_bits in ((changed_cover, bits), (cover, changed_bits)):
        forget()
        expected = np.asarray(gentlest.embed(other_cover, other_bits))
        forget()
        embedder.embed(cover, bits)
        runs.clear()
        assert np.array_equal(np.asarray(gentlest.embed(other_cover, other_bits)), expected) and len(runs) == 1


def test_shipped_model_round_trip_with_the_texture_gain_is_exact() -> None:
    """The receiver does not know the gain map: a payload hidden in a cover with a flat half
    comes back byte for byte, from the stego image and after a JPEG."""
    embedder = CanonicalINNEmbedder(DEFAULT_CHECKPOINT).keyed(9)
    assert embedder.texture == DEFAULT_TEXTURE
    cover = half_flat(640, 512, seed=2)
    audio = np.random.default_rng(4).integers(0, 256, 600, dtype=np.uint8).tobytes()
    bits = container.pack(audio, container.AudioMeta("codec2", 8000, 1), b"secret", 40, 13, pipeline.METHOD_IDS["canonical"])
    stego = embedder.embed(cover, bits)
    receiver = CanonicalINNEmbedder(DEFAULT_CHECKPOINT, texture=None).keyed(9)
    for received in (stego, platforms.Channel((85,)).apply(stego)):
        assert container.unpack(pipeline.extract_all(receiver, received), b"secret")[0] == audio


def test_gentler_variants_share_the_network_and_key(small_grid_checkpoint: Path) -> None:
    embedder = CanonicalINNEmbedder(small_grid_checkpoint, strength=1.5, ladder=(1.25, 0.7, 1.0, 2.0)).keyed(5)
    gentler = embedder.gentler()
    assert [variant.strength for variant in gentler] == [0.7, 1.0, 1.25]  # below its own, gentlest first
    assert all(variant.seed == 5 and variant.hider is embedder.hider and variant.texture is embedder.texture for variant in gentler)
    assert embedder.strength == 1.5 and CanonicalINNEmbedder(small_grid_checkpoint, ladder=()).gentler() == []
    with pytest.raises(ValueError, match="strengths must be positive"):
        CanonicalINNEmbedder(small_grid_checkpoint, ladder=(0.0,))


@pytest.fixture
def embedded_strengths(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The ``strength`` of every :meth:`CanonicalINNEmbedder.embed` call (probes, then the stego image)."""
    strengths, embed = [], CanonicalINNEmbedder.embed

    def recorded(self, cover, bits):
        strengths.append(self.strength)
        return embed(self, cover, bits)

    monkeypatch.setattr(CanonicalINNEmbedder, "embed", recorded)
    return strengths


def test_a_short_message_is_hidden_more_gently_than_a_long_one(embedded_strengths: list[float]) -> None:
    """The strength follows the message: the gentlest rung whose code still fits (a message at the
    capacity probes one gentler rung only), and the receiver reads either exactly without being
    told which."""
    embedder, meta = CanonicalINNEmbedder(DEFAULT_CHECKPOINT), container.AudioMeta("codec2", 8000, 1)
    cover = photo(640, 512, seed=3)
    fit, t, m = pipeline.max_payload_bytes(embedder, cover, 80, detectable_ok=True)
    used, psnr, gentle_probes = {}, {}, {}
    for size in (100, fit):
        embedded_strengths.clear()
        audio = np.random.default_rng(size).bytes(size)
        result = pipeline.hide(cover, audio, meta, b"key", embedder, 80, initial_code=(t, m), detectable_ok=True)
        used[size], psnr[size] = embedded_strengths[-1], psnr_8bit(np.asarray(result.stego), np.asarray(cover))
        gentle_probes[size] = sum(strength < DEFAULT_STRENGTH for strength in embedded_strengths)
        assert pipeline.reveal(platforms.Channel((80,)).apply(result.stego), b"key")[0] == audio
    assert used[100] < used[fit] == DEFAULT_STRENGTH and psnr[100] > psnr[fit] + 2 and gentle_probes[fit] == 1


def test_a_rung_whose_check_fails_hands_over_to_a_stronger_one(
    monkeypatch: pytest.MonkeyPatch, embedded_strengths: list[float]
) -> None:
    embedder, meta = CanonicalINNEmbedder(DEFAULT_CHECKPOINT), container.AudioMeta("codec2", 8000, 1)
    cover = photo(640, 512, seed=3)
    checked, check = [], pipeline._embed_checked

    def gentle_rungs_fail(*args, **kwargs):
        checked.append(args[4].strength)
        if args[4].strength < DEFAULT_STRENGTH:
            raise InputError("the stego image asks for a code that does not fit")
        return check(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_embed_checked", gentle_rungs_fail)
    audio = np.random.default_rng(0).bytes(100)
    result = pipeline.hide(cover, audio, meta, b"key", embedder, 80, detectable_ok=True)
    assert len(checked) >= 2 and checked == sorted(checked) and checked[-1] == DEFAULT_STRENGTH == embedded_strengths[-1]
    assert pipeline.reveal(result.stego, b"key")[0] == audio
