"""benchmarks/speed.py's rate analysis: each step is compared with the matmul rates timed just
before it, and ``--rounds`` reports every round and the medians (timings faked: this checks the
bookkeeping, not the machine)."""

from __future__ import annotations

import json
import statistics
import sys

import pytest
import torch


@pytest.fixture
def speed(benchmark_script):
    return benchmark_script("speed")


def run(speed, monkeypatch, capsys, rates, seconds, *args, matmul_precision=False):
    """speed.py's main with matmul rates and step times taken, in call order, from the lists;
    each call is logged (with torch's fp32 matmul precision at the time: ``matmul_precision``)."""
    rates, seconds, calls = list(rates), list(seconds), []
    extra = (lambda: (torch.get_float32_matmul_precision(),)) if matmul_precision else tuple

    def fake_rate(cfg, device, repeats=50, dtype=torch.float32):
        calls.append(("rate", "bf16" if dtype == torch.bfloat16 else "fp32", *extra()))
        return rates.pop(0)

    def fake_seconds(cfg, iterations, shape=(1, 28, 28)):
        calls.append(("step", cfg.precision, *extra()))
        return seconds.pop(0)

    monkeypatch.setattr(speed, "matmul_rate", fake_rate)
    monkeypatch.setattr(speed, "seconds_per_iteration", fake_seconds)
    monkeypatch.setattr(sys, "argv", ["speed.py", *args])
    speed.main()
    assert not rates and not seconds  # every timing was used
    return json.loads(capsys.readouterr().out), calls


def test_each_step_is_paired_with_the_rates_timed_just_before_it(speed, monkeypatch, capsys):
    # one round: fp32 rate 100 -> fp32 step; fp32 rate 200 and bf16 rate 400 -> bf16 step
    out, calls = run(speed, monkeypatch, capsys, [100.0, 200.0, 400.0], [0.05, 0.04],
                     "--precision", "fp32,bf16", "--iterations", "3")
    assert calls == [("rate", "fp32"), ("step", "fp32"), ("rate", "fp32"), ("rate", "bf16"), ("step", "bf16")]
    gflop = out["step_gflop"]
    assert out["fp32_fraction_of_matmul_rate"] == pytest.approx(gflop / 0.05 / 100.0, abs=1e-3)
    assert out["bf16_fraction_of_matmul_rate"] == pytest.approx(gflop / 0.04 / 200.0, abs=1e-3)
    assert out["bf16_fraction_of_bf16_matmul_rate"] == pytest.approx(gflop / 0.04 / 400.0, abs=1e-3)
    assert out["matmul_gflops_fp32"] == 150.0  # the round's rate: the mean of its two fp32 timings
    assert out["rounds"] == 1 and not any(key.endswith("_per_round") for key in out)
    machine = out["environment"]  # (what a line is compared by across machines, as a run folder records it)
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and "cpu_extensions" in machine
    assert machine["torch"] == torch.__version__ and machine["device"] == "cpu"


def test_rounds_report_every_round_and_the_median_of_the_rounds_fractions(speed, monkeypatch, capsys):
    # three rounds of the fp32 step alone: the rounds' fractions are gflop/4, gflop/6 and gflop/20,
    # so the median is gflop/6, where the median step time over the median rate would be gflop/8
    rates, seconds = [100.0, 300.0, 200.0], [0.04, 0.02, 0.10]
    out, _ = run(speed, monkeypatch, capsys, rates, seconds, "--precision", "fp32", "--rounds", "3")
    gflop = out["step_gflop"]
    fractions = [gflop / s / r for s, r in zip(seconds, rates)]
    assert out["rounds"] == 3
    assert out["fp32_s_per_iteration_per_round"] == seconds
    assert out["matmul_gflops_fp32_per_round"] == rates
    assert out["fp32_fraction_of_matmul_rate_per_round"] == [round(f, 3) for f in fractions]
    assert out["fp32_fraction_of_matmul_rate"] == round(statistics.median(fractions), 3)
    assert out["fp32_s_per_iteration"] == 0.04 and out["matmul_gflops_fp32"] == 200.0


