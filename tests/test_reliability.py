import json
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import SignalAt, assert_same_state, cuda, without_timings
from ssgan import losses
from ssgan.baselines import full
from ssgan.cli import main
from ssgan.config import Config
from ssgan.runs import fit, load_run, method_name, read_config, read_metrics, resume
from ssgan.diagnostics import warnings_for
from ssgan.errors import DataWarning
from ssgan.stops import Diverged, Interrupted
from ssgan.train import load_checkpoint, save_checkpoint


def cfg(out, **changes):
    return Config(dataset="digits", labels=50, epochs=2, device="cpu", out=str(out), **changes)


def _state(run_dir):
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    return {f"{part}.{k}": v for part in ("generator", "discriminator", "ema") for k, v in ckpt[part].items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir, _ = fit(cfg(tmp_path_factory.mktemp("a")))
    return run_dir


def test_checkpoint_of_the_foreach_adam_resumes_with_the_fused_one_on_the_cpu(uninterrupted, tmp_path):
    """A checkpoint whose optimizer state names the foreach Adam kernel (written by an earlier
    version, on CUDA or on the CPU, before Adam was fused there) resumes on the CPU with the
    fused kernel: the run ends with the same weights as one that never stopped. Resumed with
    the saved kernel it would not (the two kernels round differently)."""
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path), SignalAt(1, 5))
    run_dir = info.value.run_dir
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    for key in ("opt_d", "opt_g"):
        assert all(group["fused"] for group in ckpt[key]["param_groups"])
        for group in ckpt[key]["param_groups"]:
            group.update(foreach=True, fused=None)
    save_checkpoint(run_dir / "checkpoint.pt", ckpt)
    resume(run_dir)
    a, b = _state(uninterrupted), _state(run_dir)
    assert_same_state(a, b)


