"""`ssgan baseline --parallel N`: baseline runs in processes of their own, N at a time."""

import json
import os
import signal
from pathlib import Path

from click.testing import CliRunner

from conftest import interrupt_once_checkpointed, torch_threads
from ssgan.cli import main
from ssgan.runs import read_metrics

DIGITS = ["--dataset", "digits", "--labels", "50", "--device", "cpu"]


def test_baselines_in_parallel_train_as_they_do_in_sequence(tmp_path):
    """Two seeds' same-net and logreg, two at a time: four complete run folders, in the
    sequential order of the results, each with the accuracy of the same run trained in sequence
    (at the children's thread count), and no warning that --epochs does nothing on logreg (its
    child is not given it)."""
    args = ["baseline", *DIGITS, "--seeds", "1-2", "--method", "same-net", "--method", "logreg", "--epochs", "2"]
    r = CliRunner().invoke(main, [*args, "--parallel", "2", "--out", str(tmp_path / "par"), "--json"])
    assert r.exit_code == 0, r.output
    results = json.loads(r.stdout)
    assert [(x["method"], x["seed"]) for x in results] == [("same-net", 1), ("logreg", 1), ("same-net", 2),
                                                            ("logreg", 2)]
    assert "no effect" not in r.stderr, r.stderr
    for x in results:
        assert len(read_metrics(x["run"])) == (2 if x["method"] == "same-net" else 1), x
        assert json.loads((Path(x["run"]) / "config.json").read_text())["seed"] == x["seed"]
    with torch_threads(int(os.environ.get("OMP_NUM_THREADS", max(1, (os.cpu_count() or 1) // 2)))):
        r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "seq"), "--json"])
    assert r.exit_code == 0, r.output
    assert [(x["method"], x["seed"], x["test_acc"]) for x in json.loads(r.stdout)] == [
        (x["method"], x["seed"], x["test_acc"]) for x in results]


def test_parallel_of_one_baseline_run_says_it_does_nothing(tmp_path):
    r = CliRunner().invoke(main, ["baseline", *DIGITS, "--seeds", "1-1", "--method", "logreg", "--parallel", "2",
                                  "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "Warning: --parallel 2 has no effect on one baseline run" in r.stderr, r.stderr
    assert len(list(tmp_path.iterdir())) == 1


def test_a_signal_stops_baselines_in_parallel_and_says_how_to_go_on(tmp_path):
    """SIGINT to `baseline --seeds 1-3 --method same-net --parallel 2` and its children, as a
    terminal's Ctrl-C sends it (each child gets it twice: from the terminal and passed on by the
    parent; fit's tests signal the parent alone): seeds 1 and 2 checkpoint and stop, seed 3
    never starts, and one line resumes the two and starts the third; before it, each child's
    epochs were shown, named by its run (the children tell them in lines that the parent reads
    and never prints)."""
    out = tmp_path / "runs"
    code, err = interrupt_once_checkpointed(["baseline", *DIGITS, "--epochs", "500", "--seeds", "1-3", "--method",
                                             "same-net", "--parallel", "2", "--out", str(out)], out, 2, group=True)
    assert code == 128 + signal.SIGINT, err
    for seed in (1, 2):
        assert f"\nsame-net seed {seed}: epoch 1/500: test acc " in "\n" + err, err
    assert "Progress" not in err, err
    runs = sorted(d.name for d in out.iterdir() if d.is_dir())
    assert len(runs) == 2 and {r[-11:] for r in runs} == {"s1-same-net", "s2-same-net"}, runs
    resume, rest = err.strip().splitlines()[-1].split("; not started: ")
    assert resume.startswith("Interrupted (SIGINT); checkpoints written. Resume with: ssgan fit --resume ")
    assert resume.endswith(" --parallel 2"), resume
    for run in runs:
        assert f"--resume {out / run}" in resume
        assert 1 <= len(read_metrics(out / run)) < 500 and (out / run / "checkpoint.pt").is_file()
    assert resume.index("s1-same-net") < resume.index("s2-same-net"), resume  # in the order of the seeds
    assert rest.startswith("same-net of seed 3, with ssgan baseline --dataset digits ") and "--parallel" not in rest
    assert rest.endswith(f"--out {out} --method same-net --seeds 3-3"), rest


def test_baselines_that_diverge_in_parallel_are_named_and_the_others_train(tmp_path):
    """A learning rate of 1e30 makes same-net diverge: its child stops with the NaN guard's
    line, logreg's still trains, and the last line names the run (exit code 3), as in
    sequence; --json keeps the finished run on stdout. (One seed: each child costs seconds of
    start-up; how several diverged runs are named in one line is
    test_diverged_seeds_in_parallel_are_named_together's, in tests/test_reliability.py.)"""
    (tmp_path / "hot.toml").write_text("lr = 1e30\n")
    r = CliRunner().invoke(main, ["baseline", *DIGITS, "--seeds", "2-2", "--method", "same-net", "--method", "logreg",
                                  "--config", str(tmp_path / "hot.toml"), "--epochs", "2", "--parallel", "2",
                                  "--out", str(tmp_path / "runs"), "--json"])
    assert r.exit_code == 3, r.output
    assert [(x["method"], x["seed"]) for x in json.loads(r.stdout)] == [("logreg", 2)]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: 1 of 2 baseline runs diverged (same-net of seed 2: ") and \
        ") and 1 finished; " in last, last
    assert "Error: Error" not in r.stderr and " became nan at epoch 1" in last, r.stderr
    assert len(list((tmp_path / "runs").glob("*-same-net/diverged.txt"))) == 1


def test_baselines_out_of_device_memory_in_processes_are_resumed_together():
    """Two baseline runs' processes that ran out of device memory: one line resumes both, fewer
    at once, as fit --parallel says it; one alone keeps its own line; another failure names its
    run and how many finished."""
    from ssgan.baselines import failed_runs
    from ssgan.launch import OutOfDeviceMemory

    lines = [("same-net", seed, 2, f"Error: {OutOfDeviceMemory('CUDA out of memory.', [run])}")
             for seed, run in ((1, "runs/s1-same-net"), (2, "runs/s2-full"))]
    e = failed_runs(lines + [("full", 3, 1, "RuntimeError: boom")], 1, 4, parallel=4)
    assert isinstance(e, OutOfDeviceMemory) and str(e) == (
        "the device ran out of memory (CUDA out of memory.): free it, or train fewer runs on it at once (--parallel), "
        "then resume them with: ssgan fit --resume runs/s1-same-net --resume runs/s2-full --parallel 2; a run too "
        "large to fit alone needs a smaller --batch-size or network, in a new run")
    assert str(failed_runs(lines[:1], 3, 4, parallel=4)) == lines[0][3].removeprefix("Error: ")
    assert str(failed_runs([("full", 3, 1, "RuntimeError: boom")], 3, 4, parallel=2)) == (
        "the full run of seed 3 failed (RuntimeError: boom); 3 of 4 baseline runs finished")
