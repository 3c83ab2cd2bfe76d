"""Reproduce the quality and speed figures of ssgan fit.

    python benchmarks/fit_quality.py [digits]   # SSL vs supervised-only, digits, 50 labels (< 1 min)
    python benchmarks/fit_quality.py mnist      # ssgan fit --labels 100 with the defaults, seed 1

Each measurement runs the real command line (`ssgan fit ... --json`) in a subprocess, times it
from start to exit, and prints one line of JSON. Runs go under benchmarks/runs/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from options import run_script, ssgan_command

OUT = Path(__file__).parent / "runs"


def fit(*args: str) -> dict:
    cmd = ["fit", *args, "--out", str(OUT), "--json"]
    t0 = time.perf_counter()
    result = json.loads(ssgan_command(*cmd).stdout)
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    result["command"] = " ".join(["ssgan", *cmd])
    return result


def curve(run: str) -> list[float]:
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    return [round(json.loads(line)["test_acc"], 4) for line in lines]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("which", nargs="?", choices=("digits", "mnist"), default="digits",
                   help="digits: SSL against supervised-only, 50 labels; mnist: the default fit, about an hour here")
    which = p.parse_args().which
    if which == "digits":
        ssl = fit("--dataset", "digits", "--labels", "50")
        sup = fit("--dataset", "digits", "--labels", "50", "--unlabeled-weight", "0", "--split", f"{ssl['run']}/split.json")
        print(json.dumps({"benchmark": "digits-50", "ssl_test_acc": ssl["test_acc"], "ssl_wall_seconds": ssl["wall_seconds"],
                          "supervised_only_test_acc": sup["test_acc"], "supervised_wall_seconds": sup["wall_seconds"],
                          "runs": [ssl["run"], sup["run"]]}))
    else:
        r = fit("--labels", "100")
        print(json.dumps({"benchmark": "mnist-100", "test_acc_last_epoch": r["test_acc"], "test_errors": r["test_errors"],
                          "wall_seconds": r["wall_seconds"], "run": r["run"], "test_acc_per_epoch": curve(r["run"])}))


if __name__ == "__main__":
    run_script(main)