@pytest.mark.parametrize("epoch, iteration, signum", [(1, 5, signal.SIGINT), (1, 13, signal.SIGTERM), (2, 1, signal.SIGINT)])
def test_interrupted_and_resumed_equals_uninterrupted(uninterrupted, tmp_path, epoch, iteration, signum):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)  # (SIGINT is ignored in a background job)
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path), SignalAt(epoch, iteration, signum))
    assert info.value.signum == signum and (info.value.epoch, info.value.iteration) == (epoch, iteration)
    run_dir = info.value.run_dir
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored
    (run_dir / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")  # as a kill -9 mid-write leaves
    resume(run_dir)
    assert not list(run_dir.glob(".*.tmp"))
    a, b = _state(uninterrupted), _state(run_dir)
    assert_same_state(a, b)
    assert without_timings(read_metrics(run_dir)) == without_timings(read_metrics(uninterrupted))


def test_cli_interrupt_prints_how_to_resume_and_exits_nonzero(tmp_path, monkeypatch):
    import ssgan.progress

    monkeypatch.setattr(ssgan.progress, "reporter", lambda prefix="": None)
    real_fit = __import__("ssgan.runs", fromlist=["fit"]).fit
    monkeypatch.setattr("ssgan.runs.fit", lambda c, rep=None, command=None: real_fit(c, SignalAt(1, 3), command))
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--out", str(tmp_path)])
    assert r.exit_code == 128 + signal.SIGINT
    assert "Resume with: ssgan fit --resume" in r.output
    run_dir = tmp_path / "00000-digits-50-s1"
    r = CliRunner().invoke(main, ["eval", str(run_dir)])  # (scored where it stopped, which is not its result)
    assert r.exit_code == 0 and r.output.startswith(f"{run_dir} (epoch 0 of 2, not finished) on digits test\n"), r.output
    r = CliRunner().invoke(main, ["fit", "--resume", str(run_dir), "--json"])
    assert r.exit_code == 0, r.output
    assert [m["epoch"] for m in read_metrics(run_dir)] == [1, 2]
    r = CliRunner().invoke(main, ["eval", str(run_dir), "--json"])
    assert (json.loads(r.stdout)["epoch"], json.loads(r.stdout)["epochs"]) == (2, 2)
    assert CliRunner().invoke(main, ["eval", str(run_dir)]).output.startswith(f"{run_dir} (epoch 2) on digits test\n")


def test_a_signal_in_seeds_one_after_another_says_how_to_go_on(tmp_path, monkeypatch):
    """`fit --seeds 1-3` stopped in seed 2: one line gives the resume command of seed 2's run
    and the command of seeds 3 alone; the two commands, as printed, finish the study."""
    import shlex

    real_fit = __import__("ssgan.runs", fromlist=["fit"]).fit
    monkeypatch.setattr("ssgan.runs.fit", lambda c, rep=None, command=None: real_fit(
        c, SignalAt(1, 3) if c.seed == 2 else rep, command))
    options = ["--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, ["fit", *options, "--seeds", "1-3", "--quiet"])
    assert r.exit_code == 128 + signal.SIGINT, r.output
    last = r.output.strip().splitlines()[-1]
    run_2 = tmp_path / "00001-digits-50-s2"
    resume, rest = last.split("; not started: ")
    assert resume == f"Interrupted (SIGINT); checkpoint written. Resume with: ssgan fit --resume {run_2}", last
    assert rest.startswith("seed 3, with ssgan fit --dataset digits --labels 50 ") and rest.endswith(
        f"--out {tmp_path} --quiet --seeds 3-3") and "1-3" not in rest, last
    monkeypatch.undo()
    for command in (resume.split("Resume with: ")[1], rest.split(", with ")[1]):
        r = CliRunner().invoke(main, shlex.split(command)[1:])
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000-digits-50-s1", "00001-digits-50-s2",
                                                         "00002-digits-50-s3"]
    assert all(len(read_metrics(run)) == 1 for run in tmp_path.iterdir())


def _step_failing_for_seed(monkeypatch, seed: int, at: int, fail):
    """D's step of ``seed``'s run calls ``fail(values)`` at its ``at``-th call."""
    import ssgan.train

    real, calls = ssgan.train.discriminator_step, []

    def step(cfg, *args, **kwargs):
        values = real(cfg, *args, **kwargs)
        if cfg.seed == seed:
            calls.append(1)
            if len(calls) == at:
                fail(values)
        return values

    monkeypatch.setattr(ssgan.train, "discriminator_step", step)


def test_a_seed_that_diverges_in_sequence_leaves_the_next_seeds_to_train(tmp_path, monkeypatch):
    """`fit --seeds 1-3` whose seed 2 diverges: seed 3 still trains (as it would in parallel),
    the last line names the seed that diverged, exit code 3 as for one run, and the report counts
    it apart; the study stopped at seed 2, leaving seed 3 untrained and unnamed."""
    def nan(values):
        values["loss_lab"] = torch.tensor(float("nan"))

    _step_failing_for_seed(monkeypatch, 2, 4, nan)
    options = ["--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, ["fit", *options, "--seeds", "1-3", "--json"])
    assert r.exit_code == 3, r.output
    shown = json.loads(next(line for line in r.output.splitlines() if line.startswith("{")))  # as always, and
    assert shown["seeds"] == [1, 3] and shown["diverged"] == [  # the seed that diverged beside them, and where
        {"seed": 2, "why": "loss_lab became nan at epoch 1, iteration 4", "run": str(tmp_path / "00001-digits-50-s2")}]
    assert r.output.strip().splitlines()[-1] == (
        "Error: 1 of 3 seeds diverged (seed 2: loss_lab became nan at epoch 1, iteration 4) and 2 finished; each "
        "diverged run keeps its last good checkpoint (if it wrote one), and ssgan report counts it apart from the "
        "means; try a lower --lr"), r.output
    assert [len(read_metrics(tmp_path / f"0000{i}-digits-50-s{i + 1}")) for i in (0, 2)] == [1, 1]
    assert (tmp_path / "00001-digits-50-s2" / "diverged.txt").is_file()  # (in its first epoch: no metrics yet)
    r = CliRunner().invoke(main, ["report", str(tmp_path), "--out", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    assert "| ssgan | 2 of 3 | 1,3 |" in (tmp_path / "report" / "report.md").read_text()


def test_a_seed_out_of_memory_in_sequence_names_the_seeds_left(tmp_path, monkeypatch):
    """`fit --seeds 1-3` whose seed 2 runs out of device memory: the line gives seed 2's resume
    and seed 3's command, which, run as printed, finish the study (it gave the resume alone)."""
    def out_of_memory(values):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.")

    _step_failing_for_seed(monkeypatch, 2, 20, out_of_memory)
    options = ["--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, ["fit", *options, "--seeds", "1-3", "--quiet"])
    assert r.exit_code == 2, r.output
    line = r.output.strip().splitlines()[-1]
    run_2 = tmp_path / "00001-digits-50-s2"
    assert line.startswith("Error: the device ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB.): "
                           f"free it, or train fewer runs on it at once (--parallel), then resume with: ssgan fit "
                           f"--resume {run_2}; a run too large to fit alone needs a smaller --batch-size or network, in "
                           "a new run; not started: seed 3, with ssgan fit --dataset digits "), line
    assert line.endswith("--quiet --seeds 3-3"), line
    monkeypatch.undo()
    for command in (f"ssgan fit --resume {run_2}", line.split(", with ")[1]):
        r = CliRunner().invoke(main, shlex.split(command)[1:])
        assert r.exit_code == 0, r.output
    assert [len(read_metrics(tmp_path / f"0000{i}-digits-50-s{i + 1}")) for i in range(3)] == [2, 2, 2]


def test_a_sequence_stopped_after_a_seed_diverged_names_it(tmp_path, monkeypatch):
    """`fit --seeds 1-3`: seed 1 diverges, seed 2 runs out of device memory, which stops the
    study; the line names seed 1 beside seed 2's resume and seed 3's command."""
    import ssgan.train

    real = ssgan.train.discriminator_step

    def step(cfg, *args, **kwargs):
        values = real(cfg, *args, **kwargs)
        if cfg.seed == 1:
            values["loss_lab"] = torch.tensor(float("nan"))
        if cfg.seed == 2:
            raise torch.OutOfMemoryError("CUDA out of memory.")
        return values

    monkeypatch.setattr(ssgan.train, "discriminator_step", step)
    options = ["--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, ["fit", *options, "--seeds", "1-3", "--quiet"])
    line = r.output.strip().splitlines()[-1]
    assert r.exit_code == 2 and line.startswith("Error: the device ran out of memory (CUDA out of memory.): "), r.output
    assert "in a new run; diverged before it: seed 1; not started: seed 3, with ssgan fit " in line, line


def test_diverged_seeds_in_parallel_are_named_together():
    """Seeds run in parallel (processes or threads) of which some diverged: one line names each
    with the NaN guard's words, and the error is a divergence (exit code 3)."""
    from ssgan.launch import failed

    finished = [{"seed": seed, "test_acc": 0.9} for seed in (1, 3, 4)]
    e = failed([(2, 3, "Error: loss_unl became nan at epoch 3, iteration 2: training diverged (the last good "
                       "checkpoint is kept in runs/00001-x-s2); try a lower --lr"),
                (5, 3, "Error: loss_gen became inf at epoch 9, iteration 1: training diverged")], finished, 5)
    assert isinstance(e, Diverged) and str(e) == (
        "2 of 5 seeds diverged (seed 2: loss_unl became nan at epoch 3, iteration 2; seed 5: loss_gen became inf at "
        "epoch 9, iteration 1) and 3 finished; each diverged run keeps its last good checkpoint (if it wrote one), and "
        "ssgan report counts it apart from the means; try a lower --lr")
    assert e.finished == finished and e.diverged == [(2, "loss_unl became nan at epoch 3, iteration 2", "runs/00001-x-s2"),
                                                     (5, "loss_gen became inf at epoch 9, iteration 1", None)]
    other = failed([(2, 3, "Error: loss_unl became nan in epoch 3: training diverged"), (4, 1, "RuntimeError: boom")],
                   finished, 5)
    assert not isinstance(other, Diverged)


def test_a_baseline_run_that_diverges_leaves_the_others_to_train(tmp_path, monkeypatch):
    """`baseline --seeds 2` whose same-net run of seed 1 diverges: seed 2's runs still train,
    and the last line names the run that diverged (exit code 3), where the study stopped there."""
    def nan(values):
        values["loss_lab"] = torch.tensor(float("nan"))

    _step_failing_for_seed(monkeypatch, 1, 4, nan)
    r = CliRunner().invoke(main, ["baseline", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device",
                                  "cpu", "--seeds", "2", "--method", "same-net", "--method", "logreg",
                                  "--out", str(tmp_path)])
    assert r.exit_code == 3, r.output
    assert r.output.strip().splitlines()[-1] == (
        "Error: 1 of 4 baseline runs diverged (same-net of seed 1: loss_lab became nan at epoch 1, iteration 4) and 3 "
        "finished; each diverged run keeps its last good checkpoint (if it wrote one), and ssgan report counts it apart "
        "from the means; try a lower --lr"), r.output
    assert sorted(p.name.split("-", 1)[1] for p in tmp_path.iterdir()) == [
        "digits-50-s1-logreg", "digits-50-s1-same-net", "digits-50-s2-logreg", "digits-50-s2-same-net"]
    assert (next(tmp_path.glob("*-s1-same-net")) / "diverged.txt").is_file()


def test_seeds_out_of_device_memory_in_processes_are_resumed_together():
    """Several seeds' processes that ran out of device memory: one line resumes all of their
    runs, fewer at once (their folders read back from each child's line, a space in a path
    included), where it named the first child's run alone."""
    from ssgan.launch import OutOfDeviceMemory, failed

    lines = [(seed, 2, f"Error: {OutOfDeviceMemory('CUDA out of memory. Tried to allocate 2.00 GiB.', [run])}")
             for seed, run in ((3, "runs/my runs/s3"), (1, "runs/my runs/s1"))]
    e = failed(lines + [(2, 1, "RuntimeError: boom")], [{"seed": 4}], 4, parallel=4, mode="processes")
    assert isinstance(e, OutOfDeviceMemory) and str(e) == (
        "the device ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB.): free it, or train fewer runs "
        "on it at once (--parallel), then resume them with: ssgan fit --resume 'runs/my runs/s1' --resume "
        "'runs/my runs/s3' --parallel 2 --parallel-mode processes; a run too large to fit alone needs a smaller "
        "--batch-size or network, in a new run")
    assert str(failed(lines[:1], [{"seed": 4}] * 3, 4, parallel=4)) == str(lines[0][2]).removeprefix("Error: ")


def test_ctrl_c_while_a_seed_sets_up_names_it_to_run_again(tmp_path, monkeypatch):
    """`fit --seeds 1-3` with Ctrl-C while seed 2 still sets up: seed 2's folder is removed and
    the line names seeds 2 and 3 with their command (it printed click's 'Aborted!' alone)."""
    import ssgan.train

    real = ssgan.train.build_models

    def build_models(cfg, *args, **kwargs):
        if cfg.seed == 2:
            raise KeyboardInterrupt
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(ssgan.train, "build_models", build_models)
    options = ["--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, ["fit", *options, "--seeds", "1-3", "--quiet"])
    assert r.exit_code == 128 + signal.SIGINT, r.output
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("Interrupted (SIGINT); not started: seeds 2,3, with ssgan fit --dataset digits ") and \
        last.endswith(f"--out {tmp_path} --quiet --seeds 2,3") and "1-3" not in last, last
    assert [p.name for p in tmp_path.iterdir()] == ["00000-digits-50-s1"]


def test_a_signal_in_baselines_of_seeds_says_how_to_go_on(tmp_path, monkeypatch):
    """`baseline --seeds 1-3` stopped in seed 2's same-net run: one line gives that run's
    resume and the commands of what never started, logreg of seed 2 and both methods of seed
    3; the three, run as printed, leave every baseline of the three seeds (the line named the
    stopped run alone, and the rest was lost)."""
    real_fit = __import__("ssgan.runs", fromlist=["fit"]).fit
    monkeypatch.setattr("ssgan.baselines.fit", lambda c, rep=None, command=None: real_fit(
        c, SignalAt(1, 3) if c.seed == 2 else rep, command))
    options = ["--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, ["baseline", *options, "--seeds", "1-3"])
    assert r.exit_code == 128 + signal.SIGINT, r.output
    last = r.output.strip().splitlines()[-1]
    resume, rest = last.split("; not started: ")
    assert resume == ("Interrupted (SIGINT); checkpoint written. Resume with: ssgan fit --resume "
                      f"{tmp_path / '00002-digits-50-s2-same-net'}"), last
    logreg, seed_3 = rest.split("; ")
    assert logreg.startswith("logreg of seed 2, with ssgan baseline ") and logreg.endswith(
        "--method logreg --seeds 2-2"), last
    assert seed_3.startswith("seed 3, with ssgan baseline ") and seed_3.endswith("--seeds 3-3"), last
    assert "--method" not in seed_3 and "1-3" not in rest, last
    monkeypatch.undo()
    for command in (resume.split("Resume with: ")[1], logreg.split(", with ")[1], seed_3.split(", with ")[1]):
        r = CliRunner().invoke(main, shlex.split(command)[1:])
        assert r.exit_code == 0, r.output
    made = [read_config(run) for run in tmp_path.iterdir()]
    assert sorted((c["seed"], method_name(c)) for c in made) == [(seed, tag) for seed in (1, 2, 3)
                                                            for tag in ("logreg", "same-net")]
    assert all(len(read_metrics(run)) == 1 for run in tmp_path.iterdir())


def test_ctrl_c_in_a_scikit_learn_baseline_names_it_among_those_not_started(tmp_path, monkeypatch):
    """Ctrl-C in seed 2's logreg fit (no checkpoint to resume there): its folder is removed,
    and the line names logreg of seed 2 and seed 3 with their commands."""
    import ssgan.baselines

    real = ssgan.baselines._fit_and_score

    def fit_and_score(estimator, data, split, transductive, run_dir):
        if split.seed == 2:
            raise KeyboardInterrupt
        real(estimator, data, split, transductive, run_dir)

    monkeypatch.setattr(ssgan.baselines, "_fit_and_score", fit_and_score)
    r = CliRunner().invoke(main, ["baseline", "--dataset", "digits", "--labels", "50", "--method", "logreg",
                                  "--seeds", "1-3", "--out", str(tmp_path)])
    assert r.exit_code == 128 + signal.SIGINT, r.output
    options = f"--dataset digits --labels 50 --out {tmp_path}"
    assert r.output.strip().splitlines()[-1] == (
        f"Interrupted (SIGINT); not started: logreg of seed 2, with ssgan baseline {options} --method logreg "
        f"--seeds 2-2; seed 3, with ssgan baseline --method logreg {options} --seeds 3-3")
    assert [(c["seed"], method_name(c)) for c in map(read_config, tmp_path.iterdir())] == [(1, "logreg")]


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_resuming_several_runs_refuses_a_finished_one_before_training_any(uninterrupted, tmp_path, parallel):
    """`--resume STOPPED --resume FINISHED`: one line names the finished run before any run
    trains (the stopped run's metrics and checkpoint are as they were), as for one run."""
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path), SignalAt(1, 5))
    stopped = info.value.run_dir
    before = [(stopped / name).read_bytes() for name in ("metrics.jsonl", "checkpoint.pt") if (stopped / name).exists()]
    r = CliRunner().invoke(main, ["fit", "--resume", str(stopped), "--resume", str(uninterrupted), "--parallel", parallel])
    assert r.exit_code == 2 and r.output == (f"Error: {uninterrupted} has already finished its 2 epochs; "
                                             "nothing to resume\n"), r.output
    assert before == [(stopped / name).read_bytes() for name in ("metrics.jsonl", "checkpoint.pt")
                      if (stopped / name).exists()]


@pytest.mark.parametrize("start", [fit, full], ids=["fit", "full-baseline"])
def test_ctrl_c_while_a_run_sets_up_leaves_no_folder(tmp_path, monkeypatch, start):
    """Ctrl-C after the run folder is made but before the loop handles signals (building the
    networks) removes the folder, in which nothing was trained: the seed is simply run again
    (a --parallel stop line names it so), with no folder left that holds no checkpoint."""
    import ssgan.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ssgan.train, "build_models", interrupted)
    with pytest.raises(KeyboardInterrupt):
        start(cfg(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_sigterm_while_a_run_sets_up_leaves_no_folder(tmp_path):
    """SIGTERM, a scheduler's stop, at the same point: Python's default handler ended the
    process on the spot and left the folder; the command now cleans up as on Ctrl-C and says
    so in one line, with the shell's code of a SIGTERM (a process of its own: the signal is real)."""
    script = (
        "import os, signal, sys, time\n"
        "import ssgan.train\n"
        "from ssgan.cli import main\n"
        "def terminated(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(10)\n"
        "ssgan.train.build_models = terminated\n"
        "main(['fit', '--dataset', 'digits', '--labels', '50', '--device', 'cpu', '--out', sys.argv[1]])\n")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (128 + signal.SIGTERM, "", "Interrupted (SIGTERM)\n")
    assert list(tmp_path.iterdir()) == []


def test_a_run_is_trained_by_one_process_at_a_time(tmp_path):
    """A run folder is locked while it trains: a `--resume` of it meanwhile (a second
    terminal, a scheduler's requeue while the first job lingers) stops in one line and touches
    nothing, where it rewrote metrics.jsonl under the running trainer and removed its
    temporary files; once the trainer is gone the run resumes. The lock is held by the fit
    itself (looked at from inside its loop) and by a resume."""
    import fcntl
    import os

    from ssgan.errors import SSGANError
    from ssgan.fileio import LOCK, trainer_lock
    from ssgan.train import Reporter

    class TriesTheLock(Reporter):
        def __init__(self):
            self.refused = []

        def on_batch(self, epoch, iteration, values):
            if (epoch, iteration) == (1, 2):
                run = next(tmp_path.iterdir())
                with pytest.raises(SSGANError, match=f"is being trained now, by process {os.getpid()} on "):
                    with trainer_lock(run):
                        pass
                self.refused.append(run)
            if (epoch, iteration) == (1, 5):
                os.kill(os.getpid(), signal.SIGINT)

    reporter = TriesTheLock()
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path), reporter)
    run = info.value.run_dir
    assert reporter.refused == [run]
    (run / ".checkpoint.pt.abc.tmp").write_bytes(b"a write in progress")
    fd = os.open(run / LOCK, os.O_RDWR)  # another trainer, as a process of its own would hold it
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, b"process 4242 on node7\n", 0)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    try:
        r = CliRunner().invoke(main, ["fit", "--resume", str(run)])
        assert r.exit_code == 2 and r.output == (
            f"Error: {run} is being trained now, by process 4242 on node7: a run folder is trained by one process "
            "at a time; wait for that run, or stop it (Ctrl-C writes a checkpoint) and resume then\n"), r.output
        with pytest.raises(SSGANError, match="being trained now"):
            resume(run)  # the library's own way in, past the CLI's check
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    finally:
        os.close(fd)
    resume(run)
    assert [m["epoch"] for m in read_metrics(run)] == [1, 2]


def test_a_full_disk_stops_the_run_in_one_line_that_says_how_to_resume(tmp_path, monkeypatch):
    """torch.save on a full disk raises a RuntimeError ("unexpected pos ...", measured on a
    30-MB tmpfs): the second epoch's checkpoint fails so, and the run stops with one line that
    names the file and how to go on, where it ended in that traceback; the first epoch's
    checkpoint is kept, and the printed command finishes the run once there is room."""
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if obj["epoch"] == 2:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 8454848 vs 8454740")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu",
                                  "--out", str(tmp_path), "--quiet"])
    (run,) = tmp_path.iterdir()
    assert r.exit_code == 2 and r.output.startswith(
        f"Error: cannot write {run / 'checkpoint.pt'} (RuntimeError: [enforce fail at inline_container.cc:672] . "
        "unexpected pos 8454848 vs 8454740; ") and r.output.endswith(
        f"): make room there or make it writable, then resume with: ssgan fit --resume {run}\n"), r.output
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1 and not list(run.glob(".*.tmp"))
    monkeypatch.undo()
    r = CliRunner().invoke(main, shlex.split(r.output.split("then resume with: ")[1])[1:] + ["--quiet"])
    assert r.exit_code == 0, r.output
    assert [m["epoch"] for m in read_metrics(run)] == [1, 2] and load_checkpoint(run / "checkpoint.pt")["epoch"] == 2


def test_a_full_disk_before_training_leaves_no_folder(tmp_path, monkeypatch):
    import errno
    import os

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("ssgan.runs.save_split", full_disk)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--device", "cpu",
                                  "--out", str(tmp_path)])
    assert r.exit_code == 2 and r.output == (
        f"Error: cannot write {tmp_path / '00000-digits-50-s1'} (No space left on device): make room there or make "
        "it writable, then run the command again (nothing was trained), or choose another --out\n"), r.output
    assert list(tmp_path.iterdir()) == []


