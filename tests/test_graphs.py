"""CUDA graphs of the training steps: the option logic and the pieces the CPU can run here;
the captured path itself is tested where CUDA is available (skipped otherwise)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.optim.swa_utils import AveragedModel

import ssgan.graphs
import ssgan.train
from conftest import ROOT, SignalAt, Warnings, assert_runs_agree, assert_same_state, cuda, write_npz
from ssgan import losses
from ssgan.cli import main
from ssgan.config import Config
from ssgan.errors import SSGANError
from ssgan.graphs import DeviceEMA, graph_blockers, portable_state, to_eager, use_graphs
from ssgan.runs import fit, prepare, read_metrics, resume
from ssgan.splits import make_split
from ssgan.stops import Diverged, Interrupted
from ssgan.train import Reporter, _ema_update, load_checkpoint, train

CUDA = torch.device("cuda")  # a device name; no GPU is touched by the option logic
CPU = torch.device("cpu")


def test_graphs_option_resolves_per_device_and_options():
    warned = []
    assert use_graphs(Config(), CUDA, False, warned.append) and not warned
    assert not use_graphs(Config(graphs="off"), CUDA, False, warned.append) and not warned
    assert not use_graphs(Config(), CPU, False, warned.append) and not warned  # the CPU is eager, silently
    assert not use_graphs(Config(optimizer="sgd"), CUDA, False, warned.append)
    assert warned == ["--graphs auto: training eagerly, not as CUDA graphs, because --optimizer sgd: "
                      "only Adam is captured"]
    assert graph_blockers(Config(hist_avg_d=0.1), CUDA, True) == [
        "several processes (torchrun) train eagerly", "historical averaging keeps its running mean on the host"]
    assert graph_blockers(Config(entropy_weight=0.1, entropy_epochs=20), CUDA, False) == []
    with pytest.raises(SSGANError, match="--graphs on: the steps cannot be captured .*CUDA device.*cpu"):
        use_graphs(Config(graphs="on"), CPU, False, warned.append)


def test_graphs_on_without_cuda_is_one_line(tmp_path):
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu",
                                  "--graphs", "on", "--out", str(tmp_path), "--quiet"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--graphs on" in r.output
    assert not tmp_path.exists() or not list(tmp_path.iterdir())  # no run folder was started
    r = CliRunner().invoke(main, ["fit", "--graphs", "sometimes"])
    assert r.exit_code == 2 and "sometimes" in r.output


def test_device_ema_matches_the_eager_average():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    eager = AveragedModel(net, multi_avg_fn=_ema_update(0.99), use_buffers=True)
    device = AveragedModel(net, multi_avg_fn=_ema_update(0.99), use_buffers=True)
    ema = DeviceEMA(device, net, 0.99)
    for _ in range(30):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net(torch.randn(8, 4))  # moves the batch-norm statistics and counter
        eager.update_parameters(net)
        ema.update()
    a, b = eager.state_dict(), device.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    assert int(device.n_averaged) == 30


def test_portable_state_is_the_eager_form():
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([p], lr=0.003)
    p.sum().backward()
    opt.step()
    state = opt.state_dict()
    state["param_groups"][0].update(lr=torch.tensor(0.001), capturable=True)
    out = portable_state(state)
    assert out["param_groups"][0]["lr"] == pytest.approx(0.001) and out["param_groups"][0]["capturable"] is False
    assert isinstance(state["param_groups"][0]["lr"], torch.Tensor)  # the input is left alone
    fresh = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))], lr=0.003)
    fresh.load_state_dict(out)
    fresh.param_groups[0]["params"][0].sum().backward()
    fresh.step()  # an eager CPU optimizer steps from it


def test_to_eager_leaves_the_fused_kernels_step_counts_beside_the_weights():
    """After a failed capture the fused Adam keeps its step counts on the weights' device (on a
    GPU it refuses counts on the CPU, where the foreach kernel keeps them). A "meta" parameter
    stands in for one on a GPU: nothing is computed, the counts only move."""
    p = torch.nn.Parameter(torch.ones(2, device="meta"))
    opt = torch.optim.Adam([p], lr=0.003, fused=True)
    opt.state[p] = {"step": torch.zeros((), device="meta")}
    to_eager(opt)
    assert opt.state[p]["step"].device.type == "meta"
    assert isinstance(opt.param_groups[0]["lr"], float) and not opt.param_groups[0]["capturable"]


OPTIONS = {"plain": {}, "translate": {"translate": 1}, "entropy-epochs": {"entropy_weight": 0.5, "entropy_epochs": 1},
           "lr-decay": {"lr_decay_start": 0.3}, "noise-dropout": {"d_input_noise": 0.3, "d_dropout": 0.3},
           "moments": {"g_loss": "moment-matching", "moment_space": "features"}, "mbd": {"mbd_kernels": 20},
           "consistency": {"consistency_weight": 10.0, "d_input_noise": 0.3, "d_dropout": 0.3},
           "labels-only": {"unlabeled_weight": 0.0}, "dcgan": {"arch": "dcgan"}}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_simulated_graph_path_follows_the_eager_loop(digits, simulated, options):
    """Both paths draw the same random numbers on the CPU: G and D end with the same weights;
    the EMA and the epoch means differ only by rounding (device sums in fp32). The graphs keep
    the Python values of their capture, so what changes between iterations must reach them
    through tensors: D's noise and dropout and ``--translate``'s shifts are drawn inside the
    steps, ``--entropy-epochs`` switches its term off through a device tensor, and the
    decaying rate is Adam's lr tensor, filled in place (tests/test_graphsim.py has the control)."""
    split = make_split(digits, 50, 1)
    cfg = Config(**{"dataset": "digits", "epochs": 2, "device": "cpu", "d_input_noise": 0.0, "d_hidden_noise": 0.0,
                    "d_steps": 2, "g_steps": 2, **options})
    eager = train(cfg.replace(graphs="off"), digits, split)
    graphs = train(cfg.replace(graphs="on"), digits, split)
    assert_same_state(eager.generator.state_dict(), graphs.generator.state_dict())
    assert_same_state(eager.discriminator.state_dict(), graphs.discriminator.state_dict(), rtol=1e-4, atol=1e-5)
    for a, b in zip(eager.history, graphs.history):
        for key in ("loss_lab", "loss_unl", "loss_gen", "loss_ent", "loss_con", "grad_g_first", "d_real"):
            if a.get(key) is None:  # a metric of the generator's side, with labels only
                assert b.get(key) is None, key
            else:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
        assert b["test_errors"] == a["test_errors"]


