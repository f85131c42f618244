"""What the fast commands import: ``reveal`` to WAV and the hide audio path without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from common.payload import codecs, container
from steganography.embedders import pipeline

PASSPHRASE = "startup test passphrase"
HEAVY = ("torch", "torchaudio", "lightning", "enhancer")
ROOT = Path(__file__).resolve().parents[3]


def heavy_modules_after(code: str, tmp_path: Path) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    probe = code + f"\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    env = {**os.environ, "STEGAVOX_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def speech(seconds: float) -> np.ndarray:
    time = np.arange(int(seconds * 16000)) / 16000
    return (0.2 * sum(np.sin(2 * np.pi * 140 * k * time) / k for k in range(1, 6))).astype(np.float32)


@pytest.mark.parametrize("codec", ["codec2", "opus"])
def test_reveal_to_wav_imports_no_torch(codec: str, tmp_path: Path) -> None:
    if codec == "codec2":
        pytest.importorskip("pycodec2")
    audio = codecs.encode_audio(speech(0.4), 16000, codec)
    meta = container.AudioMeta(codec, codecs.encoded_sample_rate(codec, 16000), 1)
    rng = np.random.default_rng(0)
    cover = Image.fromarray((rng.random((360, 420, 3)) * 120 + 60).astype(np.uint8))
    embedder = pipeline.make_embedder("classical")
    stego = pipeline.hide(cover, audio, meta, PASSPHRASE.encode(), embedder, 75, detectable_ok=True).stego
    stego.save(tmp_path / "stego.png")
    heavy = heavy_modules_after(
        "from steganography.app import cli\n"
        "assert cli.main(['reveal', '--stego', 'stego.png', '--out', 'out.wav', '--force']) == 0",
        tmp_path,
    )
    assert heavy == []
    wave, rate = sf.read(tmp_path / "out.wav")
    assert rate == codecs.encoded_sample_rate(codec, 16000) and abs(wave.shape[0] / rate - 0.4) < 0.05


def test_hide_audio_path_imports_no_torch(tmp_path: Path) -> None:
    """Read, mix down, resample and encode speech, then hide it: numpy only."""
    sf.write(tmp_path / "speech.wav", np.stack([speech(0.5)] * 2, axis=1), 16000)
    heavy = heavy_modules_after(
        "import numpy as np\n"
        "from PIL import Image\n"
        "from common.audio import load_audio_array, resample_array\n"
        "from common.payload import codecs, container\n"
        "from steganography.embedders import pipeline\n"
        "wave, rate = load_audio_array('speech.wav')\n"
        "wave = resample_array(wave, rate, 22050)\n"
        "audio = codecs.encode_audio(wave, 22050, 'flac')\n"
        "meta = container.AudioMeta('flac', 22050, 1)\n"
        "cover = Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8))\n"
        "pipeline.hide(cover, audio[:200], meta, b'pass', pipeline.make_embedder('classical'), 75, detectable_ok=True)",
        tmp_path,
    )
    assert heavy == []
