"""Accuracy reports over run folders: tables and JSON, with the figures of :mod:`ssgan.plots`.

The number of a run is its **last** epoch's test accuracy. The best epoch is shown only as a
separate, labeled column: choosing it looks at the test set, so it is optimistic and is never
the headline. Runs whose data have no test set (the user's own npz without ``x_test``) are
reported on their validation rows instead (``split="val"``, ``ssgan report --split val``), and
the report says so: those rows are held out of training, but settings may have been chosen on
them.
"""

from __future__ import annotations

import functools
import json
import platform
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssgan.baselines import is_baseline
from ssgan.config import SPLIT_NAMES, Config, decay_key, ema_reached_at, from_dict
from ssgan.diagnostics import JUMP_FACTOR, JUMP_LOSS, epochs_words, labeled_loss_jumps, loss_floor
from ssgan.errors import DataWarning, SSGANError
from ssgan.fileio import check_folder_can_be, whole_or_none, write_json, write_text
from ssgan.plots import (DIAGNOSTIC_PANELS, LOSS_PANELS, plot_accuracy, plot_label_counts, plot_panels,
                         plot_quality, plot_samples)
from ssgan.runs import child_runs, divergence, method_name, read_config, read_metrics
from ssgan.train import guard_words


@dataclass
class RunRecord:
    path: Path
    config: dict
    metrics: list[dict]
    diverged: str | None = None  # the NaN guard's line, for a run that it stopped (diverged.txt)
    name: str | None = None  # the method's name where the report gave one (:func:`_name_settings`)

    @property
    def method(self) -> str:
        return self.name or method_name(self.config)

    @property
    def last(self) -> dict:
        return self.metrics[-1]

    @property
    def command(self) -> str | None:
        f = self.path / "command.txt"
        return f.read_text().strip() if f.is_file() else None

    @functools.cached_property
    def split(self) -> dict | None:
        """The run's split.json, read once (None where it has none): the checks and the grouping
        by label count each look at its rows."""
        f = self.path / "split.json"
        return json.loads(f.read_text()) if f.is_file() else None


def find_runs(paths: list[str | Path], split: str = "test") -> list[RunRecord]:
    """Run folders among ``paths``; a folder that is not a run contributes its child runs.
    Each must have an accuracy on ``split`` (``test``, or ``val``: the rows held out by ``--val``)."""
    if not paths:
        raise SSGANError("no runs given: pass run folders, or a folder that holds them")
    folders: list[Path] = []
    for p in map(Path, paths):
        if (p / "config.json").is_file():
            folders.append(p)
        elif p.is_dir():
            children = child_runs(p)
            if not children:
                raise SSGANError(f"{p} is neither a run folder nor a folder of runs (no config.json)")
            folders += children
        elif p.exists():
            raise SSGANError(f"{p} is a file, not a run folder: pass run folders, or a folder that holds them")
        else:
            raise SSGANError(f"{p} does not exist: pass run folders, or a folder that holds them")
    _check_named_once(folders)
    runs = []
    for f in folders:
        config = read_config(f)
        if line := divergence(f):  # counted as diverged, whatever epochs it finished (none, perhaps)
            runs.append(RunRecord(f, config, read_metrics(f) if (f / "metrics.jsonl").is_file() else [], line))
            continue
        metrics = read_metrics(f)
        if not metrics:
            raise SSGANError(f"{f / 'metrics.jsonl'} is empty: the run has not finished an epoch")
        if metrics[-1].get(f"{split}_acc") is None:
            if split == "val":
                raise SSGANError(f"{f} has no validation accuracy (it held out no rows): fit it again with --val N "
                                 "to report on held-out rows, or report its test accuracy without --split val")
            hint = (" or report the validation rows it held out with --split val" if metrics[-1].get("val_acc") is not None
                    else " or fit with --val N and report those held-out rows with --split val")
            raise SSGANError(f"{f} has no test accuracy (its dataset has no test set), so it cannot be reported on "
                             f"one: give the npz x_test and y_test,{hint}")
        runs.append(RunRecord(f, config, metrics))
    _check_finished(runs)
    datasets = sorted({r.config["dataset"] for r in runs})
    if len(datasets) > 1:
        raise SSGANError(f"a report covers one dataset, got {', '.join(datasets)}: make one report for each")
    for labels, group in label_groups(runs).items():
        _name_settings([r for r in group if r.method == "ssgan"])
        for name, rs in group_by_method(group).items():
            _check_one_setting(name, rs)
            _check_distinct_seeds(name, rs)
            if all(r.diverged for r in rs):
                raise SSGANError(f"every run of {name} diverged ({rs[0].path}: {guard_words(rs[0].diverged)}), so it "
                                 "has no accuracy to report: leave its runs out, and say so in the report's --notes")
    return runs


def label_groups(runs: list[RunRecord]) -> dict[int, list[RunRecord]]:
    """The runs by their number of labeled examples, fewest first: a study of several label
    counts (the paper's table of 20, 50, 100 and 200 labels) is reported a count at a time. The
    full baseline trains on every label by design: it joins the counts whose runs of its seed held
    out its validation rows (``baseline --run`` made it for them), else every count."""
    others = [r for r in runs if r.method != "full"]
    counts = sorted({r.config["labels"] for r in others or runs}, key=lambda n: (n is None, n or 0))  # (None: unknown)
    groups: dict[int, list[RunRecord]] = {n: [r for r in others if r.config["labels"] == n] for n in counts}
    for r in runs:
        if r.method == "full":
            held = _val_rows(r)
            mine = [n for n in counts if any(o.config["seed"] == r.config["seed"] and _val_rows(o) == held
                                              for o in groups[n] if o.method != "full")]
            for n in mine or counts:
                groups[n].append(r)
    return groups


def _val_rows(r: RunRecord) -> tuple[int, ...] | None:
    """The validation rows a run held out (its split.json's), None where it has no split file."""
    return tuple(r.split.get("val_indices", ())) if r.split is not None else None


def _check_named_once(folders: list[Path]) -> None:
    """One line if a run folder comes twice (named twice, or named and in a folder also named):
    the report would count it as two seeds, with a mean ± std that were not measured."""
    seen: dict[Path, Path] = {}
    for f in folders:
        if f.resolve() in seen:
            first = seen[f.resolve()]
            how = "" if first == f else f" (as {first} and as {f})"
            raise SSGANError(f"{f} is given twice{how}: a report counts each run once, so name it once")
        seen[f.resolve()] = f


def _check_distinct_seeds(name: str, rs: list[RunRecord]) -> None:
    """One line if two runs of method ``name`` share their seed and their labeled split (a run
    folder copied, or a seed trained again): they are one measurement, which a mean over
    seeds would count twice. Runs with one seed on different splits are distinct."""
    seen: dict[tuple, Path] = {}
    for r in rs:
        labeled = tuple(r.split.get("indices", ())) if r.split is not None else None
        key = (r.config.get("seed"), labeled)
        if key in seen:
            raise SSGANError(f"{seen[key]} and {r.path} are both {name} with seed {key[0]} on the same labels: a "
                             "report's mean and spread are over distinct seeds, so leave one of them out")
        seen[key] = r.path


