import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ssgan.cli import main
from ssgan.errors import SSGANError
from ssgan.metrics import classification_metrics
from ssgan.report import find_runs


def invoke(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r


def test_metrics_on_a_known_confusion_matrix():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    m = classification_metrics(y_true, y_pred, 3)
    assert m["confusion_matrix"] == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["errors"] == 2 and m["n"] == 8 and m["accuracy"] == pytest.approx(0.75)
    assert m["per_class_accuracy"] == pytest.approx([0.75, 1.0, 0.5])
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 1.0 + 0.5) / 3)
    # F1 per class: 2PR/(P+R) with P = [3/4, 2/3, 1], R = [3/4, 1, 1/2]
    f1 = [0.75, 2 * (2 / 3) / (2 / 3 + 1), 2 * 0.5 / 1.5]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))


def test_metrics_of_data_without_a_class_leave_it_out_of_the_averages():
    """Data of classes 0 and 2 of three, scored on their own: class 1 has no accuracy (not 0),
    and macro-F1 averages the classes in the data or the predictions (class 1 is in neither)."""
    y_true, y_pred = np.array([0, 0, 2, 2]), np.array([0, 0, 2, 0])
    m = classification_metrics(y_true, y_pred, 3)
    assert m["per_class_accuracy"] == [1.0, None, 0.5]
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    assert m["macro_f1"] == pytest.approx(np.mean([2 * (2 / 3) / (2 / 3 + 1), 2 * 0.5 / 1.5]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    r = invoke("fit", "--dataset", "digits", "--labels", 50, "--epochs", 2, "--seeds", 3, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    agg = json.loads(r.stdout)
    splits = [f"{run['run']}/split.json" for run in agg["runs"]]
    args = ["baseline", "--method", "same-net", "--method", "logreg", "--epochs", 2, "--out", out, "--json"]
    for s in splits:
        args += ["--split", s]
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    return out, agg, json.loads(r.stdout)


def test_seeds_run_in_sequence_with_their_own_splits(runs):
    out, agg, _ = runs
    assert agg["seeds"] == [1, 2, 3] and len({r["run"] for r in agg["runs"]}) == 3
    splits = [json.loads((out / r["run"].split("/")[-1] / "split.json").read_text())["indices"] for r in agg["runs"]]
    assert splits[0] != splits[1] != splits[2]
    assert agg["test_acc_mean"] == pytest.approx(np.mean([r["test_acc"] for r in agg["runs"]]))


def test_baselines_use_exactly_the_same_labels(runs):
    out, agg, baselines = runs
    assert [b["method"] for b in baselines] == ["same-net", "logreg"] * 3
    for b in baselines:
        assert 0.0 < b["test_acc"] <= 1.0
    ssl = {r["seed"]: json.loads((out / r["run"].split("/")[-1] / "split.json").read_text())["indices"] for r in agg["runs"]}
    for b in baselines:
        split = json.loads((out / b["run"].split("/")[-1] / "split.json").read_text())
        assert split["indices"] == ssl[b["seed"]]


def test_baselines_of_a_run_train_its_network_on_its_labels_beside_it(tmp_path):
    """--run: same-net and full take the SSL run's settings (here a smaller D, batch 30, 1
    epoch, --val), every baseline its split, and they land in the run's folder of runs; the
    command line still wins (--epochs)."""
    out = tmp_path / "runs"
    r = invoke("fit", "--dataset", "digits", "--labels", 50, "--val", 100, "--epochs", 1, "--batch-size", 30,
               "--d-hidden", "64,32", "--seed", 4, "--out", out, "--json", "--quiet")
    assert r.exit_code == 0, r.output
    run = Path(json.loads(r.stdout)["run"])
    r = invoke("baseline", "--run", run, "--method", "same-net", "--method", "full", "--method", "logreg", "--json")
    assert r.exit_code == 0, r.output
    made = {b["method"]: Path(b["run"]) for b in json.loads(r.stdout)}
    assert all(d.parent == out for d in made.values()) and {b["seed"] for b in json.loads(r.stdout)} == {4}
    ssl = json.loads((run / "config.json").read_text())
    for method in ("same-net", "full"):
        cfg = json.loads((made[method] / "config.json").read_text())
        assert {k: cfg[k] for k in ("d_hidden", "batch_size", "epochs", "val")} == {
            "d_hidden": "64,32", "batch_size": 30, "epochs": 1, "val": 100}
        assert cfg["tag"] == method and cfg["unlabeled_weight"] == 0.0 and ssl["unlabeled_weight"] == 1.0
        # (same-net's default smoothing keeps its loss from jumping; full's is none: README, Diagnostics)
        assert cfg["class_smoothing"] == {"same-net": 0.1, "full": 0.0}[method] and ssl["class_smoothing"] is None
    split = json.loads((run / "split.json").read_text())
    for method in ("same-net", "logreg"):
        theirs = json.loads((made[method] / "split.json").read_text())
        assert theirs["indices"] == split["indices"] and theirs["val_indices"] == split["val_indices"]
    other = {"fp32": "bf16", "bf16": "fp32"}[ssl["precision"]]  # (auto is saved as what it became)
    r = invoke("baseline", "--run", run, "--method", "same-net", "--epochs", 2, "--class-smoothing", 0,
               "--precision", other, "--out", tmp_path / "longer", "--json")
    assert r.exit_code == 0, r.output
    longer = Path(json.loads(r.stdout)[0]["run"])
    cfg = json.loads((longer / "config.json").read_text())
    assert (cfg["epochs"], cfg["class_smoothing"], cfg["precision"]) == (2, 0.0, other)
    assert longer.parent == tmp_path / "longer"


def test_baselines_of_a_folder_of_runs_are_those_of_its_ssl_runs(runs, tmp_path):
    """--run FOLDER: one job per SSL run in it; the baselines already there are not runs to copy."""
    out, agg, _ = runs
    r = invoke("baseline", "--run", out, "--method", "logreg", "--out", tmp_path / "new", "--json")
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert [b["seed"] for b in made] == [1, 2, 3] and all(b["method"] == "logreg" for b in made)
    for b, ssl in zip(made, agg["runs"]):
        assert (json.loads((Path(b["run"]) / "split.json").read_text())["indices"]
                == json.loads((Path(ssl["run"]) / "split.json").read_text())["indices"])
    r = invoke("baseline", "--run", tmp_path / "new", "--method", "logreg")
    assert r.exit_code == 2 and "holds no semi-supervised run folder" in r.output, r.output


@pytest.mark.parametrize("args, message", [
    (["--seeds", "2"], "--run brings the run's split and settings: give it without --split, --seeds or --config"),
    (["--labels", "100"], "--labels 100 disagrees with split file"),
])
def test_baselines_of_a_run_refuse_what_contradicts_it(runs, args, message):
    out, agg, _ = runs
    r = invoke("baseline", "--run", agg["runs"][0]["run"], "--method", "logreg", "--out", out / "never", *args)
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (out / "never").exists()


def test_baselines_train_once_per_split_and_method(runs, tmp_path):
    """A --run, --split or --method given twice trained the same baseline twice, into two
    folders that a report then counted as two seeds."""
    import shutil

    out, agg, _ = runs
    first = agg["runs"][0]["run"]
    split = f"{first}/split.json"
    copy = tmp_path / "copy.json"
    shutil.copy(split, copy)
    for args, message in [
        (["--run", first, "--run", first], f"--run {first} is given twice (named twice, or also in a folder named): "
                                           "name each run once"),
        (["--run", out, "--run", first], f"--run {first} is given twice (named twice, or also in a folder named): "
                                         "name each run once"),
        (["--split", split, "--split", copy], f"{split} and {copy} are the same labeled split (seed 1): each baseline "
                                              "trains once on it, so give --split one of them"),
        (["--split", split, "--method", "same-net", "--method", "same-net"],
         "--method same-net is given twice: name each method once"),
    ]:
        r = invoke("baseline", *args, "--method", "logreg", "--out", tmp_path / "never")
        assert r.exit_code == 2 and r.output == f"Error: {message}\n", r.output
    assert not (tmp_path / "never").exists()


def test_baselines_of_an_ablations_runs_train_once_per_split(tmp_path):
    """`baseline --run FOLDER` of an ablation (levers that share each seed's split) trained
    logreg once per run, three runs of one seed that `report` then refused as one seed counted
    twice. A scikit-learn method, or a network one whose settings the levers do not change (the
    GAN's alone), trains once per split; a network baseline of levers that change its settings
    is one line before anything trains; the report takes the folder."""
    out = tmp_path / "abl"
    for extra in ([], ["--entropy-weight", "0", "--tag", "ent0"], ["--lr", "0.001", "--tag", "lr"]):
        r = invoke("fit", "--dataset", "digits", "--labels", 50, "--epochs", 1, "--seeds", 2, "--out", out, "--quiet",
                   *extra)
        assert r.exit_code == 0, r.output
    r = invoke("baseline", "--run", out, "--method", "same-net", "--method", "logreg", "--epochs", 1)
    assert r.exit_code == 2 and r.output == (
        f"Error: {out}/00000-digits-50-s1 and {out}/00004-digits-50-s1-lr share the labeled split of seed 1 but differ "
        "in lr: same-net would train twice on one split, runs that a report cannot tell apart; give --run the runs of "
        "one setting (the control's), or train logreg and label-spreading alone, once per split\n"), r.output
    assert len(list(out.iterdir())) == 6
    r = invoke("baseline", "--run", out / "00000-digits-50-s1", "--run", out / "00001-digits-50-s2", "--run",
               out / "00002-digits-50-s1-ent0", "--run", out / "00003-digits-50-s2-ent0", "--method", "same-net",
               "--epochs", 1, "--json")
    assert r.exit_code == 0, r.output
    assert sorted(result["seed"] for result in json.loads(r.stdout)) == [1, 2]  # (ent0 changes the GAN alone)
    r = invoke("baseline", "--run", out, "--method", "logreg")
    assert r.exit_code == 0, r.output
    assert sorted(p.name.split("-s")[-1] for p in out.glob("*logreg")) == ["1-logreg", "2-logreg"]
    assert f"logreg           seed 1: the same labeled split and settings as {out}/00000-digits-50-s1, whose logreg " \
           "run is above" in r.stderr, r.stderr
    r = invoke("report", out, "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output


def test_baselines_on_fewer_rows_than_a_batch(tmp_path, tiny_npz):
    """On data of fewer training rows than the default batch of 100 (here 60), the scikit-learn
    baselines train: they take no batches, and had been refused for one, with a line that named
    --batch-size, which baseline did not have. same-net takes --batch-size now; options of the
    networks alone, beside scikit-learn methods alone, are said to do nothing."""
    r = invoke("baseline", "--dataset", tiny_npz, "--method", "logreg", "--method", "label-spreading", "--out",
               tmp_path / "runs", "--json")
    assert r.exit_code == 0 and r.stderr == "" and len(json.loads(r.stdout)) == 2, r.output
    r = invoke("baseline", "--dataset", tiny_npz, "--method", "same-net", "--out", tmp_path / "runs")
    assert r.exit_code == 2 and r.output == (f"Error: --batch-size 100 exceeds the 60 training examples of {tiny_npz}: "
                                             "use --batch-size 60 or less (in a --config file: batch_size = 60)\n")
    r = invoke("baseline", "--dataset", tiny_npz, "--method", "same-net", "--batch-size", "20", "--epochs", "1",
               "--out", tmp_path / "runs", "--json")
    assert r.exit_code == 0 and json.loads((Path(json.loads(r.stdout)[0]["run"]) / "config.json").read_text())[
        "batch_size"] == 20, r.output
    r = invoke("baseline", "--dataset", tiny_npz, "--method", "logreg", "--epochs", "5", "--batch-size", "20", "--out",
               tmp_path / "runs", "--json")
    assert r.exit_code == 0 and r.stderr == ("Warning: --epochs and --batch-size have no effect on logreg: they act only "
                                             "on the network baselines, same-net and full\n"), r.output
    r = invoke("baseline", "--dataset", tiny_npz, "--method", "logreg", "--class-smoothing", "0", "--out",
               tmp_path / "runs", "--json")
    assert r.exit_code == 0 and r.stderr == ("Warning: --class-smoothing has no effect on logreg: it acts only "
                                             "on the network baselines, same-net and full\n"), r.output
    r = invoke("baseline", "--dataset", tiny_npz, "--method", "logreg", "--precision", "fp32", "--out",
               tmp_path / "runs", "--json")
    assert r.exit_code == 0 and r.stderr.startswith("Warning: --precision has no effect on logreg"), r.output


def test_baselines_of_a_baseline_are_refused(runs):
    out, _, baselines = runs
    r = invoke("baseline", "--run", baselines[1]["run"], "--method", "logreg")
    assert r.exit_code == 2 and "is a logreg baseline: pass the semi-supervised run it belongs to" in r.output, r.output


def test_a_baseline_without_networks_is_told_so_where_networks_are_needed(runs, tmp_path):
    """eval, predict, sample and --resume of a logreg run had said it has no checkpoint.pt,
    'removed, or the run stopped before writing one' (--resume: a config key it did not know)."""
    _, _, baselines = runs
    run = baselines[1]["run"]
    assert baselines[1]["method"] == "logreg"
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 1, 8, 8), np.float32))
    for args in (["eval", run], ["sample", run], ["predict", run, "--data", f"npz:{tmp_path / 'x.npz'}", "--out",
                                                   tmp_path / "p.csv"], ["fit", "--resume", run]):
        r = invoke(*args)
        assert r.exit_code == 2 and r.output == (
            f"Error: {run} is a logreg baseline, which has no networks to use or train: eval, predict, sample and "
            "--resume take runs of ssgan fit (or of baseline same-net or full); ssgan report reads it\n"), r.output
    assert not (tmp_path / "p.csv").exists()


def test_eval_prints_metrics_and_json(runs):
    out, agg, _ = runs
    run = agg["runs"][0]["run"]
    r = invoke("eval", run, "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["n"] == 450 and m["accuracy"] == pytest.approx(agg["runs"][0]["test_acc"])
    assert np.array(m["confusion_matrix"]).sum() == 450 and len(m["per_class_accuracy"]) == 10
    table = invoke("eval", run)
    assert "balanced accuracy" in table.output and "confusion matrix" in table.output
    train = json.loads(invoke("eval", run, "--split", "train", "--json").stdout)
    assert train["n"] == 1347
    assert r.stderr == ""  # the options of --samples, given without it, are said to do nothing (they did so in silence)
    r = invoke("eval", run, "--feature-net", "inception", "--cache-dir", "somewhere", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["accuracy"] == m["accuracy"]
    assert r.stderr == ("Warning: --cache-dir has no effect in this command: it acts only with --samples N\n"
                        "Warning: --feature-net has no effect in this command: it acts only with --samples N\n")


def test_report_against_a_control_pairs_every_other_method_by_seed(runs, tmp_path):
    """--against METHOD: each other method's accuracy minus the control's, seed by seed (an
    ablation's table, which had been made by hand), with the 95 % interval and the seeds won; on
    the validation rows too where the runs held some out. A method not among the runs is one line."""
    from scipy import stats

    out, _, _ = runs
    r = invoke("report", out, "--out", tmp_path / "rep", "--against", "same-net")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    control = rep["methods"]["same-net"]
    rows = {row["method"]: row for row in rep["against"]["differences"]}
    assert rep["against"]["method"] == "same-net" and set(rows) == {"ssgan", "logreg"}
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "val difference" not in md and "Validation errors (of" not in md  # (these runs held no rows out)
    for name, row in rows.items():
        diffs = np.array(rep["methods"][name]["test_acc"]) - np.array(control["test_acc"])
        lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
        got = row["test"]
        assert got["seeds"] == [1, 2, 3] and row["val"] is None
        assert (got["mean"], got["ci95"], got["better_on"]) == (pytest.approx(diffs.mean()), pytest.approx([lo, hi]),
                                                                 int((diffs > 0).sum()))
        assert (f"| {name} | 3 | {100 * diffs.mean():.2f} ± {100 * diffs.std(ddof=1):.2f} | {100 * lo:.2f} to "
                f"{100 * hi:.2f} | {int((diffs > 0).sum())} of 3 |") in md, md
    r = invoke("report", out, "--out", tmp_path / "nope", "--against", "ssgan-lr")
    assert (r.exit_code, r.output) == (2, "Error: --against ssgan-lr: no method of that name among the runs (they are "
                                          "ssgan, logreg, same-net; a run's method is its --tag, or ssgan)\n")
    assert not (tmp_path / "nope").exists()


def test_report_against_a_control_pairs_the_validation_rows_too(tmp_path):
    """Runs that held rows out (--val): --against pairs their validation accuracies as well,
    the columns to choose on, beside the test ones to report; and their validation errors as the
    ablations read them, each run's mean over its last epochs (all three here), seed by seed."""
    for tag, lr in (("control", "0.003"), ("lever", "0.01")):
        r = invoke("fit", "--dataset", "digits", "--labels", 50, "--val", 50, "--epochs", 3, "--seeds", 2, "--lr", lr,
                   "--tag", tag, "--out", tmp_path / "runs", "--quiet")
        assert r.exit_code == 0, r.output
    r = invoke("report", tmp_path / "runs", "--out", tmp_path / "rep", "--against", "control")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    (row,) = rep["against"]["differences"]
    lever, control = rep["methods"]["lever"], rep["methods"]["control"]
    for split in ("val", "test"):
        diffs = np.array(lever[f"{split}_acc"]) - np.array(control[f"{split}_acc"])
        assert row[split]["mean"] == pytest.approx(diffs.mean()) and row[split]["seeds"] == [1, 2]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| lever | 2 | " in md
    assert "val difference (pp) | val 95 % CI | val better on | test difference" in md
    # the windowed reading, computed here from each run's metrics.jsonl
    means = {tag: {r.config["seed"]: np.mean([m["val_errors"] for m in r.metrics[-10:]]) for r in find_runs([tmp_path / "runs"])
                   if r.method == tag} for tag in ("lever", "control")}
    diffs = [means["lever"][k] - means["control"][k] for k in (1, 2)]
    w = row["val_window"]
    assert (w["seeds"], w["window"], w["n_val"]) == ([1, 2], 3, 50)
    assert w["differences"] == pytest.approx(diffs) and w["mean"] == pytest.approx(np.mean(diffs))
    assert w["fewer_on"] == sum(d < 0 for d in diffs)
    assert (f"| lever | 2 | 3 | {np.mean(list(means['control'].values())):.1f} | "
            f"{np.mean(list(means['lever'].values())):.1f} | {np.mean(diffs):+.1f} ± {np.std(diffs, ddof=1):.1f} | ") in md
    assert f"| 1: {diffs[0]:+.1f}, 2: {diffs[1]:+.1f} |" in md
    # --window 2-3: the same reading over those epochs, chosen by number (a mid-run window)
    r = invoke("report", tmp_path / "runs", "--out", tmp_path / "rep23", "--against", "control", "--window", "2-3")
    assert r.exit_code == 0, r.output
    w23 = json.loads((tmp_path / "rep23" / "report.json").read_text())["against"]["differences"][0]["val_window"]
    means = {tag: {r.config["seed"]: np.mean([m["val_errors"] for m in r.metrics if m["epoch"] in (2, 3)])
                   for r in find_runs([tmp_path / "runs"]) if r.method == tag} for tag in ("lever", "control")}
    diffs23 = [means["lever"][k] - means["control"][k] for k in (1, 2)]
    assert w23["window"] == [2, 3] and w23["differences"] == pytest.approx(diffs23)
    md = (tmp_path / "rep23" / "report.md").read_text()
    assert "each run's mean over epochs 2-3 (`--window`)" in md and "| lever | 2 | 2-3 | " in md
    # what --window cannot do is said in one line each
    for args, said in ((("--against", "control", "--window", "2-5"), "has epochs up to 3 only"),
                       (("--against", "control", "--window", "3-2"), "give the first and last epoch of the window"),
                       (("--against", "control", "--window", "ten"), "give the first and last epoch of the window"),
                       (("--window", "2-3"), "give --against METHOD, or leave --window out")):
        r = invoke("report", tmp_path / "runs", "--out", tmp_path / "bad", *args)
        assert r.exit_code != 0 and said in r.output and "Traceback" not in r.output, (args, r.output)
    assert not (tmp_path / "bad").exists()


def test_a_report_of_runs_with_validation_rows_gives_the_test_accuracy_at_their_best_validation_epoch(tmp_path):
    """Runs with --val keep the weights of their epoch of best validation accuracy (best.pt);
    the report gives the test accuracy of that epoch beside the last one's: a choice made on
    the validation rows."""
    r = invoke("fit", "--dataset", "digits", "--labels", 50, "--val", 50, "--epochs", 3, "--seeds", 2,
               "--out", tmp_path / "runs", "--quiet")
    assert r.exit_code == 0, r.output
    r = invoke("report", tmp_path / "runs", "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "rep" / "report.json").read_text())["methods"]["ssgan"]
    chosen, epochs = [], []
    for run in m["runs"]:
        metrics = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
        vals = [e["val_acc"] for e in metrics]
        epoch = vals.index(max(vals)) + 1  # (the first of equals)
        assert torch.load(Path(run) / "best.pt", weights_only=False)["epoch"] == epoch
        chosen.append(metrics[epoch - 1]["test_acc"])
        epochs.append(epoch)
    assert m["best_val_epochs"] == epochs and m["at_best_val_acc"] == chosen
    assert m["at_best_val_acc_mean"] == pytest.approx(np.mean(chosen))
    md = (tmp_path / "rep" / "report.md").read_text()
    assert ("| val accuracy % | test accuracy % | test errors (of N) | test % at best val epoch (val-selected) | "
            "best epoch % (test-selected) |") in md
    assert f"| {100 * np.mean(chosen):.2f} ± {100 * np.std(chosen, ddof=1):.2f} |" in md


def test_eval_on_other_data(runs, tmp_path):
    _, agg, _ = runs
    run = agg["runs"][0]["run"]
    from ssgan.data import load_digits

    d = load_digits()
    np.savez(tmp_path / "same.npz", x=d.x_test[:, 0], y=d.y_test)
    r = invoke("eval", run, "--data", f"npz:{tmp_path / 'same.npz'}", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(agg["runs"][0]["test_acc"])
    np.savez(tmp_path / "other.npz", x=np.zeros((5, 9, 9), np.float32), y=np.array([0, 1, 0, 1, 0]))
    r = invoke("eval", run, "--data", f"npz:{tmp_path / 'other.npz'}")
    assert r.exit_code == 2 and "shape (1, 9, 9)" in r.output and "trained on (1, 8, 8)" in r.output
    for part in ("train", "val"):  # rows of the run's own data, which --data replaces: not left unsaid
        r = invoke("eval", run, "--data", f"npz:{tmp_path / 'same.npz'}", "--split", part)
        assert r.exit_code == 2 and r.output == (f"Error: --split {part} scores rows of the run's own data (digits), "
                                                 f"and --data npz:{tmp_path / 'same.npz'} is other data (its test set, "
                                                 "else its labeled rows are scored): drop one\n"), r.output
    np.savez(tmp_path / "unlabeled.npz", x=d.x_test[:5, 0])  # rows without labels are predict's, which it names
    r = invoke("eval", run, "--data", f"npz:{tmp_path / 'unlabeled.npz'}")
    assert r.exit_code == 2 and r.output.endswith("or x_test and y_test alone (to classify rows without labels: "
                                                  "ssgan predict)\n"), r.output


def test_report_writes_all_files_with_right_counts(runs, tmp_path):
    out, _, _ = runs
    r = invoke("report", out, "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    for name in ("report.md", "report.json", "accuracy.png", "losses.png", "diagnostics.png", "samples.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert set(rep["methods"]) == {"ssgan", "same-net", "logreg"}
    for m in rep["methods"].values():
        assert m["seeds"] == [1, 2, 3] and len(m["test_acc"]) == 3 and m["n_test"] == 450
        assert m["test_acc_mean"] == pytest.approx(np.mean(m["test_acc"]))
        assert m["test_acc_std"] == pytest.approx(np.std(m["test_acc"], ddof=1))
    gains = {(g["method"], g["baseline"]): g for g in rep["gains"]}
    assert set(gains) == {("ssgan", "same-net"), ("ssgan", "logreg")}
    g = gains[("ssgan", "logreg")]
    diffs = np.array(rep["methods"]["ssgan"]["test_acc"]) - np.array(rep["methods"]["logreg"]["test_acc"])
    assert g["gain_mean"] == pytest.approx(diffs.mean())
    from scipy import stats

    # the gain's 95 % interval is scipy's t interval of the paired differences; the seeds it wins on are counted
    lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
    assert g["gain_ci95"] == pytest.approx([lo, hi]) and g["better_on"] == int((diffs > 0).sum())
    md = (tmp_path / "rep" / "report.md").read_text()
    assert (f"| ssgan | logreg | 3 | {100 * diffs.mean():.2f} ± {100 * diffs.std(ddof=1):.2f} | {100 * lo:.2f} to "
            f"{100 * hi:.2f} | {int((diffs > 0).sum())} of 3 |") in md, md
    assert "| ssgan | 3 | 1,2,3 |" in md and "same-net (baseline) | 3 |" in md
    row = next(line for line in md.splitlines() if line.startswith("| ssgan | 3 |"))
    assert row.count(" ± ") == 2  # test accuracy and test errors, mean ± std over the 3 runs
    assert "ssgan fit --dataset digits" in md and "![test accuracy per epoch](accuracy.png)" in md
    # collapse indicators for the GAN runs only, from their last epochs
    last = [json.loads((out / p.split("/")[-1] / "metrics.jsonl").read_text().splitlines()[-1])
            for p in rep["methods"]["ssgan"]["runs"]]
    diag = rep["methods"]["ssgan"]["last_epoch_diagnostics"]
    assert diag["sample_spread"] == pytest.approx(np.mean([m["sample_spread"] for m in last]))
    assert rep["methods"]["same-net"]["last_epoch_diagnostics"] is None
    assert f"| ssgan | {diag['sample_spread']:.3f} | {diag['class_entropy']:.3f} |" in md
    assert rep["settings"] == {} and "Settings in which" not in md and "## Notes" not in md


def test_report_compares_settings_and_ends_with_notes(tmp_path):
    out = tmp_path / "runs"
    for tag, hidden in (("wide", "64,64"), ("narrow", "16")):
        r = invoke("fit", "--dataset", "digits", "--labels", 50, "--epochs", 1, "--tag", tag, "--g-hidden", hidden,
                   "--out", out, "--quiet")
        assert r.exit_code == 0, r.output
    notes = tmp_path / "notes.md"
    notes.write_text("The narrow generator did worse.\n")
    r = invoke("report", out, "--out", tmp_path / "rep", "--notes", notes)
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["settings"] == {"narrow": {"g_hidden": "16"}, "wide": {"g_hidden": "64,64"}}
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| method | g_hidden |" in md and "| narrow | 16 |" in md and "| wide | 64,64 |" in md
    row = next(line for line in md.splitlines() if line.startswith("| wide | 1 |"))
    assert " ± " not in row  # one run has no spread to show, not a spread of 0
    assert md.rstrip().endswith("## Notes\n\nThe narrow generator did worse.")
    r = invoke("report", out, "--out", tmp_path / "rep2", "--notes", tmp_path / "missing.md")
    assert r.exit_code == 2 and "cannot read notes file" in r.output and not (tmp_path / "rep2").exists()


def test_report_bad_inputs(runs, tmp_path, monkeypatch):
    out, _, _ = runs
    with pytest.raises(SSGANError, match="no runs given"):
        find_runs([])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SSGANError, match="neither a run folder nor a folder of runs"):
        find_runs([empty])
    # a run whose metrics are missing
    broken = tmp_path / "00000-digits-50-s9"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"dataset": "digits", "labels": 50, "seed": 9}))
    with pytest.raises(SSGANError, match="has no metrics.jsonl"):
        find_runs([broken])
    # runs of two settings in one report
    other = tmp_path / "00001-mnist-100-s1"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"dataset": "mnist", "labels": 100, "seed": 1}))
    (other / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "test_acc": 0.5, "test_errors": 5000, "n_test": 10000}) + "\n")
    r = invoke("report", out, other, "--out", tmp_path / "rep")
    assert r.exit_code == 2 and r.output == "Error: a report covers one dataset, got digits, mnist: make one report for each\n"
    assert not (tmp_path / "rep").exists()
    # a report folder that cannot be made is told before the samples are scored (minutes, for many runs)
    a_file = tmp_path / "report.csv"
    a_file.write_text("")
    import ssgan.report

    def score(*args):
        raise AssertionError("scored before --out was checked")

    monkeypatch.setattr(ssgan.report, "_score_last_generators", score)
    for where in (a_file, a_file / "sub"):
        r = invoke("report", out, "--out", where, "--samples", "100")
        assert r.exit_code == 2 and r.output == f"Error: --out {where}: {a_file} is a file, not a folder\n", r.output


