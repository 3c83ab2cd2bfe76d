"""`ssgan fit --seeds ... --parallel N --parallel-mode threads`: seeds trained in threads of one
process (on CUDA each on its own stream) train exactly as each seed alone with as many
intra-op threads, because every run draws from a random generator of its own; a signal stops
them all with checkpoints."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import ssgan.graphs
import ssgan.reference
import ssgan.train
from conftest import SignalAt, assert_same_state, cuda, torch_threads
from ssgan.cli import main
from ssgan.config import Config
from ssgan.graphsim import simulate
from ssgan.launch import _cores_each
from ssgan.runs import read_metrics
from ssgan.splits import make_split

# D's noise, dropout and random translations: every kind of draw the loop makes besides G's noise
OPTIONS = ["--dataset", "digits", "--labels", "50", "--epochs", "2", "--d-dropout", "0.2", "--translate", "1"]


def _fit(*args) -> dict:
    r = CliRunner().invoke(main, ["fit", *OPTIONS, *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _weights(run: str) -> dict:
    ckpt = torch.load(Path(run) / "checkpoint.pt", weights_only=False)
    return {f"{net}.{k}": v for net in ("generator", "discriminator", "ema") for k, v in ckpt[net].items()}


def _share_of_the_cores() -> int:
    """The intra-op threads of each of two seeds trained side by side, in threads or processes:
    OMP_NUM_THREADS where it is set, else half the cores. A seed trained alone on as many sums
    in the same order (bf16, and fp32 on some CPUs, sum in an order that depends on the count)."""
    return int(os.environ.get("OMP_NUM_THREADS", _cores_each(2)))


def _same_as_alone(tmp_path, *options, device: str = "cpu", exact: bool = True):
    options = (*options, "--device", device)
    together = _fit("--seeds", "1-2", "--parallel", "2", "--parallel-mode", "threads", "--out", str(tmp_path / "t"),
                    *options)
    assert together["seeds"] == [1, 2] and len({s["run"] for s in together["runs"]}) == 2
    for s in together["runs"]:
        run = Path(s["run"])
        assert len(read_metrics(run)) == 2 and json.loads((run / "config.json").read_text())["seed"] == s["seed"]
        command = (run / "command.txt").read_text()
        assert f"--seed {s['seed']}" in command and "--parallel" not in command and "--seeds" not in command
        with torch_threads(_share_of_the_cores()):
            alone = _fit("--seed", str(s["seed"]), "--out", str(tmp_path / "alone"), *options)
        a, b = _weights(s["run"]), _weights(alone["run"])
        if exact:
            assert_same_state(a, b)
            assert alone["test_errors"] == s["test_errors"]
        else:  # a GPU's atomic sums (the gather of --translate, backwards) may round in another order
            assert_same_state(a, b, rtol=1e-3, atol=1e-4)


def test_seeds_in_threads_train_as_each_seed_alone(tmp_path):
    _same_as_alone(tmp_path)


def test_seeds_in_threads_on_the_captured_path(tmp_path):
    """With the steps captured (the CPU stand-in), each thread's graphs draw from its run's generator."""
    with simulate():
        _same_as_alone(tmp_path, "--graphs", "on")


@cuda
def test_seeds_in_threads_on_a_gpu(tmp_path):
    """Captured on CUDA, each seed on its own stream, with its generator registered with its graphs."""
    _same_as_alone(tmp_path, "--graphs", "on", device="cuda", exact=False)


@pytest.mark.parametrize("stacked, omp_num_threads, each", [(False, None, 3), (False, "1", 4), (True, None, 4)])
def test_each_seed_in_a_thread_computes_on_its_share_of_the_cores(tmp_path, monkeypatch, stacked, omp_num_threads,
                                                                  each):
    """As each process of --parallel N gets OMP_NUM_THREADS at the cores / N, each thread takes
    that many intra-op threads (N threads with a team of all the cores each oversubscribed them);
    where OMP_NUM_THREADS is set, it decides alone, as it does for processes, and the threads
    keep the launching thread's count, as stacked seeds do (a group's steps run one at a time,
    and seed 3, the last group of one, trains alone). That count is the same afterwards."""
    from ssgan.config import resolve
    from ssgan.launch import run_seeds_in_threads
    from ssgan.train import Reporter

    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    if omp_num_threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp_num_threads)
    seen = {}

    class Threads(Reporter):
        def __init__(self, seed: int):
            self.seed = seed

        def on_start(self, epochs: int, iterations: int, start_epoch: int) -> None:
            seen[self.seed] = torch.get_num_threads()  # in the seed's own thread

    with torch_threads(4):
        run_seeds_in_threads(resolve(dataset="digits", labels=50, epochs=1, device="cpu", out=str(tmp_path)),
                             [1, 2, 3], 2, "ssgan fit --seeds 3 --parallel 2", stacked=stacked, progress=Threads)
        assert torch.get_num_threads() == 4
    assert seen == {1: each, 2: each, 3: each}


def test_threads_refuse_compiled_networks(tmp_path):
    r = CliRunner().invoke(main, ["fit", *OPTIONS, "--device", "cpu", "--seeds", "2", "--parallel", "2",
                                  "--parallel-mode", "threads", "--compile", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("Error: --parallel-mode threads cannot train --compile networks")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_seeds_in_threads_with_checkpoints(signum, tmp_path):
    """As with processes: the running seeds checkpoint and stop, no further seed starts, and one
    line says how to resume each and which seeds are left."""
    out = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "ssgan", "fit", *OPTIONS[:4], "--epochs", "500", "--device", "cpu",
                          "--seeds", "1,2,3", "--parallel", "2", "--parallel-mode", "threads", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(list(out.glob("*/checkpoint.pt"))) < 2 and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    p.send_signal(signum)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signum, err
    runs = sorted(d.name for d in out.iterdir() if d.is_dir())
    assert len(runs) == 2 and {r[-2:] for r in runs} == {"s1", "s2"}, runs
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith(f"Interrupted ({signal.Signals(signum).name}); checkpoints written. Resume with: ssgan fit "
                           "--resume "), last
    assert " --parallel 2 --parallel-mode threads; not started: seed 3, with ssgan fit " in last
    assert last.endswith(" --seeds 3-3"), last
    for run in runs:
        assert f"--resume {out / run}" in last
        assert 1 <= len(read_metrics(out / run)) < 500 and (out / run / "checkpoint.pt").is_file()


def test_a_signal_while_seeds_in_threads_set_up_stops_each_after_a_batch(tmp_path, monkeypatch):
    """SIGINT while seed 1's thread still prepares its data, before it has a run folder: the
    flag waits for the loop, which trains a batch, checkpoints and stops, so the stop line
    resumes run folders that exist (each one it names) and seed 3 never starts."""
    import ssgan.runs

    prepare = ssgan.runs.prepare

    def prepare_seed_1_signals(cfg):
        if cfg.seed == 1 and threading.current_thread() is not threading.main_thread():  # (fit checks the data first)
            os.kill(os.getpid(), signal.SIGINT)
        return prepare(cfg)

    monkeypatch.setattr(ssgan.runs, "prepare", prepare_seed_1_signals)
    out = tmp_path / "runs"
    r = CliRunner().invoke(main, ["fit", *OPTIONS[:4], "--epochs", "500", "--device", "cpu", "--seeds", "1,2,3",
                                  "--parallel", "2", "--parallel-mode", "threads", "--out", str(out)])
    assert r.exit_code == 128 + signal.SIGINT, r.output
    last = r.output.strip().splitlines()[-1]
    resume, rest = last.split("; not started: ")
    named = resume.split("Resume with: ssgan fit ")[1].split(" --parallel")[0].split()[1::2]
    runs = sorted(str(d) for d in out.iterdir())
    assert named and sorted(named) == runs, last  # (seed 2 may have started before the signal or not)
    assert any(run.endswith("-s1") for run in runs), runs
    for run in runs:
        assert (Path(run) / "checkpoint.pt").is_file()  # (in its first epoch, most likely: no metrics.jsonl yet)
    assert rest.startswith("seed 3, with ssgan fit " if len(runs) == 2 else "seeds 2,3, with ssgan fit "), rest


def _stop_threads(tmp_path, monkeypatch) -> tuple[list[Path], list[str]]:
    """Seeds 1 and 2 in threads, stopped by a signal in the middle of seed 1's first epoch (seed
    2 wherever it is): the run folders in the order of the seeds, and the resume command printed."""
    import ssgan.runs

    fit = ssgan.runs.fit

    def fit_seed_1_signals(cfg, reporter=None, command=None, stop=None, **group):
        return fit(cfg, SignalAt(1, 5) if cfg.seed == 1 else reporter, command, stop, **group)

    monkeypatch.setattr(ssgan.runs, "fit", fit_seed_1_signals)
    r = CliRunner().invoke(main, ["fit", *OPTIONS, "--device", "cpu", "--seeds", "1-2", "--parallel", "2",
                                  "--parallel-mode", "threads", "--out", str(tmp_path / "t")])
    assert r.exit_code == 128 + signal.SIGINT and "not started" not in r.output, r.output
    monkeypatch.setattr(ssgan.runs, "fit", fit)
    stopped = sorted((tmp_path / "t").iterdir(), key=lambda run: run.name[-2:])  # in the order of --seeds
    assert len(stopped) == 2 and all(len(read_metrics(run)) < 2 for run in stopped if (run / "metrics.jsonl").exists())
    printed = r.output.strip().splitlines()[-1].split("Resume with: ")[1].split()[1:]
    assert printed == ["fit", "--resume", str(stopped[0]), "--resume", str(stopped[1]), "--parallel", "2",
                       "--parallel-mode", "threads"], printed
    return stopped, printed


def _resume(*args) -> dict:
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize("resumed", ["alone", "as printed"])
def test_seeds_stopped_in_threads_resume_to_the_weights_of_runs_never_stopped(tmp_path, monkeypatch, resumed):
    """`fit --resume` ends each stopped seed with the weights of the seed trained alone without
    a stop: resumed one at a time, or both at once with the command the stop printed (threads)."""
    stopped, printed = _stop_threads(tmp_path, monkeypatch)
    with torch_threads(_share_of_the_cores()):  # as each seed's thread had
        if resumed == "alone":
            for run in stopped:
                _resume("fit", "--resume", str(run))
        else:
            assert [s["run"] for s in _resume(*printed)["runs"]] == [str(run) for run in stopped]
        for run in stopped:
            seed = json.loads((run / "config.json").read_text())["seed"]
            alone = _fit("--device", "cpu", "--seed", str(seed), "--out", str(tmp_path / "alone"))
            assert_same_state(_weights(str(run)), _weights(alone["run"]))


def test_seeds_stopped_in_threads_resume_together_in_processes(tmp_path, monkeypatch):
    """`fit --resume A --resume B --parallel 2` resumes the two runs in two processes, each to
    the weights it reaches resumed alone in this process with the children's thread count
    (bf16 sums in an order that depends on it)."""
    import shutil

    stopped, printed = _stop_threads(tmp_path, monkeypatch)
    copies = [Path(shutil.copytree(run, tmp_path / "copy" / run.name)) for run in stopped]
    together = _resume(*printed[:-2])  # without --parallel-mode threads: processes
    assert [s["run"] for s in together["runs"]] == [str(run) for run in stopped]
    assert together["seeds"] == [1, 2]
    with torch_threads(_share_of_the_cores()):
        for copy in copies:
            _resume("fit", "--resume", str(copy))
    for run, copy in zip(stopped, copies):
        assert [m["epoch"] for m in read_metrics(run)] == [1, 2]
        assert_same_state(_weights(str(run)), _weights(str(copy)))


def _meanwhile(start: threading.Event, run):
    """Call ``run()`` in another thread once ``start`` is set; return a function that waits
    for it and returns what it returned."""
    out = {}

    def go():
        assert start.wait(60)
        out["result"] = run()

    thread = threading.Thread(target=go)
    thread.start()

    def result():
        thread.join()
        return out["result"]  # missing: the thread failed (pytest shows its exception)

    return result


def _same_networks(a, b) -> None:
    for net in ("generator", "discriminator"):
        assert_same_state(getattr(a, net).state_dict(), getattr(b, net).state_dict())


def test_a_capture_leaves_the_global_generators_to_other_runs_set_ups(digits, monkeypatch):
    """A run's capture undoes its warm-up without writing torch's global generator, which the
    run's steps never draw from: another run, seeded and drawing its initial weights from that
    generator meanwhile (under ``GLOBAL_RNG``, which captures do not hold), gets the weights it
    would get alone. The interleaving is forced: run B is seeded, run A captures, B builds."""
    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", epochs=1, device="cpu")
    alone = ssgan.train.train(cfg.replace(seed=2, graphs="off"), digits, split)
    a_capturing, b_seeded, a_undone = threading.Event(), threading.Event(), threading.Event()
    capture, restore, build = ssgan.graphs.GraphedSteps._capture, ssgan.graphs._Snapshot.restore, ssgan.train.build_models

    def capture_after_b_is_seeded(self, saved):
        a_capturing.set()
        assert b_seeded.wait(30)
        capture(self, saved)

    def restore_and_say_so(self):
        restore(self)
        a_undone.set()

    def build_after_a_has_undone(cfg, *args):
        if cfg.seed == 2:  # B: seeded by train() just before this call, under GLOBAL_RNG
            b_seeded.set()
            assert a_undone.wait(30)
        return build(cfg, *args)

    monkeypatch.setattr(ssgan.graphs.GraphedSteps, "_capture", capture_after_b_is_seeded)
    monkeypatch.setattr(ssgan.graphs._Snapshot, "restore", restore_and_say_so)
    monkeypatch.setattr(ssgan.train, "build_models", build_after_a_has_undone)
    b = _meanwhile(a_capturing, lambda: ssgan.train.train(cfg.replace(seed=2, graphs="off"), digits, split))
    with simulate():
        ssgan.train.train(cfg.replace(seed=1, graphs="on"), digits, split)
    _same_networks(alone, b())


def test_a_reference_network_trained_for_quality_scores_leaves_other_set_ups_alone(digits, tmp_path, monkeypatch):
    """``--quality-every`` may train the dataset's reference network on first use, seeding and
    drawing from torch's global generator for several epochs; it does so under ``GLOBAL_RNG``,
    so another run's set-up waits, and both come out as they would alone. The interleaving is
    offered: run A's reference training waits up to 2 s for run B's set-up to start."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", epochs=1, device="cpu")
    b_alone = ssgan.train.train(cfg.replace(seed=2), digits, split)
    reference_alone, _ = ssgan.reference.train_reference(digits)
    a_training, b_setting_up = threading.Event(), threading.Event()
    train_reference, build = ssgan.reference.train_reference, ssgan.train.build_models

    def train_reference_when_b_sets_up(*args, **kwargs):
        a_training.set()
        b_setting_up.wait(2)  # not before B's set-up ends, if the lock holds
        return train_reference(*args, **kwargs)

    def build_and_say_so(cfg, *args):
        if cfg.seed == 2:
            b_setting_up.set()
        return build(cfg, *args)

    monkeypatch.setattr(ssgan.reference, "train_reference", train_reference_when_b_sets_up)
    monkeypatch.setattr(ssgan.train, "build_models", build_and_say_so)
    b = _meanwhile(a_training, lambda: ssgan.train.train(cfg.replace(seed=2), digits, split))
    a = ssgan.train.train(cfg.replace(seed=1, quality_every=1, quality_samples=200), digits, split)
    assert a.history[-1]["fid"] is not None
    _same_networks(b_alone, b())
    cached = torch.load(next((tmp_path / "cache" / "ssgan").glob("reference-*.pt")), weights_only=True)["state_dict"]
    assert_same_state(reference_alone.state_dict(), cached)