def finished(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs that the NaN guard did not stop: the ones whose numbers a report averages."""
    return [r for r in runs if not r.diverged]


def _check_finished(runs: list[RunRecord]) -> None:
    """One line if a run has not finished its epochs (but for one that diverged, which the
    report counts as such): its last epoch is not the run's, and a mean over it would mix in a
    shorter schedule."""
    unfinished = [r for r in runs if not r.diverged and "epochs" in r.config and r.last["epoch"] < r.config["epochs"]]
    if not unfinished:
        return
    listed = ", ".join(f"{r.path} ({r.last['epoch']} of {r.config['epochs']})" for r in unfinished[:3])
    more = f" and {len(unfinished) - 3} more" if len(unfinished) > 3 else ""
    runs_have, their, them = ("runs have", "their", "them") if len(unfinished) > 1 else ("run has", "its", "it")
    raise SSGANError(f"{len(unfinished)} {runs_have} not finished {their} epochs (stopped, or training now): "
                     f"{listed}{more}; resume {them} with ssgan fit --resume, or leave {them} out of the report")


def _settings_of(config: dict) -> dict:
    """The settings of a run that make its method what it is: its config less the keys that
    never do (:data:`_NOT_SETTINGS`), a network run's as today's Config reads it (a key added
    since the run was made counts at the value the run had, its default)."""
    if "epochs" in config:  # (a scikit-learn baseline's config is its estimator's)
        config = from_dict(config, "config.json").to_dict()
    return {k: v for k, v in config.items() if k not in _NOT_SETTINGS}


def _differing_keys(settings: list[dict]) -> list[str]:
    """The keys, sorted, whose values are not the same in all of ``settings`` (a key that some
    lack counts as None there).

    >>> _differing_keys([{"lr": 0.003, "epochs": 125}, {"lr": 0.001, "epochs": 125}, {"epochs": 125}])
    ['lr']
    """
    return sorted({k for s in settings for k in s if len({json.dumps(t.get(k)) for t in settings}) > 1})


def _name_settings(rs: list[RunRecord]) -> None:
    """Runs without a --tag (method ``ssgan``) that differ in settings are as many methods: each is
    named by the flags in which it differs from the others, where its value is not the default
    (``ssgan --lr-decay-start 0.667`` beside ``ssgan``), so that a lever and its control made
    without tags report side by side, and ``--against ssgan`` pairs them. Tagged runs keep their
    tag, and runs of one tag that differ are refused (:func:`_check_one_setting`): the tag said
    they were one method."""
    settings = [_settings_of(r.config) for r in rs]
    differ = _differing_keys(settings)
    if not differ:
        return
    defaults = Config().to_dict()
    for r, s in zip(rs, settings):
        flags = []
        for k in differ:
            value, flag = s.get(k), "--" + k.replace("_", "-")
            if json.dumps(value) == json.dumps(defaults.get(k)):
                continue
            flags.append((flag if value else f"--no-{flag[2:]}") if isinstance(value, bool) else f"{flag} {_setting(value)}")
        r.name = " ".join(["ssgan", *flags])


def _check_one_setting(name: str, rs: list[RunRecord]) -> None:
    """One line if the runs of method ``name`` differ in a setting: their mean would mix two
    settings as if they were seeds of one."""
    settings = [_settings_of(r.config) for r in rs]
    differ = _differing_keys(settings)
    if not differ:
        return
    by_value: dict[str, list[str]] = defaultdict(list)
    for r, s in zip(rs, settings):
        by_value[json.dumps(s.get(differ[0]))].append(str(r.path))
    listed = "; ".join(f"{value} in {paths[0]}" + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
                       for value, paths in by_value.items())
    keys = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
    raise SSGANError(f"the {len(rs)} runs of {name} differ in {keys} ({differ[0]}: {listed}), so their "
                     "mean would mix settings as if they were seeds of one: report them apart, or give each setting a "
                     "name of its own with ssgan fit --tag")


def _pm(mean: str, std: str, runs: int) -> str:
    """``mean ± std``, or the mean alone for one run, whose spread is unknown rather than 0."""
    return f"{mean} ± {std}" if runs > 1 else mean


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _ci95(mean: float, std: float, n: int) -> list[float] | None:
    """The 95 % confidence interval of a mean of ``n`` paired differences (Student's t, n - 1
    degrees of freedom); None for one, which has no spread to tell.

    >>> [round(v, 4) for v in _ci95(0.02, 0.01, 5)]
    [0.0076, 0.0324]
    """
    if n < 2:
        return None
    from scipy.stats import t

    half = float(t.ppf(0.975, n - 1) * std / np.sqrt(n))
    return [mean - half, mean + half]


def group_by_method(runs: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Runs by method, SSL methods first then baselines, each by name; runs by seed."""
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for r in sorted(runs, key=lambda r: (is_baseline(r.method), r.method, r.config["seed"])):
        groups[r.method].append(r)
    return dict(groups)


def summarize(runs: list[RunRecord], split: str = "test", against: str | None = None,
              window: tuple[int, int] | None = None) -> dict:
    """The numbers of a report: per method, and the gains of SSL methods over baselines, scored
    on ``split`` (keys ``{split}_acc``, ``{split}_errors``, ``n_{split}``; a test report also
    shows the validation accuracy where every run of a method has one); ``against``: a method
    (an ablation's control) that every other one is paired with, by seed (``against``);
    ``window``: the first and last epoch whose mean validation errors ``against`` and the
    ``--ema-probe`` decays are compared on (None: each run's last :data:`VAL_WINDOW`)."""
    _check_window(window, runs, against)
    groups = group_by_method(runs)
    first = next((r for r in runs if r.method != "full"), runs[0])
    dataset, labels = first.config["dataset"], first.config["labels"]
    n_classes = json.loads((first.path / "split.json").read_text()).get("n_classes", 10)
    methods = {}
    for name, every in groups.items():
        rs = finished(every)
        acc = [r.last[f"{split}_acc"] for r in rs]
        errors = [r.last[f"{split}_errors"] for r in rs]
        best = [max(m[f"{split}_acc"] for m in r.metrics if m.get(f"{split}_acc") is not None) for r in rs]
        methods[name] = {"baseline": is_baseline(name), "labels": rs[0].config["labels"]}
        if split == "test":  # beside the test numbers, the validation accuracy where every run has one
            val = [r.last.get("val_acc") for r in rs]
            val = val if all(v is not None for v in val) else None
            selected = [_best_val_epoch(r) for r in rs] if val else None  # (the epoch of best.pt, each run's)
            chosen = [m["test_acc"] for m in selected] if val else None
            methods[name].update({
                "val_acc": val,
                "val_acc_mean": _mean_std(val)[0] if val else None, "val_acc_std": _mean_std(val)[1] if val else None,
                "n_val": rs[0].last.get("n_val") if val else None,
                "best_val_epochs": [m["epoch"] for m in selected] if val else None,
                "at_best_val_acc": chosen,
                "at_best_val_acc_mean": _mean_std(chosen)[0] if val else None,
                "at_best_val_acc_std": _mean_std(chosen)[1] if val else None})
        methods[name].update({
            "runs": [str(r.path) for r in rs],
            "seeds": [r.config["seed"] for r in rs],
            "epochs": [r.last["epoch"] for r in rs],
            f"{split}_acc": acc,
            f"{split}_acc_mean": _mean_std(acc)[0], f"{split}_acc_std": _mean_std(acc)[1],
            f"{split}_errors": errors,
            f"{split}_errors_mean": _mean_std(errors)[0], f"{split}_errors_std": _mean_std(errors)[1],
            f"n_{split}": rs[0].last[f"n_{split}"],
            "best_epoch_acc_mean": _mean_std(best)[0],
            "seconds_mean": float(np.mean([sum(m.get("seconds", 0.0) for m in r.metrics) for r in rs])),
            "commands": [r.command for r in every if r.command],
            "last_epoch_diagnostics": _last_diagnostics(rs),
            "sample_quality": _last_quality(rs),
            "ema_probe": _ema_probes(rs, window),
            "runs_with_warnings": sum(any(m.get("warnings") for m in r.metrics) for r in rs),
            # epochs at which a run's labeled loss jumped (read from its losses: runs older than the warning too)
            "loss_jumps": [{"run": str(r.path), "seed": r.config["seed"], "epochs": jumps}
                           for r in rs if (jumps := labeled_loss_jumps(r.metrics, loss_floor(r.config, n_classes)))],
            # seeds that the NaN guard stopped: counted here, not in the means above
            "diverged": [{"run": str(r.path), "seed": r.config["seed"], "why": guard_words(r.diverged)}
                         for r in every if r.diverged],
        })
    gains = []
    for ssl, s in methods.items():
        if s["baseline"]:
            continue
        for base, b in methods.items():
            if not b["baseline"] or base == "full":  # full is the upper bound, not a baseline to beat
                continue
            if (paired := _paired(s, b, f"{split}_acc")) is not None:
                gains.append({"method": ssl, "baseline": base, "seeds": paired["seeds"], "gain_mean": paired["mean"],
                              "gain_std": paired["std"], "gain_ci95": paired["ci95"], "better_on": paired["better_on"]})
    summary = {"dataset": dataset, "labels": labels, "labels_per_class": labels // n_classes, "split": split,
               "methods": methods, "gains": gains, "settings": differing_settings(groups), "machine": _machine(),
               "trained_with": trained_with(runs)}
    if against is not None:
        _check_against(against, list(methods))
        control = methods[against]
        summary["against"] = {"method": against, "differences": [
            {"method": name, split: _paired(m, control, f"{split}_acc"),
             "val": _paired(m, control, "val_acc") if split == "test" else None,
             "val_window": _paired_val_window(finished(groups[name]), finished(groups[against]), window)}
            for name, m in methods.items() if name != against]}
    return summary


def _paired_val_window(runs: list[RunRecord], control: list[RunRecord],
                       epochs: tuple[int, int] | None = None) -> dict | None:
    """The validation errors of two methods' runs on the seeds both ran, each run's mean over its
    last :data:`VAL_WINDOW` epochs (all of them where a run has fewer), or over ``epochs`` (first
    and last) where given (either: ``window``, :func:`_window`), paired by seed:
    the method's and the control's means per seed, their differences (method minus control,
    negative for fewer errors), mean, std, 95 % interval and the seeds with fewer errors. None
    where they share no seed or a run lacks validation rows in those epochs.

    The reading every ablation of this project is chosen on: a single epoch's validation errors
    move by several from epoch to epoch, their mean over the last ten much less."""
    mine, theirs = ({r.config["seed"]: r for r in rs} for rs in (runs, control))
    common = sorted(set(mine) & set(theirs))
    if not common:
        return None
    window = _window([rs[k] for rs in (mine, theirs) for k in common], epochs)
    a = [_errors_of(mine[k], None, "val", window) for k in common]
    b = [_errors_of(theirs[k], None, "val", window) for k in common]
    if None in a or None in b:
        return None
    diffs = [x - y for x, y in zip(a, b)]
    mean, std = _mean_std(diffs)
    return {"seeds": common, "window": window, "n_val": theirs[common[0]].last["n_val"], "method": a, "control": b,
            "differences": diffs, "mean": mean, "std": std, "ci95": _ci95(mean, std, len(diffs)),
            "fewer_on": sum(d < 0 for d in diffs)}


def _check_against(against: str, methods: list[str], where: str = "") -> None:
    """A one-line error unless ``against`` names one of ``methods`` (those of the runs ``where``
    says: of a label count)."""
    if against not in methods:
        raise SSGANError(f"--against {against}: no method of that name among the runs{where} (they are "
                         f"{', '.join(methods)}; a run's method is its --tag, or ssgan)")


def _paired(a: dict, b: dict, key: str) -> dict | None:
    """The differences of accuracies ``key`` of methods ``a`` and ``b`` (:func:`summarize`'s),
    a minus b, over the seeds both ran: their seeds, mean, std, 95 % interval and the number of
    seeds on which a is the better; None where they share no seed or one lacks them."""
    if a.get(key) is None or b.get(key) is None:
        return None
    common = sorted(set(a["seeds"]) & set(b["seeds"]))
    if not common:
        return None
    diffs = [a[key][a["seeds"].index(k)] - b[key][b["seeds"].index(k)] for k in common]
    mean, std = _mean_std(diffs)
    return {"seeds": common, "mean": mean, "std": std, "ci95": _ci95(mean, std, len(diffs)),
            "better_on": sum(d > 0 for d in diffs)}


# Last-epoch indicators shown in the report's diagnostics table (GAN runs only)
DIAGNOSTIC_KEYS = ("sample_spread", "class_entropy", "d_real", "d_fake", "loss_unl")
# Config keys that never make two methods different settings
_NOT_SETTINGS = {"seed", "out", "tag", "device", "nproc", "data_root", "download", "split", "sample_every",
                 "checkpoint_every", "quality_every", "quality_samples", "ema_probe"}


QUALITY_KEYS = ("fid", "classifier_score", "precision", "recall")


def _last_quality(rs: list[RunRecord]) -> dict | None:
    """Mean and std over runs of each sample-quality score at the last epoch, with the real
    images' scores and the feature network; None unless every run has them."""
    if not all(r.last.get("fid") is not None for r in rs):
        return None
    sizes = {r.last["quality_samples"] for r in rs}
    if len(sizes) > 1:  # FID depends on the number of samples: a mean over sizes would compare nothing
        listed = "; ".join(f"{n} in {next(r.path for r in rs if r.last['quality_samples'] == n)}" for n in sorted(sizes))
        warnings.warn(f"the runs of {rs[0].method} scored different numbers of samples ({listed}), whose FIDs do not "
                      "compare: the report leaves their sample quality out (fit them with one --quality-samples)",
                      DataWarning)
        return None
    out = {"network": rs[0].last["quality_network"], "n": rs[0].last["quality_samples"],
           "real": rs[0].last["quality_real"], "runs": len(rs)}
    out["n_real"] = rs[0].last.get("quality_real_samples", out["n"])  # (runs scored before it was kept: n)
    for key in QUALITY_KEYS:
        out[key], out[f"{key}_std"] = _mean_std([r.last[key] for r in rs])
    return out


VAL_WINDOW = 10  # epochs: the last this many, whose mean validation errors compare --against's methods and --ema-probe's decays


def _window(rs: list[RunRecord], epochs: tuple[int, int] | None = None) -> int | list[int]:
    """The epochs over which runs ``rs`` are compared: ``epochs`` (the first and last, as a list)
    where given, else a count, the last :data:`VAL_WINDOW` or all of them where a run has fewer,
    the same for every run."""
    return list(epochs) if epochs else min([VAL_WINDOW, *(len(r.metrics) for r in rs)])


def _in_window(r: RunRecord, window: int | list[int]) -> list[dict]:
    """The metrics lines of run ``r`` in ``window`` (:func:`_window`): its last that many, or the
    epochs from the first to the last of a pair."""
    if isinstance(window, int):
        return r.metrics[-window:]
    return [m for m in r.metrics if window[0] <= m["epoch"] <= window[1]]


def _window_words(window: int | list[int]) -> str:
    """How a report names ``window``: ``the last 10 epochs``, or ``epochs 51-60``."""
    if isinstance(window, int):
        return "the last epoch" if window == 1 else f"the last {window} epochs"
    return f"epochs {window[0]}-{window[1]}"


def parse_window(text: str) -> tuple[int, int]:
    """``--window FIRST-LAST`` as a pair of epochs, or a one-line error.

    >>> parse_window("51-60")
    (51, 60)
    """
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text, re.ASCII)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise SSGANError(f"--window {text}: give the first and last epoch of the window, such as 51-60 (first at "
                         "least 1, last not before it)")
    return int(match[1]), int(match[2])