def test_a_file_system_error_that_no_command_words_is_still_one_line(tmp_path, monkeypatch):
    """A scikit-learn baseline whose metrics cannot be written: the OSError's own words and
    file, in one line, instead of a traceback."""
    import errno
    import os

    def read_only(path, text):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr("ssgan.baselines.write_text", read_only)
    r = CliRunner().invoke(main, ["baseline", "--method", "logreg", "--dataset", "digits", "--labels", "50",
                                  "--out", str(tmp_path)])
    metrics = next(tmp_path.iterdir()) / "metrics.jsonl"
    assert (r.exit_code, r.output) == (2, f"Error: {metrics}: Read-only file system\n"), r.output


def test_a_device_out_of_memory_is_one_line_that_says_what_to_do(tmp_path, monkeypatch):
    """torch's OutOfMemoryError in a step (a GPU shared with other runs, or stacked seeds too
    many for it): one line with torch's first line and the resume command, not a traceback."""
    import ssgan.train

    real_step, calls = ssgan.train.discriminator_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 20:  # in the second epoch: the first one's checkpoint is kept
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                                         "capacity of 79.19 GiB of which 1.06 GiB is free.\nmore advice")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(ssgan.train, "discriminator_step", step)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu",
                                  "--out", str(tmp_path), "--quiet"])
    (run,) = tmp_path.iterdir()
    assert r.exit_code == 2 and r.output == (
        "Error: the device ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
        "capacity of 79.19 GiB of which 1.06 GiB is free.): free it, or train fewer runs on it at once (--parallel), "
        f"then resume with: ssgan fit --resume {run}; a run too large to fit alone needs a smaller --batch-size or "
        "network, in a new run\n"), r.output
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1


