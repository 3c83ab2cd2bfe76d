"""Scaling of the user's real-valued data into the networks' units, as part of a run.

``--scale`` picks how: ``minmax`` maps each feature's training range onto [0, 1], ``standard``
subtracts its training mean and divides by its standard deviation, ``none`` takes the data as
they are (they must lie in [0, 1]). ``auto``, the default, is ``minmax`` for real-valued data of
the user's own (``npz:`` files with float ``x``) and ``none`` for everything else: 8-bit pixels
are divided by 255 when loaded, and the bundled and torchvision datasets are already in [0, 1].

Vectors are scaled per feature (column), images per channel. The statistics come from the
training rows only (the validation rows and the test set stay out) and are fitted by
scikit-learn's ``MinMaxScaler`` or ``StandardScaler``; a constant feature keeps scale 1, as
scikit-learn does, and comes back from the networks' units as its value. The fitted scaler is
stored in the run folder (``scaler.json``) and in the checkpoint; ``eval --data`` applies it,
``sample --npz`` inverts it so that samples come out in the user's units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssgan.data import Dataset, rows_per_part
from ssgan.errors import MEND_RUN_FILE, SSGANError

# test values this far outside the training range (in units of the scaled range) are flagged
FAR_OUTSIDE = {"minmax": 0.5, "standard": 6.0}


@dataclass(frozen=True, eq=False)
class Scaler:
    """``x -> (x - offset) / scale``, per feature (vectors) or per channel (images)."""

    kind: str
    offset: np.ndarray
    scale: np.ndarray
    constant: tuple[int, ...] = ()  # the features (channels) constant in the training rows, which offset holds

    def _shape(self, x: np.ndarray) -> tuple[int, ...]:
        return (-1, 1, 1) if x.ndim == 4 else (-1,)

    def transform(self, x: np.ndarray, in_place: bool = False) -> np.ndarray:
        """The data's own units into the networks' (float32); ``in_place``: written over ``x``
        itself where it is a float32 array (the caller's own, which no one else reads), with the
        same numbers, so that the data are not held twice."""
        if self.kind == "none":
            return x
        out = x if in_place and x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable else None
        return self._by_rows(x, lambda part, offset, scale: (part - offset) / scale, out)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Network units back to the data's own units; a feature constant in the training rows
        comes back as its value, whatever a generator made of it (it had kept the generator's
        output, such as 5.21 to 5.31 for a feature that was 5 in every row)."""
        if self.kind == "none":
            return x
        scale = self.scale.copy()
        scale[list(self.constant)] = 0.0
        return dataclasses.replace(self, scale=scale)._by_rows(x, lambda part, offset, scale: part * scale + offset)

    def _by_rows(self, x: np.ndarray, f, out: np.ndarray | None = None) -> np.ndarray:
        """``f(rows, offset, scale)``, computed in float64 (the scaler's own precision) a part of the
        rows at a time and written into one float32 array (``out``, which may be ``x``: a part
        is computed whole before it is written): the numbers of one pass over all of them, in
        the memory of the result and a part's float64 temporaries, not of the whole."""
        shape = self._shape(x)
        offset, scale = self.offset.reshape(shape), self.scale.reshape(shape)
        out = np.empty(x.shape, np.float32) if out is None else out
        for rows in _row_slices(len(x), x.shape[1:]):
            out[rows] = f(x[rows], offset, scale)
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist(),
                "constant": list(self.constant)}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaler":
        """The scaler ``to_dict`` wrote (one of a run made before ``constant`` was kept: none marked)."""
        return cls(d["kind"], np.asarray(d["offset"], np.float64), np.asarray(d["scale"], np.float64),
                   tuple(int(i) for i in d.get("constant", ())))


NONE = Scaler("none", np.zeros(0), np.ones(0))


def resolve_scale(kind: str, data: Dataset) -> str:
    """``auto`` -> ``minmax`` for real-valued user data, ``none`` otherwise."""
    if kind != "auto":
        return kind
    return "minmax" if data.real_valued else "none"


