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
from options import count, run_script, seeds_option  # noqa: E402

from ssgan.config import Config  # noqa: E402


def _run_folders(folders: list[str]):
    """(name, config, per-epoch metrics, arch, precision) of every run folder under ``folders``."""
    for folder in folders:
        for cfg_path in sorted(Path(folder).glob("*/config.json")):
            cfg = json.loads(cfg_path.read_text())
            path = cfg_path.parent / "metrics.jsonl"
            metrics = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
            yield cfg_path.parent.name, cfg, metrics, cfg.get("arch") or "mlp", cfg.get("precision", "fp32")


def _step_seconds(rate: dict[str, float], arch: str, precision: str) -> float | None:
    """Seconds per iteration from ``--rate``: a key ``ARCH:PRECISION`` wins over a bare precision."""
    return rate.get(f"{arch}:{precision}", rate.get(precision))


def read_runs(folders: list[str]) -> dict[str, dict[int, dict]]:
    """{tag: {seed: {"val_errors", "n_val", "minutes", "epochs", "arch", "precision"}}} of finished runs."""
    groups: dict[str, dict[int, dict]] = {}
    for _, cfg, metrics, arch, precision in _run_folders(folders):
        if not metrics or metrics[-1]["epoch"] < cfg["epochs"] or metrics[-1].get("val_errors") is None:
            continue  # unfinished, or without a validation split
        tag = f"{cfg.get('tag') or 'default'}@{cfg['epochs']}"  # one group per tag and length
        groups.setdefault(tag, {})[cfg["seed"]] = {
            "val_errors": metrics[-1]["val_errors"], "n_val": metrics[-1]["n_val"], "epochs": cfg["epochs"],
            "minutes": sum(m.get("seconds", 0.0) for m in metrics) / 60, "precision": precision,
            "arch": arch, "iterations": metrics[-1]["iterations"]}
    return groups


METRICS = {"val": ("val_errors", "n_val", "validation"), "test": ("test_errors", "n_test", "test")}


def read_curves(folders: list[str], metric: str) -> tuple[dict[str, dict[int, dict]], list[str]]:
    """({tag: {seed: {"metrics", "arch", "precision"}}}, skipped runs) of constant-rate runs with ``metric``."""
    key = METRICS[metric][0]
    groups: dict[str, dict[int, dict]] = {}
    skipped = []
    for name, cfg, metrics, arch, precision in _run_folders(folders):
        if cfg.get("lr_decay_start", Config.lr_decay_start) < 1.0:
            skipped.append(f"{name} (its rate decays: its epochs are not shorter runs)")
            continue
        metrics = [m for m in metrics if m.get(key) is not None]
        if metrics:
            groups.setdefault(cfg.get("tag") or "default", {})[cfg["seed"]] = {
                "metrics": metrics, "arch": arch, "precision": precision}
    return groups, skipped


def summarize_curves(groups: dict[str, dict[int, dict]], seeds: list[int], metric: str,
                     rate: dict[str, float]) -> list[dict]:
    """One row per tag and epoch that every seed has reached: errors per seed, mean, worst, minutes."""
    key, n_key, _ = METRICS[metric]
    rows = []
    for tag, runs in sorted(groups.items()):
        if not all(s in runs for s in seeds):
            continue
        curves = [runs[s]["metrics"] for s in seeds]
        arch, precision = runs[seeds[0]]["arch"], runs[seeds[0]]["precision"]
        seconds = _step_seconds(rate, arch, precision)
        minutes = [np.cumsum([m.get("seconds", 0.0) for m in c]) / 60 for c in curves]
        for i in range(min(len(c) for c in curves)):
            first = curves[0][i]
            if any(c[i]["epoch"] != first["epoch"] for c in curves):
                raise SystemExit(f"{tag}: the seeds' metrics.jsonl do not list the same epochs")
            errors = np.array([c[i][key] for c in curves], dtype=float)
            row = {"tag": tag, "epoch": first["epoch"], "seeds": seeds, "errors": [int(e) for e in errors],
                   "mean": float(errors.mean()), "worst": int(errors.max()), "n": first[n_key],
                   "minutes": float(np.mean([m[i] for m in minutes])), "arch": arch, "precision": precision}
            if seconds is not None:
                row["rate_minutes"] = first["iterations"] * seconds / 60
            rows.append(row)
    return rows


