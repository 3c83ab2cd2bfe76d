"""Draw the labeled examples of MNIST splits, one row per class, to see what a seed's labels
look like (for example, why one seed's unlabeled 7s drift to class 2), and print how well they
cover their class: the share of each class's training images whose nearest labeled image (in
pixels) has their label, and for 7s the share whose nearest labeled image is a 2.

    python benchmarks/labeled_examples.py --labels 100 --seeds 1,2,3 --out labeled.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from options import run_script, seeds_option

from ssgan.data import load_mnist
from ssgan.splits import make_split


def _nearest(x: np.ndarray, labeled: np.ndarray, chunk: int = 10000) -> np.ndarray:
    """Index of the nearest labeled row (Euclidean) for each row of x."""
    sq = (labeled ** 2).sum(1)
    return np.concatenate([(sq[None] - 2 * x[i:i + chunk] @ labeled.T).argmin(1) for i in range(0, len(x), chunk)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--seeds", type=seeds_option, default="1,2,3", help="seeds: a list, ranges or both, like 1,2,3 or 1-6 [1,2,3]")
    p.add_argument("--out", default="labeled.png")
    args = p.parse_args()
    data = load_mnist()
    seeds = args.seeds
    per = args.labels // data.n_classes
    fig, axes = plt.subplots(1, len(seeds), figsize=(per * 0.6 * len(seeds), data.n_classes * 0.6 + 0.5), squeeze=False)
    x = data.x_train.reshape(len(data.x_train), -1)
    for ax, seed in zip(axes[0], seeds):
        idx = make_split(data, args.labels, seed).indices
        nearest = data.y_train[idx][_nearest(x, x[idx])]
        cover = [float(np.mean(nearest[data.y_train == c] == c)) for c in range(data.n_classes)]
        sevens_as_2 = float(np.mean(nearest[data.y_train == 7] == 2))
        print(f"seed {seed}: 1-NN coverage per class {np.round(cover, 3).tolist()}; 7s nearest to a labeled 2: {sevens_as_2:.3f}")
        rows = [np.concatenate(list(data.x_train[idx[data.y_train[idx] == c], 0]), axis=1) for c in range(data.n_classes)]
        ax.imshow(np.concatenate(rows, axis=0), cmap="gray_r")
        ax.set_title(f"mnist.seed{seed}@{args.labels}: one row per class")
        ax.set_yticks(np.arange(data.n_classes) * 28 + 14, [str(c) for c in range(data.n_classes)])
        ax.set_xticks([])
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
