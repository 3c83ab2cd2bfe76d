"""Building blocks shared by the network families: weight-normalised layers with their
data-dependent initialisation, Gaussian noise, minibatch discrimination, virtual and grouped
batch normalisation, and the helpers that parse widths and re-draw weights.

As in the reference code, a discriminator's hidden weight-norm scales are fixed after the
data-dependent initialisation (:func:`data_dependent_init`); only output scales are trained.
"""

from __future__ import annotations

from contextlib import contextmanager
from copy import deepcopy
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class WeightNormed(nn.Module):
    """A layer with weight normalisation, ``W = g * v / ||v||`` per output unit (Salimans &
    Kingma 2016), whose next forward pass can initialise ``g`` and ``b`` from its input.

    ``W`` comes from ``torch._weight_norm``, the kernel behind
    ``torch.nn.utils.parametrizations.weight_norm``: where the output units lie along ``v``'s
    first dimension it computes the norm, the scaling and their backward in one pass each on
    the CPU and CUDA, where the same formula in separate operations made several passes and an
    autograd node per operation (README, "Speed on the CPU"); along another dimension (the
    transposed convolution's second) torch computes it in separate operations. The kernel
    returns ``W`` in the standard layout; a channels-last ``v`` (convolutions on the CPU) gets
    it back channels-last, since oneDNN's convolutions run slower on mixed layouts."""

    _init_pending: bool = False
    _dim: int = 0  # the dimension of ``v`` that indexes output units
    _fixed: Tensor | None = None  # W while it is computed once for several calls (:func:`fixed_weights`)

    def weight(self) -> Tensor:
        if self._fixed is not None:
            return self._fixed
        shape = [1] * self.v.dim()
        shape[self._dim] = -1
        if torch._C._functorch.is_batchedtensor(self.v):  # several seeds' weights (ssgan.batched)
            # the kernel has no rule for vmap, which would call it once per seed; the formula batches
            others = [d for d in range(self.v.dim()) if d != self._dim]
            return self.v * (self.g.view(shape) / torch.linalg.vector_norm(self.v, dim=others, keepdim=True))
        w = torch._weight_norm(self.v, self.g.view(shape), self._dim)
        if self.v.dim() == 4 and self.v.is_contiguous(memory_format=torch.channels_last):
            w = w.contiguous(memory_format=torch.channels_last)
        return w

    def _init_from(self, pre: Tensor) -> Tensor:
        """Data-dependent init: choose g and b so that this batch's pre-activations ``pre``
        (bias not yet added) have zero mean and unit variance per unit (dim 1); return them so."""
        self._init_pending = False
        dims = [d for d in range(pre.dim()) if d != 1]
        mean = pre.mean(dims)
        std = pre.std(dims, unbiased=False) + 1e-8
        with torch.no_grad():
            self.g.div_(std)
            self.b.copy_(-mean / std)
        shape = (1, -1) + (1,) * (pre.dim() - 2)
        return (pre - mean.view(shape)) / std.view(shape)


@contextmanager
def fixed_weights(module: nn.Module):
    """Compute each weight-normalised layer's ``W`` of ``module`` once, on entry, for every call
    inside: for a network whose ``v`` and ``g`` do not change meanwhile (the frozen D of the
    generator step, which sees a generated and a real batch), the same numbers with one weight
    normalisation per layer instead of one per call."""
    layers = [m for m in module.modules() if isinstance(m, WeightNormed)]
    for m in layers:
        m._fixed = m.weight()
    try:
        yield
    finally:
        for m in layers:
            m._fixed = None


class WNLinear(WeightNormed):
    """Dense layer with weight normalisation: ``W = g * v / ||v||`` row-wise (Salimans & Kingma 2016)."""

    def __init__(self, in_features: int, out_features: int, train_scale: bool = False):
        super().__init__()
        self.v = nn.Parameter(torch.randn(out_features, in_features) * 0.1)
        self.g = nn.Parameter(torch.ones(out_features), requires_grad=train_scale)
        self.b = nn.Parameter(torch.zeros(out_features))
        self._init_pending = False

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight()
        if not self._init_pending:
            return F.linear(x, w, self.b)
        return self._init_from(F.linear(x, w))


