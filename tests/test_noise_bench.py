"""benchmarks/noise.py counts the noise that one iteration of the step draws, shape by shape:
D's input noise and its hidden noise on the D step's three batches at once, and on the G step's
generated and real batches apart (what its timings and its ceiling rest on)."""

from __future__ import annotations

from collections import Counter


def test_the_noise_of_one_iteration_is_counted_by_shape(benchmark_script):
    noise = benchmark_script("noise")  # (which imports speed.py beside it)
    from ssgan.config import Config

    cfg = Config(epochs=1, device="cpu", precision="fp32", graphs="off", d_hidden="20,10", g_hidden="8", batch_size=50)
    shapes = noise.noise_shapes(cfg)
    # per D forward: the input (784) and each hidden layer's output (20, 10); the D step's 3 x 50
    # rows in one forward, the G step's 50 generated and 50 real rows in two
    assert shapes == Counter({(150, 784): 1, (150, 20): 1, (150, 10): 1, (50, 784): 2, (50, 20): 2, (50, 10): 2})
    from ssgan.models.layers import GaussianNoise

    assert GaussianNoise.forward.__name__ == "forward"  # (the counting is undone)


def test_the_noise_can_be_drawn_in_two_halves_ahead_or_not_at_all_and_is_put_back(benchmark_script):
    """The step timings' four ways of drawing D's noise: as the step does, two halves from two
    generators in two threads (each half noise at the layer's scale), ahead in a second thread,
    and none; the layer's own
    forward is back afterwards."""
    import torch

    noise = benchmark_script("noise")
    from ssgan.models.layers import GaussianNoise

    layer, x = GaussianNoise(0.5), torch.ones(400, 250)
    with noise.noise_drawn("none"):
        assert torch.equal(layer(x), x)
    with noise.noise_drawn("split"):
        drawn = (layer(x) - x).view(-1)
        assert torch.equal(layer.eval()(x), x)  # (eval mode adds nothing)
        layer.train()
    for half in drawn.chunk(2):  # both halves drawn, at the layer's scale
        assert abs(half.std().item() - 0.5) < 0.01 and abs(half.mean().item()) < 0.01
    assert not torch.equal(drawn[:50000], drawn[50000:])
    with noise.noise_drawn("ahead"):  # drawn by a second thread: each call new noise at the layer's scale
        first, second = layer(x) - x, layer(x) - x
    for drawn in (first, second):
        assert abs(drawn.std().item() - 0.5) < 0.01 and abs(drawn.mean().item()) < 0.01
    assert not torch.equal(first, second)
    assert GaussianNoise.forward.__name__ == "forward"
    torch.manual_seed(0)
    as_is = layer(x)
    torch.manual_seed(0)
    with noise.noise_drawn("as-is"):
        assert torch.equal(layer(x), as_is)


def test_the_hashed_noise_is_normal_at_the_layers_scale_and_new_at_each_draw(benchmark_script):
    """The generator that ``--inductor`` times inside the step: its draws, compiled by Inductor,
    have the layer's mean and scale (and a normal's fourth moment), two draws differ, and the
    layer's own forward is back afterwards."""
    import torch

    noise = benchmark_script("noise")
    from ssgan.models.layers import GaussianNoise

    layer, x = GaussianNoise(0.5), torch.ones(400, 250)
    with noise.noise_drawn("hashed"):
        first, second = layer(x) - x, layer(x) - x
        assert torch.equal(layer.eval()(x), x)
    for drawn in (first, second):
        z = drawn / 0.5
        assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01
        assert abs((z**4).mean().item() - 3) < 0.05
    assert (first != second).float().mean() > 0.99
    # Inductor's C++ computes the hash as torch's own kernels do (its products wrap, its shifts
    # are masked): the compiled draw is the eager one, to float rounding
    key = torch.tensor(-12345, dtype=torch.int32)
    compiled = torch.compile(noise.hashed_noise, dynamic=False)(x, key, 0.5)
    assert torch.allclose(compiled, noise.hashed_noise(x, key, 0.5), atol=1e-5)
    assert GaussianNoise.forward.__name__ == "forward"
