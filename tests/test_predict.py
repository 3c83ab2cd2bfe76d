"""`ssgan predict`: a run's classifier on new rows, no labels needed."""

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import cuda, write_npz
from ssgan.cli import main
from ssgan.data import load_digits
from ssgan.errors import SSGANError
from ssgan.runs import evaluate_run, load_run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1",
                                  "--out", str(out), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["run"]


def test_predictions_of_the_test_images_are_what_eval_scores(digits_run, tmp_path):
    """The test images in an npz of their own, (N, H, W) in array x_test with no labels: the
    predictions written to a .csv score the accuracy that eval reports on the test set."""
    digits = load_digits()
    data = write_npz(tmp_path / "new.npz", x_test=digits.x_test[:, 0])
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--key", "x_test", "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"wrote {tmp_path / 'p.csv'}: 450 rows of {data} (x_test)")
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["row", "pred", "p_real", *(f"proba_{k}" for k in range(10))]
    assert b"\r" not in (tmp_path / "p.csv").read_bytes()  # (csv's default CRLF put \r in awk's and cut's last column)
    pred = np.array([int(row["pred"]) for row in rows])
    assert (pred == digits.y_test).mean() == pytest.approx(evaluate_run(digits_run)["accuracy"])


def test_npz_predictions_hold_probabilities_and_the_real_probability(digits_run, tmp_path):
    digits = load_digits()
    data = write_npz(tmp_path / "new.npz", x=digits.x_test[:20])
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(tmp_path / "p.npz"), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["n"] == 20 and sum(summary["predicted_counts"]) == 20
    with np.load(tmp_path / "p.npz") as p:
        pred, proba, p_real = p["pred"], p["proba"], p["p_real"]
    assert proba.shape == (20, 10) and np.allclose(proba.sum(1), 1.0, atol=1e-6)
    assert np.array_equal(pred, proba.argmax(1))
    # p_real = D(x) = Z / (Z + 1), Z the sum of the exponentiated class logits (the implicit fake logit is 0)
    with torch.no_grad():
        logits, _ = load_run(digits_run).discriminator()(torch.from_numpy(digits.x_test[:20]))
    assert np.allclose(p_real, torch.sigmoid(torch.logsumexp(logits, 1)).numpy(), atol=1e-6)
    assert np.allclose(proba, torch.softmax(logits, 1).numpy(), atol=1e-6)
    # a suffix in capitals names the same formats (as sample's --out .PNG does)
    for name in ("P.NPZ", "P.CSV"):
        r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(tmp_path / name)])
        assert r.exit_code == 0 and "wrote " in r.output, r.output
    with np.load(tmp_path / "P.NPZ") as p:
        assert np.array_equal(p["proba"], proba)
    assert (tmp_path / "P.CSV").read_text().startswith("row,pred,p_real,proba_0")