class WNConv2d(WeightNormed):
    """2-d convolution with weight normalisation per output channel (the reference code's
    ``weight_norm`` around its convolutions and 1x1 "network in network" layers)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, padding: int = 0,
                 train_scale: bool = False):
        super().__init__()
        self.v = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel) * 0.05)
        self.g = nn.Parameter(torch.ones(out_channels), requires_grad=train_scale)
        self.b = nn.Parameter(torch.zeros(out_channels))
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight()
        if not self._init_pending:
            return F.conv2d(x, w, self.b, self.stride, self.padding)
        return self._init_from(F.conv2d(x, w, None, self.stride, self.padding))


class WNConvTranspose2d(WeightNormed):
    """Transposed convolution that doubles height and width (kernel 5, stride 2), with weight
    normalisation per output channel: the output layer of the reference image generator."""

    _dim = 1  # v is (in, out, k, k)

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 5, train_scale: bool = True):
        super().__init__()
        self.v = nn.Parameter(torch.randn(in_channels, out_channels, kernel, kernel) * 0.05)
        self.g = nn.Parameter(torch.ones(out_channels), requires_grad=train_scale)
        self.b = nn.Parameter(torch.zeros(out_channels))
        self.padding = kernel // 2

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight()
        conv = partial(F.conv_transpose2d, stride=2, padding=self.padding, output_padding=1)
        if not self._init_pending:
            return conv(x, w, self.b)
        return self._init_from(conv(x, w))


class BatchNorm1d(nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` that also runs under vmap with bf16 autocast (several seeds'
    G, :mod:`ssgan.batched`): there torch's batching rule refuses bf16 input with fp32 weights,
    which the kernel takes alone, so the input is given in the weights' precision and the output
    returned in the input's (the same numbers: the kernel normalises in fp32 and rounds)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype != self.weight.dtype and torch._C._functorch.is_batchedtensor(x):
            return super().forward(x.to(self.weight.dtype)).to(x.dtype)
        return super().forward(x)


class GroupBatchNorm2d(nn.BatchNorm2d):
    """Batch normalisation for a discriminator that sees several batches at once.

    ``forward(x, groups)`` splits the rows into ``groups`` equal batches (labeled, unlabeled,
    generated) and, in training, normalises each by its own statistics, as if D had been
    called on each batch alone (the DCGAN recipe keeps real and generated batches apart).
    The running statistics that evaluation uses follow the first batch only, which is real
    data in every call the discriminator step makes (the labeled batch), and only while this
    layer's weights train: the generator step, which freezes D, leaves them alone."""

    def forward(self, x: Tensor, groups: int = 1) -> Tensor:
        if not self.training:
            return super().forward(x)
        parts = x.chunk(groups)
        track = self.weight.requires_grad
        out = [F.batch_norm(p, self.running_mean if track and i == 0 else None,
                            self.running_var if track and i == 0 else None, self.weight, self.bias,
                            True, self.momentum, self.eps) for i, p in enumerate(parts)]
        return out[0] if groups == 1 else torch.cat(out)


class _Draws:
    """A layer that draws random numbers in training mode: from ``generator`` where one is set
    (a run's own generator, or a process's own under torchrun: :func:`use_generator`), else
    from torch's global one. A copy (the EMA's) draws from the global one: a torch.Generator
    cannot be copied."""

    generator: torch.Generator | None = None

    def __deepcopy__(self, memo):
        copy = type(self).__new__(type(self))
        memo[id(self)] = copy
        copy.__dict__.update(deepcopy({k: v for k, v in self.__dict__.items() if k != "generator"}, memo))
        return copy


