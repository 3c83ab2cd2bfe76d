import copy

import pytest
import torch

from conftest import cuda
from ssgan.config import Config
from ssgan.models import MLPDiscriminator, MLPGenerator, WNLinear, build_models, data_dependent_init, use_generator
from ssgan.models.layers import Dropout, GaussianNoise, fixed_weights


def test_shapes_for_images_and_flat_data():
    for shape in [(1, 28, 28), (3, 8, 8), (12,)]:
        g, d = build_models(Config(), shape, n_classes=10)
        x = g(g.sample_z(5))
        assert x.shape == (5, *shape) and 0.0 <= x.min() and x.max() <= 1.0
        logits, feats = d(x)
        assert logits.shape == (5, 10) and feats.shape == (5, 250)
    _, d = build_models(Config(fake_logit="explicit"), (4,), n_classes=3)
    assert d(torch.rand(2, 4))[0].shape == (2, 4)


def test_discriminator_noise_only_in_training():
    d = MLPDiscriminator((16,), 3)
    x = torch.rand(4, 16)
    d.eval()
    assert torch.equal(d(x)[0], d(x)[0])
    d.train()
    assert not torch.equal(d(x)[0], d(x)[0])


def test_weight_norm_scale_and_direction():
    layer = WNLinear(3, 2)
    with torch.no_grad():
        layer.g.fill_(2.0)
    w = layer.v * (2.0 / layer.v.norm(dim=1, keepdim=True))
    x = torch.randn(4, 3)
    assert torch.allclose(layer(x), x @ w.T)
    assert not layer.g.requires_grad and WNLinear(3, 2, train_scale=True).g.requires_grad


def test_data_dependent_init_standardises_preactivations():
    torch.manual_seed(0)
    d = MLPDiscriminator((20,), 4, input_noise=0.0, hidden_noise=0.0)
    x = torch.rand(256, 20)
    data_dependent_init(d, x)
    pre = d.hidden[0](x)
    assert torch.allclose(pre.mean(0), torch.zeros(1000), atol=1e-4)
    assert torch.allclose(pre.std(0, unbiased=False), torch.ones(1000), atol=1e-3)
    logits, _ = d(x)
    assert torch.allclose(logits.mean(0), torch.zeros(4), atol=1e-4)


def test_generator_noise_is_uniform_01():
    z = MLPGenerator((4,)).sample_z(10000)
    assert z.min() >= 0.0 and z.max() < 1.0 and abs(z.mean().item() - 0.5) < 0.01


NOISE_CASES = [(torch.float32, (300, 250)), (torch.float32, (3, 5)), (torch.float64, (100, 17)),
               (torch.bfloat16, (300, 250))]


def _noise_is_randn_times_std(dtype, shape, device) -> None:
    x = torch.rand(shape, device=device).to(dtype)
    layer = GaussianNoise(0.3)
    layer.generator = torch.Generator(device=device).manual_seed(3)
    expected_gen = torch.Generator(device=device).manual_seed(3)
    if dtype == torch.bfloat16 and device == "cpu":  # drawn in fp32, then rounded
        expected = x + (torch.randn(shape, generator=expected_gen, device=device) * 0.3).to(dtype)
    else:
        expected = x + torch.randn(shape, generator=expected_gen, device=device, dtype=dtype) * 0.3
    assert torch.equal(layer(x), expected), (dtype, shape)
    assert torch.equal(layer.generator.get_state(), expected_gen.get_state())


@pytest.mark.parametrize("dtype, shape", NOISE_CASES)
def test_gaussian_noise_adds_what_randn_times_std_draws(dtype, shape):
    """The noise layer adds bit for bit ``randn * std`` from its generator, whichever way it
    draws it (at scale in one kernel where that gives the same numbers, as randn times std
    where it would not; bf16 on the CPU: the fp32 draw rounded to bf16), and leaves the
    generator where that randn leaves it."""
    _noise_is_randn_times_std(dtype, shape, "cpu")


@cuda
def test_gaussian_noise_adds_what_randn_times_std_draws_on_cuda():
    for dtype, shape in NOISE_CASES:
        _noise_is_randn_times_std(dtype, shape, "cuda")


def test_noise_and_dropout_layers_draw_from_a_generator_of_their_own():
    """Given a generator, dropout draws and computes on a CPU exactly what nn.Dropout does with
    torch's global one (so CPU runs are unchanged); without one it is nn.Dropout; a copy (the
    EMA's) holds no generator, which cannot be copied."""
    net = torch.nn.Sequential(GaussianNoise(0.3), torch.nn.Linear(6, 6), Dropout(0.4))
    x = torch.rand(50, 6)
    torch.manual_seed(7)
    state = torch.get_rng_state()
    with torch.no_grad():
        globally = net(x)
        own = torch.Generator().manual_seed(0)
        own.set_state(state)
        use_generator(net, own)
        assert torch.equal(net(x), globally) and torch.equal(own.get_state(), torch.get_rng_state())
        assert not torch.equal(net(x), globally)  # the generator moved on; the global one did not
        twin = copy.deepcopy(net)
        assert twin[0].generator is None and twin[2].generator is None and net[2].generator is own
        assert twin[2].p == 0.4 and torch.equal(twin[1].weight, net[1].weight)
        net.eval()
        assert torch.equal(net(x), net[1](x))


def test_fixed_weights_are_normalised_once_inside_and_afresh_after():
    net = torch.nn.Sequential(WNLinear(5, 3), torch.nn.ReLU(), WNLinear(3, 2))
    x = torch.rand(4, 5)
    expected, before = net(x), [m.weight() for m in (net[0], net[2])]
    with fixed_weights(net):
        inside = [m.weight() for m in (net[0], net[2])]
        assert all(a is m.weight() for a, m in zip(inside, (net[0], net[2])))  # no second normalisation
        assert all(torch.equal(a, b) for a, b in zip(inside, before))
        assert torch.equal(net(x), expected)
    with torch.no_grad():
        net[0].v.add_(1.0)
    assert net[0]._fixed is None and not torch.equal(net[0].weight(), before[0])