def add_window(rows: list[dict], window: int) -> None:
    """Give each row ``window_mean``: the mean over seeds and over the ``window`` epochs that end
    at its own (one epoch's count moves by a few errors, so a length is read over its last epochs);
    rows without ``window`` epochs of their tag behind them get none."""
    by_tag: dict[str, dict[int, float]] = {}
    for r in rows:
        by_tag.setdefault(r["tag"], {})[r["epoch"]] = r["mean"]
    for r in rows:
        means = by_tag[r["tag"]]
        span = range(r["epoch"] - window + 1, r["epoch"] + 1)
        r.pop("window_mean", None)
        if all(e in means for e in span):
            r["window_mean"] = float(np.mean([means[e] for e in span]))


def read_included(paths: list[str], rows: list[dict], seeds: list[int]) -> list[dict]:
    """Rows of earlier per-epoch curves (their ``curve-*.json``), to compare with the runs at hand
    when those runs' folders are gone: the same seeds and counts. Rows of a tag that the runs
    have come from the runs, so that a curve remade into the file it includes stays the same."""
    own_tags = {r["tag"] for r in rows}
    n = {r["n"] for r in rows}
    included = []
    for path in paths:
        try:
            earlier = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"--include {path}: not a readable curve JSON ({e}); give a curve-*.json that "
                             "budget_curve.py --per-epoch wrote") from None
        for r in earlier:
            if r["tag"] in own_tags:
                continue
            if r["seeds"] != seeds or (n and r["n"] not in n):
                raise SystemExit(f"--include {path}: its rows are of seeds {r['seeds']} and {r['n']} examples, the runs' "
                                 f"of seeds {seeds} and {sorted(n)}; pass --seeds and --metric to match")
            included.append({k: v for k, v in r.items() if k != "window_mean"})
    return included


def curve_markdown(rows: list[dict], every: int, metric: str, window: int = 0) -> str:
    head = f"| schedule | epoch | seeds | {METRICS[metric][2]} errors per seed | mean |"
    rule = "|---|---|---|---|---|"
    if window:
        head += f" mean of epochs E-{window - 1}..E |" if window > 1 else " mean |"
        rule += "---|"
    out = [head + " worst | minutes per run, measured | minutes of steps at --rate |", rule + "---|---|---|"]
    last = {r["tag"]: r["epoch"] for r in rows}  # rows run in epoch order within a tag
    for r in rows:
        if r["epoch"] % every and r["epoch"] != last[r["tag"]]:
            continue
        at_rate = f"{r['rate_minutes']:.1f}" if "rate_minutes" in r else "-"
        windowed = (f" {r['window_mean']:.1f} |" if "window_mean" in r else " - |") if window else ""
        out.append(f"| {r['tag']} | {r['epoch']} | {','.join(map(str, r['seeds']))} | {', '.join(map(str, r['errors']))} | "
                   f"{r['mean']:.1f} |{windowed} {r['worst']} | {r['minutes']:.1f} | {at_rate} |")
    return "\n".join(out) + "\n"


