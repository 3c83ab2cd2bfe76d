"""Labeled splits: which training examples keep their labels.

A split is an artifact, saved once as JSON and reused, so that an SSL run and its baselines
see exactly the same labels. It is drawn class-balanced (N/K per class) by a seeded
``numpy.random.default_rng``, whose PCG64 stream is the same on every machine. The unlabeled
pool is the whole training set with labels hidden, labeled examples included, as in the
reference implementation of Salimans et al.

A split may also hold a validation set (``--val N``): N/K examples of each class, drawn after
the labeled ones from the remaining labeled rows, removed from the unlabeled pool and never
trained on, so that settings can be chosen without looking at the test set. Adding a
validation set does not change the labeled examples of a seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssgan.data import FOLDER_PREFIX, OWN_DATA, Dataset
from ssgan.errors import MEND_RUN_FILE, SSGANError
from ssgan.fileio import write_json

FORMAT = 1
DEFAULT_LABELS = 100  # for the registered datasets, which come fully labeled


def default_labels(dataset_name: str, labels: int | None) -> int | None:
    """``--labels`` as given, else 100 for registered datasets and None (keep the given
    labels) for a user's npz or image folder."""
    if labels is not None or dataset_name.startswith(OWN_DATA):
        return labels
    return DEFAULT_LABELS


@dataclass(frozen=True, eq=False)
class Split:
    dataset: str
    seed: int
    labels: int
    n_classes: int
    n_train: int
    indices: np.ndarray  # sorted int64 indices into the training set
    val_indices: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # held out, never trained on
    data_sha256: str | None = None  # Dataset.sha256 of the data drawn from (None in files made before it was kept)

    @property
    def name(self) -> str:
        """FixMatch-style name, e.g. ``mnist.seed1@100`` (``mnist.seed1@100-val5000`` with a validation set)."""
        return f"{self.dataset}.seed{self.seed}@{self.labels}" + (f"-val{self.n_val}" if self.n_val else "")

    @property
    def n_val(self) -> int:
        return len(self.val_indices)

    def pool(self) -> np.ndarray:
        """Indices of the unlabeled pool: every training row except the validation set."""
        keep = np.ones(self.n_train, dtype=bool)
        keep[self.val_indices] = False
        return np.flatnonzero(keep)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "name": self.name,
            "dataset": self.dataset,
            "seed": self.seed,
            "labels": self.labels,
            "n_classes": self.n_classes,
            "n_train": self.n_train,
            "unlabeled_pool": "all training examples but the validation set, labels hidden (labeled ones included)",
            "indices": self.indices.tolist(),
            "val": self.n_val,
            "val_indices": self.val_indices.tolist(),
            **({"data_sha256": self.data_sha256} if self.data_sha256 else {}),
        }


