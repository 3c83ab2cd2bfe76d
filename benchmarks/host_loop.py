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

``--stacked S`` measures ``--parallel-mode stacked`` instead: S seeds' loops in threads, each
handing its batches to the group, whose stacked step does nothing (no stacking of the batches,
no step, metrics made up), so that an epoch's time less its evaluation is what the threads'
loops and their hand-offs cost per iteration of all S seeds. Here the loops' batch gathers and
noise draws are CPU work that on a GPU would be launches, so this errs high:

    python benchmarks/host_loop.py --epochs 2 --stacked 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from ssgan.config import Config
from ssgan.data import load_dataset
from ssgan.graphsim import simulate
from ssgan.splits import make_split
from ssgan.train import train
from options import count, run_script


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


def idle_stacked(cfg: Config, seeds: list[int], out: str) -> list[list[dict]]:
    """``--parallel-mode stacked`` of ``seeds`` with a group whose steps do no work; each seed's metrics."""
    from unittest.mock import patch

    from ssgan.batched import SeedGroup
    from ssgan.launch import run_seeds_in_threads
    from ssgan.runs import read_metrics

    d_keys = ("loss_lab", "train_batch_acc", "grad_d_first", "grad_d_last", "loss_ent", "loss_unl", "d_real", "d_fake")
    made_up = {"d": {k: torch.ones(len(seeds)) for k in d_keys},
               "g": {k: torch.ones(len(seeds)) for k in ("loss_gen", "grad_g_first", "grad_g_last")}}
    with patch.object(SeedGroup, "_run", lambda self, kind: made_up[kind]):
        summaries = run_seeds_in_threads(cfg.replace(device="cpu", out=out), seeds, len(seeds), "ssgan fit",
                                         stacked=True)
    return [read_metrics(Path(s["run"])) for s in summaries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--threads", type=count, default=1, help="torch threads (default 1)")
    parser.add_argument("--stacked", type=int, default=0, help="S seeds with --parallel-mode stacked (default: one run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config(dataset=args.dataset, labels=args.labels, epochs=args.epochs)
    if args.stacked:
        with tempfile.TemporaryDirectory() as out:
            histories = idle_stacked(cfg, list(range(1, args.stacked + 1)), out)
        for epoch in range(args.epochs):
            rows = [h[epoch] for h in histories]
            iterations = rows[0]["iterations"] // rows[0]["epoch"]
            # the loops run in lockstep, so a seed's epoch also holds its wait for the others'
            # evaluation of the epoch before; the seed that evaluated last waited for none
            seconds = min(m["seconds"] - m["eval_seconds"] for m in rows)
            print(json.dumps({"epoch": epoch + 1, "seeds": args.stacked, "steps_seconds": round(seconds, 3),
                              "host_us_per_iteration": round(seconds / iterations * 1e6, 1)}))
        return
    data = load_dataset(args.dataset)
    result = idle_run(cfg, data, make_split(data, args.labels, cfg.seed))
    for m in result.history:
        iterations = m["iterations"] // m["epoch"]
        print(json.dumps({"epoch": m["epoch"], "seconds": round(m["seconds"], 3), "eval_seconds": round(m["eval_seconds"], 3),
                          "host_us_per_iteration": round((m["seconds"] - m["eval_seconds"]) / iterations * 1e6, 1)}))


if __name__ == "__main__":
    run_script(main)
