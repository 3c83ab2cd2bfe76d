"""The networks, one module per family, and :func:`build_models`, which builds the pair a
config names for data of a given shape.

- ``mlp`` (:mod:`ssgan.models.mlp`): the permutation-invariant MNIST networks of the paper;
- ``dcgan`` (:mod:`ssgan.models.dcgan`): a DCGAN-guideline pair for square images;
- ``salimans-cnn`` (:mod:`ssgan.models.salimans`): the reference SVHN/CIFAR-10 pair.

``auto`` (the default) picks ``salimans-cnn`` for colour images whose size it takes and
``mlp`` for everything else (grey images such as MNIST, vectors): :func:`resolve_arch`.
Every network takes and returns data in [0, 1]; convolutional ones map to [-1, 1] inside.
"""

from __future__ import annotations

from ssgan.errors import SSGANError
from ssgan.models import dcgan, mlp, salimans
from ssgan.models.layers import (GaussianNoise, MinibatchDiscrimination, VirtualBatchNorm, WeightNormed, WNConv2d,
                                 WNLinear, apply_init, data_dependent_init, parse_per_layer, parse_widths, pyramid,
                                 use_generator)
from ssgan.models.mlp import MLPDiscriminator, MLPGenerator

ARCHS = {"mlp": mlp.build, "dcgan": dcgan.build, "salimans-cnn": salimans.build}
SMALLEST_SIDE = {"dcgan": 8, "salimans-cnn": salimans.SMALLEST_SIDE}

__all__ = ["ARCHS", "GaussianNoise", "MLPDiscriminator", "MLPGenerator", "MinibatchDiscrimination",
           "VirtualBatchNorm", "WNConv2d", "WNLinear", "WeightNormed", "apply_init", "build_models",
           "data_dependent_init", "n_outputs", "parse_per_layer", "parse_widths", "resolve_arch", "use_generator"]


def shape_error(arch: str, shape: tuple[int, ...]) -> str | None:
    """Why ``arch`` cannot take examples of ``shape`` (C, H, W) or (D,); None if it can."""
    if arch == "mlp":
        return None
    smallest = SMALLEST_SIDE[arch]
    if len(shape) == 3 and shape[1] == shape[2] and pyramid(shape[1], smallest) is not None:
        return None
    sides = [s for s in (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64) if s >= smallest]
    if len(shape) == 3:
        got = "x".join(str(s) for s in shape[1:]) + f" with {shape[0]} channel{'s' * (shape[0] != 1)}"
    else:
        got = f"vectors of {shape[0]}"
    return (f"--arch {arch} takes square images whose side is 4-7 times a power of two "
            f"({', '.join(map(str, sides))}, ...); got {got}: use --arch mlp")


def resolve_arch(cfg, shape: tuple[int, ...]):
    """``cfg`` with a concrete architecture for examples of ``shape`` (its defaults filled in):
    ``auto`` becomes ``salimans-cnn`` for colour images it takes and ``mlp`` otherwise, and
    ``mlp``'s input noise, if unset, is sized to the shape (:func:`mlp.input_noise_for`)."""
    arch = cfg.arch
    if arch == "auto":
        colour = len(shape) == 3 and shape[0] > 1
        arch = "salimans-cnn" if colour and shape_error("salimans-cnn", shape) is None else "mlp"
    error = shape_error(arch, shape)
    if error:
        raise SSGANError(error)
    changes = {} if arch == cfg.arch else {"arch": arch}
    if arch == "mlp" and cfg.d_input_noise is None:  # the one default that depends on the shape (its size)
        changes["d_input_noise"] = mlp.input_noise_for(tuple(shape))
    return cfg.replace(**changes) if changes else cfg


def n_outputs(n_classes: int, fake_logit: str) -> int:
    return n_classes + (fake_logit == "explicit")


TRAINING_BYTES_PER_PARAMETER = 20  # fp32 weights, gradients and Adam's two moments of G and D, and D's average


def parameter_count(cfg, in_shape: tuple[int, ...], n_classes: int) -> int:
    """The parameters of :func:`build_models`' two networks, built on torch's meta device, which
    holds no values: what training them would take, known before any memory is asked for."""
    import torch

    with torch.device("meta"):
        g, d = build_models(cfg, in_shape, n_classes)
    return sum(p.numel() for net in (g, d) for p in net.parameters())


def build_models(cfg, in_shape: tuple[int, ...], n_classes: int):
    """The (generator, discriminator) pair that ``cfg`` describes, for examples of ``in_shape``."""
    cfg = resolve_arch(cfg, tuple(in_shape))
    g, d = ARCHS[cfg.arch](cfg, tuple(in_shape), n_outputs(n_classes, cfg.fake_logit))
    apply_init(g, cfg.init)
    apply_init(d, cfg.init)
    return g, d