def test_real_valued_rows_are_scaled_as_in_training(tmp_path):
    """A run on features in units of thousands: predicting its own labeled rows from the raw
    file gives the accuracy that eval finds on them (which reads them through the run's scaler)."""
    rng = np.random.default_rng(0)
    y_true = np.arange(200) % 2
    x = (rng.normal(size=(200, 4)) + 3.0 * y_true[:, None]) * 1000.0
    y = np.where(np.arange(200) < 40, y_true, -1)
    data = write_npz(tmp_path / "raw.npz", x=x, y=y)
    r = CliRunner().invoke(main, ["fit", "--dataset", data, "--epochs", "2", "--batch-size", "20",
                                  "--out", str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    r = CliRunner().invoke(main, ["predict", run, "--data", data, "--out", str(tmp_path / "p.npz")])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "p.npz") as p:
        pred = p["pred"]
    assert (pred[:40] == y_true[:40]).mean() == pytest.approx(evaluate_run(run, "train")["accuracy"])
    assert (pred == y_true).mean() > 0.9  # the classes lie 3 standard deviations apart


@pytest.mark.parametrize("args, message", [
    (["--out", "p.txt"], "--out p.txt: write predictions to a .csv or an .npz file"),
    (["--key", "x_test", "--out", "p.csv"], "has no x_test array (found: x); choose one with --key"),
    (["--data", "digits", "--out", "p.csv"], "--data must be npz:PATH or folder:DIR, got 'digits'\n"),
    (["--data", "new.npz", "--out", "p.csv"], "got 'new.npz': did you mean npz:new.npz?"),
    (["--data", ".", "--out", "p.csv"], "got '.': did you mean folder:.?"),
    (["--data", "new.npy", "--out", "p.csv"], "new.npy is one array (.npy), not an .npz of named arrays (x): save it by "
                                              "name, numpy.savez('new.npz', x=x)\n"),
    (["--data", "csv:new.csv", "--out", "p.csv"],  # (new.npz is there: converted before, it may be all it takes)
     "new.csv is a table, not an .npz: if new.npz beside it is what `ssgan convert` made of it, give npz:new.npz; else "
     "`ssgan convert new.csv --no-label --out new.npz` makes it anew\n"),
    (["--data", "folder:", "--out", "p.csv"], "folder: names no folder: write folder:DIR"),  # (not the working folder)
    (["--data", "npz:", "--out", "p.csv"], "npz: names no file: write npz:PATH"),
    (["--data", "folder:nowhere", "--out", "p.csv"], "no such folder: nowhere (expected folder:DIR with images in DIR "
                                                    "or its subfolders)"),
    (["--out", "new.npz/p.csv"], "--out new.npz/p.csv: new.npz is a file, not a folder"),
    (["--out", "new.npz"], "--out new.npz is the file of --data npz:"),  # (it had replaced the rows with predictions)
    (["--device", "cuda", "--out", "p.csv"], "--device cuda: torch sees no CUDA GPU here; use --device cpu or auto"),
    (["--device", "gpu0", "--out", "p.csv"], "unknown device 'gpu0': use auto, cpu, cuda, cuda:N or mps"),
])
def test_bad_predictions_are_one_line(digits_run, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # (the same line on a machine with a GPU)
    data = write_npz(tmp_path / "new.npz", x=np.zeros((3, 8, 8), np.float32))
    if "--data" not in args:
        args = ["--data", data, *args]
    r = CliRunner().invoke(main, ["predict", digits_run, *args])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and message in r.output, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.npz"]  # nothing written
    with np.load(tmp_path / "new.npz") as f:
        assert f.files == ["x"]


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_values_outside_the_unit_range_for_a_run_on_pixels_are_told_the_runs_units(digits_run, tmp_path, command):
    """A run trained with --scale none (digits' pixels in [0, 1]) given floats in other units (the
    8x8 digits' own 0..16) says what the run takes, not the --scale option of fit."""
    x = np.full((3, 8, 8), 16.0)
    data = write_npz(tmp_path / "new.npz", x=x, y=np.arange(3), x_test=x, y_test=np.arange(3))
    args = ["--out", str(tmp_path / "p.csv")] if command == "predict" else []
    r = CliRunner().invoke(main, [command, digits_run, "--data", data, *args])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert (f"values lie in [16, 16] but {digits_run} trained on values in [0, 1] (--scale none): give them in those "
            "units (8-bit pixels as uint8, or divided by 255)") in r.output
    assert not (tmp_path / "p.csv").exists()


def test_eval_on_other_data_takes_an_npz_alone(digits_run):
    r = CliRunner().invoke(main, ["eval", digits_run, "--data", "digits"])
    assert r.exit_code == 2 and r.output == "Error: --data must be npz:PATH or folder:DIR, got 'digits'\n", r.output


def test_predictions_go_into_a_folder_made_for_them(digits_run, tmp_path):
    """--out in folders that are not there yet makes them, as sample --out and fit --out do;
    a prediction that fails first leaves none behind."""
    data = write_npz(tmp_path / "new.npz", x=np.zeros((3, 8, 8), np.float32))
    out = tmp_path / "a" / "b" / "p.csv"
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(out)])
    assert r.exit_code == 0 and out.is_file(), r.output
    wrong = write_npz(tmp_path / "wrong.npz", x=np.zeros((3, 5, 5), np.float32))
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", wrong, "--out", str(tmp_path / "c" / "p.csv")])
    assert r.exit_code == 2 and not (tmp_path / "c").exists(), r.output


