"""`ssgan fit --from RUN`: a new run folder that goes on from another run's last checkpoint,
with late settings changed (ssgan.runs.branch)."""
import json
import os
import shutil

import pytest
import torch
from click.testing import CliRunner

from conftest import assert_same_state, without_timings
from ssgan.cli import main
from ssgan.config import Config
from ssgan.launch import _threads
from ssgan.runs import branch, fit, read_config, read_metrics
from ssgan.train import BEST_WEIGHTS, load_checkpoint


def cfg(out, **changes):
    return Config(**{"dataset": "digits", "labels": 50, "epochs": 2, "device": "cpu", "out": str(out), **changes})


def _state(run_dir, name="checkpoint.pt"):
    ckpt = load_checkpoint(run_dir / name)
    parts = [p for p in ("generator", "discriminator", "ema") if p in ckpt]
    return {f"{part}.{k}": v for part in parts for k, v in ckpt[part].items()}


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A finished 2-epoch run that held out validation rows (so it has a best.pt)."""
    run_dir, _ = fit(cfg(tmp_path_factory.mktemp("parent"), val=100))
    return run_dir


def test_from_with_nothing_changed_is_the_run_continued(parent, tmp_path):
    """--from RUN --epochs 3 with no other setting makes a new folder beside RUN whose third
    epoch is, bit for bit, that of a run trained 3 epochs from the start; RUN is not touched,
    the new folder's metrics start with RUN's epochs, and its best.pt is RUN's (of the shared
    epochs) until a later epoch beats it."""
    before = {p.name: p.read_bytes() for p in parent.iterdir() if p.is_file()}
    r = CliRunner().invoke(main, ["fit", "--from", str(parent), "--epochs", "3", "--quiet", "--json"])
    assert r.exit_code == 0, r.output
    run = parent.parent / json.loads(r.stdout)["run"].split("/")[-1]
    assert run != parent and run.parent == parent.parent
    assert {p.name: p.read_bytes() for p in parent.iterdir() if p.is_file()} == before
    straight, _ = fit(cfg(tmp_path, val=100, epochs=3))
    assert_same_state(_state(run), _state(straight))
    assert without_timings(read_metrics(run)) == without_timings(read_metrics(straight))
    assert read_config(run) == {**read_config(straight), "out": str(parent.parent)}
    assert f"--from {parent} " in (run / "command.txt").read_text()
    best = load_checkpoint(run / BEST_WEIGHTS)
    assert best["epoch"] == load_checkpoint(straight / BEST_WEIGHTS)["epoch"] and best["config"]["epochs"] == 3
    assert_same_state(_state(run, BEST_WEIGHTS), _state(straight, BEST_WEIGHTS))


def test_from_changes_the_rate_from_the_next_step_only(parent, tmp_path):
    """--lr 0.001 acts from the first step after RUN's checkpoint: the epochs before are RUN's,
    the optimisers' base rate (which the schedule scales) is the new one, and config.json,
    report-facing, says so."""
    r = CliRunner().invoke(main, ["fit", "--from", str(parent), "--epochs", "3", "--lr", "0.001", "--out",
                                  str(tmp_path), "--quiet"])
    assert r.exit_code == 0, r.output
    (run,) = tmp_path.iterdir()
    metrics = read_metrics(run)
    assert without_timings(metrics[:2]) == without_timings(read_metrics(parent))
    assert [m["lr"] for m in metrics] == [0.003, 0.003, 0.001]
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert {g["initial_lr"] for key in ("opt_d", "opt_g") for g in ckpt[key]["param_groups"]} == {0.001}
    assert read_config(run)["lr"] == 0.001 and ckpt["config"]["lr"] == 0.001 and ckpt["epoch"] == 3
    continued, _ = fit(cfg(tmp_path / "straight", val=100, epochs=3))
    a, b = _state(run), _state(continued)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_a_branch_stopped_before_its_first_epoch_resumes_as_the_branch(parent, tmp_path):
    """The folder that --from makes holds RUN's checkpoint under its own config before it trains,
    so a kill before its first epoch leaves a run that `--resume` trains as the branch, not one
    that starts from nothing."""
    run = branch(parent, {"epochs": 3, "out": str(tmp_path)})
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 2 and read_config(run)["epochs"] == 3
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--quiet"])
    assert r.exit_code == 0, r.output
    straight, _ = fit(cfg(tmp_path / "straight", val=100, epochs=3))
    assert_same_state(_state(run), _state(straight))


def test_from_refuses_in_one_line_what_it_cannot_do(parent, tmp_path):
    """What --from cannot change (the data, the labels, the networks), a length its parent has
    passed, --resume or --nproc beside it, and a parent without a checkpoint are each one line,
    and no folder is made."""
    out = tmp_path / "out"
    cases = [
        (["--labels", "100", "--epochs", "3"], f"Error: --from {parent} goes on from that run's weights, split and "
                                               "settings; drop --labels (of the settings, --from changes the length, "),
        (["--epochs", "2"], f"Error: --from {parent}: it has trained 2 epochs, so the new run needs --epochs above 2 "
                            "(it has 2)"),
        (["--epochs", "3", "--resume", str(parent)], "Error: --from starts a new run and --resume continues one: "
                                                      "give one of them"),
        (["--epochs", "3", "--nproc", "2"], "Error: --from trains its new run in one process: drop --nproc"),
        (["--epochs", "3", "--lr", "-1"], "Error: --lr must be > 0"),
        (["--epochs", "3", "--dataset", "mnist"], f"Error: --dataset mnist: {parent} was trained on digits; with "
                                                   "--from, --dataset names where the data it trained on are now"),
    ]
    for extra, said in cases:
        r = CliRunner().invoke(main, ["fit", "--from", str(parent), "--out", str(out), *extra])
        assert r.exit_code == 2 and r.output.startswith(said) and r.output.count("\n") == 1, (extra, r.output)
        assert not out.exists() or not any(out.iterdir()), extra
    bare = tmp_path / "bare"
    shutil.copytree(parent, bare)
    (bare / "checkpoint.pt").unlink()
    r = CliRunner().invoke(main, ["fit", "--from", str(bare), "--epochs", "3", "--out", str(out)])
    assert r.exit_code == 2 and r.output.startswith(f"Error: --from {bare}: it has no checkpoint.pt"), r.output
    r = CliRunner().invoke(main, ["fit", "--from", str(tmp_path / "nothing"), "--epochs", "3", "--out", str(out)])
    assert r.exit_code == 2 and r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output


def test_branch_in_python_refuses_what_the_run_cannot_change(parent, tmp_path):
    """runs.branch, called from Python without the command line's check of the options, refuses
    a setting the new run could not keep (the networks, the seed) before it makes a folder:
    such a folder's checkpoint would not load into its own networks."""
    from ssgan.errors import SSGANError

    out = tmp_path / "out"
    with pytest.raises(SSGANError, match=r"so it cannot change d_hidden, seed: it changes epochs, lr, "):
        branch(parent, {"epochs": 3, "d_hidden": "100,100", "seed": 2, "out": str(out)})
    assert not out.exists()


