"""ssgan fit under torchrun: two gloo processes on the CPU against one, the command line,
signals and resume across world sizes. Each test takes seconds."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from ssgan.config import Config
from ssgan.data import Dataset, load_digits
from ssgan.runs import read_metrics
from ssgan.splits import make_split
from ssgan.train import load_checkpoint, train

# noise and dropout off, G without batch norm: then the global batch is the only randomness.
# SGD, because Adam divides by the root of tiny second moments and so magnifies the float
# rounding in which an all-reduced mean differs from a one-process mean (up to 1.4e-3 after
# these 8 steps, measured), while SGD keeps it at the rounding level; fp32, because bf16 rounds
# far above that level; the rate decayed from mid-run, as when the tolerance was measured;
# softplus in D, because a ReLU whose input lies within rounding of zero can switch between one
# process and two and move the weights far past rounding (1.9e-4 after these 8 steps with the
# fused weight norm; 4.8e-7 with softplus).
EXACT = dict(dataset="digits", epochs=1, batch_size=50, device="cpu", d_input_noise=0.0, d_hidden_noise=0.0,
             g_norm="layer", d_activation="softplus", optimizer="sgd", lr=0.01, precision="fp32",
             lr_decay_start=0.5, ema_decay=0.999)


def _small_digits() -> tuple[Dataset, object]:
    d = load_digits()
    data = Dataset("digits", d.x_train[:400], d.y_train[:400], d.x_test, d.y_test, 10)
    return data, make_split(data, 50, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, changes: dict) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    data, split = _small_digits()
    r = train(Config(**{**EXACT, **changes}), data, split)
    if rank == 0:
        torch.save({"G": r.generator.state_dict(), "D": r.discriminator.state_dict(),
                    "loss_gen": r.history[-1]["loss_gen"], "ema_probe": r.history[-1].get("ema_probe")}, out)
    from ssgan.distributed import shutdown
    shutdown()  # (as the command line leaves)


def _leaver(rank: int, port: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from ssgan.distributed import all_reduce, setup, shutdown

    setup(torch.device("cpu"))
    all_reduce(torch.ones(3))
    if rank == 1:
        time.sleep(0.5)  # (rank 0, as one that failed, has left)
    shutdown()


def test_a_rank_that_finished_leaves_quietly_where_another_failed():
    """A rank that leaves the group after another has left it (on a failure, which that rank
    reports) does so without a traceback (mp.spawn raises for a worker that raised)."""
    mp.spawn(_leaver, args=(_free_port(),), nprocs=2, join=True)


def _thread_names() -> list[str]:
    return [Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in os.listdir("/proc/self/task")]


def _freer(rank: int, port: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from ssgan.distributed import all_reduce, setup, shutdown, wrap

    setup(torch.device("cpu"))
    net = wrap(torch.nn.Linear(4, 2), torch.device("cpu"))
    net(torch.randn(8, 4)).sum().backward()
    all_reduce(torch.ones(3))
    before = [n for n in _thread_names() if "gloo" in n]
    assert before, "gloo's threads no longer carry its names: this test would check nothing"
    shutdown()  # with the wrapper still held here, as a traceback's frames hold a failed run's
    left = [n for n in _thread_names() if "gloo" in n]
    assert not left, f"gloo threads outlive shutdown: {left}"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread names are read from Linux's /proc")
def test_shutdown_frees_the_group_and_its_threads():
    """No gloo thread is left to release tensors during the interpreter's finalization, where
    it would abort the process (see distributed.shutdown), even with a DDP wrapper alive."""
    mp.spawn(_freer, args=(_free_port(),), nprocs=2, join=True)


@pytest.mark.parametrize("changes", [dict(), dict(g_loss="moment-matching", moment_space="features"),
                                     dict(ema_probe="0,0.5")])
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, changes):
    out = str(tmp_path / "two.pt")
    mp.spawn(_worker, args=(2, _free_port(), out, changes), nprocs=2, join=True)
    two = torch.load(out)
    data, split = _small_digits()
    one = train(Config(**{**EXACT, **changes}), data, split)
    for name, module in (("G", one.generator), ("D", one.discriminator)):
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                assert torch.allclose(v, two[name][k], rtol=0, atol=1e-5), (name, k, (v - two[name][k]).abs().max())
    assert two["loss_gen"] == pytest.approx(one.history[-1]["loss_gen"], rel=1e-5)
    # --ema-probe's averages (D itself, and a short average) score alike under two processes
    assert two["ema_probe"] == one.history[-1].get("ema_probe")
    assert (two["ema_probe"] is not None) == ("ema_probe" in changes)


def _torchrun(*args, **kw) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                             "-m", "ssgan", "fit", *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_torchrun_fit_makes_one_complete_run_folder(tmp_path):
    p = _torchrun("--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu", "--out", tmp_path,
                  "--json", "--adv-weight", "0.2")
    out, _ = p.communicate(timeout=240)
    assert p.returncode == 0, out
    assert out.count("Warning: --adv-weight has no effect in this run") == 1, out  # said by rank 0 alone
    runs = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert len(runs) == 1, runs
    run = runs[0]
    for f in ("config.json", "split.json", "command.txt", "metrics.jsonl", "checkpoint.pt", "samples/epoch_0002.png"):
        assert (run / f).is_file(), f
    assert json.loads((run / "config.json").read_text())["nproc"] == 2
    metrics = read_metrics(run)
    assert [m["epoch"] for m in metrics] == [1, 2] and metrics[-1]["world_size"] == 2
    assert "--nproc 2" in (run / "command.txt").read_text()
    assert out.count('"test_acc"') == 1  # only rank 0 prints the result


def test_nproc_with_a_batch_that_does_not_split_is_one_line(tmp_path):
    """(The launcher leaves a setting without effect to the ranks to say, so it says nothing here.)"""
    r = subprocess.run([sys.executable, "-m", "ssgan", "fit", "--dataset", "digits", "--nproc", "2", "--adv-weight", "0.2",
                        "--batch-size", "33", "--out", str(tmp_path / "runs")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == "Error: --batch-size 33 is the global batch and must divide by the 2 processes: use a multiple of 2"
    assert not (tmp_path / "runs").exists()


def test_sigterm_to_two_processes_then_resume_in_one(tmp_path):
    """SIGTERM to `ssgan fit --nproc 2` (torchrun's agent runs in that process) stops both
    ranks with one checkpoint and one line. With torchrun in a child process of its own, the
    signal ended the parent alone and the job trained on, orphaned, to its last epoch."""
    p = subprocess.Popen([sys.executable, "-m", "ssgan", "fit", "--dataset", "digits", "--labels", "50", "--epochs", "5",
                          "--device", "cpu", "--out", str(tmp_path), "--quiet", "--nproc", "2"],
                         env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    deadline = time.time() + 180
    metrics = None
    while time.time() < deadline and p.poll() is None:
        metrics = next(tmp_path.glob("*/metrics.jsonl"), None)
        if metrics is not None and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    assert p.poll() is None, p.communicate()[0]
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=120)
    run = metrics.parent
    assert p.returncode == 128 + signal.SIGTERM and re.fullmatch(  # rank 0's line, after writing; no log of torchrun's
        rf"Interrupted \(SIGTERM at epoch \d+, iteration \d+\); checkpoint written. "
        rf"Resume with: ssgan fit --resume {re.escape(str(run))}\n", out), out
    ckpt = load_checkpoint(run / "checkpoint.pt")
    stopped = ckpt["epoch"] + (ckpt["position"] is not None)
    assert 1 <= ckpt["epoch"] < 5 and ckpt["world_size"] == 2, out
    r = subprocess.run([sys.executable, "-m", "ssgan", "fit", "--resume", str(run), "--quiet"],
                       capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr
    epochs = [m["epoch"] for m in read_metrics(run)]
    assert epochs == list(range(1, 6)) and stopped >= 1
    assert "world_size" not in read_metrics(run)[-1]  # the last epochs ran in one process


def test_resume_of_a_run_without_checkpoint_starts_it_afresh(tmp_path):
    """A run killed before its first checkpoint is trained from the start, in its own folder."""
    from ssgan.runs import prepare, resume, start_run

    cfg = Config(dataset="digits", labels=50, epochs=1, device="cpu", out=str(tmp_path))
    data, split, scaler = prepare(cfg)
    run_dir = start_run(tmp_path, data, split, 1, cfg.to_dict(), scaler=scaler)
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "half": true}\n')  # a line no checkpoint kept
    path, result = resume(run_dir)
    assert path == run_dir and [m["epoch"] for m in read_metrics(run_dir)] == [1]
    assert "half" not in read_metrics(run_dir)[0] and (run_dir / "checkpoint.pt").is_file()


def test_elastic_restart_resumes_the_jobs_run_folder(tmp_path):
    """A worker killed with SIGKILL: torchrun (--max-restarts 1) starts the job again, and
    the new workers resume the run folder this job made from its last checkpoint."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                          "--max-restarts=1", "-m", "ssgan", "fit", "--dataset", "digits", "--labels", "50",
                          "--epochs", "5", "--device", "cpu", "--out", str(tmp_path), "--quiet"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and p.poll() is None:
        ckpt = next(tmp_path.glob("*/checkpoint.pt"), None)
        if ckpt is not None and (ckpt.parent / "metrics.jsonl").read_text().count("\n") >= 2:
            break
        time.sleep(0.2)
    workers = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    assert p.poll() is None and workers, p.communicate()[0]
    os.kill(int(workers[-1]), signal.SIGKILL)
    out, _ = p.communicate(timeout=240)
    assert p.returncode == 0, out
    runs = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert len(runs) == 1 and [m["epoch"] for m in read_metrics(runs[0])] == list(range(1, 6)), out


class _DDP213:  # DistributedDataParallel's signature from torch 2.13 on, reduced to what wrap passes
    def __init__(self, module, device_ids=None, forward_sync_buffers=None):
        self.options = {"device_ids": device_ids, "forward_sync_buffers": forward_sync_buffers}


class _DDP211:  # and before 2.13 (the GPU machines have 2.11)
    def __init__(self, module, device_ids=None, broadcast_buffers=None):
        self.options = {"device_ids": device_ids, "broadcast_buffers": broadcast_buffers}


@pytest.mark.parametrize("ddp, option", [(_DDP213, "forward_sync_buffers"), (_DDP211, "broadcast_buffers")])
def test_wrap_turns_off_buffer_sync_under_either_name(monkeypatch, ddp, option):
    """torch renamed DDP's buffer-sync option in 2.13; ``wrap`` passes False under the name
    that the installed DistributedDataParallel takes (the other name is a TypeError)."""
    from ssgan import distributed

    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", ddp)
    wrapped = distributed.wrap(torch.nn.Linear(2, 2), torch.device("cpu"))
    assert wrapped.options == {"device_ids": None, option: False}
