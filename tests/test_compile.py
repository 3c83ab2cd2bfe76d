"""``--compile``: the compiled networks compute the eager ones' gradients, ride the captured
path, keep checkpoints in the eager form, resume, and fail in one line."""

import copy
import os
import subprocess
import sys
from contextlib import nullcontext

import pytest
import torch
from click.testing import CliRunner
from torch.optim.swa_utils import AveragedModel

from conftest import SignalAt, assert_runs_agree, assert_same_state, cuda, torch_threads
import ssgan.compiling
from ssgan.cli import main
from ssgan.compiling import compile_networks
from ssgan.config import Config
from ssgan.diagnostics import HistoricalAverage
from ssgan.graphsim import Recall, simulate
from ssgan.models import build_models
from ssgan.runs import fit, read_metrics, resume
from ssgan.splits import make_split
from ssgan.steps import Nets, discriminator_step, generator_step
from ssgan.stops import Interrupted
from ssgan.train import _ema_update, load_checkpoint, train

# D's noise off: compiled noise comes from another random stream than the eager one
QUIET_D = {"d_input_noise": 0.0, "d_hidden_noise": 0.0}
# The training runs below are fp32 (the default on CUDA), so that they share compiled variants
# and compile less.


def _frozen_nets(G, D) -> Nets:
    """Nets whose optimisers do not move the weights (rate 0), so that each step leaves its
    gradients to compare and both copies stay equal."""
    ema = AveragedModel(D, multi_avg_fn=_ema_update(0.999), use_buffers=True)
    return Nets(G, D, G, D, ema, torch.optim.Adam(D.parameters(), lr=0.0), torch.optim.Adam(G.parameters(), lr=0.0),
                HistoricalAverage(list(D.parameters()), 0.0), HistoricalAverage(list(G.parameters()), 0.0))


def test_compiled_steps_compute_the_eager_gradients(digits):
    """In float64, so that rounding cannot flip a ReLU between the two and the comparison can
    be tight: the gradients differ by about 2e-14 of their largest here (in float32 the first
    layer's differed by up to 0.1 % with torch 2.11). The losses are taken in float32."""
    torch.manual_seed(0)
    cfg = Config(dataset="digits", **QUIET_D)
    G, D = (net.double() for net in build_models(cfg, digits.shape, digits.n_classes))
    eager, compiled = _frozen_nets(G, D), _frozen_nets(copy.deepcopy(G), copy.deepcopy(D))
    compile_networks(compiled.G, compiled.D)
    x = torch.from_numpy(digits.x_train[:300]).double()
    y = torch.from_numpy(digits.y_train[:100])
    z_d, z_g = G.sample_z(100).double(), G.sample_z(100).double()
    results = []
    for nets in (eager, compiled):
        values = discriminator_step(cfg, nets, x[:100], y, x[100:200], z_d, nullcontext)
        grads = [p.grad.clone() for p in nets.D.parameters() if p.requires_grad]
        values.update(generator_step(cfg, nets, x[200:], z_g, nullcontext))
        grads += [p.grad.clone() for p in nets.G.parameters() if p.requires_grad]
        results.append(({k: float(v) for k, v in values.items()}, grads))
    (a_values, a_grads), (b_values, b_grads) = results
    assert b_values == pytest.approx(a_values, rel=1e-6, abs=1e-9)
    assert len(a_grads) == len(b_grads) > 0
    for a, b in zip(a_grads, b_grads):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10 * float(a.abs().max()))
    # compiled in place: the same state_dict keys, so checkpoints load into eager networks
    assert compiled.D.state_dict().keys() == D.state_dict().keys()


