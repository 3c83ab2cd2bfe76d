import json
from pathlib import Path

import numpy as np
import pytest

from ssgan.data import load_dataset, load_mnist
from ssgan.errors import SSGANError
from ssgan.splits import load_split, make_split, same_data, save_split


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_split_is_balanced_unique_and_sorted(mnist, n):
    s = make_split(mnist, n, seed=1)
    assert len(s.indices) == n and len(np.unique(s.indices)) == n
    assert np.all(np.diff(s.indices) > 0)
    assert np.bincount(mnist.y_train[s.indices], minlength=10).tolist() == [n // 10] * 10
    assert s.name == f"mnist.seed1@{n}"


def test_split_deterministic_per_seed_and_different_across_seeds(mnist):
    a, b, c = make_split(mnist, 100, 1), make_split(mnist, 100, 1), make_split(mnist, 100, 2)
    assert np.array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)


def test_split_is_pinned_across_machines(mnist):
    """PCG64 is the same everywhere: the first indices of mnist.seed1@100 never change."""
    assert make_split(mnist, 100, 1).indices[:5].tolist() == [465, 1188, 1654, 1811, 2191]


@pytest.mark.parametrize("n, message", [
    (0, "must be a positive number"),
    (-10, "must be a positive number"),
    (105, "not a multiple of the 10 classes of mnist: use a multiple such as 100 or 110"),
    (7, "use a multiple such as 10"),
    (60000, "asks for 6000 labeled examples of class 5, but mnist has only 5421"),
])
def test_split_bad_sizes(mnist, n, message):
    with pytest.raises(SSGANError, match=message):
        make_split(mnist, n, 1)


def test_save_load_roundtrip(tmp_path, mnist):
    s = make_split(mnist, 100, 4)
    save_split(s, tmp_path / "s.json")
    t = load_split(tmp_path / "s.json", mnist)
    assert np.array_equal(s.indices, t.indices) and t.seed == 4 and t.dataset == "mnist"
    assert json.loads((tmp_path / "s.json").read_text())["name"] == "mnist.seed4@100"


def test_load_split_errors(tmp_path, mnist, digits):
    s = make_split(digits, 50, 1)
    save_split(s, tmp_path / "d.json")
    with pytest.raises(SSGANError, match="is for dataset 'digits', not 'mnist'"):
        load_split(tmp_path / "d.json", mnist)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SSGANError, match=r"damaged or not a split \(JSONDecodeError\): make a new one with `ssgan split`$"):
        load_split(tmp_path / "bad.json")
    (tmp_path / "config.json").write_text("{}")  # a split.json beside a config.json: a run folder's own
    (tmp_path / "split.json").write_text("{not json")
    with pytest.raises(SSGANError, match="not a split \\(JSONDecodeError\\): undo the edit, or copy the run folder again"):
        load_split(tmp_path / "split.json")
    with pytest.raises(SSGANError, match="does not exist"):
        load_split(tmp_path / "missing.json")


def test_npz_given_labels_are_the_labeled_set(tiny_npz):
    d = load_dataset(tiny_npz)
    s = make_split(d, None, 1)
    assert s.labels == 20 and np.all(d.y_train[s.indices] >= 0)
    assert np.array_equal(s.indices, np.flatnonzero(d.y_train >= 0))
    # an explicit --labels draws a balanced subset of the given labels
    sub = make_split(d, 6, 1)
    assert np.bincount(d.y_train[sub.indices]).tolist() == [2, 2, 2]


def test_npz_without_unlabeled_rows_needs_labels(tmp_path):
    from conftest import write_npz

    d = load_dataset(write_npz(tmp_path / "full.npz", x=np.zeros((6, 2), np.float32), y=np.array([0, 1] * 3)))
    with pytest.raises(SSGANError, match="has no unlabeled rows .* or pass --labels N"):
        make_split(d, None, 1)
    assert make_split(d, 2, 1).labels == 2


def test_data_changed_since_a_run_trained_on_them_is_one_line(tmp_path, monkeypatch, tiny_npz):
    """A split keeps the SHA-256 of the data it was drawn from. Data changed since (here the same
    file with its rows in another order: the same size, so no other check sees it) stop resume,
    eval, baseline --run and fit --split in one line, where they went on with the split's
    indices pointing at other rows; the data restored, the run resumes."""
    from click.testing import CliRunner

    from ssgan.cli import main

    monkeypatch.chdir(tmp_path)
    path = tiny_npz[len("npz:"):]
    original = dict(np.load(path))
    fit = CliRunner().invoke(main, ["fit", "--dataset", tiny_npz, "--epochs", "1", "--batch-size", "20", "--out", "runs",
                                    "--quiet", "--device", "cpu"])
    assert fit.exit_code == 0, fit.output
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "split.json").read_text())["data_sha256"] == load_dataset(tiny_npz).sha256()
    np.savez(path, **{**original, "x": original["x"][::-1]})
    changed = f"{tiny_npz} has changed since {run} trained on it"
    drawn = f"split file {run / 'split.json'} was drawn from other data than {tiny_npz} holds now"
    for args, said in ((["fit", "--resume", str(run), "--epochs", "2"], changed), (["eval", str(run)], changed),
                       (["baseline", "--run", str(run), "--method", "logreg"], drawn),
                       (["fit", "--dataset", tiny_npz, "--split", str(run / "split.json"), "--out", "other"], drawn)):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and r.output.count("\n") == 1 and said in r.output, (args, r.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "tiny.npz"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run.name]
    np.savez(path, **original)
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", "2", "--quiet"])
    assert r.exit_code == 0, r.output


