"""The validation screen behind the input-noise rule for vectors (issue 14).

    python benchmarks/vector_data.py data/vectors
    python benchmarks/vector_screen.py data/vectors > screen.jsonl   # about 40 min on one core

Trains ssgan (60 epochs, all other settings default) on each dataset of
``benchmarks/vector_data.py`` for seeds 1-3, with D's input noise at 0.3 (the MNIST value),
0.1, 0.03, 0.01 and the rule ``0.3 * sqrt(D / 784)``, and with the rule plus hidden widths
narrowed by ``max(0.25, sqrt(D / 784))``. Prints one JSON line per run with the validation
accuracy (what the rule was chosen on) and the test accuracy (reported, not used to choose).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings

import numpy as np
import torch

from ssgan.config import Config
from ssgan.models import parse_widths
from ssgan.models.mlp import MNIST_FEATURES, input_noise_for
from ssgan.runs import prepare
from ssgan.train import train
from options import run_script

DATASETS = {"moons": (6, 200), "circles": (6, 200), "cancer": (10, 100), "digits": (50, 300)}  # labels, val


def settings(d: int) -> dict[str, dict]:
    """The screened settings for vectors of ``d`` features: fixed noise levels, the rule, and
    the rule with the default widths narrowed by max(0.25, sqrt(d / 784))."""
    rule = input_noise_for((d,))
    f = max(0.25, math.sqrt(d / MNIST_FEATURES))
    narrow = {k: ",".join(str(round(w * f)) for w in parse_widths(getattr(Config, k))) for k in ("d_hidden", "g_hidden")}
    return {**{f"noise {s}": dict(d_input_noise=s) for s in (0.3, 0.1, 0.03, 0.01)},
            f"rule {rule}": dict(d_input_noise=rule), f"rule {rule}, narrow": dict(d_input_noise=rule, **narrow)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="data/vectors",
                        help="The folder that benchmarks/vector_data.py wrote.")
    root = parser.parse_args().root
    missing = [name for name in DATASETS if not os.path.isfile(f"{root}/{name}.npz")]
    if missing:
        parser.error(f"{root} lacks {', '.join(f'{name}.npz' for name in missing)}: "
                     f"write them with python benchmarks/vector_data.py {root}")
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    for name, (labels, val) in DATASETS.items():
        with np.load(f"{root}/{name}.npz") as f:
            d = f["x"].shape[1]
        for setting, options in settings(d).items():
            for seed in (1, 2, 3):
                cfg = Config(dataset=f"npz:{root}/{name}.npz", labels=labels, val=val, seed=seed, device="cpu",
                             sample_every=10**6, checkpoint_every=10**6, **options)
                t0 = time.time()
                data, split, _ = prepare(cfg)
                last = train(cfg, data, split).history[-1]
                print(json.dumps({"data": name, "setting": setting, "seed": seed, "val_acc": last["val_acc"],
                                  "test_acc": last["test_acc"], "seconds": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    run_script(main)