def plot_curves(rows: list[dict], path: Path, xlabel: str, metric: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, tag in enumerate(sorted({r["tag"] for r in rows})):
        own = [r for r in rows if r["tag"] == tag]
        x = [r.get("rate_minutes", r["minutes"]) for r in own]
        ax.plot(x, [r["mean"] for r in own], color=f"C{i}", label=f"{tag}: mean of seeds {','.join(map(str, own[0]['seeds']))}")
        ax.plot(x, [r["worst"] for r in own], color=f"C{i}", ls="--", lw=1, label=f"{tag}: worst seed")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{METRICS[metric][2]} errors (of {rows[0]['n']}), log scale")
    ax.set_yscale("log")  # the first epochs' errors are tens of times the last ones'
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


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
        seconds = _step_seconds(rate, chosen[0]["arch"], chosen[0]["precision"])
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


def rates(text: str) -> dict[str, float]:
    """``--rate``: seconds per iteration by precision or ARCH:PRECISION, ``fp32=0.034,dcgan:fp32=0.197``."""
    out = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0  # (refused below, with the rest)
        if not key.strip() or not seconds > 0:
            raise argparse.ArgumentTypeError(f"give KEY=SECONDS pairs like fp32=0.034,dcgan:fp32=0.197, got {item!r}")
        out[key.strip()] = seconds
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--seeds", type=seeds_option, default=None, help="seeds every compared group has, like 1,2,4 or 1-5 (default: all "
                                                 "seeds of the group with the fewest)")
    p.add_argument("--tags", default=None, help="comma-separated TAG@EPOCHS groups to compare (with --per-epoch: TAG; default: all)")
    p.add_argument("--rate", type=rates, default={}, help="seconds per iteration by precision or ARCH:PRECISION, like fp32=0.034,dcgan:fp32=0.197 "
                                                "(benchmarks/speed.py): the x axis becomes the minutes of the runs' "
                                                "steps at that rate, instead of their measured minutes")
    p.add_argument("--per-epoch", action="store_true", help="whole curves of constant-rate runs, one per tag")
    p.add_argument("--metric", choices=sorted(METRICS), default="val", help="--per-epoch: validation (to choose) or "
                                                                          "test errors (to report)")
    p.add_argument("--every", type=count, default=10, help="--per-epoch: the table lists every this many epochs")
    p.add_argument("--window", type=int, default=0, help="--per-epoch: a column with the mean over each listed "
                                                        "epoch's last this many epochs (and window_mean in the JSON)")
    p.add_argument("--include", action="append", default=[], help="--per-epoch: a curve-*.json written earlier, "
                                                                 "compared beside the runs (repeatable)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    rate = args.rate
    xlabel = ("minutes of training steps at " + ", ".join(f"{k} {v} s/iteration" for k, v in rate.items())
              if rate else "minutes per run, as measured")
    out = Path(args.out)
    if args.per_epoch:
        groups, skipped = read_curves(args.folders, args.metric)
        for line in skipped:
            print("skipped", line)
    else:
        groups = read_runs(args.folders)
    if args.tags:
        groups = {t: groups[t] for t in args.tags.split(",") if t in groups}
    if not groups:
        what = "constant-rate runs with " + METRICS[args.metric][0] if args.per_epoch else "finished runs with a validation split"
        raise SystemExit(f"no {what} in " + ", ".join(args.folders))
    if args.seeds:
        seeds = args.seeds
    else:
        seeds = sorted(set.intersection(*(set(runs) for runs in groups.values())))
    if args.per_epoch:
        rows = summarize_curves(groups, seeds, args.metric, rate)
        rows += read_included(args.include, rows, seeds)
        if args.window:
            add_window(rows, args.window)
    else:
        rows = summarize(groups, seeds, rate)
    if not rows:
        raise SystemExit(f"no group has every seed of {seeds}")
    out.mkdir(parents=True, exist_ok=True)
    if args.per_epoch:
        table = curve_markdown(rows, args.every, args.metric, args.window)
        name = f"curve-{args.metric}"
        plot_curves(rows, out / f"{name}.png", xlabel, args.metric)
    else:
        table = markdown(rows)
        name = "budget"
        plot(rows, out / f"{name}.png", xlabel)
    (out / f"{name}.md").write_text(table)
    # one row per line: a per-epoch curve has hundreds of rows
    (out / f"{name}.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")
    print(table, end="")


if __name__ == "__main__":
    run_script(main)
