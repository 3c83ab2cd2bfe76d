"""The convolutional pair of the reference code for SVHN and CIFAR-10 (``--arch salimans-cnn``),
Salimans et al. 2016 (openai/improved-gan, ``train_cifar_feature_matching.py``).

D: dropout 0.2 on the input; three 3x3 convolutions of ``width`` channels (96 for CIFAR-10,
64 for SVHN), the last with stride 2; dropout 0.5; three of 2 ``width``, the last with stride
2; dropout 0.5; a 3x3 valid convolution and two 1x1 convolutions of 2 ``width``; global
average pooling, whose output feeds feature matching; a dense output. Every layer is
weight-normalised with data-dependent init, LeakyReLU 0.2 throughout.

G: z of 100 -> dense to 4x4x512, batch norm, ReLU -> 5x5 stride-2 transposed convolutions to
256 and 128 channels with batch norm and ReLU -> the image's channels, weight-normalised, tanh.
Other sides that halve to 4-7 (28: 7 -> 14 -> 28) keep the pattern with fewer levels.

D sees images in [-1, 1] (mapped from the data's [0, 1] inside), and G's tanh output is
mapped back to [0, 1], so samples stay in the data's range.
"""

from __future__ import annotations

from torch import Tensor, nn

from ssgan.models.layers import (ACTIVATIONS, Dropout, GaussianNoise, MinibatchDiscrimination, UpsamplingGenerator,
                                 WNConv2d, WNLinear)

# (out channels as a multiple of width, kernel, stride, padding); dropout after the 3rd and 6th
LAYERS = ((1, 3, 1, 1), (1, 3, 1, 1), (1, 3, 2, 1), (2, 3, 1, 1), (2, 3, 1, 1), (2, 3, 2, 1),
          (2, 3, 1, 0), (2, 1, 1, 0), (2, 1, 1, 0))
DROPOUT_AFTER = (2, 5)
SMALLEST_SIDE = 10  # two halvings must leave room for the 3x3 valid convolution


class SalimansDiscriminator(nn.Module):
    """Returns ``(logits, features)``; ``features`` are the globally pooled last feature maps."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int, width: int = 96, input_noise: float = 0.0,
                 hidden_noise: float = 0.0, input_dropout: float = 0.2, dropout: float = 0.5,
                 activation: str = "leaky-relu", mbd_kernels: int = 0, mbd_dim: int = 5):
        super().__init__()
        convs, channels = [], in_shape[0]
        for mult, kernel, stride, padding in LAYERS:
            convs.append(WNConv2d(channels, mult * width, kernel, stride, padding))
            channels = mult * width
        self.convs = nn.ModuleList(convs)
        self.act = ACTIVATIONS[activation]()
        self.input_noise, self.hidden_noise = GaussianNoise(input_noise), GaussianNoise(hidden_noise)
        self.input_dropout = Dropout(input_dropout)
        self.dropout = Dropout(dropout)
        self.mbd = MinibatchDiscrimination(channels, mbd_kernels, mbd_dim) if mbd_kernels > 0 else None
        self.out = WNLinear(channels + mbd_kernels, n_out, train_scale=True)

    def forward(self, x: Tensor, groups: int = 1) -> tuple[Tensor, Tensor]:
        h = self.input_dropout(self.input_noise(x * 2.0 - 1.0))
        for i, conv in enumerate(self.convs):
            if i > 0:
                h = self.hidden_noise(h)
            h = self.act(conv(h))
            if i in DROPOUT_AFTER:
                h = self.dropout(h)
        features = h.mean((2, 3))
        h = features if self.mbd is None else self.mbd(features, groups)
        return self.out(h), features


def build(cfg, in_shape: tuple[int, ...], n_out: int) -> tuple[UpsamplingGenerator, SalimansDiscriminator]:
    g = UpsamplingGenerator(in_shape, cfg.z_dim, cfg.g_width, kernel=5, weight_norm_output=True, norm=cfg.g_norm,
                            activation=cfg.g_activation, squash=cfg.g_output, z_dist=cfg.z_dist)
    d = SalimansDiscriminator(in_shape, n_out, cfg.d_width, cfg.d_input_noise, cfg.d_hidden_noise,
                              cfg.d_input_dropout, cfg.d_dropout, cfg.d_activation, cfg.mbd_kernels, cfg.mbd_dim)
    return g, d
