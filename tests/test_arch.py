"""The network families (--arch): shapes, data-dependent init, fits through the CLI, the colour
path on generated torchvision files, and the errors for shapes an architecture cannot take."""

import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ssgan.cli import main
from ssgan.config import Config, from_dict
from ssgan.errors import SSGANError
from ssgan.models import WNConv2d, build_models, data_dependent_init, resolve_arch
from ssgan.models.layers import GroupBatchNorm2d, pyramid
from ssgan.runs import evaluate_run, load_run

from conftest import ROOT, write_npz

ARCHS = ["mlp", "dcgan", "salimans-cnn"]
SHAPES = [(1, 28, 28), (1, 32, 32), (3, 32, 32)]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_and_data_range(arch, shape):
    g, d = build_models(Config(arch=arch), shape, n_classes=10)
    x = g(g.sample_z(4))
    assert x.shape == (4, *shape)
    assert 0.0 <= x.min() and x.max() <= 1.0  # samples stay in the data's range
    logits, features = d(torch.cat([x, x, x]), groups=3)
    assert logits.shape == (12, 10) and features.shape[0] == 12
    d.eval()
    assert d(x)[0].shape == (4, 10)


def test_reference_pair_matches_the_paper_code():
    g, d = build_models(Config(arch="salimans-cnn"), (3, 32, 32), n_classes=10)
    convs = [m for m in d.modules() if isinstance(m, WNConv2d)]
    assert [tuple(c.v.shape[:2]) for c in convs] == [(96, 3), (96, 96), (96, 96), (192, 96), (192, 192),
                                                     (192, 192), (192, 192), (192, 192), (192, 192)]
    assert [c.stride for c in convs] == [1, 1, 2, 1, 1, 2, 1, 1, 1]
    assert [c.v.shape[-1] for c in convs] == [3] * 7 + [1, 1]
    assert g.widths == [512, 256, 128] and g.base == 4
    assert d(torch.rand(2, 3, 32, 32))[1].shape == (2, 192)  # pooled features feed feature matching
    _, svhn = build_models(Config(arch="salimans-cnn", d_width=64), (3, 32, 32), n_classes=10)
    assert svhn(torch.rand(2, 3, 32, 32))[1].shape == (2, 128)


def test_dcgan_follows_the_guidelines():
    g, d = build_models(Config(arch="dcgan"), (3, 32, 32), n_classes=10)
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in d.modules())
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 3 and [c.out_channels for c in convs] == [64, 128, 256]
    # batch norm after every convolution but the first (D's input)
    assert sum(isinstance(m, GroupBatchNorm2d) for m in d.modules()) == 2
    assert sum(isinstance(m, torch.nn.Linear) for m in d.modules()) == 1  # dense only at the output
    assert isinstance(d.act, torch.nn.LeakyReLU) and d.act.negative_slope == 0.2
    # G: dense input, batch norm on every hidden layer, none at the output, ReLU and tanh
    assert sum(isinstance(m, torch.nn.Linear) for m in g.modules()) == 1
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules()) == 2
    assert not isinstance(g.out, torch.nn.BatchNorm2d) and g.widths == [256, 128, 64]
    z = g.sample_z(3)
    g.eval()
    assert torch.allclose(g(z), (torch.tanh(g.out(g.body(g.project(z).view(-1, 256, 4, 4)))) + 1) / 2)


