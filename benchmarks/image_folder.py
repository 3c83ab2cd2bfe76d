"""Write an MNIST-layout archive (x_train, y_train, x_test, y_test, uint8) as an image folder for
``--dataset folder:DIR`` and time how long ssgan takes to read it back, checking that it reads
the archive's own pixels and labels.

DIR/train/CLASS/ gets the first ``--labels-per-class`` training images of each class,
DIR/unlabeled/ the rest (in subfolders of 10,000), DIR/test/CLASS/ the test images, all as
PNG files named by their row. Class folders are named by ``--names`` (Fashion-MNIST's kinds of
clothing by default), so that their sorted order is not the archive's numbering.

    python benchmarks/image_folder.py DIR [--npz ../shared/data/fashion-mnist.npz] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from options import count, run_script

FASHION = "t-shirt,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,boot"


def write_folder(root: Path, arrays: dict, names: list[str], per_class: int) -> int:
    """Write the PNG files; return how many."""
    from PIL import Image

    seen = np.zeros(len(names), int)
    count = 0
    for part in ("train", "test"):
        for i, (x, y) in enumerate(zip(arrays[f"x_{part}"], arrays[f"y_{part}"])):
            seen[y] += part == "train"
            if part == "test" or seen[y] <= per_class:
                folder = root / part / names[y]
            else:
                folder = root / "unlabeled" / str(i // 10000)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x).save(folder / f"{i:05d}.png")
            count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--npz", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist.npz"))
    ap.add_argument("--names", default=FASHION, help="the class folders' names, comma-separated, in class order")
    ap.add_argument("--labels-per-class", type=count, default=10)
    ap.add_argument("--repeats", type=count, default=2, help="how many times to time the read")
    args = ap.parse_args()
    if not Path(args.npz).is_file():
        raise SystemExit(f"no archive at {args.npz}; pass --npz PATH (keys x_train, y_train, x_test, y_test)")
    root = Path(args.root)
    if root.exists():
        raise SystemExit(f"{root} exists; give a new folder")
    names = args.names.split(",")
    with np.load(args.npz) as z:
        arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    if len(names) != int(arrays["y_train"].max()) + 1:
        raise SystemExit(f"--names gives {len(names)} names for {int(arrays['y_train'].max()) + 1} classes")
    start = time.perf_counter()
    n = write_folder(root, arrays, names, args.labels_per_class)
    print(f"wrote {n:,} PNG files under {root} in {time.perf_counter() - start:.1f} s")

    from ssgan.data import load_dataset

    for _ in range(args.repeats):
        start = time.perf_counter()
        data = load_dataset(f"folder:{root}")
        print(f"read folder:{root} in {time.perf_counter() - start:.1f} s: {len(data.x_train):,} training images "
              f"({int((data.y_train >= 0).sum())} labeled), {len(data.x_test):,} test images, shape {data.shape}")
    # the test images come back in the order ImageFolder lists them: class folder name, then file name
    order = sorted(range(len(arrays["y_test"])), key=lambda i: (names[arrays["y_test"][i]], i))
    pixels = np.round(data.x_test[:, 0] * 255).astype(np.uint8)
    same_pixels = np.array_equal(pixels, arrays["x_test"][order])
    same_labels = [data.classes[k] for k in data.y_test] == [names[arrays["y_test"][i]] for i in order]
    print(f"test images as in the archive: pixels {same_pixels}, class names {same_labels}")
    if not (same_pixels and same_labels):
        raise SystemExit(1)


if __name__ == "__main__":
    run_script(main)
