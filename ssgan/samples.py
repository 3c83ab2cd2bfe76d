"""Exporting generated samples as image grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import save_image

from ssgan.fileio import atomic_path


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    """Write images (N, C, H, W) in [0, 1] as one PNG grid, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(math.ceil(math.sqrt(len(images)))))
    with atomic_path(path) as tmp:
        save_image(images, tmp, nrow=nrow, padding=2, pad_value=1.0, format="png")


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples and their noise from ``generator`` in eval mode, reproducible by ``seed``."""
    generator.eval()
    z = generator.sample_z(n, torch.Generator().manual_seed(seed))
    return generator(z), z


def write_samples(x: torch.Tensor, z: torch.Tensor, shape: tuple[int, ...],
                  png: Path | None, npz: Path | None) -> list[Path]:
    """Write a PNG grid (images only) and/or an .npz of ``x`` and ``z``; return what was written."""
    from ssgan.errors import SSGANError

    written = []
    if png is not None:
        if len(shape) != 3:
            raise SSGANError(f"this run's data are flat vectors of shape {shape}, not images: use --npz FILE")
        try:
            save_grid(x, png)
        except OSError as e:
            raise SSGANError(f"cannot write {png}: {e.strerror or e}") from None
        written.append(png)
    if npz is not None:
        try:
            with atomic_path(npz) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, x=x.numpy(), z=z.numpy())
        except OSError as e:
            raise SSGANError(f"cannot write {npz}: {e.strerror or e}") from None
        written.append(npz)
    return written
