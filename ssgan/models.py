"""The networks: the permutation-invariant MNIST models of Salimans et al. 2016, with options.

Discriminator ``mlp`` (defaults): Gaussian input noise (std 0.3), weight-normalised dense
layers 1000-500-250-250-250 with ReLU, Gaussian noise (std 0.5) before every layer after the
first, and a weight-normalised output of K (or K+1) logits. Noise is on in ``train()`` mode
only. Options: widths, activation, layer normalisation, dropout, noise levels, the hidden layer
that feeds feature matching, and minibatch discrimination before the output.

Generator ``mlp`` (defaults): z ~ U(0, 1)^100 -> 500 -> 500 (batch norm, softplus) -> a
weight-normalised output layer squashed by a sigmoid into the data range [0, 1]. Options:
widths, normalisation (batch, layer, virtual batch, none), dropout per layer, activation,
output squashing and the noise distribution.

As in the reference code, the discriminator's hidden weight-norm scales are fixed after a
data-dependent initialisation (:func:`data_dependent_init`); only output scales are trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class WNLinear(nn.Module):
    """Dense layer with weight normalisation: ``W = g * v / ||v||`` row-wise (Salimans & Kingma 2016)."""

    def __init__(self, in_features: int, out_features: int, train_scale: bool = False):
        super().__init__()
        self.v = nn.Parameter(torch.randn(out_features, in_features) * 0.1)
        self.g = nn.Parameter(torch.ones(out_features), requires_grad=train_scale)
        self.b = nn.Parameter(torch.zeros(out_features))
        self._init_pending = False

    def forward(self, x: Tensor) -> Tensor:
        w = self.v * (self.g / self.v.norm(dim=1)).unsqueeze(1)
        if not self._init_pending:
            return F.linear(x, w, self.b)
        # Data-dependent init: choose g and b so that this batch's pre-activations have zero
        # mean and unit variance per unit, then return them as such.
        self._init_pending = False
        pre = F.linear(x, w)
        mean, std = pre.mean(0), pre.std(0, unbiased=False) + 1e-8
        with torch.no_grad():
            self.g.div_(std)
            self.b.copy_(-mean / std)
        return (pre - mean) / std


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode; the identity in eval mode.

    ``generator`` (None: torch's global one) lets each process of a distributed run draw
    its own noise while the global generator stays in step across processes."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std
        self.generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.std > 0:
            if self.generator is None:
                return x + torch.randn_like(x) * self.std
            return x + torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) * self.std
        return x

    def __deepcopy__(self, memo):  # a torch.Generator cannot be copied; a copy draws from the global one
        copy = GaussianNoise(self.std)
        copy.train(self.training)
        return copy


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
    "hard-sigmoid": lambda x: torch.clamp(x / 6.0 + 0.5, 0.0, 1.0),
    "none": lambda x: x,
}
VBN_REFERENCE = 100


def parse_widths(text: str) -> tuple[int, ...]:
    """``"500,500"`` -> (500, 500); ``""`` -> ()."""
    return tuple(int(w) for w in str(text).split(",") if w.strip())


def parse_per_layer(text: str, n: int) -> tuple[float, ...]:
    """One value for every layer (``"0.5"``) or one per layer (``"0.5,0,0"``)."""
    values = [float(v) for v in str(text).split(",") if v.strip()]
    if len(values) == 1:
        return tuple(values * n)
    if len(values) != n:
        raise ValueError(f"expected 1 or {n} comma-separated values, got {text!r}")
    return tuple(values)


class MLPDiscriminator(nn.Module):
    """Returns ``(logits, features)``; ``features`` feed feature matching (the last hidden
    layer by default)."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int,
                 hidden: tuple[int, ...] = (1000, 500, 250, 250, 250),
                 input_noise: float = 0.3, hidden_noise: float = 0.5, activation: str = "relu",
                 layer_norm: bool = False, dropout: float = 0.0, feature_layer: int = -1,
                 mbd_kernels: int = 0, mbd_dim: int = 5):
        super().__init__()
        widths = (math.prod(in_shape), *hidden)
        self.input_noise = GaussianNoise(input_noise)
        self.hidden = nn.ModuleList(WNLinear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(b) for b in hidden) if layer_norm else None
        self.act = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.hidden_noise = GaussianNoise(hidden_noise)
        self.feature_layer = feature_layer % len(hidden)
        self.mbd = MinibatchDiscrimination(widths[-1], mbd_kernels, mbd_dim) if mbd_kernels > 0 else None
        self.out = WNLinear(widths[-1] + mbd_kernels, n_out, train_scale=True)

    def forward(self, x: Tensor, groups: int = 1) -> tuple[Tensor, Tensor]:
        h = self.input_noise(x.flatten(1))
        features = h
        for i, layer in enumerate(self.hidden):
            if i > 0:
                h = self.hidden_noise(h)
            h = layer(h)
            if self.norms is not None:
                h = self.norms[i](h)
            h = self.act(h)
            if i == self.feature_layer:
                features = h
            if self.dropout is not None:
                h = self.dropout(h)
        h = self.hidden_noise(h)
        if self.mbd is not None:
            h = self.mbd(h, groups)
        return self.out(h), features


