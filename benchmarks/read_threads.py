"""Time ssgan.data.read_images one image after another against in threads, for images of several
sizes: the measurement behind ``THREADED_PIXELS``, the size from which a folder's images are
decoded in threads. Writes synthetic images (smooth noise, so that JPEG and PNG compress them as
they compress photos) into a new folder, reads each set both ways (best of ``--repeats``), checks
that both ways give the same pixels, and prints a JSON line per set.

    python benchmarks/read_threads.py DIR [--count 1000] [--repeats 3] [--image-size 32]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from options import count, run_script

SETS = (("png", 28, 28, False), ("png", 64, 64, False), ("png", 128, 128, False), ("png", 128, 128, True),
        ("jpg", 256, 256, True), ("jpg", 500, 375, True))  # (format, width, height, resized to --image-size)


def write_set(folder: Path, fmt: str, width: int, height: int, count: int) -> list[Path]:
    from PIL import Image, ImageFilter

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(2))
    paths = [folder / f"{i:05d}.{fmt}" for i in range(count)]
    for i, path in enumerate(paths):
        base.rotate(i % 360).save(path)
    return paths


def timed(paths: list[Path], size: int | None, threaded: bool, repeats: int) -> tuple[float, np.ndarray]:
    import ssgan.data

    ssgan.data.THREADED_PIXELS = 0 if threaded else 10**12
    best, x = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        x = ssgan.data.read_images(paths, size=size)
        best = min(best, time.perf_counter() - start)
    return best, x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--count", type=count, default=1000, help="images per set")
    ap.add_argument("--repeats", type=count, default=3)
    ap.add_argument("--image-size", type=count, default=32, help="what the larger images are resized to")
    args = ap.parse_args()
    root = Path(args.root)
    if root.exists():
        raise SystemExit(f"{root} exists; give a new folder")
    import torch

    from ssgan.data import read_images

    for fmt, width, height, resized in SETS:
        size = args.image_size if resized else None
        paths = write_set(root / f"{fmt}-{width}x{height}-{size}", fmt, width, height, args.count)
        read_images(paths[:8], size=size)  # (imports and first-call costs out of the timings)
        serial, x = timed(paths, size, False, args.repeats)
        threaded, y = timed(paths, size, True, args.repeats)
        print(json.dumps({"images": f"{fmt} {width}x{height}", "count": len(paths), "resized_to": size,
                          "threads": torch.get_num_threads(), "one_by_one_s": round(serial, 3),
                          "threaded_s": round(threaded, 3), "speedup": round(serial / threaded, 2),
                          "same_pixels": bool(np.array_equal(x, y))}))


if __name__ == "__main__":
    run_script(main)