def test_a_report_refuses_runs_that_have_not_finished(uninterrupted, tmp_path):
    """A run stopped after epoch 1 of 2 beside a finished one: its last epoch is not the run's,
    so the report stops in one line that names it and how to go on, where it averaged epoch 1
    with the other's epoch 2 as if both were last epochs; resumed, it is reported."""
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path / "runs", seed=2), SignalAt(2, 1))  # (a second seed: one seed twice is one measurement)
    stopped = info.value.run_dir
    r = CliRunner().invoke(main, ["report", str(uninterrupted), str(stopped), "--out", str(tmp_path / "report")])
    assert r.exit_code == 2 and r.output == (
        f"Error: 1 run has not finished its epochs (stopped, or training now): {stopped} (1 of 2); resume it with "
        "ssgan fit --resume, or leave it out of the report\n"), r.output
    assert not (tmp_path / "report").exists()
    resume(stopped)
    r = CliRunner().invoke(main, ["report", str(uninterrupted), str(stopped), "--out", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output


def test_a_report_counts_a_run_that_diverged_apart(uninterrupted, tmp_path, monkeypatch):
    """The NaN guard's line is kept in the run folder (diverged.txt), and a report counts that
    seed as diverged, apart from the means, with the guard's words, where it refused the run
    (and a user had to drop the seed to report the others, with nothing in the report to say so)."""
    import ssgan.train

    real_step, calls = ssgan.train.discriminator_step, []

    def step(*args, **kwargs):
        calls.append(1)
        values = real_step(*args, **kwargs)
        if len(calls) == 20:  # epoch 2, iteration 7
            values["loss_lab"] = torch.tensor(float("nan"))
        return values

    monkeypatch.setattr(ssgan.train, "discriminator_step", step)
    with pytest.raises(Diverged):
        fit(cfg(tmp_path / "runs", seed=2))
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "diverged.txt").read_text().startswith("loss_lab became nan at epoch 2, iteration 7: ")
    monkeypatch.undo()
    r = CliRunner().invoke(main, ["eval", str(run)])  # the last good checkpoint, said to be so
    assert r.exit_code == 0 and (f"Warning: {run} diverged (loss_lab became nan at epoch 2, iteration 7); its "
                                 "checkpoint is the last good one, of epoch 1\n") in r.output, r.output
    r = CliRunner().invoke(main, ["report", str(uninterrupted), str(run), "--out", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    assert (f"1 of 2 runs diverged; the report counts it apart, not in the means: {run} (loss_lab became nan at "
            "epoch 2, iteration 7)") in r.output
    summary = json.loads((tmp_path / "report" / "report.json").read_text())["methods"]["ssgan"]
    assert summary["seeds"] == [1] and summary["runs"] == [str(uninterrupted)]
    assert summary["diverged"] == [{"run": str(run), "seed": 2, "why": "loss_lab became nan at epoch 2, iteration 7"}]
    assert summary["test_acc_mean"] == read_metrics(uninterrupted)[-1]["test_acc"]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| ssgan | 1 of 2 | 1 |" in md
    assert f"- ssgan, seed 2 ({run}): loss_lab became nan at epoch 2, iteration 7" in md
    assert "- ssgan: seed 1: " in md and ", seed 2: diverged\n" in md
    r = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "alone")])
    assert r.exit_code == 2 and r.output == (
        f"Error: every run of ssgan diverged ({run}: loss_lab became nan at epoch 2, iteration 7), so it has no "
        "accuracy to report: leave its runs out, and say so in the report's --notes\n"), r.output
    assert not (tmp_path / "alone").exists()
    resume(run)  # (here the step no longer makes the NaN): the note goes with the divergence
    assert not (run / "diverged.txt").exists()


