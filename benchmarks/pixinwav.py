"""PixInWav benchmark: demo-scale CPU training of every variant, per-channel metrics, and
parameters/MACs at paper scale. Writes ``benchmarks/results/pixinwav.json`` and prints tables.

Each run trains with ``lightning fit -c trainer_configs/pixinwav.yaml -c
trainer_configs/demo/pixinwav.yaml`` (plus the run's overrides), then re-validates its
``last.ckpt`` on the demo validation set under every evaluation channel of the config.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/pixinwav.py                 # train all runs, write JSON
    OMP_NUM_THREADS=1 python benchmarks/pixinwav.py --runs res_scale --max-steps 50
    OMP_NUM_THREADS=1 python benchmarks/pixinwav.py --reevaluate     # re-validate stored checkpoints
    python benchmarks/pixinwav.py --table                            # print the stored results
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from common.metrics import psnr, ssim
from datamodules.demo import DemoImageAudioDataModule
from steganography.models.pixinwav import ARCHITECTURES, PixInWav
from steganography.tasks.pixinwav import PixInWavTask

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pixinwav.json"
CONFIGS = ["trainer_configs/pixinwav.yaml", "trainer_configs/demo/pixinwav.yaml"]
PAPER = {"beta": 0.05, "snr_db": 18.26, "ssim": 0.921, "params_per_net": 482_090,
         "setting": "ImageNet 256x256 in FSDnoisy18K 44.1 kHz, STDCT 4096/62, 8 epochs x 10k images, batch 1"}
NOISY_TRAINING = '[clean, "awgn:0.01", "speckle:0.1"]'
#: Benchmark runs: name -> (architecture, extra CLI overrides).
RUNS = {
    **{architecture: (architecture, []) for architecture in ARCHITECTURES},
    "res_indep_noisy": ("res_indep", ["--model.init_args.train_channels", NOISY_TRAINING]),
    "res_indep_spectrogram": ("res_indep", ["--model.init_args.network.init_args.reveal_from", "spectrogram"]),
}


def paper_scale_complexity(architecture: str) -> dict[str, float]:
    """Parameters of each net and forward MACs (convolutions and matrix products, counted by
    ``FlopCounterMode`` on meta tensors) of one 256×256 image in 67,522 samples."""
    model = PixInWav(architecture)
    counts = {
        "hider_params": sum(p.numel() for p in model.hider.parameters()),
        "revealer_params": sum(p.numel() for p in model.revealer.parameters()),
    }
    model = model.to("meta")
    image, audio = torch.empty(1, 3, 256, 256, device="meta"), torch.empty(1, 1, 67522, device="meta")
    with FlopCounterMode(display=False) as counter:
        hidden = model.hide(image, audio)
    hide_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        model.reveal(hidden["container_wave"])
    return {**counts, "hide_gmacs": hide_flops / 2e9, "reveal_gmacs": counter.get_total_flops() / 2e9}


@torch.no_grad()
def container_round_trip(image_size: int, num_samples: int, frame_length: int, hop_length: int, count: int = 4) -> dict[str, float]:
    """What survives of a container that is not a valid STDCT: demo images mapped to the container,
    synthesised to a waveform and analysed again (no hiding net, no host). ``energy_kept``: energy
    of the re-analysed container over the mapped one; ``ssim``/``psnr``: the image read back from
    it by the fixed inverse mapping at the least-squares gain, i.e. a linear pass-through."""
    model = PixInWav("res_scale", image_size, num_samples, frame_length, hop_length, base_channels=1)
    datamodule = DemoImageAudioDataModule(image_size, num_samples, num_train=1, num_val=count)
    datamodule.setup("fit")
    image = next(iter(datamodule.val_dataloader()))["image"]
    mapped = model.mapping.to_container(image)
    analysed = model.stdct(model.stdct.inverse(mapped, num_samples))
    read_back = model.mapping.to_image(analysed)
    gain = (read_back * image).sum() / read_back.pow(2).sum()
    estimate = (gain * read_back).clamp(0, 1)
    return {
        "container": list(mapped.shape[-2:]),
        "redundancy": mapped.shape[-2] * mapped.shape[-1] / num_samples,
        "energy_kept": float(analysed.pow(2).sum() / mapped.pow(2).sum()),
        "ssim": float(ssim(estimate, image)),
        "psnr": float(psnr(estimate, image)),
    }


def round_trips(demo_args: dict) -> dict[str, dict[str, float]]:
    """:func:`container_round_trip` at the demo config's and the paper's settings."""
    demo = [demo_args[key] for key in ("image_size", "num_samples", "frame_length", "hop_length")]
    return {"demo": container_round_trip(*demo), "paper": container_round_trip(256, 67522, 4096, 62, count=2)}


def instantiate(spec: dict) -> object:
    """Build ``class_path(**init_args)`` from a LightningCLI config section."""
    module, _, name = spec["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**spec.get("init_args", {}))


def train(name: str, architecture: str, overrides: list[str], max_steps: int | None, save_dir: Path) -> tuple[Path, float]:
    """Run the CLI training; return the run directory and its wall time in seconds."""
    command = [
        sys.executable, "-m", "common.cli", "fit", "-c", CONFIGS[0], "-c", CONFIGS[1],
        "--model.init_args.network.init_args.architecture", architecture,
        "--trainer.logger.init_args.save_dir", str(save_dir),
        "--trainer.logger.init_args.name", f"pixinwav_{name}",
        "--trainer.enable_progress_bar", "false",
        *overrides,
    ]
    if max_steps is not None:
        command += ["--trainer.max_steps", str(max_steps), "--trainer.max_epochs", "-1"]
    start = time.time()
    subprocess.run(command, cwd=ROOT, check=True)
    elapsed = time.time() - start
    versions = sorted((save_dir / f"pixinwav_{name}").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    return versions[-1], elapsed


@torch.no_grad()
def reference_metrics(task: PixInWavTask, datamodule: pl.LightningDataModule) -> dict[str, float]:
    """What a revealer gets without hiding anything, over the validation set (item-weighted):
    ``host_only_*`` reveals from the untouched host audio, ``grey_*`` is a constant 0.5 image."""
    task.eval()
    totals, count = dict.fromkeys(("host_only_ssim", "host_only_psnr", "grey_ssim", "grey_psnr"), 0.0), 0
    for batch in datamodule.val_dataloader():
        image, audio = batch["image"], batch["audio"]
        host_only, grey = task.network.reveal(audio).clamp(0, 1), torch.full_like(image, 0.5)
        for name, estimate in (("host_only", host_only), ("grey", grey)):
            totals[f"{name}_ssim"] += float(ssim(estimate, image)) * len(image)
            totals[f"{name}_psnr"] += float(psnr(estimate, image)) * len(image)
        count += len(image)
    return {key: value / count for key, value in totals.items()}


def evaluate(run_dir: Path) -> dict:
    """Validation metrics of the run's ``last.ckpt`` under every evaluation channel, the
    no-payload references, the checkpoint's step and training channels."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    task = PixInWavTask.load_from_checkpoint(checkpoint, map_location="cpu")
    datamodule = instantiate(config["data"])
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    [metrics] = trainer.validate(task, datamodule=datamodule, verbose=False)
    result = {
        "steps": int(torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]),
        "train_channels": [channel.name for channel in task.train_channels],
        "reveal_from": task.network.reveal_from,
        "eval_channels": [channel.name for channel in task.eval_channels],
        "metrics": {key: float(value) for key, value in metrics.items()},
        "references": reference_metrics(task, datamodule),
    }
    if task.network.architecture == "res_scale":
        result["res_scale_gain"] = task.network.hider.gain.detach().item()
    return result