def test_simulated_graph_path_of_the_colour_networks(tmp_path, simulated):
    """The reference CIFAR-10 pair (``salimans-cnn``: weight-normalised convolutions, dropout,
    network-in-network layers, a batch-normalised deconvolutional G), which is what a GPU is
    for: the captured loop ends with the eager loop's G on a few random colour images."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 4)
    x = (rng.random((40, 3, 32, 32)) * 0.5 + y[:, None, None, None] / 20).astype(np.float32)
    spec = write_npz(tmp_path / "colour.npz", x=x, y=np.where(np.arange(40) % 4 == 0, y, -1), x_test=x, y_test=y)
    cfg = Config(dataset=spec, arch="salimans-cnn", epochs=1, batch_size=10, init_batch=20, device="cpu",
                 precision="fp32", d_input_noise=0.0, d_hidden_noise=0.0)
    data, split, _ = prepare(cfg)
    eager = train(cfg.replace(graphs="off"), data, split)
    graphs = train(cfg.replace(graphs="on"), data, split)
    assert_same_state(eager.generator.state_dict(), graphs.generator.state_dict())
    assert_same_state(eager.discriminator.state_dict(), graphs.discriminator.state_dict(), rtol=1e-4, atol=1e-5)


def _whole_and_resumed(tmp_path, device: str):
    """Checkpoints and metrics of a 2-epoch captured run, and of the same run stopped by
    SIGINT after batch 5 and resumed."""
    cfg = Config(dataset="digits", labels=50, epochs=2, device=device, graphs="on", out=str(tmp_path / "a"))
    whole, _ = fit(cfg)
    with pytest.raises(Interrupted) as info:
        fit(cfg.replace(out=str(tmp_path / "b")), SignalAt(1, 5))
    resume(info.value.run_dir)
    runs = (whole, info.value.run_dir)
    return [load_checkpoint(d / "checkpoint.pt") for d in runs], [read_metrics(d) for d in runs]


def test_simulated_graph_path_resumes_where_it_stopped(tmp_path, simulated):
    (a, b), (ma, mb) = _whole_and_resumed(tmp_path, "cpu")
    for part in ("generator", "discriminator", "ema"):
        assert_same_state(a[part], b[part])
    assert [m["epoch"] for m in mb] == [1, 2]
    for key in ("loss_lab", "loss_unl", "loss_gen", "test_acc"):  # mid-epoch sums carried over
        assert mb[0][key] == pytest.approx(ma[0][key], rel=1e-5)


def test_simulated_graph_path_stops_on_nan_at_the_epoch_read(tmp_path, simulated, monkeypatch):
    """A NaN that enters the D step in epoch 2 (through a tensor the replayed graph reads, as
    data reach a CUDA graph) stops the run at that epoch's read, with epoch 1's checkpoint."""
    scale = torch.ones(())
    real = losses.unsupervised_loss
    monkeypatch.setattr(losses, "unsupervised_loss", lambda *args, **kwargs: real(*args, **kwargs) * scale)

    class PoisonAt(Reporter):
        def on_batch(self, epoch, iteration, values):
            if (epoch, iteration) == (2, 4):
                scale.fill_(float("nan"))

    with pytest.raises(Diverged, match=r"loss_\w+ became nan in epoch 2: training diverged"):
        fit(Config(dataset="digits", labels=50, epochs=3, device="cpu", graphs="on", out=str(tmp_path)), PoisonAt())
    assert load_checkpoint(next(tmp_path.iterdir()) / "checkpoint.pt")["epoch"] == 1


def test_a_failed_capture_falls_back_to_the_eager_loop(digits, simulated, monkeypatch):
    """Under auto, a capture that fails leaves one line and trains exactly as the eager loop;
    under on it is a one-line error."""
    def broken(fn, pool=None, stream=None, generators=()):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    monkeypatch.setattr(ssgan.graphs, "record", broken)
    monkeypatch.setattr(ssgan.train, "use_graphs", lambda cfg, device, distributed, warn: cfg.graphs != "off")

    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", epochs=1, device="cpu")
    warned = Warnings()
    fallback = train(cfg, digits, split, reporter=warned)
    assert warned.lines == ["--graphs auto: capturing the steps failed (operation not permitted when stream is "
                            "capturing); training eagerly"]
    eager = train(cfg.replace(graphs="off"), digits, split)
    for module in ("generator", "discriminator"):
        assert_same_state(getattr(eager, module).state_dict(), getattr(fallback, module).state_dict())
    with pytest.raises(SSGANError, match=r"^--graphs on: capturing the steps failed \(operation not permitted"):
        train(cfg.replace(graphs="on"), digits, split)


def _digits_cfg(**changes):
    # noise and dropout off, so that eager and captured steps draw the same random numbers
    return Config(**{"dataset": "digits", "labels": 50, "epochs": 1, "device": "cuda", "d_input_noise": 0.0,
                     "d_hidden_noise": 0.0, "sample_every": 1, **changes})


@cuda
@pytest.mark.parametrize("options", [{}, {"epochs": 2, "entropy_weight": 0.5, "entropy_epochs": 1}],
                         ids=["default", "entropy-epochs"])
def test_captured_steps_give_the_eager_weights(digits, options):
    split = make_split(digits, 50, 1)
    eager = train(_digits_cfg(graphs="off", **options), digits, split)
    graphs = train(_digits_cfg(graphs="on", **options), digits, split)
    assert_runs_agree(eager, graphs)


@cuda
def test_captured_run_resumes_where_it_stopped(tmp_path):
    (a, b), (ma, mb) = _whole_and_resumed(tmp_path, "cuda")
    for part in ("generator", "discriminator", "ema"):
        for k, v in a[part].items():
            if v.is_floating_point():
                assert torch.allclose(v, b[part][k], rtol=1e-4, atol=1e-5), (part, k)
    assert [m["epoch"] for m in mb] == [1, 2]
    assert mb[-1]["test_acc"] == pytest.approx(ma[-1]["test_acc"], abs=0.01)


@cuda
def test_a_failed_capture_on_cuda_trains_on_eagerly(digits, monkeypatch):
    """After a capture fails on CUDA, Adam's state goes back to the eager form (the fused
    kernel wants its step counts on the GPU, beside the weights) and training goes on as the
    eager loop's."""
    def broken(fn, pool=None, stream=None, generators=()):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(ssgan.graphs, "record", broken)
    split = make_split(digits, 50, 1)
    warned = Warnings()
    fallback = train(_digits_cfg(graphs="auto"), digits, split, reporter=warned)
    assert warned.lines == ["--graphs auto: capturing the steps failed (operation not permitted when stream is "
                            "capturing); training eagerly"]
    assert_runs_agree(train(_digits_cfg(graphs="off"), digits, split), fallback)