def _check_window(window: tuple[int, int] | None, runs: list[RunRecord], against: str | None) -> None:
    """One line if ``window`` has nothing to act on (no ``--against``, no ``--ema-probe`` decays) or
    lies past a network run's epochs: a mean over fewer epochs than asked would read as the window's."""
    if window is None:
        return
    networks = [r for r in finished(runs) if "epochs" in r.config]  # (a scikit-learn baseline has no epochs)
    if against is None and not any(r.last.get("ema_probe") for r in networks):
        raise SSGANError(f"--window {window[0]}-{window[1]} chooses the epochs that --against and --ema-probe's "
                         "decays are compared on, and this report has neither: give --against METHOD, or leave "
                         "--window out")
    for r in networks:
        have = {m["epoch"] for m in r.metrics}
        if not all(e in have for e in range(window[0], window[1] + 1)):
            raise SSGANError(f"--window {window[0]}-{window[1]}: {r.path} has epochs up to {r.last['epoch']} only, "
                             "so its mean would be over fewer epochs: choose a window within every run's epochs")


def _errors_of(r: RunRecord, decay: str | None, split: str, window: int | list[int] = 1) -> float | None:
    """Mean errors on ``split`` over the epochs ``window`` of run ``r`` (:func:`_in_window`: by
    default its last), of its own moving average (``decay`` None) or of the ``--ema-probe`` one of
    that decay; None without them."""
    values = [m.get(f"{split}_errors") if decay is None else m.get("ema_probe", {}).get(decay, {}).get(f"{split}_errors")
              for m in _in_window(r, window)]
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _ema_probes(rs: list[RunRecord], epochs: tuple[int, int] | None = None) -> list[dict] | None:
    """One row per moving-average decay that every run of a method scored (its own ``ema_decay``
    first, then its ``--ema-probe`` decays): errors at the last epoch and the mean validation errors
    of the last :data:`VAL_WINDOW` epochs (all of them in shorter runs) or of ``epochs`` (the row's
    ``window``, :func:`_window`), mean and
    std over the runs, and that mean's difference from the run's own decay, paired by run. None unless
    every run probed the same decays."""
    probed = [frozenset(r.last.get("ema_probe") or ()) for r in rs]
    if not probed[0] or len(set(probed)) > 1:
        return None
    own = decay_key(rs[0].config["ema_decay"])
    window = _window(rs, epochs)
    rows = []
    for decay in [None, *sorted(probed[0] - {own}, key=float)]:
        row = {"decay": own if decay is None else decay, "own": decay is None, "runs": len(rs),
               # the update from which the warm-up lets the decay act, and the runs' steps (one update each)
               "reached_at": ema_reached_at(float(own if decay is None else decay)),
               "steps": min(r.last["iterations"] for r in rs), "window": window}
        values = {key: [_errors_of(r, decay, split, last) for r in rs]
                  for key, split, last in (("val", "val", 1), ("val_window", "val", window), ("test", "test", 1))}
        values["val_window_difference"] = [None if a is None or b is None else a - b for a, b in
                                           zip(values["val_window"], (_errors_of(r, None, "val", window) for r in rs))]
        row.update({key: None if None in v else _mean_std(v) for key, v in values.items()})
        rows.append(row)
    return rows


