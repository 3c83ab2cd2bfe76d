"""Write the non-image datasets of the vector-data study (issue 14) as ssgan .npz files.

    python benchmarks/vector_data.py OUT_DIR

Each file holds a fully labeled training set ``x, y`` (``ssgan fit --labels N`` draws the
labeled few and ``--val`` the validation rows from it; the rest is used unlabeled) and a test
set ``x_test, y_test``, all float64 in the data's own units (ssgan scales them):

- moons:   ``make_moons``, 1200 training and 1000 test points, noise 0.1 (2 features);
- circles: ``make_circles``, 1200 and 1000 points, noise 0.05, factor 0.5 (2 features);
- digits:  scikit-learn's 8x8 digits as 64-feature vectors, a stratified 1347/450 split;
- cancer:  ``load_breast_cancer``, 30 real-valued features in their own units (areas in the
  hundreds, smoothness near 0.1), a stratified 400/169 split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_circles, make_moons
from sklearn.model_selection import train_test_split
from options import run_script


def datasets() -> dict[str, tuple[np.ndarray, ...]]:
    out = {}
    for name, make, kw in (("moons", make_moons, dict(noise=0.1)), ("circles", make_circles, dict(noise=0.05, factor=0.5))):
        x, y = make(1200, random_state=0, **kw)
        x_test, y_test = make(1000, random_state=100, **kw)
        out[name] = (x, y, x_test, y_test)
    for name, load, n_test in (("digits", load_digits, 450), ("cancer", load_breast_cancer, 169)):
        x, y = load(return_X_y=True)
        x, x_test, y, y_test = train_test_split(x.astype(np.float64), y, test_size=n_test, stratify=y, random_state=0)
        out[name] = (x, y, x_test, y_test)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="data/vectors", help="The folder to write the .npz files into.")
    out = Path(parser.parse_args().out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        parser.error(f"cannot make the folder {out}: {e.strerror}")
    for name, (x, y, x_test, y_test) in datasets().items():
        np.savez(out / f"{name}.npz", x=x, y=y.astype(np.int64), x_test=x_test, y_test=y_test.astype(np.int64))
        print(f"{out / name}.npz: {x.shape[0]} training and {x_test.shape[0]} test rows, {x.shape[1]} features, "
              f"{len(np.unique(y))} classes")


if __name__ == "__main__":
    run_script(main)
