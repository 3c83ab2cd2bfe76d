"""Where the default step's time goes on this machine: ``torch.profiler`` over ``--iterations``
iterations of ``train`` (of ``speed.py``'s images, after its 10-batch warm-up), each operator's
self time summed into the parts that issue 11 names as candidates.

    python benchmarks/profile_step.py [--iterations 40] [--precision fp32|bf16] [--top 15]

One JSON line: ``parts``, each part's share of the operators' summed self time (the matrix
products; the random numbers, which for the default networks are D's Gaussian noise and G's
uniform inputs; weight normalisation forward and backward; Adam and its zeroing of gradients;
the moving average of D; autocast's and other copies; the rest), ``ms_per_iteration`` of each,
and the ``top`` operators by self time with their calls and shares. The profile covers the
loop's iterations and its end-of-epoch evaluation (none here: no held-out set), not the set-up
before them (building and initialising the networks). The profiler slows the small operators
more than the large ones, so the shares are for comparing parts, not a timing: ``speed.py``
times the step, ``noise.py`` the noise.
``environment`` records the machine and software, as the other benchmark lines do.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from speed import seconds_per_iteration
from torch.profiler import ProfilerActivity, profile

from ssgan.config import Config
from ssgan.train import Reporter, resolve_precision
from options import benchmark_environment, count, run_script

# Each part and the operators (profiler keys) whose self time it sums; every other key is "rest".
PARTS = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear"),
    "random numbers": ("aten::normal_", "aten::normal", "aten::uniform_", "aten::rand", "aten::randn",
                       "aten::bernoulli_", "aten::bernoulli"),
    "weight normalisation": ("aten::_weight_norm_interface", "aten::_weight_norm_interface_backward",
                             "aten::_weight_norm"),
    "Adam": ("aten::_fused_adam_", "Optimizer.step#Adam.step", "Optimizer.zero_grad#Adam.zero_grad"),
    "moving average of D": ("aten::_foreach_lerp_", "aten::lerp_"),  # (train's EMA update, one lerp a tensor)
    "copies": ("aten::copy_", "aten::_to_copy", "aten::to"),
}


def part_of(key: str) -> str:
    """The part that an operator's self time counts in.

    >>> part_of("aten::addmm"), part_of("aten::normal_"), part_of("aten::relu")
    ('matrix products', 'random numbers', 'rest')
    """
    return next((part for part, keys in PARTS.items() if key in keys), "rest")


class Iterations(Reporter):
    """Profiles ``train``'s iterations alone: from the loop's start (after the networks are built
    and initialised from the data) to the end of its one epoch."""

    def __init__(self):
        self.prof = profile(activities=[ProfilerActivity.CPU])

    def on_start(self, epochs: int, iterations: int, start_epoch: int) -> None:
        self.prof.start()
        self.t0 = time.perf_counter()

    def on_epoch(self, metrics: dict) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.prof.stop()


def profile_train(cfg: Config, iterations: int, top: int) -> dict:
    """Profile ``train`` on ``iterations`` MNIST batches of ``cfg``, the call that ``speed.py`` times
    (after its 10-batch warm-up)."""
    window = Iterations()
    seconds_per_iteration(cfg, iterations, reporter=window)
    prof, wall = window.prof, window.seconds
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)  # microseconds
    parts = dict.fromkeys([*PARTS, "rest"], 0.0)
    for e in events:
        parts[part_of(e.key)] += e.self_cpu_time_total
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return {"iterations": iterations, "precision": cfg.precision,
            "profiled_s_per_iteration": round(wall / iterations, 5),
            "operator_ms_per_iteration": round(total / 1e3 / iterations, 3),
            "parts": {k: round(v / total, 4) for k, v in parts.items()},
            "ms_per_iteration": {k: round(v / 1e3 / iterations, 3) for k, v in parts.items()},
            "top": [{"op": e.key, "calls": e.count, "share": round(e.self_cpu_time_total / total, 4),
                     "part": part_of(e.key)} for e in ranked]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=count, default=40, help="iterations profiled")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="the step's precision (default: what ssgan fit --precision auto picks here)")
    p.add_argument("--top", type=count, default=15, help="operators listed by self time")
    args = p.parse_args()
    device = torch.device("cpu")
    precision = args.precision or resolve_precision("auto", device)
    cfg = Config(epochs=1, device="cpu", precision=precision, graphs="off")
    out = {"threads": torch.get_num_threads(), "environment": benchmark_environment("cpu"),
           **profile_train(cfg, args.iterations, args.top)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    run_script(main)
