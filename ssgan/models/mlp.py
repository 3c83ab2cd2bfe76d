"""The permutation-invariant MNIST networks of Salimans et al. 2016 (``--arch mlp``), with options.

Discriminator (defaults): Gaussian input noise (std 0.3), weight-normalised dense layers
1000-500-250-250-250 with ReLU, Gaussian noise (std 0.5) before every layer after the first,
and a weight-normalised output of K (or K+1) logits. Noise is on in ``train()`` mode only.
Options: widths, activation, layer normalisation, dropout, noise levels, the hidden layer that
feeds feature matching, and minibatch discrimination before the output.

Generator (defaults): z ~ U(0, 1)^100 -> 500 -> 500 (batch norm, softplus) -> a
weight-normalised output layer squashed by a sigmoid into the data range [0, 1]. Options:
widths, normalisation (batch, layer, virtual batch, none), dropout per layer, activation,
output squashing and the noise distribution.

On data of fewer than 784 values per example the input noise is smaller
(:func:`input_noise_for`); the rest of the recipe is MNIST's whatever the data.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ssgan.models.layers import (ACTIVATIONS, SQUASHINGS, VBN_REFERENCE, BatchNorm1d, Dropout, GaussianNoise,
                                 MinibatchDiscrimination, VirtualBatchNorm, WNLinear, draw_noise, parse_per_layer,
                                 parse_widths)


class MLPDiscriminator(nn.Module):
    """Returns ``(logits, features)``; ``features`` feed feature matching (the last hidden
    layer by default)."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int,
                 hidden: tuple[int, ...] = (1000, 500, 250, 250, 250),
                 input_noise: float = 0.3, hidden_noise: float = 0.5, activation: str = "relu",
                 layer_norm: bool = False, dropout: float = 0.0, feature_layer: int = -1,
                 mbd_kernels: int = 0, mbd_dim: int = 5, input_dropout: float = 0.0):
        super().__init__()
        widths = (math.prod(in_shape), *hidden)
        self.input_noise = GaussianNoise(input_noise)
        self.input_dropout = Dropout(input_dropout) if input_dropout > 0 else None
        self.hidden = nn.ModuleList(WNLinear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(b) for b in hidden) if layer_norm else None
        self.act = ACTIVATIONS[activation]()
        self.dropout = Dropout(dropout) if dropout > 0 else None
        self.hidden_noise = GaussianNoise(hidden_noise)
        self.feature_layer = feature_layer % len(hidden)
        self.mbd = MinibatchDiscrimination(widths[-1], mbd_kernels, mbd_dim) if mbd_kernels > 0 else None
        self.out = WNLinear(widths[-1] + mbd_kernels, n_out, train_scale=True)

    def forward(self, x: Tensor, groups: int = 1) -> tuple[Tensor, Tensor]:
        h = self.input_noise(x.flatten(1))
        if self.input_dropout is not None:
            h = self.input_dropout(h)
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
                layers.append(BatchNorm1d(h))
            elif norm == "layer":
                layers.append(nn.LayerNorm(h))
            elif norm == "vbn":
                layers.append(VirtualBatchNorm(h, VBN_REFERENCE))
            layers.append(ACTIVATIONS[activation]())
            if p > 0:
                layers.append(Dropout(p))
            width = h
        self.body = nn.Sequential(*layers)
        self.out = WNLinear(width, math.prod(out_shape), train_scale=True)
        if norm == "vbn":  # the fixed reference batch, drawn once from its own seed
            self.register_buffer("z_ref", self.sample_z(VBN_REFERENCE, torch.Generator().manual_seed(12345)))
        else:
            self.z_ref = None

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """z ~ U(0, 1) (``uniform``, the paper's), U(-1, 1) (``uniform-signed``) or N(0, 1)."""
        return draw_noise(n, self.z_dim, self.z_dist, generator, device)

    def forward(self, z: Tensor) -> Tensor:
        if self.z_ref is not None:
            h = self.body(torch.cat([self.z_ref, z]))[self.z_ref.shape[0]:]
        else:
            h = self.body(z)
        return self.squash(self.out(h)).view(-1, *self.out_shape)


MNIST_FEATURES = 28 * 28
MNIST_INPUT_NOISE = 0.3


def input_noise_for(shape: tuple[int, ...]) -> float:
    """The default std of D's Gaussian input noise for examples of ``shape``.

    ``0.3 * sqrt(min(D, 784) / 784)`` for examples of D values (features, or pixels times
    channels): the paper's 0.3 for MNIST's 784 pixels and anything larger, less for fewer
    (0.015 for 2 features, 0.059 for 30, 0.086 for 64). On [0, 1]-scaled data of few
    dimensions 0.3 drowns the structure; this rule had higher validation accuracy than 0.3 on
    each of make_moons, make_circles, breast cancer and the 8x8 digits (reports/vectors).
    """
    d = math.prod(shape)
    return round(MNIST_INPUT_NOISE * math.sqrt(min(d, MNIST_FEATURES) / MNIST_FEATURES), 4)


def build(cfg, in_shape: tuple[int, ...], n_out: int) -> tuple[MLPGenerator, MLPDiscriminator]:
    g_hidden = parse_widths(cfg.g_hidden)
    g = MLPGenerator(in_shape, z_dim=cfg.z_dim, hidden=g_hidden, norm=cfg.g_norm, activation=cfg.g_activation,
                     dropout=parse_per_layer(cfg.g_dropout, len(g_hidden)) if g_hidden else (),
                     squash=cfg.g_output, z_dist=cfg.z_dist)
    d = MLPDiscriminator(in_shape, n_out, hidden=parse_widths(cfg.d_hidden),
                         input_noise=cfg.d_input_noise, hidden_noise=cfg.d_hidden_noise,
                         activation=cfg.d_activation, layer_norm=cfg.d_layer_norm, dropout=cfg.d_dropout,
                         feature_layer=cfg.fm_layer, mbd_kernels=cfg.mbd_kernels, mbd_dim=cfg.mbd_dim,
                         input_dropout=cfg.d_input_dropout)
    return g, d
