"""Make the reference network that ships inside the package for MNIST's sample-quality scores
(ssgan/bundled/mnist_reference.pt): ssgan.reference.ReferenceCNN trained on all 60,000 labeled
MNIST training images, its test accuracy stored with it.

    python benchmarks/train_reference.py [--epochs 6] [--seed 0]
"""

from __future__ import annotations

import argparse

from ssgan.data import load_mnist
from ssgan.reference import SHIPPED, save_reference, train_reference
from options import count, run_script


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=count, default=6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    net, record = train_reference(load_mnist(), epochs=args.epochs, seed=args.seed, log=print)
    record["command"] = f"python benchmarks/train_reference.py --epochs {args.epochs} --seed {args.seed}"
    save_reference(net, record, SHIPPED)
    print({k: v for k, v in record.items()}, "->", SHIPPED)


if __name__ == "__main__":
    run_script(main)