class GaussianNoise(_Draws, nn.Module):
    """Adds N(0, std^2) noise in training mode; the identity in eval mode.

    In fp32 and fp64 the noise is drawn at its scale, ``torch.normal(0, std)``: one kernel, where
    ``randn * std`` is two, and bit for bit the same numbers (tests/test_models.py; torch's CPU
    and CUDA kernels both compute ``z * std + 0`` from the draws that randn makes). Smaller
    tensors (under 16 numbers, where torch's CPU generator rounds through float64) keep
    ``randn * std``, so that no run changes.

    bf16 activations (autocast) on the CPU get that fp32 draw rounded to bf16: torch's CPU
    generator makes bf16 normal numbers in a scalar loop and fp32 ones in a vectorised one, so
    drawing in fp32 and rounding is the faster way to the same distribution (the default bf16
    step's hidden-layer noise in about 3.4 ms an iteration instead of 5.8 on a Xeon with AMX,
    where the step went from 0.61-0.65 to 0.68-0.70 of the fp32 matmul rate: reports/speed-cpu,
    2026-12-07). Its numbers are not those of the bf16 draw, so bf16 CPU runs follow other
    paths than before this change (reports/mnist-100-noise32). On CUDA, where the bf16 draw is
    not slower, bf16 keeps ``randn * std``."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std <= 0:
            return x
        draw = dict(generator=self.generator, device=x.device, dtype=x.dtype)
        if x.dtype in (torch.float32, torch.float64) and x.numel() >= 16:
            return x + torch.normal(0.0, self.std, x.shape, **draw)
        if x.dtype == torch.bfloat16 and x.device.type == "cpu" and x.numel() >= 16:
            return x + torch.normal(0.0, self.std, x.shape, **{**draw, "dtype": torch.float32}).to(x.dtype)
        return x + torch.randn(x.shape, **draw) * self.std


class Dropout(_Draws, nn.Dropout):
    """:class:`torch.nn.Dropout` that can draw its masks from a generator of its own. It then
    computes what torch's unfused dropout computes (a Bernoulli mask divided by ``1 - p``), the
    kernel torch itself runs on a CPU, so a CPU run draws and computes exactly what it did with
    ``nn.Dropout`` and the global generator."""

    def forward(self, x: Tensor) -> Tensor:
        if self.generator is None or not self.training or self.p == 0:
            return super().forward(x)
        if self.p == 1:
            return x * 0.0
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep.div_(1 - self.p)


def use_generator(module: nn.Module, generator: torch.Generator | None,
                  kinds: tuple[type, ...] = (GaussianNoise, Dropout)) -> None:
    """Let every noise and dropout layer of ``module`` (those of ``kinds``) draw from ``generator``
    (None: torch's global generator again)."""
    for m in module.modules():
        if isinstance(m, kinds):
            m.generator = generator


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, sec. 3.2: append to each example's features its closeness to the
    other examples of its batch.

    With a learned tensor T of shape (A, B, C), ``M_i = f_i T`` (B x C), ``c_b(i, j) =
    exp(-||M_i,b - M_j,b||_1)`` and ``o_b(i) = sum_{j != i} c_b(i, j)``; the output is
    ``[f_i, o(i)]`` of width A + B. ``groups`` splits the batch into that many equal parts
    (labeled, unlabeled, generated) that are compared only among themselves.
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.05)
        self.b = nn.Parameter(torch.full((kernels,), -1.0))
        self.kernels, self.kernel_dim = kernels, kernel_dim

    def forward(self, f: Tensor, groups: int = 1) -> Tensor:
        m = (f @ self.T).view(groups, -1, self.kernels, self.kernel_dim)
        dist = (m.unsqueeze(2) - m.unsqueeze(1)).abs().sum(-1)  # (G, n, n, B)
        eye = torch.eye(m.shape[1], device=f.device, dtype=f.dtype).view(1, m.shape[1], m.shape[1], 1)
        o = torch.exp(-dist - 1e6 * eye).sum(2).view(-1, self.kernels) + self.b
        return torch.cat([f, o], dim=1)


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalisation (Salimans et al. 2016, sec. 3.4): each example is normalised
    with the statistics of a fixed reference batch joined by that example alone.

    The first ``n_ref`` rows of the input are the reference batch's activations (the generator
    prepends them); they are normalised by the reference statistics.
    """

    def __init__(self, features: int, n_ref: int, eps: float = 1e-5):
        super().__init__()
        self.n_ref, self.eps = n_ref, eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: Tensor) -> Tensor:
        ref = x[: self.n_ref]
        ref_mean, ref_sq = ref.mean(0), ref.pow(2).mean(0)
        c = 1.0 / (self.n_ref + 1)
        mean = torch.cat([ref_mean.expand_as(ref), (1 - c) * ref_mean + c * x[self.n_ref:]])
        sq = torch.cat([ref_sq.expand_as(ref), (1 - c) * ref_sq + c * x[self.n_ref:].pow(2)])
        var = (sq - mean.pow(2)).clamp_min(0)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky-relu": lambda: nn.LeakyReLU(0.2),
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}
SQUASHINGS = {
    "sigmoid": torch.sigmoid,
    "tanh": lambda x: (torch.tanh(x) + 1.0) / 2.0,  # the DCGAN output, mapped into the data range
    "hard-sigmoid": lambda x: torch.clamp(x / 6.0 + 0.5, 0.0, 1.0),
    "none": lambda x: x,
}
VBN_REFERENCE = 100


def _items(text: str) -> list[str]:
    """The comma-separated items of ``text``; [] for a blank text. An empty item (``"1000,,500"``,
    ``"500,"``) is a ValueError: dropping it would build a network other than the one meant."""
    text = str(text)
    if not text.strip():
        return []
    items = text.split(",")
    if not all(i.strip() for i in items):
        raise ValueError(f"empty item in {text!r}")
    return items


def parse_widths(text: str) -> tuple[int, ...]:
    """``"500,500"`` -> (500, 500); ``""`` -> (); ``"500,,500"`` is a ValueError.

    >>> parse_widths("1000, 500"), parse_widths("")
    ((1000, 500), ())
    """
    return tuple(int(w) for w in _items(text))


def parse_per_layer(text: str, n: int) -> tuple[float, ...]:
    """One value for every layer (``"0.5"``) or one per layer (``"0.5,0,0"``)."""
    values = [float(v) for v in _items(text)]
    if len(values) == 1:
        return tuple(values * n)
    if len(values) != n:
        raise ValueError(f"expected 1 or {n} comma-separated values, got {text!r}")
    return tuple(values)


@torch.no_grad()
def data_dependent_init(model: nn.Module, x: Tensor) -> None:
    """Initialise every weight-normalised layer of ``model`` from one forward pass of ``x``."""
    for m in model.modules():
        if isinstance(m, WeightNormed):
            m._init_pending = True
    model(x)


@torch.no_grad()
def apply_init(model: nn.Module, kind: str) -> None:
    """Re-draw dense and convolution weights: ``normal-0.02`` (the DCGAN recipe) or ``xavier``
    (Glorot uniform). ``default`` keeps PyTorch's and, for weight-normalised layers, the
    reference's N(0, 0.1) (dense) and N(0, 0.05) (convolutions)."""
    if kind == "default":
        return
    for m in model.modules():
        if isinstance(m, WeightNormed):
            weight = m.v
        elif isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            weight = m.weight
        else:
            weight = None
        if weight is None:
            continue
        if kind == "normal-0.02":
            nn.init.normal_(weight, 0.0, 0.02)
        elif kind == "xavier":
            nn.init.xavier_uniform_(weight)
        else:
            raise ValueError(f"unknown init {kind!r}")