def test_a_split_of_data_that_moved_is_reused_with_their_new_place(tmp_path, monkeypatch, tiny_npz):
    """A saved split names its data by path; a copy of those data elsewhere (the same SHA-256)
    takes it with --dataset npz:NEW, in fit and baseline, with the split's very rows, where it
    had been refused, and a new split would have drawn other rows. Other data are still refused."""
    import shutil

    from click.testing import CliRunner

    from ssgan.cli import main

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["split", "--dataset", tiny_npz, "--labels", "6", "--seed", "4", "--out", "s.json"])
    assert r.exit_code == 0, r.output
    shutil.copy(tiny_npz[len("npz:"):], "copy.npz")
    original = dict(np.load("copy.npz"))
    np.savez("other.npz", **{**original, "x": original["x"][::-1]})
    for command in (["fit", "--epochs", "1", "--batch-size", "20", "--device", "cpu", "--quiet"],
                    ["baseline", "--method", "logreg"]):
        r = CliRunner().invoke(main, [*command, "--split", "s.json", "--dataset", "npz:copy.npz", "--out", "runs", "--json"])
        assert r.exit_code == 0, r.output
        run = max((tmp_path / "runs").iterdir())
        saved = json.loads((run / "split.json").read_text())
        assert saved["dataset"] == "npz:copy.npz" and saved["indices"] == json.loads(Path("s.json").read_text())["indices"]
    r = CliRunner().invoke(main, ["fit", "--split", "s.json", "--dataset", "npz:other.npz", "--out", "runs"])
    assert r.exit_code == 2 and r.output == (f"Error: split file s.json is for dataset '{tiny_npz}', not 'npz:other.npz': "
                                             f"use --dataset {tiny_npz} or make a new split\n"), r.output
    # baseline --run of a run whose data moved since: --dataset says where (it was refused before the option was read)
    run = min((tmp_path / "runs").iterdir()).relative_to(tmp_path)  # (the fit's, on npz:copy.npz)
    Path("moved").mkdir()
    shutil.move("copy.npz", "moved/copy.npz")
    r = CliRunner().invoke(main, ["baseline", "--run", str(run), "--method", "logreg"])
    assert r.exit_code == 2 and r.output.endswith("(if it was this one, put copy.npz back); where they moved, give "
                                                  "--dataset npz:NEWPATH with --run\n"), r.output
    r = CliRunner().invoke(main, ["baseline", "--run", str(run), "--method", "logreg", "--dataset", "npz:moved/copy.npz"])
    assert r.exit_code == 0, r.output


def test_eval_scores_the_rows_of_a_run_whose_data_moved(tmp_path, monkeypatch, tiny_npz):
    """`eval RUN --split val` (or train) scores rows of the run's own data, which had to be where
    it trained: a run taken to another machine, or data moved on one, could not be scored on its
    validation rows at all. --data names their new place (the SHA-256 in split.json decides),
    and the line for missing data says so; other data are refused."""
    import shutil

    from click.testing import CliRunner

    from ssgan.cli import main

    monkeypatch.chdir(tmp_path)
    shutil.copy(tiny_npz[len("npz:"):], "d.npz")
    r = CliRunner().invoke(main, ["fit", "--dataset", "npz:d.npz", "--val", "6", "--epochs", "1", "--batch-size", "20",
                                  "--device", "cpu", "--out", "runs", "--json"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    before = {part: json.loads(CliRunner().invoke(main, ["eval", run, "--split", part, "--json"]).stdout)
              for part in ("val", "train")}
    assert (before["val"]["n"], before["train"]["n"]) == (6, 20)  # (train: every row with a label)
    Path("moved").mkdir()
    shutil.move("d.npz", "moved/d.npz")
    r = CliRunner().invoke(main, ["eval", run, "--split", "val"])
    assert r.exit_code == 2 and r.output.endswith("(if it was this one, put d.npz back); where they moved, give --data "
                                                  "npz:NEWPATH\n"), r.output
    for part in ("val", "train"):
        r = CliRunner().invoke(main, ["eval", run, "--split", part, "--data", "npz:moved/d.npz", "--json"])
        assert r.exit_code == 0, r.output
        after = json.loads(r.stdout)
        assert {**after, "data": None} == {**before[part], "data": None} and after["data"] == f"npz:moved/d.npz {part}"
    original = dict(np.load("moved/d.npz"))
    np.savez("other.npz", **{**original, "x": original["x"][::-1]})
    r = CliRunner().invoke(main, ["eval", run, "--split", "val", "--data", "npz:other.npz"])
    assert r.exit_code == 2 and r.output == (f"Error: npz:other.npz is not the data that {run} trained on, npz:d.npz (the "
                                             "SHA-256 of its arrays is not the one in its split.json): give the place "
                                             "of those data\n"), r.output
    # an image folder's new place is a folder
    from ssgan.config import Config
    from ssgan.errors import SSGANError
    from ssgan.runs import check_run_dataset

    for kwargs, hint in ((dict(data_option="--data"), "give --data folder:NEWDIR"),
                         (dict(moved_with="--resume"), "give --dataset folder:NEWDIR with --resume")):
        with pytest.raises(SSGANError, match=f"; where they moved, {hint}$"):
            check_run_dataset(Config(dataset="folder:gone"), Path("runs/r"), **kwargs)


def test_split_files_made_before_the_data_sha256_was_kept_still_load(tmp_path, digits):
    s = make_split(digits, 50, 1).to_dict()
    assert s.pop("data_sha256") == digits.sha256()
    (tmp_path / "s.json").write_text(json.dumps(s))
    old = load_split(tmp_path / "s.json", digits)
    assert old.data_sha256 is None and same_data(old, digits)