def test_a_report_cut_short_by_a_full_disk_leaves_the_folder_as_it_was(runs, tmp_path, monkeypatch):
    """A disk that fills while the figures are written had left the first figures beside the
    previous report.md (or a new folder of figures alone): they read as a new report. Now the
    report is written whole or not at all, in one line that says so; other files stay."""
    import errno

    import matplotlib.figure

    out, _, _ = runs
    rep = tmp_path / "rep"
    r = invoke("report", out, "--out", rep)
    assert r.exit_code == 0, r.output
    (rep / "notes.md").write_text("the user's own notes")
    before = {p.name: p.read_bytes() for p in rep.iterdir()}
    savefig, figures = matplotlib.figure.Figure.savefig, []

    def fill_up(self, *args, **kwargs):
        figures.append(args[0])
        if len(figures) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fill_up)
    for where in (rep, tmp_path / "new" / "rep"):
        figures.clear()
        r = invoke("report", out, "--out", where)
        assert r.exit_code == 2 and r.output == (
            f"Error: cannot write {where} (No space left on device): make room there or make it writable, then run "
            "the command again (no file of the report was written)\n"), r.output
        assert len(figures) == 3
    assert {p.name: p.read_bytes() for p in rep.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no new folder, no staging folder left
    monkeypatch.undo()
    r = invoke("report", out, "--out", rep)
    assert r.exit_code == 0, r.output
    assert (rep / "notes.md").read_text() == "the user's own notes" and sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_a_report_into_a_link_to_another_disk_is_staged_behind_the_link(runs, tmp_path, monkeypatch):
    """--out a link to a folder on another disk: staged beside the link, the files could not be
    renamed into it (EXDEV, 'Invalid cross-device link'); they are staged in the folder itself."""
    import errno
    import os

    import ssgan.fileio

    out, _, _ = runs
    disk = tmp_path / "disk" / "reports"
    disk.mkdir(parents=True)
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "rep").symlink_to(disk)
    replace = os.replace

    def across_disks(src, dst):  # a rename from outside disk/ into it crosses file systems
        inside = Path(src).resolve().is_relative_to(disk.parent)
        if inside != Path(dst).resolve().is_relative_to(disk.parent):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return replace(src, dst)

    monkeypatch.setattr(ssgan.fileio.os, "replace", across_disks)
    r = invoke("report", out, "--out", tmp_path / "here" / "rep")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in disk.iterdir()) == ["accuracy.png", "diagnostics.png", "losses.png", "report.json",
                                                      "report.md", "samples.png"]
    assert sorted(p.name for p in (tmp_path / "here").iterdir()) == ["rep"]