def _last_diagnostics(rs: list[RunRecord]) -> dict[str, float] | None:
    """Mean over runs of each diagnostic at the last epoch; None for runs without a generator."""
    out = {}
    for key in DIAGNOSTIC_KEYS:
        values = [r.last.get(key) for r in rs]
        if any(v is None for v in values):
            return None
        out[key] = float(np.mean(values))
    return out


def differing_settings(groups: dict[str, list[RunRecord]]) -> dict[str, dict[str, object]]:
    """For each GAN method, the config values in which the GAN methods of a report differ (a
    run made before a key existed counts at the default it had, as :func:`_settings_of` reads it).

    A report of one method, or of methods that differ only in their tag, gives ``{}``."""
    configs = {name: _settings_of(rs[0].config) for name, rs in groups.items() if not is_baseline(name)}
    if len(configs) < 2:
        return {}
    differ = _differing_keys(list(configs.values()))
    return {name: {k: c.get(k) for k in differ} for name, c in configs.items()} if differ else {}


def _machine() -> str:
    """The machine and software that make the report (not those of the runs: :func:`trained_with`)."""
    import os

    import torch

    return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores, Python "
            f"{platform.python_version()}, torch {torch.__version__}")


def trained_with(runs: list[RunRecord]) -> list[dict]:
    """What the runs trained with (their ``environment.jsonl``): each setting of software and
    machine, in one line, with the runs that trained with it. A run resumed with other software
    or on another machine counts under each of its lines, and ``elsewhere_too`` says how many of
    a line's runs did so; runs made before ssgan kept the file are one entry whose
    ``environment`` is None."""
    from ssgan import environment

    counts: dict[str | None, int] = {}
    shared: dict[str | None, int] = {}  # of a line's runs, those that count under another line too
    devices: set[str] = set()  # (of the runs without the file: what their metrics say)
    for r in runs:
        lines = dict.fromkeys(environment.summary(s) for s in environment.sessions(r.path))
        if not lines:
            devices.update(str(m["device"]) for m in r.metrics[-1:] if m.get("device"))
        for line in lines or [None]:
            counts[line] = counts.get(line, 0) + 1
            shared[line] = shared.get(line, 0) + (len(lines) > 1)
    return [{"environment": line, "runs": n} | ({"elsewhere_too": shared[line]} if shared[line] else {})
            | ({} if line else {"devices": sorted(devices) or ["cpu"]}) for line, n in counts.items()]


