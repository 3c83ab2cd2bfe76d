"""Validation errors against training minutes: what each schedule buys for its time (issue 10).

    python benchmarks/budget_curve.py runs/ablations-e20 runs/ablations-e60 --out reports/mnist-100-budget

Each folder holds screen runs (``benchmarks/ablate.py``, every run with ``--val``). Runs are
grouped by tag and length (``TAG@EPOCHS``, choose some with ``--tags``); for each group it takes the last epoch's validation errors of every
seed and the run's minutes (the sum of its epochs' ``seconds``), and writes ``budget.md``
(a table: mean and worst errors, minutes) and ``budget.png`` (the same against minutes: the
mean as a point, the worst seed as the top of its bar). Measured minutes depend on what else
ran beside each run; ``--rate`` puts every run on one footing instead: its iterations at the
seconds per iteration that ``benchmarks/speed.py`` measures for its network and precision
(``--rate fp32=0.034,dcgan:fp32=0.197``: a key ``ARCH:PRECISION`` wins over a bare precision). Only seeds that every group of a
figure shares are compared (``--seeds``). Nothing here reads the test set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_runs(folders: list[str]) -> dict[str, dict[int, dict]]:
    """{tag: {seed: {"val_errors", "n_val", "minutes", "epochs", "arch", "precision"}}} of finished runs."""
    groups: dict[str, dict[int, dict]] = {}
    for folder in folders:
        for cfg_path in sorted(Path(folder).glob("*/config.json")):
            cfg = json.loads(cfg_path.read_text())
            lines = (cfg_path.parent / "metrics.jsonl").read_text().splitlines() if (cfg_path.parent / "metrics.jsonl").is_file() else []
            metrics = [json.loads(line) for line in lines]
            if not metrics or metrics[-1]["epoch"] < cfg["epochs"] or metrics[-1].get("val_errors") is None:
                continue  # unfinished, or without a validation split
            tag = f"{cfg.get('tag') or 'default'}@{cfg['epochs']}"  # one group per tag and length
            groups.setdefault(tag, {})[cfg["seed"]] = {
                "val_errors": metrics[-1]["val_errors"], "n_val": metrics[-1]["n_val"], "epochs": cfg["epochs"],
                "minutes": sum(m.get("seconds", 0.0) for m in metrics) / 60, "precision": cfg.get("precision", "fp32"),
                "arch": cfg.get("arch") or "mlp", "iterations": metrics[-1]["iterations"]}
    return groups


def summarize(groups: dict[str, dict[int, dict]], seeds: list[int], rate: dict[str, float]) -> list[dict]:
    """One row per group; ``rate`` (seconds per iteration by ``ARCH:PRECISION`` or by precision)
    adds the minutes that the run's iterations would take at that rate, the same machine
    conditions for every row."""
    rows = []
    for tag, runs in sorted(groups.items()):
        if not all(s in runs for s in seeds):
            continue
        chosen = [runs[s] for s in seeds]
        errors = np.array([r["val_errors"] for r in chosen], dtype=float)
        rows.append({"tag": tag, "epochs": chosen[0]["epochs"], "arch": chosen[0]["arch"], "precision": chosen[0]["precision"],
                     "seeds": seeds, "val_errors": [int(e) for e in errors], "mean": float(errors.mean()),
                     "worst": int(errors.max()), "minutes": float(np.mean([r["minutes"] for r in chosen])),
                     "n_val": chosen[0]["n_val"]})
        seconds = rate.get(f"{chosen[0]['arch']}:{chosen[0]['precision']}", rate.get(chosen[0]["precision"]))
        if seconds is not None:
            rows[-1]["rate_minutes"] = chosen[0]["iterations"] * seconds / 60
    return sorted(rows, key=lambda r: r.get("rate_minutes", r["minutes"]))


def markdown(rows: list[dict]) -> str:
    out = ["| schedule | network | epochs | seeds | validation errors per seed | mean | worst | minutes per run, "
           "measured | minutes of steps at --rate |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        at_rate = f"{r['rate_minutes']:.1f}" if "rate_minutes" in r else "-"
        out.append(f"| {r['tag']} | {r['arch']} {r['precision']} | {r['epochs']} | {','.join(map(str, r['seeds']))} | "
                   f"{', '.join(map(str, r['val_errors']))} | {r['mean']:.1f} | {r['worst']} | {r['minutes']:.1f} | {at_rate} |")
    return "\n".join(out) + "\n"


def plot(rows: list[dict], path: Path, xlabel: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, r in enumerate(rows):
        x = r.get("rate_minutes", r["minutes"])
        ax.plot([x] * 2, [r["mean"], r["worst"]], color=f"C{i}", lw=1)
        ax.plot(x, r["mean"], "o", color=f"C{i}", label=f"{r['tag']} ({r['epochs']} epochs, {r['arch']} {r['precision']})")
        ax.plot(x, r["worst"], "_", color=f"C{i}", ms=12)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"validation errors (of {rows[0]['n_val']}): mean, bar to worst")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--seeds", default=None, help="comma-separated seeds every compared group has (default: all "
                                                 "seeds of the group with the fewest)")
    p.add_argument("--tags", default=None, help="comma-separated TAG@EPOCHS groups to compare (default: all)")
    p.add_argument("--rate", default=None, help="seconds per iteration by precision or ARCH:PRECISION, like fp32=0.034,dcgan:fp32=0.197 "
                                                "(benchmarks/speed.py): the x axis becomes the minutes of the runs' "
                                                "steps at that rate, instead of their measured minutes")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    groups = read_runs(args.folders)
    if args.tags:
        groups = {t: groups[t] for t in args.tags.split(",") if t in groups}
    if not groups:
        raise SystemExit("no finished runs with a validation split in " + ", ".join(args.folders))
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",")]
    else:
        seeds = sorted(set.intersection(*(set(runs) for runs in groups.values())))
    rate = {k: float(v) for k, v in (item.split("=") for item in args.rate.split(","))} if args.rate else {}
    rows = summarize(groups, seeds, rate)
    if not rows:
        raise SystemExit(f"no group has every seed of {seeds}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "budget.md").write_text(markdown(rows))
    (out / "budget.json").write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, out / "budget.png", "minutes of training steps at " + ", ".join(f"{k} {v} s/iteration" for k, v in rate.items())
         if rate else "minutes per run, as measured")
    print(markdown(rows), end="")


if __name__ == "__main__":
    main()
