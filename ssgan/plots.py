"""The report's figures: accuracy and training curves per epoch (the mean over each method's
runs), FID over the scored epochs, the last sample grids, and accuracy against the number of
labels; and ``eval --plot``'s confusion matrix. Each is written whole or not at all
(:func:`ssgan.fileio.atomic_path`)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ssgan.config import SPLIT_NAMES
from ssgan.fileio import atomic_path

if TYPE_CHECKING:
    from ssgan.report import RunRecord


def _save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _save_axes(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    """One panel's labels, title, grid and legend, and the figure saved to ``path``. The legend
    stands right of the panel, where it hides no curve however many methods a report has (the
    saved figure widens to hold it)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    _save_figure(fig, path)


def _curves(runs: list[RunRecord], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Epochs and a (runs, epochs) array of ``key``, cut to the shortest run."""
    series = [[m.get(key) for m in r.metrics] for r in runs]
    if any(v is None for s in series for v in s):
        return None
    n = min(len(s) for s in series)
    return np.arange(1, n + 1), np.array([s[:n] for s in series], dtype=float)


def plot_accuracy(groups: dict[str, list[RunRecord]], path: Path, split: str = "test") -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, rs) in enumerate(groups.items()):
        color = f"C{i}"
        ep, acc = _curves(rs, f"{split}_acc")
        if len(ep) == 1:  # one-shot baselines: a level
            ax.axhline(acc.mean(), color=color, ls="--", label=f"{name} ({len(rs)} runs)")
            continue
        mean = acc.mean(0)
        ax.plot(ep, mean, color=color, label=f"{name} (mean of {len(rs)})")
        ax.fill_between(ep, acc.min(0), acc.max(0), color=color, alpha=0.2)
    _save_axes(fig, ax, path, "epoch", f"{SPLIT_NAMES[split]} accuracy",
               f"{SPLIT_NAMES[split].capitalize()} accuracy per epoch (band: min-max over runs)")


# (metric keys, title, log scale): keys of one panel share its colour, solid then dashed
LOSS_PANELS = (
    (("loss_lab",), "supervised loss (D)", False),
    (("loss_unl",), "real/fake loss (D)", False),
    (("loss_gen",), "generator loss", False),
    (("d_real", "d_fake"), "mean D(real) / D(fake)", False),
)
DIAGNOSTIC_PANELS = (
    (("grad_d_first", "grad_d_last"), "gradient norm, D first / last layer", True),
    (("grad_g_first", "grad_g_last"), "gradient norm, G first / last layer", True),
    (("sample_spread",), "spread of generated samples (1 = real data)", False),
    (("class_entropy",), "class entropy of generated samples (1 = even)", False),
)


def plot_panels(groups: dict[str, list[RunRecord]], panels, title: str, path: Path) -> None:
    """A 2 x 2 figure of per-epoch metrics, the mean over each method's runs."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (keys, panel_title, log) in zip(axes.flat, panels):
        for i, (name, rs) in enumerate(groups.items()):
            for key, style in zip(keys, ("-", "--")):
                curves = _curves(rs, key)
                if curves is None or len(curves[0]) < 2:
                    continue
                label = name if len(keys) == 1 else f"{name} {key.rsplit('_', 1)[1]}"
                ax.plot(curves[0], curves[1].mean(0), color=f"C{i}", ls=style, label=label)
        ax.set_title(panel_title)
        ax.set_xlabel("epoch")
        if log and ax.has_data():
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle(f"{title} (mean over runs)")
    fig.tight_layout()
    _save_figure(fig, path)


def plot_quality(groups: dict[str, list[RunRecord]], path: Path) -> bool:
    """FID against epochs, the mean over each method's runs, at the epochs that were scored;
    False (and no figure) when no run was scored at more than one epoch. A method whose runs
    scored different numbers of samples is left out, as from the table."""
    import matplotlib.pyplot as plt

    series = {}
    for name, rs in groups.items():
        by_epoch, sizes = defaultdict(list), set()
        for r in rs:
            for m in r.metrics:
                if m.get("fid") is not None:
                    by_epoch[m["epoch"]].append(m["fid"])
                    sizes.add(m.get("quality_samples"))
        if len(by_epoch) > 1 and len(sizes) == 1:  # (FIDs of different numbers of samples do not compare)
            series[name] = sorted((e, float(np.mean(v))) for e, v in by_epoch.items())
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, points) in enumerate(series.items()):
        ax.plot(*zip(*points), marker="o", color=f"C{i}", label=name)
    ax.set_yscale("log")
    _save_axes(fig, ax, path, "epoch", "FID (log scale; lower is better)",
               "FID of generated samples against the test set (mean over runs)")
    return True