def test_report_on_validation_rows_for_data_without_a_test_set(tmp_path):
    """The user's own data often has no test set: the runs' --val rows are reported instead,
    with every method on the same held-out rows, and the report says what it scored."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = (rng.random((120, 6, 6)) * 0.5 + y[:, None, None] / 4.0).astype(np.float32)
    np.savez(tmp_path / "own.npz", x=x, y=np.where(np.arange(120) % 2 == 0, -1, y))  # no x_test, y_test
    out = tmp_path / "runs"
    r = invoke("fit", "--dataset", f"npz:{tmp_path / 'own.npz'}", "--labels", 15, "--val", 30, "--epochs", 2,
               "--seeds", 2, "--batch-size", 30, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    agg = json.loads(r.stdout)
    assert agg["test_acc_mean"] is None and agg["val_acc_mean"] == pytest.approx(np.mean([s["val_acc"] for s in agg["runs"]]))
    r = invoke("baseline", "--method", "logreg", "--run", out, "--out", out)
    assert r.exit_code == 0 and r.output.count("validation accuracy ") == 2, r.output
    r = invoke("eval", sorted(out.iterdir())[0])
    assert r.exit_code == 2 and "has no test set: use --split val (the 30 rows the run held out)" in r.output
    r = invoke("report", out, "--out", tmp_path / "rep")
    assert r.exit_code == 2 and "report the validation rows it held out with --split val" in r.output
    assert not (tmp_path / "rep").exists()

    r = invoke("report", out, "--out", tmp_path / "rep", "--split", "val")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["split"] == "val" and set(rep["methods"]) == {"ssgan", "logreg"}
    last = {}
    for run in sorted(out.iterdir()):
        m = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        assert m["test_acc"] is None and m["n_val"] == 30
        last[str(run)] = m
    for m in rep["methods"].values():
        assert "test_acc" not in m and m["n_val"] == 30 and m["seeds"] == [1, 2]
        assert m["val_acc"] == [last[p]["val_acc"] for p in m["runs"]]
        assert m["val_errors"] == [last[p]["val_errors"] for p in m["runs"]]
        assert m["val_acc_mean"] == pytest.approx(np.mean(m["val_acc"]))
    ssl = [json.loads(line)["val_acc"] for p in rep["methods"]["ssgan"]["runs"]
           for line in (Path(p) / "metrics.jsonl").read_text().splitlines()]
    assert rep["methods"]["ssgan"]["best_epoch_acc_mean"] == pytest.approx(np.mean([max(ssl[:2]), max(ssl[2:])]))
    (gain,) = rep["gains"]
    diffs = np.subtract(rep["methods"]["ssgan"]["val_acc"], rep["methods"]["logreg"]["val_acc"])
    assert gain["baseline"] == "logreg" and gain["gain_mean"] == pytest.approx(diffs.mean())
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "**Scored on validation rows, not on a test set**" in md
    assert "| validation accuracy % | validation errors (of N) | best epoch % (validation-selected) |" in md
    assert "test accuracy" not in md and "(of 30)" in md and (tmp_path / "rep" / "accuracy.png").stat().st_size > 0


def test_runs_without_a_tag_that_differ_in_a_setting_are_named_by_it_and_a_tag_that_mixes_is_refused(tmp_path):
    """Two seeds of one setting make one method's mean even when one config predates a key
    (read at the default it had). A third run at another rate, without a tag, is a method of its
    own, named by the flag in which it differs (where it was averaged in as a seed, and later
    refused), and --against pairs the two; runs that a tag calls one method but differ in a
    setting are refused in one line that names the setting."""
    out = tmp_path / "runs"
    for seed, lr in ((1, "0.003"), (2, "0.003"), (1, "0.001")):
        r = invoke("fit", "--dataset", "digits", "--labels", 50, "--epochs", 1, "--seed", seed, "--lr", lr,
                   "--out", out, "--quiet")
        assert r.exit_code == 0, r.output
    first, second, third = sorted(out.iterdir())
    config = json.loads((first / "config.json").read_text())
    del config["beta2"]  # as a run made before --beta2 existed wrote it
    (first / "config.json").write_text(json.dumps(config))
    assert invoke("report", first, second, "--out", tmp_path / "two").exit_code == 0
    r = invoke("report", out, "--out", tmp_path / "rep", "--against", "ssgan")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert {name: m["runs"] for name, m in rep["methods"].items()} == {
        "ssgan": [str(first), str(second)], "ssgan --lr 0.001": [str(third)]}
    (row,) = rep["against"]["differences"]
    assert row["method"] == "ssgan --lr 0.001" and row["test"]["seeds"] == [1]
    assert rep["settings"] == {"ssgan": {"lr": 0.003}, "ssgan --lr 0.001": {"lr": 0.001}}
    for run in (first, second, third):  # the same runs, each given one tag
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "tag": "mine"}))
    r = invoke("report", out, "--out", tmp_path / "tagged")
    assert r.exit_code == 2 and r.output == (
        f"Error: the 3 runs of mine differ in lr (lr: 0.003 in {first} and 1 more; 0.001 in {third}), so their mean "
        "would mix settings as if they were seeds of one: report them apart, or give each setting a name of its own "
        "with ssgan fit --tag\n"), r.output
    assert not (tmp_path / "tagged").exists()


def test_untagged_runs_are_named_by_their_flags_away_from_the_default():
    """The names of untagged runs that differ: a flag where the run's value is not the default,
    --no-NAME for a switch turned off, nothing for a run at the defaults; runs that agree share a name."""
    from ssgan.config import Config
    from ssgan.report import RunRecord, _name_settings

    base = Config(dataset="digits").to_dict()
    rs = [RunRecord(Path(f"r{i}"), {**base, **change}, []) for i, change in enumerate(
        [{}, {"lr": 0.001, "data_init": False}, {"lr": 0.001, "data_init": False, "seed": 2}, {"d_layer_norm": True}])]
    _name_settings(rs)
    assert [r.method for r in rs] == ["ssgan", "ssgan --no-data-init --lr 0.001", "ssgan --no-data-init --lr 0.001",
                                      "ssgan --d-layer-norm"]
    same = [RunRecord(Path(f"s{i}"), {**base, "seed": i}, []) for i in (1, 2)]  # (seeds are not settings)
    _name_settings(same)
    assert [r.method for r in same] == ["ssgan", "ssgan"]


def test_a_report_counts_each_run_once(runs, tmp_path):
    """A run named twice (or named beside the folder that holds it), or copied, was averaged in
    as a second seed: 3 seeds reported as 4, a spread that was never measured. One seed on two
    different labeled splits is two measurements, and is reported."""
    import shutil

    out, agg, _ = runs
    first = Path(agg["runs"][0]["run"])
    r = invoke("report", out, first, "--out", tmp_path / "rep")
    assert r.exit_code == 2 and r.output == (f"Error: {first} is given twice: a report counts each run once, "
                                             "so name it once\n"), r.output
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    r = invoke("report", out, copy, "--out", tmp_path / "rep")
    assert r.exit_code == 2 and r.output == (
        f"Error: {first} and {copy} are both ssgan with seed 1 on the same labels: a report's mean and spread are over "
        "distinct seeds, so leave one of them out\n"), r.output
    assert not (tmp_path / "rep").exists()
    other = tmp_path / "other"
    assert invoke("split", "--dataset", "digits", "--labels", 50, "--seed", 7, "--out", tmp_path / "s7.json").exit_code == 0
    r = invoke("fit", "--split", tmp_path / "s7.json", "--seed", 1, "--epochs", 2, "--out", other, "--quiet")
    assert r.exit_code == 0, r.output
    one, = other.iterdir()
    r = invoke("report", first, one, "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["methods"]["ssgan"]["seeds"] == [1, 1] and report["methods"]["ssgan"]["runs"] == [str(first), str(one)]


def test_a_report_and_eval_name_the_runs_whose_labeled_loss_jumped(runs, tmp_path):
    """A baseline whose labeled loss jumped (read from its losses, as for runs older than the
    warning) is marked beside its accuracy in a report, with a line on what that means for its
    method's mean, and eval of the SSL run on its labels says so under the gain; the other runs
    are not marked."""
    import shutil

    out, agg, _ = runs
    copies = tmp_path / "runs"
    shutil.copytree(out, copies)
    r = invoke("report", copies, "--out", tmp_path / "calm")
    assert r.exit_code == 0, r.output
    assert "jumped" not in (tmp_path / "calm" / "report.md").read_text()
    jumped = next(p for p in sorted(copies.iterdir()) if p.name.endswith("-s2-same-net"))
    lines = [json.loads(line) for line in (jumped / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((jumped / "config.json").read_text())
    assert config["class_smoothing"] == 0.1  # (same-net's loss is at least 0.5003 then: counted above it)
    lines[0]["loss_lab"], lines[1]["loss_lab"] = 0.5003 + 2e-4, 3.2
    (jumped / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    r = invoke("report", copies, "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["methods"]["same-net"]["loss_jumps"] == [{"run": str(jumped), "seed": 2, "epochs": [2]}]
    assert rep["methods"]["ssgan"]["loss_jumps"] == [] and rep["methods"]["logreg"]["loss_jumps"] == []
    md = (tmp_path / "rep" / "report.md").read_text()
    line = next(line for line in md.splitlines() if line.startswith("- same-net: "))
    assert line.count("jumped") == 1 and "seed 2: " in line and "(labeled loss jumped at epoch 2)" in line, line
    assert "Where the labeled loss jumped (above 0.1 and 100 times its lowest before, counted above the least" in md
    ssl = {run["seed"]: copies / Path(run["run"]).name for run in agg["runs"]}
    said = invoke("eval", ssl[2]).output
    assert "same-net's labeled loss jumped at epoch 2 (README, Diagnostics)" in " ".join(said.split()), said
    assert "jumped" not in invoke("eval", ssl[1]).output


def test_a_long_tag_names_its_method_whole_and_its_folder_in_part(tmp_path):
    """A --tag (or an npz name) too long for a folder name had stopped the run: 'File name too
    long'. The folder takes the first characters; config.json and the report keep the whole tag."""
    tag = "lr-0.001-" + "x" * 300
    r = invoke("fit", "--dataset", "digits", "--labels", 50, "--epochs", 1, "--tag", tag, "--out", tmp_path / "runs",
               "--quiet", "--json")
    assert r.exit_code == 0, r.output
    run = Path(json.loads(r.stdout)["run"])
    assert run.name == f"00000-digits-50-s1-{tag}"[:6 + 120]
    assert json.loads((run / "config.json").read_text())["tag"] == tag
    r = invoke("report", run, "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    assert list(json.loads((tmp_path / "rep" / "report.json").read_text())["methods"]) == [tag]


def test_a_report_of_several_label_counts_tables_them_as_the_papers_table(runs, tmp_path):
    """Runs of 20 and 50 labels (a study of the label budget, as the paper's table of 20 to 200
    labels) had been refused; they make a report of each count in its own folder, and a table of
    every method's accuracy and errors by count, from the counts' own numbers; full, trained on
    every label, joins each count."""
    out, agg, _ = runs
    few = tmp_path / "few"
    r = invoke("fit", "--dataset", "digits", "--labels", 20, "--epochs", 2, "--seeds", 2, "--out", few, "--quiet")
    assert r.exit_code == 0, r.output
    r = invoke("baseline", "--run", few, "--method", "logreg")
    assert r.exit_code == 0, r.output
    r = invoke("baseline", "--dataset", "digits", "--seeds", 1, "--method", "full", "--epochs", 1, "--out", few)
    assert r.exit_code == 0, r.output
    rep = tmp_path / "rep"
    r = invoke("report", out, few, "--out", rep, "--against", "logreg")
    assert r.exit_code == 0, r.output
    assert r.output == f"wrote {rep / 'report.md'}, report.json, labels.png, labels-20, labels-50\n"
    summary = json.loads((rep / "report.json").read_text())
    by_count = {n: json.loads((rep / f"labels-{n}" / "report.json").read_text()) for n in (20, 50)}
    assert summary["labels"] == [20, 50] and summary["labels_per_class"] == [2, 5] and summary["n_test"] == [450, 450]
    assert {n: s["labels"] for n, s in by_count.items()} == {20: 20, 50: 50}
    assert list(summary["methods"]) == ["ssgan", "full", "logreg", "same-net"]
    for name, m in summary["methods"].items():
        for i, n in enumerate((20, 50)):
            own = by_count[n]["methods"].get(name)
            assert m["test_acc_mean"][i] == (own and own["test_acc_mean"])
            assert m["runs"][i] == (len(own["runs"]) if own else 0)
    assert summary["methods"]["ssgan"]["runs"] == [2, 3] and summary["methods"]["same-net"]["runs"] == [0, 3]
    assert summary["methods"]["full"]["test_acc_mean"][0] == summary["methods"]["full"]["test_acc_mean"][1]
    assert by_count[20]["against"]["method"] == "logreg"
    gains = {(g["method"], g["baseline"]): g for g in summary["gains"]}
    assert set(gains) == {("ssgan", "logreg"), ("ssgan", "same-net")}
    for i, n in enumerate((20, 50)):
        own = {(g["method"], g["baseline"]): g for g in by_count[n]["gains"]}
        for pair, g in gains.items():
            assert g["gain_mean"][i] == (own[pair]["gain_mean"] if pair in own else None)
    assert gains[("ssgan", "same-net")]["seeds"] == [0, 3]  # (same-net ran at 50 labels alone)
    md = (rep / "report.md").read_text()
    assert md.startswith("# digits: test accuracy by the number of labeled examples")
    assert "| method | 20 labels (2 per class) | 50 labels (5 per class) |" in md and "Test errors (of 450):" in md
    ssgan = summary["methods"]["ssgan"]
    assert (f"| ssgan | {100 * ssgan['test_acc_mean'][0]:.2f} ± {100 * ssgan['test_acc_std'][0]:.2f} (n=2) | "
            in md)
    assert "| same-net (baseline) | - | " in md and "[20 labels](labels-20/report.md)" in md
    assert (rep / "labels.png").stat().st_size > 0
    assert (rep / "labels-20" / "report.md").read_text().startswith("# digits, 20 labels (2 per class)")
    # a report made again into the folder, of one count: the table of counts and its folders go, the user's files stay
    (rep / "notes.md").write_text("mine")
    r = invoke("report", out, "--out", rep)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in rep.iterdir()) == ["accuracy.png", "diagnostics.png", "losses.png", "notes.md",
                                                     "report.json", "report.md", "samples.png"]
    r = invoke("report", out, few, "--out", rep)  # (and back: the one count's figures go)
    assert r.exit_code == 0 and sorted(p.name for p in rep.iterdir()) == [
        "labels-20", "labels-50", "labels.png", "notes.md", "report.json", "report.md"]
    # a control that one count lacks is told before anything is written
    r = invoke("report", out, few, "--out", tmp_path / "rep2", "--against", "same-net")
    assert r.exit_code == 2 and "--against same-net: no method of that name among the runs of 20 labels" in r.output
    assert not (tmp_path / "rep2").exists()


