"""Labeled splits: which training examples keep their labels.

A split is an artifact, saved once as JSON and reused, so that an SSL run and its baselines
see exactly the same labels. It is drawn class-balanced (N/K per class) by a seeded
``numpy.random.default_rng``, whose PCG64 stream is the same on every machine. The unlabeled
pool is the whole training set with labels hidden, labeled examples included, as in the
reference implementation of Salimans et al.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssgan.data import Dataset
from ssgan.errors import SSGANError
from ssgan.fileio import write_json

FORMAT = 1
DEFAULT_LABELS = 100  # for the registered datasets, which come fully labeled


def default_labels(dataset_name: str, labels: int | None) -> int | None:
    """``--labels`` as given, else 100 for registered datasets and None (keep the given
    labels) for a user's npz."""
    if labels is not None or dataset_name.startswith("npz:"):
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

    @property
    def name(self) -> str:
        """FixMatch-style name, e.g. ``mnist.seed1@100``."""
        return f"{self.dataset}.seed{self.seed}@{self.labels}"

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "name": self.name,
            "dataset": self.dataset,
            "seed": self.seed,
            "labels": self.labels,
            "n_classes": self.n_classes,
            "n_train": self.n_train,
            "unlabeled_pool": "all training examples, labels hidden (labeled ones included)",
            "indices": self.indices.tolist(),
        }


def make_split(dataset: Dataset, labels: int | None, seed: int) -> Split:
    """Draw ``labels`` labeled examples, ``labels / K`` of each class.

    Only rows with a known label (y >= 0) are candidates. ``labels=None`` keeps every known
    label, for data that mark their unlabeled rows with -1, as a user's npz does.
    """
    y = dataset.y_train
    k = dataset.n_classes
    known = np.flatnonzero(y >= 0)
    if labels is None:
        if len(known) == len(y):
            raise SSGANError(
                f"{dataset.name} has no unlabeled rows (y == -1): mark the unlabeled rows with -1, "
                "or pass --labels N to keep N labels and hide the rest"
            )
        return Split(dataset.name, seed, len(known), k, len(y), known.astype(np.int64))
    if labels <= 0:
        raise SSGANError(f"--labels must be a positive number of labeled examples, got {labels}")
    if labels % k:
        lo, hi = (labels // k) * k, (labels // k + 1) * k
        hint = f"{lo} or {hi}" if lo else f"{hi}"
        raise SSGANError(
            f"--labels {labels} is not a multiple of the {k} classes of {dataset.name}: "
            f"use a multiple such as {hint}"
        )
    per_class = labels // k
    counts = np.bincount(y[known], minlength=k)
    if per_class > counts.min():
        c = int(counts.argmin())
        raise SSGANError(
            f"--labels {labels} asks for {per_class} labeled examples of class {c}, but "
            f"{dataset.name} has only {counts[c]}: use at most {counts.min() * k}"
        )
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(known[y[known] == c], size=per_class, replace=False) for c in range(k)]
    indices = np.sort(np.concatenate(chosen)).astype(np.int64)
    return Split(dataset.name, seed, labels, k, len(y), indices)


def save_split(split: Split, path: str | Path) -> None:
    write_json(path, split.to_dict())


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
        )
    except FileNotFoundError:
        raise SSGANError(f"split file {path} does not exist") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SSGANError(
            f"split file {path} is damaged or not a split ({type(e).__name__}): "
            "make a new one with `ssgan split`"
        ) from None
    if split.indices.ndim != 1 or len(split.indices) != split.labels or len(np.unique(split.indices)) != split.labels:
        raise SSGANError(f"split file {path} is damaged: its indices do not match its {split.labels} labels")
    if dataset is not None:
        if split.dataset != dataset.name:
            raise SSGANError(
                f"split file {path} is for dataset {split.dataset!r}, not {dataset.name!r}: "
                f"use --dataset {split.dataset} or make a new split"
            )
        if split.n_train != len(dataset.y_train) or split.indices.max() >= len(dataset.y_train):
            raise SSGANError(
                f"split file {path} was made for a training set of {split.n_train} rows, "
                f"but {dataset.name} has {len(dataset.y_train)}: make a new split"
            )
        if (dataset.y_train[split.indices] < 0).any():
            raise SSGANError(f"split file {path} marks unlabeled rows of {dataset.name} as labeled")
    return split
