from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from ssgan.data import load_digits


@pytest.fixture(scope="session")
def digits():
    return load_digits()


@contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` intra-op threads, then restore the count: bf16, and fp32 on some
    CPUs, sum in an order that depends on it, so bit-exact comparisons must pin it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def write_npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.fixture
def tiny_npz(tmp_path):
    """60 random 6x6 images of 3 classes, two thirds unlabeled, and a small test set."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = (rng.random((60, 6, 6)) * 0.5 + (y[:, None, None] / 4.0)).astype(np.float32)
    y_masked = y.copy()
    y_masked[np.arange(60) % 3 != 0] = -1
    return write_npz(tmp_path / "tiny.npz", x=x, y=y_masked, x_test=x[:30], y_test=y[:30])
