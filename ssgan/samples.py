"""Exporting generated samples as image grids."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ssgan.fileio import atomic_path


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    """Write images (N, C, H, W) in [0, 1] as one PNG grid, atomically."""
    write_png(grid_pixels(images, nrow), path)


def grid_pixels(images: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """The pixels (H, W, C, uint8; grey images come as three equal channels) of :func:`save_grid`'s
    picture: torchvision's grid, rounded as its ``save_image`` rounds, so the PNG is the one
    ``save_image`` writes."""
    from torchvision.utils import make_grid  # (here, not above: importing torchvision takes about 1 s)

    nrow = nrow or max(1, int(math.ceil(math.sqrt(len(images)))))
    return _eight_bit(make_grid(images, nrow=nrow, padding=2, pad_value=1.0)).permute(1, 2, 0).numpy()


def _eight_bit(x: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] as 8-bit pixels on the host, rounded as torchvision's ``save_image`` rounds."""
    return x.mul(255).add_(0.5).clamp_(0, 255).to("cpu", torch.uint8)


def write_png(pixels: np.ndarray, path: str | Path) -> None:
    """Write pixels (H, W, C, uint8) as a PNG file, atomically; no torch operator runs here."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="png")


def save_density(real: np.ndarray, fake: np.ndarray, path: str | Path, title: str = "") -> None:
    """Real vs generated points of 1-D or 2-D data: overlaid histograms, or a scatter plot.
    Drawn on a Figure of its own, not through pyplot's global state, so that runs in threads
    (``--parallel-mode threads``) can draw at the same time."""
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
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


PICTURE_CHANNELS = 4  # images of 1 to 4 channels have a picture (grey, grey and alpha, RGB, RGBA)


def has_picture(shape: tuple[int, ...]) -> bool:
    """Whether examples of ``shape`` (C, H, W) can be drawn as an image grid: not vectors, and not
    images of more channels than a PNG holds (say 16 bands of a multispectral image)."""
    return len(shape) == 3 and shape[0] <= PICTURE_CHANNELS


def save_samples(fake: torch.Tensor, path: str | Path, real: np.ndarray | None = None) -> bool:
    """The picture of generated samples that fits them: an image grid for (N, C, H, W) with up to
    four channels, or a density plot against ``real`` points for 1-D and 2-D data. Returns False
    (and writes nothing) when there is no such picture."""
    write = sample_picture(fake, real)
    if write is None:
        return False
    write(path)
    return True


def sample_picture(fake: torch.Tensor, real: np.ndarray | None = None) -> Callable[[str | Path], None] | None:
    """What :func:`save_samples` writes, with its torch work done in this thread: a function that
    writes the picture to a path with numpy, PIL and matplotlib alone (None: no picture). The
    training loop prepares each epoch's grid so, and its writer thread only encodes the file: a
    second thread that runs torch's parallel operators gets an OpenMP team of its own, and while
    that thread lived (the writer lives as long as the loop) the training thread's parallel
    operators ran slower: the default bf16 fit on a 2-core Xeon took 1.8 times as long an epoch
    from the second epoch on (README, "Speed on the CPU")."""
    if fake.dim() == 4:
        if not has_picture(tuple(fake.shape[1:])):
            return None
        pixels = grid_pixels(fake)
        return lambda path: write_png(pixels, path)
    if fake.dim() == 2 and fake.shape[1] in (1, 2) and real is not None:
        rng = np.random.default_rng(0)
        real = real[rng.choice(len(real), size=min(2000, len(real)), replace=False)]
        return lambda path: save_density(real, fake.numpy(), path, Path(path).stem)
    return None


GENERATED_ROWS = 10_000  # samples that one pass of the generator makes (more: in parts of this many)


def sample_count(n) -> int:
    """``n`` as a number of samples to generate, given in Python (``Run.sample``, the estimator's
    ``generate``), or a one-line error (an :class:`~ssgan.errors.SSGANError`, a ValueError).

    >>> sample_count(3)
    3
    >>> sample_count(True)
    Traceback (most recent call last):
    ssgan.errors.SSGANError: n must be a positive number of samples, got True
    """
    from ssgan.errors import SSGANError

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SSGANError(f"n must be a positive number of samples, got {n!r}")
    return int(n)


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples and their noise, on the CPU, from ``generator`` in eval mode on its own device;
    reproducible by ``seed`` (the noise is drawn on the CPU, the same on every device). Passes
    of at most :data:`GENERATED_ROWS` samples keep a convolutional generator's activations within
    what 10,000 samples take (and those 10,000 as they were made in one pass)."""
    generator.eval()
    z = generator.sample_z(n, torch.Generator().manual_seed(seed))
    return torch.cat([_generated(generator, z[i:i + GENERATED_ROWS]) for i in range(0, n, GENERATED_ROWS)]), z


