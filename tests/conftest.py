"""Test-suite settings and shared fixtures.

Property-based tests draw the same examples in every run (derandomised Hypothesis, no example
database), so the suite passes or fails the same way each time.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import settings

from common.speech_synthesis import synthesise_speech
from datamodules.real_speech import write_manifest

SPEAKERS = ("anna", "bert", "cleo", "dora")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

settings.register_profile("stegavox", derandomize=True, database=None, deadline=None)
settings.load_profile("stegavox")


@pytest.fixture(scope="session")
def real_speech_corpus(tmp_path_factory):
    """A prepared-corpus layout: 4 speakers x 6 utterances, ``dora`` held out, 1 val prompt each."""
    root = tmp_path_factory.mktemp("real_speech")
    rows = []
    for s, speaker in enumerate(SPEAKERS):
        for u in range(6):
            relative = f"wav/{speaker}/xx_prompt{u}.wav"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            wave = 0.3 * synthesise_speech(np.random.default_rng([s, u]), 12000 + 2000 * u, 16000)
            sf.write(str(root / relative), wave, 16000, subtype="PCM_16")
            split = "val" if speaker == "dora" or u == 0 else "train"
            rows.append({"path": relative, "package": f"pkg-{speaker}", "speaker": speaker, "language": "xx",
                         "licence": "CC0", "duration": f"{len(wave) / 16000:.3f}", "band_limited": int(s == 1),
                         "source_rate": 8000 if s == 1 else 16000, "split": split})
    write_manifest(root / "manifest.csv", rows)
    return root


@pytest.fixture(scope="session")
def load_benchmark():
    """Load a script of ``benchmarks/`` by name (e.g. ``"faults"``) as a module."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"stegavox_{name}_benchmark", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module

    return load
