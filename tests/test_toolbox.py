"""Every training-toolbox option: reachable from the CLI and config, and doing what it says."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from ssgan.augment import translate
from ssgan.cli import main
from ssgan.config import Config, resolve
from ssgan.data import load_dataset
from ssgan.diagnostics import HistoricalAverage, collapse_indicators, warnings_for
from ssgan.errors import SSGANError
from ssgan.models import MinibatchDiscrimination, VirtualBatchNorm, build_models
from ssgan.models.layers import Dropout
from ssgan.runs import fit
from ssgan.train import _optimizer, load_checkpoint

NOT_TRAINING_OPTIONS = {"quiet", "as_json", "seeds", "parallel", "parallel_mode", "resume", "from_runs", "config_file"}


def test_every_config_field_is_a_fit_option_and_a_toml_key(tmp_path):
    params = {p.name for p in main.commands["fit"].params} - NOT_TRAINING_OPTIONS
    assert params == {f.name for f in dataclasses.fields(Config)}
    toml = tmp_path / "c.toml"
    toml.write_text('g_hidden = [128, 384]\nd_layer_norm = true\nmbd_kernels = 4\noptimizer = "sgd"\n')
    c = resolve(toml, lr_g=0.01)
    assert (c.g_hidden, c.d_layer_norm, c.mbd_kernels, c.optimizer, c.lr_g) == ("128,384", True, 4, "sgd", 0.01)


def _models(**changes):
    torch.manual_seed(0)
    return build_models(Config(**changes), (1, 8, 8), 10)


def _types(model):
    return [type(m) for m in model.modules()]


def test_generator_architecture_options():
    g, _ = _models(g_hidden="128,384,64", g_norm="layer", g_activation="leaky-relu", g_dropout="0.5,0,0.2")
    linears = [m for m in g.body if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [128, 384, 64]
    assert _types(g).count(nn.LayerNorm) == 3 and nn.BatchNorm1d not in _types(g)
    assert [m.p for m in g.body if isinstance(m, nn.Dropout)] == [0.5, 0.2]
    assert all(m.negative_slope == 0.2 for m in g.body if isinstance(m, nn.LeakyReLU))
    g, _ = _models(g_norm="none", g_activation="relu")
    assert nn.BatchNorm1d not in _types(g) and all(m.bias is not None for m in g.body if isinstance(m, nn.Linear))
    g, _ = _models(g_output="none")
    with torch.no_grad():
        g.out.b.fill_(5.0)
    assert g(g.sample_z(4)).max() > 1.0
    g, _ = _models(z_dist="uniform-signed")
    z = g.sample_z(5000)
    assert z.min() < -0.9 and z.max() > 0.9
    g, _ = _models(z_dist="normal")
    assert abs(g.sample_z(5000).std().item() - 1.0) < 0.05


def test_discriminator_architecture_options():
    _, d = _models(d_hidden="64,32", d_activation="leaky-relu", d_layer_norm=True, d_dropout=0.3, fm_layer=0)
    logits, feats = d(torch.rand(6, 1, 8, 8))
    assert [m.v.shape[0] for m in d.hidden] == [64, 32] and logits.shape == (6, 10)
    assert feats.shape == (6, 64)  # fm_layer 0 feeds the first hidden layer's features
    assert _types(d).count(nn.LayerNorm) == 2 and Dropout in _types(d)
    _, d = _models(d_input_noise=0.0, d_hidden_noise=0.0)
    d.train()
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(d(x)[0], d(x)[0])  # no noise at all: deterministic even in training mode


def test_minibatch_discrimination_compares_within_groups_only():
    torch.manual_seed(0)
    mbd = MinibatchDiscrimination(6, kernels=4, kernel_dim=3)
    a, b = torch.randn(5, 6), torch.randn(5, 6)
    out = mbd(torch.cat([a, b]), groups=2)
    assert out.shape == (10, 10) and torch.equal(out[:, :6], torch.cat([a, b]))
    assert torch.allclose(out[:5], mbd(a), atol=1e-6)  # group a does not see group b
    same = mbd(a.repeat(2, 1))  # identical examples are close: larger similarity features
    assert (same[:5, 6:] > out[:5, 6:]).all()
    _, d = _models(mbd_kernels=8, mbd_dim=4)
    assert d.out.v.shape[1] == 250 + 8


def test_virtual_batch_norm_uses_only_the_reference_batch():
    vbn = VirtualBatchNorm(3, n_ref=4)
    ref, x = torch.randn(4, 3), torch.randn(6, 3)
    full = vbn(torch.cat([ref, x]))
    single = vbn(torch.cat([ref, x[2:3]]))
    assert torch.allclose(full[4 + 2], single[4])  # an example's output ignores its batch mates
    g, _ = _models(g_norm="vbn")
    g.eval()
    z = g.sample_z(3)
    assert torch.allclose(g(z)[0], g(z[:1])[0], atol=1e-6)


@pytest.mark.parametrize("init, std", [("normal-0.02", 0.02), ("xavier", (6 / (64 + 1000)) ** 0.5 / 3 ** 0.5)])
def test_weight_init(init, std):
    _, d = _models(init=init)
    assert abs(d.hidden[0].v.std().item() - std) / std < 0.05


def test_historical_averaging_penalty_and_mean():
    p = nn.Parameter(torch.tensor([1.0, 2.0]))
    h = HistoricalAverage([p], weight=0.5)
    loss = p.sum()
    assert h.penalty() == 0.0 and h.penalized(loss) is loss  # nothing added before the first update
    h.update()  # mean of {[1, 2]}
    with torch.no_grad():
        p.copy_(torch.tensor([3.0, 2.0]))
    h.update()  # mean of {[1, 2], [3, 2]} = [2, 2]
    assert torch.equal(h.mean[0], torch.tensor([2.0, 2.0]))
    with torch.no_grad():
        p.copy_(torch.tensor([4.0, 0.0]))
    assert h.penalty().item() == pytest.approx(0.5 * (4 + 4))
    assert h.penalized(p.sum()).item() == pytest.approx(4.0 + 0.5 * (4 + 4))
    off = HistoricalAverage([p], weight=0.0)
    off.update()
    assert off.penalized(loss) is loss


def test_optimizer_options():
    params = [nn.Parameter(torch.zeros(2))]
    opt = _optimizer(Config(optimizer="sgd", beta1=0.9), params, lr=0.1, beta1=None)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9
    opt = _optimizer(Config(lr=0.003), params, lr=None, beta1=0.7)
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 0.003
    assert opt.param_groups[0]["betas"] == (0.7, 0.999)
    opt = _optimizer(Config(beta2=0.9999), params, lr=None, beta1=None)
    assert opt.param_groups[0]["betas"] == (0.5, 0.9999)


def _short_run(tmp_path, **changes):
    # fp32 unless a test asks otherwise: the bf16 that auto picks on some CPUs is an option under test
    cfg = Config(**{"dataset": "digits", "labels": 50, "epochs": 1, "device": "cpu", "out": str(tmp_path),
                    "precision": "fp32", **changes})
    run_dir, result = fit(cfg)
    return run_dir, result


def _steps(opt_state):
    return int(next(iter(opt_state["state"].values()))["step"])


@pytest.mark.parametrize("d_steps, g_steps, expected", [(1, 1, 13), (2, 1, 7), (1, 3, 39), (20, 1, 1)])
def test_d_steps_and_g_steps_set_the_number_of_generator_updates(tmp_path, d_steps, g_steps, expected):
    import warnings

    from ssgan.errors import DataWarning

    with warnings.catch_warnings(record=True) as caught:  # more steps than an epoch's 13 batches: said, not silent
        warnings.simplefilter("always", DataWarning)
        run_dir, _ = _short_run(tmp_path, d_steps=d_steps, g_steps=g_steps)
    said = [str(w.message) for w in caught if issubclass(w.category, DataWarning) and "--d-steps" in str(w.message)]
    assert said == ([] if d_steps <= 13 else ["--d-steps 20 is more than the 13 batches of an epoch, and the count "
                                              "starts again each epoch: the generator steps once an epoch, at its "
                                              "first batch, as with --d-steps 13"])
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    assert _steps(ckpt["opt_d"]) == 13 and _steps(ckpt["opt_g"]) == expected


@pytest.mark.parametrize("changes", [
    dict(mbd_kernels=5), dict(g_norm="vbn"), dict(hist_avg_d=0.01, hist_avg_g=0.01), dict(optimizer="sgd", lr=0.01),
    dict(lr_d=0.001, lr_g=0.002, beta1_d=0.6), dict(init="normal-0.02", data_init=False),
    dict(d_layer_norm=True, d_dropout=0.2, d_activation="leaky-relu", g_dropout="0.5,0"),
    dict(precision="bf16"), dict(translate=1), dict(beta2=0.9999),
])
def test_toolbox_options_train_and_change_the_result(tmp_path, changes):
    _, base = _short_run(tmp_path / "base")
    _, r = _short_run(tmp_path / "opt", **changes)
    assert np.isfinite(r.history[-1]["loss_gen"]) and np.isfinite(r.history[-1]["loss_unl"])
    a = torch.cat([p.flatten() for p in base.discriminator.state_dict().values()])
    b = torch.cat([p.flatten() for p in r.discriminator.state_dict().values()])
    assert a.shape != b.shape or not torch.equal(a, b)


def test_translate_moves_each_image_by_its_own_offset_within_the_shift():
    x = torch.rand(64, 2, 7, 9)
    y = translate(x, 2, torch.Generator().manual_seed(0))
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")  # an independent oracle
    offsets = []
    for i in range(64):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if np.array_equal(padded[i, :, dy:dy + 7, dx:dx + 9], y[i].numpy())]
        assert found, f"image {i} is no translate of its input"
        offsets.append(found[0])
    assert len(set(offsets)) >= 15  # 25 possible offsets, drawn per image
    assert translate(x, 0) is x
    with pytest.raises(ValueError, match="images"):
        translate(torch.rand(4, 10), 1)


def test_translate_passes_gradients_to_the_images_it_moves():
    x = torch.rand(8, 1, 6, 6, requires_grad=True)
    y = translate(x, 1, torch.Generator().manual_seed(1))
    y.sum().backward()
    assert x.grad.sum().item() == y.numel()  # each output pixel reads exactly one input pixel


def test_translate_reaches_every_batch_d_trains_on(tmp_path, monkeypatch):
    import ssgan.steps as steps

    sizes = []
    monkeypatch.setattr(steps, "translate", lambda x, shift, generator=None: sizes.append((len(x), shift)) or x)
    _short_run(tmp_path, translate=2)
    # per iteration: labeled + unlabeled + generated in the D step; generated, then real, in the G step
    assert sizes == [(300, 2), (100, 2), (100, 2)] * 13


def test_diagnostics_in_metrics(tmp_path):
    run_dir, r = _short_run(tmp_path)
    m = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("grad_d_first", "grad_d_last", "grad_g_first", "grad_g_last"):
        assert m[key] > 0
    assert m["sample_spread"] > 0 and 0 <= m["class_entropy"] <= 1 and m["warnings"] == []


def test_collapse_indicators_and_warnings():
    real = torch.rand(50, 4)
    collapsed = collapse_indicators(torch.zeros(50, 4), real, torch.eye(5)[torch.zeros(50, dtype=torch.long)])
    assert collapsed["sample_spread"] == 0.0 and collapsed["class_entropy"] == 0.0
    assert f"{collapsed['class_entropy']:.3f}" == "0.000"  # not "-0.000" in warnings and tables
    even = collapse_indicators(real, real, torch.eye(5)[torch.arange(50) % 5])
    assert even["sample_spread"] == pytest.approx(1.0) and even["class_entropy"] == pytest.approx(1.0)
    history = [{"epoch": 1, "sample_spread": 0.9, "class_entropy": 0.95}]
    assert any("spread" in w for w in warnings_for(history, {"epoch": 2, "sample_spread": 0.3, "class_entropy": 0.9}))
    assert warnings_for(history, {"epoch": 2, "sample_spread": 0.8, "class_entropy": 0.9}) == []


def test_a_labeled_loss_that_jumps_is_a_warning_once():
    """A labeled loss that had fallen near zero and jumps (digits' same-net: from 1e-5 to 41 at
    epoch 63, its labeled accuracy then down to 0.10) is a warning at the epoch of the jump, not
    at each epoch of the recovery; a loss that only rises a little, or an early one, is none."""
    history = [{"epoch": e, "loss_lab": v} for e, v in enumerate([0.9, 0.01, 3e-4, 1e-4], 1)]
    jump = warnings_for(history, {"epoch": 5, "loss_lab": 41.46})
    assert jump == ["epoch 5: the labeled loss jumped to 41.5, from 0.0001 at its lowest: a few steps threw the "
                    "classifier off its labeled examples, and an accuracy read in the epochs that follow may be low "
                    "(metrics.jsonl shows whether it recovers)"], jump
    after = [*history, {"epoch": 5, "loss_lab": 41.46}]
    assert warnings_for(after, {"epoch": 6, "loss_lab": 2.4}) == []  # still recovering: the same jump
    assert warnings_for(history, {"epoch": 5, "loss_lab": 0.009}) == []  # 90 times the lowest, under 0.1
    assert warnings_for(history[:2], {"epoch": 3, "loss_lab": 0.5}) == []  # 50 times the lowest
    assert warnings_for([], {"epoch": 1, "loss_lab": 2.3}) == []  # the first epoch
    # with class smoothing the loss cannot fall under its floor (0.5003 for 0.1 over 10 classes): counted above it
    smoothed = [{"epoch": e, "loss_lab": v + 0.5003} for e, v in enumerate([0.9, 0.01, 3e-4, 1e-4], 1)]
    assert warnings_for(smoothed, {"epoch": 5, "loss_lab": 41.46}) == []  # (its loss never fell under 0.1)
    jump = warnings_for(smoothed, {"epoch": 5, "loss_lab": 41.46}, floor=0.5003)
    assert len(jump) == 1 and jump[0].startswith("epoch 5: the labeled loss jumped to 41.5, from 0.5 at its lowest")
    assert warnings_for(smoothed, {"epoch": 5, "loss_lab": 0.5003 + 0.009}, floor=0.5003) == []
    # a loss that climbs over two epochs (digits' smoothed full baseline, seed 3: 0.012 above its floor,
    # then 0.32, 31 times its lowest, then 3.8): a jump at the epoch it passes both bounds, and once
    climbing = [{"epoch": e, "loss_lab": v + 0.5003} for e, v in enumerate([0.9, 0.012, 0.0102, 0.318], 1)]
    assert warnings_for(climbing[:3], climbing[3], floor=0.5003) == []
    jump = warnings_for(climbing, {"epoch": 5, "loss_lab": 0.5003 + 3.79}, floor=0.5003)
    assert len(jump) == 1 and jump[0].startswith("epoch 5: the labeled loss jumped to 4.29, from 0.51 at its lowest")
    climbing.append({"epoch": 5, "loss_lab": 0.5003 + 3.79})
    assert warnings_for(climbing, {"epoch": 6, "loss_lab": 0.5003 + 1.6}, floor=0.5003) == []  # the same jump
    assert len(warnings_for([*climbing, {"epoch": 6, "loss_lab": 0.55}], {"epoch": 7, "loss_lab": 20.5},
                            floor=0.5003)) == 1  # back under 0.1 above its floor, then off again: a new jump


@pytest.mark.parametrize("spec, dim, k", [("gmm1d:modes=3", 1, 3), ("gmm2d:modes=8", 2, 8), ("gmm2d:modes=2,n=100", 2, 2)])
def test_gaussian_mixture_datasets(spec, dim, k):
    d = load_dataset(spec)
    assert d.shape == (dim,) and d.n_classes == k and d.x_train.min() >= 0 and d.x_train.max() <= 1
    assert np.bincount(d.y_train).max() - np.bincount(d.y_train).min() <= 1  # classes equally frequent
    assert np.array_equal(d.x_train, load_dataset(spec).x_train)
    assert not np.array_equal(d.x_train, load_dataset(spec + ",seed=1").x_train)
    # each mode is a class: points sit next to their own class mean
    means = np.stack([d.x_train[d.y_train == c].mean(0) for c in range(k)])
    nearest = np.argmin(((d.x_train[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == d.y_train).mean() > 0.99


def test_bad_mixture_spec():
    with pytest.raises(SSGANError, match="bad option 'mode=3'"):
        load_dataset("gmm2d:mode=3")


def test_toy_run_draws_density_plots(tmp_path):
    r = CliRunner().invoke(main, ["fit", "--dataset", "gmm2d:modes=4,n=400", "--labels", "8", "--epochs", "2",
                                  "--d-hidden", "32,32", "--g-hidden", "32", "--d-input-noise", "0", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    assert (tmp_path / run.split("/")[-1] / "samples" / "epoch_0002.png").is_file()
    r = CliRunner().invoke(main, ["sample", run, "--n", "200", "--out", str(tmp_path / "density.png")])
    assert r.exit_code == 0 and (tmp_path / "density.png").read_bytes()[:4] == b"\x89PNG"


def test_latent_walk_and_interpolation(tmp_path):
    from PIL import Image

    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--out", str(tmp_path), "--json"])
    run = json.loads(r.stdout)["run"]
    for args in (["--walk", "3"], ["--interpolate"]):
        out = tmp_path / f"{args[0]}.png"
        r = CliRunner().invoke(main, ["sample", run, *args, "--out", str(out)])
        assert r.exit_code == 0, r.output
        w, h = Image.open(out).size
        assert (w, h) == (10 * 10 + 2, 8 * 10 + 2)  # 10 steps x 8 rows of 8x8 images, 2-pixel padding
    r = CliRunner().invoke(main, ["sample", run, "--walk", "100"])
    assert r.exit_code == 2 and "dimensions 0..99" in r.output
    # a grid has no --n, and --npz had been dropped in silence (no file, exit 0)
    for args, dropped in ((["--walk", "3", "--npz", str(tmp_path / "w.npz")], "--npz"), (["--interpolate", "--n", "16"], "--n"),
                          (["--walk", "3", "--images", str(tmp_path / "im"), "--n", "64"], "--n and --images")):
        r = CliRunner().invoke(main, ["sample", run, *args, "--out", str(tmp_path / "never.png")])
        assert r.exit_code == 2 and r.output == (
            "Error: --walk and --interpolate draw one picture of 8 rows of 10 steps into --out; --n, --npz and --images "
            f"are for random samples: drop {dropped}\n"), r.output
    assert not any((tmp_path / name).exists() for name in ("w.npz", "im", "never.png"))