def test_data_dependent_init_of_convolutions_gives_unit_variance():
    torch.manual_seed(0)
    conv = WNConv2d(3, 8, 3, padding=1)
    x = torch.rand(64, 3, 10, 10)
    data_dependent_init(conv, x)
    pre = conv(x)
    assert torch.allclose(pre.mean((0, 2, 3)), torch.zeros(8), atol=1e-5)
    assert torch.allclose(pre.std((0, 2, 3), unbiased=False), torch.ones(8), atol=1e-4)
    # the reference D: every layer's pre-activations start at unit variance on the init batch
    _, d = build_models(Config(arch="salimans-cnn", d_width=16), (3, 32, 32), n_classes=10)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.std((0, 2, 3), unbiased=False)))
             for m in d.modules() if isinstance(m, WNConv2d)]
    d.eval()
    data_dependent_init(d, torch.rand(50, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert len(seen) == 9 and all(torch.allclose(s, torch.ones_like(s), atol=1e-3) for s in seen)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_weight_normed_convolution_keeps_its_weights_layout(layout):
    # torch._weight_norm returns NCHW; a channels-last network (the CPU's) gets its weight back
    # channels-last, since oneDNN's convolutions ran slower on mixed layouts (README, "Speed on the CPU")
    torch.manual_seed(0)
    conv = WNConv2d(4, 6, 3).to(memory_format=layout)
    w = conv.weight()
    formula = conv.v * (conv.g / conv.v.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    assert w.is_contiguous(memory_format=layout)
    assert torch.allclose(w, formula, atol=1e-6)


def test_grouped_batch_norm_keeps_batches_apart_and_tracks_real_data():
    bn = GroupBatchNorm2d(2)
    real, fake = torch.randn(8, 2, 3, 3), torch.randn(8, 2, 3, 3) * 5 + 7
    out = bn(torch.cat([real, fake]), groups=2)
    assert torch.allclose(out[8:].mean((0, 2, 3)), torch.zeros(2), atol=1e-5)  # each batch on its own
    assert torch.allclose(bn.running_mean, 0.1 * real.mean((0, 2, 3)), atol=1e-6)  # the first batch only
    before = bn.running_mean.clone()
    bn.weight.requires_grad_(False)  # frozen, as in the generator step
    bn(fake)
    assert torch.equal(bn.running_mean, before)


def test_pyramid_of_sides():
    assert pyramid(28) == (7, 2) and pyramid(32) == (4, 3) and pyramid(64) == (4, 4) and pyramid(8) == (4, 1)
    assert pyramid(30) is None and pyramid(36) is None and pyramid(6) is None


def test_auto_picks_by_shape():
    assert resolve_arch(Config(), (1, 28, 28)).arch == "mlp"
    assert resolve_arch(Config(), (64,)).arch == "mlp"
    colour = resolve_arch(Config(), (3, 32, 32))
    assert colour.arch == "salimans-cnn" and colour.d_width == 96 and colour.g_output == "tanh"
    assert resolve_arch(Config(), (3, 30, 30)).arch == "mlp"  # a size the convolutional pair cannot take


def test_old_run_configs_still_load():
    cfg = from_dict({"model": "mlp", "d_input_noise": 0.3}, "config.json")
    assert cfg.arch == "mlp" and cfg.d_hidden_noise == 0.5
    # a run saved before --entropy-epochs existed trained its entropy term in every epoch, and resumes so
    assert from_dict({"entropy_weight": 0.1}, "config.json").entropy_epochs is None
    assert from_dict(Config().to_dict(), "config.json").entropy_epochs == 20
    # a run of labels alone saved before --class-smoothing existed trained on the plain cross-entropy;
    # a GAN run's default stays unset, so that its baselines take theirs
    assert from_dict({"unlabeled_weight": 0.0}, "config.json").class_smoothing == 0.0
    assert from_dict({"unlabeled_weight": 1.0}, "config.json").class_smoothing is None
    assert from_dict(Config(unlabeled_weight=0.0).to_dict(), "config.json").class_smoothing is None


@pytest.mark.parametrize("changes, message", [
    (dict(arch="dcgan", d_hidden="100"), "d_hidden applies to --arch mlp only"),
    (dict(arch="salimans-cnn", g_norm="vbn"), "g_norm vbn is for --arch mlp"),
    (dict(arch="dcgan", d_width=0), "d_width must be >= 1"),
])
def test_options_that_do_not_fit_the_architecture(changes, message):
    with pytest.raises(SSGANError, match=message):
        Config(**changes)


def test_options_that_do_not_fit_the_architecture_are_named_where_they_were_given(tmp_path):
    """By their flag, or by the config file that gave them, as settings out of range are."""
    (tmp_path / "c.toml").write_text('arch = "dcgan"\nfm_layer = 2\n')
    for args, line in ((["--arch", "dcgan", "--d-hidden", "10,10"], "--d-hidden applies to --arch mlp only; dcgan takes "
                                                                    "--d-width, --g-width, --d-dropout and --d-input-dropout"),
                       (["--arch", "dcgan", "--g-norm", "layer"], "--g-norm layer is for --arch mlp; dcgan takes batch or none"),
                       (["--config", str(tmp_path / "c.toml")], f"config file {tmp_path / 'c.toml'}: fm_layer applies to "
                                                                "--arch mlp only")):
        r = CliRunner().invoke(main, ["fit", "--dataset", "digits", *args, "--out", str(tmp_path / "runs")])
        assert r.exit_code == 2 and r.output.startswith(f"Error: {line}"), r.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("arch", ARCHS)
def test_two_iteration_fit_through_the_cli(tmp_path, arch):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 10)
    x = (rng.random((20, 1, 16, 16)) * 0.5 + y[:, None, None, None] * 0.4).astype(np.float32)
    data = write_npz(tmp_path / "grey.npz", x=x, y=np.where(np.arange(20) % 5 == 0, y, -1), x_test=x, y_test=y)
    r = run("fit", "--dataset", data, "--arch", arch, "--epochs", 1, "--batch-size", 10, "--out", tmp_path / "runs",
            "--json", "--d-width", 4, "--g-width", 4) if arch != "mlp" else \
        run("fit", "--dataset", data, "--arch", arch, "--epochs", 1, "--batch-size", 10, "--out", tmp_path / "runs", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    metrics = [json.loads(line) for line in open(f"{result['run']}/metrics.jsonl")]
    assert metrics[-1]["iterations"] == 2 and 0.0 <= metrics[-1]["test_acc"] <= 1.0
    assert json.load(open(f"{result['run']}/config.json"))["arch"] == arch
    assert evaluate_run(result["run"])["errors"] == metrics[-1]["test_errors"]  # eval scores as the loop did
    if arch != "mlp":  # on the CPU, a convolutional run's networks are read back channels-last, as the loop trained them
        weights = [p for p in load_run(result["run"]).discriminator().parameters() if p.dim() == 4]
        assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)


@pytest.mark.parametrize("arch, shape, got", [("dcgan", (1, 30, 30), "30x30 with 1 channel"),
                                              ("salimans-cnn", (64,), "vectors of 64"),
                                              ("salimans-cnn", (3, 8, 8), "8x8 with 3 channels")])
def test_arch_errors_name_the_sizes_it_takes(tmp_path, arch, shape, got):
    x = np.random.default_rng(0).random((12, *shape)).astype(np.float32)
    data = write_npz(tmp_path / "x.npz", x=x, y=np.array([0, 1] * 2 + [-1] * 8))
    r = run("fit", "--dataset", data, "--arch", arch, "--out", tmp_path / "runs")
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert lines[0].startswith(f"Error: --arch {arch} takes square images") and "28, 32" in lines[0]
    assert lines[0].endswith(f"; got {got}: use --arch mlp"), lines[0]
    assert not (tmp_path / "runs").exists()


# -- the colour path on generated files in torchvision's layout ----------------------------------

def _write_cifar10(root, rng, n_train=40, n_test=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, (name, n) in enumerate([(f"data_batch_{i}", n_train // 5) for i in range(1, 6)] + [("test_batch", n_test)]):
        labels = [int(v) for v in (np.arange(n) + i * n) % 10]
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)


def _write_svhn(root, rng, n_train=40, n_test=20):
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("train_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        labels = (np.arange(n) % 10).reshape(-1, 1)
        labels[labels == 0] = 10  # SVHN stores the digit 0 as label 10
        savemat(root / name, {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8), "y": labels})


@pytest.mark.parametrize("dataset", ["cifar10", "svhn"])
def test_colour_path_end_to_end(tmp_path, monkeypatch, dataset):
    """fit, eval, sample and report on generated files; torchvision's checksums are the only
    thing skipped (generated files cannot match the real archives)."""
    import torchvision.datasets.cifar
    import torchvision.datasets.svhn

    for module in (torchvision.datasets.cifar, torchvision.datasets.svhn):
        monkeypatch.setattr(module, "check_integrity", lambda *args, **kwargs: True)
    root = tmp_path / "data"
    (_write_cifar10 if dataset == "cifar10" else _write_svhn)(root, np.random.default_rng(0))
    runs = tmp_path / "runs"
    r = run("fit", "--dataset", dataset, "--data-root", root, "--labels", 20, "--epochs", 2, "--batch-size", 10,
            "--d-width", 8, "--g-width", 8, "--out", runs, "--json")
    assert r.exit_code == 0, r.output
    run_dir = json.loads(r.stdout)["run"]
    config = json.load(open(f"{run_dir}/config.json"))
    assert config["arch"] == "salimans-cnn"  # auto: colour images get the convolutional pair
    r = run("eval", run_dir, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["n"] == 20, r.output
    npz = tmp_path / "s.npz"
    r = run("sample", run_dir, "--n", 8, "--npz", npz)
    assert r.exit_code == 0, r.output
    x = np.load(npz)["x"]
    assert x.shape == (8, 3, 32, 32) and 0.0 <= x.min() and x.max() <= 1.0
    r = run("report", run_dir, "--out", tmp_path / "report")
    assert r.exit_code == 0, r.output
    assert "| ssgan | 1 | 1 |" in (tmp_path / "report" / "report.md").read_text()


def test_every_shipped_config_loads():
    from ssgan.config import resolve

    paths = sorted((ROOT / "configs").rglob("*.toml"))
    assert len(paths) >= 8
    for path in paths:
        cfg = resolve(path)
        assert cfg.epochs >= 1, path
    assert resolve(paths[0].parent / "cifar10-4000.toml").arch == "salimans-cnn"