def draw_noise(n: int, z_dim: int, z_dist: str, generator: torch.Generator | None = None, device=None) -> Tensor:
    """z of shape (n, z_dim): U(0, 1) (``uniform``, the paper's), U(-1, 1) (``uniform-signed``) or N(0, 1)."""
    if z_dist == "normal":
        return torch.randn(n, z_dim, generator=generator, device=device)
    u = torch.rand(n, z_dim, generator=generator, device=device)
    return u * 2.0 - 1.0 if z_dist == "uniform-signed" else u


def pyramid(side: int, smallest: int = 4) -> tuple[int, int] | None:
    """``(base, levels)`` with ``side = base * 2**levels``, base in 4..7 and levels >= 1, the
    resolutions a convolutional generator doubles through (28: 7 -> 14 -> 28; 32: 4 -> 8 ->
    16 -> 32); None for a side that does not halve down that way (30, 36)."""
    base, levels = side, 0
    while base % 2 == 0 and base > 7:
        base, levels = base // 2, levels + 1
    if levels == 0 or not 4 <= base <= 7 or side < smallest:
        return None
    return base, levels


class UpsamplingGenerator(nn.Module):
    """z -> dense -> (base x base) feature maps -> transposed convolutions that double the
    resolution up to the image, batch norm and ``activation`` after each hidden layer, and
    an output squashed into the data range [0, 1]. The hidden layer at resolution ``base *
    2**i`` has ``width * 2**(levels - 1 - i)`` channels (width 128 on 32x32: 512, 256, 128)."""

    def __init__(self, out_shape: tuple[int, ...], z_dim: int, width: int, kernel: int, weight_norm_output: bool,
                 norm: str = "batch", activation: str = "relu", squash: str = "tanh", z_dist: str = "uniform"):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.z_dim, self.z_dist, self.squash = z_dim, z_dist, SQUASHINGS[squash]
        channels, side = out_shape[0], out_shape[-1]
        self.base, levels = pyramid(side)
        widths = [width * 2 ** (levels - 1 - i) for i in range(levels)]
        batch_norm = norm == "batch"
        units = widths[0] * self.base ** 2
        self.project = nn.Sequential(nn.Linear(z_dim, units, bias=not batch_norm),
                                     *([nn.BatchNorm1d(units)] if batch_norm else []), ACTIVATIONS[activation]())
        pad, extra = (kernel - 1) // 2, kernel % 2  # kernel 4: padding 1; kernel 5: padding 2 + 1 extra row
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers.append(nn.ConvTranspose2d(a, b, kernel, 2, pad, extra, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(ACTIVATIONS[activation]())
        self.body = nn.Sequential(*layers)
        self.out = (WNConvTranspose2d(widths[-1], channels, kernel) if weight_norm_output
                    else nn.ConvTranspose2d(widths[-1], channels, kernel, 2, pad, extra))
        self.widths = widths

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        return draw_noise(n, self.z_dim, self.z_dist, generator, device)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).view(-1, self.widths[0], self.base, self.base)
        return self.squash(self.out(self.body(h)))