def test_compiled_networks_follow_the_same_path_as_graphs(digits):
    """The captured loop (simulated on the CPU: its warm-up, batches gathered in the graphs and
    device sums; graphs that call their function again, since a trace would not see compiled
    kernels)
    with compiled networks ends where the eager loop with the same compiled networks ends: the
    same G bit for bit, and D's average up to the device EMA's rounding. One thread: with two,
    the compiled kernels of the two loops round differently from the third G step on."""
    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", epochs=1, device="cpu", compile=True, precision="fp32", **QUIET_D)
    with torch_threads(1), simulate(graph=Recall):
        eager = train(cfg.replace(graphs="off"), digits, split)
        graphs = train(cfg.replace(graphs="on"), digits, split)
    assert_same_state(eager.generator.state_dict(), graphs.generator.state_dict())
    a, b = eager.discriminator.state_dict(), graphs.discriminator.state_dict()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)


def test_a_compiled_run_checkpoints_and_resumes_where_it_stopped(tmp_path):
    """``ssgan fit --compile``, D's noise on: its checkpoint has the eager networks' keys, and
    the run stopped by SIGINT inside its first epoch and resumed (compiling again) ends with
    the weights of the run that was never stopped. Both in this process: compiled kernels are
    kept per process, and those compiled at one thread (above) differ from a fresh process's."""
    args = ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu", "--compile",
            "--precision", "fp32", "--quiet"]
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    whole = next((tmp_path / "a").iterdir())
    cfg = Config(dataset="digits", labels=50, epochs=2, device="cpu", compile=True, precision="fp32",
                 out=str(tmp_path / "b"))
    with pytest.raises(Interrupted) as info:
        fit(cfg, SignalAt(1, 5))
    resume(info.value.run_dir)
    a, b = (load_checkpoint(d / "checkpoint.pt") for d in (whole, info.value.run_dir))
    assert a["config"]["compile"] is True and a["epoch"] == b["epoch"] == 2
    assert a["discriminator"].keys() == build_models(Config(dataset="digits"), (1, 8, 8), 10)[1].state_dict().keys()
    for part in ("generator", "discriminator", "ema"):
        assert_same_state(a[part], b[part])
    assert [m["epoch"] for m in read_metrics(info.value.run_dir)] == [1, 2]


def test_a_quiet_compiled_fit_prints_nothing(tmp_path):
    """Not even torch's log line about CUDA extensions that Inductor's C++ build writes on a
    CPU-only machine (a fresh process, since that line is written once per process). Torch's
    compiler warns on Python 3.13.0 itself that its guards run slower before 3.13.1: advice
    about the interpreter, not ssgan's output, so that one message is filtered out here."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore:Guards may run slower on Python 3.13.0:RuntimeWarning"}
    r = subprocess.run([sys.executable, "-m", "ssgan", "fit", "--dataset", "digits", "--labels", "50", "--epochs", "1",
                        "--device", "cpu", "--compile", "--precision", "fp32", "--quiet", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_a_compile_failure_is_one_line_and_leaves_no_run_folder(tmp_path, monkeypatch):
    def broken(graph_module, example_inputs):
        raise RuntimeError("no C++ compiler found\nthe rest of the report")

    monkeypatch.setattr(ssgan.compiling, "BACKEND", broken)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu",
                                  "--compile", "--out", str(tmp_path), "--quiet"])
    assert r.exit_code == 2
    assert r.output == ("Error: --compile: torch.compile failed (RuntimeError: no C++ compiler found); "
                        "train without --compile\n")
    assert not list(tmp_path.iterdir())  # the folder this fit made is gone: nothing was trained in it


@cuda
def test_compiled_networks_captured_on_cuda_follow_the_uncaptured_ones(digits):
    """Inductor's kernels inside the CUDA graphs: the captured loop ends near the eager loop
    with the same compiled networks (the tolerance of test_graphs' CUDA comparison)."""
    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", labels=50, epochs=1, device="cuda", compile=True, sample_every=1, **QUIET_D)
    eager = train(cfg.replace(graphs="off"), digits, split)
    graphs = train(cfg.replace(graphs="on"), digits, split)
    assert_runs_agree(eager, graphs)
