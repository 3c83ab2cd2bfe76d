"""`folder:DIR`: the user's own images, a folder per class, as torchvision's ImageFolder reads them."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import ROOT
from ssgan.cli import main
from ssgan.data import load_dataset, load_digits
from ssgan.errors import SSGANError
from ssgan.runs import evaluate_run

NAMES = {0: "zero", 1: "one", 2: "two"}  # folder names whose sorted order is not the digits' order


def save(path: Path, pixels: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    image.convert(mode).save(path)


def digit_folder(root: Path, labeled: int = 4, test: int = 20) -> dict:
    """Digits 0-2 of scikit-learn's digits as 8x8 PNGs: ``labeled`` per class in
    train/NAME/, the rest of the training images in unlabeled/ (in two subfolders), ``test``
    per class of the test images in test/NAME/. Returns the arrays that were written."""
    digits = load_digits()
    written = {"train": [], "unlabeled": [], "test": []}
    for part, x, y in (("train", digits.x_train, digits.y_train), ("test", digits.x_test, digits.y_test)):
        seen = {k: 0 for k in NAMES}
        for i, (img, k) in enumerate(zip(x[:, 0], y)):
            if k not in NAMES:
                continue
            pixels = np.round(img * 255).astype(np.uint8)
            seen[k] += 1
            if part == "test" and seen[k] > test:
                continue
            where = (f"{part}/{NAMES[k]}" if part == "test" or seen[k] <= labeled else f"unlabeled/part{i % 2}")
            save(root / where / f"{i:04d}.png", pixels)
            written["unlabeled" if where.startswith("unlabeled") else part].append((pixels, int(k)))
    return written


def test_an_image_folder_loads_labeled_unlabeled_and_test_images_by_class_name(tmp_path):
    written = digit_folder(tmp_path / "d")
    # what a copy from macOS or a notebook leaves beside the images is not read as images
    (tmp_path / "d" / "train" / "one" / "._0001.png").write_bytes(b"\x00\x05\x16\x07")
    save(tmp_path / "d" / "unlabeled" / ".ipynb_checkpoints" / "0001-checkpoint.png", np.zeros((8, 8), np.uint8))
    data = load_dataset(f"folder:{tmp_path / 'd'}")
    assert data.classes == ("one", "two", "zero")  # ImageFolder's numbering: the folder names sorted
    assert data.shape == (1, 8, 8) and data.n_classes == 3 and not data.real_valued
    labeled = data.y_train >= 0
    assert labeled.sum() == 12 and (data.y_train == -1).sum() == len(written["unlabeled"])
    index = {name: k for k, name in enumerate(data.classes)}
    # each labeled image carries the index of its class folder's name, pixels divided by 255
    by_pixels = {p.tobytes(): index[NAMES[k]] for p, k in written["train"]}
    for x, y in zip(data.x_train[labeled], data.y_train[labeled]):
        assert by_pixels[np.round(x[0] * 255).astype(np.uint8).tobytes()] == y
    assert len(data.y_test) == 60 and np.bincount(data.y_test).tolist() == [20, 20, 20]
    assert data.x_train.dtype == np.float32 and data.x_train.min() >= 0 and data.x_train.max() <= 1
    # a test set without some class keeps the training folders' numbering
    for path in (tmp_path / "d" / "test" / "one").iterdir():
        path.unlink()
    (tmp_path / "d" / "test" / "one").rmdir()
    assert np.bincount(load_dataset(f"folder:{tmp_path / 'd'}").y_test).tolist() == [0, 20, 20]


def test_fit_eval_and_predict_on_an_image_folder_name_the_classes(tmp_path, monkeypatch):
    """From a folder to predictions for new images: the run knows its classes' names, eval shows
    them, and predict writes each file's class, the same classes that eval scores."""
    digit_folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:d", "--epochs", "2", "--out", "runs", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    assert Path(run).name == "00000-d-12-s1" and json.loads(r.stdout)["labels"] == 12
    r = CliRunner().invoke(main, ["eval", run])
    assert r.exit_code == 0, r.output
    assert "accuracy of class 2 (zero)" in r.output
    assert evaluate_run(run)["classes"] == ["one", "two", "zero"]
    # the test images, copied flat into a folder of new images, are classified one file each
    for path in Path("d/test").rglob("*.png"):
        (Path("new") / path.name).parent.mkdir(exist_ok=True)
        (Path("new") / path.name).write_bytes(path.read_bytes())
    r = CliRunner().invoke(main, ["predict", run, "--data", "folder:new", "--out", "p.csv"])
    assert r.exit_code == 0, r.output
    assert "60 rows of folder:new (60 images)" in r.output
    with open("p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["row", "file", "pred", "class", "p_real"]
    truth = {path.name: path.parent.name for path in Path("d/test").rglob("*.png")}
    assert all(row["class"] == ["one", "two", "zero"][int(row["pred"])] for row in rows)
    right = np.mean([row["class"] == truth[Path(row["file"]).name] for row in rows])
    assert right == pytest.approx(evaluate_run(run)["accuracy"])
    r = CliRunner().invoke(main, ["predict", run, "--data", "folder:new", "--out", "p.npz"])
    assert r.exit_code == 0, r.output
    with np.load("p.npz") as p:
        assert p["classes"].tolist() == ["one", "two", "zero"] and len(p["files"]) == 60
    # images of another size stop at the first one, before the rest are read; one among images
    # of the run's size is told the run's size too (eval and predict have no --image-size)
    save(Path("big/test/one/0.png"), np.zeros((12, 10), np.uint8))
    (Path("big/test/one/1.png")).write_bytes(b"not read, so not named")
    save(Path("mixed/test/one/0.png"), np.zeros((8, 8), np.uint8))
    save(Path("mixed/test/one/1.png"), np.zeros((12, 10), np.uint8))
    for where, first in (("big", "0.png"), ("mixed", "1.png")):
        for command in (["predict", run, "--data", f"folder:{where}", "--out", "q.csv"],
                        ["eval", run, "--data", f"folder:{where}"]):
            r = CliRunner().invoke(main, command)
            assert r.exit_code == 2 and r.output.endswith(f"{first} is 10x12 pixels, but the run was trained on "
                                                          "images of 8x8: give images of that size (resize them first; a "
                                                          "run fit with --image-size N resizes every image it reads, "
                                                          "these too)\n"), r.output
    assert not Path("q.csv").exists()


def test_predict_and_eval_take_rows_a_part_at_a_time(tmp_path, monkeypatch):
    """predict and eval read a folder's images, and scale and classify an npz's rows, a part at
    a time, so that the memory a folder takes does not grow with its images; the parts give
    every row the numbers of one pass over all of them, in the same order."""
    import ssgan.data
    import ssgan.runs

    digit_folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:d", "--epochs", "1", "--out", "runs", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    Path("new").mkdir()
    for path in Path("d/test").rglob("*.png"):
        (Path("new") / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
    np.savez("new.npz", x=np.stack([np.asarray(Image.open(p)) for p in sorted(Path("new").iterdir())]))
    monkeypatch.setattr(ssgan.runs, "PREDICT_BATCH", 16)
    whole = {spec: ssgan.runs.predict_run(run, spec) for spec in ("folder:new", "npz:new.npz")}
    assert np.array_equal(whole["folder:new"]["proba"], whole["npz:new.npz"]["proba"])  # the same pixels
    scored = [evaluate_run(run), evaluate_run(run, data_spec="folder:d")]
    read, reads = ssgan.data.read_images, []
    monkeypatch.setattr(ssgan.data, "read_images", lambda paths, *a, **kw: reads.append(len(paths)) or read(paths, *a, **kw))
    monkeypatch.setattr(ssgan.runs, "PREDICT_CHUNK_VALUES", 8 * 8 * 20)  # parts of 16 rows (whole batches)
    for spec, one in whole.items():
        parts = ssgan.runs.predict_run(run, spec)
        assert parts["n"] == one["n"] == 60
        for key in ("pred", "proba", "p_real"):
            assert np.array_equal(parts[key], one[key]), (spec, key)
    assert reads == [16, 16, 16, 12]
    reads.clear()
    assert evaluate_run(run, data_spec="folder:d") == scored[1] and reads == [16, 16, 16, 12]  # d/test's 60 images
    assert evaluate_run(run) == scored[0]  # (the run's own data, its test rows a part at a time)


def test_eval_of_other_images_numbers_their_class_folders_by_the_runs_names(tmp_path, monkeypatch):
    """eval --data folder:DIR scores images whose class folders are named as the run's classes,
    whatever subset of them it holds; a name the run does not know, and a run whose own class
    folders changed since it trained, stop in one line."""
    digit_folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:d", "--epochs", "2", "--out", "runs", "--json", "--quiet"])
    run = json.loads(r.stdout)["run"]
    full = evaluate_run(run)
    Path("other/test").mkdir(parents=True)
    Path("d/test/zero").rename("other/test/zero")  # the zeros alone, class 2 of the run
    zeros = evaluate_run(run, data_spec="folder:other")
    assert zeros["data"] == "folder:other (test/ images)" and zeros["n"] == 20
    assert zeros["per_class_accuracy"][:2] == [None, None]
    assert zeros["accuracy"] == pytest.approx(full["per_class_accuracy"][2])
    Path("other/test/nil").mkdir()
    Path("other/test/zero/").joinpath(next(iter(sorted(Path("other/test/zero").iterdir()))).name).rename(
        "other/test/nil/a.png")
    r = CliRunner().invoke(main, ["eval", run, "--data", "folder:other"])
    assert r.exit_code == 2 and "has class folders that the run did not train on (nil)" in r.output, r.output
    Path("d/train/nil").mkdir()
    Path("other/test/nil/a.png").rename("d/train/nil/a.png")
    r = CliRunner().invoke(main, ["eval", run])
    assert r.exit_code == 2 and "the class folders of folder:d are now nil, one, two, zero, but" in r.output, r.output


def test_colour_images_make_rgb_data_and_grey_ones_among_them_get_three_equal_channels(tmp_path):
    rng = np.random.default_rng(0)
    for k, name in enumerate(("a", "b")):
        save(tmp_path / "c" / "train" / name / "0.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), "RGB")
        save(tmp_path / "c" / "train" / name / "1.png", rng.integers(0, 256, (12, 12), dtype=np.uint8))
    data = load_dataset(f"folder:{tmp_path / 'c'}")
    assert data.shape == (3, 12, 12) and data.x_test is None
    grey = data.x_train[[1, 3]]
    assert np.array_equal(grey[:, 0], grey[:, 1]) and np.array_equal(grey[:, 0], grey[:, 2])
    assert not np.array_equal(data.x_train[0, 0], data.x_train[0, 1])


def test_colour_images_read_grey_for_a_run_on_grey_images_are_counted_in_one_warning(tmp_path, monkeypatch):
    """A run on grey images classifies colour ones in grey (PIL's L), as it did; predict and
    eval now say so in one line that counts them, and so does fit for colour test images beside
    grey training ones. An RGB file of a grey picture loses nothing and is not counted."""
    import ssgan.runs

    digit_folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:d", "--epochs", "1", "--out", "runs", "--json", "--quiet"])
    assert r.exit_code == 0 and "colour" not in r.output, r.output
    run = json.loads(r.stdout)["run"]
    tests = sorted(Path("d/test").rglob("*.png"))
    tinted = []
    for i, path in enumerate(tests):
        where = Path("new") / path.parent.name / path.name
        where.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            grey = np.asarray(im)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        if i % 20 == 0:  # three of the 60 tinted, one in each class; the rest RGB copies of grey ones
            rgb[..., 0] = 255 - rgb[..., 0]
            tinted.append(where)
        save(where, rgb, "RGB")
        save(Path("same") / path.parent.name / path.name, np.asarray(Image.open(where).convert("L")))
    assert len(tinted) == 3
    Path("new").rename("new-test")
    Path("new").mkdir()
    Path("new-test").rename("new/test")
    monkeypatch.setattr(ssgan.runs, "PREDICT_CHUNK_VALUES", 8 * 8 * 20)  # in parts of 16, yet one warning
    monkeypatch.setattr(ssgan.runs, "PREDICT_BATCH", 16)
    r = CliRunner().invoke(main, ["predict", run, "--data", "folder:new", "--out", "p.csv"])
    assert r.exit_code == 0, r.output
    said = [line for line in r.output.splitlines() if "colour" in line]
    assert said == [f"Warning: 3 of the 60 images of folder:new are in colour (the first: {Path('new/test') / tinted[0].relative_to('new')}), "
                    f"but {run} trained on grey images: they were read as grey (PIL's L, 0.299 R + 0.587 G + 0.114 B)"], r.output
    r = CliRunner().invoke(main, ["predict", run, "--data", "folder:same", "--out", "q.csv"])
    assert r.exit_code == 0 and "colour" not in r.output, r.output
    with open("p.csv", newline="") as f, open("q.csv", newline="") as g:
        assert [row["pred"] for row in csv.DictReader(f)] == [row["pred"] for row in csv.DictReader(g)]
    r = CliRunner().invoke(main, ["eval", run, "--data", "folder:new"])
    assert r.exit_code == 0 and "3 of the 60 images of folder:new (test/) are in colour" in r.output, r.output
    # a folder whose test images are in colour and its training images grey trains on one channel
    Path("d/test").rename("d-test")
    Path("new/test").rename("d/test")
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:d", "--epochs", "1", "--out", "runs", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert f"3 of the 60 images of {Path('d/test')} are in colour" in r.output, r.output
    assert "the training images (train/ and unlabeled/) are all grey, so the networks take one channel" in r.output


def test_images_stored_turned_are_read_as_stored_and_counted_in_one_warning(tmp_path, monkeypatch):
    """A camera saves a photo taken sideways as stored pixels and an EXIF orientation that
    viewers apply; ssgan reads the pixels as stored (as torchvision's ImageFolder does), and fit,
    predict and eval now say so in one line per folder that counts them. Orientation 1 (as
    stored) is not counted."""
    import ssgan.runs
    from ssgan.data import EXIF_ORIENTATION, read_images

    digit_folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    unlabeled = sorted(Path("d/unlabeled").rglob("*.png"))
    tests = sorted(Path("d/test").rglob("*.png"))
    for path, orientation in [(unlabeled[3], 6), (unlabeled[7], 3), (unlabeled[9], 1), (tests[5], 8)]:
        with Image.open(path) as im:
            pixels = np.asarray(im)
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        Image.fromarray(pixels).save(path, exif=exif)
        assert np.array_equal(read_images([path])[0, 0], pixels / np.float32(255))  # (read as stored)
    n_train = sum(1 for _ in Path("d").glob("[tu]*/**/*.png")) - len(tests)
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:d", "--epochs", "1", "--out", "runs", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    said = [line for line in r.output.splitlines() if "EXIF" in line]
    assert said == [
        f"Warning: 2 of the {n_train} images of d are stored turned or mirrored, with an EXIF orientation that photo "
        f"viewers apply (the first: {unlabeled[3]}): they were read as stored; where their content is upright only as "
        "viewers show it, save them turned (Pillow's ImageOps.exif_transpose)",
        f"Warning: 1 of the {len(tests)} images of {Path('d/test')} are stored turned or mirrored, with an EXIF "
        f"orientation that photo viewers apply (the first: {tests[5]}): they were read as stored; where their content "
        "is upright only as viewers show it, save them turned (Pillow's ImageOps.exif_transpose)"], r.output
    run = json.loads(r.stdout)["run"]
    monkeypatch.setattr(ssgan.runs, "PREDICT_CHUNK_VALUES", 8 * 8 * 20)  # in parts of 16, yet one warning
    monkeypatch.setattr(ssgan.runs, "PREDICT_BATCH", 16)
    r = CliRunner().invoke(main, ["predict", run, "--data", "folder:d/test", "--out", "p.csv"])
    assert r.exit_code == 0, r.output
    assert [line for line in r.output.splitlines() if "EXIF" in line] == [
        f"Warning: 1 of the {len(tests)} images of folder:d/test are stored turned or mirrored, with an EXIF "
        f"orientation that photo viewers apply (the first: {tests[5]}): they were read as stored; where their "
        "content is upright only as viewers show it, save them turned (Pillow's ImageOps.exif_transpose)"], r.output


def test_palette_images_with_transparency_read_without_a_warning_as_pil_converts_them(tmp_path):
    """A palette PNG whose transparency is a table of bytes (as many web images are) had printed
    PIL's 'Palette images with Transparency expressed in bytes should be converted to RGBA'."""
    import warnings

    from ssgan.data import read_images

    path = tmp_path / "p.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P").save(path, transparency=bytes(range(256)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb, grey = read_images([path]), read_images([path], channels=1)
    with Image.open(path) as im, warnings.catch_warnings():
        assert isinstance(im.info["transparency"], bytes)
        warnings.simplefilter("ignore")
        assert np.array_equal(rgb[0], np.asarray(im.convert("RGB")).transpose(2, 0, 1) / np.float32(255))
        assert np.array_equal(grey[0, 0], np.asarray(im.convert("L")) / np.float32(255))


def test_palette_images_of_grey_colours_read_as_one_channel(tmp_path):
    """Grey pictures saved with a palette (as some tools save them) were read as RGB: a folder
    of them, or of them beside "L" images, trained on three equal channels. A palette whose
    colours in use are grey reads as "L" does; one with other colours stays RGB."""
    from ssgan.data import read_images

    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(pixels).save(tmp_path / "l.png")
    Image.fromarray(pixels).convert("P").save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as im:
        assert im.mode == "P"  # the premise
    x = read_images([tmp_path / "l.png", tmp_path / "p.png"])
    assert x.shape == (2, 1, 8, 8) and np.array_equal(x[0], x[1]) and np.array_equal(x[0, 0], pixels / np.float32(255))
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = pixels
    Image.fromarray(colour).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "c.png")
    assert read_images([tmp_path / "p.png", tmp_path / "c.png"]).shape == (2, 3, 8, 8)


def test_a_run_made_when_grey_palettes_read_as_rgb_still_loads_its_data(tmp_path, monkeypatch):
    """A run trained on grey palette images before they read as one channel (three equal ones,
    then) finds its data as it trained on them, not 'changed since' it trained."""
    import ssgan.data

    root = tmp_path / "d"
    digit_folder(root, test=5)
    for path in root.rglob("*.png"):
        with Image.open(path) as im:
            im.convert("P").save(path)
    with monkeypatch.context() as m:
        m.setattr(ssgan.data, "_grey_palette", lambda im: False)  # as ssgan read them before
        r = CliRunner().invoke(main, ["fit", "--dataset", f"folder:{root}", "--epochs", "1", "--out", str(tmp_path / "runs"),
                                      "--json"])
        assert r.exit_code == 0, r.output
        run = json.loads(r.stdout)["run"]
        before = evaluate_run(run)
    assert load_dataset(f"folder:{root}").shape == (1, 8, 8)  # read as grey now
    assert evaluate_run(run)["accuracy"] == before["accuracy"]
    r = CliRunner().invoke(main, ["fit", "--resume", run, "--epochs", "2", "--quiet"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("case", ["no folder", "no train", "image folder layout", "one class", "empty class", "sizes", "not an image",
                                  "test class", "test size", "no unlabeled", "16 bits", "predict empty", "photos"])
def test_a_bad_image_folder_is_one_line_that_says_what_to_do(tmp_path, case):
    root = tmp_path / "d"
    pixels = np.zeros((375, 500) if case == "photos" else (8, 8), np.uint8)
    deep_mode = None
    if case != "no folder":
        root.mkdir()
    if case not in ("no folder", "no train", "image folder layout"):
        save(root / "train" / "a" / "0.png", pixels)
    if case not in ("no folder", "no train", "image folder layout", "one class", "no unlabeled"):
        save(root / "unlabeled" / "0.png", pixels)
    if case not in ("no folder", "no train", "image folder layout", "one class"):
        (root / "train" / "b").mkdir()
        if case != "empty class":
            save(root / "train" / "b" / "0.png", pixels)
    if case == "sizes":
        save(root / "unlabeled" / "big.png", np.zeros((9, 8), np.uint8))
    if case == "not an image":
        (root / "unlabeled").mkdir(exist_ok=True)
        (root / "unlabeled" / "broken.png").write_bytes(b"not a png")
    if case == "16 bits":
        save(root / "unlabeled" / "deep.png", np.full((8, 8), 40000, np.uint16), "I;16")
        with Image.open(root / "unlabeled" / "deep.png") as im:
            deep_mode = im.mode  # (the mode Pillow reads it in: I;16, or I in older Pillows, 9.2 among them)
    if case == "image folder layout":  # (torchvision's ImageFolder: DIR/CLASS/, no train folder)
        for k in "abcdef":
            save(root / k / "0.png", pixels)
        (root / "notes").mkdir()  # (a folder without images is no class)
    if case == "test class":
        save(root / "test" / "c" / "0.png", pixels)
    if case == "test size":
        save(root / "test" / "a" / "0.png", np.zeros((6, 6), np.uint8))
    expected = {
        "no folder": "no such folder", "no train": "has no train folder: put the labeled images in DIR/train/CLASS/",
        "image folder layout": f"{root} has no train folder, and its folders of images (a, b, c, d and 2 more) look "
                               f"like one per class: move them into {root / 'train'}/, and images without labels into "
                               f"{root / 'unlabeled'}/",
        "one class": "has one class folder (a)",
        "empty class": "Found no valid file for the classes b", "sizes": "big.png is 8x9 pixels but",
        "not an image": "broken.png is not a readable image", "test class": "has class folders that",
        "test size": "give test images of the training images' size, or --image-size N", "predict empty": "holds no images",
        "16 bits": f"deep.png has pixels of more than 8 bits (PIL mode {deep_mode}), "
                   "which a folder does not read",
        "no unlabeled": "has no unlabeled images: put them in its unlabeled/ folder, or pass --labels N",
        "photos": "0.png is 500x375 pixels, and ssgan's networks are made for images of at most 64 pixels a side: "
                  "give --image-size 32",
    }[case]
    if case == "predict empty":
        from ssgan.data import folder_images

        (root / "new").mkdir()
        with pytest.raises(SSGANError, match=expected):
            folder_images(f"folder:{root / 'new'}")
        return
    r = CliRunner().invoke(main, ["fit", "--dataset", f"folder:{root}", "--epochs", "1",
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("Error: ") and expected in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_image_folder_benchmark_reads_back_its_archive(tmp_path):
    """benchmarks/image_folder.py writes an archive as PNG files and checks that the folder
    reads back the archive's pixels and class names (here on a small archive of three classes)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", x_train=rng.integers(0, 256, (30, 6, 6), dtype=np.uint8),
             y_train=np.arange(30) % 3, x_test=rng.integers(0, 256, (9, 6, 6), dtype=np.uint8), y_test=np.arange(9) % 3)
    script = ROOT / "benchmarks" / "image_folder.py"
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "f"), "--npz", str(tmp_path / "small.npz"),
                        "--names", "c,b,a", "--labels-per-class", "2", "--repeats", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "30 training images (6 labeled), 9 test images, shape (1, 6, 6)" in r.stdout
    assert r.stdout.strip().endswith("test images as in the archive: pixels True, class names True")


def test_sample_images_are_files_that_read_back_as_a_folder(tmp_path, monkeypatch):
    """sample --images writes each sample as an 8-bit PNG, the pixels of the samples that --npz
    writes (same seed) rounded as the grid is; the folder classifies with predict --data folder:;
    a folder in use is refused, and an export that fails halfway leaves no folder behind."""
    digit_folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:d", "--epochs", "1", "--out", "runs", "--json", "--quiet"])
    run = json.loads(r.stdout)["run"]
    r = CliRunner().invoke(main, ["sample", run, "--n", "12", "--images", "gen", "--npz", "gen.npz"])
    assert r.exit_code == 0 and r.output == "wrote gen.npz, gen (12 images)\n", r.output
    files = sorted(Path("gen").iterdir())
    assert [p.name for p in files] == [f"sample_{i:05d}.png" for i in range(12)]
    with np.load("gen.npz") as z:
        expected = np.floor(z["x"][:, 0] * 255 + 0.5).astype(np.uint8)
    read = np.stack([np.asarray(Image.open(p)) for p in files])
    assert read.dtype == np.uint8 and np.array_equal(read, expected)
    r = CliRunner().invoke(main, ["predict", run, "--data", "folder:gen", "--out", "gen.csv"])
    assert r.exit_code == 0 and "12 rows of folder:gen (12 images)" in r.output, r.output
    r = CliRunner().invoke(main, ["sample", run, "--images", "gen"])
    assert r.exit_code == 2 and "--images gen: it exists and is not empty" in r.output, r.output

    saved = Image.Image.save

    def fail_at_the_fourth(image, path, *args, **kwargs):
        if Path(path).name == "sample_00003.png":
            raise OSError(28, "No space left on device")
        return saved(image, path, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", fail_at_the_fourth)
    r = CliRunner().invoke(main, ["sample", run, "--n", "8", "--images", "full"])
    assert r.exit_code == 2 and r.output == "Error: cannot write full: No space left on device\n", r.output
    assert not Path("full").exists() and not [p for p in Path(".").iterdir() if p.name.startswith(".full")]


def test_image_size_resizes_and_centre_crops_images_of_any_size(tmp_path, monkeypatch):
    """--image-size N brings images of many sizes to N x N as torchvision's Resize(N) and
    CenterCrop(N) do, in training and for the new images that predict and eval read for the run;
    it is refused for data that are not an image folder."""
    from torchvision import transforms

    rng = np.random.default_rng(0)
    sizes = iter(rng.integers(12, 40, (40, 2)))
    for part, n in (("train/a", 3), ("train/b", 3), ("unlabeled", 12), ("test/a", 2), ("test/b", 2), ("new", 3)):
        for i in range(n):
            w, h = next(sizes)
            save(tmp_path / "m" / part / f"{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    monkeypatch.chdir(tmp_path)
    data = load_dataset("folder:m", image_size=10)
    assert data.shape == (3, 10, 10) and len(data.x_test) == 4
    path = Path("m/train/a/0.png")
    expected = np.asarray(transforms.Compose([transforms.Resize(10), transforms.CenterCrop(10)])(Image.open(path)))
    assert np.array_equal(np.round(data.x_train[0] * 255).astype(np.uint8).transpose(1, 2, 0), expected)
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:m", "--image-size", "10", "--epochs", "1",
                                  "--batch-size", "6", "--out", "runs", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    r = CliRunner().invoke(main, ["predict", run, "--data", "folder:m/new", "--out", "p.csv"])
    assert r.exit_code == 0 and "3 rows of folder:m/new (3 images)" in r.output, r.output
    assert evaluate_run(run, data_spec="folder:m")["n"] == 4
    r = CliRunner().invoke(main, ["fit", "--dataset", "folder:m", "--epochs", "1", "--out", "runs"])
    assert r.exit_code == 2 and "or --image-size N to resize and centre-crop each" in r.output, r.output
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--image-size", "10", "--out", "runs"])
    assert r.exit_code == 2 and "--image-size resizes the images of a folder:DIR dataset, and digits is not one" in r.output


def test_a_run_on_unnamed_classes_scores_folders_named_by_their_numbers(tmp_path):
    """A digits run knows no class names: eval --data folder:DIR reads class folders named 0..9,
    here the test images of 3 and 7 alone, scored as classes 3 and 7."""
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1",
                                  "--out", str(tmp_path / "runs"), "--json", "--quiet"])
    run = json.loads(r.stdout)["run"]
    digits = load_digits()
    for i in np.flatnonzero(np.isin(digits.y_test, (3, 7))):
        save(tmp_path / "d" / "test" / str(digits.y_test[i]) / f"{i}.png", np.round(digits.x_test[i, 0] * 255).astype(np.uint8))
    scored = evaluate_run(run, data_spec=f"folder:{tmp_path / 'd'}")
    own = evaluate_run(run)
    assert scored["classes"] is None and scored["n"] == int(np.isin(digits.y_test, (3, 7)).sum())
    assert [k for k, acc in enumerate(scored["per_class_accuracy"]) if acc is not None] == [3, 7]
    assert scored["per_class_accuracy"][3] == pytest.approx(own["per_class_accuracy"][3])
    assert scored["per_class_accuracy"][7] == pytest.approx(own["per_class_accuracy"][7])


def test_an_npz_may_name_its_classes_as_a_folder_does(tmp_path):
    """An npz's optional `classes` array names the classes, which eval and predict then show, as
    for an image folder; names that do not fit the labels are one line."""
    from conftest import write_npz

    digits = load_digits()
    y = np.where(np.arange(len(digits.y_train)) < 100, digits.y_train, -1)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    data = write_npz(tmp_path / "d.npz", x=digits.x_train, y=y, x_test=digits.x_test, y_test=digits.y_test,
                     classes=names)
    r = CliRunner().invoke(main, ["fit", "--dataset", data, "--epochs", "1", "--out", str(tmp_path / "runs"),
                                  "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    assert evaluate_run(run)["classes"] == names.tolist()
    r = CliRunner().invoke(main, ["predict", run, "--data", data, "--key", "x_test", "--out", str(tmp_path / "p.csv")])
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(row["class"] == names[int(row["pred"])] for row in rows)
    write_npz(tmp_path / "d.npz", x=digits.x_train, y=y, x_test=digits.x_test, y_test=digits.y_test)  # names gone
    r = CliRunner().invoke(main, ["eval", run])
    assert r.exit_code == 2 and "the classes of npz:" in r.output and " are now none, but " in r.output, r.output
    # other examples whose npz numbers the classes otherwise are scored by name, as a folder's are
    own = evaluate_run(run, data_spec=write_npz(tmp_path / "own.npz", x=digits.x_test, y=digits.y_test,
                                                 classes=names))
    other = write_npz(tmp_path / "other.npz", x=digits.x_test, y=9 - digits.y_test, classes=names[::-1])
    assert evaluate_run(run, data_spec=other)["confusion_matrix"] == own["confusion_matrix"]
    odd = np.isin(digits.y_test, [1, 3])  # two of the classes, numbered 0 and 1 in their npz
    some = write_npz(tmp_path / "some.npz", x=digits.x_test[odd], y=(digits.y_test[odd] == 3).astype(np.int64),
                     classes=names[[1, 3]])
    assert evaluate_run(run, data_spec=some)["confusion_matrix"][3] == own["confusion_matrix"][3]
    alien = write_npz(tmp_path / "alien.npz", x=digits.x_test, y=digits.y_test, classes=np.char.add(names, "!"))
    r = CliRunner().invoke(main, ["eval", run, "--data", alien])
    assert r.exit_code == 2 and "names classes zero!, one!," in r.output and "did not train on" in r.output, r.output
    twice = write_npz(tmp_path / "twice.npz", x=digits.x_test, y=digits.y_test, classes=np.array([*names[:9], "one"]))
    r = CliRunner().invoke(main, ["eval", run, "--data", twice])
    assert r.exit_code == 2 and "classes names one more than once" in r.output, r.output
    bad = write_npz(tmp_path / "bad.npz", x=digits.x_train, y=y, classes=names[:9])
    r = CliRunner().invoke(main, ["fit", "--dataset", bad, "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "classes must be 10 names (strings, one per class 0..9), got an array of shape (9,)" \
        in r.output, r.output


def test_a_run_on_values_in_their_own_units_refuses_8_bit_pixels(tmp_path):
    """A run trained on an npz of floats (here digits as 0..16 intensities, scaled by the run's
    min-max scaler) reads other floats in those units; 8-bit pixels, which ssgan reads as [0, 1],
    would land at the bottom of its range and be misclassified in silence, so they stop in one
    line: a folder of PNGs and an npz of uint8 alike, for eval and for predict. A run on floats
    within [0, 1] takes them."""
    from conftest import write_npz

    digits = load_digits()
    sixteen = np.round(digits.x_train[:, 0] * 16).astype(np.float32)  # (N, 8, 8) in 0..16
    y = np.where(np.arange(len(digits.y_train)) < 100, digits.y_train, -1)
    data = write_npz(tmp_path / "d.npz", x=sixteen, y=y)
    r = CliRunner().invoke(main, ["fit", "--dataset", data, "--epochs", "1", "--out", str(tmp_path / "runs"),
                                  "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    for i in range(30):
        save(tmp_path / "imgs" / "test" / str(digits.y_test[i]) / f"{i}.png",
             np.round(digits.x_test[i, 0] * 255).astype(np.uint8))
    (tmp_path / "imgs" / "test" / "0" / "00.png").write_bytes(b"not read: the check comes first")
    pixels = write_npz(tmp_path / "pixels.npz", x=np.round(digits.x_test[:, 0] * 255).astype(np.uint8),
                       y=digits.y_test)
    for command in (["eval", run, "--data", f"folder:{tmp_path / 'imgs'}"], ["eval", run, "--data", pixels],
                    ["predict", run, "--data", f"folder:{tmp_path / 'imgs'}", "--out", str(tmp_path / "p.csv")],
                    ["predict", run, "--data", pixels, "--out", str(tmp_path / "p.csv")]):
        r = CliRunner().invoke(main, command)
        assert r.exit_code == 2 and "holds 8-bit pixels, which ssgan reads as [0, 1], but" in r.output \
            and "trained on values in [0, 16] (npz:" in r.output, (command, r.output)
    assert not (tmp_path / "p.csv").exists()
    (tmp_path / "imgs" / "test" / "0" / "00.png").unlink()
    floats = write_npz(tmp_path / "floats.npz", x=np.round(digits.x_test[:, 0] * 16).astype(np.float32),
                       y=digits.y_test)
    r = CliRunner().invoke(main, ["predict", run, "--data", floats, "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    assert evaluate_run(run, data_spec=floats)["n"] == len(digits.y_test)
    # floats within [0, 1] are pixels in ssgan's own units: 8-bit images are read in the same ones
    unit = write_npz(tmp_path / "unit.npz", x=digits.x_train[:, 0], y=y)
    r = CliRunner().invoke(main, ["fit", "--dataset", unit, "--epochs", "1", "--out", str(tmp_path / "runs"),
                                  "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", json.loads(r.stdout)["run"], "--data", f"folder:{tmp_path / 'imgs'}"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("threaded", [False, True])
def test_large_images_read_in_threads_as_one_after_another(tmp_path, monkeypatch, threaded):
    """Images of THREADED_PIXELS or more are decoded in threads: the same pixels in the order of
    the paths, and the first bad file in that order is the one named, as when read one by one."""
    import torch

    import ssgan.data

    monkeypatch.setattr(ssgan.data, "THREADED_PIXELS", 0 if threaded else 10**9)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)  # (threads even on a one-core machine)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(40):
        paths.append(tmp_path / f"{i:02d}.png")
        save(paths[-1], rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), "RGB" if i % 3 else "L")
    expected = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]).transpose(0, 3, 1, 2) / 255.0
    np.testing.assert_array_equal(ssgan.data.read_images(paths), expected.astype(np.float32))
    save(paths[7], rng.integers(0, 256, (9, 9), dtype=np.uint8))  # another size, before ...
    paths[20].write_bytes(b"not an image")  # ... an unreadable file
    with pytest.raises(SSGANError, match=r"07.png is 9x9 pixels but .*00.png is 10x12"):
        ssgan.data.read_images(paths)
    with pytest.raises(SSGANError, match=r"20.png is not a readable image"):
        ssgan.data.read_images(paths, size=8)