def print_tables(results: dict) -> None:
    demo = results["demo_setting"]
    print(f"\nPixInWav demo scale ({demo}), measured {results['date']}")
    print("SSIM/PSNR: revealed through the clean channel; 'host only': the same revealer fed the host")
    print("audio with nothing hidden; a constant grey image scores the 'grey' line.")
    print("'reveal from': the revealer reads the received waveform's STDCT (a real receiver) or the container")
    print("STDCT itself (the public code's protocol); for the latter, 'waveform SSIM' is what the waveform gives.")
    print(f"{'run':<22} {'train channels':<28} {'reveal from':<12} {'steps':>5} {'min':>5} {'SNR dB':>7} {'SSIM':>6} {'PSNR dB':>8} {'waveform SSIM':>14} {'host-only SSIM/PSNR':>20}")
    for name, run in results["runs"].items():
        m, r = run["metrics"], run["references"]
        from_waveform = m.get("val/from_waveform/ssim", m["val/clean/ssim"])
        print(
            f"{name:<22} {','.join(run['train_channels']):<28} {run.get('reveal_from', 'waveform'):<12} {run['steps']:>5} "
            f"{run['train_seconds'] / 60:>5.1f} {m['val/snr']:>7.2f} {m['val/clean/ssim']:>6.3f} {m['val/clean/psnr']:>8.2f} "
            f"{from_waveform:>14.3f} {r['host_only_ssim']:>13.3f} / {r['host_only_psnr']:>5.2f}"
        )
    if results["runs"]:
        r = next(iter(results["runs"].values()))["references"]
        print(f"{'grey image':<22} {'':<28} {'':<12} {'':>5} {'':>5} {'':>7} {r['grey_ssim']:>6.3f} {r['grey_psnr']:>8.2f}")
    paper = results["paper_reference"]
    print(f"{'paper (β=0.05)':<22} {'paper scale, see JSON':<28} {'spectrogram':<12} {'':>5} {'':>5} {paper['snr_db']:>7.2f} {paper['ssim']:>6.3f}")
    for name, run in results["runs"].items():
        if run["architecture"] != "res_indep":
            continue
        print(f"\n{name}: per evaluation channel")
        print(f"{'channel':<16} {'SSIM':>6} {'PSNR dB':>8} {'received SNR dB':>16}")
        for channel in run["eval_channels"]:
            m = run["metrics"]
            print(f"{channel:<16} {m[f'val/{channel}/ssim']:>6.3f} {m[f'val/{channel}/psnr']:>8.2f} {m[f'val/{channel}/snr']:>16.2f}")
    if "container_round_trip" in results:
        print("\nLinear pass-through: mapped image -> STDCT synthesis -> analysis -> inverse mapping (no nets, no host)")
        print(f"{'setting':<8} {'container':>12} {'coefficients/sample':>20} {'energy kept':>12} {'SSIM':>6} {'PSNR dB':>8}")
        for name, row in results["container_round_trip"].items():
            container = "x".join(map(str, row["container"]))
            print(f"{name:<8} {container:>12} {row['redundancy']:>20.1f} {row['energy_kept']:>12.3f} {row['ssim']:>6.3f} {row['psnr']:>8.2f}")
    print("\nPaper scale (256x256 image, 67,522 samples, STDCT 4096/62, base width 64)")
    print(f"{'architecture':<12} {'hider params':>13} {'revealer params':>16} {'hide GMAC':>10} {'reveal GMAC':>12}")
    for architecture, row in results["paper_scale"].items():
        print(f"{architecture:<12} {row['hider_params']:>13,} {row['revealer_params']:>16,} {row['hide_gmacs']:>10.1f} {row['reveal_gmacs']:>12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(ARCHITECTURES), help="runs to train")
    parser.add_argument("--max-steps", type=int, default=None, help="override the demo config's length")
    parser.add_argument("--save-dir", type=Path, default=ROOT / "runs" / "benchmarks", help="TensorBoard/checkpoint root")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="only print the stored results")
    parser.add_argument("--reevaluate", action="store_true", help="re-validate the stored runs' checkpoints, no training")
    args = parser.parse_args()
    if args.table:
        print_tables(json.loads(args.output.read_text()))
        return
    if args.reevaluate:
        results = json.loads(args.output.read_text())
        for run in results["runs"].values():
            run.update(evaluate(ROOT / run["run_dir"]))
        results["container_round_trip"] = round_trips(yaml.safe_load((ROOT / CONFIGS[1]).read_text())["model"]["init_args"]["network"]["init_args"])
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print_tables(results)
        return
    demo = yaml.safe_load((ROOT / CONFIGS[1]).read_text())
    model_args = demo["model"]["init_args"] | demo["model"]["init_args"]["network"]["init_args"]
    results = {
        "date": datetime.date.today().isoformat(),
        "command": "OMP_NUM_THREADS=1 python benchmarks/pixinwav.py " + " ".join(sys.argv[1:]),
        "threads": int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())),
        "torch": torch.__version__,
        "demo_setting": {
            key: model_args[key] for key in ("image_size", "sample_rate", "num_samples", "frame_length", "hop_length", "base_channels")
        } | {"batch_size": demo["data"]["init_args"]["batch_size"], "num_val": demo["data"]["init_args"]["num_val"]},
        "paper_reference": PAPER,
        "paper_scale": {architecture: paper_scale_complexity(architecture) for architecture in ARCHITECTURES},
        "container_round_trip": round_trips(model_args),
        # Runs of earlier invocations are kept unless trained again.
        "runs": json.loads(args.output.read_text())["runs"] if args.output.exists() else {},
    }
    for name in args.runs:
        architecture, overrides = RUNS[name]
        run_dir, seconds = train(name, architecture, overrides, args.max_steps, args.save_dir)
        results["runs"][name] = {
            "architecture": architecture,
            "date": datetime.date.today().isoformat(),
            "train_seconds": round(seconds, 1),
            "run_dir": str(run_dir.relative_to(ROOT)) if run_dir.is_relative_to(ROOT) else str(run_dir),
            **evaluate(run_dir),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)


if __name__ == "__main__":
    main()
