"""Write the verified Fashion-MNIST archive (../shared/data/fashion-mnist.npz) into torchvision's
layout, DIR/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte, so that
``--dataset fashion-mnist --data-root DIR`` reads it offline exactly as a downloaded copy.

    python benchmarks/fashion_mnist_layout.py DIR [--npz ../shared/data/fashion-mnist.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from options import run_script


def write_idx(path: Path, array: np.ndarray) -> None:
    """One IDX file of unsigned bytes: magic (0, 0, 8, ndim), the sizes as big-endian int32, the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(header + array.tobytes())
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--npz", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist.npz"))
    args = ap.parse_args()
    if not Path(args.npz).is_file():
        raise SystemExit(f"no Fashion-MNIST archive at {args.npz}; pass --npz PATH (keys x_train, y_train, x_test, y_test)")
    raw = Path(args.root) / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with np.load(args.npz) as z:
        for prefix, part in (("train", "train"), ("t10k", "test")):
            write_idx(raw / f"{prefix}-images-idx3-ubyte", z[f"x_{part}"])
            write_idx(raw / f"{prefix}-labels-idx1-ubyte", z[f"y_{part}"])
    print(f"wrote {raw}")


if __name__ == "__main__":
    run_script(main)
