"""What other busy processes on the same cores cost a run, by torch's thread settings.

    python benchmarks/shared_cores.py [--config configs/gmm2d.toml] [--epochs 10] [--busy N] [--repeats 2]

Trains ``ssgan fit --config CONFIG --epochs E`` (the small 2-D toy by default, whose every
matrix product is tiny) alone and then beside ``--busy`` processes that spin on a core each
(default: as many as the machine has cores, as when two one-thread runs of ``--parallel 2``
or other jobs fill a 2-core machine), each way with torch's default threads (one per core),
with ``OMP_NUM_THREADS=1`` and with ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP's threads sleep at a
barrier instead of spinning). Each fit is a process of its own, so the variables take effect.
One JSON line per fit: the load, the setting, its training seconds (the sum of the epochs'
``seconds`` in ``metrics.jsonl``: no start-up, no evaluation after the last epoch) and its
last epoch's ``loss_unl`` (the same for the same thread count: the wait policy changes the
timing only, and one thread computes other sums than two). Then one line of medians.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import tempfile
from pathlib import Path

from ssgan.environment import sessions
from ssgan.runs import read_metrics
from options import count, run_script, ssgan_command

SETTINGS = {"default": {}, "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
            "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}}


def _spin() -> None:
    while True:
        pass


def fit(config: str, epochs: int, extra_env: dict, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(extra_env)
    done = ssgan_command("fit", "--config", config, "--epochs", str(epochs), "--out", str(out), "--quiet", "--json",
                         env=env)
    run = Path(json.loads(done.stdout)["run"])
    rows = read_metrics(run)
    return {"training_s": round(sum(r["seconds"] for r in rows), 2), "threads": sessions(run)[0]["threads"],
            "loss_unl": rows[-1]["loss_unl"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/gmm2d.toml")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--busy", type=count, default=os.cpu_count() or 1, help="spinning processes beside (default: cores)")
    ap.add_argument("--repeats", type=count, default=2)
    args = ap.parse_args()

    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for load in ("alone", f"beside {args.busy} busy"):
            spinners = []
            if load != "alone":
                spinners = [mp.Process(target=_spin, daemon=True) for _ in range(args.busy)]
                for p in spinners:
                    p.start()
            try:
                for _ in range(args.repeats):
                    for name, extra in SETTINGS.items():
                        row = {"load": load, "setting": name, **fit(args.config, args.epochs, extra, Path(tmp))}
                        results.setdefault((load, name), []).append(row["training_s"])
                        print(json.dumps(row), flush=True)
            finally:
                for p in spinners:
                    p.terminate()
    print(json.dumps({"config": args.config, "epochs": args.epochs, "cores": os.cpu_count(),
                      "median_training_s": {f"{load}, {name}": statistics.median(v)
                                            for (load, name), v in results.items()}}))


if __name__ == "__main__":
    run_script(main)
