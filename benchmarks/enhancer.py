"""Enhancer benchmark: held-out mixtures the shipped model never saw, and real-time factor.

Mixtures: demo-synthesised target speech + a competing synthesised talker + synthesised noise
(coloured, babble, hum or machine), noise SNR uniform in [0, 10] dB, target-to-talker ratio
uniform in [5, 10] dB, drawn from seeds disjoint from the demo datamodule's. Systems: the noisy
input, ``noisereduce`` (non-stationary spectral gating, package defaults) and the shipped DCCRN
(``enhancer/checkpoints/dccrn_demo.pt``). Metrics: WB-PESQ, STOI, SI-SDR (common/metrics.py).
Real-time factor: full-size DCCRN-CL (random weights; speed does not depend on them) on 2 CPU
threads, median of repeated runs on 10 s of audio.

Usage (from the repository root)::

    python benchmarks/enhancer.py                   # writes benchmarks/results/enhancer.json
    python benchmarks/enhancer.py --num-mixtures 10 --seconds 3
    python benchmarks/enhancer.py --checkpoint candidate.pt --output candidate.json  # before shipping it
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script, this file would shadow the `enhancer` package it measures

import noisereduce  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from common.metrics import pesq_wb, si_sdr, stoi  # noqa: E402
from datamodules.mixing import mix  # noqa: E402
from datamodules.synthetic import synthesise_noise, synthesise_speech  # noqa: E402
from enhancer.dccrn import DCCRN  # noqa: E402
from enhancer.pretrained import DEFAULT_CHECKPOINT, enhance_waveform, load_pretrained_enhancer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "enhancer.json"
SAMPLE_RATE = 16000
BENCHMARK_SEED = 20261122  # the demo datamodule seeds items with [seed, split, index, stream]


def held_out_mixtures(count: int, seconds: float, seed: int = BENCHMARK_SEED) -> list[dict]:
    """``count`` (noisy, clean) pairs with a competing talker and noise at 0–10 dB SNR."""
    num_samples = int(seconds * SAMPLE_RATE)
    mixtures = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        clean = torch.from_numpy(synthesise_speech(rng, num_samples, SAMPLE_RATE))
        talker = torch.from_numpy(synthesise_speech(rng, num_samples, SAMPLE_RATE))
        noise = torch.from_numpy(synthesise_noise(rng, num_samples, SAMPLE_RATE))
        snr, talker_snr = float(rng.uniform(0.0, 10.0)), float(rng.uniform(5.0, 10.0))
        noisy, gain = mix(clean, noise, snr, talker, talker_snr, level_db=float(rng.uniform(-35.0, -15.0)))
        clean = clean * gain
        mixtures.append({"noisy": noisy, "clean": clean, "snr_db": snr, "talker_snr_db": talker_snr})
    return mixtures


def spectral_gating(noisy: torch.Tensor) -> torch.Tensor:
    """The ``noisereduce`` baseline (non-stationary spectral gating, defaults)."""
    out = noisereduce.reduce_noise(y=noisy.numpy(), sr=SAMPLE_RATE, stationary=False, n_jobs=1)
    return torch.from_numpy(np.asarray(out, dtype=np.float32))


def score(estimates: torch.Tensor, references: torch.Tensor) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of WB-PESQ, STOI and SI-SDR over ``(N, L)`` signals."""
    values = {
        "pesq": pesq_wb(estimates, references, SAMPLE_RATE),
        "stoi": stoi(estimates, references, SAMPLE_RATE).float(),
        "si_sdr": si_sdr(estimates, references).float(),
    }
    return {name: {"mean": float(v.nanmean()), "std": float(v[~v.isnan()].std())} for name, v in values.items()}


