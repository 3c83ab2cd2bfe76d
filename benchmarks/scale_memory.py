"""Peak memory and time of loading and scaling real-valued data, as ``ssgan fit`` does before it
trains (``ssgan.runs.prepare``: read the npz, fit ``--scale`` on the training rows, scale every
row): the measurement behind scaling a part of the rows at a time (``ssgan.scaling.PART_VALUES``).

Writes an npz of ``--rows`` rows of ``--shape`` (vectors of 784 values, or images such as
3x32x32, scaled per channel) in ``--dtype`` (float32, or float64 as numpy and scikit-learn make
arrays by default) (100 of them labeled, and the ``--val`` rows to hold out besides; ``--test``
more rows as ``x_test``), then, for each ``--scale`` kind, prepares it in a child process of its
own and prints one JSON line: the size of the arrays as they are trained on (float32), the
child's peak resident memory above what importing torch and ssgan took (both measured in the
child, as Linux's ``VmHWM``: ``resource.getrusage``'s peak would start from this process's, which
a child inherits across fork and exec), and the seconds that preparing took.

    python benchmarks/scale_memory.py DIR [--rows 100000] [--shape 784 | --shape 3x32x32] [--val 0]
                                          [--test 0] [--dtype float32 | --dtype float64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from options import count, run_script

CHILD = """
import json, re, sys, time
import torch
from ssgan.config import Config
from ssgan.runs import prepare
def peak():  # this process's own peak resident memory, MiB (reset by exec, unlike ru_maxrss)
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
base = peak()
t0 = time.perf_counter()
data, split, scaler = prepare(Config(dataset="npz:" + sys.argv[1], scale=sys.argv[2], val=int(sys.argv[3])))
seconds = time.perf_counter() - t0
test = 0 if data.x_test is None else data.x_test.nbytes
print(json.dumps({"scale": scaler.kind, "array_mib": round((data.x_train.nbytes + test) / 2**20, 1),
                  "peak_above_import_mib": round(peak() - base),
                  "seconds": round(seconds, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="A new folder for the npz.")
    parser.add_argument("--rows", type=count, default=100000, help="Rows of the array.")
    parser.add_argument("--shape", default="784", help="A row's shape: D values, or CxHxW (an image).")
    parser.add_argument("--val", type=int, default=0, help="Rows held out for validation (fit --val).")
    parser.add_argument("--test", type=int, default=0, help="Rows of x_test besides (labeled).")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="The arrays' type in the file.")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=False)
    rng = np.random.default_rng(0)
    shape = tuple(int(v) for v in args.shape.split("x"))
    x = (rng.normal(size=(args.rows + args.test, *shape)) * 50 + 10).astype(args.dtype)
    y = np.full(args.rows, -1)
    y[:100 + args.val] = np.arange(100 + args.val) % 10
    path = args.dir / "data.npz"
    test = dict(x_test=x[args.rows:], y_test=np.arange(args.test) % 10) if args.test else {}
    np.savez(path, x=x[:args.rows], y=y, **test)
    del x, test
    for kind in ("minmax", "standard"):
        child = subprocess.run([sys.executable, "-c", CHILD, str(path), kind, str(args.val)], capture_output=True,
                               text=True)
        if child.returncode:
            sys.exit(f"preparing with --scale {kind} failed: {child.stderr.strip()}")
        record = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps({"rows": args.rows, "shape": args.shape, "val": args.val, "test": args.test,
                          "dtype": args.dtype, **record}), flush=True)


if __name__ == "__main__":
    run_script(main)