def test_resume_rejects_finished_runs_and_extra_options(uninterrupted):
    with pytest.raises(Exception, match="already finished its 2 epochs"):
        resume(uninterrupted)
    r = CliRunner().invoke(main, ["fit", "--resume", str(uninterrupted), "--lr", "0.1"])
    assert r.exit_code == 2 and "drop --lr" in r.output


def test_a_config_json_edited_by_hand_is_refused_on_resume(tmp_path):
    """Resume trains with the settings of the checkpoint: an lr edited into config.json had been
    ignored in silence, and the folder said for good that the run had trained at that rate."""
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path), SignalAt(1, 5))
    run = info.value.run_dir
    saved = read_config(run)
    (run / "config.json").write_text(json.dumps({**saved, "lr": 0.0001, "g_loss": "adversarial"}))
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--quiet"])
    assert r.exit_code == 2 and r.output == (
        f"Error: {run / 'config.json'} is not the config that the run was trained with: g_loss \"adversarial\" (trained "
        'with "feature-matching"), lr 0.0001 (trained with 0.003); a run continues with its own settings: put them '
        "back, or train a new run with these (of the settings, --resume changes --epochs, --device, and --dataset or "
        "--data-root where its data moved)\n"), r.output
    assert not (run / "metrics.jsonl").exists() and read_config(run)["lr"] == 0.0001  # (nothing trained or touched)
    # as an interrupted --resume --epochs 3 left it, and a tag renamed by hand for a report (neither trains otherwise)
    (run / "config.json").write_text(json.dumps({**saved, "epochs": 3, "tag": "renamed"}))
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--quiet"])
    assert r.exit_code == 0 and [m["epoch"] for m in read_metrics(run)] == [1, 2], r.output
    assert read_config(run)["tag"] == "renamed"


