"""Peak memory and time of ``ssgan predict`` on a folder of many images: the measurement behind
reading a folder's images in chunks (``ssgan.runs.PREDICT_CHUNK_VALUES``) rather than all at once.

Writes a small labeled folder and trains a one-epoch run on it (the run's accuracy does not
matter here), then a folder of ``--count`` new RGB images, and runs ``ssgan predict`` on them in a
child process of its own, whose peak resident memory the kernel reports (``os.wait4``). Prints
one JSON line: the images' size as float32, the child's peak memory and its seconds.

    python benchmarks/predict_memory.py DIR [--count 20000] [--side 32] [--arch auto]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from options import count, run_script


def write_images(folder: Path, count: int, side: int, seed: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{i:06d}.png")


def ssgan(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ssgan", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="A new folder for the images, the run and the predictions.")
    parser.add_argument("--count", type=count, default=20000, help="New images to predict.")
    parser.add_argument("--side", type=count, default=32, help="Their width and height, in pixels.")
    parser.add_argument("--arch", default="auto", help="The run's networks (fit --arch): auto takes the "
                        "convolutional pair for colour images, whose activations take more memory than the images.")
    args = parser.parse_args()
    if args.dir.exists():
        parser.error(f"{args.dir} exists: give a new folder")
    for k, name in enumerate(("a", "b")):
        write_images(args.dir / "train" / name, 20, args.side, k)
    write_images(args.dir / "unlabeled", 40, args.side, 3)
    write_images(args.dir / "new", args.count, args.side, 2)
    fit = ssgan("fit", "--dataset", f"folder:{args.dir}", "--epochs", "1", "--batch-size", "10", "--arch", args.arch,
                "--out", str(args.dir / "runs"), "--json", "--quiet")
    out, err = fit.communicate()
    if fit.returncode:
        sys.exit(f"fit failed: {err.strip()}")
    run = json.loads(out)["run"]
    start = time.perf_counter()
    child = ssgan("predict", run, "--data", f"folder:{args.dir / 'new'}", "--out", str(args.dir / "p.npz"), "--json")
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"predict failed: {child.stderr.read().strip()}")
    with np.load(args.dir / "p.npz") as p:
        assert len(p["pred"]) == args.count
    arch = json.loads((Path(run) / "config.json").read_text())["arch"]
    print(json.dumps({"images": args.count, "side": args.side, "arch": arch,
                      "float32_mib": round(args.count * 3 * args.side ** 2 * 4 / 2**20, 1),
                      "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    run_script(main)
