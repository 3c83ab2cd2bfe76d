"""Datasets: one small registry, every loader returning the same :class:`Dataset`.

Pixels are float32 in [0, 1] (8-bit images are divided by 255, scikit-learn's digits by 16),
images are laid out as (N, C, H, W) and flat data as (N, D). Labels are int64 class indices
0..K-1, and -1 marks an unlabeled row (scikit-learn's semi-supervised convention).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ssgan.errors import DataWarning, SSGANError, first_line, joined_lines


@dataclass(frozen=True, eq=False)
class Dataset:
    """A training set (possibly partly unlabeled) and an optional test set."""

    name: str
    x_train: np.ndarray  # float32, (N, *shape), values in [0, 1]
    y_train: np.ndarray  # int64, (N,), -1 = unlabeled
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    n_classes: int
    value_range: tuple[float, float] | None = None  # (min, max) of x in the user's own units, where real-valued
    classes: tuple[str, ...] | None = None  # the classes' names, where the data name them (an image folder's)

    @property
    def real_valued(self) -> bool:
        """Whether ``x`` holds the user's float values, in their own units until scaled (:mod:`ssgan.scaling`)."""
        return self.value_range is not None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example: (C, H, W) for images, (D,) for flat data."""
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def sha256(self, with_test: bool = True) -> str:
        """The SHA-256 of the training examples and labels (and of the test set's, ``with_test``),
        as loaded: what tells the data a split or a run was made for from data changed since."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, *((self.x_test, self.y_test) if with_test else ())):
            if a is not None:
                h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
        return h.hexdigest()


@dataclass(frozen=True)
class DatasetInfo:
    """What ``ssgan datasets`` shows about a registered dataset."""

    name: str
    description: str
    shape: str
    n_classes: str
    load: Callable[[str | None, bool], Dataset]
    bundled: bool = False


def _as_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1]."""
    x = np.asarray(x)
    return _unit_floats(x[:, None] if x.ndim == 3 else x)


def _unit_floats(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """8-bit values as float32 in [0, 1]: one float32 copy (into ``out``, where given), divided by
    255 in place (the numbers of ``x.astype(np.float32) / 255.0``, without its second copy)."""
    if out is None:
        out = x.astype(np.float32)
    else:
        out[...] = x
    return np.divide(out, np.float32(255), out=out)


def rows_per_part(shape: tuple[int, ...], values: int) -> int:
    """How many rows of ``shape`` hold about ``values`` values (one row at least): the parts in
    which large arrays are read, converted and scaled, so that their temporaries stay small."""
    return max(1, values // max(1, math.prod(shape)))


# -- bundled data ---------------------------------------------------------------------------

def load_mnist(data_root: str | None = None, download: bool = False) -> Dataset:
    """The canonical MNIST shipped inside the package (no network needed)."""
    ref = resources.files("ssgan") / "bundled" / "mnist.npz"
    try:
        with resources.as_file(ref) as path, np.load(path) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise SSGANError(
            f"the bundled MNIST file {ref} is missing or damaged ({type(e).__name__}): "
            "reinstall ssgan"
        ) from None
    expected = {"x_train": (60000, 28, 28), "y_train": (60000,),
                "x_test": (10000, 28, 28), "y_test": (10000,)}
    for key, shape in expected.items():
        a = arrays[key]
        if a.shape != shape or a.dtype != np.uint8:
            raise SSGANError(
                f"the bundled MNIST file is damaged: {key} has shape {a.shape} and dtype "
                f"{a.dtype}, expected {shape} uint8: reinstall ssgan"
            )
    return Dataset(
        name="mnist",
        x_train=_as_images(arrays["x_train"]),
        y_train=arrays["y_train"].astype(np.int64),
        x_test=_as_images(arrays["x_test"]),
        y_test=arrays["y_test"].astype(np.int64),
        n_classes=10,
    )


def load_digits(data_root: str | None = None, download: bool = False) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images), split 75/25 once with a fixed seed."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    d = sk_load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
    return Dataset("digits", x_tr, y_tr, x_te, y_te, n_classes=10)


# -- torchvision datasets -------------------------------------------------------------------

# name -> (torchvision class, classes, where its files live under --data-root)
_TORCHVISION = {
    "fashion-mnist": ("FashionMNIST", 10, "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte"),
    "kmnist": ("KMNIST", 10, "KMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte"),
    "svhn": ("SVHN", 10, "train_32x32.mat and test_32x32.mat"),
    "cifar10": ("CIFAR10", 10, "cifar-10-batches-py/ (data_batch_1..5, test_batch)"),
}


# Where torchvision's files lie under --data-root, and its archives as they are copied packed to
# machines without the network (torchvision reads them unpacked, and unpacks them itself under
# --download, where their MD5 checks: no download then). name -> (the folder of its files, one of
# those files, its archives relative to the root, how to unpack them)
_LAYOUTS = {
    "fashion-mnist": ("FashionMNIST/raw", "train-images-idx3-ubyte", "FashionMNIST/raw/*-ubyte.gz",
                      "gunzip -k {root}/FashionMNIST/raw/*-ubyte.gz"),
    "kmnist": ("KMNIST/raw", "train-images-idx3-ubyte", "KMNIST/raw/*-ubyte.gz", "gunzip -k {root}/KMNIST/raw/*-ubyte.gz"),
    "cifar10": ("cifar-10-batches-py", "data_batch_1", "cifar-10-python.tar.gz",
                "tar -xzf {root}/cifar-10-python.tar.gz -C {root}"),
}


def packed_archives(name: str, root: str | Path) -> list[Path]:
    """torchvision's archives of ``name`` that lie packed under the data root ``root``."""
    if name not in _LAYOUTS:
        return []
    return sorted(Path(root).expanduser().glob(_LAYOUTS[name][2]))


def _packed(name: str, root: Path) -> str:
    """What to say where ``name``'s archives lie packed in ``root`` ("" where none do)."""
    import shlex

    found = packed_archives(name, root)
    if not found:
        return ""
    unpack = _LAYOUTS[name][3]
    what = f"{found[0]} is" if len(found) == 1 else f"{len(found)} archives such as {found[0]} are"
    return (f"; {what} there, packed: unpack {'it' if len(found) == 1 else 'them'} "
            f"({unpack.format(root=shlex.quote(str(root)))}), or add --download, which unpacks torchvision's own "
            "archives without the network once their MD5 checks")


def _elsewhere(name: str, root: Path) -> str:
    """What to say where ``name``'s files lie in torchvision's layout under a folder near
    ``root``: ``root`` is a folder of that layout (--data-root DIR/cifar-10-batches-py for DIR),
    or a subfolder of ``root`` holds it (DIR's parent for DIR); "" where neither does."""
    if name not in _LAYOUTS:
        return ""
    folder, marker = _LAYOUTS[name][:2]
    parts = Path(folder).parts
    root = Path(os.path.normpath(root))  # (DIR/raw/../raw: its parent is DIR's)
    for depth in range(len(parts), 0, -1):  # root is the layout's first `depth` folders
        if root.resolve().parts[-depth:] == parts[:depth] and any(root.joinpath(*parts[depth:]).glob(f"{marker}*")):
            parent = root.parents[depth - 1] if len(root.parts) > depth else root.resolve().parents[depth - 1]
            return f"; {root} is the layout's {'/'.join(parts[:depth])}: give --data-root {parent}"
    below = sorted(p for p in root.glob(f"*/{folder}") if any(p.glob(f"{marker}*")))
    if below:
        return f"; {below[0]} is there: give --data-root {Path(*below[0].parts[:len(below[0].parts) - len(parts)])}"
    return ""