def test_a_run_whose_data_moved_resumes_with_dataset_to_the_same_weights(tmp_path, monkeypatch):
    """A run on its own npz whose file moved (another machine, another disk) resumes with
    --resume RUN --dataset npz:NEW, to the very weights of a run that never stopped, once the
    file's SHA-256 is the run's; other data, or data of another kind, are one line."""
    import shutil

    from conftest import write_npz

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 5)).astype(np.float32), np.arange(60) % 2
    labels = np.where(np.arange(60) < 10, y, -1)
    write_npz(tmp_path / "d.npz", x=x, y=labels, x_test=x[:20], y_test=y[:20])
    write_npz(tmp_path / "other.npz", x=x * 2, y=labels, x_test=x[:20], y_test=y[:20])
    moved = lambda **c: Config(dataset="npz:d.npz", labels=10, epochs=2, batch_size=10, device="cpu", **c)
    straight, _ = fit(moved(out="straight"))
    with pytest.raises(Interrupted) as info:
        fit(moved(out="runs"), SignalAt(1, 3))
    run = info.value.run_dir  # (relative: runs/00000-d-10-s1)
    (tmp_path / "new").mkdir()
    shutil.move("d.npz", "new/d.npz")
    for args, said in (
        ([], f"{run} was trained on npz:d.npz, a path relative to the folder it was started in, and there is no d.npz "
             f"in {tmp_path}: run this command from that folder (if it was this one, put d.npz back); where they "
             "moved, give --dataset npz:NEWPATH with --resume"),
        (["--dataset", "npz:other.npz"], f"npz:other.npz is not the data that {run} trained on, npz:d.npz (the "
                                         "SHA-256 of its arrays is not the one in its split.json): give the place of "
                                         "those data"),
        (["--dataset", "folder:new"], f"--dataset folder:new: {run} was trained on npz:d.npz; with --resume, "
                                      "--dataset names where the data it trained on are now (its data moved: npz:PATH)"),
        (["--data-root", "new"], f"--data-root new: {run} was trained on npz:d.npz, which is not read from a data root "
                                 "(torchvision's datasets are)"),
    ):
        r = CliRunner().invoke(main, ["fit", "--resume", str(run), *args, "--quiet"])
        assert r.exit_code == 2 and r.output == f"Error: {said}\n", r.output
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--dataset", "npz:new/d.npz", "--quiet"])
    assert r.exit_code == 0, r.output
    assert_same_state(_state(run), _state(straight))
    assert read_config(run)["dataset"] == "npz:new/d.npz" and json.loads((run / "split.json").read_text())["dataset"] \
        == "npz:new/d.npz" and load_checkpoint(run / "checkpoint.pt")["config"]["dataset"] == "npz:new/d.npz"
    assert (run / "command.txt").read_text().splitlines()[-1] == f"ssgan fit --resume {run} --dataset npz:new/d.npz"
    r = CliRunner().invoke(main, ["eval", str(run), "--json"])  # (the folder names the data where they are now)
    assert r.exit_code == 0 and json.loads(r.stdout)["accuracy"] == read_metrics(run)[-1]["test_acc"], r.output


