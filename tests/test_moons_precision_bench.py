"""benchmarks/moons_precision.py trains each seed in fp32 and in bf16 on the same labels, scores
the validation draw (never the test's), and sums up the paired difference."""

from __future__ import annotations

import json

import pytest


def test_the_summary_pairs_the_precisions_by_seed(benchmark_script):
    bench = benchmark_script("moons_precision")
    rows = [{"fp32": 0.9, "bf16": 0.8}, {"fp32": 0.7, "bf16": 0.9}, {"fp32": 0.8, "bf16": 0.8}]
    s = bench.summary(rows)
    assert (s["fp32"], s["bf16"], s["bf16_ahead"], s["fp32_ahead"]) == (0.8, 0.8333, 1, 1)
    assert s["bf16_minus_fp32"] == pytest.approx(0.0333, abs=1e-4)
    assert s["standard_error"] == pytest.approx(0.0882, abs=1e-4)  # (the sd of -0.1, 0.2, 0 over sqrt 3)


def test_one_seed_trains_both_precisions_on_the_validation_draw(benchmark_script, tmp_path, capsys):
    bench = benchmark_script("moons_precision")
    bench.main(["--seeds", "4", "--epochs", "1", "--out", str(tmp_path / "m.jsonl")])
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert rows[0]["seed"] == 4 and 0 <= rows[0]["fp32"] <= 1 and 0 <= rows[0]["bf16"] <= 1
    assert rows[1]["seeds"] == 1 and capsys.readouterr().out.count("\n") == 2