def _columns(x: np.ndarray) -> np.ndarray:
    """(rows, features) for vectors, (pixels, channels) for images."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]) if x.ndim == 4 else x.reshape(len(x), -1)


PART_VALUES = 1 << 22  # values of the rows that scaling computes on at once (32 MiB in float64)


def _row_slices(n: int, shape: tuple[int, ...]) -> list[slice]:
    """Slices of ``n`` rows of ``shape`` holding about :data:`PART_VALUES` values each (one row at least)."""
    step = rows_per_part(shape, PART_VALUES)
    return [slice(i, i + step) for i in range(0, n, step)]


# scikit-learn's MinMaxScaler keeps scale 1 for a range below this, as if the feature were
# constant: a range of 1e-30 (masses in kilograms) is no less a range for that
SKLEARN_ZERO_RANGE = 10 * np.finfo(np.float64).eps


def fit_scaler(kind: str, x: np.ndarray, rows: np.ndarray | None = None) -> tuple[Scaler, list[str]]:
    """Fit a scaler of ``kind`` on the training rows ``rows`` of ``x`` (all of them if None); return
    it and warnings about the data. The rows are taken a part at a time, in float64, by the
    scalers' ``partial_fit``: a minimum and a maximum are those of one pass over all the rows; a
    mean and a variance combined over parts differ from one pass's in the last float64 digits
    (``benchmarks/scale_rounding.py`` measures by how much). A feature is constant when its
    training range is 0 (a variance combined over parts can be a rounding error above 0 where
    one pass gives 0): it keeps its value as offset and scale 1, as one pass would give it."""
    if kind == "none":
        return NONE, []
    from sklearn.preprocessing import MinMaxScaler, StandardScaler  # (1-2 s to import: not for data taken as they are)

    ranges = MinMaxScaler()  # the minmax scaler, and the features that are constant for every kind
    moments = StandardScaler() if kind == "standard" else None
    index = np.arange(len(x)) if rows is None else rows
    for part in _row_slices(len(index), x.shape[1:]):
        values = _columns(np.asarray(x[index[part]], np.float64))
        ranges.partial_fit(values)
        if moments is not None:
            moments.partial_fit(values)
    constant = ranges.data_range_ == 0
    if moments is None:
        tiny = ~constant & (ranges.data_range_ < SKLEARN_ZERO_RANGE)
        offset, scale = ranges.data_min_, np.where(tiny, ranges.data_range_, 1.0 / ranges.scale_)
    else:  # (a constant feature as one pass gives it: its value, and scale 1)
        offset = np.where(constant, ranges.data_min_, moments.mean_)
        scale = np.where(constant, 1.0, moments.scale_)
    warnings = []
    constant = np.flatnonzero(constant)
    if len(constant):
        what = ("channel" if x.ndim == 4 else "feature") + "s" * (len(constant) != 1)
        listed = ", ".join(map(str, constant[:10])) + (", ..." if len(constant) > 10 else "")
        are, they = ("are", "they carry") if len(constant) != 1 else ("is", "it carries")
        warnings.append(f"{len(constant)} {what} of x {are} constant in the training rows ({listed}): "
                        f"{they} no information")
    return Scaler(kind, offset, scale, tuple(int(i) for i in constant)), warnings


def check_units(scaler: Scaler, x: np.ndarray, name: str) -> list[str]:
    """Errors for data the networks cannot take; warnings for values far outside the training range.
    ``x`` is already scaled; its values are counted a part of the rows at a time (images would
    otherwise be copied whole into columns)."""
    far = units = 0
    for rows in [slice(None)] if scaler.kind == "none" else _row_slices(len(x), x.shape[1:]):
        outside, counted = far_outside(scaler, x[rows], name)
        far, units = far + outside, units + counted
    return far_warnings(scaler, far, units, images=x.ndim == 4, name=name)


NONE_ADVICE = "--scale none needs [0, 1]: use --scale minmax or standard (or scale them yourself)"


def far_outside(scaler: Scaler, x: np.ndarray, name: str, advice: str = NONE_ADVICE) -> tuple[int, int]:
    """Of the rows of ``x`` (already scaled; of its values, for images), how many hold values far
    outside the training range, and how many there are: what :func:`check_units` warns of, in
    counts that add up over parts of the data read one after another. ``--scale none`` takes
    values in [0, 1] only: others are a one-line error, which ends in ``advice`` (a trained run's
    new data are told otherwise than data to train on)."""
    if scaler.kind == "none":
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if lo < 0.0 or hi > 1.0:
            raise SSGANError(f"{name} values lie in [{lo:g}, {hi:g}] but {advice}")
        return 0, x.size if x.ndim == 4 else len(x)
    margin = FAR_OUTSIDE[scaler.kind]
    lo, hi = (0.0, 1.0) if scaler.kind == "minmax" else (0.0, 0.0)
    cols = _columns(x)
    far = (cols < lo - margin) | (cols > hi + margin)
    return (int(far.sum()), far.size) if x.ndim == 4 else (int(far.any(axis=1).sum()), len(far))


def far_warnings(scaler: Scaler, far: int, units: int, images: bool, name: str) -> list[str]:
    """The warning of :func:`check_units` for ``far`` of ``units`` rows (values of ``images``)
    far outside the training range (:func:`far_outside`); none where there are none."""
    if not far:
        return []
    unit = "of its pixels" if images else "of its rows"
    where = "half the training range" if scaler.kind == "minmax" else f"{FAR_OUTSIDE[scaler.kind]:g} standard deviations"
    return [f"{name}: {100 * far / units:.1f} % {unit} hold values more than {where} outside the training data; "
            "predictions there are extrapolations"]


def scale_dataset(scaler: Scaler, data: Dataset, in_place: bool = False) -> tuple[Dataset, list[str]]:
    """``data`` in network units; warnings about the test rows. ``in_place``: the arrays of
    ``data`` are scaled over themselves (for data just loaded, which nothing else holds)."""
    x_train = scaler.transform(data.x_train, in_place)
    check_units(scaler, x_train, "x")
    warnings = []
    x_test = None
    if data.x_test is not None:
        x_test = scaler.transform(data.x_test, in_place)
        warnings += check_units(scaler, x_test, "x_test")
    return dataclasses.replace(data, x_train=x_train, x_test=x_test), warnings


def save_scaler(scaler: Scaler, path: Path) -> None:
    from ssgan.fileio import write_json

    write_json(path, scaler.to_dict())


def load_scaler(run_dir: Path) -> Scaler:
    """The scaler of a run folder; runs made before scaling existed used none."""
    import json

    path = Path(run_dir) / "scaler.json"
    if not path.is_file():
        return NONE
    try:
        return Scaler.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError):
        raise SSGANError(f"{path} is damaged: it cannot be read as a scaler; {MEND_RUN_FILE}") from None