def test_a_finished_run_made_longer_is_the_longer_run(uninterrupted, tmp_path):
    """`fit --resume RUN --epochs 3` of a finished 2-epoch run trains its third epoch, to the
    very weights of a run trained 3 epochs from the start (the rate is constant), and says so
    in config.json and command.txt; where it could not be that run continued, one line says why."""
    import shutil

    run = tmp_path / "longer"
    shutil.copytree(uninterrupted, run)
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", "3", "--quiet"])
    assert r.exit_code == 0, r.output
    straight, _ = fit(cfg(tmp_path / "straight").replace(epochs=3))
    assert_same_state(_state(run), _state(straight), rtol=0, atol=0)
    assert [m["epoch"] for m in read_metrics(run)] == [1, 2, 3] and read_config(run)["epochs"] == 3
    assert (run / "command.txt").read_text().splitlines()[-1] == f"ssgan fit --resume {run} --epochs 3"
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", "3"])
    assert r.exit_code == 2 and r.output == f"Error: {run} has already finished its 3 epochs; nothing to resume\n"
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", "2"])
    assert r.exit_code == 2 and r.output == (f"Error: --epochs 2: {run} has trained 3 epochs already; give more "
                                             "than 3\n"), r.output
    decaying, _ = fit(cfg(tmp_path / "decaying", lr_decay_start=0.5))
    r = CliRunner().invoke(main, ["fit", "--resume", str(decaying), "--epochs", "4"])
    assert r.exit_code == 2 and r.output == (
        f"Error: --epochs 4: the learning rate of {decaying} decays to zero over its 2 epochs (--lr-decay-start 0.5), "
        "so a run of 4 epochs is not this one continued: train a new run with --epochs\n"), r.output
    assert read_config(decaying)["epochs"] == 2


def test_a_run_made_on_a_gpu_resumes_on_the_cpu_with_device(uninterrupted, tmp_path):
    """A run made with --device cuda could not be resumed on a machine without one: its own
    device was refused there, and --device with --resume was refused too. --device now moves it
    (said in config.json and command.txt); without it, one line says what to add."""
    import shutil

    run = tmp_path / "made-on-cuda"
    shutil.copytree(uninterrupted, run)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    ckpt["config"]["device"] = "cuda:7"  # as --device cuda:7 on a machine with 8 GPUs saved it
    save_checkpoint(run / "checkpoint.pt", ckpt)
    (run / "config.json").write_text(json.dumps({**read_config(run), "device": "cuda:7"}))
    if torch.cuda.device_count() < 8:
        r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", "3"])
        seen = "torch sees no CUDA GPU here; use --device cpu or auto" if not torch.cuda.is_available() else "only"
        assert r.exit_code == 2 and r.output.startswith(f"Error: {run} was made with --device cuda:7: {seen}"), r.output
    r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", "3", "--device", "cpu", "--quiet"])
    assert r.exit_code == 0, r.output
    straight, _ = fit(cfg(tmp_path / "straight").replace(epochs=3))  # trained on the CPU all along, as it was
    assert_same_state(_state(run), _state(straight), rtol=0, atol=0)
    assert read_config(run)["device"] == "cpu" and load_checkpoint(run / "checkpoint.pt")["config"]["device"] == "cpu"
    assert (run / "command.txt").read_text().splitlines()[-1] == f"ssgan fit --resume {run} --epochs 3 --device cpu"


