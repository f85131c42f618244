"""The data-loading benchmark (benchmarks/dataloader.py) on tiny layouts: the generated folders
load through the real datamodules, a row has the documented fields, and the A100 need and the
workers-needed arithmetic are right."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from datamodules.coco import COCODataModule
from datamodules.dns import DNSDataModule
from datamodules.librispeech import LibriSpeechDataModule


@pytest.fixture(scope="module")
def dl(load_benchmark):
    return load_benchmark("dataloader")


@pytest.fixture(scope="module")
def layouts(dl, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench_layouts")
    return {
        "coco": dl.build_coco(root / "coco", 4, size=(64, 48)),
        "librispeech": dl.build_librispeech(root, 4, seconds=(0.3, 0.4)),
        "dns": dl.build_dns(root, 4, clean_seconds=0.5, noise_seconds=0.3),
    }


def test_layouts_are_the_real_ones(layouts: dict[str, Path]) -> None:
    assert sorted(p.name for p in (layouts["coco"] / "train2017").iterdir()) == [f"{i:012d}.jpg" for i in range(4)]
    chapters = sorted((layouts["librispeech"] / "train-clean-100").glob("*/*/*.trans.txt"))
    assert len(chapters) == 1 and len(chapters[0].read_text().splitlines()) == 4
    assert {p.parent.name for p in (layouts["dns"] / "datasets").rglob("*.wav")} == {"read_speech", "noise", "SLR26"}


def test_workers_needed_and_a100_need(dl) -> None:
    assert dl.workers_needed(100.0, 30.0) == 4
    assert dl.workers_needed(90.0, 30.0) == 3  # exact multiples do not round up
    assert dl.workers_needed(1.0, 500.0) == 1
    with pytest.raises(ValueError):
        dl.workers_needed(10.0, 0.0)
    need = dl.a100_need(312e9, batch_size=4, utilisation=0.5)
    assert need["samples_per_second"] == pytest.approx(500.0) and need["steps_per_second"] == pytest.approx(125.0)


def test_measure_rows_json_and_table(dl, layouts: dict[str, Path]) -> None:
    experiments = [
        {"experiment": "coco", "config": "fake.yaml", "datamodule": COCODataModule,
         "init_args": {"root": str(layouts["coco"]), "image_size": 32, "batch_size": 2}},
        {"experiment": "dns", "config": "fake.yaml", "datamodule": DNSDataModule,
         "init_args": {"root": str(layouts["dns"]), "segment_seconds": 0.25, "num_train": 16, "batch_size": 2}},
        {"experiment": "librispeech", "config": None, "datamodule": LibriSpeechDataModule,
         "init_args": {"root": str(layouts["librispeech"]), "segment_seconds": 0.25, "batch_size": 2}},
    ]  # fmt: skip
    gflop = {"coco": 1000.0, "dns": 50.0}
    rows = [
        dl.measure(e, [0, 1] if e["experiment"] == "coco" else [0], samples=4, repeats=1, utilisation=0.4,
                   flops=lambda name, config: gflop[name] * 1e9, reference_seconds=0.05)
        for e in experiments
    ]  # fmt: skip
    for row in rows:
        assert row["batch_size"] == 2 and row["train_items_on_disk"] >= 2
        for setting in row["loader"]:
            assert min(setting["samples_per_second"], setting["samples_per_cpu_second"], setting["relative_to_reference"]) > 0
    coco, dns, librispeech = rows
    assert [s["num_workers"] for s in coco["loader"]] == [0, 1]
    assert coco["samples_per_second_per_worker"] == coco["loader"][1]["samples_per_second"]  # the one-worker rate
    assert coco["samples_per_cpu_second_per_worker"] == coco["loader"][1]["samples_per_cpu_second"]
    assert dns["samples_per_second_per_worker"] == dns["loader"][0]["samples_per_second"]  # no one-worker run
    for row, value in ((coco, 1000.0), (dns, 50.0)):
        needed = 312e12 * 0.4 / (value * 1e9)
        assert row["gflop_per_sample"] == pytest.approx(value)
        assert row["a100_samples_per_second"] == pytest.approx(needed)
        assert row["a100_steps_per_second"] == pytest.approx(needed / 2)
        assert row["workers_needed"] == math.ceil(needed / row["samples_per_second_per_worker"])
        assert row["workers_needed_dedicated_cores"] == math.ceil(needed / row["samples_per_cpu_second_per_worker"])
    assert "workers_needed" not in librispeech  # no config, no GPU need

    args = argparse.Namespace(root=Path("x"), items=4, workers=[0, 1], samples=4, repeats=1, utilisation=0.4, threads=1)
    document = json.loads(json.dumps(dl.document(rows, args, (1.0, 1.0, 1.0))))
    assert {"date", "command", "machine", "a100", "layouts", "settings", "rows"} <= set(document)
    assert document["a100"] == {"peak_bf16_tflops": 312.0, "utilisation": 0.4}
    table = dl.table(rows, [0, 1], 0.4).splitlines()
    assert len(table) == 2 + len(rows) and table[2].startswith("| coco | 2 |")
    # The last two columns: workers at this machine's (wall-clock) rate and on dedicated cores (they differ under load).
    assert table[2].endswith(f"| {coco['workers_needed']} | {coco['workers_needed_dedicated_cores']} |")
    assert table[4].endswith("| – | – | – | – | – |")
