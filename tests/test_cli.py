import json

import pytest
from click.testing import CliRunner

from ssgan import __version__
from ssgan.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_version_and_help():
    assert __version__ in run("--version").output
    out = run("--help").output
    for cmd in ("fit", "split", "datasets", "sample"):
        assert cmd in out


def test_datasets_table_shows_bundled_offline(tmp_path):
    r = run("datasets")
    assert r.exit_code == 0
    lines = {line.split()[1]: line for line in r.output.splitlines() if line.startswith("│ ")}
    assert "yes (bundled)" in lines["mnist"] and "yes (bundled)" in lines["digits"]
    assert " no " in lines["cifar10"]
    # torchvision's archive copied there, not unpacked: said (fit's not-found line says how to unpack it)
    root = tmp_path / "root"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(b"")
    r = run("datasets", "--data-root", root)
    lines = {line.split()[1]: line for line in r.output.splitlines() if line.startswith("│ ")}
    assert " no (packed) " in lines["cifar10"] and " no " in lines["svhn"], r.output


def test_split_writes_100_balanced_indices_deterministically(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        r = run("split", "--dataset", "mnist", "--labels", 100, "--seed", 1, "--out", path)
        assert r.exit_code == 0, r.output
    assert "per class: 10, 10, 10, 10, 10, 10, 10, 10, 10, 10" in r.output
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert len(da["indices"]) == 100 and da["indices"] == db["indices"]
    # a new folder is made for it; a file where the folder would be is told before the data are read
    r = run("split", "--dataset", "digits", "--labels", 50, "--out", tmp_path / "new" / "s.json")
    assert r.exit_code == 0 and json.loads((tmp_path / "new" / "s.json").read_text())["labels"] == 50, r.output
    data = tmp_path / "cells.npz"  # a name that is not a split's: it had been overwritten with the split's JSON
    data.write_bytes(b"data")
    r = run("split", "--dataset", "digits", "--labels", 50, "--out", data)
    assert r.exit_code == 2 and r.output == (f"Error: --out {data}: split writes JSON there; give a name that ends in "
                                             ".json\n") and data.read_bytes() == b"data", r.output
    r = run("split", "--dataset", "digits", "--labels", 50, "--out", a / "s.json")
    assert r.exit_code == 2 and r.output == f"Error: --out {a / 's.json'}: {a} is a file, not a folder\n", r.output


@pytest.mark.parametrize("args, message", [
    (["split", "--labels", 105], "not a multiple of the 10 classes"),
    (["split", "--labels", 0], "must be a positive number"),
    (["split", "--labels", 60000], "mnist has only 5421"),
    (["split", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["split", "--dataset", "cifar10"], "cifar10 needs --data-root"),
    (["fit", "--dataset", "imagenet"], "unknown dataset"),
    (["fit", "--device", "cuda:7", "--dataset", "digits"], "--device cuda:7"),
    (["fit", "--config", "nope.toml"], "config file nope.toml does not exist"),
    (["sample", "not-a-run"], "is not a run folder"),
])
def test_bad_input_is_one_line_with_exit_code_2(args, message, tmp_path):
    r = run(*args, *(["--out", tmp_path / "o"] if args[0] == "fit" else []))
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert "Traceback" not in r.output
    if args[0] == "fit":
        assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_commands_that_write_no_picture_do_not_import_torchvision():
    """torchvision (which imports torch._dynamo: about a second and 160 MiB here) is imported
    where a picture is written or an image folder read, not by importing the commands' modules,
    so that eval and predict on arrays start without it, nor by a torchvision dataset that has no
    --data-root (which `ssgan datasets` asks of each). A fresh process: this one has it."""
    import subprocess
    import sys

    code = ("import sys, ssgan.cli, ssgan.runs, ssgan.train, ssgan.report; from ssgan.data import available_offline; "
            "assert not any(available_offline(n) for n in ('fashion-mnist', 'kmnist', 'svhn', 'cifar10')); "
            "print(sorted(m for m in ('torchvision', 'torch._dynamo') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip()) == (0, "[]"), r.stderr


def test_fit_into_a_log_file_prints_a_line_per_epoch(tmp_path, monkeypatch):
    """stderr that is no terminal (a log file, a scheduler's output; here the test runner's)
    gets a line per epoch as it ends (at most every 10 s, but for the first and the last),
    where rich's bars printed once, after the last epoch; each line names its seed among several."""
    import re

    import ssgan.progress
    from ssgan.runs import read_metrics

    r = run("fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--val", "50", "--out", tmp_path / "one")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stderr.splitlines() if "epoch" in line]
    metrics = read_metrics(next((tmp_path / "one").iterdir()))
    assert lines[0].endswith(" left") and not lines[1].endswith(" left"), lines  # (a wait until the last epoch)
    assert "about 0 s left" not in r.stderr  # (a digits epoch takes a fraction of a second: under 1 s left)
    assert [re.sub(r"[\d.]+ s(, (about [\d.]+ (s|min|h)|under 1 s) left)?$", "T s", line) for line in lines] == [
        f"epoch {m['epoch']}/2: val acc {m['val_acc']:.4f}, test acc {m['test_acc']:.4f}, lab {m['loss_lab']:.3f} "
        f"unl {m['loss_unl']:.3f} gen {m['loss_gen']:.3f}, T s" for m in metrics], r.stderr
    assert "━" not in r.stderr  # (no bars)
    r = run("fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--seeds", "2", "--out", tmp_path / "two")
    assert r.exit_code == 0, r.output
    assert [line.split(": test acc")[0] for line in r.stderr.splitlines() if "epoch" in line] == [
        "seed 1: epoch 1/1", "seed 2: epoch 1/1"], r.stderr
    r = run("fit", "--dataset", "digits", "--labels", "50", "--epochs", "3", "--out", tmp_path / "three")
    assert [line.split(":")[0] for line in r.stderr.splitlines()] == ["epoch 1/3", "epoch 3/3"], r.stderr
    monkeypatch.setattr(ssgan.progress, "LOG_EVERY_S", 0)
    r = run("fit", "--dataset", "digits", "--labels", "50", "--epochs", "3", "--out", tmp_path / "three")
    assert [line.split(":")[0] for line in r.stderr.splitlines()] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], r.stderr
    # the network baselines show their epochs as fit does (they trained in silence), named by method and seed
    r = run("baseline", "--dataset", "digits", "--labels", "50", "--seeds", "2", "--method", "same-net", "--method",
            "logreg", "--epochs", "1", "--out", tmp_path / "baselines")
    assert r.exit_code == 0, r.output
    assert [line.split(": test acc")[0] for line in r.stderr.splitlines()] == [
        "same-net seed 1: epoch 1/1", "same-net seed 2: epoch 1/1"], r.stderr


@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_seeds_in_parallel_show_their_epochs(mode, tmp_path, monkeypatch):
    """`fit --seeds 1-2 --parallel 2` into a log: each run's epoch lines, named by its seed, as
    it trains (they said `started` and, an hour later, `done`, and nothing between); a child
    process tells its parent its epochs in lines that the parent reads and never prints."""
    import re

    import ssgan.progress
    from ssgan.runs import read_metrics

    monkeypatch.setattr(ssgan.progress, "LOG_EVERY_S", 0)
    r = run("fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu", "--seeds", "1-2",
            "--parallel", "2", "--parallel-mode", mode, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert "Progress" not in r.output and "{" not in r.stderr, r.stderr
    for run_dir in sorted(tmp_path.iterdir()):
        seed = json.loads((run_dir / "config.json").read_text())["seed"]
        lines = [line for line in r.stderr.splitlines() if line.startswith(f"seed {seed}: ")]
        assert [re.sub(r"[\d.]+ s(, (about [\d.]+ (s|min|h)|under 1 s) left)?$", "T s", line) for line in lines] == [
            f"seed {seed}: started", *(f"seed {seed}: epoch {m['epoch']}/2: test acc {m['test_acc']:.4f}, lab "
                                       f"{m['loss_lab']:.3f} unl {m['loss_unl']:.3f} gen {m['loss_gen']:.3f}, T s"
                                       for m in read_metrics(run_dir)), f"seed {seed}: done, {run_dir}"], r.stderr
    # --json and --quiet: no epochs (the one's stderr is for warnings and errors); one flag per
    # mode, since each run here starts its processes anew
    flag = "--json" if mode == "processes" else "--quiet"
    r = run("fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu", "--seeds", "1-2",
            "--parallel", "2", "--parallel-mode", mode, "--out", tmp_path / flag, flag)
    assert r.exit_code == 0 and "epoch" not in r.stderr, r.stderr


@pytest.fixture
def terminal(monkeypatch):
    """What the commands' bars print, as if on a 120-column terminal: rich's consoles of
    ``ssgan.progress`` write to the StringIO returned."""
    import io

    from rich.console import Console

    import ssgan.progress

    screen = io.StringIO()
    monkeypatch.setattr(ssgan.progress, "make_console",
                        lambda stderr=False: Console(file=screen, force_terminal=True, width=120))
    return screen


def test_seeds_in_parallel_on_a_terminal_have_a_bar_each(terminal):
    """On a terminal, runs that train at once have a bar of epochs each, named by seed, and the
    lines said meanwhile (a run started, a warning) print above the bars, not on their line."""
    import ssgan.progress

    with ssgan.progress.SeedsProgress() as shown:
        bar = shown.reporter(7)
        bar.on_start(4, 10, 1)
        bar.on_epoch({"epoch": 2, "test_acc": 0.8125, "val_acc": None})
        shown.warn(7, "something odd")
        shown.log("seed 7: done, runs/r7")
    text = terminal.getvalue()
    assert "seed 7 " in text and "2/4" in text and "test acc 0.8125" in text, text
    for line in ("seed 7: Warning: something odd", "seed 7: done, runs/r7"):
        assert f"\x1b[2K{line}\n" in text, text  # (the bar's line cleared, the line a whole one)


def test_one_run_on_a_terminal_has_bars_of_epochs_and_batches(terminal):
    """On a terminal, one run shows a bar of epochs with its accuracy and a bar of batches with
    its losses, warnings print in yellow above them, and a run that fails before training
    (closed before it started) prints no empty bar."""
    import ssgan.progress

    early = ssgan.progress.reporter()
    early.close()
    assert terminal.getvalue() == ""
    shown = ssgan.progress.reporter()
    shown.on_start(3, 20, 0)
    shown.on_batch(1, 1, {"loss_lab": 0.5})
    shown.on_batch(1, 20, {"loss_lab": 0.25, "loss_unl": 0.75, "loss_gen": None})
    shown.on_warning("something odd")
    shown.on_epoch({"epoch": 1, "test_acc": 0.875, "val_acc": None})
    shown.close()
    text = terminal.getvalue()
    assert "\x1b[2K\x1b[33mwarning:\x1b[0m something odd\n" in text, text  # (a whole line, above the bars)
    assert "1/3" in text and "test acc 0.8750" in text, text
    assert "20/20" in text and "lab 0.250 unl 0.750" in text and "gen" not in text, text