def _load_torchvision(name: str, data_root: str | None, download: bool) -> Dataset:
    cls_name, n_classes, files = _TORCHVISION[name]
    if data_root is None:
        raise SSGANError(
            f"{name} needs --data-root DIR (torchvision's layout: DIR/{files}); "
            "add --download to fetch it when online"
        )
    root = Path(data_root).expanduser()
    if not download and not root.is_dir():
        raise SSGANError(f"data root {root} does not exist: create it and add --download, or point --data-root at {name}'s files")
    import torchvision.datasets as tvd  # (about 1 s and 160 MiB: not for the lines above)

    cls = getattr(tvd, cls_name)
    parts = {}
    try:
        for part in ("train", "test"):
            if name == "svhn":
                parts[part] = cls(str(root), split=part, download=download)
            else:
                parts[part] = cls(str(root), train=(part == "train"), download=download)
    except RuntimeError as e:
        if "not found" in str(e) or "corrupted" in str(e):
            raise SSGANError(f"{name} not found in {root}: expected {files} there"
                             + (_elsewhere(name, root) or _packed(name, root)
                                or " (add --download to fetch it when online)")) from None
        online = " (are you online for --download?)" if download else ""
        raise SSGANError(f"could not load {name} from {root}: {joined_lines(str(e))}{online}") from None
    except OSError as e:
        raise SSGANError(f"could not load {name} from {root}: {joined_lines(str(e))} (are you online for "
                         "--download?)") from None

    def arrays(ds):
        if name == "svhn":
            return _unit_floats(ds.data), np.asarray(ds.labels, dtype=np.int64)
        if name == "cifar10":
            x = np.asarray(ds.data).transpose(0, 3, 1, 2)
            return _unit_floats(x), np.asarray(ds.targets, dtype=np.int64)
        return _as_images(ds.data.numpy()), ds.targets.numpy().astype(np.int64)

    x_tr, y_tr = arrays(parts["train"])
    x_te, y_te = arrays(parts["test"])
    return Dataset(name, x_tr, y_tr, x_te, y_te, n_classes=n_classes)


# -- the user's own data --------------------------------------------------------------------

READ_VALUES = 1 << 22  # values of an npz array read and converted at once (32 MiB of float64)
_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
OBJECT_ARRAYS = ("holds arrays of Python objects, which are not loaded (they would be unpickled): "
                 "save numeric arrays (numpy.asarray(x, dtype=float)) with numpy.savez")


def _header(f: np.lib.npyio.NpzFile, member, key: str,
            path: Path) -> tuple[tuple[int, ...], bool, np.dtype, np.ndarray | None]:
    """The shape, Fortran order and dtype of array ``key`` from the header of its open ``member``
    (and the array itself, read whole, where the header is of a format this does not parse),
    checked to be numbers that examples can be made of."""
    version, whole = np.lib.format.read_magic(member), None
    if version in _HEADERS:
        shape, fortran, dtype = _HEADERS[version](member)
    else:
        whole = f[key]
        shape, fortran, dtype = whole.shape, True, whole.dtype
    if dtype.hasobject:
        raise SSGANError(f"{path} {OBJECT_ARRAYS}")
    if dtype.kind not in "buif":  # (booleans, binary features, are read as 0 and 1)
        raise SSGANError(f"{path}: {key} has dtype {dtype}; expected real numbers (8-bit pixels, booleans, integers "
                         f"or floats): save numpy.asarray({key}, dtype=float) if its values are numbers")
    return shape, fortran, dtype, whole


def _member(f: np.lib.npyio.NpzFile, key: str, path: Path):
    """The open zip member that holds array ``key`` of ``f``."""
    if f"{key}.npy" not in f.zip.namelist():  # (a member that numpy.savez did not write)
        raise SSGANError(f"{path}: {key} is not a numpy array in the file: save it with numpy.savez")
    return f.zip.open(f"{key}.npy")


def _shape_of(f: np.lib.npyio.NpzFile, key: str, path: Path) -> tuple[tuple[int, ...], bool]:
    """The shape of array ``key`` of the open .npz ``f`` and whether it holds 8-bit pixels, from its
    header, its values not read; checked as :func:`_examples` checks them."""
    with _member(f, key, path) as member:
        shape, _, dtype, _ = _header(f, member, key, path)
    return shape, dtype == np.uint8


IMPUTERS = " (scikit-learn's SimpleImputer fills missing values; a CSV table: ssgan convert --impute median)"


def _examples(f: np.lib.npyio.NpzFile, key: str, path: Path) -> tuple[np.ndarray, bool]:
    """Array ``key`` of the open .npz ``f``, validated and converted to float32: 8-bit pixels into
    [0, 1], other numbers as they are (:mod:`ssgan.scaling` brings them into the networks' units);
    and whether it held 8-bit pixels. The values are read and converted a part of the rows at a
    time (about :data:`READ_VALUES`), so that a float64 array is never whole in memory beside its
    float32 copy; the numbers are those of converting it whole. An array that numpy stores
    otherwise (Fortran order, a header of format 3.0) is read whole first."""
    with _member(f, key, path) as member:
        shape, fortran, dtype, whole = _header(f, member, key, path)
        eight_bit = dtype == np.uint8
        out = np.empty(shape, np.float32)
        flat = out.reshape(-1)  # (a view: the values in C order, as the file holds them)
        if fortran:
            parts = [np.asarray(f[key] if whole is None else whole).reshape(-1)]
        else:
            step = max(1, rows_per_part(shape[1:], READ_VALUES) * math.prod(shape[1:]))  # (values, whole rows)
            parts = (np.frombuffer(_read_exactly(member, min(step, flat.size - i) * dtype.itemsize), dtype)
                     for i in range(0, flat.size, step))
        done = 0
        for part in parts:
            values = flat[done:done + part.size]
            if eight_bit:
                _unit_floats(part, out=values)
            else:
                with np.errstate(over="ignore"):  # (said below, in one line)
                    values[...] = part
                if not np.isfinite(values).all():
                    if np.isfinite(part).all():  # finite in the file, past float32's largest
                        raise SSGANError(f"{path}: {key} has values of magnitude up to {np.abs(part).max():.3g}, past "
                                         f"float32's largest ({np.finfo(np.float32).max:.3g}), which ssgan computes in: "
                                         "divide them by a power of ten first")
                    raise SSGANError(f"{path}: {key} contains NaN or infinite values: clean or impute them first"
                                     + (IMPUTERS if len(shape) == 2 else ""))
            done += part.size
    return out, eight_bit


def _read_exactly(member, size: int) -> bytes:
    """``size`` bytes of an open zip member, or EOFError where it ends first (a file cut short)."""
    data = member.read(size)
    if len(data) != size:
        raise EOFError(f"expected {size} bytes of array data, got {len(data)}")
    return data


def _check_channels_first(shape: tuple[int, ...], key: str, path: Path | str, verb: str = "save") -> None:
    """One line for images saved channels-last, (N, H, W, C) as PIL, TensorFlow and CIFAR-10's
    own arrays lay them out: read as (N, C, H, W), they would train as H channels of W-pixel-wide
    images, and their samples would have no picture. Taken as channels-last: a last axis of 4 or
    fewer after two longer ones (16 bands of 4x4 pixels stay as they are).

    >>> _check_channels_first((5, 3, 32, 32), "x", Path("d.npz"))
    >>> _check_channels_first((5, 32, 32, 3), "x", Path("d.npz"))
    Traceback (most recent call last):
    ssgan.errors.SSGANError: d.npz: x has shape (5, 32, 32, 3), images channels-last; ssgan reads them as (N, C, H, W): save numpy.moveaxis(x, -1, 1)
    """
    if len(shape) == 4 and shape[3] <= 4 < min(shape[1], shape[2]):
        raise SSGANError(f"{path}: {key} has shape {shape}, images channels-last; ssgan reads them as (N, C, H, W): "
                         f"{verb} numpy.moveaxis({key}, -1, 1)")


