"""How often a network of labels alone jumps off its labels, by class smoothing.

Trains the labels-only baselines (``same-net``: the labeled split alone; ``full``: every
training label) on the same held-out validation rows for each seed and class smoothing, and
prints, per setting, the runs whose labeled loss jumped (:func:`ssgan.diagnostics.labeled_loss_jumps`,
counted above the least the smoothed loss can be) and the validation errors of the last epoch.
It reads no test row: this is the measurement that chose ``--class-smoothing``'s default.

    python benchmarks/labeled_jumps.py --method same-net --smoothing 0,0.05,0.1,0.2 --seeds 1-6
    python benchmarks/labeled_jumps.py --method full --smoothing 0,0.1 --seeds 1-6

Each run trains in a process of its own, ``--parallel`` at a time with one thread each
(digits, 50 labels, 125 epochs: about 40 s a run on a 2-core CPU). ``--out`` keeps the run
folders; ``--json`` writes a line per run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

from options import count, numbers, run_script, seeds_option


def one(method: str, smoothing: float, seed: int, dataset: str, labels: int, val: int, epochs: int, out: str) -> dict:
    import torch

    from ssgan.baselines import BASELINES
    from ssgan.config import Config
    from ssgan.diagnostics import labeled_loss_jumps, loss_floor
    from ssgan.runs import read_config, read_metrics
    from ssgan.splits import load_split

    torch.set_num_threads(1)
    cfg = Config(dataset=dataset, labels=labels, val=val, seed=seed, epochs=epochs, class_smoothing=smoothing,
                 out=os.path.join(out, f"{method}-{smoothing:g}"))
    run = BASELINES[method](cfg)
    metrics = read_metrics(run)
    floor = loss_floor(read_config(run), load_split(run / "split.json").n_classes)
    return {"method": method, "smoothing": smoothing, "seed": seed, "run": str(run),
            "jumps": labeled_loss_jumps(metrics, floor), "val_errors": metrics[-1]["val_errors"],
            "n_val": metrics[-1]["n_val"], "worst_val_errors_last_20": max(m["val_errors"] for m in metrics[-20:]),
            "loss_lab": metrics[-1]["loss_lab"], "floor": floor}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", choices=("same-net", "full"), default="same-net")
    p.add_argument("--smoothing", type=numbers, default="0,0.1", help="class smoothings to compare, comma-separated [0,0.1]")
    p.add_argument("--seeds", type=seeds_option, default="1-6", help="seeds: a list, ranges or both, like 1,2,3 or 1-6 [1-6]")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--labels", type=int, default=50)
    p.add_argument("--val", type=int, default=200, help="validation rows held out of training [200]")
    p.add_argument("--epochs", type=int, default=125)
    p.add_argument("--parallel", type=count, default=2)
    p.add_argument("--out", default=None, help="keep the run folders here [a temporary folder]")
    p.add_argument("--json", default=None, help="also write a JSON line per run to this file")
    args = p.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # (inherited by the processes below)
    out = args.out or tempfile.mkdtemp(prefix="labeled-jumps-")
    smoothings = args.smoothing
    jobs = [(args.method, s, seed, args.dataset, args.labels, args.val, args.epochs, out) for s in smoothings
            for seed in args.seeds]
    with ProcessPoolExecutor(args.parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(one, *zip(*jobs)))
    if args.json:
        with open(args.json, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in results)
    print(f"{args.method} on {args.dataset}, {args.labels} labels, seeds {','.join(map(str, args.seeds))}, validation errors of "
          f"{results[0]['n_val']} rows at the last epoch:")
    for s in smoothings:
        rs = [r for r in results if r["smoothing"] == s]
        errors = [r["val_errors"] for r in rs]
        print(f"  class smoothing {s:g}: jumped in {sum(bool(r['jumps']) for r in rs)} of {len(rs)} runs "
              f"({sum(len(r['jumps']) for r in rs)} jumps), validation errors {errors}, mean "
              f"{statistics.mean(errors):.1f}, worst of the last 20 epochs {max(r['worst_val_errors_last_20'] for r in rs)}")
    sys.stdout.flush()


if __name__ == "__main__":
    run_script(main)