def _duration(seconds: float) -> str:
    """A run's time as the table shows it: seconds below a minute, else minutes; a baseline
    that fits in a fraction of a second (logreg) shows as under one, not as no time at all.

    >>> _duration(0.2), _duration(1.4), _duration(59.6), _duration(754.0)
    ('< 1 s', '1 s', '60 s', '12.6 min')
    """
    if seconds < 0.5:
        return "< 1 s"
    return f"{seconds:.0f} s" if seconds < 59.95 else f"{seconds / 60:.1f} min"


def _paired_cells(paired: dict) -> str:
    """Three cells of a table of paired differences (:func:`_paired`): mean ± std, the 95 %
    interval, and on how many of the seeds the method is the better, in percentage points."""
    ci, n = paired.get("ci95"), len(paired["seeds"])
    better = "-" if paired.get("better_on") is None else f"{paired['better_on']} of {n}"
    return (f"{_pm(_pct(paired['mean']), _pct(paired['std']), n)} | {f'{_pct(ci[0])} to {_pct(ci[1])}' if ci else '-'} | "
            f"{better}")


def _best_val_epoch(r: RunRecord) -> dict:
    """The metrics of a run's epoch of best validation accuracy, the first of equals: the epoch
    whose weights it keeps in best.pt."""
    scored = [m for m in r.metrics if m.get("val_acc") is not None]
    return max(scored, key=lambda m: m["val_acc"])  # (max keeps the first of equals)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _setting(value: object) -> str:
    return "-" if value in (None, "") else str(value)