def test_a_config_file_sets_the_timed_step_and_is_recorded(speed, monkeypatch, capsys, tmp_path):
    (tmp_path / "con.toml").write_text("consistency_weight = 10.0\n")
    timed = []
    monkeypatch.setattr(speed, "seconds_per_iteration",
                        lambda cfg, iterations, shape=(1, 28, 28): timed.append(cfg) or 0.05)
    monkeypatch.setattr(speed, "matmul_rate", lambda cfg, device, repeats=50, dtype=torch.float32: 100.0)
    monkeypatch.setattr(sys, "argv", ["speed.py", "--precision", "fp32", "--config", str(tmp_path / "con.toml")])
    speed.main()
    out = json.loads(capsys.readouterr().out)
    assert [(c.consistency_weight, c.epochs, c.precision) for c in timed] == [(10.0, 1, "fp32")]
    assert out["config"] == {"consistency_weight": 10.0}
    # the work counted is the step's as defined, not what the setting adds: the rate shows the cost
    assert out["step_gflop"] == pytest.approx(4.548, abs=1e-3)
    assert out["fp32_fraction_of_matmul_rate"] == pytest.approx(out["step_gflop"] / 0.05 / 100.0, abs=1e-3)


@pytest.mark.parametrize("args, message", [
    (["--rounds", "0"], "argument --rounds: must be 1 or more, got 0"),
    (["--precision", "fp32,tf32"], "--precision tf32 is a CUDA probe (TF32 tensor cores), and this run uses cpu"),
], ids=["rounds", "tf32-off-cuda"])
def test_bad_options_are_one_line_errors(speed, monkeypatch, capsys, args, message):
    monkeypatch.setattr(sys, "argv", ["speed.py", *args])
    with pytest.raises(SystemExit) as stop:
        speed.main()
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_tf32_probe_times_the_fp32_step_with_tf32_matrix_products(speed, monkeypatch, capsys):
    """On CUDA (faked: no GPU is touched) ``tf32`` times the fp32 step, eager and as graphs, with
    torch's fp32 matmul precision "high" while the step and its tf32 matmul rate are timed,
    and "highest" again afterwards; its fraction is taken against the fp32 rate."""
    monkeypatch.setattr(speed, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(speed, "benchmark_environment", lambda device: {"device": str(device)})  # (it would ask the GPU's name)
    out, calls = run(speed, monkeypatch, capsys, [100.0, 100.0, 200.0, 300.0, 200.0, 300.0], [0.05, 0.01, 0.04, 0.008],
                     "--device", "cuda", "--precision", "fp32,tf32", matmul_precision=True)
    fp32 = [("rate", "fp32", "highest"), ("step", "fp32", "highest")]
    tf32 = [("rate", "fp32", "highest"), ("rate", "fp32", "high"), ("step", "fp32", "high")]
    assert calls == fp32 * 2 + tf32 * 2  # eager, then graphs, for each precision
    assert out["tf32_s_per_iteration"] == 0.04 and out["tf32_graphs_s_per_iteration"] == 0.008
    gflop = out["step_gflop"]
    assert out["tf32_graphs_fraction_of_matmul_rate"] == pytest.approx(gflop / 0.008 / 200.0, abs=1e-3)
    assert out["matmul_gflops_tf32"] == 300.0
    assert torch.get_float32_matmul_precision() == "highest"


@pytest.mark.parametrize("native, steps", [(True, ["fp32", "bf16"]), (False, ["fp32"])])
def test_bf16_is_timed_by_default_only_on_a_cpu_that_has_it(speed, monkeypatch, capsys, native, steps):
    """A CPU without native bf16 emulates it: the default command had printed nothing in 15
    minutes on an AMD EPYC with AVX2 alone. There the default times the fp32 step only."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native)
    rates = [100.0, 200.0, 400.0] if native else [100.0]
    _, calls = run(speed, monkeypatch, capsys, rates, [0.05, 0.04][:len(steps)], "--iterations", "3")
    assert [call[1] for call in calls if call[0] == "step"] == steps


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 8)])
def test_one_timed_iteration_holds_the_labeled_split_and_the_warm_up_is_ten_batches(speed, shape):
    """``--iterations 1`` stopped with "--labels 100 asks for 10 labeled examples of class 5",
    an option the script does not have: MNIST's first 100 images hold 5 fives. The images come
    class by class in turn now, and the warm-up is 10 batches whatever the count."""
    import numpy as np

    from ssgan.config import Config
    from ssgan.splits import make_split

    data, warm = speed.bench_data(Config(epochs=1), 1, shape)
    assert data.x_train.shape == (100, *shape) and len(warm.x_train) == 1000
    assert np.bincount(data.y_train).tolist() == [10] * 10
    assert make_split(data, 100, 1).indices.tolist() == list(range(100))