def test_a_label_count_table_of_validation_rows_says_how_many_each_count_held_out():
    """--val may hold out another number of rows at each count: the errors' table says each."""
    from ssgan.report import render_label_counts

    m = {"baseline": False, "seeds": [[1], [1]], "runs": [1, 1], "val_acc_mean": [0.5, 0.6], "val_acc_std": [0.0, 0.0],
         "val_errors_mean": [50.0, 80.0], "val_errors_std": [0.0, 0.0]}
    summary = {"dataset": "digits", "split": "val", "labels": [20, 50], "labels_per_class": [2, 5],
               "n_val": [100, 200], "reports": {"20": "labels-20/report.md", "50": "labels-50/report.md"},
               "methods": {"ssgan": m}}
    md = render_label_counts(summary)
    assert "Validation errors (of 100 at 20 labels, 200 at 50 labels):" in md
    assert "| ssgan | 50.0 (n=1) | 80.0 (n=1) |" in md and "**Scored on validation rows, not on a test set**" in md


@pytest.mark.parametrize("val", [0, 20])
def test_full_of_a_label_budget_trains_once_per_seed_and_joins_its_counts(tmp_path, val):
    """baseline --run of runs of 20 and 50 labels trained full once per count, the same run
    twice where no rows are held out, and report then refused the pair; full's rows are every
    label but the validation ones: once per seed without --val (joining both counts), once per
    count with it (each count's own validation rows, in its own count's report)."""
    out = tmp_path / "runs"
    for labels in (20, 50):
        r = invoke("fit", "--dataset", "digits", "--labels", labels, "--val", val, "--epochs", 1, "--seeds", 2,
                   "--out", out, "--quiet")
        assert r.exit_code == 0, r.output
    r = invoke("baseline", "--run", out, "--method", "full", "--epochs", 1, "--json")
    assert r.exit_code == 0, r.output
    fulls = json.loads(r.stdout)
    assert len(fulls) == (2 if not val else 4)
    rep = tmp_path / "rep"
    r = invoke("report", out, "--out", rep)
    assert r.exit_code == 0, r.output

    def held(run):
        return json.loads((Path(run) / "split.json").read_text())["val_indices"]

    reports = {n: json.loads((rep / f"labels-{n}" / "report.json").read_text())["methods"] for n in (20, 50)}
    for labels, methods in reports.items():
        assert methods["full"]["seeds"] == [1, 2] and set(methods["full"]["runs"]) <= {f["run"] for f in fulls}
        for full, ssl in zip(methods["full"]["runs"], methods["ssgan"]["runs"]):  # (both by seed)
            assert held(full) == held(ssl)
    assert (reports[20]["full"]["runs"] == reports[50]["full"]["runs"]) == (not val)