def array_rows(x, name: str = "x") -> tuple[np.ndarray, bool]:
    """Examples given in Python (an array, or what ``numpy.asarray`` takes), as
    :func:`load_npz_rows` reads an npz's: float32, 8-bit pixels (uint8) divided by 255, grey
    images (N, H, W) as (N, 1, H, W); and whether they were 8-bit pixels. ``name`` is what an
    error calls them.

    >>> x, eight_bit = array_rows(np.array([[0, 255]], np.uint8))
    >>> x, eight_bit
    (array([[0., 1.]], dtype=float32), True)
    >>> array_rows(np.zeros((2, 8, 8, 3)))[0].shape
    Traceback (most recent call last):
    ssgan.errors.SSGANError: given array: x has shape (2, 8, 8, 3), images channels-last; ssgan reads them as (N, C, H, W): pass numpy.moveaxis(x, -1, 1)
    """
    x = np.asarray(x)
    if x.dtype.kind not in "buif":
        raise SSGANError(f"{name} has dtype {x.dtype}; expected real numbers (8-bit pixels, booleans, integers or "
                         "floats)")
    if x.ndim not in (2, 3, 4) or len(x) == 0:
        raise SSGANError(f"{name} has shape {x.shape}; expected N > 0 rows of shape (D,), (H, W) or (C, H, W)")
    _check_channels_first(x.shape, name, "given array", verb="pass")
    eight_bit = x.dtype == np.uint8
    if eight_bit:
        out = _unit_floats(x)
    else:
        with np.errstate(over="ignore"):
            out = x.astype(np.float32)
        if not np.isfinite(out).all():
            raise SSGANError(f"{name} contains NaN or infinite values"
                             + (", or values past float32's largest" if np.isfinite(x).all() else "")
                             + ": clean or impute them first" + (IMPUTERS if x.ndim == 2 else ""))
    return _with_channel(out), eight_bit


def _with_channel(x: np.ndarray) -> np.ndarray:
    """Grey images (N, H, W) with their channel axis, (N, 1, H, W); other arrays as they are."""
    return x[:, None] if x.ndim == 3 else x


def _labels(y: np.ndarray, key: str, path: Path) -> np.ndarray:
    """The class labels ``y`` (array ``key`` of the npz ``path``) as int64, or a one-line error
    that says how to save them: a column (N, 1), as Keras keeps them, or one-hot rows (N, K) say
    the numpy expression that gives one label per row (-1 for a row of zeros).

    >>> _labels(np.array([[0], [2]]), "y", Path("d.npz"))
    Traceback (most recent call last):
    ssgan.errors.SSGANError: d.npz: y must be one-dimensional, got shape (2, 1): save y.ravel()
    >>> _labels(np.eye(3)[[0, 2]], "y", Path("d.npz"))
    Traceback (most recent call last):
    ssgan.errors.SSGANError: d.npz: y must be one-dimensional, got shape (2, 3), one-hot rows: save y.argmax(1)
    >>> _labels(np.array([[0, 1], [0, 0]]), "y", Path("d.npz"))  # (a row of zeros: unlabeled)
    Traceback (most recent call last):
    ssgan.errors.SSGANError: d.npz: y must be one-dimensional, got shape (2, 2), one-hot rows: save numpy.where(y.any(1), y.argmax(1), -1)
    >>> _labels(np.array([0.0, np.nan, 1.0]), "y", Path("d.npz"))  # (pandas' missing labels)
    Traceback (most recent call last):
    ssgan.errors.SSGANError: d.npz: y is NaN in 1 of 3 rows; mark unlabeled rows -1: save numpy.where(numpy.isnan(y), -1, y).astype(int)
    >>> _labels(np.array([0.0, 0.5]), "y", Path("d.npz"))
    Traceback (most recent call last):
    ssgan.errors.SSGANError: d.npz: y must hold integer class labels (-1 for unlabeled), got 0.5
    """
    if y.ndim != 1:
        how = ""
        if y.ndim == 2 and y.shape[1] == 1:
            how = f": save {key}.ravel()"
        elif y.ndim == 2 and y.size and np.isin(y, (0, 1)).all() and (y.sum(1) <= 1).all():
            some_empty = (y.sum(1) == 0).any()  # (rows of zeros: unlabeled)
            how = ", one-hot rows: save " + (f"numpy.where({key}.any(1), {key}.argmax(1), -1)" if some_empty
                                               else f"{key}.argmax(1)")
        raise SSGANError(f"{path}: {key} must be one-dimensional, got shape {y.shape}{how}")
    if np.issubdtype(y.dtype, np.floating):
        missing = np.isnan(y)
        if missing.any():  # (pandas marks a missing label NaN)
            how = (f"mark unlabeled rows -1: save numpy.where(numpy.isnan({key}), -1, {key}).astype(int)" if key == "y"
                   else "a test set needs every label: leave those rows out of it")
            raise SSGANError(f"{path}: {key} is NaN in {missing.sum():,} of {len(y):,} rows; {how}")
        odd = y[~np.isfinite(y) | (y != np.round(y))]
        if len(odd):
            raise SSGANError(f"{path}: {key} must hold integer class labels (-1 for unlabeled), got "
                             f"{odd[0].item()!r}" + (f" and {len(odd) - 1:,} more values that are not" if len(odd) > 1 else ""))
    elif y.dtype.kind in "US":
        raise SSGANError(f"{path}: {key} holds strings; expected integer class labels 0..K-1 (-1 for unlabeled): save "
                         f"the class names in an array named classes, and {key} as their indices")
    elif not np.issubdtype(y.dtype, np.integer):
        raise SSGANError(f"{path}: {key} has dtype {y.dtype}; expected integer class labels")
    elif y.dtype.kind == "u" and y.size and _wrapped(y):
        top = np.iinfo(y.dtype).max
        raise SSGANError(f"{path}: {key} has dtype {y.dtype}, which cannot hold -1, and its {top}s look like -1 "
                         f"(unlabeled) wrapped around: save signed labels, numpy.where({key} == {top}, -1, "
                         f"{key}).astype(int)")
    y = y.astype(np.int64)
    if y.size and y.min() < -1:
        raise SSGANError(f"{path}: {key} has label {y.min()}; labels are 0..K-1, or -1 for unlabeled")
    return y


def _wrapped(y: np.ndarray) -> bool:
    """Whether unsigned labels ``y`` hold their type's largest value (255 for uint8) far above
    the other labels: -1, meant as unlabeled, stored in a type without negative numbers.

    >>> _wrapped(np.array([0, 1, 255], np.uint8)), _wrapped(np.arange(256).astype(np.uint8))
    (True, False)
    """
    top = np.iinfo(y.dtype).max
    rest = y[y != top]
    return bool(len(rest) < len(y) and (not len(rest) or rest.max() < top - 1))


def _listed(values: list[int], shown: int = 8) -> str:
    """``values`` for a one-line message: all of them, or the first ``shown`` and how many more."""
    return f"{values[:shown]}" + (f" and {len(values) - shown:,} more" if len(values) > shown else "")