def make_split(dataset: Dataset, labels: int | None, seed: int, val: int = 0) -> Split:
    """Draw ``labels`` labeled examples, ``labels / K`` of each class, then ``val``
    validation examples, ``val / K`` of each class, from the labeled rows left.

    Only rows with a known label (y >= 0) are candidates. ``labels=None`` keeps every known
    label, for data that mark their unlabeled rows with -1, as a user's npz does; a
    validation set is then drawn from those rows first and the rest are the labeled set.
    """
    y = dataset.y_train
    k = dataset.n_classes
    known = np.flatnonzero(y >= 0)
    if val < 0:  # (split's --val; fit's is a Config setting, refused before the data load)
        raise SSGANError(f"--val must be >= 0 (0 for none), got {val}")
    if val % k:
        raise SSGANError(f"--val must be a multiple of the {k} classes of {dataset.name} (0 for none), got {val}")
    if labels is None:
        if len(known) == len(y):
            lacks = ("has no unlabeled images: put them in its unlabeled/ folder" if dataset.name.startswith(FOLDER_PREFIX)
                     else "has no unlabeled rows (y == -1): mark the unlabeled rows with -1")
            raise SSGANError(f"{dataset.name} {lacks}, or pass --labels N to keep N labels and hide the rest")
        # the validation rows come out of the given labels, which must keep one example of each class
        val_idx = _draw_balanced(y, k, known, val // k, np.random.default_rng(seed), dataset.name, "--val", val,
                                 after=" labeled", keep=1)
        labeled = np.setdiff1d(known, val_idx)
        if len(np.unique(y[labeled])) < k:
            raise SSGANError(f"--val {val} leaves a class of {dataset.name} with no labeled example: use a smaller --val")
        return Split(dataset.name, seed, len(labeled), k, len(y), labeled.astype(np.int64), val_idx, dataset.sha256())
    if labels <= 0:
        raise SSGANError(f"--labels must be a positive number of labeled examples, got {labels}")
    if labels % k:
        lo, hi = (labels // k) * k, (labels // k + 1) * k
        hint = f"{lo} or {hi}" if lo else f"{hi}"
        raise SSGANError(
            f"--labels {labels} is not a multiple of the {k} classes of {dataset.name}: "
            f"use a multiple such as {hint}"
        )
    rng = np.random.default_rng(seed)
    indices = _draw_balanced(y, k, known, labels // k, rng, dataset.name, "--labels", labels)
    val_idx = _draw_balanced(y, k, np.setdiff1d(known, indices), val // k, rng, dataset.name, "--val", val,
                             after=f" after the {labels} labeled ones")
    return Split(dataset.name, seed, labels, k, len(y), indices, val_idx, dataset.sha256())


def _draw_balanced(y: np.ndarray, k: int, candidates: np.ndarray, per_class: int, rng: np.random.Generator,
                   name: str, option: str, total: int, after: str = "", keep: int = 0) -> np.ndarray:
    """``per_class`` rows of each of the ``k`` classes from ``candidates``, sorted, leaving at
    least ``keep`` of each; a one-line error if a class has too few."""
    if per_class == 0:
        return np.empty(0, np.int64)
    counts = np.bincount(y[candidates], minlength=k)
    if per_class > counts.min() - keep:
        c = int(counts.argmin())
        kind = "labeled" if option == "--labels" else "validation"
        rest = f", and {keep} must stay for training" if keep else ""
        raise SSGANError(
            f"{option} {total} asks for {per_class} {kind} examples of class {c}, but "
            f"{name} has only {counts[c]}{after}{rest}: use at most {max(counts.min() - keep, 0) * k}"
        )
    chosen = [rng.choice(candidates[y[candidates] == c], size=per_class, replace=False) for c in range(k)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def save_split(split: Split, path: str | Path) -> None:
    write_json(path, split.to_dict())


def _mend(path: Path) -> str:
    """What to do about a damaged split file: a run folder's own cannot be drawn anew (its
    weights were trained on those rows); any other can."""
    if path.name == "split.json" and (path.parent / "config.json").is_file():
        return MEND_RUN_FILE
    return "make a new one with `ssgan split`"


def load_split(path: str | Path, dataset: Dataset | None = None) -> Split:
    """Read a split file; with ``dataset``, check that it belongs to that dataset."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        split = Split(
            dataset=str(d["dataset"]),
            seed=int(d["seed"]),
            labels=int(d["labels"]),
            n_classes=int(d["n_classes"]),
            n_train=int(d["n_train"]),
            indices=np.asarray(d["indices"], dtype=np.int64),
            val_indices=np.asarray(d.get("val_indices", []), dtype=np.int64),
            data_sha256=None if d.get("data_sha256") is None else str(d["data_sha256"]),
        )
    except FileNotFoundError:
        raise SSGANError(f"split file {path} does not exist (ssgan split writes one, and each run folder holds its "
                         "own split.json)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SSGANError(
            f"split file {path} is damaged or not a split ({type(e).__name__}): {_mend(path)}"
        ) from None
    if split.indices.ndim != 1 or len(split.indices) != split.labels or len(np.unique(split.indices)) != split.labels:
        raise SSGANError(f"split file {path} is damaged: its indices do not match its {split.labels} labels; "
                         f"{_mend(path)}")
    if split.val_indices.ndim != 1 or np.intersect1d(split.indices, split.val_indices).size \
            or len(np.unique(split.val_indices)) != split.n_val:
        raise SSGANError(f"split file {path} is damaged: its validation indices overlap the labeled ones or repeat; "
                         f"{_mend(path)}")
    if dataset is not None:
        check_split(split, dataset, path)
    return split


def check_split(split: Split, dataset: Dataset, path: str | Path) -> None:
    """A one-line error where ``split`` (read from ``path``) does not belong to ``dataset``."""
    if split.dataset != dataset.name:
        raise SSGANError(
            f"split file {path} is for dataset {split.dataset!r}, not {dataset.name!r}: "
            f"use --dataset {split.dataset} or make a new split"
        )
    if split.n_train != len(dataset.y_train) or max(split.indices.max(), split.val_indices.max(initial=0)) >= len(dataset.y_train):
        raise SSGANError(
            f"split file {path} was made for a training set of {split.n_train} rows, "
            f"but {dataset.name} has {len(dataset.y_train)}: make a new split"
        )
    if (dataset.y_train[split.indices] < 0).any() or (dataset.y_train[split.val_indices] < 0).any():
        raise SSGANError(f"split file {path} marks unlabeled rows of {dataset.name} as labeled")


def same_data(split: Split, dataset: Dataset, digest: str | None = None) -> bool:
    """Whether ``dataset`` (as loaded, before scaling) holds the data ``split`` was drawn from, as
    far as the split knows (a split file made before their SHA-256 was kept knows nothing);
    ``digest``: ``dataset.sha256()`` where the caller has it already."""
    return split.data_sha256 is None or split.data_sha256 == (digest or dataset.sha256())