def real_time_factor(seconds: float = 10.0, threads: int = 2, repeats: int = 5) -> dict[str, float]:
    """Processing time / audio duration of full-size DCCRN-CL on ``threads`` CPU threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = DCCRN().eval()
        wave = torch.randn(1, int(seconds * SAMPLE_RATE)) * 0.05
        timings, cpu_timings = [], []
        with torch.no_grad():
            model(wave)  # warm-up
            for _ in range(repeats):
                start, cpu_start = time.perf_counter(), time.process_time()
                model(wave)
                timings.append(time.perf_counter() - start)
                cpu_timings.append(time.process_time() - cpu_start)
    finally:
        torch.set_num_threads(previous)
    return {
        "params": model.num_parameters(),
        "threads": threads,
        "audio_seconds": seconds,
        "median_seconds": statistics.median(timings),
        "rtf": statistics.median(timings) / seconds,
        "rtf_best": min(timings) / seconds,
        # CPU seconds per audio second (all threads): the cost without other processes'
        # contention; on idle cores the wall-clock RTF is about this divided by the threads.
        "cpu_seconds_per_audio_second": statistics.median(cpu_timings) / seconds,
        "load_average_1min": os.getloadavg()[0],
    }


def run(num_mixtures: int, seconds: float, checkpoint: Path = DEFAULT_CHECKPOINT) -> dict:
    mixtures = held_out_mixtures(num_mixtures, seconds)
    noisy = torch.stack([m["noisy"] for m in mixtures])
    clean = torch.stack([m["clean"] for m in mixtures])
    model = load_pretrained_enhancer(checkpoint)
    exported = torch.load(checkpoint, map_location="cpu", weights_only=True)
    timing = {}
    start = time.perf_counter()
    gated = torch.stack([spectral_gating(x) for x in noisy])
    timing["noisereduce"] = time.perf_counter() - start
    start = time.perf_counter()
    enhanced = torch.stack([enhance_waveform(model, x, SAMPLE_RATE) for x in noisy])
    timing["dccrn_demo"] = time.perf_counter() - start
    systems = {"noisy": noisy, "noisereduce": gated, "dccrn_demo": enhanced}
    results = {name: score(estimates, clean) for name, estimates in systems.items()}
    for name in ("noisereduce", "dccrn_demo"):
        results[name]["delta_pesq_vs_noisy"] = results[name]["pesq"]["mean"] - results["noisy"]["pesq"]["mean"]
        results[name]["rtf_1_thread_shared_machine"] = timing[name] / (num_mixtures * seconds)
    return {
        "date": datetime.date.today().isoformat(),
        "command": f"python benchmarks/enhancer.py --num-mixtures {num_mixtures} --seconds {seconds}"
        + ("" if checkpoint == DEFAULT_CHECKPOINT else f" --checkpoint {checkpoint}"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared)",
        "mixtures": {
            "count": num_mixtures, "seconds": seconds, "seed": BENCHMARK_SEED, "noise_snr_db": [0.0, 10.0],
            "talker_snr_db": [5.0, 10.0], "level_dbfs": [-35.0, -15.0],
            "description": "synthesised speech + synthesised competing talker + synthesised noise, seeds unseen in training",
        },
        "shipped_model": {"path": str(checkpoint.relative_to(ROOT) if checkpoint.is_relative_to(ROOT) else checkpoint), "params": model.num_parameters(), "config": exported["config"]},
        "results": results,
        "dccrn_cl_real_time_factor": real_time_factor(),
    }


def print_table(report: dict) -> None:
    print(f"Held-out mixtures: {report['mixtures']['count']} x {report['mixtures']['seconds']} s "
          f"(noise 0-10 dB SNR + competing talker 5-10 dB), {report['date']}")
    print(f"{'system':<14}{'WB-PESQ':>14}{'STOI':>14}{'SI-SDR (dB)':>16}{'dPESQ':>8}")
    for name, r in report["results"].items():
        cells = "".join(f"{r[m]['mean']:>9.3f}±{r[m]['std']:<4.2f}" for m in ("pesq", "stoi"))
        delta = r.get("delta_pesq_vs_noisy")
        print(f"{name:<14}{cells}{r['si_sdr']['mean']:>11.2f}±{r['si_sdr']['std']:<4.1f}{'' if delta is None else f'{delta:+8.3f}'}")
    rtf = report["dccrn_cl_real_time_factor"]
    print(f"DCCRN-CL ({rtf['params'] / 1e6:.2f}M params) on {rtf['threads']} CPU threads: RTF {rtf['rtf']:.3f} "
          f"(median of 5 x {rtf['audio_seconds']:.0f} s; best {rtf['rtf_best']:.3f}; 1-min load average {rtf['load_average_1min']:.1f}); "
          f"CPU time {rtf['cpu_seconds_per_audio_second']:.3f} s per audio second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-mixtures", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="exported enhancer to measure")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON report")
    parser.add_argument("--table", action="store_true", help="print the stored results only")
    args = parser.parse_args()
    if args.table:
        print_table(json.loads(args.output.read_text()))
        return
    torch.set_num_threads(1)
    report = run(args.num_mixtures, args.seconds, args.checkpoint.resolve())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)


if __name__ == "__main__":
    main()
