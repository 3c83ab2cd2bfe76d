"""The troubleshooting table of the README, case by case, through the command line.

Every case must end in one line, ``Error: ...``, exit code 2, and no run folder."""

import errno
import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT
from ssgan.cli import main
from ssgan.config import Config
from ssgan.errors import MEND_RUN_FILE


def npz(tmp_path, name, **arrays):
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


X = np.random.default_rng(0).random((40, 5, 5)).astype(np.float32)
Y = np.tile(np.arange(4), 10)
Y_HALF = np.where(np.arange(40) < 20, Y, -1)


def cases(tmp_path):
    bad_split = tmp_path / "bad_split.json"
    bad_split.write_text("{broken")
    digits_split = tmp_path / "digits_split.json"
    _digits_split(digits_split)
    unknown_key = tmp_path / "unknown.toml"
    unknown_key.write_text("epoch = 3\n")
    of_mnist = tmp_path / "mnist.toml"
    of_mnist.write_text('dataset = "mnist"\n')
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text('lr = "fast"\n')
    not_a_run = tmp_path / "not_a_run"
    not_a_run.mkdir()
    damaged = tmp_path / "damaged_run"
    damaged.mkdir()
    (damaged / "config.json").write_text(json.dumps({"dataset": "digits"}))
    (damaged / "checkpoint.pt").write_bytes(b"\x00garbage")
    no_weights = tmp_path / "no_weights_run"  # a run kept without its checkpoint, as reports/mnist-100-runs
    no_weights.mkdir()
    (no_weights / "config.json").write_text(json.dumps({"dataset": "digits"}))
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    untested = tmp_path / "untested"  # a run on data without a test set
    untested.mkdir()
    (untested / "config.json").write_text(json.dumps(Config(dataset="digits").to_dict()))
    (untested / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "test_acc": None, "val_acc": 0.5}) + "\n")
    tested = tmp_path / "tested"  # a run that held out no validation rows
    tested.mkdir()
    (tested / "config.json").write_text(json.dumps(Config(dataset="digits").to_dict()))
    (tested / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "test_acc": 0.5, "test_errors": 5, "n_test": 10}) + "\n")
    changed = npz(tmp_path, "changed", x=X, y=Y_HALF)  # a split drawn from it, then its rows reordered
    changed_split = tmp_path / "changed_split.json"
    assert CliRunner().invoke(main, ["split", "--dataset", changed, "--out", str(changed_split)]).exit_code == 0
    npz(tmp_path, "changed", x=X[::-1], y=Y_HALF)
    raw = tmp_path / "raw.npz"  # an x that another tool zipped in as bytes, not as an array numpy wrote
    _raw_member(raw)
    raw_npz = f"npz:{raw}"
    cut_short = tmp_path / "cut_short" / "run"  # a metrics line cut off in the middle
    cut_short.mkdir(parents=True)
    (cut_short / "config.json").write_text(json.dumps(Config(dataset="digits").to_dict()))
    (cut_short / "metrics.jsonl").write_text('{"epoch": 1, "test_')
    table = tmp_path / "cells.csv"
    table.write_text("a,b,label\n0.1,0.2,0\n0.3,0.4,\n")
    advice = (f"{table} is a table, not an .npz: `ssgan convert {table} --out {tmp_path / 'cells.npz'}` makes one "
              f"(rows without labels, to classify: add --no-label --like TRAIN.npz), then give npz:{tmp_path / 'cells.npz'}")
    one_array = tmp_path / "x.npy"  # (np.load gives an array, not a file of named arrays)
    np.save(one_array, X)
    npy = (f"{one_array} is one array (.npy), not an .npz of named arrays (x and y): save them together, "
           f"numpy.savez('{tmp_path / 'x.npz'}', x=x, y=y), with y -1 for unlabeled rows")
    return {
        "csv table as dataset": (["fit", "--dataset", str(table)], advice),
        "csv table as npz": (["fit", "--dataset", f"npz:{table}"], advice),
        "npy as dataset": (["fit", "--dataset", f"npz:{one_array}"], npy),
        "npy without its prefix": (["fit", "--dataset", str(one_array)], npy),
        "unknown dataset": (["fit", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        "dataset in capitals": (["fit", "--dataset", "MNIST"], "unknown dataset 'MNIST': did you mean mnist?"),
        "npz without its prefix": (["fit", "--dataset", npz(tmp_path, "bare", x=X, y=Y_HALF)[len("npz:"):]],
                                   f"did you mean npz:{tmp_path / 'bare.npz'}?"),
        "folder without its prefix": (["fit", "--dataset", str(tmp_path)], f"did you mean folder:{tmp_path}?"),
        "prefix without a path": (["fit", "--dataset", "npz:"], "npz: names no file: write npz:PATH"),
        "toy mixture of one mode": (["fit", "--dataset", "gmm2d:modes=1", "--labels", "10"],
                                    "'gmm2d:modes=1': modes must lie in 2..50, one class each, got 1"),
        "missing data root": (["fit", "--dataset", "svhn", "--data-root", str(tmp_path / "nowhere")], "does not exist"),
        "data not in data root": (["fit", "--dataset", "cifar10", "--data-root", str(tmp_path)], "cifar10 not found in"),
        "negative seed": (["fit", "--seed", "-1"], "--seed must lie in 0..4294967295, got -1"),
        "blank tag": (["fit", "--tag", "   "], "--tag must name the method without spaces around it or lines, got '   '"),
        "seeds past the generators' range": (["fit", "--seeds", "1-99999999999"],
                                              "--seeds 1-99999999999: seeds lie in 0..4294967295"),
        "seeds by the hundred thousand": (["fit", "--seeds", "200000"],
                                          "--seeds 200000 names more than 100,000 seeds, a run each: name fewer"),
        "seed beside seeds": (["fit", "--dataset", "digits", "--seed", "5", "--seeds", "2"],
                              "give --seed 5 or --seeds 2, not both: --seeds names every seed it runs"),
        "labels 0": (["fit", "--labels", "0"], "positive number"),
        "labels negative": (["fit", "--labels", "-10"], "positive number"),
        "labels not a multiple": (["fit", "--labels", "15"], "not a multiple of the 10 classes"),
        "labels more than available": (["fit", "--dataset", "digits", "--labels", "5000"], "digits has only"),
        "npz wrong keys": (["fit", "--dataset", npz(tmp_path, "keys", images=X, y=Y)], "has no x array"),
        "npz wrong dims": (["fit", "--dataset", npz(tmp_path, "dims", x=X[:, 0, 0], y=Y)], "expected (N, D)"),
        "npz NaN pixels": (["fit", "--dataset", npz(tmp_path, "nan", x=np.where(X > 0.99, np.nan, X), y=Y_HALF)], "NaN"),
        "npz NaN features": (["fit", "--dataset", npz(tmp_path, "nan_v", x=np.where(X > 0.99, np.nan, X)[:, 0], y=Y_HALF)],
                             "x contains NaN or infinite values: clean or impute them first (scikit-learn's "
                             "SimpleImputer fills missing values; a CSV table: ssgan convert --impute median)"),
        "npz NaN labels": (["fit", "--dataset", npz(tmp_path, "nan_y", x=X, y=np.where(Y_HALF < 0, np.nan, Y_HALF))],
                           "y is NaN in 20 of 40 rows; mark unlabeled rows -1: save numpy.where(numpy.isnan(y), -1, "
                           "y).astype(int)"),
        "npz NaN test labels": (["fit", "--dataset", npz(tmp_path, "nan_test", x=X, y=Y_HALF, x_test=X[:4],
                                                         y_test=np.array([0, 1, np.nan, 3]))],
                                "y_test is NaN in 1 of 4 rows; a test set needs every label: leave those rows out of it"),
        "npz of objects": (["fit", "--dataset", npz(tmp_path, "objects", x=X.astype(object), y=Y_HALF)],
                           "holds arrays of Python objects, which are not loaded"),
        "npz of raw bytes": (["fit", "--dataset", raw_npz], "x is not a numpy array in the file: save it with numpy.savez"),
        "npz labels out of range": (["fit", "--dataset", npz(tmp_path, "range", x=X, y=np.where(Y == 3, -5, Y))], "label -5"),
        "npz all unlabeled": (["fit", "--dataset", npz(tmp_path, "allunl", x=X, y=np.full(40, -1))], "every row of y is -1"),
        "npz no unlabeled": (["fit", "--dataset", npz(tmp_path, "nounl", x=X, y=Y)], "has no unlabeled rows"),
        "npz empty test set": (["fit", "--dataset", npz(tmp_path, "notest", x=X, y=Y_HALF, x_test=X[:0], y_test=Y[:0])],
                               "x_test and y_test have no rows"),
        "npz test class unseen": (["fit", "--dataset", npz(tmp_path, "unseen", x=X, y=Y_HALF, x_test=X[:2], y_test=np.array([0, 7]))],
                                  "y_test has classes [7] that no labeled training example has"),
        "npz 8-bit test pixels beside floats": (["fit", "--dataset", npz(tmp_path, "units", x=X * 255, y=Y_HALF, x_test=(X[:4] * 255).astype(np.uint8),
                                                                      y_test=Y[:4])],
                                                "x_test holds 8-bit pixels, which ssgan reads as [0, 1], but x holds floats in"),
        "npz of channels-last images": (["fit", "--dataset", npz(tmp_path, "nhwc", x=np.stack([X] * 3, -1), y=Y_HALF)],
                                        "x has shape (40, 5, 5, 3), images channels-last; ssgan reads them as "
                                        "(N, C, H, W): save numpy.moveaxis(x, -1, 1)"),
        "npz of complex numbers": (["fit", "--dataset", npz(tmp_path, "complex", x=X + 1j, y=Y_HALF)],
                                   "x has dtype complex64; expected real numbers"),
        "translate on vectors": (["fit", "--dataset", "gmm2d:modes=4", "--translate", "1"], "--translate moves images"),
        "networks larger than the machine": (["fit", "--dataset", "digits", "--z-dim", "1000000000"],
                                             "the networks have 500,001,105,148 parameters, about 9,313 GiB to train"),
        "too few samples to score": (["fit", "--dataset", "digits", "--quality-every", "1", "--quality-samples", "2"],
                                     "--quality-samples must be >= 10, got 2"),
        "translate out of the frame": (["fit", "--dataset", "digits", "--labels", "50", "--translate", "8"],
                                       "--translate 8 moves images by up to 8 pixels, and those of digits are 8x8: give "
                                       "fewer than 8"),
        "split for another dataset": (["fit", "--dataset", "mnist", "--split", str(digits_split)], "is for dataset 'digits'"),
        "baseline split for a config's other dataset": (
            ["baseline", "--config", str(of_mnist), "--split", str(digits_split), "--method", "logreg", "--out",
             str(tmp_path / "runs")], f"split file {digits_split} is for dataset 'digits', not 'mnist'"),
        "split of data changed since": (["fit", "--dataset", changed, "--split", str(changed_split)],
                                        f"split file {changed_split} was drawn from other data than {changed} holds now"),
        "damaged split": (["fit", "--split", str(bad_split)], "damaged or not a split"),
        "config unknown key": (["fit", "--config", str(unknown_key)], "unknown key 'epoch'"),
        "config wrong type": (["fit", "--config", str(wrong_type)], "lr must be float"),
        "cuda without GPU": (["fit", "--device", "cuda"] if not _has_cuda() else ["fit", "--device", "cuda:99"], "--device cuda"),
        "eval on a non-run": (["eval", str(not_a_run)], "is not a run folder"),
        "sample on a non-run": (["sample", str(not_a_run)], "is not a run folder"),
        "eval of a folder of runs": (["eval", str(tmp_path)], f"{tmp_path} is not a run folder (no config.json): pass "
                                                              f"a folder made by `ssgan fit`; it holds 4 run folders, such "
                                                              f"as {tmp_path / 'damaged_run'}"),
        "resume a non-run": (["fit", "--resume", str(not_a_run)], "is not a run folder"),
        "resume one run twice": (["fit", "--resume", str(tested), "--resume", str(tested / ".")],
                                 f"--resume {tested / '.'} is given twice: a run folder is trained by one run at a time"),
        "resume several in processes of torchrun": (["fit", "--resume", str(tested), "--resume", str(untested),
                                                     "--nproc", "2"], "--nproc resumes one run in several processes"),
        "damaged checkpoint": (["eval", str(damaged)], "is damaged"),
        "eval without weights": (["eval", str(no_weights)], "has no checkpoint.pt"),
        "sample without weights": (["sample", str(no_weights)], "has no checkpoint.pt"),
        "output not a folder": (["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--out", str(a_file)], "is not a directory"),
        "report without a test set": (["report", str(untested), "--out", str(tmp_path / "report")],
                                      "has no test accuracy (its dataset has no test set), so it cannot be reported on "
                                      "one: give the npz x_test and y_test, or report the validation rows it held out "
                                      "with --split val"),
        "report on validation without it": (["report", str(tested), "--out", str(tmp_path / "report"), "--split", "val"],
                                            "has no validation accuracy (it held out no rows): fit it again with --val N"),
        "batch larger than the rows left after val": (
            ["fit", "--dataset", npz(tmp_path, "held", x=X, y=Y_HALF), "--val", "8", "--batch-size", "36"],
            "--batch-size 36 exceeds the 32 training examples of npz:"),
        "damaged metrics": (["report", str(cut_short.parent), "--out", str(tmp_path / "report")],
                            "line 1, is not JSON: the file is damaged; delete that line, or move the run out of the folder"),
        "report of a file": (["report", str(a_file), "--out", str(tmp_path / "report")],
                             "is a file, not a run folder: pass run folders, or a folder that holds them"),
    }


def _has_cuda():
    import torch

    return torch.cuda.is_available()


CASE_NAMES = [
    "csv table as dataset", "csv table as npz", "npy as dataset", "npy without its prefix", "unknown dataset", "dataset in capitals", "npz without its prefix",
    "folder without its prefix",
    "prefix without a path", "toy mixture of one mode", "missing data root", "data not in data root", "blank tag",
    "negative seed", "seeds past the generators' range", "seeds by the hundred thousand", "seed beside seeds",
    "labels 0", "labels negative",
    "labels not a multiple", "labels more than available", "npz wrong keys", "npz wrong dims", "npz NaN pixels", "npz NaN features",
    "npz NaN labels", "npz NaN test labels",
    "npz of objects", "npz of raw bytes", "npz labels out of range", "npz all unlabeled", "npz no unlabeled",
    "npz empty test set", "npz test class unseen", "npz 8-bit test pixels beside floats", "npz of complex numbers",
    "npz of channels-last images", "too few samples to score", "networks larger than the machine",
    "translate on vectors", "translate out of the frame", "split for another dataset",
    "baseline split for a config's other dataset", "split of data changed since", "damaged split", "config unknown key",
    "config wrong type", "cuda without GPU", "eval on a non-run", "eval of a folder of runs", "sample on a non-run",
    "resume a non-run", "resume one run twice", "resume several in processes of torchrun", "damaged checkpoint",
    "eval without weights", "sample without weights", "output not a folder", "damaged metrics",
    "report without a test set", "report on validation without it", "batch larger than the rows left after val",
    "report of a file",
]


def test_every_case_is_run(tmp_path):
    """A case added to cases() but not named here would never run."""
    assert sorted(cases(tmp_path)) == sorted(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_gives_one_line_and_no_run_folder(tmp_path, name):
    args, message = cases(tmp_path)[name]
    out = tmp_path / "runs"
    if args[0] == "fit" and "--out" not in args and "--resume" not in args:
        args = [*args, "--out", str(out)]
    r = CliRunner().invoke(main, args)
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2, r.output
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], r.output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_folder_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--out", str(locked / "runs")])
    assert r.exit_code == 2 and "Permission denied; choose another --out" in r.output


@pytest.mark.parametrize("code, words", [(errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")])
def test_output_folder_the_file_system_refuses(tmp_path, monkeypatch, code, words):
    """A refusal of the file system to make the run folder (read-only, full, not allowed: the
    last as the test above, for a root who may write anywhere) is one line that names --out,
    not the bare strerror."""
    import pathlib

    out = tmp_path / "ro" / "runs"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(code, words, str(self))  # (EACCES makes a PermissionError)
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--out", str(out)])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert f"cannot create a run folder in {out}: {words}; choose another --out" in r.output
    assert not (tmp_path / "ro").exists()


@pytest.mark.parametrize("count, use", [(1, "use cuda:0"), (2, "use one of cuda:0 to cuda:1")])
def test_a_gpu_number_past_those_visible_names_the_ones_there(monkeypatch, count, use):
    """--device cuda:N past the GPUs this process sees names those it may use, and why a GPU
    of the machine may be missing from them."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    r = CliRunner().invoke(main, ["eval", "somewhere", "--device", "cuda:3"])
    gpus = "1 CUDA GPU" if count == 1 else f"{count} CUDA GPUs"
    assert r.exit_code == 2 and r.output == (f"Error: --device cuda:3: only {gpus} visible here: {use} "
                                             "(CUDA_VISIBLE_DEVICES chooses which GPUs a process sees, and numbers "
                                             "them from 0)\n"), r.output


@pytest.mark.parametrize("name, told", [
    ("config.json", "runs/r/config.json is damaged (not JSON):"),
    ("scaler.json", "runs/r/scaler.json is damaged: it cannot be read as a scaler;"),
    # a run's own split cannot be drawn anew, as a split file of `ssgan split` can
    ("split.json", "split file runs/r/split.json is damaged or not a split (JSONDecodeError):"),
])
def test_a_run_file_damaged_by_hand_says_how_to_mend_it(tmp_path, monkeypatch, trained_run, name, told):
    """A run's config.json, scaler.json or split.json that is no longer JSON (an edit gone
    wrong, a copy cut short) is one line that names the file and says how to get it back."""
    shutil.copytree(trained_run("data.npz"), tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "r" / name).write_text("{broken")
    r = CliRunner().invoke(main, ["fit", "--resume", "runs/r", "--epochs", "2"])
    assert r.exit_code == 2 and r.output == f"Error: {told} {MEND_RUN_FILE}\n", r.output
    assert MEND_RUN_FILE == "undo the edit, or copy the run folder again from where it was made"


def test_a_run_on_a_relative_npz_path_says_where_to_run_from(tmp_path, monkeypatch):
    """A run trained on npz:d.npz names its data relative to the folder it was started in;
    eval and baseline --run from another folder say so in one line."""
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(start)
    np.savez("d.npz", x=X.reshape(40, -1), y=Y_HALF)
    r = CliRunner().invoke(main, ["fit", "--dataset", "npz:d.npz", "--epochs", "1", "--batch-size", "10", "--quiet",
                                  "--json"])
    assert r.exit_code == 0, r.output
    run = start / json.loads(r.stdout)["run"]
    assert CliRunner().invoke(main, ["eval", str(run), "--split", "train"]).exit_code == 0  # from where it started
    monkeypatch.chdir(elsewhere)
    for args in (["eval", str(run), "--split", "train"], ["baseline", "--run", str(run), "--method", "logreg"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
        assert (f"{run} was trained on npz:d.npz, a path relative to the folder it was started in, and there is "
                f"no d.npz in {elsewhere}: run this command from that folder (if it was this one, put d.npz "
                "back)") in r.output
    assert list(elsewhere.iterdir()) == []


def readme_troubleshooting() -> list[tuple[str, str]]:
    """The rows of the README's troubleshooting table: each one's first cell (what the user did)
    and the first code span of its second cell (the line it says the command prints)."""
    text = (ROOT / "README.md").read_text()
    table = text.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    # a code span as CommonMark reads one: a run of backticks, and the text up to a run as long
    # (so ``a `b` c`` holds backticks), one space off each end where both ends have one
    span = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
    rows = []
    for line in table.splitlines():
        cells = re.split(r"(?<!\\)\|", line)
        if line.startswith("| ") and len(cells) >= 4 and (told := span.search(cells[2])):
            text = told[2]
            rows.append((cells[1].strip(), text[1:-1] if text[:1] == text[-1:] == " " and text.strip() else text))
    return rows


def _raw_member(path: Path) -> None:
    """An .npz whose x another tool zipped in: bytes, not an array."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x", b"0.1,0.2\n0.3,0.4\n")
        with z.open("y.npy", "w") as member:
            np.lib.format.write_array(member, Y_HALF)


def _png(height: int, width: int):
    def write(path: Path) -> None:
        from PIL import Image

        Image.fromarray(np.zeros((height, width), np.uint8)).save(path)
    return write


def _digits_split(path: Path) -> None:
    assert CliRunner().invoke(main, ["split", "--dataset", "digits", "--labels", "50", "--out", str(path)]).exit_code == 0


def _colours(path: Path) -> None:
    """The .npz of a training table whose column colour holds blue, green and red."""
    Path("train.csv").write_text("colour,a,label\nblue,1,x\ngreen,2,y\nred,3,\n")
    assert CliRunner().invoke(main, ["convert", "train.csv", "--categorical", "colour", "--out", str(path)]).exit_code == 0


def _split_then_changed(path: Path) -> None:
    """A split of data.npz written to ``path``, and then data.npz changed (:func:`_data_changed`)."""
    assert CliRunner().invoke(main, ["split", "--dataset", "npz:data.npz", "--out", str(path)]).exit_code == 0
    _data_changed()


def _run(epochs: int, metrics: str) -> dict:
    """The files of a run folder runs/r of ``epochs`` on digits with the lines ``metrics``."""
    return {"runs/r": None, "runs/r/config.json": json.dumps(Config(dataset="digits", epochs=epochs).to_dict()),
            "runs/r/metrics.jsonl": metrics}


def _tagged(*lrs: float) -> dict:
    """Finished run folders runs/a, runs/b, ... of one --tag, mine, trained at the rates ``lrs``."""
    files = {}
    for name, lr in zip("abcdef", lrs):
        config = Config(dataset="digits", epochs=1, tag="mine", lr=lr).to_dict()
        files.update({f"runs/{name}": None, f"runs/{name}/config.json": json.dumps(config),
                      f"runs/{name}/metrics.jsonl": _lines([1], test_acc=0.5, test_errors=5, n_test=10)})
    return files


class Trained(NamedTuple):
    """A run folder runs/r trained for one epoch on ``data`` (npz:data.npz, with a test set, or
    npz:d.npz, without one, 20 rows held out), with its data beside it: copied from a run
    trained once per process (:func:`trained_run`), then changed as ``then`` does."""

    data: str
    then: Callable[[], None] | None = None


def _edited_config() -> None:
    config = json.loads(Path("runs/r/config.json").read_text())
    Path("runs/r/config.json").write_text(json.dumps({**config, "lr": 0.0001}))


def _data_changed() -> None:
    """data.npz with its values halved: other data, of the same shape and labels."""
    with np.load("data.npz") as d:
        arrays = dict(d)
    np.savez("data.npz", **{**arrays, "x": arrays["x"] * 0.5})


def _lines(epochs, **metric) -> str:
    return "".join(json.dumps({"epoch": epoch, **metric}) + "\n" for epoch in epochs)


PIXELS_0_255 = np.linspace(0, 255, 400 * 25, dtype=np.float32).reshape(400, 5, 5)  # (floats from 0 to 255)
NAN_LABELS = np.where(np.arange(400) < 40, np.arange(400) % 4, np.nan)  # (360 of 400 rows NaN; 400: past a batch)
Y_400 = np.nan_to_num(NAN_LABELS, nan=-1).astype(int)
FIT_NPZ = ["fit", "--dataset", "npz:data.npz"]
# Rows of the README's table, by the start of their first cell, with the command that each
# describes and what it is given: a file's text or bytes, an .npz's arrays, an .npy's array, a
# folder (None), or a function that writes the file. The cases above check fragments of the
# messages; these hold the lines the README prints to what the commands print (rows had gone
# on giving digits' parameter count for the MNIST command they show, a line that ssgan no
# longer printed, and lines without their backticks).
README_ROWS = [
    ("`--dataset imagenet`", ["fit", "--dataset", "imagenet"], {}),
    ("`--dataset MNIST`", ["fit", "--dataset", "MNIST"], {}),
    ("`--dataset cells.csv`", ["fit", "--dataset", "cells.csv"], {"cells.csv": "a,label\n1,x\n"}),
    ("`--dataset npz:x.npy`", ["fit", "--dataset", "npz:x.npy"], {"x.npy": np.zeros((3, 2))}),
    ("`--dataset svhn --data-root /no/such/dir`", ["fit", "--dataset", "svhn", "--data-root", "/no/such/dir"], {}),
    ("`--dataset cifar10` (no", ["fit", "--dataset", "cifar10"], {}),
    ("`--dataset cifar10 --data-root empty/`", ["fit", "--dataset", "cifar10", "--data-root", "empty/"],
     {"empty": None}),
    ("`--seed 5 --seeds 2`", ["fit", "--seed", "5", "--seeds", "2"], {}),
    ("`--labels 0`", ["fit", "--labels", "0"], {}),
    ("`--labels 105`", ["fit", "--labels", "105"], {}),
    ("`--labels 60000`", ["fit", "--labels", "60000"], {}),
    ("networks too large for the machine", ["fit", "--z-dim", "1000000000"], {}),
    ("`--seed -1`", ["fit", "--seed", "-1"], {}),
    ("an npz without `x`", FIT_NPZ, {"data.npz": dict(images=X, y=Y_HALF)}),
    ("an npz whose `x` is 1-D or 5-D", FIT_NPZ, {"data.npz": dict(x=np.zeros(40, np.float32), y=Y_HALF)}),
    ("an npz of images saved channels-last", FIT_NPZ,
     {"data.npz": dict(x=np.zeros((40, 32, 32, 3), np.float32), y=Y_HALF)}),
    ("NaN pixels", FIT_NPZ, {"data.npz": dict(x=np.where(X > 0.9, np.nan, X), y=Y_HALF)}),
    ("`ssgan convert` of a table with an empty cell", ["convert", "t.csv", "--out", "t.npz"],
     {"t.csv": "a,label\n1,x\n,y\n"}),
    ("`ssgan convert t.csv` of a table whose labels are in a column not named", ["convert", "t.csv", "--out", "t.npz"],
     {"t.csv": "a,target\n1,x\n2,y\n"}),
    ("`ssgan convert iris.data`", ["convert", "iris.data", "--out", "iris.npz"],
     {"iris.data": "5.1,3.5,1.4,0.2,Iris-setosa\n4.9,3.0,1.4,0.2,Iris-setosa\n"}),
    ("`ssgan convert t.csv` of a table saved with decimal commas", ["convert", "t.csv", "--out", "t.npz"],
     {"t.csv": "a;label\n1,5;x\n"}),
    ("new rows (`--like t.npz`)", ["convert", "new.csv", "--no-label", "--like", "t.npz", "--out", "new.npz"],
     {"t.npz": _colours, "new.csv": "colour,a\nteal,1\n"}),
    ("unlabeled rows marked NaN", FIT_NPZ, {"data.npz": dict(x=np.zeros((400, 5), np.float32), y=NAN_LABELS)}),
    ("an npz of mixed types", FIT_NPZ, {"data.npz": dict(x=np.array([[0.5, "a"]] * 40, dtype=object), y=Y_HALF)}),
    ("an npz member that `numpy.savez` did not write", FIT_NPZ, {"data.npz": _raw_member}),
    ("an npz of complex numbers", FIT_NPZ, {"data.npz": dict(x=(X + 1j).astype(np.complex64), y=Y_HALF)}),
    ("8-bit `x_test` beside float `x`", FIT_NPZ,
     {"data.npz": dict(x=PIXELS_0_255, y=Y_400, x_test=(X[:4] * 255).astype(np.uint8), y_test=Y[:4])}),
    ("float values outside [0, 1] with `--scale none`", [*FIT_NPZ, "--scale", "none"],
     {"data.npz": dict(x=PIXELS_0_255, y=Y_400, x_test=PIXELS_0_255[:4], y_test=Y[:4])}),
    ("`folder:DIR` images of two sizes", ["fit", "--dataset", "folder:DIR"],
     {"DIR/train/a": None, "DIR/train/b": None, "DIR/unlabeled": None, "DIR/train/a/0.png": _png(8, 8),
      "DIR/train/b/0.png": _png(8, 8), "DIR/unlabeled/big.png": _png(9, 8)}),
    ("`folder:DIR` with a file that is not an image", ["fit", "--dataset", "folder:DIR"],
     {"DIR/train/a": None, "DIR/train/b": None, "DIR/unlabeled": None, "DIR/train/a/0.png": _png(8, 8),
      "DIR/train/b/0.png": _png(8, 8), "DIR/unlabeled/broken.png": b"not a PNG"}),
    ("`folder:DIR` without `DIR/train/`", ["fit", "--dataset", "folder:DIR"],
     {"DIR/unlabeled": None, "DIR/unlabeled/0.png": _png(8, 8)}),
    ("a label below -1", FIT_NPZ, {"data.npz": dict(x=X, y=np.where(Y == 3, -5, Y_HALF))}),
    ("an empty `x_test`", FIT_NPZ, {"data.npz": dict(x=X, y=Y_HALF, x_test=X[:0], y_test=Y[:0])}),
    ("a test class that no labeled training row has", FIT_NPZ,
     {"data.npz": dict(x=X, y=np.where(np.arange(40) < 20, Y % 2, -1), x_test=X[:2], y_test=np.array([7, 0]))}),
    ("every row unlabeled", FIT_NPZ, {"data.npz": dict(x=X, y=np.full(40, -1))}),
    ("no unlabeled row and no `--labels`", FIT_NPZ, {"data.npz": dict(x=X, y=Y)}),
    ("`--translate 2` on data that are not images", ["fit", "--dataset", "gmm2d:modes=4", "--translate", "2"], {}),
    ("`--split` of another dataset", ["fit", "--dataset", "mnist", "--split", "s.json"], {"s.json": _digits_split}),
    ("`--split` of a split file drawn from data that have changed since", [*FIT_NPZ, "--split", "s.json"],
     {"data.npz": dict(x=X, y=Y_HALF), "s.json": _split_then_changed}),
    ("a damaged split file", ["fit", "--split", "s.json"], {"s.json": "{broken"}),
    ("`--config mnist100.toml`", ["fit", "--config", "mnist100.toml"], {"configs": None, "configs/mnist-100.toml": "epochs = 1\n"}),
    ("a config key that does not exist", ["fit", "--config", "c.toml"], {"c.toml": "epoch = 3\n"}),
    ("a setting that is not a finite number", ["fit", "--lr", "nan"], {}),
    ("a config value of the wrong type", ["fit", "--config", "c.toml"], {"c.toml": 'lr = "fast"\n'}),
    ("a value out of its range", ["fit", "--batch-size", "0"], {}),
    ("`eval`, `sample` or `--resume` on a folder that is not a run", ["eval", "somewhere"], {"somewhere": None}),
    ("a damaged checkpoint", ["eval", "run"],
     {"run": None, "run/config.json": json.dumps({"dataset": "digits"}), "run/checkpoint.pt": b"\x00garbage"}),
    ("`report` of a run whose data have no test set", ["report", "runs/r", "--out", "report"],
     _run(1, _lines([1], test_acc=None, val_acc=0.5))),
    ("`report --split val` of a run that held out no rows", ["report", "runs/r", "--split", "val", "--out", "report"],
     _run(1, _lines([1], test_acc=0.5, test_errors=5, n_test=10))),
    ("`--batch-size` larger than the training rows left after `--val`", [*FIT_NPZ, "--val", "8", "--batch-size", "36"],
     {"data.npz": dict(x=X, y=Y_HALF)}),
    ("`report` of a run stopped before its last epoch", ["report", "runs/r", "--out", "report"],
     _run(125, _lines(range(1, 41), test_acc=0.5, test_errors=5, n_test=10))),
    ("`report` of a file", ["report", "runs.tar.gz", "--out", "report"], {"runs.tar.gz": b""}),
    ("`report` of a folder with a run whose `metrics.jsonl` has a cut-off line", ["report", "runs", "--out", "report"],
     _run(3, _lines([1, 2], test_acc=0.5) + '{"epoch": 3, "te')),
    ("`eval` or `sample` on a run folder kept without its checkpoint", ["eval", "run"],
     {"run": None, "run/config.json": json.dumps({"dataset": "digits"})}),
    ("`--resume` or `eval` of a run whose own data have changed", ["eval", "runs/r"],
     {".": Trained("data.npz", _data_changed)}),
    ("`sample --out s.npz`", ["sample", "runs/r", "--out", "s.npz"], {".": Trained("data.npz")}),
    ("`predict --data npz:new.npz --out new.npz`", ["predict", "runs/r", "--data", "npz:new.npz", "--out", "new.npz"],
     {".": Trained("data.npz", lambda: shutil.copy("data.npz", "new.npz"))}),
    ("one run folder given twice to `--resume`", ["fit", "--resume", "runs/r", "--resume", "runs/r"],
     {".": Trained("data.npz")}),
    ("`--resume` of a run whose `config.json` was edited by hand", ["fit", "--resume", "runs/r"],
     {".": Trained("data.npz", _edited_config)}),
    ("`eval RUN` of a run whose data have no test set", ["eval", "runs/r"], {".": Trained("d.npz")}),
    ("`report` of runs that one `--tag` names but that differ in a setting", ["report", "runs", "--out", "report"],
     _tagged(0.003, 0.003, 0.001)),
    ("`--out` that is a file", ["fit", "--out", "x"], {"x": ""}),
]
# (the size of the machine's memory, and its device, in --z-dim's row: "more than the 24 GiB of cpu: ...")
MEMORY = r"the [\d,.]+ GiB of [\w:]+?(?=: )"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """The folder of a run trained (once, at the first call) on ``data`` (Trained's), holding
    the run as runs/r and its data."""
    made = {}

    def folder(data: str) -> Path:
        if data not in made:
            root = made[data] = tmp_path_factory.mktemp("trained")
            rows = np.random.default_rng(0).random((80, 5, 5)).astype(np.float32)
            y = np.where(np.arange(80) < 40, np.tile(np.arange(4), 20), -1)
            test = dict(x_test=rows[:8], y_test=y[:8]) if data == "data.npz" else {}
            np.savez(root / data, x=rows, y=y, **test)
            held = [] if test else ["--val", "20"]
            here = os.getcwd()
            os.chdir(root)  # (the run names its data by the relative path npz:DATA, as the rows do)
            try:
                r = CliRunner().invoke(main, ["fit", "--dataset", f"npz:{data}", *held, "--epochs", "1",
                                              "--batch-size", "10", "--out", "runs", "--quiet"])
            finally:
                os.chdir(here)
            assert r.exit_code == 0, r.output
            next((root / "runs").iterdir()).rename(root / "runs" / "r")
        return made[data]
    return folder


def _make(path: Path, what, trained_run) -> None:
    if isinstance(what, Trained):
        shutil.copytree(trained_run(what.data), path, dirs_exist_ok=True)
        if what.then is not None:
            what.then()
    elif what is None:
        path.mkdir(parents=True)
    elif callable(what):
        what(path)
    elif isinstance(what, dict):
        np.savez(path, **what)
    elif isinstance(what, np.ndarray):
        np.save(path, what)
    elif isinstance(what, bytes):
        path.write_bytes(what)
    else:
        path.write_text(what)


@pytest.mark.parametrize("row", [start for start, _, _ in README_ROWS])
def test_the_readme_troubleshooting_rows_print_what_they_say(row, tmp_path, monkeypatch, trained_run):
    """The command of a row of README_ROWS, given what the row describes: one line, ``Error:``
    and the line the row shows (where "..." stands for what the row leaves out), and no run
    folder, report or converted file."""
    told = next((told for cell, told in readme_troubleshooting() if cell.startswith(row)), None)
    assert told is not None, f"the README's troubleshooting table has no row that starts {row!r}"
    args, files = next((args, files) for start, args, files in README_ROWS if start == row)
    monkeypatch.chdir(tmp_path)
    for name, what in files.items():
        _make(Path(name), what, trained_run)
    before = sorted(Path().rglob("*"))
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.output.count("\n") == 1 and r.output.startswith("Error: "), r.output
    printed = re.sub(MEMORY, "the memory of the device", r.output[len("Error: "):].rstrip("\n"))
    told = re.sub(MEMORY, "the memory of the device", told)
    assert re.fullmatch(".*?".join(map(re.escape, told.split("..."))), printed), (told, printed)
    assert sorted(Path().rglob("*")) == before
