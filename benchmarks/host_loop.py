"""The host's share of an iteration on the captured path, measured without a GPU.

On CUDA, an iteration of the captured loop is two graph replays plus what the host does around
them (the schedule's learning rates, the iteration counter, the G metrics' sum, the loop's own
Python). This runs the real training loop on the CPU with graphs whose replay does nothing
(:mod:`ssgan.graphsim`'s capture path, no device work at all), so that an epoch's time less its
evaluation is the host's work alone:

    python benchmarks/host_loop.py --epochs 2

It prints one JSON line per epoch: seconds, evaluation seconds and the host's microseconds per
iteration. On a GPU the launches themselves cost more than these CPU operators do, so this is
a lower bound on the host's time; with several seeds in threads of one process
(``--parallel-mode threads``) the threads share it.
"""

from __future__ import annotations

import argparse
import json

import torch

from ssgan.config import Config
from ssgan.data import load_dataset
from ssgan.graphsim import simulate
from ssgan.splits import make_split
from ssgan.train import train


class IdleGraph:
    """A graph that records nothing and replays nothing."""

    def __init__(self, fn, pool=None, stream=None, generators=()):
        pass

    def replay(self) -> None:
        pass

    def pool(self) -> None:
        return None


def idle_run(cfg: Config, data, split):
    """:func:`ssgan.train.train` on the captured path with graphs that do no work."""
    with simulate(graph=IdleGraph):
        return train(cfg.replace(device="cpu", graphs="on"), data, split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    cfg = Config(dataset=args.dataset, labels=args.labels, epochs=args.epochs)
    result = idle_run(cfg, data, make_split(data, args.labels, cfg.seed))
    for m in result.history:
        iterations = m["iterations"] // m["epoch"]
        print(json.dumps({"epoch": m["epoch"], "seconds": round(m["seconds"], 3), "eval_seconds": round(m["eval_seconds"], 3),
                          "host_us_per_iteration": round((m["seconds"] - m["eval_seconds"]) / iterations * 1e6, 1)}))


if __name__ == "__main__":
    main()