class MLPGenerator(nn.Module):
    """Maps z of shape (B, z_dim) to samples of shape (B, *out_shape) in [0, 1]."""

    def __init__(self, out_shape: tuple[int, ...], z_dim: int = 100, hidden: tuple[int, ...] = (500, 500),
                 norm: str = "batch", activation: str = "softplus", dropout: tuple[float, ...] = (),
                 squash: str = "sigmoid", z_dist: str = "uniform"):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.z_dim, self.z_dist, self.squash = z_dim, z_dist, SQUASHINGS[squash]
        dropout = dropout or (0.0,) * len(hidden)
        layers: list[nn.Module] = []
        width = z_dim
        for h, p in zip(hidden, dropout):
            layers.append(nn.Linear(width, h, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(h))
            elif norm == "layer":
                layers.append(nn.LayerNorm(h))
            elif norm == "vbn":
                layers.append(VirtualBatchNorm(h, VBN_REFERENCE))
            layers.append(ACTIVATIONS[activation]())
            if p > 0:
                layers.append(nn.Dropout(p))
            width = h
        self.body = nn.Sequential(*layers)
        self.out = WNLinear(width, math.prod(out_shape), train_scale=True)
        if norm == "vbn":  # the fixed reference batch, drawn once from its own seed
            self.register_buffer("z_ref", self._draw(VBN_REFERENCE, torch.Generator().manual_seed(12345)))
        else:
            self.z_ref = None

    def _draw(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        if self.z_dist == "normal":
            return torch.randn(n, self.z_dim, generator=generator, device=device)
        u = torch.rand(n, self.z_dim, generator=generator, device=device)
        return u * 2.0 - 1.0 if self.z_dist == "uniform-signed" else u

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """z ~ U(0, 1) (``uniform``, the paper's), U(-1, 1) (``uniform-signed``) or N(0, 1)."""
        return self._draw(n, generator, device)

    def forward(self, z: Tensor) -> Tensor:
        if self.z_ref is not None:
            h = self.body(torch.cat([self.z_ref, z]))[self.z_ref.shape[0]:]
        else:
            h = self.body(z)
        return self.squash(self.out(h)).view(-1, *self.out_shape)


@torch.no_grad()
def data_dependent_init(model: nn.Module, x: Tensor) -> None:
    """Initialise every :class:`WNLinear` of ``model`` from one forward pass of ``x``."""
    for m in model.modules():
        if isinstance(m, WNLinear):
            m._init_pending = True
    model(x)


@torch.no_grad()
def apply_init(model: nn.Module, kind: str) -> None:
    """Re-draw dense weights: ``normal-0.02`` (the DCGAN recipe) or ``xavier`` (Glorot uniform).
    ``default`` keeps PyTorch's and, for weight-normalised layers, the reference's N(0, 0.1)."""
    if kind == "default":
        return
    for m in model.modules():
        weight = m.v if isinstance(m, WNLinear) else m.weight if isinstance(m, nn.Linear) else None
        if weight is None:
            continue
        if kind == "normal-0.02":
            nn.init.normal_(weight, 0.0, 0.02)
        elif kind == "xavier":
            nn.init.xavier_uniform_(weight)
        else:
            raise ValueError(f"unknown init {kind!r}")


def n_outputs(n_classes: int, fake_logit: str) -> int:
    return n_classes + (fake_logit == "explicit")


def build_models(cfg, in_shape: tuple[int, ...], n_classes: int) -> tuple[MLPGenerator, MLPDiscriminator]:
    """The (generator, discriminator) pair that ``cfg`` describes."""
    if cfg.model != "mlp":  # Config validates; this guards direct callers.
        raise ValueError(f"unknown model {cfg.model!r}")
    g_hidden = parse_widths(cfg.g_hidden)
    g = MLPGenerator(in_shape, z_dim=cfg.z_dim, hidden=g_hidden, norm=cfg.g_norm, activation=cfg.g_activation,
                     dropout=parse_per_layer(cfg.g_dropout, len(g_hidden)) if g_hidden else (),
                     squash=cfg.g_output, z_dist=cfg.z_dist)
    d = MLPDiscriminator(in_shape, n_outputs(n_classes, cfg.fake_logit), hidden=parse_widths(cfg.d_hidden),
                         input_noise=cfg.d_input_noise, hidden_noise=cfg.d_hidden_noise,
                         activation=cfg.d_activation, layer_norm=cfg.d_layer_norm, dropout=cfg.d_dropout,
                         feature_layer=cfg.fm_layer, mbd_kernels=cfg.mbd_kernels, mbd_dim=cfg.mbd_dim)
    apply_init(g, cfg.init)
    apply_init(d, cfg.init)
    return g, d
