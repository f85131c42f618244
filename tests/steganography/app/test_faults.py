"""Issue 12's fault campaign (benchmarks/faults.py) on a subset: exact bytes or a documented
error after every attack, the same answer for every wrong passphrase."""

from __future__ import annotations

from pathlib import Path

import pytest


def check(report: dict, faults) -> None:
    totals = report["totals"]
    assert totals["wrong_bytes"] == 0 and totals["exceptions"] == 0
    assert totals["unexpected_attack_outcomes"] == 0, [
        row for row in report["attack_trials"] if row["outcome"] not in faults.OK_ATTACK_OUTCOMES
    ]
    assert totals["unexpected_passphrase_outcomes"] == 0, report["passphrase_trials"]
    wrong = [row for row in report["passphrase_trials"] if row["outcome"] == "exit 3"]
    assert len({row["message"] for row in wrong}) <= 1  # one message for every wrong passphrase


def test_fault_campaign_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_benchmark) -> None:
    faults = load_benchmark("faults")
    report = faults.run_campaign(
        len(set(faults.ATTACK_SCHEDULE)), 4, seed=3, workdir=tmp_path, log=lambda _: None, quick=True, timing_runs=0
    )
    check(report, faults)
    assert set(report["attacks"]) - {"all"} == set(faults.ATTACK_SCHEDULE)
    assert report["attacks"]["png_resave"] == {"exact": 1}  # lossless re-save: the payload is intact
    assert report["attacks"]["other_photo"] == {"exit 3": 1}


@pytest.mark.slow
def test_fault_campaign_100_trials(tmp_path: Path, load_benchmark) -> None:
    faults = load_benchmark("faults")
    report = faults.run_campaign(100, 40, seed=7, workdir=tmp_path, log=lambda _: None, timing_runs=3)
    check(report, faults)
    assert report["attacks"]["all"].get("exact", 0) >= 10
    assert report["timing_same_answer"]
