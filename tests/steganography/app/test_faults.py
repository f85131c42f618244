"""Issue 12's fault campaign (benchmarks/faults.py) on a subset: exact bytes or a documented
error after every attack, the same answer for every wrong passphrase."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

FAULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "faults.py"


def load_faults():
    spec = importlib.util.spec_from_file_location("stegavox_faults_benchmark", FAULTS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def check(report: dict, faults) -> None:
    totals = report["totals"]
    assert totals["wrong_bytes"] == 0 and totals["exceptions"] == 0
    assert totals["unexpected_attack_outcomes"] == 0, [
        row for row in report["attack_trials"] if row["outcome"] not in faults.OK_ATTACK_OUTCOMES
    ]
    assert totals["unexpected_passphrase_outcomes"] == 0, report["passphrase_trials"]
    wrong = [row for row in report["passphrase_trials"] if row["outcome"] == "exit 3"]
    assert len({row["message"] for row in wrong}) <= 1  # one message for every wrong passphrase


def test_fault_campaign_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = load_faults()
    report = faults.run_campaign(
        len(set(faults.ATTACK_SCHEDULE)), 4, seed=3, workdir=tmp_path, log=lambda _: None, quick=True, timing_runs=0
    )
    check(report, faults)
    assert set(report["attacks"]) - {"all"} == set(faults.ATTACK_SCHEDULE)
    assert report["attacks"]["png_resave"] == {"exact": 1}  # lossless re-save: the payload is intact
    assert report["attacks"]["other_photo"] == {"exit 3": 1}


@pytest.mark.slow
def test_fault_campaign_100_trials(tmp_path: Path) -> None:
    faults = load_faults()
    report = faults.run_campaign(100, 40, seed=7, workdir=tmp_path, log=lambda _: None, timing_runs=3)
    check(report, faults)
    assert report["attacks"]["all"].get("exact", 0) >= 10
    assert report["timing_same_answer"]
