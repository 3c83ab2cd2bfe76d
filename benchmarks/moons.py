"""Does the unlabeled term help on low-dimensional data with today's defaults? make_moons
(1000 training points, noise 0.1, 3 labels per class), SSGANClassifier against the same
network without unlabeled data (unlabeled_weight=0), scored on 1000 fresh points.

    python benchmarks/moons.py [EPOCHS]   # 30 by default; about 20 seconds on 2 CPU cores
"""

import argparse
import time

import numpy as np
from sklearn.datasets import make_moons

from ssgan import SSGANClassifier
from options import run_script


def three_labels_per_class(y: np.ndarray, seed: int) -> np.ndarray:
    """``y`` with all but 3 labels of each class, drawn by ``seed``, set to -1 (unlabeled)."""
    rng = np.random.default_rng(seed)
    labeled = np.concatenate([rng.choice(np.flatnonzero(y == c), 3, replace=False) for c in (0, 1)])
    y_masked = np.full_like(y, -1)
    y_masked[labeled] = y[labeled]
    return y_masked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("epochs", type=int, nargs="?", default=30, help="Epochs of each fit.")
    epochs = parser.parse_args().epochs
    for seed in (0, 1):
        X, y = make_moons(1000, noise=0.1, random_state=seed)
        X_test, y_test = make_moons(1000, noise=0.1, random_state=100 + seed)
        y_masked = three_labels_per_class(y, seed)
        for weight in (1.0, 0.0):
            t0 = time.time()
            clf = SSGANClassifier(epochs=epochs, unlabeled_weight=weight, random_state=seed).fit(X, y_masked)
            acc = (clf.predict(X_test) == y_test).mean()
            print(f"seed {seed} {'ssl     ' if weight else 'same-net'} test accuracy {acc:.3f}  ({time.time() - t0:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    run_script(main)
