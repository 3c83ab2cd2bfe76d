"""benchmarks/budget_curve.py --per-epoch, and the property it rests on: under a constant
learning rate, epoch E of a longer run is where a run of E epochs ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from ssgan.config import Config
from ssgan.splits import make_split
from ssgan.train import train

SCRIPT = ROOT / "benchmarks" / "budget_curve.py"


def test_a_constant_rate_run_is_a_prefix_of_a_longer_one(digits):
    cfg = Config(dataset="digits", lr_decay_start=1.0, ema_decay=0.99, device="cpu", g_hidden="50", d_hidden="100,50")
    short = train(cfg.replace(epochs=2), digits, make_split(digits, 50, 1))
    long = train(cfg.replace(epochs=3), digits, make_split(digits, 50, 1))
    keys = ("test_errors", "loss_lab", "loss_unl", "loss_gen", "lr")
    assert [[m[k] for k in keys] for m in short.history] == [[m[k] for k in keys] for m in long.history[:2]]
    assert long.history[2]["test_errors"] is not None
    # a decaying schedule has no such property: its rate at epoch 2 depends on the length
    decaying = train(cfg.replace(epochs=3, lr_decay_start=0.5), digits, make_split(digits, 50, 1))
    assert decaying.history[1]["lr"] != long.history[1]["lr"]


def _run(folder: Path, name: str, seed: int, errors: list[int], tag: str = "const", decay: float = 1.0,
         key: str = "val_errors") -> None:
    run = folder / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"seed": seed, "tag": tag, "lr_decay_start": decay, "epochs": 300,
                                                 "arch": "mlp", "precision": "bf16"}))
    n_key = "n_val" if key == "val_errors" else "n_test"
    lines = [{"epoch": i + 1, "iterations": 550 * (i + 1), key: e, n_key: 5000, "seconds": 60.0}
             for i, e in enumerate(errors)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))


def test_per_epoch_curve_mean_worst_and_common_epochs(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "a", 1, [100, 80, 70, 60])
    _run(runs, "b", 2, [120, 90, 75])  # still going: the curve stops at epoch 3
    _run(runs, "c", 1, [10, 10, 10], tag="decaying", decay=0.5)  # refused
    out = subprocess.run([sys.executable, str(SCRIPT), str(runs), "--per-epoch", "--every", "1", "--rate", "bf16=0.02",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, check=True).stdout
    assert "skipped c (its rate decays" in out
    rows = json.loads((tmp_path / "out" / "curve-val.json").read_text())
    assert [(r["epoch"], r["errors"], r["mean"], r["worst"]) for r in rows] == [
        (1, [100, 120], 110.0, 120), (2, [80, 90], 85.0, 90), (3, [70, 75], 72.5, 75)]
    assert [r["minutes"] for r in rows] == [1.0, 2.0, 3.0]
    assert abs(rows[2]["rate_minutes"] - 3 * 550 * 0.02 / 60) < 1e-9
    assert (tmp_path / "out" / "curve-val.png").stat().st_size > 0
    assert "| const | 3 | 1,2 | 70, 75 | 72.5 | 75 |" in (tmp_path / "out" / "curve-val.md").read_text()


def test_per_epoch_test_metric_reads_test_errors_only(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "a", 1, [50, 40], key="test_errors")
    res = subprocess.run([sys.executable, str(SCRIPT), str(runs), "--per-epoch", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "no constant-rate runs with val_errors" in res.stderr
    subprocess.run([sys.executable, str(SCRIPT), str(runs), "--per-epoch", "--metric", "test", "--out", str(tmp_path / "o")],
                   capture_output=True, check=True)
    rows = json.loads((tmp_path / "o" / "curve-test.json").read_text())
    assert [r["errors"] for r in rows] == [[50], [40]] and rows[0]["n"] == 5000


def test_window_means_and_an_included_earlier_curve(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "a", 1, [100, 80, 70, 60], tag="new")
    _run(runs, "b", 2, [120, 90, 80, 70], tag="new")
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps([{"tag": "old", "epoch": e, "seeds": [1, 2], "errors": [m, m], "mean": float(m),
                                    "worst": m, "n": 5000, "minutes": float(e), "window_mean": -1.0}
                                   for e, m in ((1, 90), (2, 70), (3, 60), (4, 50))]))
    cmd = [sys.executable, str(SCRIPT), str(runs), "--per-epoch", "--every", "1", "--window", "2",
           "--include", str(earlier), "--out", str(tmp_path / "out")]
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = json.loads((tmp_path / "out" / "curve-val.json").read_text())
    windows = {(r["tag"], r["epoch"]): r.get("window_mean") for r in rows}
    # new: epoch means 110, 85, 75, 65; a window of 2 needs the epoch before
    assert windows == {("new", 1): None, ("new", 2): 97.5, ("new", 3): 80.0, ("new", 4): 70.0,
                       ("old", 1): None, ("old", 2): 80.0, ("old", 3): 65.0, ("old", 4): 55.0}
    table = (tmp_path / "out" / "curve-val.md").read_text()
    assert "| new | 4 | 1,2 | 60, 70 | 65.0 | 70.0 | 70 |" in table and "| old | 1 | 1,2 | 90, 90 | 90.0 | - | 90 |" in table
    # an earlier curve of other seeds is refused in one line
    earlier.write_text(json.dumps([{"tag": "old", "epoch": 1, "seeds": [1, 4], "errors": [1, 1], "mean": 1.0,
                                    "worst": 1, "n": 5000, "minutes": 1.0}]))
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode != 0 and "seeds [1, 4]" in res.stderr and "Traceback" not in res.stderr
    # rows of the runs' own tag come from the runs: a curve remade into the file it includes stays the same
    earlier.write_text(json.dumps([{"tag": "new", "epoch": 1, "seeds": [1, 2], "errors": [1, 1], "mean": 1.0,
                                    "worst": 1, "n": 5000, "minutes": 1.0}]))
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert json.loads((tmp_path / "out" / "curve-val.json").read_text()) == [r for r in rows if r["tag"] == "new"]


def test_the_committed_long_curve_reads_as_its_notes_say(benchmark_script):
    """reports/mnist-100-long's rule read 66.6 validation errors over epochs 241-250 (seeds 1, 2, 4)."""
    rows = json.loads((SCRIPT.parents[1] / "reports" / "mnist-100-long" / "curve-val.json").read_text())
    module = benchmark_script("budget_curve")
    rows = [r for r in rows if r["tag"] == "const-bf16"]
    module.add_window(rows, 10)
    windows = {r["epoch"]: round(r["window_mean"], 1) for r in rows if "window_mean" in r}
    assert (windows[50], windows[250], windows[300]) == (86.5, 66.6, 66.5)
