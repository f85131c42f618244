from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from common.errors import InputError
from common.payload import container
from steganography.app import pipeline
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
        pipeline.hide(cover, bytes(5000), meta, b"key", embedder, 75)
    assert 0 < error.value.fit_bytes < 5000 and error.value.needed_bytes == 5000
    audio = rng.bytes(error.value.fit_bytes // 2)
    result = pipeline.hide(cover, audio, meta, b"key", embedder, 75)
    assert result.survives_target and set(result.bit_error_rates) == {75, 80, 85}
    assert pipeline.reveal(result.stego, b"key", ClassicalEmbedder(quality_target=90))[0] == audio


def test_code_margin_is_the_embedders_own_or_the_default() -> None:
    from steganography.embedders.canonical import CanonicalINNEmbedder
    from steganography.embedders.classical import ClassicalEmbedder

    assert pipeline._margin(ClassicalEmbedder()) == pipeline.RETRY_MARGIN
    assert CanonicalINNEmbedder.design_margin == 2.0 > pipeline.RETRY_MARGIN
    assert pipeline.calibration_qualities(75, (0,)) == [75] and pipeline.calibration_qualities(75, None) == [75, 80, 85]
