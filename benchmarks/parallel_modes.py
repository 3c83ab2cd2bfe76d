"""Several seeds trained at once on this machine, by ``--parallel-mode``: time and results.

    python benchmarks/parallel_modes.py [--seeds 1-2] [--epochs 2] [--modes processes,threads] [--rounds 2]
                                        [--device auto]

For each round, the modes in turn: ``ssgan fit --labels 100 --epochs E --seeds S --parallel
N --parallel-mode M`` (N: as many as the seeds, so all train at once), as a user runs it, in a
process of its own. One JSON line each: the mode, its wall seconds (start-up included), and for
every seed its epochs' ``seconds`` (``metrics.jsonl``) and its test errors at each epoch. Then
a line of the median wall seconds by mode, and whether each seed ended at the same test errors
in every mode and round: processes and threads give each run the same share of the cores
(``OMP_NUM_THREADS`` or as many intra-op threads), so the same seed should train alike in both;
stacked seeds draw D's noise from their group's generator and need not. OMP_NUM_THREADS, if set
here, reaches every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ssgan.config import PARALLEL_MODES
from ssgan.runs import read_metrics
from ssgan.train import resolve_device
from options import benchmark_environment, count, run_script, seeds_option, ssgan_command


def modes_option(text: str) -> list[str]:
    """``--modes``: comma-separated ``--parallel-mode`` values.

    >>> modes_option("processes,threads")
    ['processes', 'threads']
    """
    modes = text.split(",")
    if wrong := [m for m in modes if m not in PARALLEL_MODES]:
        raise argparse.ArgumentTypeError(f"unknown mode {wrong[0]!r}: choose from {', '.join(PARALLEL_MODES)}")
    return modes


def fit_seeds(mode: str, seeds: list[int], epochs: int, labels: int, device: str, out: Path) -> dict:
    """One ``ssgan fit`` of ``seeds`` at once in ``mode``: its wall time and each seed's epochs."""
    start = time.perf_counter()
    done = ssgan_command("fit", "--labels", str(labels), "--epochs", str(epochs), "--seeds",
                         ",".join(map(str, seeds)), "--parallel", str(len(seeds)), "--parallel-mode", mode,
                         "--device", device, "--out", str(out), "--quiet", "--json")
    wall = time.perf_counter() - start
    runs = {}
    for summary in json.loads(done.stdout)["runs"]:
        rows = read_metrics(Path(summary["run"]))
        runs[str(summary["seed"])] = {"epoch_seconds": [round(r["seconds"], 1) for r in rows],
                                      "test_errors": [r["test_errors"] for r in rows]}
    return {"mode": mode, "wall_s": round(wall, 1), "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=seeds_option, default=[1, 2], help="seeds trained at once [1-2]")
    ap.add_argument("--epochs", type=count, default=2)
    ap.add_argument("--labels", type=count, default=100)
    ap.add_argument("--modes", type=modes_option, default=["processes", "threads"])
    ap.add_argument("--rounds", type=count, default=2, help="each mode this many times, the modes alternating")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if len(args.seeds) < 2:
        ap.error("--seeds: give two or more, which train at once")

    device = resolve_device(args.device)  # (a device that is not there: one line, before any fit)
    environment = benchmark_environment(device)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, args.rounds + 1):
            for mode in args.modes:
                line = {"round": round_, **fit_seeds(mode, args.seeds, args.epochs, args.labels,
                                                     str(device), Path(tmp) / f"{round_}-{mode}"),
                        "environment": environment}
                lines.append(line)
                print(json.dumps(line), flush=True)
    walls = {mode: [line["wall_s"] for line in lines if line["mode"] == mode] for mode in args.modes}
    print(json.dumps({"seeds": args.seeds, "epochs": args.epochs, "labels": args.labels,
                      "median_wall_s": {mode: statistics.median(seconds) for mode, seconds in walls.items()},
                      "same_test_errors_in_every_mode": all(
                          len({line["runs"][seed]["test_errors"][-1] for line in lines}) == 1
                          for seed in map(str, args.seeds))}))


if __name__ == "__main__":
    run_script(main)