def test_predict_reads_only_the_array_it_classifies(digits_run, tmp_path):
    """--key names the one array that predict reads: an array of Python objects beside it (which
    ssgan never unpickles, and which stopped predict before) is left unread."""
    digits = load_digits()
    data = tmp_path / "mixed.npz"
    np.savez(data, x=np.zeros((5, 8, 8), np.float32), notes=np.array([{"by": "hand"}], dtype=object),
             x_test=digits.x_test[:12])
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", f"npz:{data}", "--key", "x_test", "--out",
                                  str(tmp_path / "p.csv"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["n"] == 12, r.output


def test_eval_on_a_file_with_a_test_set_reads_x_only_from_its_header(digits_run, tmp_path, monkeypatch):
    """eval --data npz: scores x_test where the file has one, and does not read the training rows
    beside it (their header is still checked); the scores are those of the file read whole.
    Without x_test, the labeled rows of x are read and scored."""
    import ssgan.data

    digits = load_digits()
    x = np.concatenate([digits.x_train, digits.x_train])[:, 0].astype(np.float64)  # float64, as numpy makes them
    y = np.concatenate([digits.y_train, np.full(len(digits.y_train), -1)])
    data = write_npz(tmp_path / "d.npz", x=x, y=y, x_test=digits.x_test[:, 0], y_test=digits.y_test)
    whole = evaluate_run(digits_run, data_spec=data)
    read = []
    examples = ssgan.data._examples
    monkeypatch.setattr(ssgan.data, "_examples", lambda f, key, path: read.append(key) or examples(f, key, path))
    assert evaluate_run(digits_run, data_spec=data) == whole and read == ["x_test"]
    assert whole["data"] == f"{data} (x_test)" and whole["n"] == 450
    own = evaluate_run(digits_run)
    assert (whole["accuracy"], whole["confusion_matrix"]) == (own["accuracy"], own["confusion_matrix"])
    read.clear()
    labeled = write_npz(tmp_path / "labeled.npz", x=x, y=y)
    assert evaluate_run(digits_run, data_spec=labeled)["n"] == len(digits.y_train) and read == ["x"]
    short = write_npz(tmp_path / "short.npz", x=x[:-1], y=y, x_test=digits.x_test[:, 0], y_test=digits.y_test)
    with pytest.raises(SSGANError, match=f"x has {len(x) - 1} rows but y has {len(y)}"):
        evaluate_run(digits_run, data_spec=short)


@pytest.mark.parametrize("keys", [("x", "y"), ("x_test", "y_test")])
def test_eval_scores_a_subset_of_the_classes_by_the_runs_numbers(digits_run, tmp_path, keys):
    """Labels are the run's class numbers, and any of them may be missing from what eval scores:
    the test images of classes 3 and 7 alone (which a training set's checks had refused, with the
    advice to relabel them 0 and 1, which would have scored them as other classes), and of class
    3 alone. Their rows of the confusion matrix are those of the whole test set."""
    digits = load_digits()
    whole = evaluate_run(digits_run, data_spec=write_npz(tmp_path / "all.npz", x=digits.x_test[:, 0], y=digits.y_test))
    for classes in ((3, 7), (3,)):
        rows = np.isin(digits.y_test, classes)
        arrays = {keys[0]: digits.x_test[rows, 0], keys[1]: digits.y_test[rows]}
        if keys[0] == "x_test":  # beside a training part whose labels are a subset too
            arrays.update(x=digits.x_test[rows, 0][:5], y=np.full(5, classes[0]))
        r = evaluate_run(digits_run, data_spec=write_npz(tmp_path / f"sub{len(classes)}.npz", **arrays))
        assert r["n"] == rows.sum()
        cm = np.array(whole["confusion_matrix"])
        assert r["confusion_matrix"] == [list(row) if k in classes else [0] * 10 for k, row in enumerate(cm)]
        assert r["per_class_accuracy"] == [whole["per_class_accuracy"][k] if k in classes else None for k in range(10)]
        assert r["errors"] == sum(cm[k].sum() - cm[k, k] for k in classes)


def test_eval_takes_a_test_set_alone(digits_run, tmp_path):
    """An npz of x_test and y_test alone is a test set to score (it had to carry x and y beside
    them), with the scores of the same rows beside training rows; fit still needs x and y, and a
    file with half of x and y names what it lacks."""
    digits = load_digits()
    alone = write_npz(tmp_path / "alone.npz", x_test=digits.x_test[:, 0], y_test=digits.y_test)
    beside = write_npz(tmp_path / "beside.npz", x=digits.x_train[:5, 0], y=digits.y_train[:5],
                       x_test=digits.x_test[:, 0], y_test=digits.y_test)
    r = evaluate_run(digits_run, data_spec=alone)
    assert r["data"] == f"{alone} (x_test)" and r["n"] == 450
    assert {k: v for k, v in r.items() if k != "data"} == {k: v for k, v in evaluate_run(digits_run, data_spec=beside).items()
                                                          if k != "data"}
    empty = write_npz(tmp_path / "empty.npz", x_test=digits.x_test[:0, 0], y_test=digits.y_test[:0])
    with pytest.raises(SSGANError, match="x_test and y_test have no rows; give test examples in them$"):
        evaluate_run(digits_run, data_spec=empty)
    half = write_npz(tmp_path / "half.npz", y=digits.y_test, x_test=digits.x_test[:, 0], y_test=digits.y_test)
    with pytest.raises(SSGANError, match=r"has no x array .*; it needs x and y \(or x_train and y_train\), or x_test and "
                                         r"y_test alone \(to classify rows without labels: ssgan predict\)$"):
        evaluate_run(digits_run, data_spec=half)
    r = CliRunner().invoke(main, ["fit", "--dataset", alone, "--epochs", "1", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output.endswith("has no x or y array (found: x_test, y_test); it needs x and y (or "
                                                  "x_train and y_train)\n")


def test_an_npz_names_the_classes_of_a_run_without_names_as_a_folder_does(digits_run, tmp_path):
    """For a run on data without names, an npz's `classes` name the run's classes "0", "1", ...,
    as its class folders would: before, the names were ignored and labels 0 and 1 of classes
    named "3" and "7" were scored as classes 0 and 1."""
    digits = load_digits()
    rows = np.isin(digits.y_test, (3, 7))
    numbered = evaluate_run(digits_run, data_spec=write_npz(tmp_path / "n.npz", x=digits.x_test[rows, 0],
                                                             y=digits.y_test[rows]))
    named = evaluate_run(digits_run, data_spec=write_npz(tmp_path / "named.npz", x=digits.x_test[rows, 0],
                                                          y=(digits.y_test[rows] == 7).astype(np.int64),
                                                          classes=np.array(["3", "7"])))
    assert named["confusion_matrix"] == numbered["confusion_matrix"] and named["classes"] is None
    alien = write_npz(tmp_path / "alien.npz", x=digits.x_test[rows, 0], y=(digits.y_test[rows] == 7).astype(np.int64),
                      classes=np.array(["three", "seven"]))
    with pytest.raises(SSGANError, match=r"names classes three, seven, which .* did not train on \(its classes: 0, 1, 2,"):
        evaluate_run(digits_run, data_spec=alien)


def test_rows_of_another_shape_are_refused(digits_run, tmp_path, monkeypatch):
    data = write_npz(tmp_path / "new.npz", x=np.zeros((3, 28, 28), np.float32))
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 2 and r.output.endswith("has examples of shape (1, 28, 28), but the run was trained on "
                                                  "(1, 8, 8)\n"), r.output
    # the same values flattened are told how to lay them out
    data = write_npz(tmp_path / "flat.npz", x=np.zeros((3, 64), np.float32))
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 2 and r.output.endswith("has examples of shape (64,), but the run was trained on (1, 8, 8): "
                                                  "if they hold the same values, save x.reshape(len(x), 1, 8, 8)\n")
    # an array of no shape that rows have is refused from its header, its values unread
    import ssgan.data

    monkeypatch.setattr(ssgan.data, "_examples", lambda *a: pytest.fail("read an array it refuses"))
    for shape in ((3, 8, 8, 3), (3, 1, 1, 8, 8), (0, 8, 8)):
        data = write_npz(tmp_path / "bad.npz", x=np.zeros(shape, np.float32))
        r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(tmp_path / "p.csv")])
        assert r.exit_code == 2 and f"x has shape {shape}" in r.output, r.output
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("command", [["eval"], ["sample", "--out", "s.png"], ["report", "--out", "r", "--samples", "100"]])
def test_a_device_that_is_not_there_is_one_line(digits_run, tmp_path, monkeypatch, command):
    """eval, sample and report take --device as predict does: a GPU that is not there stops them in one
    line before any work, with nothing written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = CliRunner().invoke(main, [command[0], digits_run, *command[1:], "--device", "cuda"])
    assert r.exit_code == 2 and r.output == "Error: --device cuda: torch sees no CUDA GPU here; use --device cpu or auto\n"
    assert list(tmp_path.iterdir()) == []


def test_a_device_out_of_memory_is_one_line(digits_run, tmp_path, monkeypatch):
    """A GPU that other jobs fill while predict, eval or sample computes: one line that says what
    to do, and no file half-written (here the CPU stands in for the device that ran out)."""
    import ssgan.samples
    import ssgan.train

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore that a traceback would show")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ssgan.train, "predict_outputs", out_of_memory)
    monkeypatch.setattr(ssgan.samples, "generate", out_of_memory)
    data = write_npz(tmp_path / "new.npz", x=np.zeros((3, 8, 8), np.float32))
    line = ("Error: the device (cpu) ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB): free it, "
            "or compute elsewhere with --device (--device cpu)\n")
    for command in (["predict", digits_run, "--data", data, "--out", "p.csv"], ["eval", digits_run],
                    ["sample", digits_run, "--out", "s.png"]):
        r = CliRunner().invoke(main, command)
        assert r.exit_code == 2 and r.output == line, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.npz"]


@cuda
def test_predict_eval_and_sample_on_cuda_agree_with_the_cpu(digits_run, tmp_path):
    """The run's networks on the GPU give the CPU's numbers up to rounding: the same predicted
    classes and errors, probabilities and samples within float32 noise."""
    digits = load_digits()
    data = write_npz(tmp_path / "new.npz", x=digits.x_test)
    outputs = {}
    for device in ("cpu", "cuda"):
        r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(tmp_path / f"{device}.npz"),
                                      "--device", device])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(main, ["sample", digits_run, "--n", "50", "--npz", str(tmp_path / f"s-{device}.npz"),
                                      "--device", device])
        assert r.exit_code == 0, r.output
        with np.load(tmp_path / f"{device}.npz") as p, np.load(tmp_path / f"s-{device}.npz") as s:
            outputs[device] = {"proba": p["proba"], "p_real": p["p_real"], "x": s["x"],
                               "eval": evaluate_run(digits_run, device=device)}
    cpu, gpu = outputs["cpu"], outputs["cuda"]
    assert np.allclose(cpu["proba"], gpu["proba"], atol=1e-4) and np.allclose(cpu["p_real"], gpu["p_real"], atol=1e-4)
    assert np.allclose(cpu["x"], gpu["x"], atol=1e-4)
    assert abs(cpu["eval"]["errors"] - gpu["eval"]["errors"]) <= 1  # (a near tie may round the other way)
    quality = {}
    for device in ("cpu", "cuda"):  # the samples and the reference network's features on the device
        r = CliRunner().invoke(main, ["eval", digits_run, "--device", device, "--samples", "200", "--cache-dir",
                                      str(tmp_path / "cache"), "--json"])
        assert r.exit_code == 0, r.output
        quality[device] = json.loads(r.stdout)["sample_quality"]
    for row in ("generated", "real"):
        assert quality["cuda"][row]["fid"] == pytest.approx(quality["cpu"][row]["fid"], rel=1e-3)
        assert quality["cuda"][row]["precision"] == pytest.approx(quality["cpu"][row]["precision"], abs=0.02)


# -- the Python API to a run: ssgan.load_run ---------------------------------------------------

def test_a_runs_predictions_in_python_are_those_predict_writes(digits_run, tmp_path):
    """``ssgan.load_run(RUN).predict_proba(x)``, ``predict`` and ``p_real`` on an array give the
    numbers ``ssgan predict`` writes for the same rows (bit for bit), in their 8-bit and grey
    forms as in an npz."""
    import ssgan

    digits = load_digits()
    grey = digits.x_test[:, 0]  # (N, 8, 8): grey images without their channel
    data = write_npz(tmp_path / "new.npz", x=grey)
    r = CliRunner().invoke(main, ["predict", digits_run, "--data", data, "--out", str(tmp_path / "p.npz")])
    assert r.exit_code == 0, r.output
    run = ssgan.load_run(digits_run)
    with np.load(tmp_path / "p.npz") as p:
        assert np.array_equal(run.predict_proba(grey), p["proba"])
        assert np.array_equal(run.predict(grey), p["pred"])
        assert np.array_equal(run.p_real(digits.x_test), p["p_real"])  # (N, 1, 8, 8) alike
    eight_bit = np.round(grey * 255).astype(np.uint8)
    assert np.array_equal(run.predict(eight_bit), run.predict(eight_bit.astype(np.float32) / 255))
    assert (run.predict(grey) == digits.y_test).mean() == pytest.approx(evaluate_run(digits_run)["accuracy"])
    assert run.class_names == [str(k) for k in range(10)]


def test_a_runs_samples_in_python_are_those_sample_writes(digits_run, tmp_path):
    import ssgan

    r = CliRunner().invoke(main, ["sample", digits_run, "--n", "7", "--seed", "3", "--npz", str(tmp_path / "s.npz")])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "s.npz") as s:
        assert np.array_equal(ssgan.load_run(digits_run).sample(7, seed=3), s["x"])


def test_a_runs_samples_in_python_are_in_the_datas_units(tmp_path):
    """Features in thousands come back in thousands: the run's scaling inverted."""
    import ssgan

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)) * 1000.0 + 5000.0
    data = write_npz(tmp_path / "raw.npz", x=x, y=np.where(np.arange(100) < 20, np.arange(100) % 2, -1))
    r = CliRunner().invoke(main, ["fit", "--dataset", data, "--epochs", "1", "--batch-size", "20",
                                  "--out", str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    samples = ssgan.load_run(json.loads(r.stdout)["run"]).sample(50)
    assert samples.shape == (50, 3)
    assert (samples >= x.min(0) - 1e-3).all() and (samples <= x.max(0) + 1e-3).all() and samples.mean() > 1000


@pytest.mark.parametrize("x, message", [
    (np.zeros((3, 64)), r"x has examples of shape \(64,\), but the run was trained on \(1, 8, 8\): if they hold "
                        r"the same values, pass x.reshape\(len\(x\), 1, 8, 8\)"),
    (np.zeros((0, 8, 8)), r"x has shape \(0, 8, 8\); expected N > 0 rows"),
    (np.array([["a"]]), "x has dtype <U1; expected real numbers"),
    (np.full((2, 8, 8), np.nan), "x contains NaN or infinite values: clean or impute them first"),
    (np.zeros((2, 8, 8, 3)), r"channels-last; ssgan reads them as \(N, C, H, W\): pass numpy.moveaxis\(x, -1, 1\)"),
])
def test_bad_arrays_for_a_run_in_python_are_one_line(digits_run, x, message):
    import ssgan

    with pytest.raises(ssgan.SSGANError, match=message):
        ssgan.load_run(digits_run).predict(x)


def test_load_run_takes_devices_by_name(digits_run):
    import ssgan

    assert ssgan.load_run(digits_run, device="auto").device.type in ("cpu", "cuda", "mps")
    with pytest.raises(ssgan.SSGANError, match="unknown device 'gpu0'"):
        ssgan.load_run(digits_run, device="gpu0")
    with pytest.raises(ssgan.SSGANError, match="positive number of samples"):
        ssgan.load_run(digits_run).sample(0)


def test_a_run_in_python_shows_itself_in_a_line(digits_run):
    """Its repr had printed the checkpoint's weights (hundreds of thousands of characters in a notebook)."""
    import ssgan

    assert repr(ssgan.load_run(digits_run)) == f"Run('{digits_run}': digits, 50 labels, seed 1, epoch 1, 10 classes, on cpu)"


def test_a_runs_metrics_in_python_are_its_metrics_file(digits_run):
    import ssgan
    from ssgan.runs import read_metrics

    metrics = ssgan.load_run(digits_run).metrics
    assert metrics == read_metrics(digits_run) and [m["epoch"] for m in metrics] == [1]