@contextlib.contextmanager
def _open_npz(path: str, needs: str) -> Iterator[tuple[Path, np.lib.npyio.NpzFile]]:
    """The .npz file at ``path``, open to read its arrays by name, or a one-line error (``needs``:
    which arrays it should hold) for a file that is not there, not an .npz, or cut short."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SSGANError(f"no such file: {p} (expected npz:PATH to an .npz with arrays {needs})")
    try:
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # (a .npy: one array, and no context manager)
            raise SSGANError(npy_advice(str(p), needs))
        with loaded as f:
            yield p, f
    except SSGANError:
        raise
    except ValueError as e:
        if "Object arrays" in str(e):  # object arrays (mixed types, strings read as objects): never unpickled here
            raise SSGANError(f"{p} {OBJECT_ARRAYS}") from None
        raise SSGANError(table_advice(path) or f"{p} is not a readable .npz file (ValueError): save it with "
                         "numpy.savez") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise SSGANError(table_advice(path) or f"{p} is not a readable .npz file ({type(e).__name__}): save it with "
                         "numpy.savez") from None


def row_ids(spec: str, key: str, n: int) -> list[str] | None:
    """The names of the ``n`` rows of array ``key`` of the .npz ``spec`` (``npz:PATH``), as text:
    the array ``ids`` beside ``x`` (``ids_test`` beside ``x_test``: what ``ssgan convert --id``
    writes); None where it holds none.

    >>> [_ids_key(k) for k in ("x", "x_test", "rows")]
    ['ids', 'ids_test', None]
    """
    name = _ids_key(key)
    with _open_npz(npz_path(spec), key) as (p, f):
        if name is None or name not in f.files:
            return None
        ids = f[name]
    if ids.ndim != 1 or len(ids) != n or ids.dtype.kind not in "USiu":
        raise SSGANError(f"{p}: {name} names the rows of {key}, but it is an array of shape {ids.shape} and dtype "
                         f"{ids.dtype}; save one name (text or a whole number) per row of {key}, {n} in all")
    return [str(i) for i in ids.tolist()]


def _ids_key(key: str) -> str | None:
    return "ids" + key[1:] if key == "x" or key.startswith("x_") else None


def load_npz_rows(spec: str, key: str = "x") -> tuple[np.ndarray, bool]:
    """The examples in array ``key`` of the .npz ``spec`` (``npz:PATH``), no labels needed, as
    :func:`load_npz` reads ``x``: float32, 8-bit pixels divided by 255, images as (N, C, H, W);
    and whether they were 8-bit pixels."""
    with _open_npz(npz_path(spec), key) as (p, f):  # (only this array: not the training arrays beside it)
        if key not in f.files:
            raise SSGANError(f"{p} has no {key} array (found: {', '.join(sorted(f.files)) or 'none'}); choose one with --key")
        shape, _ = _shape_of(f, key, p)  # (from its header: an array of the wrong shape is refused unread)
        if len(shape) not in (2, 3, 4) or shape[0] == 0:
            raise SSGANError(f"{p}: {key} has shape {shape}; expected N > 0 rows of shape (D,), (H, W) or (C, H, W)")
        _check_channels_first(shape, key, p)
        x, eight_bit = _examples(f, key, p)
    return _with_channel(x), eight_bit


def load_npz(path: str, test_only: bool = False) -> Dataset:
    """The user's own data: ``x`` and ``y`` (-1 = unlabeled), optional ``x_test``/``y_test``
    and ``classes`` (the classes' names, by index).

    ``x`` is (N, H, W), (N, C, H, W) or (N, D); uint8 pixels are divided by 255, other
    values are kept in their own units (``real_valued``) for :mod:`ssgan.scaling`.

    ``test_only`` (a file read to score a run on its test set, ``eval --data``): where the file
    has ``x_test``, the values of ``x`` are not read, only checked from its header (and the file
    may hold ``x_test`` and ``y_test`` alone), and the dataset's training set has no rows
    (``value_range`` is then ``x_test``'s). Its labels need not be those a training set needs:
    any of the run's classes may be missing (a subset scored on its own, numbered as the run
    numbers its classes), and ``classes`` may name more than they use.
    """
    with _open_npz(path, "x and y") as (p, f):
        if ("x_test" in f.files) != ("y_test" in f.files):
            raise SSGANError(f"{p}: give both x_test and y_test, or neither")
        xk, yk = _training_keys(f.files)
        # a file to score may hold its test set alone; it then reads as one with no training rows
        alone = test_only and "x_test" in f.files and not {xk, yk} & set(f.files)
        missing = [k for k in (xk, yk) if k not in f.files and not alone]
        if missing:
            raise SSGANError(f"{p} has no {' or '.join(missing)} array (found: {', '.join(sorted(f.files)) or 'none'}); "
                             "it needs x and y (or x_train and y_train)"
                             + (", or x_test and y_test alone (to classify rows without labels: ssgan predict)"
                                if test_only else ""))
        y = np.empty(0, np.int64) if alone else _labels(f[yk], yk, p)
        lean = test_only and "x_test" in f.files
        key = "x_test" if alone else xk
        shape, eight_bit = _shape_of(f, key, p)
        if len(shape) not in (2, 3, 4):
            raise SSGANError(f"{p}: {key} has shape {shape}; expected (N, D), (N, H, W) or (N, C, H, W)")
        _check_channels_first(shape, key, p)
        if not alone:  # (x_test's rows are checked below)
            if shape[0] != len(y):
                raise SSGANError(f"{p}: {xk} has {shape[0]} rows but {yk} has {len(y)}")
            if shape[0] == 0:
                raise SSGANError(f"{p}: {xk} and {yk} have no rows; give the training examples in them")
        if (y >= 0).sum() == 0 and not lean:
            raise SSGANError(f"{p}: every row of {yk} is -1 (unlabeled); " + ("give labeled rows to score, or x_test "
                             "and y_test" if test_only else "label at least one example of each class"))
        x = _with_channel(np.empty((0, *shape[1:]), np.float32) if lean else _examples(f, xk, p)[0])

        x_test = y_test = None
        if "x_test" in f.files:
            x_test, test_eight_bit = _examples(f, "x_test", p)
            x_test = _with_channel(x_test)
            if test_eight_bit and not eight_bit and not lean and (x.min() < 0.0 or x.max() > 1.0):
                # (the scaler fitted on x would take x_test's [0, 1] as values near x's minimum)
                raise SSGANError(f"{p}: x_test holds 8-bit pixels, which ssgan reads as [0, 1], but x holds floats "
                                 f"in [{x.min():g}, {x.max():g}]: save both in the same units (x_test as floats)")
            y_test = _labels(f["y_test"], "y_test", p)
            if x_test.shape[1:] != x.shape[1:]:
                raise SSGANError(f"{p}: x_test examples have shape {x_test.shape[1:]} but x examples {x.shape[1:]}")
            if len(x_test) != len(y_test):
                raise SSGANError(f"{p}: x_test has {len(x_test)} rows but y_test has {len(y_test)}")
            if len(x_test) == 0:
                raise SSGANError(f"{p}: x_test and y_test have no rows; give test examples in them"
                                 + ("" if alone else ", or leave both out"))
            if y_test.min() < 0:
                raise SSGANError(f"{p}: y_test must be fully labeled (found -1): leave out the test rows without a label, "
                                 "or put them in x and y as unlabeled rows (-1)")
        names = f["classes"] if "classes" in f.files else None

    n_classes = int(y.max()) + 1 if y.size else 0
    if test_only:  # the classes its labels (and names) use; the run that scores them checks them
        n_classes = max(n_classes, 0 if y_test is None else int(y_test.max()) + 1)
        if names is not None and names.ndim == 1 and len(names) >= n_classes:
            n_classes = len(names)
    else:
        _check_training_labels(p, y, y_test, n_classes)
    if names is not None:  # optional names, by class index, as an image folder's class folders name them
        if names.ndim != 1 or names.dtype.kind != "U" or len(names) != n_classes:
            raise SSGANError(f"{p}: classes must be {n_classes} names (strings, one per class 0..{n_classes - 1}), "
                             f"got an array of shape {names.shape} and dtype {names.dtype}")
        names = tuple(str(name) for name in names)
        blank = [k for k, name in enumerate(names) if not name.strip()]
        if blank:  # (they would head an unnamed column and row in eval's tables)
            raise SSGANError(f"{p}: classes has no name for class {blank[0]} (an empty or blank string); give each "
                             "class a name")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise SSGANError(f"{p}: classes names {', '.join(twice)} more than once; give each class a name of its own")
    held = x_test if lean else x
    return Dataset(f"npz:{path}", x, y[:0] if lean else y, x_test, y_test, n_classes=n_classes,
                   value_range=None if eight_bit else (float(held.min()), float(held.max())),
                   classes=names)


def _training_keys(names: list[str]) -> tuple[str, str]:
    """The names of the training arrays of an .npz holding arrays ``names``: ``x`` and ``y``, or
    ``x_train`` and ``y_train`` in a file without either (the layout of Keras' mnist.npz and of
    many a ``numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)``).

    >>> _training_keys(["x_train", "y_train", "x_test", "y_test"]), _training_keys(["x", "y", "x_train"])
    (('x_train', 'y_train'), ('x', 'y'))
    """
    if not {"x", "y"} & set(names) and {"x_train", "y_train"} <= set(names):
        return "x_train", "y_train"
    return "x", "y"


def _check_training_labels(p: Path, y: np.ndarray, y_test: np.ndarray | None, n_classes: int) -> None:
    """What a training set's labels need: two classes or more, each with a labeled example, and
    no test class that no training example has."""
    if n_classes < 2:
        raise SSGANError(f"{p}: found only one class; a classifier needs at least two")
    present = np.unique(y[y >= 0])
    if len(present) != n_classes:
        absent = sorted(set(range(n_classes)) - set(present.tolist()))
        raise SSGANError(f"{p}: labels must be 0..{n_classes - 1}, but classes {_listed(absent)} have no labeled "
                         "training example; relabel them consecutively")
    if y_test is not None and y_test.max() >= n_classes:
        unseen = np.unique(y_test[y_test >= n_classes]).tolist()
        raise SSGANError(f"{p}: y_test has classes {_listed(unseen)} that no labeled training example has "
                         f"(y's classes are 0..{n_classes - 1}); label training examples of each test class")


# -- the user's own images: a folder per class -------------------------------------------

FOLDER_PREFIX = "folder:"
GREY_MODES = ("1", "L", "LA")  # PIL modes read as one channel; every other mode as RGB (alpha dropped)
FOLDER_LAYOUT = "DIR/train/CLASS/*.png, one folder per class; optional DIR/unlabeled/ and DIR/test/CLASS/"


def _is_image(path: str | Path) -> bool:
    """Whether ``path`` names an image file that a folder dataset reads: one of torchvision's
    extensions, and not hidden (macOS's ``._name.png`` beside each copied image is no image)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return Path(path).suffix.lower() in IMG_EXTENSIONS and not Path(path).name.startswith(".")


def _image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` and its subfolders, hidden folders left out, in a fixed
    order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and _is_image(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _class_folder(folder: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """The images of a folder of class folders, numbered as torchvision's ImageFolder numbers
    them (class folder names in sorted order): their paths, labels and class names."""
    from torchvision.datasets import ImageFolder

    try:
        found = ImageFolder(str(folder), is_valid_file=_is_image)
    except (FileNotFoundError, OSError) as e:  # no class folders, or a class folder without images
        raise SSGANError(f"{folder}: {first_line(str(e))} (expected {FOLDER_LAYOUT})") from None
    return [Path(p) for p, _ in found.samples], np.array([k for _, k in found.samples], np.int64), found.classes


def _class_folder_as(folder: Path, classes: list[str], lacks: str) -> tuple[list[Path], np.ndarray]:
    """The images of a folder of class folders, numbered as the class names ``classes`` are
    (a folder of another name is a one-line error: ``lacks`` says who lacks it)."""
    paths, y, names = _class_folder(folder)
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise SSGANError(f"{folder} has class folders that {lacks} ({', '.join(unknown)}): name its class folders as "
                         f"those ({', '.join(classes)})")
    index = {name: k for k, name in enumerate(classes)}
    return paths, np.array([index[names[k]] for k in y], np.int64)


def folder_labeled_images(spec: str, classes: list[str]) -> tuple[list[Path], np.ndarray, str]:
    """Labeled images of ``folder:DIR`` to score a run on: the paths of ``DIR/test/CLASS/`` if
    there, else of ``DIR/train/CLASS/``, and their labels, numbered as the run's class names
    ``classes``; with the part found (the images are read by the caller, :func:`read_images`)."""
    root = folder_path(spec, "DIR/test/CLASS/*.png or DIR/train/CLASS/*.png, one folder per class")
    part = next((p for p in ("test", "train") if (root / p).is_dir()), None)
    if part is None:
        raise SSGANError(f"{root} has neither a test nor a train folder: put labeled images in DIR/test/CLASS/, "
                         "one folder per class")
    paths, y = _class_folder_as(root / part, classes, "the run did not train on")
    return paths, y, part


THREADED_PIXELS = 128 * 128  # images at least this large are read in threads (read_images)


EXIF_ORIENTATION = 0x0112  # the EXIF tag of how a viewer turns or mirrors the stored picture; 1: as stored


def _read_image(path: Path, channels: int | None,
                size: int | None) -> tuple[np.ndarray, bool, tuple[int, int], bool, bool]:
    """One image of :func:`read_images`: its pixels (uint8), whether read grey, its size as
    stored, whether its colours were lost (read grey, as ``channels`` 1 asks, where its red,
    green and blue differ somewhere), and whether it is stored turned (an EXIF orientation
    other than 1, as cameras save photos taken sideways)."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms import functional as tvf

    try:
        with Image.open(path) as im:
            if im.mode.startswith(("I", "F")):  # 16- or 32-bit or float pixels: 8 bits would clip them
                raise SSGANError(f"{path} has pixels of more than 8 bits (PIL mode {im.mode}), which a folder "
                                 "does not read: save 8-bit images, or give the values in an npz (npz:PATH)")
            stored_grey = im.mode in GREY_MODES or _grey_palette(im)
            grey = channels == 1 or (channels is None and stored_grey)
            source = im.convert("RGBA") if im.mode == "P" and "transparency" in im.info else im  # (PIL warns otherwise)
            image = source.convert("L" if grey else "RGB")
            lost = grey and not stored_grey and _in_colour(source)
            turned = im.getexif().get(EXIF_ORIENTATION, 1) != 1
            if size is not None:
                image = tvf.center_crop(tvf.resize(image, size), size)
            return np.asarray(image, dtype=np.uint8), grey, im.size, lost, turned
    except (UnidentifiedImageError, OSError) as e:
        raise SSGANError(f"{path} is not a readable image ({type(e).__name__}): remove or convert it") from None


def _in_colour(im) -> bool:
    """Whether an image's red, green and blue differ anywhere (an RGB picture of a grey one
    does not: reading it grey loses nothing)."""
    rgb = np.asarray(im.convert("RGB"))
    return not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


@dataclass
class Noticed:
    """What :func:`read_images` noticed of the images it read, for the caller to warn of once
    (a folder read in parts included): the paths of colour images read grey, and of images
    stored turned, whose EXIF orientation a photo viewer applies and ssgan, as torchvision's
    ImageFolder, does not."""

    coloured: list[Path] = field(default_factory=list)
    turned: list[Path] = field(default_factory=list)

    def warn(self, n: int, where: str | Path, why_grey: str = "") -> None:
        """One :class:`DataWarning` for each thing noticed among the ``n`` images of ``where``;
        ``why_grey``: why colour images were read grey."""
        if self.coloured:
            warnings.warn(f"{len(self.coloured)} of the {n} images of {where} are in colour (the first: "
                          f"{self.coloured[0]}), but {why_grey}: they were read as grey (PIL's L, 0.299 R + 0.587 G + "
                          "0.114 B)", DataWarning, stacklevel=3)
        if self.turned:
            warnings.warn(f"{len(self.turned)} of the {n} images of {where} are stored turned or mirrored, with an "
                          f"EXIF orientation that photo viewers apply (the first: {self.turned[0]}): they were read as "
                          "stored; where their content is upright only as viewers show it, save them turned "
                          "(Pillow's ImageOps.exif_transpose)", DataWarning, stacklevel=3)


def _grey_palette(im) -> bool:
    """Whether ``im`` is a palette image whose colours in use are all grey (as some tools save
    grey pictures), which is read as one channel like an "L" image; it had been read as RGB, so
    that a folder of such images, or of these beside "L" ones, trained on three equal channels."""
    if im.mode != "P" or "transparency" in im.info:
        return False
    colours = np.asarray(im.getpalette() or [], dtype=np.int64).reshape(-1, 3)
    grey = (colours[:, 0] == colours[:, 1]) & (colours[:, 1] == colours[:, 2])
    used = np.unique(np.asarray(im))
    return used.size > 0 and used.max() < len(colours) and bool(grey[used].all())


LARGEST_SIDE = 64  # the longest side of a folder's images trained on at the size they have, without --image-size


def read_images(paths: list[Path], channels: int | None = None, size: int | None = None,
                trained: tuple[int, int] | None = None, largest: int | None = None,
                noticed: Noticed | None = None) -> np.ndarray:
    """The images at ``paths`` as float32 (N, C, H, W) in [0, 1]: one channel if every one is
    grey (or ``channels`` is 1), else RGB; all of one size, or each resized to ``size`` x
    ``size`` as torchvision's ``Resize(size)`` and ``CenterCrop(size)`` do (the shorter side
    to ``size``, antialiased, then the centre). A one-line error names the first file that
    cannot be read or has another size. Two sizes are checked on the first image, before the
    others are read, where ``size`` is None: ``trained``, the (height, width) of the images a
    run trained on, and ``largest``, the longest side the networks are made for (photos at full
    size would make the MLP's first layer hundreds of millions of weights, 846 million at
    500x375, and fill the memory with decoded images before training could start).
    ``noticed``: where the paths of colour images read grey (``channels`` 1) and of images
    stored turned are added, for the caller to warn of (:meth:`Noticed.warn`).

    Images of :data:`THREADED_PIXELS` or more (as the first one is) are decoded in as many
    threads as torch computes with, since Pillow decodes and resizes without Python's lock;
    smaller ones one after another, where threads cost more than they gain
    (``benchmarks/read_threads.py`` measures both ways)."""
    from concurrent.futures import ThreadPoolExecutor
    from itertools import chain

    import torch

    def read(path):
        return _read_image(path, channels, size)

    def not_trained_size(path, stored):
        return SSGANError(f"{path} is {stored[0]}x{stored[1]} pixels, but the run was trained on images of "
                          f"{trained[1]}x{trained[0]}: give images of that size (resize them first; a run fit with "
                          "--image-size N resizes every image it reads, these too)")

    first = read(paths[0])
    width, height = first[2]
    if trained is not None and size is None and (height, width) != tuple(trained):
        raise not_trained_size(paths[0], first[2])
    if largest is not None and size is None and max(width, height) > largest:
        raise SSGANError(f"{paths[0]} is {width}x{height} pixels, and ssgan's networks are made for images of at most "
                         f"{largest} pixels a side: give --image-size 32 (the size the paper's colour networks "
                         f"take) or another --image-size N to train at N x N")
    threads = min(torch.get_num_threads(), 32) if width * height >= THREADED_PIXELS else 1
    pool = ThreadPoolExecutor(threads) if threads > 1 and len(paths) > 1 else None
    pixels, grey, shape = [], [], first[2]
    try:
        for path, (image, is_grey, stored, lost, turned) in zip(paths, chain([first], (pool.map if pool else map)(read, paths[1:]))):
            if stored != shape and size is None:
                if trained is not None:  # (eval and predict, which have no --image-size)
                    raise not_trained_size(path, stored)
                raise SSGANError(f"{path} is {stored[0]}x{stored[1]} pixels but {paths[0]} is {shape[0]}x{shape[1]}: "
                                 "give images of one size, or --image-size N to resize and centre-crop each")
            pixels.append(image)
            grey.append(is_grey)
            if noticed is not None:
                noticed.coloured += [path] * lost
                noticed.turned += [path] * turned
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)  # (after an error: the images not yet read are not read)
    return _filled(pixels, all(grey))


def _filled(pixels: list[np.ndarray], grey: bool) -> np.ndarray:
    """:func:`read_images`' 8-bit images (H, W) or (H, W, 3), all of one size, as one float32
    array (N, C, H, W) in [0, 1], the numbers :func:`_as_images` makes, filled image by image
    rather than stacked and then converted: 20,000 colour images of 32x32 (234 MiB as float32)
    raised the peak memory of reading them by 470 MiB, where the stack and its copies took 770
    MiB, in 5.8 s rather than 10.1. The grey ones among colour images get three equal channels,
    as PIL's RGB of L."""
    height, width = pixels[0].shape[:2]
    x = np.empty((len(pixels), 1 if grey else 3, height, width), np.float32)
    for i, p in enumerate(pixels):
        x[i] = p if p.ndim == 2 else p.transpose(2, 0, 1)  # (a grey one broadcast over three channels)
    return np.divide(x, np.float32(255.0), out=x)


def folder_path(spec: str, layout: str = FOLDER_LAYOUT) -> Path:
    """The folder of ``folder:DIR``, or a one-line error if there is none, which says what the
    caller reads there (``layout``)."""
    _check_named(spec)
    root = Path(spec[len(FOLDER_PREFIX):]).expanduser()
    if not root.is_dir():
        raise SSGANError(f"no such folder: {root} (expected folder:DIR with {layout})")
    return root


def folder_images(spec: str) -> list[Path]:
    """The image files under ``folder:DIR`` and its subfolders, in a fixed order, for rows
    without labels (``predict`` reads them with :func:`read_images`); a one-line error if there
    are none."""
    root = folder_path(spec, "images in DIR or its subfolders")
    paths = _image_files(root)
    if not paths:
        raise SSGANError(f"{root} holds no images (the extensions torchvision reads: .png, .jpg, ...)")
    return paths


def load_folder(spec: str, size: int | None = None, channels: int | None = None) -> Dataset:
    """The user's own images: ``DIR/train/CLASS/`` the labeled ones, numbered by class folder
    name in sorted order (as torchvision's ImageFolder); ``DIR/unlabeled/`` (any subfolders)
    unlabeled ones (-1); ``DIR/test/CLASS/`` an optional test set, numbered by the training
    class folders' names. ``size``: each image resized and centre-cropped (:func:`read_images`);
    ``channels``: 3 to read every image as RGB, as runs made before grey palettes read as grey did."""
    root = folder_path(spec)
    if not (root / "train").is_dir():
        classes = [d.name for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
                   and d.name not in ("unlabeled", "test") and any(f.is_file() and _is_image(f) for f in d.iterdir())]
        if classes:  # (torchvision's ImageFolder layout, DIR/CLASS/: every image labeled)
            shown = ", ".join(classes[:4]) + (f" and {len(classes) - 4} more" if len(classes) > 4 else "")
            raise SSGANError(f"{root} has no train folder, and its folders of images ({shown}) look like one per "
                             f"class: move them into {root / 'train'}/, and images without labels into "
                             f"{root / 'unlabeled'}/")
        raise SSGANError(f"{root} has no train folder: put the labeled images in {FOLDER_LAYOUT}")
    paths, y, classes = _class_folder(root / "train")
    if len(classes) < 2:
        raise SSGANError(f"{root / 'train'} has one class folder ({classes[0]}); a classifier needs at least two")
    unlabeled = _image_files(root / "unlabeled") if (root / "unlabeled").is_dir() else []
    noticed = Noticed()
    x = read_images(paths + unlabeled, channels, size=size, largest=LARGEST_SIDE, noticed=noticed)
    noticed.warn(len(paths) + len(unlabeled), root)
    x_test = y_test = None
    if (root / "test").is_dir():
        test_paths, y_test = _class_folder_as(root / "test", classes, f"{root / 'train'} lacks")
        noticed = Noticed()
        x_test = read_images(test_paths, channels=x.shape[1], size=size, noticed=noticed)
        noticed.warn(len(test_paths), root / "test", "the training images (train/ and unlabeled/) are all grey, so "
                                                      "the networks take one channel")
        if x_test.shape[1:] != x.shape[1:]:
            raise SSGANError(f"{root / 'test'} has images of shape {x_test.shape[1:]} but {root / 'train'} of "
                             f"{x.shape[1:]}: give test images of the training images' size, or --image-size N to "
                             "bring both to N x N")
    y = np.concatenate([y, np.full(len(unlabeled), -1, np.int64)])
    return Dataset(spec, x, y, x_test, y_test, n_classes=len(classes), classes=tuple(classes))


# -- toy data: Gaussian mixtures -----------------------------------------------------------

GMM_PREFIXES = ("gmm1d:", "gmm2d:")


def _gmm_options(spec: str) -> dict[str, int]:
    """``gmm2d:modes=8,seed=0,n=5000`` -> {"modes": 8, "seed": 0, "n": 5000}."""
    opts = {"modes": 8, "seed": 0, "n": 5000}
    body = spec.split(":", 1)[1]
    for part in filter(None, body.split(",")):
        key, _, value = part.partition("=")
        if key not in opts or not value.lstrip("-").isdigit():
            raise SSGANError(f"bad option {part!r} in {spec!r}: use modes=K, seed=S, n=N (e.g. gmm2d:modes=8)")
        opts[key] = int(value)
    if not 2 <= opts["modes"] <= 50:  # (each mode is a class, and a classifier needs two)
        raise SSGANError(f"{spec!r}: modes must lie in 2..50, one class each, got {opts['modes']}")
    if opts["n"] < 10:
        raise SSGANError(f"{spec!r}: n must be at least 10 training points, got {opts['n']}")
    return opts


def load_gmm(spec: str) -> Dataset:
    """A seeded Gaussian mixture in [0, 1]^d, each mode a class.

    1-D (``gmm1d:``): modes evenly spaced on [0.15, 0.85], std 0.6 / (6 K). 2-D (``gmm2d:``):
    modes evenly spaced on a ring of radius 0.35 around (0.5, 0.5), std 0.02. ``n`` training
    points (default 5,000) and n/5 test points, classes equally frequent.
    """
    opts = _gmm_options(spec)
    k, rng = opts["modes"], np.random.default_rng(opts["seed"])
    if spec.startswith("gmm1d:"):
        centers = np.linspace(0.15, 0.85, k)[:, None]  # (k >= 2: _gmm_options)
        std = 0.6 / (6 * k)
    else:
        angles = 2 * np.pi * np.arange(k) / k
        centers = 0.5 + 0.35 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        std = 0.02

    def draw(n):
        y = np.arange(n) % k
        x = centers[y] + rng.normal(0.0, std, size=(n, centers.shape[1]))
        return np.clip(x, 0.0, 1.0).astype(np.float32), y.astype(np.int64)

    x_tr, y_tr = draw(opts["n"])
    x_te, y_te = draw(max(opts["n"] // 5, k))
    return Dataset(spec, x_tr, y_tr, x_te, y_te, n_classes=k)


# -- the registry ---------------------------------------------------------------------------

REGISTRY: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST digits, bundled with ssgan", "1x28x28", "10",
                         load_mnist, bundled=True),
    "digits": DatasetInfo("digits", "scikit-learn's 8x8 digits, for fast smoke runs", "1x8x8", "10",
                          load_digits, bundled=True),
    "fashion-mnist": DatasetInfo("fashion-mnist", "Fashion-MNIST (torchvision)", "1x28x28", "10",
                                 lambda r, d: _load_torchvision("fashion-mnist", r, d)),
    "kmnist": DatasetInfo("kmnist", "Kuzushiji-MNIST (torchvision)", "1x28x28", "10",
                          lambda r, d: _load_torchvision("kmnist", r, d)),
    "svhn": DatasetInfo("svhn", "Street View House Numbers (torchvision)", "3x32x32", "10",
                        lambda r, d: _load_torchvision("svhn", r, d)),
    "cifar10": DatasetInfo("cifar10", "CIFAR-10 (torchvision)", "3x32x32", "10",
                           lambda r, d: _load_torchvision("cifar10", r, d)),
}
NPZ_PREFIX = "npz:"
OWN_DATA = (NPZ_PREFIX, FOLDER_PREFIX)  # the user's own data, whose given labels are the labeled set
TABLES = (".csv", ".tsv", ".txt", ".data", ".dat")  # what ``ssgan convert`` turns into an .npz


def npy_advice(path: str, needs: str = "x and y") -> str | None:
    """The one-line error for a .npy file (one array) given where an .npz of named arrays is
    read, or None for other names; ``needs``: the arrays it should hold.

    >>> npy_advice("npz:x.npy")
    "x.npy is one array (.npy), not an .npz of named arrays (x and y): save them together, numpy.savez('x.npz', x=x, y=y), with y -1 for unlabeled rows"
    >>> npy_advice("new.npy", "x")
    "new.npy is one array (.npy), not an .npz of named arrays (x): save it by name, numpy.savez('new.npz', x=x)"
    """
    path = path[len(NPZ_PREFIX):] if path.lower().startswith(NPZ_PREFIX) else path
    if Path(path).suffix.lower() != ".npy":
        return None
    npz = Path(path).with_suffix(".npz")
    how = (f"save them together, numpy.savez('{npz}', x=x, y=y), with y -1 for unlabeled rows" if needs == "x and y"
           else f"save it by name, numpy.savez('{npz}', {needs}=x)")
    return f"{path} is one array (.npy), not an .npz of named arrays ({needs}): {how}"


def table_advice(path: str, like: str | None = None, labeled: bool = True) -> str | None:
    """The one-line error for a CSV table given where an .npz is read (``fit --dataset``,
    ``--data`` of eval and predict), or None for a name that is no table: the ``ssgan convert``
    command that makes it one; ``like``, the .npz a run trained on, whose columns, categories and
    fill values new rows take (``labeled``: whether the rows carry labels, as eval's do).

    >>> table_advice("csv:cells.csv")
    'cells.csv is a table, not an .npz: `ssgan convert cells.csv --out cells.npz` makes one (rows without labels, to classify: add --no-label --like TRAIN.npz), then give npz:cells.npz'
    >>> table_advice("new.csv", like="train.npz", labeled=False)
    'new.csv is a table, not an .npz: `ssgan convert new.csv --no-label --like train.npz --out new.npz` makes one, then give npz:new.npz'
    >>> table_advice("npz:cells.npz") is None
    True
    """
    prefix, _, rest = path.partition(":")
    if rest and prefix.lower() in ("csv", "tsv", NPZ_PREFIX[:-1]):
        path = rest
    if Path(path).suffix.lower() not in TABLES:
        return None
    npz = Path(path).with_suffix(".npz")
    if like is not None and npz == Path(like):  # (not over the rows the run trained on)
        npz = npz.with_name(f"{npz.stem}-rows.npz")
    options = ("" if labeled else " --no-label") + (f" --like {like}" if like else "")
    unlabeled = " (rows without labels, to classify: add --no-label --like TRAIN.npz)" if labeled and not like else ""
    command = f"`ssgan convert {path}{options} --out {npz}`"
    if npz.is_file():  # (converted before: that may be all it takes)
        return (f"{path} is a table, not an .npz: if {npz} beside it is what `ssgan convert` made of it, give "
                f"npz:{npz}; else {command} makes it anew{unlabeled}")
    return f"{path} is a table, not an .npz: {command} makes one{unlabeled}, then give npz:{npz}"


def not_an_npz(name: str, needs: str = "x and y") -> str | None:
    """The one-line error for a CSV table or a .npy named where an .npz is read (``needs``: the
    arrays it should hold), or None for other names."""
    return table_advice(name) or npy_advice(name, needs)


def own_path(name: str) -> str | None:
    """The path that a dataset of the user's own names (``npz:PATH``, ``folder:DIR``); None
    for the others.

    >>> own_path("folder:data/birds"), own_path("mnist")
    ('data/birds', None)
    """
    return name.split(":", 1)[1] if name.startswith(OWN_DATA) else None


def own_kind(name: str) -> str | None:
    """The prefix of a dataset of the user's own (``npz:`` or ``folder:``); None for the others.

    >>> own_kind("npz:d.npz"), own_kind("cifar10")
    ('npz:', None)
    """
    return next((prefix for prefix in OWN_DATA if name.startswith(prefix)), None)


def reads_data_root(name: str) -> bool:
    """Whether the dataset ``name`` is read from ``--data-root`` (torchvision's datasets)."""
    return name in _TORCHVISION


def npz_path(spec: str) -> str:
    """The path of ``--data npz:PATH``, or a one-line error if ``spec`` is not of that form (nor
    ``folder:DIR``, which its callers read before)."""
    _check_named(spec)
    if not spec.startswith(NPZ_PREFIX) and (advice := not_an_npz(spec, "x")):
        raise SSGANError(advice)
    if not spec.startswith(NPZ_PREFIX):
        meant = _meant(spec, own_only=True)
        raise SSGANError(f"--data must be npz:PATH or folder:DIR, got {spec!r}"
                         + (f": did you mean {meant}?" if meant else ""))
    return spec[len(NPZ_PREFIX):]


def check_name(name: str) -> None:
    """Raise a one-line error for a dataset name that no loader takes."""
    if any(name.startswith(prefix) and len(name) > len(prefix) for prefix in OWN_DATA):
        return
    if name.startswith(GMM_PREFIXES):
        _gmm_options(name)
        return
    if name not in REGISTRY:
        _check_named(name)
        if advice := not_an_npz(name):
            raise SSGANError(advice)
        meant = _meant(name)
        raise SSGANError(
            f"unknown dataset {name!r}: did you mean {meant}? (`ssgan datasets` lists them all)" if meant else
            f"unknown dataset {name!r}: choose one of {', '.join(REGISTRY)}, gmm1d:modes=K, gmm2d:modes=K, npz:PATH or "
            "folder:DIR (see `ssgan datasets`)"
        )


def _check_named(spec: str) -> None:
    """A one-line error for ``npz:`` or ``folder:`` with nothing after it (``folder:`` would
    read the working folder)."""
    if spec in OWN_DATA:
        raise SSGANError(f"{spec} names no {'file' if spec == NPZ_PREFIX else 'folder'}: write "
                         f"{spec}{'PATH' if spec == NPZ_PREFIX else 'DIR'}")


def _meant(name: str, own_only: bool = False) -> str | None:
    """The dataset name that ``name``, which no loader takes, most likely meant: a prefix in
    other case, an .npz file or a folder named without its prefix, or (unless ``own_only``, for
    eval's and predict's ``--data``) a registry name written in other case or a letter off, or a
    toy mixture named without its options.

    >>> [_meant(n) for n in ("MNIST", "fashion_mnist", "NPZ:cells.npz", "cells.npz", "imagenet", "npz:", "gmm2d")]
    ['mnist', 'fashion-mnist', 'npz:cells.npz', 'npz:cells.npz', None, None, 'gmm2d:modes=8']
    """
    import difflib

    prefix, _, rest = name.partition(":")
    if rest and f"{prefix.lower()}:" in (*OWN_DATA, *GMM_PREFIXES) and prefix.lower() != prefix:
        return f"{prefix.lower()}:{rest}"
    path = Path(name).expanduser()
    if name and name not in (*OWN_DATA, *GMM_PREFIXES):
        if name.lower().endswith(".npz") or path.is_file():
            return f"{NPZ_PREFIX}{name}"
        if path.is_dir():
            return f"{FOLDER_PREFIX}{name}"
    if own_only:
        return None
    if name.lower() in (prefix[:-1] for prefix in GMM_PREFIXES):
        return f"{name.lower()}:modes=8"
    close = difflib.get_close_matches(name.lower(), REGISTRY, n=1, cutoff=0.8)
    return close[0] if close else None


def load_dataset(name: str, data_root: str | None = None, download: bool = False,
                 image_size: int | None = None, channels: int | None = None) -> Dataset:
    """Load a dataset by registry name, or ``npz:PATH`` or ``folder:DIR`` for the user's own
    data (``image_size``, ``channels``: a folder's images resized or read as RGB, :func:`load_folder`)."""
    check_name(name)
    if name.startswith(NPZ_PREFIX):
        return load_npz(name[len(NPZ_PREFIX):])
    if name.startswith(FOLDER_PREFIX):
        return load_folder(name, image_size, channels)
    if name.startswith(GMM_PREFIXES):
        return load_gmm(name)
    return REGISTRY[name].load(data_root, download)


def available_offline(name: str, data_root: str | None = None) -> bool:
    """Whether ``name`` loads right now without the network."""
    try:
        load_dataset(name, data_root=data_root, download=False)
    except SSGANError:
        return False
    return True
