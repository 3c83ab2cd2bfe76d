"""How far ``--scale standard`` fitted a part of the rows at a time (``ssgan.scaling.fit_scaler``:
scikit-learn's ``StandardScaler.partial_fit`` over parts of about ``PART_VALUES`` values) is from
one ``StandardScaler.fit`` over a float64 copy of all the rows, as ssgan fitted it before, and
which of the two is nearer the exact statistics.

For each generated data set (float32, features with their own offsets and spreads; one of them
ill-conditioned, with an offset a million times its spread) it prints one JSON line: the number
of parts, the largest relative difference of the means and of the standard deviations between
the two fits, how many of the scaled float32 values differ and by how much at most, and the
largest relative error of each fit's standard deviation against a two-pass one in numpy's extended
precision (``longdouble``, 80-bit on x86-64), over the first 16 features.

    python benchmarks/scale_rounding.py
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.preprocessing import StandardScaler

from ssgan.scaling import _columns, _row_slices, fit_scaler
from options import run_script

CASES = [  # (name, rows, a row's shape, offset, spread)
    ("vectors", 100_000, (784,), 10.0, 50.0),
    ("ill-conditioned", 100_000, (100,), 1e4, 1e-2),
    ("long", 1_000_000, (10,), 1e3, 3.0),
    ("images", 20_000, (3, 32, 32), 0.5, 0.25),
]


def main() -> None:
    rng = np.random.default_rng(0)
    for name, rows, shape, offset, spread in CASES:
        x = (rng.standard_normal((rows, *shape), dtype=np.float32) * spread + offset).astype(np.float32)
        columns = _columns(x.astype(np.float64))
        one = StandardScaler().fit(columns)
        parts, _ = fit_scaler("standard", x)
        view = (-1, 1, 1) if x.ndim == 4 else (-1,)
        a = ((x - one.mean_.reshape(view)) / one.scale_.reshape(view)).astype(np.float32)
        b = parts.transform(x)
        exact = columns[:, :16].astype(np.longdouble)
        mean = exact.mean(0)
        std = np.sqrt(((exact - mean) ** 2).mean(0))
        error = lambda s: float(np.max(np.abs(s[:16] - std) / std))  # noqa: E731
        print(json.dumps({
            "case": name, "rows": rows, "shape": "x".join(map(str, shape)),
            "parts": len(_row_slices(len(x), x.shape[1:])),
            "mean_rel_diff": float(np.max(np.abs(one.mean_ - parts.offset) / np.abs(one.mean_).max())),
            "std_rel_diff": float(np.max(np.abs(one.scale_ - parts.scale) / one.scale_)),
            "scaled_values_differing": int((a != b).sum()), "scaled_values": int(a.size),
            "scaled_max_abs_diff": float(np.abs(a - b).max()),
            "std_rel_error_one_pass": error(one.scale_), "std_rel_error_parts": error(parts.scale),
        }), flush=True)


if __name__ == "__main__":
    run_script(main)
