"""Operators dispatched per training iteration of the default step, by name: a count that needs
no GPU of what a GPU step launches (each non-view operator is about one kernel on CUDA; a
matrix product may be one or two, a fused optimizer a few per parameter group).

    python benchmarks/ops.py [--precision fp32,bf16] [--graphs off|on] [--top 15]

It trains eagerly on the CPU under a ``TorchDispatchMode`` that counts every operator, once on
10 batches and once on 20, and prints the difference divided by 10 as one JSON line per
precision: what one more iteration adds, without the set-up, evaluation or warm-up. Views
(``t``, ``view``, ``detach``, ...) launch nothing and are counted apart. ``--graphs on`` turns
autocast's weight cache off, as the captured path must (``ssgan/train.py``), and runs the
captured path on the CPU as the tests do (:mod:`ssgan.graphsim`): the graphs replay the
operators recorded at capture, so the count is what the two graphs launch; it then also counts
apart what the host launches itself besides the replays (``host_operators_per_iteration``), the
Python-side work that runs of several seeds in threads of one process take turns at.
"""

from __future__ import annotations

import argparse
import collections
import json
from contextlib import nullcontext

from torch.utils._python_dispatch import TorchDispatchMode

import ssgan.train
from ssgan.config import Config
from ssgan.data import Dataset, load_mnist
from ssgan.graphsim import TracedGraph, simulate
from ssgan.splits import make_split
from options import count, run_script


class Counter(TorchDispatchMode):
    replaying = False  # inside a graph's replay (set by CountedGraph)

    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[(func.overloadpacket.__name__, func.is_view)] += 1
        if not (Counter.replaying or func.is_view):
            self.counts[("(host)", False)] += 1
        return func(*args, **(kwargs or {}))


class CountedGraph(TracedGraph):
    """The stand-in graph, its replays told apart from the host's own operators."""

    def replay(self) -> None:
        Counter.replaying = True
        try:
            super().replay()
        finally:
            Counter.replaying = False


def counts(cfg: Config, mnist: Dataset, iterations: int) -> collections.Counter:
    n = cfg.batch_size * iterations
    data = Dataset("bench", mnist.x_train[:n], mnist.y_train[:n], None, None, 10)
    with Counter() as counter:
        ssgan.train.train(cfg, data, make_split(data, 100, 1))
    return counter.counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--precision", default="fp32,bf16")
    p.add_argument("--graphs", choices=("off", "on"), default="off")
    p.add_argument("--top", type=count, default=15, help="name the N most frequent operators")
    args = p.parse_args()
    mnist = load_mnist()
    for precision in args.precision.split(","):
        cfg = Config(epochs=1, device="cpu", sample_every=1, precision=precision, graphs=args.graphs)
        with simulate(graph=CountedGraph) if args.graphs == "on" else nullcontext():
            short, long = counts(cfg, mnist, 10), counts(cfg, mnist, 20)
        per = {key: (long[key] - short.get(key, 0)) / 10 for key in long if long[key] != short.get(key, 0)}
        host = per.pop(("(host)", False), 0.0)
        ops = {name: v for (name, view), v in per.items() if not view}
        print(json.dumps({"precision": precision, "graphs": args.graphs,
                          "operators_per_iteration": sum(ops.values()),
                          **({"host_operators_per_iteration": host} if args.graphs == "on" else {}),
                          "views_per_iteration": sum(v for (_, view), v in per.items() if view),
                          "most_frequent": dict(sorted(ops.items(), key=lambda kv: -kv[1])[:args.top])}))


if __name__ == "__main__":
    run_script(main)
