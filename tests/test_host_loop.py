"""benchmarks/host_loop.py times the captured loop's host work alone: its graphs must do none
of the steps' work."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import assert_same_state
from ssgan.config import Config
from ssgan.graphsim import simulate
from ssgan.splits import make_split
from ssgan.train import train

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "host_loop.py"


def test_idle_graphs_leave_the_networks_untrained(digits):
    spec = importlib.util.spec_from_file_location("host_loop_bench", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", d_input_noise=0.0, d_hidden_noise=0.0)
    one, two = (bench.idle_run(cfg.replace(epochs=n), digits, split) for n in (1, 2))
    assert_same_state(one.generator.state_dict(), two.generator.state_dict())
    assert_same_state(one.discriminator.state_dict(), two.discriminator.state_dict())
    assert [m["epoch"] for m in two.history] == [1, 2] and all(0 < m["eval_seconds"] < m["seconds"] for m in two.history)
    with simulate():  # the control: graphs that replay the steps train the networks
        trained = train(cfg.replace(epochs=1, device="cpu", graphs="on"), digits, split)
    assert not all((a == b).all() for a, b in zip(one.discriminator.state_dict().values(),
                                                   trained.discriminator.state_dict().values()))
