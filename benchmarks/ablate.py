"""Screen training settings ("levers") on MNIST-100 across seeds, choosing on validation.

    python benchmarks/ablate.py --epochs 20 --seeds 1,2,3 --parallel 2 \
        --lever default= --lever eps1e-4="--adam-eps 1e-4" --out runs/ablations-e20

Each lever is NAME=FLAGS: extra `ssgan fit` flags on top of the defaults. Every run holds out
a class-balanced validation set (--val, 5000 by default) that is never trained on; levers are
compared on its accuracy (val_acc in metrics.jsonl), and `ssgan report` of the out folder
shows val and test side by side (the test numbers are reported, never used to choose); with
`--against NAME` (the control lever, such as `default`), each lever's difference from it,
paired by seed, with its 95 % interval.
Runs go out in parallel processes of --threads threads each (2 x 1 thread on a 2-core
machine; more on a many-core one). A run folder that already holds a finished run of a
lever and seed is kept, so an interrupted screen can be started again with the same command.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from options import count, run_script, seeds_option


def finished(out: Path, tag: str, seed: int) -> bool:
    """A run of this lever and seed has reached its own last epoch (a lever may set --epochs)."""
    for cfg_path in out.glob(f"*-s{seed}-{tag}/config.json"):
        metrics = cfg_path.parent / "metrics.jsonl"
        if metrics.is_file():
            lines = metrics.read_text().splitlines()
            if lines and json.loads(lines[-1])["epoch"] >= json.loads(cfg_path.read_text())["epochs"]:
                return True
    return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lever", action="append", required=True, help="NAME=FLAGS; repeatable")
    p.add_argument("--seeds", type=seeds_option, default="1,2,3", help="seeds: a list, ranges or both, like 1,2,3 or 1-6 [1,2,3]")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--val", type=int, default=5000)
    p.add_argument("--parallel", type=count, default=2)
    p.add_argument("--threads", type=count, default=1)
    p.add_argument("--out", default="runs/ablations")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for lever in args.lever:
        name, _, flags = lever.partition("=")
        for seed in args.seeds:
            if not finished(out, name, seed):
                jobs.append((name, seed, ["ssgan", "fit", "--val", str(args.val), "--epochs", str(args.epochs),
                                          "--seed", str(seed), "--tag", name, "--out", str(out), "--device", "cpu",
                                          "--sample-every", str(args.epochs), "--quiet", *shlex.split(flags)]))
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    def run(job):
        name, seed, cmd = job
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        print(json.dumps({"lever": name, "seed": seed, "rc": done.returncode, "minutes": round((time.perf_counter() - t0) / 60, 1),
                          "command": shlex.join(cmd), "stderr": done.stderr.strip()[-300:]}), flush=True)

    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(run, jobs))


if __name__ == "__main__":
    run_script(main)
