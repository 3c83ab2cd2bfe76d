"""Seconds per training iteration (one D step + one G step, batch 100) of the default MNIST
models, in fp32 and with --precision bf16.

    python benchmarks/speed.py [--device cpu|cuda] [--iterations 100]

It trains on the first 100 x iterations MNIST training images with no test set, so it times
the training loop itself; a warm-up run of 10 iterations comes first.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ssgan.config import Config
from ssgan.data import Dataset, load_mnist
from ssgan.splits import make_split
from ssgan.train import train


def seconds_per_iteration(precision: str, device: str, iterations: int) -> float:
    mnist = load_mnist()
    n = 100 * iterations
    data = Dataset("mnist", mnist.x_train[:n], mnist.y_train[:n], None, None, 10)
    split = make_split(data, 100, 1)
    cfg = Config(epochs=1, device=device, precision=precision)
    warm = Dataset("mnist", mnist.x_train[:1000], mnist.y_train[:1000], None, None, 10)
    train(cfg, warm, make_split(warm, 100, 1))
    t0 = time.perf_counter()
    train(cfg, data, split)
    return (time.perf_counter() - t0) / iterations


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--iterations", type=int, default=100)
    args = p.parse_args()
    out = {"device": args.device, "threads": torch.get_num_threads(), "iterations": args.iterations}
    for precision in ("fp32", "bf16"):
        out[f"{precision}_s_per_iteration"] = round(seconds_per_iteration(precision, args.device, args.iterations), 4)
    out["bf16_speedup"] = round(out["fp32_s_per_iteration"] / out["bf16_s_per_iteration"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
