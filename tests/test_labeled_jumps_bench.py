"""benchmarks/labeled_jumps.py trains same-net with each class smoothing on the same split and
validation rows, counts the jumps above the smoothed loss's floor and reads no test row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssgan.losses import supervised_floor


def test_the_jump_screen_compares_smoothings_on_validation_rows(tmp_path, capsys, benchmark_script):
    bench = benchmark_script("labeled_jumps")  # (its processes, started fresh, import it by name)
    bench.main(["--seeds", "2-2", "--smoothing", "0,0.1", "--epochs", "2", "--parallel", "1", "--out", str(tmp_path / "runs"),
                "--json", str(tmp_path / "runs.jsonl")])
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [(r["smoothing"], r["seed"], r["n_val"]) for r in runs] == [(0.0, 2, 200), (0.1, 2, 200)]
    assert runs[0]["floor"] == 0.0 and runs[1]["floor"] == pytest.approx(supervised_floor(0.1, 10))
    assert runs[1]["loss_lab"] > runs[1]["floor"]  # (a smoothed loss stays above its floor)
    splits = [json.loads((Path(r["run"]) / "split.json").read_text()) for r in runs]
    assert splits[0]["indices"] == splits[1]["indices"] and splits[0]["val_indices"] == splits[1]["val_indices"]
    for r in runs:
        config = json.loads((Path(r["run"]) / "config.json").read_text())
        assert (config["tag"], config["class_smoothing"], config["epochs"]) == ("same-net", r["smoothing"], 2)
    out = capsys.readouterr().out
    assert "class smoothing 0: jumped in " in out and "class smoothing 0.1: jumped in " in out
    assert "test" not in out  # (it prints validation errors alone)
