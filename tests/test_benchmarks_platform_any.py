"""The ``--platform any`` benchmark's helpers (benchmarks/platform_any.py): options given to every
canonical hider built inside a block, and the strengths its embeddings used, both undone after."""

from __future__ import annotations

import numpy as np
from PIL import Image

from datamodules.synthetic import procedural_image
from steganography.embedders.canonical import DEFAULT_STRENGTH, CanonicalINNEmbedder


def test_canonical_options_and_recorded_strengths_hold_inside_the_block_only(load_benchmark) -> None:
    bench = load_benchmark("platform_any")
    init, embed = CanonicalINNEmbedder.__init__, CanonicalINNEmbedder.embed
    cover = Image.fromarray(procedural_image(np.random.default_rng(0), 512, 512))
    with bench.canonical_options(strength=1.2, ladder=()), bench.recorded_strengths() as strengths:
        embedder = CanonicalINNEmbedder()
        embedder.embed(cover, np.ones(64, dtype=np.uint8))
        embedder.keyed(3).embed(cover, np.zeros(64, dtype=np.uint8))
    assert embedder.strength == 1.2 and embedder.gentler() == [] and strengths == [1.2, 1.2]
    assert CanonicalINNEmbedder.__init__ is init and CanonicalINNEmbedder.embed is embed
    assert CanonicalINNEmbedder().strength == DEFAULT_STRENGTH and CanonicalINNEmbedder().gentler()


def test_update_report_keeps_the_other_parts_of_the_report(load_benchmark, tmp_path) -> None:
    bench = load_benchmark("platform_any")
    path = tmp_path / "out" / "report.json"
    bench.update_report(path, "tune", {"ladder": [1.0]}, {"rows": [1]})
    result = bench.update_report(path, "held_out", {"ladder": [1.0, 1.2]}, {"rows": [2]})
    assert result["tune"] == {"rows": [1]} and result["held_out"] == {"rows": [2]} and result["ladder"] == [1.0, 1.2]
    assert {"tune_date", "tune_command", "held_out_host", "long_side"} <= set(result)
    assert bench.json.loads(path.read_text()) == bench.json.loads(bench.json.dumps(result))
