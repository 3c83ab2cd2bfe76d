"""A run with --val keeps the weights of its epoch of best validation accuracy (best.pt), and
eval, predict, sample and load_run use them with --weights best."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import SignalAt, assert_same_state
from ssgan import train as train_module
from ssgan.cli import main
from ssgan.config import Config
from ssgan.errors import SSGANError
from ssgan.runs import fit, load_run, read_metrics, resume
from ssgan.stops import Interrupted
from ssgan.train import drop_later_best, load_checkpoint, save_checkpoint

# validation accuracies by epoch, put in place of the measured ones: the best is epoch 2 (a tie
# later keeps the earlier epoch)
SCRIPTED = {1: 0.5, 2: 0.9, 3: 0.7, 4: 0.9}


def cfg(out, **changes):
    # a constant learning rate: a run of fewer epochs is the first epochs of a longer one
    return Config(**{"dataset": "digits", "labels": 50, "val": 50, "epochs": 4, "lr_decay_start": 1.0, "device": "cpu",
                     "out": str(out), **changes})


@pytest.fixture
def scripted(monkeypatch):
    measured = train_module._evaluate_epoch

    def evaluate_epoch(metrics, *args, **kwargs):
        fake = measured(metrics, *args, **kwargs)
        metrics["val_acc"] = SCRIPTED[metrics["epoch"]]
        return fake

    monkeypatch.setattr(train_module, "_evaluate_epoch", evaluate_epoch)


def _weights(path):
    ckpt = load_checkpoint(path)
    return {f"{part}.{k}": v for part in ("generator", "ema") for k, v in ckpt[part].items()}


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """The checkpoint of the same run trained for two epochs alone: the weights of its epoch 2."""
    run_dir, _ = fit(cfg(tmp_path_factory.mktemp("two"), epochs=2))
    return run_dir / "checkpoint.pt"


def test_best_pt_holds_the_weights_of_the_epoch_of_best_validation_accuracy(scripted, two_epochs, tmp_path):
    run_dir, _ = fit(cfg(tmp_path))
    best = load_checkpoint(run_dir / "best.pt")
    assert best["epoch"] == 2 and best["val_acc"] == 0.9 and "opt_d" not in best
    assert_same_state(_weights(two_epochs), _weights(run_dir / "best.pt"))
    last = load_checkpoint(run_dir / "checkpoint.pt")["ema"]  # (the last weights are another epoch's)
    assert any(not torch.equal(last[k], v) for k, v in best["ema"].items())


def test_a_run_interrupted_after_its_best_keeps_it_on_resume(scripted, two_epochs, tmp_path):
    """Stopped in epoch 3 (after the best, epoch 2) and resumed: the same best.pt; a best.pt of
    an epoch past the checkpoint (a kill between the two writes) is dropped on resume."""
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path), SignalAt(3, 5))
    run_dir = info.value.run_dir
    assert load_checkpoint(run_dir / "best.pt")["epoch"] == 2
    resume(run_dir)
    assert_same_state(_weights(two_epochs), _weights(run_dir / "best.pt"))


def test_a_best_pt_of_an_epoch_past_the_checkpoint_is_dropped(tmp_path):
    save_checkpoint(tmp_path / "best.pt", {"config": {}, "generator": {}, "ema": {}, "epoch": 5})
    drop_later_best(tmp_path, 5)
    assert (tmp_path / "best.pt").is_file()
    drop_later_best(tmp_path, 4)
    assert not (tmp_path / "best.pt").exists()
    save_checkpoint(tmp_path / "best.pt", {"config": {}, "generator": {}, "ema": {}, "epoch": 1})
    drop_later_best(tmp_path, 0)  # (a run that starts again)
    assert not (tmp_path / "best.pt").exists()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_eval_predict_and_sample_use_the_best_weights(tmp_path):
    r = invoke("fit", "--dataset", "digits", "--val", 50, "--epochs", 3, "--out", tmp_path, "--quiet", "--json")
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    metrics = read_metrics(run)
    vals = [m["val_acc"] for m in metrics]
    epoch = vals.index(max(vals)) + 1  # (the first of equals)
    r = invoke("eval", run, "--weights", "best", "--json")
    assert r.exit_code == 0, r.output
    scored = json.loads(r.stdout)
    assert (scored["epoch"], scored["weights"]) == (epoch, "best")
    assert scored["errors"] == metrics[epoch - 1]["test_errors"]  # what the run measured at that epoch
    r = invoke("eval", run, "--weights", "best")
    assert r.output.startswith(f"{run} (epoch {epoch}, its best on validation) on digits test"), r.output
    np.savez(tmp_path / "rows.npz", x=np.zeros((3, 8, 8), np.float32))
    r = invoke("predict", run, "--data", f"npz:{tmp_path / 'rows.npz'}", "--out", tmp_path / "p.csv", "--weights",
               "best", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["weights"] == "best", r.output
    r = invoke("sample", run, "--weights", "best")
    assert r.exit_code == 0 and r.output == f"wrote {run}/samples-best.png\n", r.output
    best = load_run(run, weights="best")
    assert best.checkpoint["epoch"] == epoch and "its best on validation" in repr(best)


def test_best_weights_of_a_run_without_validation_rows_are_one_line(tmp_path):
    r = invoke("fit", "--dataset", "digits", "--epochs", 1, "--out", tmp_path, "--quiet", "--json")
    run = json.loads(r.stdout)["run"]
    assert not (tmp_path / run / "best.pt").exists()
    r = invoke("eval", run, "--weights", "best")
    assert r.exit_code == 2 and r.output == (
        f"Error: {run} has no best.pt: it held out no validation rows, so no epoch is best (fit --val N keeps the best "
        "epoch's weights); use its last weights\n"), r.output
    with pytest.raises(SSGANError, match="weights='first': give one of last, best"):
        load_run(run, weights="first")
