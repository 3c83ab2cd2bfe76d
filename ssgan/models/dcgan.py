"""A DCGAN-guideline pair (``--arch dcgan``) for square images, grey or colour (Radford et al. 2016).

Strided convolutions (4x4, stride 2) down- and upsample instead of pooling; batch norm in
both networks except at G's output and D's input; fully connected layers only at G's input
and D's output; ReLU in G with a tanh output, LeakyReLU (slope 0.2) in D. The side must be
4-7 times a power of two (28: 7 -> 14 -> 28; 32: 4 -> 8 -> 16 -> 32).

For semi-supervised learning D adds, by default, the reference code's dropout (0.2 on the
input, 0.5 after each block), and its batch norm normalises the labeled, unlabeled and
generated batches separately (:class:`~ssgan.models.layers.GroupBatchNorm2d`). D sees images
in [-1, 1] (mapped from the data's [0, 1] inside) and G's tanh output is mapped back to [0, 1],
so samples stay in the data's range. Feature matching uses the flattened last feature maps.
"""

from __future__ import annotations

from torch import Tensor, nn

from ssgan.models.layers import (ACTIVATIONS, Dropout, GaussianNoise, GroupBatchNorm2d, MinibatchDiscrimination,
                                 UpsamplingGenerator, pyramid)


class DCGANDiscriminator(nn.Module):
    """Returns ``(logits, features)``. Widths double at every halving: ``width``, 2 ``width``, ..."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int, width: int = 64, input_noise: float = 0.0,
                 hidden_noise: float = 0.0, input_dropout: float = 0.2, dropout: float = 0.5,
                 activation: str = "leaky-relu", mbd_kernels: int = 0, mbd_dim: int = 5):
        super().__init__()
        channels, side = in_shape[0], in_shape[-1]
        base, levels = pyramid(side)
        widths = [channels] + [width * 2 ** i for i in range(levels)]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 4, 2, 1, bias=i == 0)
                                   for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])))
        self.norms = nn.ModuleList([nn.Identity()] + [GroupBatchNorm2d(b) for b in widths[2:]])
        self.act = ACTIVATIONS[activation]()
        self.input_noise, self.hidden_noise = GaussianNoise(input_noise), GaussianNoise(hidden_noise)
        self.input_dropout = Dropout(input_dropout)
        self.dropout = Dropout(dropout)
        features = widths[-1] * base * base
        self.mbd = MinibatchDiscrimination(features, mbd_kernels, mbd_dim) if mbd_kernels > 0 else None
        self.out = nn.Linear(features + mbd_kernels, n_out)

    def forward(self, x: Tensor, groups: int = 1) -> tuple[Tensor, Tensor]:
        h = self.input_dropout(self.input_noise(x * 2.0 - 1.0))
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if i > 0:
                h = self.hidden_noise(h)
            h = conv(h)
            h = norm(h, groups) if i > 0 else h
            h = self.dropout(self.act(h))
        features = h.flatten(1)
        h = features if self.mbd is None else self.mbd(features, groups)
        return self.out(h), features


def build(cfg, in_shape: tuple[int, ...], n_out: int) -> tuple[UpsamplingGenerator, DCGANDiscriminator]:
    g = UpsamplingGenerator(in_shape, cfg.z_dim, cfg.g_width, kernel=4, weight_norm_output=False, norm=cfg.g_norm,
                            activation=cfg.g_activation, squash=cfg.g_output, z_dist=cfg.z_dist)
    d = DCGANDiscriminator(in_shape, n_out, cfg.d_width, cfg.d_input_noise, cfg.d_hidden_noise, cfg.d_input_dropout,
                           cfg.d_dropout, cfg.d_activation, cfg.mbd_kernels, cfg.mbd_dim)
    return g, d