def plot_samples(groups: dict[str, list[RunRecord]], path: Path) -> bool:
    """The last sample grid of the first run of each method that has one; False if none does."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    grids = []
    for name, rs in groups.items():
        pngs = sorted((rs[0].path / "samples").glob("epoch_*.png"))
        if pngs:
            grids.append((name, rs[0], pngs[-1]))
    if not grids:
        return False
    cols = min(len(grids), 4)
    rows = -(-len(grids) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 4.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, run, png) in zip(axes.flat, grids):
        ax.imshow(mpimg.imread(png), cmap="gray")
        ax.set_title(f"{name}: {run.path.name}\n{png.stem}", fontsize=9)
    _save_figure(fig, path)
    return True


def plot_label_counts(summary: dict, path: Path) -> None:
    """Accuracy against the number of labeled examples (log scale), a line per method with its
    std over seeds as error bars."""
    import matplotlib.pyplot as plt

    split = summary["split"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, m) in enumerate(summary["methods"].items()):
        points = [(n, mean, std) for n, mean, std in zip(summary["labels"], m[f"{split}_acc_mean"],
                                                         m[f"{split}_acc_std"]) if mean is not None]
        x, mean, std = (np.array(v, dtype=float) for v in zip(*points))
        ax.errorbar(x, 100 * mean, yerr=100 * std, color=f"C{i}", marker="o", capsize=3,
                    ls="--" if name == "full" else "-", label=name)
    ax.set_xscale("log")
    ax.minorticks_off()  # (log ticks like 3x10^1 between the counts)
    ax.set_xticks(summary["labels"], [str(n) for n in summary["labels"]])
    _save_axes(fig, ax, path, "labeled examples", f"{SPLIT_NAMES[split]} accuracy %",
               f"{summary['dataset']}: {SPLIT_NAMES[split]} accuracy at the last epoch (bars: std over seeds)")


CONFUSION_VALUES_MOST = 20  # classes up to which each cell's count is written in it


def plot_confusion(matrix, names: list[str], title: str, path: Path):
    """A confusion matrix (rows: true class, columns: predicted) as a PNG, drawn by scikit-learn's
    ``ConfusionMatrixDisplay``: each cell's count where up to ``CONFUSION_VALUES_MOST`` classes
    leave room for it, the colour on a log scale (a classifier's few errors would be as blank as
    its zeros beside the diagonal's thousands on a linear one), zeros left blank. Drawn on a
    Figure of its own, as :func:`ssgan.samples.save_density`; returns the drawn display."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(matrix, dtype=np.int64)
    k = len(cm)
    norm = LogNorm(vmin=1, vmax=max(2, int(cm.max())))  # (zeros are masked: the cell stays white)
    side = max(4.5, 0.45 * k + 2.0)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.subplots()
    values = k <= CONFUSION_VALUES_MOST
    rotate = "vertical" if max(map(len, names)) > 3 else "horizontal"
    display = ConfusionMatrixDisplay(cm, display_labels=names)
    display.plot(ax=ax, cmap="Blues", include_values=values, values_format="d", xticks_rotation=rotate,
                 im_kw={"norm": norm})
    if values:  # text that reads on its cell's colour, which the log scale sets (scikit-learn's rule is linear)
        for (i, j), text in np.ndenumerate(display.text_):
            text.set_text("" if cm[i, j] == 0 else str(cm[i, j]))
            text.set_color("white" if cm[i, j] and norm(cm[i, j]) > 0.6 else "black")
            text.set_fontsize(9 if k <= 10 else 7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    _save_figure(fig, path)
    return display