@cuda
def test_a_cpu_run_moves_to_a_gpu_and_back_with_resume_device(uninterrupted, tmp_path):
    """--resume RUN --device cuda trains a run made on the CPU on in CUDA (Adam's state moved
    with the weights; graphs captured where --graphs auto allows), its checkpoint still on the
    host, and --device cpu brings it back: every epoch is in metrics.jsonl, each device in
    config.json."""
    import shutil

    run = tmp_path / "moved"
    shutil.copytree(uninterrupted, run)
    for epochs, device in ((3, "cuda"), (4, "cpu")):
        r = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", str(epochs), "--device", device, "--quiet"])
        assert r.exit_code == 0, r.output
        assert read_config(run)["device"] == device
        ckpt = load_checkpoint(run / "checkpoint.pt")
        assert ckpt["epoch"] == epochs and ckpt["config"]["device"] == device
        assert all(v.device.type == "cpu" for part in ("generator", "discriminator", "ema") for v in ckpt[part].values())
    metrics = read_metrics(run)
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4]
    assert all(m["test_acc"] > 0.5 for m in metrics[2:]), [m["test_acc"] for m in metrics]  # (digits: 0.8-0.9)


@cuda
def test_networks_larger_than_the_gpu_are_one_line_before_a_folder(tmp_path):
    """The size check reads the GPU's memory on CUDA (the CPU's case is in test_bad_input.py)."""
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--z-dim", "1000000000", "--device", "cuda",
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("Error: the networks have 500,001,105,148 parameters, about 9,313 GiB to train") \
        and " GiB of cuda: choose smaller networks" in r.output, r.output
    assert not (tmp_path / "runs").exists()


def test_nan_loss_stops_with_the_term_and_epoch_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = losses.unsupervised_loss

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        out = real(*args, **kwargs)
        return out * float("nan") if calls["n"] == 13 + 4 else out  # epoch 2, iteration 4

    monkeypatch.setattr(losses, "unsupervised_loss", poisoned)
    with pytest.raises(Diverged, match="loss_unl became nan at epoch 2, iteration 4"):
        fit(cfg(tmp_path))
    run_dir = tmp_path / "00000-digits-50-s1"
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == 1
    with pytest.warns(DataWarning, match="diverged .*; its checkpoint is the last good one, of epoch 1"):
        assert load_run(run_dir).discriminator() is not None
    calls["n"] = 0
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--out", str(tmp_path), "--quiet"])
    assert r.exit_code == 3 and "loss_unl became nan at epoch 2" in r.output
    again = tmp_path / "00001-digits-50-s1"  # the line says where the checkpoint is
    assert f"training diverged (the last good checkpoint is kept in {again}); try a lower --lr" in r.output, r.output
    assert (again / "diverged.txt").read_text().startswith("loss_unl became nan at epoch 2, iteration 4: training "
                                                           f"diverged (the last good checkpoint is kept in {again})")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"config": {}, "generator": {}, "ema": {}, "epoch": 1})

    def broken_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_collapse_warning_after_three_epochs_near_zero():
    low = [{"epoch": i, "loss_unl": 0.01} for i in (1, 2)]
    assert warnings_for(low, {"epoch": 3, "loss_unl": 0.02})
    assert not warnings_for(low[:1], {"epoch": 2, "loss_unl": 0.02})
    assert not warnings_for(low, {"epoch": 3, "loss_unl": 0.3})
    assert not warnings_for([{"epoch": 1, "loss_unl": None}] * 2, {"epoch": 3, "loss_unl": None})


def _make_run_dirs(out, tag, barrier, n):
    import pathlib
    import time

    from ssgan.runs import new_run_dir

    listing = pathlib.Path.iterdir

    def slow_listing(self):  # widen the window between reading the numbers and taking one
        names = list(listing(self))
        time.sleep(0.01)
        return iter(names)

    pathlib.Path.iterdir = slow_listing  # in this forked child only
    barrier.wait()
    for _ in range(n):
        new_run_dir(out, tag)


def test_concurrent_processes_never_share_a_run_number(tmp_path):
    """Jobs that start runs into one --out at once, with different tags, each get their own number."""
    import multiprocessing as mp
    import re

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(6)
    procs = [ctx.Process(target=_make_run_dirs, args=(tmp_path, f"tag{i}", barrier, 8)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    numbers = [re.match(r"\d{5}", d.name).group() for d in tmp_path.iterdir() if d.is_dir()]
    assert len(numbers) == 48
    assert sorted(numbers) == [f"{i:05d}" for i in range(48)]


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["022", "077"])
def test_atomic_writes_give_the_usual_permissions_without_touching_the_umask(tmp_path, monkeypatch, umask):
    """A file written atomically gets mode 0666 less the umask, as open() would give it, and
    no temporary file stays behind, also when the write fails. The process's umask is never
    set (reading it means setting it for a moment, which would race with runs that write
    their folders in other threads)."""
    import os

    from ssgan.fileio import atomic_path, write_text

    real_umask = os.umask
    before = real_umask(umask)

    def refuse(mask):
        raise AssertionError("os.umask called")

    try:
        monkeypatch.setattr(os, "umask", refuse)
        write_text(tmp_path / "a.txt", "x")
        assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
        with pytest.raises(ValueError), atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("half")
            raise ValueError
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    finally:
        monkeypatch.undo()
        real_umask(before)
