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


def save_density(real: np.ndarray, fake: np.ndarray, path: str | Path, title: str = "") -> None:
    """Real vs generated points of 1-D or 2-D data: overlaid histograms, or a scatter plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    if real.shape[1] == 1:
        bins = np.linspace(0.0, 1.0, 101)
        ax.hist(real[:, 0], bins=bins, density=True, alpha=0.5, label="real")
        ax.hist(fake[:, 0], bins=bins, density=True, alpha=0.5, label="generated")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    else:
        ax.scatter(real[:, 0], real[:, 1], s=3, alpha=0.3, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=3, alpha=0.6, label="generated")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
    ax.legend(loc="upper right")
    ax.set_title(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def save_samples(fake: torch.Tensor, data, path: str | Path) -> bool:
    """The picture of generated samples that fits the data: an image grid, or a density plot
    for 1-D and 2-D points. Returns False (and writes nothing) for other flat data."""
    if data.is_image:
        save_grid(fake, path)
        return True
    if data.shape[0] in (1, 2):
        rng = np.random.default_rng(0)
        real = data.x_train[rng.choice(len(data.x_train), size=min(2000, len(data.x_train)), replace=False)]
        save_density(real, fake.numpy(), path, Path(path).stem)
        return True
    return False


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