@cuda
def test_auto_falls_back_with_one_line_for_sgd(tmp_path):
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cuda",
                                  "--optimizer", "sgd", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert "training eagerly, not as CUDA graphs, because --optimizer sgd" in r.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script would run its whole measurement")
def test_gpu_check_script_stops_in_one_line_without_a_gpu(tmp_path):
    script = ROOT / "benchmarks" / "gpu_check.sh"
    res = subprocess.run(["bash", str(script), str(tmp_path / "out")], capture_output=True, text=True,
                         env={**os.environ, "PYTHON": sys.executable, "DEVICE": "cuda"})
    lines = (res.stdout + res.stderr).strip().splitlines()
    assert res.returncode == 2 and lines == ["gpu_check.sh: torch sees no CUDA GPU here; run it on a GPU machine, "
                                             "or set DEVICE=cpu for a smoke test"]


def test_gpu_check_script_stops_in_one_line_where_ssgan_cannot_be_imported(tmp_path):
    """On a GPU machine the script runs ssgan from the checkout with the machine's own packages:
    one that breaks ssgan's import (here a stand-in for click that fails to import) stops it
    before its first part, with the line that says what to do, instead of every part failing."""
    fake = tmp_path / "fake" / "click"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('this click is broken\\nits second line')\n")
    script = ROOT / "benchmarks" / "gpu_check.sh"
    res = subprocess.run(["bash", str(script), str(tmp_path / "out")], capture_output=True, text=True,
                         env={**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu",
                              "PYTHONPATH": str(fake.parent)}, timeout=120)  # (without the stop: minutes of parts)
    lines = (res.stdout + res.stderr).strip().splitlines()
    assert res.returncode == 2, res.stdout + res.stderr
    assert lines[-2].startswith("gpu_check.sh: requirements not met here: ")
    assert lines[-1] == ("gpu_check.sh: ssgan cannot be imported here (ImportError: this click is broken); carry "
                         "wheels of the packages named above (the device tool's README says how) and run it again")
    assert not any(line.startswith("== ") for line in lines)  # no part started
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["log.txt"]
