"""A run's one-line warnings (a failed capture, signs of a failing GAN) reach the user in every
way of running it: `fit --json` prints them on stderr, and several seeds' runs print each
seed's, prefixed by its seed, in threads, stacked or in processes; `--quiet` prints none."""

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from click.testing import CliRunner

import ssgan.train
from ssgan.cli import main
from ssgan.launch import _read_lines

FAST = ["--dataset", "digits", "--labels", "50", "--epochs", "2", "--d-hidden", "32,32", "--g-hidden", "32",
        "--device", "cpu"]


@pytest.fixture
def warns(monkeypatch):
    """Every run warns once, at its first epoch, as train() warns of a collapsing generator."""
    monkeypatch.setattr(ssgan.train, "warnings_for", lambda history, metrics, floor=0.0:
                        [f"epoch {metrics['epoch']}: made-up"] if metrics["epoch"] == 1 else [])


def _fit(tmp_path, *args):
    r = CliRunner().invoke(main, ["fit", *FAST, "--out", str(tmp_path / "runs"), *args])
    assert r.exit_code == 0, r.output
    return r


def test_fit_json_prints_the_runs_warnings_on_stderr(tmp_path, warns):
    r = _fit(tmp_path, "--json")
    assert r.stderr.splitlines() == ["Warning: epoch 1: made-up"] and r.stdout.startswith("{")
    assert _fit(tmp_path, "--quiet").output == ""


@pytest.mark.parametrize("mode", ["threads", "stacked"])
def test_each_seed_in_threads_warns_under_its_seed(tmp_path, warns, mode):
    r = _fit(tmp_path, "--seeds", "1-2", "--parallel", "2", "--parallel-mode", mode, "--json")
    assert sorted(r.stderr.splitlines()) == ["seed 1: Warning: epoch 1: made-up", "seed 2: Warning: epoch 1: made-up"]
    r = _fit(tmp_path, "--seeds", "1-2", "--parallel", "2", "--parallel-mode", mode, "--quiet")
    assert r.output == ""


def test_seeds_one_after_another_warn_under_their_seeds(tmp_path, warns):
    r = _fit(tmp_path, "--seeds", "1-2", "--json")
    assert r.stderr.splitlines() == ["seed 1: Warning: epoch 1: made-up", "seed 2: Warning: epoch 1: made-up"]


def test_each_seed_in_a_process_warns_under_its_seed_and_the_datas_warnings_once(tmp_path):
    """In processes the children print their warnings; the parent passes each on under its seed
    but for the data's, which it printed itself before they started. Here the data's only warning
    depends on the seed: a feature constant in every training row but one, which seed 2 (not
    seed 1) holds out for validation."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 20)
    x = rng.random((40, 3)).astype(np.float32)
    x[:, 0] += y
    labeled = np.arange(40) % 2 == 0
    x[:, 2], x[6, 2] = 0.5, 0.9  # row 6: labeled, class 0
    np.savez(tmp_path / "d.npz", x=x, y=np.where(labeled, y, -1), x_test=x, y_test=y)
    from ssgan.data import load_dataset
    from ssgan.splits import make_split

    data = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    held = {seed: 6 in make_split(data, 10, seed, 4).val_indices for seed in (1, 2)}
    assert held == {1: False, 2: True}  # the premise of this test
    r = CliRunner().invoke(main, ["fit", "--dataset", f"npz:{tmp_path / 'd.npz'}", "--labels", "10", "--val", "4",
                                  "--epochs", "1", "--batch-size", "12", "--d-hidden", "8", "--g-hidden", "8",
                                  "--seeds", "1-2", "--parallel", "2", "--parallel-mode", "processes",
                                  "--out", str(tmp_path / "runs"), "--json"])
    assert r.exit_code == 0, r.output  # (and no child says its --parallel-mode, the launcher's, does nothing)
    constant = "1 feature of x is constant in the training rows (2): it carries no information"
    assert r.stderr.splitlines() == [f"seed 2: Warning: {constant}"]


def test_a_childs_stderr_is_read_as_it_comes():
    """A child that prints more than a pipe holds still ends (read only at its end, it would block
    on the full pipe, and the parent wait for it forever); its warnings are passed on in order."""
    child = subprocess.Popen([sys.executable, "-c", "import sys\nfor i in range(20000): "
                              "print(f'Warning: w{i}' if i % 2 else 'x' * 20, file=sys.stderr)\nprint('Error: end', "
                              "file=sys.stderr)"], stderr=subprocess.PIPE, text=True)
    lines, passed = [], []
    reader = _read_lines(child.stderr, lines, passed.append)
    assert child.wait(timeout=60) == 0
    reader.join(timeout=60)
    assert not reader.is_alive() and len(lines) == 20001 and lines[-1] == "Error: end"
    assert passed == [f"w{i}" for i in range(1, 20000, 2)]
    assert isinstance(reader, threading.Thread)


def test_a_childs_progress_lines_go_to_its_reporter_and_never_stop_the_reading():
    """``Progress: ...`` lines (a child of --parallel-mode processes telling its parent its
    epochs) reach the run's reporter and are not kept among its lines (whose last says how it
    ended); a line that cannot be read, or a reporter that fails, leaves the pipe drained."""
    import io

    from ssgan.launch import PROGRESS
    from ssgan.train import Reporter

    class Seen(Reporter):
        def __init__(self):
            self.calls = []

        def on_start(self, epochs, iterations, start_epoch):
            self.calls.append(("start", epochs, iterations, start_epoch))

        def on_epoch(self, metrics):
            self.calls.append(("epoch", metrics["epoch"]))
            if metrics["epoch"] == 2:
                raise KeyError("test_acc")

    text = "\n".join(["Warning: w", PROGRESS + json.dumps({"start": [3, 10, 0]}), PROGRESS + "{broken",
                      *(PROGRESS + json.dumps({"epoch": {"epoch": e, "test_acc": None}}) for e in (1, 2, 3)),
                      "Error: end"]) + "\n"
    lines, passed, seen = [], [], Seen()
    reader = _read_lines(io.StringIO(text), lines, passed.append, seen)
    reader.join(timeout=60)
    assert lines == ["Warning: w", "Error: end"] and passed == ["w"]
    assert seen.calls == [("start", 3, 10, 0), ("epoch", 1), ("epoch", 2), ("epoch", 3)]
