"""Data-loading rate of the COCO, LibriSpeech and DNS datamodules next to what one A100 consumes.

For each experiment of ``trainer_configs/`` (and the plain LibriSpeech datamodule) the training
loader is built as the config builds it (its datamodule, crop/segment settings and batch size)
on a small folder in the dataset's real on-disk layout, generated here with realistic file
sizes: COCO ``train2017/val2017`` JPEGs of 640×480 (photos, Q90), LibriSpeech
``<split>/<speaker>/<chapter>/*.flac`` utterances of 10–15 s at 16 kHz with their
``.trans.txt``, DNS ``datasets/{clean,noise,impulse_responses}`` WAVs (30 s read speech, 10 s
noise, 1 s room responses). Samples/s is measured with ``num_workers`` = 0, 1, 2 (warm-up
batches, worker start-up and prefetch included, are not timed; the median of several repeats). The small
dataset is cycled so no epoch boundary falls in a timed run, and the files sit in the page cache:
the rates are decode- and CPU-bound, not disk-bound.

The GPU side is a projection, not a measurement: the training FLOPs of one sample (forward +
backward, ``torch.utils.flop_counter.FlopCounterMode``; for ``inn.yaml`` the count of
``benchmarks/results/inn_throughput.json``, the others counted here on CPU at a small batch, the
count being linear in the batch) and an A100 at ``--utilisation`` of its 312 TFLOP/s bf16 dense
peak give the samples/s one GPU consumes, and ``ceil(that / samples/s of one worker)`` the loader
workers it needs. Work the loader does not do is not counted (e.g. the enhancer's real
PESQ/STOI scoring, which runs in its own ``score_workers`` processes).

Rates depend on how busy the machine is: every experiment's rates are also given relative to a
reference (decoding one 640×480 JPEG, single thread, in the main process) timed just before
that experiment's loaders, and the load average is recorded.

Run: ``python -m benchmarks.dataloader [--root data/bench_layouts] [--items 128] [--repeats 3]
[--samples 64] [--workers 0 1 2] [--utilisation 0.4] [--output benchmarks/results/dataloader.json]``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import io
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import yaml
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from common.speech_synthesis import synthesise_speech
from datamodules.base import SplitDataModule
from datamodules.coco import COCODataModule
from datamodules.dns import DNSDataModule
from datamodules.image_audio import ImageAudioDataModule
from datamodules.librispeech import LibriSpeechDataModule

ROOT = Path(__file__).resolve().parents[1]
A100_BF16_TFLOPS = 312.0
#: Training GFLOP per sample already measured by another benchmark: experiment -> (file, config).
MEASURED_FLOPS = {"inn": ("benchmarks/results/inn_throughput.json", "inn.yaml")}


# ----------------------------------------------------------------------------- layouts
def photo(rng: np.random.Generator, width: int = 640, height: int = 480) -> Image.Image:
    """A photo-like ``width`` x ``height`` image: a random crop of a scikit-image photo (or smooth
    gradients when scikit-image is missing) with sensor-like noise, so JPEG sizes are realistic."""
    try:
        from datamodules.sample_photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, sample_photo

        names = [name for name in (*TRAIN_PHOTOS, *HELD_OUT_PHOTOS) if name not in ("colorwheel",)]
        source = Image.fromarray(sample_photo(names[int(rng.integers(len(names)))]))
        scale = max(width / source.width, height / source.height) * float(rng.uniform(1.0, 1.5))
        source = source.resize((math.ceil(source.width * scale), math.ceil(source.height * scale)), Image.BICUBIC)
        left, top = int(rng.integers(source.width - width + 1)), int(rng.integers(source.height - height + 1))
        base = np.asarray(source.crop((left, top, left + width, top + height)), dtype=np.float32)
    except ImportError:
        y, x = np.mgrid[0:height, 0:width]
        phase = rng.uniform(0, 6.3, 3)
        base = np.stack([128 + 70 * np.sin(x / (9.0 + 4 * k) + y / 23.0 + phase[k]) for k in range(3)], axis=-1)
    noisy = base + rng.normal(0, 4, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def build_coco(root: Path, count: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> Path:
    """``root/{train2017,val2017}/<id:012d>.jpg`` (Q90, ``count`` training and ``count // 8 + 2``
    validation images) as the COCO archives unpack; reused when already there."""
    rng = np.random.default_rng(seed)
    for split, number in (("train", count), ("val", count // 8 + 2)):
        folder = root / f"{split}2017"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(number):
            path = folder / f"{index:012d}.jpg"
            if not path.exists():
                image = photo(rng, *size)
                if rng.random() < 0.5:  # COCO mixes landscape and portrait photos
                    image = image.transpose(Image.Transpose.ROTATE_90)
                image.save(path, quality=90)
    return root


def write_audio(path: Path, wave: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, rate)


def build_librispeech(root: Path, count: int, seconds: tuple[float, float] = (10.0, 15.0), seed: int = 0) -> Path:
    """``root/LibriSpeech/{train-clean-100,dev-clean}/<speaker>/<chapter>/`` FLAC utterances of
    ``seconds`` at 16 kHz (``count`` for training, ``count // 8 + 2`` for dev), 8 per chapter,
    with the chapter's ``<speaker>-<chapter>.trans.txt``. Returns the ``LibriSpeech`` folder."""
    rng = np.random.default_rng(seed)
    base = root / "LibriSpeech"
    for split, number, first_speaker in (("train-clean-100", count, 19), ("dev-clean", count // 8 + 2, 84)):
        for start in range(0, number, 8):
            speaker, chapter = first_speaker + start // 16, 121123 + start // 8
            folder = base / split / str(speaker) / str(chapter)
            lines = []
            for n in range(start, min(start + 8, number)):
                utterance = f"{speaker}-{chapter}-{n % 8:04d}"
                path = folder / f"{utterance}.flac"
                length = int(rng.uniform(*seconds) * 16000)
                if not path.exists():
                    write_audio(path, synthesise_speech(np.random.default_rng([seed, n, number]), length, 16000), 16000)
                lines.append(f"{utterance} SOME WORDS OF UTTERANCE {n}")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return base


def build_dns(root: Path, count: int, clean_seconds: float = 30.0, noise_seconds: float = 10.0, seed: int = 0) -> Path:
    """``root/DNS-Challenge/datasets/{clean/read_speech, noise, impulse_responses/SLR26}`` WAVs at
    16 kHz: ``count`` clean clips of ``clean_seconds``, ``count // 2`` noise clips of
    ``noise_seconds`` and ``count // 4`` room impulse responses of 1 s. Returns ``DNS-Challenge``."""
    rng = np.random.default_rng(seed)
    base = root / "DNS-Challenge"
    data = base / "datasets"
    for i in range(count):
        path = data / "clean" / "read_speech" / f"book_{i:05d}_chp_0001_reader_{i % 37:05d}_{i}.wav"
        if not path.exists():
            write_audio(path, synthesise_speech(np.random.default_rng([seed, i]), int(clean_seconds * 16000), 16000), 16000)
    for i in range(max(2, count // 2)):
        path = data / "noise" / f"noise_fileid_{i}.wav"
        if not path.exists():
            noise = np.cumsum(rng.standard_normal(int(noise_seconds * 16000))).astype(np.float32)
            noise = noise - np.convolve(noise, np.ones(64) / 64, mode="same")  # coloured, zero-mean
            write_audio(path, (0.3 * noise / np.abs(noise).max()).astype(np.float32), 16000)
    for i in range(max(2, count // 4)):
        path = data / "impulse_responses" / "SLR26" / f"room_{i}.wav"
        if not path.exists():
            t = np.arange(16000) / 16000
            rir = rng.standard_normal(t.size) * np.exp(-t / float(rng.uniform(0.05, 0.3)))
            rir[: int(rng.integers(20, 200))] = 0.0
            write_audio(path, (0.5 * rir / np.abs(rir).max()).astype(np.float32), 16000)
    return base


def build_layouts(root: Path, count: int) -> dict[str, Path]:
    """The three layouts under ``root`` (built once; existing files are kept)."""
    return {
        "coco": build_coco(root / "coco", count),
        "librispeech": build_librispeech(root, count),
        "dns": build_dns(root, count),
    }


# ----------------------------------------------------------------------------- experiments
def config(name: str) -> dict:
    return yaml.safe_load((ROOT / "trainer_configs" / name).read_text())


def experiments(layouts: dict[str, Path]) -> list[dict[str, Any]]:
    """Experiment -> the datamodule its config builds (data paths pointed at ``layouts``)."""

    def data_args(name: str, **paths: Any) -> dict:
        return {**config(name)["data"]["init_args"], **paths, "num_workers": 0}

    speech = layouts["librispeech"]
    return [
        {"experiment": "inn", "config": "inn.yaml", "datamodule": COCODataModule,
         "init_args": data_args("inn.yaml", root=str(layouts["coco"]))},
        {"experiment": "cnn_image_in_image", "config": "cnn_image_in_image.yaml", "datamodule": COCODataModule,
         "init_args": data_args("cnn_image_in_image.yaml", root=str(layouts["coco"]))},
        {"experiment": "inn_image_in_image", "config": "inn_image_in_image.yaml", "datamodule": COCODataModule,
         "init_args": data_args("inn_image_in_image.yaml", root=str(layouts["coco"]))},
        {"experiment": "pixinwav", "config": "pixinwav.yaml", "datamodule": ImageAudioDataModule,
         "note": "host audio: the LibriSpeech layout (16 kHz FLAC resampled to 44.1 kHz), as the config's comment allows",
         "init_args": data_args("pixinwav.yaml", image_root=str(layouts["coco"]), audio_root=str(speech),
                                train_audio_dir="train-clean-100", val_audio_dir="dev-clean")},
        {"experiment": "enhancer", "config": "enhancer.yaml", "datamodule": DNSDataModule,
         "init_args": data_args("enhancer.yaml", root=str(layouts["dns"]))},
        {"experiment": "enhancer (LibriSpeech clean)", "config": "enhancer.yaml", "datamodule": DNSDataModule,
         "note": "DNS mixing with clean_dirs = the LibriSpeech train-clean-100 FLAC folder",
         "init_args": data_args("enhancer.yaml", root=str(layouts["dns"]), clean_dirs=[str(speech / "train-clean-100")])},
        {"experiment": "librispeech", "config": None, "datamodule": LibriSpeechDataModule,
         "note": "LibriSpeechDataModule defaults (4 s crops, batch 8); no training config reads it directly",
         "init_args": {"root": str(speech)}},
    ]  # fmt: skip


# ----------------------------------------------------------------------------- loader rate
class Cycled(Dataset):
    """``dataset`` repeated to ``length`` items, so that a timed run never meets an epoch end."""

    def __init__(self, dataset: Dataset, length: int) -> None:
        self.dataset, self.length = dataset, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index % len(self.dataset)]


def training_loader(datamodule: SplitDataModule, num_workers: int, length: int) -> DataLoader:
    """The datamodule's own training loader (same batch size, collation, shuffling, pinning,
    persistent workers) with ``num_workers`` workers over its training set cycled to ``length``."""
    datamodule.num_workers = num_workers
    loader = datamodule.train_dataloader()
    return DataLoader(
        Cycled(loader.dataset, length), batch_size=loader.batch_size, shuffle=True, num_workers=num_workers,
        collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
        persistent_workers=num_workers > 0,
    )  # fmt: skip


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of this process and of the processes ``pids`` (Linux ``/proc``)."""
    own = os.times()
    total = own.user + own.system
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def loader_rate(datamodule: SplitDataModule, num_workers: int, samples: int, repeats: int) -> dict[str, Any]:
    """Samples/s of the training loader with ``num_workers`` workers: ``repeats`` timed runs of
    ``ceil(samples / batch size)`` batches (at least 2) each, after untimed warm-up batches (worker
    start-up, and the batches the workers prefetch while starting: 2 + 2 per worker).

    Also samples per CPU-second (this process and its workers together): what the loader does on
    cores of its own, whatever else the machine runs."""
    batch_size = datamodule.batch_size
    batches, warmup = max(2, math.ceil(samples / batch_size)), 2 + 2 * num_workers
    loader = training_loader(datamodule, num_workers, (warmup + batches * repeats + 1) * batch_size)
    iterator = iter(loader)
    pids = [worker.pid for worker in getattr(iterator, "_workers", [])]
    for _ in range(warmup):
        next(iterator)
    rates, cpu_rates = [], []
    for _ in range(repeats):
        cpu, started = cpu_seconds(pids), time.perf_counter()
        for _ in range(batches):
            next(iterator)
        rates.append(batches * batch_size / (time.perf_counter() - started))
        cpu_rates.append(batches * batch_size / max(cpu_seconds(pids) - cpu, 1e-3))
    del iterator, loader  # stops the persistent workers
    return {"num_workers": num_workers, "samples_per_second": statistics.median(rates),
            "samples_per_cpu_second": statistics.median(cpu_rates), "timed_batches": batches, "warmup_batches": warmup,
            "repeats": [round(r, 3) for r in rates], "repeats_per_cpu_second": [round(r, 3) for r in cpu_rates]}  # fmt: skip


def reference_rate(seconds: float = 1.0, seed: int = 0) -> float:
    """Decodes/s of one 640×480 Q90 JPEG (Pillow, main process): the machine's speed right now."""
    buffer = io.BytesIO()
    photo(np.random.default_rng(seed)).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        Image.open(io.BytesIO(data)).convert("RGB").load()
        count += 1
    return count / (time.perf_counter() - started)


# ----------------------------------------------------------------------------- FLOPs
def build(spec: dict) -> Any:
    module, _, name = spec["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**spec.get("init_args", {}))


def fake_batch(experiment: str, data: dict, batch_size: int) -> dict[str, torch.Tensor]:
    """Random inputs shaped as the experiment's training batches."""
    if experiment in ("cnn_image_in_image", "inn_image_in_image"):
        size = data["image_size"]
        return {"image": torch.rand(batch_size, 3, size, size), "secret": torch.rand(batch_size, 3, size, size)}
    if experiment == "pixinwav":
        size = data["image_size"]
        return {"image": torch.rand(batch_size, 3, size, size), "audio": 0.1 * torch.randn(batch_size, 1, data["num_samples"])}
    if experiment.startswith("enhancer"):
        length = int(data["segment_seconds"] * data["sample_rate"])
        clean = 0.1 * torch.randn(batch_size, 1, length)
        return {"clean": clean, "noisy": clean + 0.05 * torch.randn_like(clean)}
    raise ValueError(f"no FLOP count for {experiment}")


def training_flops(experiment: str, config_name: str, batch_size: int = 2) -> float:
    """FLOPs of one training sample (forward + backward of one step of ``batch_size``, divided by
    it) of the task built from ``trainer_configs/<config_name>``.

    The image and PixInWav tasks are counted on meta tensors (no arithmetic is done; the counts
    equal those of a CPU run). The enhancer runs on CPU with logging stubbed, Lightning's
    manual-optimisation plumbing replaced by plain ``backward()`` and the real PESQ/STOI scores
    (CPU metrics, outside the FLOP count) by random ones; its history buffer is still empty, so
    the replayed discriminator items are not counted."""
    section = config(config_name)
    task_spec = dict(section["model"])
    init_args = dict(task_spec.get("init_args", {}))
    enhancer = experiment.startswith("enhancer")
    if enhancer:
        init_args["score_workers"] = 0
    torch.manual_seed(0)
    with torch.device("cpu" if enhancer else "meta"):
        task = build({"class_path": task_spec["class_path"], "init_args": init_args})
        batch = fake_batch(experiment, section["data"]["init_args"], batch_size)
    task.log_stage = lambda *args, **kwargs: None
    if not enhancer:
        with FlopCounterMode(display=False) as counter:
            task.training_step(batch, 0).backward()
        return counter.get_total_flops() / batch_size
    optimizers = task.configure_optimizers()
    task.optimizers = lambda: optimizers
    task.scorer = lambda estimates, references: torch.rand(estimates.shape[0], len(task.discriminator.metrics))

    def backward(optimizer: torch.optim.Optimizer, loss: torch.Tensor, gradient_clip: float) -> bool:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return True

    task.optimizer_step_guarded = backward
    with FlopCounterMode(display=False) as counter:
        task.training_step(batch, 0)
    return counter.get_total_flops() / batch_size


def measured_flops(experiment: str) -> tuple[float, str] | None:
    """``(FLOPs per sample, source)`` of an experiment another benchmark already counted."""
    if experiment not in MEASURED_FLOPS:
        return None
    file, config_name = MEASURED_FLOPS[experiment]
    path = ROOT / file
    if not path.is_file():
        return None
    for row in json.loads(path.read_text()).get("throughput", []):
        if row.get("config") == config_name:
            return row["training_gflop_per_image"] * 1e9, f"{file} ({config_name}, FlopCounterMode, LPIPS off)"
    return None


def a100_need(flops_per_sample: float, batch_size: int, utilisation: float, peak_tflops: float = A100_BF16_TFLOPS) -> dict:
    """Samples/s and steps/s one GPU of ``peak_tflops`` consumes at ``utilisation``."""
    samples = peak_tflops * 1e12 * utilisation / flops_per_sample
    return {"samples_per_second": samples, "steps_per_second": samples / batch_size}


def workers_needed(needed_samples_per_second: float, samples_per_second_per_worker: float) -> int:
    """Loader workers that feed the GPU: ``ceil(needed / per worker)`` (at least 1)."""
    if samples_per_second_per_worker <= 0:
        raise ValueError("a worker rate must be positive")
    return max(1, math.ceil(needed_samples_per_second / samples_per_second_per_worker - 1e-9))


# ----------------------------------------------------------------------------- the benchmark
def measure(
    experiment: dict[str, Any],
    workers: list[int],
    samples: int,
    repeats: int,
    utilisation: float,
    flops: Callable[[str, str], float | tuple[float, str] | None] | None = None,
    reference_seconds: float = 1.0,
) -> dict[str, Any]:
    """One experiment's row: loader rates per ``workers`` setting, per-worker rate, FLOPs per
    sample, the A100 need and the workers it takes. ``flops(experiment, config)`` gives the FLOPs
    per sample (or ``(flops, source)``, or ``None``); default: :func:`measured_flops`, else
    :func:`training_flops`."""
    reference = reference_rate(reference_seconds)
    datamodule = experiment["datamodule"](**experiment["init_args"])
    datamodule.setup("fit")
    batch_size = datamodule.batch_size
    settings = []
    for count in workers:
        result = loader_rate(datamodule, count, samples, repeats)
        result["relative_to_reference"] = result["samples_per_second"] / reference
        settings.append(result)
        rate = result["samples_per_second"]
        print(f"  {experiment['experiment']}: {count} workers {rate:.1f} samples/s {result['repeats']}", flush=True)
    by_workers = {s["num_workers"]: s for s in settings}
    # One worker is one process decoding; without a one-worker run, the best wall rate per worker.
    one = by_workers.get(1)
    per_worker = one["samples_per_second"] if one else max(s["samples_per_second"] / max(n, 1) for n, s in by_workers.items())
    per_core = (one or by_workers[min(by_workers)])["samples_per_cpu_second"]
    row: dict[str, Any] = {
        "experiment": experiment["experiment"],
        "config": experiment["config"],
        "datamodule": f"{experiment['datamodule'].__module__}.{experiment['datamodule'].__name__}",
        "batch_size": batch_size,
        "train_items_on_disk": len(datamodule.train_set),
        "reference_jpeg_decodes_per_second": reference,
        "loader": settings,
        "samples_per_second_per_worker": per_worker,
        "samples_per_cpu_second_per_worker": per_core,
        "note": experiment.get("note"),
    }
    if experiment["config"] is None:
        return row
    counted = (flops or default_flops)(experiment["experiment"], experiment["config"])
    if counted is None:
        return row
    value, source = counted if isinstance(counted, tuple) else (counted, "FlopCounterMode here")
    need = a100_need(value, batch_size, utilisation)
    row |= {
        "gflop_per_sample": value / 1e9,
        "flops_source": source,
        "a100_samples_per_second": need["samples_per_second"],
        "a100_steps_per_second": need["steps_per_second"],
        "workers_needed": workers_needed(need["samples_per_second"], per_worker),
        "workers_needed_dedicated_cores": workers_needed(need["samples_per_second"], per_core),
    }
    return row


_FLOP_CACHE: dict[str, tuple[float, str]] = {}


def default_flops(experiment: str, config_name: str, batch_size: int = 2) -> tuple[float, str]:
    """:func:`measured_flops`, else :func:`training_flops` (cached per config)."""
    known = measured_flops(experiment)
    if known is not None:
        return known
    if config_name not in _FLOP_CACHE:
        started = time.perf_counter()
        value = training_flops(experiment, config_name, batch_size)
        _FLOP_CACHE[config_name] = (value, f"FlopCounterMode here: one training step of batch {batch_size}, forward + backward")
        print(f"  {config_name}: {value / 1e9:.1f} GFLOP per sample ({time.perf_counter() - started:.0f} s to count)", flush=True)
    return _FLOP_CACHE[config_name]


def table(rows: list[dict[str, Any]], workers: list[int], utilisation: float) -> str:
    """Markdown: loader rates, per-worker rates (wall clock here; per CPU-second, i.e. on a core of
    its own), GFLOP/sample, the A100 need and the workers it takes by either rate."""
    head = ["experiment", "batch", *(f"{w} workers (samples/s)" for w in workers), "per worker (samples/s)",
            "per worker-core (samples/CPU-s)", "GFLOP/sample", f"A100 at {utilisation:.0%} (samples/s)", "A100 steps/s",
            "workers per A100 (at this machine's rate)", "workers per A100 (dedicated cores)"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        rates = {s["num_workers"]: s["samples_per_second"] for s in row["loader"]}
        cells = [row["experiment"], str(row["batch_size"]), *(f"{rates[w]:.1f}" if w in rates else "–" for w in workers),
                 f"{row['samples_per_second_per_worker']:.1f}", f"{row['samples_per_cpu_second_per_worker']:.1f}"]  # fmt: skip
        if "workers_needed" in row:
            cells += [f"{row['gflop_per_sample']:.1f}", f"{row['a100_samples_per_second']:.0f}",
                      f"{row['a100_steps_per_second']:.1f}", str(row["workers_needed"]),
                      str(row["workers_needed_dedicated_cores"])]  # fmt: skip
        else:
            cells += ["–"] * 5
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def document(rows: list[dict[str, Any]], args: argparse.Namespace, load_before: tuple[float, ...]) -> dict[str, Any]:
    """The JSON written to ``--output``: date, command, machine, A100 assumption, settings, rows."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.dataloader", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "main_process_threads": args.threads,
                    "load_average": {"start": list(load_before), "end": list(os.getloadavg())}},  # fmt: skip
        "a100": {"peak_bf16_tflops": A100_BF16_TFLOPS, "utilisation": args.utilisation},
        "layouts": {"root": str(args.root), "items": args.items, "coco": "640x480 JPEG Q90", "librispeech": "10-15 s FLAC 16 kHz",
                    "dns": "clean 30 s, noise 10 s, RIR 1 s WAV 16 kHz"},  # fmt: skip
        "settings": {"workers": args.workers, "samples_per_run": args.samples, "repeats": args.repeats},
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT / "data" / "bench_layouts", help="layouts built here (git-ignored)")
    parser.add_argument("--items", type=int, default=128, help="training items per layout")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=64, help="samples per timed run (at least 2 batches)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (median)")
    parser.add_argument("--utilisation", type=float, default=0.4, help="assumed share of the A100's bf16 peak")
    parser.add_argument("--experiments", nargs="+", help="only these experiments")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the main process")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "dataloader.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    layouts = build_layouts(args.root, args.items)
    print(f"layouts under {args.root} ready in {time.perf_counter() - started:.0f} s", flush=True)
    chosen = [e for e in experiments(layouts) if not args.experiments or e["experiment"] in args.experiments]
    rows = []
    for experiment in chosen:
        rows.append(measure(experiment, args.workers, args.samples, args.repeats, args.utilisation))
    results = document(rows, args, load_before)
    print(table(rows, args.workers, args.utilisation))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
