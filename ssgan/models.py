"""The networks: the permutation-invariant MNIST models of Salimans et al. 2016.

Discriminator ``mlp``: Gaussian input noise (std 0.3), weight-normalised dense layers
1000-500-250-250-250 with ReLU, Gaussian noise (std 0.5) before every layer after the first,
and a weight-normalised output of K (or K+1) logits. Noise is on in ``train()`` mode only.

Generator ``mlp``: z ~ U(0, 1)^100 -> 500 -> 500 (batch norm, softplus) -> a weight-normalised
output layer squashed by a sigmoid into the data range [0, 1].

As in the reference code, the hidden layers' weight-norm scales are fixed after a
data-dependent initialisation (:func:`data_dependent_init`); only the output layer's scale
is trained.
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
    """Adds N(0, std^2) noise in training mode; the identity in eval mode."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.std > 0:
            return x + torch.randn_like(x) * self.std
        return x


class MLPDiscriminator(nn.Module):
    """Returns ``(logits, features)``; ``features`` is the last hidden layer, used by feature matching."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int,
                 hidden: tuple[int, ...] = (1000, 500, 250, 250, 250),
                 input_noise: float = 0.3, hidden_noise: float = 0.5):
        super().__init__()
        widths = (math.prod(in_shape), *hidden)
        self.input_noise = GaussianNoise(input_noise)
        self.hidden = nn.ModuleList(WNLinear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.hidden_noise = GaussianNoise(hidden_noise)
        self.out = WNLinear(widths[-1], n_out, train_scale=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.input_noise(x.flatten(1))
        for i, layer in enumerate(self.hidden):
            if i > 0:
                h = self.hidden_noise(h)
            h = F.relu(layer(h))
        return self.out(self.hidden_noise(h)), h


class MLPGenerator(nn.Module):
    """Maps z of shape (B, z_dim) to samples of shape (B, *out_shape) in [0, 1]."""

    def __init__(self, out_shape: tuple[int, ...], z_dim: int = 100, hidden: tuple[int, ...] = (500, 500)):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.z_dim = z_dim
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.Softplus()]
            width = h
        self.body = nn.Sequential(*layers)
        self.out = WNLinear(width, math.prod(out_shape), train_scale=True)

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        return torch.rand(n, self.z_dim, generator=generator, device=device)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.out(self.body(z))).view(-1, *self.out_shape)


@torch.no_grad()
def data_dependent_init(model: nn.Module, x: Tensor) -> None:
    """Initialise every :class:`WNLinear` of ``model`` from one forward pass of ``x``."""
    for m in model.modules():
        if isinstance(m, WNLinear):
            m._init_pending = True
    model(x)


def n_outputs(n_classes: int, fake_logit: str) -> int:
    return n_classes + (fake_logit == "explicit")


def build_models(cfg, in_shape: tuple[int, ...], n_classes: int) -> tuple[MLPGenerator, MLPDiscriminator]:
    """The (generator, discriminator) pair named by ``cfg.model``."""
    if cfg.model != "mlp":  # Config validates; this guards direct callers.
        raise ValueError(f"unknown model {cfg.model!r}")
    g = MLPGenerator(in_shape, z_dim=cfg.z_dim)
    d = MLPDiscriminator(in_shape, n_outputs(n_classes, cfg.fake_logit))
    return g, d