def _generated(generator: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """``generator(z)`` on the generator's device, given back on the CPU in fp32 (contiguous:
    a convolutional generator on the CPU computes channels-last)."""
    return generator(z.to(next(generator.parameters()).device)).float().cpu().contiguous()


def write_samples(x: torch.Tensor, z: torch.Tensor, png: Path | None, npz: Path | None,
                  real: np.ndarray | None = None, to_units=lambda a: a) -> list[Path]:
    """Write the picture of :func:`save_samples` (in the networks' units) and/or an .npz of
    ``to_units(x)`` (the data's own units: the inverse of the run's scaling) and ``z``; return
    what was written."""
    from ssgan.errors import SSGANError

    written, path = [], png  # (path: the file being written, which an error names)
    try:
        if png is not None:
            if not save_samples(x, png, real):
                what = "leave out --out: --npz writes the samples alone" if npz is not None else "use --npz FILE"
                raise SSGANError(f"this run's examples, of shape {tuple(x.shape[1:])}, have no picture: {what}")
            written.append(png)
        if npz is not None:
            path = npz
            npz.parent.mkdir(parents=True, exist_ok=True)  # (as the picture's folder is)
            with atomic_path(npz) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, x=to_units(x.numpy()), z=z.numpy())
            written.append(npz)
    except OSError as e:
        raise SSGANError(f"cannot write {path}: {e.strerror or e}") from None
    return written


def write_image_files(x: torch.Tensor, folder: Path) -> int:
    """Write each generated image of ``x`` (N, C, H, W) in [0, 1] as an 8-bit PNG file
    (``sample_00000.png``, ...; grey for one channel, RGB for three) into ``folder``, a new
    one: the files go into a hidden folder beside it, renamed to ``folder`` once all are
    written, so that a failed or stopped export leaves no half-filled folder. The folder reads
    back as ``folder:DIR`` images (``ssgan predict``) and is what FID tools that take folders
    of images read. Returns how many files were written."""
    import secrets
    import shutil

    from PIL import Image

    from ssgan.errors import SSGANError

    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise SSGANError(f"--images writes grey or RGB images, and this run's samples have shape {tuple(x.shape[1:])}: "
                         "use --npz FILE")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SSGANError(f"--images {folder}: it exists{' and is not empty' if folder.is_dir() else ''}; "
                         "give a new folder, so that these samples are not mixed with other files")
    pixels = _eight_bit(x).permute(0, 2, 3, 1).numpy()
    partial = folder.parent / f".{folder.name}.{secrets.token_hex(6)}.partial"
    try:
        partial.mkdir(parents=True)
        for i, image in enumerate(pixels):
            Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(partial / f"sample_{i:05d}.png")
        if folder.is_dir():
            folder.rmdir()  # (empty, checked above) so that the rename can take its place
        os.replace(partial, folder)
    except OSError as e:
        raise SSGANError(f"cannot write {folder}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return len(pixels)


def _z_range(generator) -> tuple[float, float]:
    return {"uniform": (0.0, 1.0), "uniform-signed": (-1.0, 1.0)}.get(generator.z_dist, (-2.5, 2.5))


@torch.no_grad()
def latent_walk(generator: torch.nn.Module, dim: int, rows: int = 8, steps: int = 10, seed: int = 0) -> torch.Tensor:
    """Samples along latent dimension ``dim`` (rows: other dimensions fixed at random)."""
    from ssgan.errors import SSGANError

    if not 0 <= dim < generator.z_dim:
        raise SSGANError(f"--walk {dim}: the generator's noise has dimensions 0..{generator.z_dim - 1}")
    generator.eval()
    z = generator.sample_z(rows, torch.Generator().manual_seed(seed)).repeat_interleave(steps, 0)
    z[:, dim] = torch.linspace(*_z_range(generator), steps).repeat(rows)
    return _generated(generator, z)


@torch.no_grad()
def interpolation(generator: torch.nn.Module, rows: int = 8, steps: int = 10, seed: int = 0) -> torch.Tensor:
    """Samples on straight lines between pairs of noise vectors, one pair per row."""
    generator.eval()
    g = torch.Generator().manual_seed(seed)
    z0, z1 = generator.sample_z(rows, g), generator.sample_z(rows, g)
    t = torch.linspace(0.0, 1.0, steps).view(1, steps, 1)
    z = (z0.unsqueeze(1) * (1 - t) + z1.unsqueeze(1) * t).reshape(rows * steps, -1)
    return _generated(generator, z)
