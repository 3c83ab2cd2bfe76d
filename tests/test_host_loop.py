"""benchmarks/host_loop.py times the captured loop's host work alone: its graphs must do none
of the steps' work."""

from __future__ import annotations

import torch

from conftest import assert_same_state
from ssgan.config import Config
from ssgan.models import build_models, resolve_arch
from ssgan.graphsim import simulate
from ssgan.splits import make_split
from ssgan.train import train


def test_idle_graphs_leave_the_networks_untrained(digits, benchmark_script):
    bench = benchmark_script("host_loop")
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


def test_an_idle_group_of_stacked_seeds_trains_nothing(tmp_path, benchmark_script):
    """``--stacked``: the seeds' loops run and hand in their batches, but their networks end as
    they began (a step that trained would change them: the control)."""
    bench = benchmark_script("host_loop")
    cfg = Config(dataset="digits", labels=50, epochs=1)
    histories = bench.idle_stacked(cfg, [1, 2], str(tmp_path / "idle"))
    assert [len(h) for h in histories] == [1, 1] and all(0 < h[0]["eval_seconds"] < h[0]["seconds"] for h in histories)
    from ssgan.launch import run_seeds_in_threads

    run_seeds_in_threads(cfg.replace(device="cpu", out=str(tmp_path / "trained")), [1, 2], 2, "ssgan fit", stacked=True)
    for seed in (1, 2):
        idle, trained = (torch.load(next((tmp_path / d).glob(f"*-s{seed}")) / "checkpoint.pt", weights_only=False)
                         for d in ("idle", "trained"))
        torch.manual_seed(seed)
        _, initial_d = build_models(resolve_arch(cfg, (1, 8, 8)), (1, 8, 8), 10)
        for name, v in initial_d.state_dict().items():
            if not name.endswith((".g", ".b")):  # the data-dependent init sets those
                assert torch.equal(idle["discriminator"][name], v), name
        assert not torch.equal(trained["discriminator"]["out.v"], idle["discriminator"]["out.v"])