def render_markdown(summary: dict, has_samples: bool, notes: str | None = None, has_quality_plot: bool = False) -> str:
    ds, labels, split = summary["dataset"], summary["labels"], summary.get("split", "test")
    word = SPLIT_NAMES[split]
    lines = [f"# {ds}, {labels} labels ({summary['labels_per_class']} per class)", "",
             f"{word.capitalize()} accuracy at the **last** epoch of each run, mean ± sample std over runs (seeds); "
             "each seed is its own class-balanced labeled split, shared by every method. "
             f"The best-epoch column selects the epoch on the {word} rows and is optimistic: it is "
             "shown for reference, never as the result.", "",
             ]
    if split == "val":
        lines += ["**Scored on validation rows, not on a test set** (`ssgan report --split val`): each run held "
                  "these rows out of training (`--val`), but if any setting was chosen by looking at them, these "
                  "figures are optimistic. Hold out a test set (`x_test`, `y_test` in the npz) for an unbiased "
                  "figure.", ""]
    has_val = split == "test" and any(m["val_acc"] for m in summary["methods"].values())
    if has_val:
        lines += ["Validation accuracy is measured on rows held out of the training set (`--val`); "
                  "settings are chosen on it, never on the test set. The val-selected column is the test accuracy "
                  "at each run's epoch of best validation accuracy (the weights that runs keep in best.pt): a choice made "
                  "on the validation rows, fair to report, but not the last epoch of the paper's protocol.", ""]
    lines += ["| method | runs | seeds | " + ("val accuracy % | " if has_val else "") +
              f"{word} accuracy % | {word} errors (of N) | " + ("test % at best val epoch (val-selected) | "
                                                                 if has_val else "") +
              f"best epoch % ({word}-selected) | time per run |",
              "|---|---|---|" + ("---|---|" if has_val else "") + "---|---|---|---|"]
    for name, m in summary["methods"].items():
        seeds = ",".join(map(str, m["seeds"]))
        kind = " (all labels)" if name == "full" else " (baseline)" if m["baseline"] else ""
        n = len(m["runs"])
        count = f"{n} of {n + len(m['diverged'])}" if m["diverged"] else f"{n}"
        val = (f"{_pm(_pct(m['val_acc_mean']), _pct(m['val_acc_std']), n)} | " if m["val_acc"] else "- | ") if has_val else ""
        chosen = ((f"{_pm(_pct(m['at_best_val_acc_mean']), _pct(m['at_best_val_acc_std']), n)} | "
                   if m["at_best_val_acc"] else "- | ") if has_val else "")
        lines.append(
            f"| {name}{kind} | {count} | {seeds} | {val}"
            f"{_pm(_pct(m[f'{split}_acc_mean']), _pct(m[f'{split}_acc_std']), n)} | "
            f"{_pm(format(m[f'{split}_errors_mean'], '.1f'), format(m[f'{split}_errors_std'], '.1f'), n)} "
            f"(of {m[f'n_{split}']}) | {chosen}{_pct(m['best_epoch_acc_mean'])} | {_duration(m['seconds_mean'])} |")
    diverged = [(name, d) for name, m in summary["methods"].items() for d in m["diverged"]]
    if diverged:
        lines += ["", f"**{len(diverged)} run{'s' if len(diverged) > 1 else ''} diverged** and "
                  f"{'are' if len(diverged) > 1 else 'is'} counted apart: the NaN guard stopped "
                  f"{'them' if len(diverged) > 1 else 'it'} before the last epoch, so the means above are over the "
                  "other runs of each method (`runs`: finished of all), and the gains over baselines pair only those:", ""]
        lines += [f"- {name}, seed {d['seed']} ({d['run']}): {d['why']}" for name, d in diverged]
    if summary["gains"]:
        lines += ["", f"Gain in {word} accuracy (percentage points), paired by seed: mean ± std of the "
                  "differences, their 95 % confidence interval (Student's t) and the seeds on which the method "
                  "is the better:", "",
                  "| method | over | seeds | gain (pp) | 95 % CI (pp) | better on |", "|---|---|---|---|---|---|"]
        for g in summary["gains"]:
            lines.append(f"| {g['method']} | {g['baseline']} | {len(g['seeds'])} | " + _paired_cells(
                {"mean": g["gain_mean"], "std": g["gain_std"], "ci95": g.get("gain_ci95"),
                 "better_on": g.get("better_on"), "seeds": g["seeds"]}) + " |")
    if summary.get("against"):
        control, rows = summary["against"]["method"], summary["against"]["differences"]
        with_val = any(row["val"] for row in rows)
        lines += ["", f"Difference from **{control}** (`--against`), paired by seed: each method's accuracy minus "
                  f"{control}'s on the seeds both ran, in percentage points (mean ± std, 95 % confidence interval, "
                  f"the seeds on which the method is the better)" + (
                      "; choose on the validation columns, and report the test ones" if with_val else "") + ":", "",
                  "| method | seeds | " + ("val difference (pp) | val 95 % CI | val better on | " if with_val else "")
                  + f"{word} difference (pp) | {word} 95 % CI | {word} better on |",
                  "|---|---|" + "---|---|---|" * (2 if with_val else 1)]
        for row in rows:
            paired = row[split]
            cells = [_paired_cells(row["val"]) if row["val"] else "- | - | -"] if with_val else []
            cells.append(_paired_cells(paired) if paired else "- | - | -")
            seeds = len(paired["seeds"]) if paired else "none in common"
            lines.append(f"| {row['method']} | {seeds} | " + " | ".join(cells) + " |")
        windows = [row for row in rows if row.get("val_window")]
        if windows:
            n_val, first = windows[0]["val_window"]["n_val"], windows[0]["val_window"]["window"]
            over = (f"its last {VAL_WINDOW} epochs (all of them in shorter runs)" if isinstance(first, int) else
                    f"{_window_words(first)} (`--window`)")
            lines += ["", f"Validation errors (of {n_val}) against **{control}**, paired by seed: each run's mean over "
                      f"{over}, which steadies a single epoch's reading; the method's minus the control's, "
                      "negative for fewer errors (mean ± std, 95 % confidence interval, the seeds with fewer "
                      "errors, each seed's difference). Choose on these by a rule written before the runs; the test "
                      "columns above are reported:", "",
                      f"| method | seeds | epochs averaged | {control} | method | difference (errors) | 95 % CI | "
                      "fewer errors on | per seed |", "|---|---|---|---|---|---|---|---|---|"]
            for row in windows:
                w = row["val_window"]
                n, ci = len(w["seeds"]), w["ci95"]
                difference = _pm(f"{w['mean']:+.1f}", f"{w['std']:.1f}", n)
                interval = f"{ci[0]:+.1f} to {ci[1]:+.1f}" if ci else "-"
                per_seed = ", ".join(f"{k}: {d:+.1f}" for k, d in zip(w["seeds"], w["differences"]))
                span = w["window"] if isinstance(w["window"], int) else "{}-{}".format(*w["window"])
                lines.append(f"| {row['method']} | {n} | {span} | {np.mean(w['control']):.1f} | "
                             f"{np.mean(w['method']):.1f} | {difference} | {interval} | {w['fewer_on']} of {n} | "
                             f"{per_seed} |")
    settings = summary["settings"]
    if settings:
        keys = list(next(iter(settings.values())))
        lines += ["", "Settings in which the methods differ (everything else is the same):", "",
                  "| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, values in settings.items():
            lines.append(f"| {name} | " + " | ".join(_setting(values[k]) for k in keys) + " |")
    diag = {name: m for name, m in summary["methods"].items() if m["last_epoch_diagnostics"]}
    if diag:
        lines += ["", "Mode-collapse indicators and discriminator outputs at the last epoch, mean over runs "
                  "(spread: mean pairwise distance of generated samples over that of real ones; class entropy: "
                  "of the classifier's histogram of generated samples, 1 = spread evenly over the classes):", "",
                  "| method | sample spread | class entropy | D(real) | D(fake) | real/fake loss | runs with warnings |",
                  "|---|---|---|---|---|---|---|"]
        for name, m in diag.items():
            d = m["last_epoch_diagnostics"]
            lines.append(f"| {name} | {d['sample_spread']:.3f} | {d['class_entropy']:.3f} | {d['d_real']:.3f} | "
                         f"{d['d_fake']:.3f} | {d['loss_unl']:.3f} | {m['runs_with_warnings']} of {len(m['runs'])} |")
    probes = {name: m["ema_probe"] for name, m in summary["methods"].items() if m.get("ema_probe")}
    if probes:
        windows = sorted({json.dumps(row["window"]) for rows in probes.values() for row in rows})
        last = (_window_words(json.loads(windows[0])) if len(windows) == 1 else
                f"the last {VAL_WINDOW} epochs, or all of a method's shorter runs ({', '.join(windows)})")
        lines += ["", "Moving-average decays scored beside the runs (`--ema-probe`; the same training, so each "
                  "decay is paired with the run's own by run): errors, mean ± std over runs. Choose on the "
                  f"validation columns (the mean of {last} steadies a single epoch's "
                  "reading); the test column is reported, not chosen on. Every average starts with the warm-up "
                  "min(decay, (1 + n) / (10 + n)) at update n, so a decay acts only from the step at which the "
                  "warm-up reaches it:", "",
                  f"| method | decay | runs | val errors, last epoch | val errors, mean of {last} "
                  "| difference from the run's own decay | test errors, last epoch |",
                  "|---|---|---|---|---|---|---|"]

        def cell(pair, runs):
            return "-" if pair is None else _pm(f"{pair[0]:.1f}", f"{pair[1]:.1f}", runs)

        for name, rows in probes.items():
            for row in rows:
                decay = f"{row['decay']} (the run's own)" if row["own"] else row["decay"]
                if row["reached_at"] > row["steps"]:
                    decay += (f"; not reached in the runs' {row['steps']:,} steps (from step {row['reached_at']:,}): "
                              "the warm-up's average throughout")
                diff = "0" if row["own"] else cell(row["val_window_difference"], row["runs"])
                lines.append(f"| {name} | {decay} | {row['runs']} | {cell(row['val'], row['runs'])} | "
                             f"{cell(row['val_window'], row['runs'])} | {diff} | {cell(row['test'], row['runs'])} |")
    quality = {name: m["sample_quality"] for name, m in summary["methods"].items() if m.get("sample_quality")}
    if quality:
        q0 = next(iter(quality.values()))
        real = q0["real"]
        lines += ["", f"Sample quality at the last epoch, mean ± std over runs: {q0['n']} generated samples against "
                  f"the test set, on the features of {q0['network']} (FID: lower is better; classifier score: "
                  "up to the number of classes; precision and recall: k-NN manifolds, k = 3). The last row is "
                  + ("the same number of real training images" if q0["n_real"] == q0["n"] else
                     f"{q0['n_real']} real training images, all the training set holds (fewer than the samples: "
                     "a smaller set's FID is higher)") + ", the level that samples can reach:", "",
                  "| method | FID | classifier score | precision | recall |", "|---|---|---|---|---|"]
        for name, q in quality.items():
            lines.append(f"| {name} | " + " | ".join(_pm(f"{q[k]:.3f}", f"{q[k + '_std']:.3f}", q["runs"])
                                                     for k in QUALITY_KEYS) + " |")
        lines.append("| real training images | " + " | ".join(f"{real[k]:.3f}" for k in QUALITY_KEYS) + " |")
    lines += ["", f"Per-run {word} accuracies (last epoch):", ""]
    for name, m in summary["methods"].items():
        jumped = {j["run"]: j["epochs"] for j in m["loss_jumps"]}  # (by run: one seed may label two splits)
        accs = ", ".join([f"seed {s}: {_pct(a)}" + (f" (labeled loss jumped at {epochs_words(jumped[run])})"
                                                    if run in jumped else "")
                          for s, a, run in zip(m["seeds"], m[f"{split}_acc"], m["runs"])]
                         + [f"seed {d['seed']}: diverged" for d in m["diverged"]])
        lines.append(f"- {name}: {accs}")
    if any(m["loss_jumps"] for m in summary["methods"].values()):
        lines += ["", f"Where the labeled loss jumped (above {JUMP_LOSS} and {JUMP_FACTOR} times its lowest before, "
                  "counted above the least a class-smoothed loss can be), a few steps threw the classifier off its "
                  "labeled examples; a last epoch soon after may be low while it recovers, so that run's accuracy "
                  "says less about its method, and a gain over it more than the method earns. Networks trained on "
                  "few labels alone (same-net) do this at a constant learning rate without class smoothing "
                  "(README, Diagnostics); each run's metrics.jsonl shows its losses by epoch."]
    lines += ["", f"![{word} accuracy per epoch](accuracy.png)", "", "![training losses](losses.png)", "",
              "![gradient norms and mode-collapse indicators](diagnostics.png)", ""]
    if has_quality_plot:
        lines += ["![FID per epoch](quality.png)", ""]
    if has_samples:
        lines += ["![generated samples](samples.png)", ""]
    lines += ["## Commands that produced the runs", "", "```"]
    commands = [c for m in summary["methods"].values() for c in m["commands"]]
    lines += list(dict.fromkeys(commands)) or ["(no command.txt in these runs)"]
    lines += ["```", "", "Trained with (the runs' environment.jsonl):", ""]
    for e in summary.get("trained_with", []):
        runs = f"{e['runs']} run{'s' * (e['runs'] != 1)}"
        if k := e.get("elsewhere_too"):  # (so that the counts may add up to more than the runs)
            who = "" if e["runs"] == 1 else "each " if k == e["runs"] else f"{k} of them "
            runs += f" ({who}also under another line: resumed with other software or on another machine)"
        lines.append(f"- {e['environment']}: {runs}" if e["environment"] else
                     f"- on {', '.join(e['devices'])}, the software and machine not recorded (made before ssgan kept "
                     f"environment.jsonl): {runs}")
    lines += ["", f"Report made on: {summary['machine']}.", ""]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def write_report(paths: list[str | Path], out: str | Path, notes: str | Path | None = None,
                 samples: int | None = None, log=lambda msg: None, split: str = "test", device="cpu",
                 against: str | None = None, window: tuple[int, int] | None = None) -> list[Path]:
    """Write report.md, report.json, accuracy.png, losses.png, diagnostics.png, samples.png (when
    a run has sample grids) and quality.png (when runs were scored at several epochs) into
    ``out``; return the files written, report.md first.

    ``notes``: a markdown file whose text ends report.md under "Notes" (what the numbers mean).
    ``samples``: score that many samples of the last generator of every GAN run whose last
    epoch has no sample-quality scores (runs trained without ``--quality-every``); the scores
    go into the report only, the run folders are not changed; they are drawn and scored on ``device``.
    ``split``: ``test``, or ``val`` to score the rows each run held out with ``--val`` (for data
    without a test set; the report says so). ``against``: a method that every other one is paired
    with by seed, as an ablation's control (:func:`summarize`); ``window``: the first and last epoch
    that it and the ``--ema-probe`` decays are compared on, where not each run's last ten.

    Runs of several label counts (one dataset) make a report of each count in ``out/labels-N/``,
    and in ``out`` a report.md and report.json of every method's accuracy at each count and
    labels.png, the accuracy against the count; it returns those three files and the folders."""
    import matplotlib

    matplotlib.use("Agg")
    check_folder_can_be(out, f"--out {out}")  # (before the runs are scored)
    notes_text = None
    if notes is not None:
        try:
            notes_text = Path(notes).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise SSGANError(f"cannot read notes file {notes}: {getattr(e, 'strerror', None) or e}") from None
    if split not in SPLIT_NAMES:
        raise SSGANError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {split!r}")
    runs = find_runs(paths, split)
    groups = label_groups(runs)
    if against is not None:  # (before any scoring)
        for labels, group in groups.items():
            _check_against(against, list(group_by_method(group)), "" if len(groups) == 1 else f" of {labels} labels")
    _check_window(window, runs, against)
    if samples:
        _score_last_generators(runs, samples, log, device)
    out = Path(out)
    earlier = (out / "report.json").is_file()  # (a report made here before: what it wrote and this does not goes)
    with whole_or_none(out, "then run the command again (no file of the report was written)") as stage:
        if len(groups) == 1:
            names = _write_one(runs, stage, notes_text, split, against, window, log)[0]
        else:  # several label counts: a report of each in its own folder, and a table of them all
            folders = {labels: f"labels-{labels}" for labels in groups}
            summaries = {labels: _write_one(group, stage / folders[labels], None, split, against, window, log)[1]
                         for labels, group in groups.items()}
            summary = summarize_label_counts(summaries, folders)
            plot_label_counts(summary, stage / "labels.png")
            write_json(stage / "report.json", summary)
            write_text(stage / "report.md", render_label_counts(summary, notes_text))
            names = ["report.md", "report.json", "labels.png", *folders.values()]
    written = [out / name for name in names]
    if earlier:
        _remove_stale(out, written)
    return written


REPORT_FILES = ("report.md", "report.json", "accuracy.png", "losses.png", "diagnostics.png", "samples.png",
                "quality.png", "labels.png")  # what a report writes, some of it only where its runs have it


def _remove_stale(out: Path, written: list[Path]) -> None:
    """The files and ``labels-N`` folders that an earlier report wrote into ``out`` and this one
    did not (sample grids of runs no longer given, a label count's report, a single count's
    figures beside a table of counts): left there, they read as this report's. Other files stay."""
    kept = {p.name for p in written}
    for name in REPORT_FILES:
        if name not in kept and (out / name).is_file():
            (out / name).unlink()
    for folder in out.glob("labels-*"):
        if folder.name not in kept and folder.is_dir() and (folder / "report.json").is_file():
            _remove_stale(folder, [])
            if not any(folder.iterdir()):
                folder.rmdir()


def _write_one(runs: list[RunRecord], out: Path, notes_text: str | None, split: str, against: str | None,
               window: tuple[int, int] | None, log) -> tuple[list[str], dict]:
    """The report of ``runs`` of one label count in the folder ``out``: the names of
    :func:`write_report`'s files, and the summary in its report.json."""
    out.mkdir(exist_ok=True)
    summary = summarize(runs, split, against, window)
    diverged = [r for r in runs if r.diverged]
    if diverged:
        log(f"{len(diverged)} of {len(runs)} runs diverged; the report counts {'them' if len(diverged) > 1 else 'it'} "
            "apart, not in the means: "
            + ", ".join(f"{r.path} ({guard_words(r.diverged)})" for r in diverged))
    groups = group_by_method(finished(runs))  # (a diverged run's curves stop short: the figures leave it out)
    plot_accuracy(groups, out / "accuracy.png", split)
    plot_panels(groups, LOSS_PANELS, "Training losses", out / "losses.png")
    plot_panels(groups, DIAGNOSTIC_PANELS, "Training diagnostics", out / "diagnostics.png")
    has_samples = plot_samples(groups, out / "samples.png")
    has_quality_plot = plot_quality(groups, out / "quality.png")
    write_json(out / "report.json", summary)
    write_text(out / "report.md", render_markdown(summary, has_samples, notes_text, has_quality_plot))
    figures = ["accuracy.png", "losses.png", "diagnostics.png"] + ["samples.png"] * has_samples + ["quality.png"] * has_quality_plot
    return ["report.md", "report.json", *figures], summary


def summarize_label_counts(summaries: dict[int, dict], folders: dict[int, str]) -> dict:
    """The numbers of a report over several label counts, from each count's :func:`summarize`
    (``summaries``, whose report lies in ``folders``): per method, its accuracy and errors at
    each count (None where it has no runs of that count), and each SSL method's gain over each
    baseline at each count."""
    first = next(iter(summaries.values()))
    split = first["split"]
    counts = list(summaries)
    names = list(dict.fromkeys(name for s in summaries.values() for name in s["methods"]))
    names.sort(key=lambda name: (is_baseline(name), name))  # (as a report orders them: SSL methods first)
    methods = {}
    for name in names:
        ms = [summaries[n]["methods"].get(name) for n in counts]
        some = next(m for m in ms if m)
        methods[name] = {"baseline": some["baseline"], **{key: [m[key] if m else None for m in ms] for key in (
            "seeds", f"{split}_acc_mean", f"{split}_acc_std", f"{split}_errors_mean", f"{split}_errors_std")},
            "runs": [len(m["runs"]) if m else 0 for m in ms]}
    pairs = list(dict.fromkeys((g["method"], g["baseline"]) for n in counts for g in summaries[n]["gains"]))
    gains = []
    for method, baseline in pairs:  # each SSL method's gain over each baseline, paired by seed, at each count
        at = [next((g for g in summaries[n]["gains"] if (g["method"], g["baseline"]) == (method, baseline)), None)
              for n in counts]
        gains.append({"method": method, "baseline": baseline, **{key: [g[key] if g else None for g in at] for key in (
            "gain_mean", "gain_std", "gain_ci95", "better_on")}, "seeds": [len(g["seeds"]) if g else 0 for g in at]})
    return {"dataset": first["dataset"], "split": split, "labels": counts,
            "labels_per_class": [summaries[n]["labels_per_class"] for n in counts],
            f"n_{split}": [next(iter(summaries[n]["methods"].values()))[f"n_{split}"] for n in counts],
            "reports": {str(n): f"{folders[n]}/report.md" for n in counts}, "methods": methods, "gains": gains}


def render_label_counts(summary: dict, notes: str | None = None) -> str:
    """report.md of several label counts: a table of methods against counts, as the paper's
    table of 20 to 200 labels, and links to each count's own report."""
    split, counts = summary["split"], summary["labels"]
    word = SPLIT_NAMES[split]
    lines = [f"# {summary['dataset']}: {word} accuracy by the number of labeled examples", "",
             f"{word.capitalize()} accuracy at the **last** epoch of each run, mean ± sample std over runs (seeds), "
             "for each number of labeled examples (n: runs); each seed is its own class-balanced labeled split, "
             "shared by every method of its count. Each count's own report has the confidence intervals of the gains, "
             "the settings, the diagnostics, the figures and the commands.", ""]
    if split == "val":
        lines += ["**Scored on validation rows, not on a test set** (`ssgan report --split val`): if any setting was "
                  "chosen by looking at them, these figures are optimistic.", ""]
    head = "| method | " + " | ".join(f"{n} labels ({k} per class)" for n, k in zip(counts, summary["labels_per_class"]))
    rule = "|---" * (len(counts) + 1) + "|"
    scored = sorted(set(summary[f"n_{split}"]))  # (validation rows: as many as each count's runs held out)
    of = f"of {scored[0]}" if len(scored) == 1 else "of " + ", ".join(f"{n} at {c} labels" for c, n in zip(
        counts, summary[f"n_{split}"]))
    for title, key, fmt in ((f"{word.capitalize()} accuracy %", "acc", _pct),
                            (f"{word.capitalize()} errors ({of})", "errors", lambda v: f"{v:.1f}")):
        lines += [f"{title}:", "", head + " |", rule]
        for name, m in summary["methods"].items():
            kind = " (all labels)" if name == "full" else " (baseline)" if m["baseline"] else ""
            cells = [f"{_pm(fmt(mean), fmt(std), n)} (n={n})" if n else "-" for mean, std, n in zip(
                m[f"{split}_{key}_mean"], m[f"{split}_{key}_std"], m["runs"])]
            lines.append(f"| {name}{kind} | " + " | ".join(cells) + " |")
        lines.append("")
    if summary.get("gains"):
        lines += [f"Gain in {word} accuracy (percentage points) over each baseline, paired by seed: mean ± std of the "
                  "differences and the seeds on which the method is the better (each count's report has the 95 % "
                  "confidence intervals):", "", "| method | over | " + head.removeprefix("| method | ") + " |",
                  "|---" + rule]
        for g in summary["gains"]:
            cells = [f"{_pm(_pct(mean), _pct(std), n)} ({better} of {n})" if n else "-" for mean, std, better, n in zip(
                g["gain_mean"], g["gain_std"], g["better_on"], g["seeds"])]
            lines.append(f"| {g['method']} | {g['baseline']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"![{word} accuracy by labeled examples](labels.png)", "", "Each count's report:", ""]
    lines += [f"- [{n} labels]({summary['reports'][str(n)]})" for n in counts]
    lines.append("")
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def _score_last_generators(runs: list[RunRecord], n: int, log, device="cpu") -> None:
    """Add sample-quality scores to the last metrics of every GAN run that lacks them (in memory)."""
    from ssgan.runs import sample_quality_of_run
    from ssgan.train import load_checkpoint

    todo = [r for r in finished(runs) if not (is_baseline(r.method) or r.config.get("unlabeled_weight", 1.0) == 0
                                    or r.last.get("fid") is not None)]
    missing = [r.path.name for r in todo if not (r.path / "checkpoint.pt").is_file()]
    if missing:  # checked before any scoring, so that nothing is half done
        raise SSGANError(f"--samples scores each GAN run's last generator from its checkpoint.pt, which "
                         f"{len(missing)} {'run lacks' if len(missing) == 1 else 'runs lack'} "
                         f"({', '.join(missing)}): make the report without --samples")
    for r in todo:  # (idem: a run on vectors among image runs had failed after the others were scored)
        shape = load_checkpoint(r.path / "checkpoint.pt", mmap=True)["shape"]
        if len(shape) != 3:
            raise SSGANError(f"--samples scores generated images, and {r.path.name} was trained on "
                             f"{r.config['dataset']}, which is not image data (shape {tuple(shape)}): make the "
                             "report without --samples")
    for r in todo:
        log(f"scoring {n} samples of {r.path.name}")
        q = sample_quality_of_run(r.path, n, device=device)
        r.metrics[-1] = {**r.last, **q["generated"], "quality_network": q["network"], "quality_samples": n,
                         "quality_real": q["real"], "quality_real_samples": q["n_real"]}
