from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from common.errors import InputError
from common.payload import container
from steganography.embedders import pipeline
from steganography.embedders.classical import ClassicalEmbedder


def test_registry_builds_embedders_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "_EMBEDDERS", dict(pipeline._EMBEDDERS))
    pipeline.register_embedder("strong", "steganography.embedders.classical:ClassicalEmbedder")
    assert {"classical", "strong"} <= set(pipeline.available_embedders())
    embedder = pipeline.make_embedder("strong", quality_target=50)
    assert isinstance(embedder, ClassicalEmbedder) and embedder.quality_target == 50
    with pytest.raises(InputError, match="unknown method"):
        pipeline.make_embedder("nope")


def test_calibration_qualities() -> None:
    assert pipeline.calibration_qualities(75) == [75, 80, 85]
    assert pipeline.calibration_qualities(92) == [92, 95]
    assert pipeline.calibration_qualities(98) == [98]


def test_code_suffices_matches_choose_code() -> None:
    rates = {75: 0.004, 80: 0.008}
    t, m = pipeline.choose_code(rates, 75)
    assert pipeline.code_suffices(t, m, rates)
    assert not pipeline.code_suffices(t - 1, m, rates)
    with pytest.raises(InputError, match="cannot carry data"):
        pipeline.choose_code({75: 0.3}, 75)


def test_hide_reports_what_fits_and_reveal_round_trip() -> None:
    rng = np.random.default_rng(0)
    cover = Image.fromarray(np.clip(rng.normal(128, 30, (256, 320, 3)), 0, 255).astype(np.uint8))
    embedder = ClassicalEmbedder()
    meta = container.AudioMeta("flac", 16000, 1)
    with pytest.raises(pipeline.CoverTooSmallError) as error:
        pipeline.hide(cover, bytes(5000), meta, b"key", embedder, 75, detectable_ok=True)
    assert 0 < error.value.fit_bytes < 5000 and error.value.needed_bytes == 5000
    audio = rng.bytes(error.value.fit_bytes // 2)
    result = pipeline.hide(cover, audio, meta, b"key", embedder, 75, detectable_ok=True)
    assert result.survives_target and set(result.bit_error_rates) == {75, 80, 85}
    assert pipeline.reveal(result.stego, b"key", ClassicalEmbedder(quality_target=90))[0] == audio


def test_code_margin_is_the_embedders_own_or_the_default() -> None:
    from steganography.embedders.canonical import CanonicalINNEmbedder
    from steganography.embedders.classical import ClassicalEmbedder

    assert pipeline._margin(ClassicalEmbedder()) == pipeline.RETRY_MARGIN
    assert CanonicalINNEmbedder.design_margin == 2.0 > pipeline.RETRY_MARGIN
    assert pipeline.calibration_qualities(75, (0,)) == [75] and pipeline.calibration_qualities(75, None) == [75, 80, 85]


def test_hide_stays_within_the_covert_capacity_unless_told_otherwise() -> None:
    from datamodules.synthetic import textured_cover

    cover = textured_cover(21, 720, 960)
    embedder = ClassicalEmbedder(quality_target=75)
    capacity = embedder.capacity_bits(*cover.size)
    covert = pipeline.covert_capacity_bits(embedder, *cover.size)
    assert covert == int(embedder.covert_fraction * capacity) and 0 < covert <= capacity
    meta = container.AudioMeta("codec2", 8000, 1)
    fit, t, m = pipeline.max_payload_bytes(embedder, cover, 75)
    most, t_most, m_most = pipeline.max_payload_bytes(embedder, cover, 75, detectable_ok=True)
    assert 0 < fit < most and fit == container.max_payload_bytes(covert, t, m)
    # The detectable maximum is the maximal design's (one coefficient per bit), with its own code.
    assert most == container.max_payload_bytes(embedder.maximal().capacity_bits(*cover.size), t_most, m_most)
    audio = np.random.default_rng(1).bytes(fit // 2)
    result = pipeline.hide(cover, audio, meta, b"key", embedder, 75, initial_code=(t, m))
    assert result.frame_bits <= covert
    assert pipeline.reveal(result.stego, b"key")[0] == audio
    # Beyond the covert capacity: refused with both figures, unless the sender accepts detection.
    longer = audio + bytes(fit)
    with pytest.raises(pipeline.CoverTooSmallError, match="--detectable-ok") as refusal:
        pipeline.hide(cover, longer, meta, b"key", embedder, 75, initial_code=(t, m))
    assert refusal.value.fit_bytes == fit
    assert refusal.value.detectable_fit_bytes == container.max_payload_bytes(embedder.maximal().capacity_bits(*cover.size), t, m)
    detectable = pipeline.hide(cover, longer, meta, b"key", embedder, 75, initial_code=(t_most, m_most), detectable_ok=True)
    assert covert < detectable.frame_bits <= embedder.maximal().capacity_bits(*cover.size)
    assert detectable.capacity_bits == embedder.maximal().capacity_bits(*cover.size)  # the maximal design
    assert pipeline.reveal(detectable.stego, b"key")[0] == longer


def test_a_frame_at_the_limit_is_redrawn_before_it_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """capacity == hide: a frame that fits with the measured code but whose own check asks for
    more (its few errors, by chance) is packed again with the same code, not refused."""
    rng = np.random.default_rng(1)
    cover = Image.fromarray(np.clip(rng.normal(128, 30, (256, 320, 3)), 0, 255).astype(np.uint8))
    embedder, meta = ClassicalEmbedder(), container.AudioMeta("flac", 16000, 1)
    fit, t, m = pipeline.max_payload_bytes(embedder, cover, 75, detectable_ok=True)
    measure, draws = pipeline.measure_bit_error_rates, []

    def unlucky_first_draw(*args, **kwargs):
        rates, soft = measure(*args, **kwargs)
        draws.append(args[2].copy())
        return ({label: 0.02 for label in rates} if len(draws) == 1 else rates), soft

    monkeypatch.setattr(pipeline, "measure_bit_error_rates", unlucky_first_draw)
    audio = rng.bytes(fit)
    result = pipeline.hide(cover, audio, meta, b"key", embedder, 75, initial_code=(t, m), detectable_ok=True)
    assert (result.bch_t, result.bch_m) == (t, m) and len(draws) == 2 and not np.array_equal(*draws)
    assert pipeline.reveal(result.stego, b"key", embedder)[0] == audio


def test_the_ladder_tries_the_variants_whose_frame_fits_least_footprint_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from datamodules.synthetic import textured_cover

    design = ClassicalEmbedder(quality_target=70, step_multiple=3.0)
    cover = textured_cover(5, 640, 640)
    limit = pipeline.covert_capacity_bits(design, *cover.size)
    code = pipeline.probed_code(design, cover, 70, floor_bits=limit)
    payload = 20

    def order() -> list[float]:
        rungs = list(pipeline.ladder(design, cover, payload, code, limit, 70))
        for rung, rung_code in rungs:
            assert container.frame_bits(payload, *rung_code) <= limit
        footprints = [rung.footprint(container.frame_bits(payload, *rung_code)) for rung, rung_code in rungs]
        assert footprints == sorted(footprints) and any(rung is design for rung, _ in rungs)
        return [rung.step_multiple for rung, _ in rungs]

    assert order() == [2.0, 2.5, 3.0]  # a short frame: the finest lattice changes the least
    monkeypatch.setattr(ClassicalEmbedder, "footprint", lambda self, bits: -self.step_multiple)
    assert order() == [3.0, 2.5, 2.0]
