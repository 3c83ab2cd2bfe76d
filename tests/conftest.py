import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each worker of `pytest -n N` (the default, pyproject.toml) computes on one thread, and so
    # do the processes its tests start, unless told otherwise: with a pool of threads per worker
    # on as many cores as workers, threads spinning as they wait for each other made a third of
    # the suite take 9 minutes, where one thread each ran all of it in 474 s (2 cores, 2
    # workers; 715 s in one process).
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import importlib
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from ssgan.data import load_digits
from ssgan.graphsim import simulate
from ssgan.train import TIMING_KEYS, Reporter

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def cuda(test):
    """A test that needs a CUDA GPU: skipped without one; ``pytest -m cuda`` selects them all
    (benchmarks/gpu_check.sh runs them so on a GPU)."""
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")(test))


@pytest.fixture(scope="session")
def digits():
    return load_digits()


@contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` intra-op threads, then restore the count: bf16, and fp32 on some
    CPUs, sum in an order that depends on it, so bit-exact comparisons must pin it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def interrupt_once_checkpointed(args: list[str], out: Path, runs: int, group: bool = False) -> tuple[int, str]:
    """``python -m ssgan ARGS`` in a process of its own, sent SIGINT once ``runs`` run folders
    under ``out`` hold a checkpoint (or after 120 s): its exit code and stderr. With ``group``
    the process leads a process group of its own and the signal goes to the whole group, as a
    terminal's Ctrl-C does: its children then get it from the terminal and again from it."""
    import os
    import subprocess
    import sys
    import time

    p = subprocess.Popen([sys.executable, "-m", "ssgan", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=group)
    deadline = time.time() + 120
    while len(list(out.glob("*/checkpoint.pt"))) < runs and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    if group:
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    return p.returncode, err


def write_npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture
def benchmark_script(monkeypatch):
    """Import a script of benchmarks/ by its name, ``benchmark_script("speed")``, as it runs: its folder
    first on sys.path, so that it imports the scripts beside it by name, and its module in
    sys.modules (dataclasses and the processes it starts look it up there). The scripts' modules
    imported during the test leave sys.modules with it, so that each test reads them afresh."""
    names = {p.stem for p in BENCHMARKS.glob("*.py")}
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in names & sys.modules.keys():
        monkeypatch.delitem(sys.modules, name)
    yield importlib.import_module
    for name in names & sys.modules.keys():
        del sys.modules[name]


@pytest.fixture
def tiny_npz(tmp_path):
    """60 random 6x6 images of 3 classes, two thirds unlabeled, and a small test set."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = (rng.random((60, 6, 6)) * 0.5 + (y[:, None, None] / 4.0)).astype(np.float32)
    y_masked = y.copy()
    y_masked[np.arange(60) % 3 != 0] = -1
    return write_npz(tmp_path / "tiny.npz", x=x, y=y_masked, x_test=x[:30], y_test=y[:30])


@pytest.fixture
def simulated():
    """The captured path of the loop on the CPU (``--graphs on`` runs take it): batches
    gathered in the graphs, device-side sums read once per epoch, the device EMA, the warm-up
    undone, and graphs that replay the recorded operators with the Python values of their
    capture (:mod:`ssgan.graphsim`); only CUDA itself is missing."""
    with simulate():
        yield


class SignalAt(Reporter):
    """Sends a signal to this process once, after batch ``iteration`` of ``epoch``."""

    def __init__(self, epoch, iteration, signum=signal.SIGINT):
        self.at, self.signum, self.sent = (epoch, iteration), signum, False

    def on_batch(self, epoch, iteration, values):
        if (epoch, iteration) == self.at and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)


class Warnings(Reporter):
    """Keeps the one-line warnings a training run reports, in ``lines``."""

    def __init__(self):
        self.lines = []

    def on_warning(self, message):
        self.lines.append(message)


def without_timings(metrics: list[dict]) -> list[dict]:
    """Epoch metrics less their wall-clock times, for comparing two runs' numbers."""
    return [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in metrics]


def assert_same_state(a: dict, b: dict, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Two state dicts with the same keys and equal tensors: bit for bit by default, or float
    tensors within ``rtol`` and ``atol`` (``torch.allclose``, in float64)."""
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point() and (rtol or atol):
            assert torch.allclose(a[k].double(), b[k].double(), rtol=rtol, atol=atol), k
        else:
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def assert_runs_agree(eager, graphs) -> None:
    """The CUDA tests' comparison of two TrainResults: float weights and the last epoch's
    losses and accuracy within 1e-3 relative (1e-4 absolute)."""
    for module in ("generator", "discriminator"):
        a, b = getattr(eager, module).state_dict(), getattr(graphs, module).state_dict()
        for k in a:
            if a[k].is_floating_point():
                assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-4), (module, k)
    for key in ("loss_lab", "loss_unl", "loss_gen", "test_acc"):
        assert graphs.history[-1][key] == pytest.approx(eager.history[-1][key], rel=1e-3, abs=1e-4)