def test_from_several_runs_makes_one_branch_each(parent, tmp_path):
    """--from A --from B --parallel 2 makes a branch of each, side by side, each one what --from
    of its parent alone makes (its command.txt names its own parent only); a parent given twice,
    or one that cannot be branched, is one line and leaves no new folder at all."""
    other, _ = fit(cfg(tmp_path / "other", val=100, seed=2))
    out = tmp_path / "branches"
    r = CliRunner().invoke(main, ["fit", "--from", str(parent), "--from", str(other), "--epochs", "3", "--lr", "0.001",
                                  "--parallel", "2", "--out", str(out), "--quiet", "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(run["seed"] for run in json.loads(r.stdout)["runs"]) == [1, 2]
    runs = sorted(out.iterdir())
    assert len(runs) == 2
    for run, source in zip(runs, (parent, other)):
        assert without_timings(read_metrics(run)[:2]) == without_timings(read_metrics(source))
        assert [m["lr"] for m in read_metrics(run)] == [0.003, 0.003, 0.001]
        command = (run / "command.txt").read_text()
        assert f"--from {source} " in command and command.count("--from") == 1 and "--parallel" not in command
    alone = tmp_path / "alone"
    threads = torch.get_num_threads()
    torch.set_num_threads(int(_threads(dict(os.environ), 2)["OMP_NUM_THREADS"]))  # each --parallel 2 process's
    try:
        r = CliRunner().invoke(main, ["fit", "--from", str(other), "--epochs", "3", "--lr", "0.001", "--out",
                                      str(alone), "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert r.exit_code == 0, r.output
    (single,) = alone.iterdir()
    assert_same_state(_state(runs[1]), _state(single))

    for extra, said in [([str(parent)], f"Error: --from {parent} is given twice"),
                        ([str(tmp_path / "nothing")], "Error: ")]:
        empty = tmp_path / "empty"
        r = CliRunner().invoke(main, ["fit", "--from", str(parent), "--from", *extra, "--epochs", "3", "--out",
                                      str(empty)])
        assert r.exit_code == 2 and r.output.startswith(said) and r.output.count("\n") == 1, r.output
        assert not empty.exists() or not any(empty.iterdir()), extra
