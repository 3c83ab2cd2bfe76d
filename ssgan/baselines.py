"""Supervised-only and classical baselines, trained on exactly the labels of a split.

Each writes a run folder in the same format as ``ssgan fit`` (config.json, split.json,
metrics.jsonl), so ``ssgan report`` treats them alike:

- ``same-net``: the SSL discriminator trained on the labeled examples alone
  (``unlabeled_weight = 0``, same schedule, EMA and input noise), with class smoothing 0.1
  unless set (:func:`ssgan.config.class_smoothing_of`);
- ``full``: the same network and schedule trained on every labeled training row (all 60,000
  for MNIST; the validation set stays out), the fully supervised upper bound, without class
  smoothing unless set;
- ``logreg``: scikit-learn's ``LogisticRegression`` on the labeled pixels;
- ``label-spreading``: scikit-learn's ``LabelSpreading`` with a kNN kernel on labeled and
  unlabeled pixels, the classical semi-supervised baseline.

:func:`settings_of_runs` reads those settings off SSL run folders (``ssgan baseline --run``):
each run's split, and its network and schedule for ``same-net`` and ``full``.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ssgan import environment
from ssgan.config import Config, from_dict
from ssgan.errors import SSGANError
from ssgan.fileio import trainer_lock, write_text
from ssgan.launch import ERROR, SeedsInterrupted, seeds_value, without
from ssgan.runs import (child_runs, fit, method_name, prepare, read_config,
                        removed_unless_checkpointed, start_run)
from ssgan.splits import Split
from ssgan.stops import Interrupted, signal_of


def _sklearn_run(method: str, estimator, cfg: Config, transductive: bool, command: str | None) -> Path:
    data, split, scaler = prepare(cfg, networks=False)  # (logistic regression takes no batches)
    config = {"method": method, "dataset": cfg.dataset, "data_root": cfg.data_root, "labels": split.labels,
              "val": split.n_val, "seed": cfg.seed, "scale": scaler.kind, "estimator": repr(estimator)}
    run_dir = start_run(cfg.out, data, split, cfg.seed, config, command, scaler)
    with removed_unless_checkpointed(run_dir, "metrics.jsonl"), np.errstate(divide="ignore", invalid="ignore"):
        environment.note(run_dir, 0, "cpu")
        # LabelSpreading divides 0 by 0 for rows its kNN graph never links to a label (few
        # labels on well-separated data); it predicts its first class there, and says so in a
        # RuntimeWarning per call that would only clutter the output
        _fit_and_score(estimator, data, split, transductive, run_dir)
    return run_dir


def _fit_and_score(estimator, data, split: Split, transductive: bool, run_dir: Path) -> None:
    t0 = time.perf_counter()
    x = data.x_train.reshape(len(data.x_train), -1)
    y_lab = data.y_train[split.indices]
    if transductive:  # labeled and unlabeled rows; the validation set stays out
        y = np.full(len(x), -1, dtype=np.int64)
        y[split.indices] = y_lab
        pool = split.pool()
        estimator.fit(x[pool], y[pool])
    else:
        estimator.fit(x[split.indices], y_lab)
    train_acc = float((estimator.predict(x[split.indices]) == y_lab).mean())
    metrics = {"epoch": 1, "train_acc": train_acc, "test_acc": None, "test_errors": None, "n_test": 0}
    if split.n_val:
        errors = int((estimator.predict(x[split.val_indices]) != data.y_train[split.val_indices]).sum())
        metrics.update(val_acc=1.0 - errors / split.n_val, val_errors=errors, n_val=split.n_val)
    if data.x_test is not None:
        pred = estimator.predict(data.x_test.reshape(len(data.x_test), -1))
        errors = int((pred != data.y_test).sum())
        metrics.update(test_acc=1.0 - errors / len(pred), test_errors=errors, n_test=len(pred))
    metrics["seconds"] = time.perf_counter() - t0
    write_text(run_dir / "metrics.jsonl", json.dumps(metrics) + "\n")


def settings_of_run(path: str | Path, config: dict | None = None) -> Config:
    """The settings of a semi-supervised run folder for its baselines: its config (network,
    schedule, scaling, device, precision; ``config``, if already read) with its labeled split
    (``split.json``), writing next to it, so that ``same-net`` and ``full`` train the same
    network on the same labels."""
    path = Path(path)
    config_file, split_file = path / "config.json", path / "split.json"
    if not (config_file.is_file() and split_file.is_file()):
        raise SSGANError(f"--run {path} is not a run folder (no config.json and split.json): pass a folder made by ssgan fit")
    config = read_config(path) if config is None else config
    if is_baseline(method_name(config)):
        raise SSGANError(f"--run {path} is a {method_name(config)} baseline: pass the semi-supervised run it belongs to")
    cfg = from_dict(config, str(config_file))  # (its data are checked as a job, after the command line: they may have moved)
    return cfg.replace(split=str(split_file), labels=None, tag=None, out=str(path.parent))


def settings_of_runs(path: str | Path) -> list[Config]:
    """:func:`settings_of_run` of a run folder, or of each semi-supervised run in a folder of
    runs (baselines left out), as ``ssgan report`` takes either."""
    path = Path(path)
    if (path / "config.json").is_file() or not path.is_dir():
        return [settings_of_run(path)]
    configs = [(child, read_config(child)) for child in child_runs(path)]
    runs = [settings_of_run(child, config) for child, config in configs if not is_baseline(method_name(config))]
    if not runs:
        raise SSGANError(f"--run {path} holds no semi-supervised run folder: pass one made by ssgan fit, or the folder of them")
    return runs


# what a baseline run of the scikit-learn methods depends on, beside its split: its data and their scaling
ESTIMATOR_SETTINGS = ("dataset", "data_root", "image_size", "scale")
# what never makes two runs of a network baseline different: where and how it runs, what the
# generator would do (it trains none), the names
_NOT_NETWORK_SETTINGS = {"split", "labels", "tag", "out", "device", "nproc", "sample_every", "checkpoint_every",
                         "unlabeled_weight", "download"}


def baseline_settings(cfg: Config, method: str) -> dict:
    """The settings that decide the baseline run ``method`` of the job ``cfg`` beside its labeled
    split: its data and their scaling (scikit-learn's methods); the network and schedule too
    (same-net, full), less what acts only where a generator trains. Two jobs of one split and
    equal settings would train the same run twice.

    >>> baseline_settings(Config(lr=0.001), "logreg") == baseline_settings(Config(), "logreg")
    True
    >>> [k for k, v in baseline_settings(Config(lr=0.001, entropy_weight=0.0), "same-net").items()
    ...  if v != baseline_settings(Config(), "same-net")[k]]
    ['lr']
    """
    from ssgan.config import GAN_ONLY

    values = cfg.to_dict()
    if method not in NETWORK_BASELINES:
        return {key: values[key] for key in ESTIMATOR_SETTINGS}
    return {key: value for key, value in values.items() if key not in _NOT_NETWORK_SETTINGS and key not in GAN_ONLY}


FULL_SMOOTHING = 0.0  # full's --class-smoothing unless given (same-net's: ssgan.config.LABELS_ONLY_SMOOTHING)


def same_net(cfg: Config, command: str | None = None, reporter=None) -> Path:
    run_dir, _ = fit(cfg.replace(unlabeled_weight=0.0, tag="same-net"), reporter, command=command)
    return run_dir


def full(cfg: Config, command: str | None = None, reporter=None) -> Path:
    from ssgan.train import train

    data, split, scaler = prepare(cfg)
    pool = split.pool()
    pool = pool[data.y_train[pool] >= 0]
    every = Split(split.dataset, split.seed, len(pool), split.n_classes, split.n_train, pool, split.val_indices)
    cfg = cfg.replace(unlabeled_weight=0.0, tag="full", labels=every.labels, val=every.n_val, scale=scaler.kind)
    # (its own default is none: on digits, smoothing 0.1 ended one of six seeds far behind on validation; README)
    cfg = cfg.replace(class_smoothing=FULL_SMOOTHING if cfg.class_smoothing is None else cfg.class_smoothing)
    run_dir = start_run(cfg.out, data, every, cfg.seed, cfg.to_dict(), command, scaler)
    with removed_unless_checkpointed(run_dir), trainer_lock(run_dir):
        train(cfg, data, every, run_dir, reporter, scaler=scaler.to_dict())
    return run_dir


def logreg(cfg: Config, command: str | None = None, reporter=None) -> Path:
    from sklearn.linear_model import LogisticRegression

    return _sklearn_run("logreg", LogisticRegression(max_iter=2000), cfg, False, command)


def label_spreading(cfg: Config, command: str | None = None, reporter=None) -> Path:
    from sklearn.semi_supervised import LabelSpreading

    return _sklearn_run("label-spreading", LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2, max_iter=100),
                        cfg, True, command)


# method -> its function (cfg, command, reporter: the progress of a network's training; scikit-learn's have none)
BASELINES = {"same-net": same_net, "full": full, "logreg": logreg, "label-spreading": label_spreading}
NETWORK_BASELINES = ("same-net", "full")  # the others are scikit-learn estimators: no epochs, batches or device
# baseline's options that act on the network baselines alone (said to do nothing beside the others alone)
NETWORK_OPTIONS = ("epochs", "batch_size", "device", "precision", "class_smoothing")


def stopped(stop: Interrupted | KeyboardInterrupt, command: Sequence[str], jobs: Sequence[Config],
            methods: Sequence[str], done: int, given_by: str) -> BaseException:
    """What a signal leaves of ``ssgan baseline`` (``command``: its words) when it stopped
    ``methods[done]`` on ``jobs[0]``, the runs ``jobs`` given by ``given_by`` (``seeds``, ``run``
    or ``split``): the stopped run to resume, and the commands of the methods and runs not
    started (:class:`ssgan.launch.SeedsInterrupted`); ``stop`` itself if nothing is left.

    A network's training loop stops with a checkpoint (:class:`Interrupted`); elsewhere (a run
    setting up, a scikit-learn fit) Ctrl-C or SIGTERM raise KeyboardInterrupt, the run's folder
    is removed, and its method is among those not started."""
    if isinstance(stop, Interrupted):
        if stop.run_dir is None:  # (not the rank that speaks)
            return stop
        signum, resumes, methods_left = stop.signum, [str(stop.run_dir)], methods[done + 1:]
    else:
        signum, resumes, methods_left = signal_of(stop), [], methods[done:]
    jobs_left = jobs[1:]
    if not (methods_left or jobs_left):
        return stop
    words = without(list(command), ("--seeds", "--run", "--split"))
    rest = []
    if methods_left:
        name, which = named(jobs[:1], given_by)
        rest.append(f"{', '.join(methods_left)} of {name}, with " + shlex.join(
            [*without(words, ("--method",)), *(w for m in methods_left for w in ("--method", m)), *which]))
    if jobs_left:
        name, which = named(jobs_left, given_by)
        rest.append(f"{name}, with " + shlex.join([*words, *which]))
    return SeedsInterrupted(signum, resumes, "; ".join(rest))


def run_in_processes(jobs: Sequence[Config], methods: Sequence[str], units: list[tuple[int, int]], parallel: int,
                     command: Sequence[str], given_by: str, warn=lambda who, message: None, progress=None,
                     on_result=lambda result: None, on_diverged=lambda line: None) -> tuple[list[dict], list[tuple]]:
    """Train the baseline runs ``units`` (places in ``jobs`` x ``methods``), at most ``parallel``
    at a time, each in a process of its own: ``ssgan baseline`` of that one run and method
    (``command``: the words of the whole command; ``given_by``: seeds, run or split). Return
    their results (each run's entry of ``--json``) in the order of ``units`` and the runs that
    diverged (seed, name, the NaN guard's line), as ``ssgan baseline`` makes them in sequence;
    another failure is raised once the others end. SIGINT or SIGTERM reach every child: a
    network checkpoints, and one line says what to resume and what to start
    (:class:`ssgan.launch.SeedsInterrupted`).

    What is shown goes through the callbacks: ``warn(who, message)`` for each warning of a
    child (``who``: ``same-net seed 3``), ``progress(who)``, if given, the
    :class:`ssgan.train.Reporter` of a network's epochs, which its child tells this process;
    ``on_result(result)`` as a run ends, ``on_diverged(line)`` with the line of one that diverged."""
    from ssgan.launch import PROGRESS_ENV, _threads, checkpointed, drive_children, start_child

    network_only = tuple(f"--{k.replace('_', '-')}" for k in NETWORK_OPTIONS)  # (a scikit-learn child would warn)
    base = [w for w in without(list(command)[1:], ("--seeds", "--run", "--split", "--method", "--parallel")) if w != "--json"]
    env = _threads(dict(os.environ), min(parallel, len(units)))
    if progress is not None:
        env[PROGRESS_ENV] = "1"  # (its epochs, which the child tells this process)
    pending, done, diverged_runs, failures, resumes, unstarted = list(units), {}, [], [], [], []

    def start(unit: tuple[int, int]):
        i, j = unit
        method, who = methods[j], f"{methods[j]} seed {jobs[i].seed}"
        args = base if method in NETWORK_BASELINES else without(base, network_only)
        reporter = progress(who) if progress is not None and method in NETWORK_BASELINES else None
        return start_child([*args, "--method", method, *named([jobs[i]], given_by)[1]], env,
                           lambda message: warn(who, message), reporter)

    def finish(unit: tuple[int, int], code: int, out: str, lines: list[str], stopped: int | None) -> None:
        i, j = unit
        seed, method = jobs[i].seed, methods[j]
        if code == 0:
            done[unit] = json.loads(out.strip().splitlines()[-1])[0]
            on_result(done[unit])
        elif run := checkpointed(code, lines, stopped):  # a network stopped with its checkpoint
            resumes.append((units.index(unit), run))  # (named in the order of the runs, not of their ends)
        elif stopped:  # stopped before it trained, or a scikit-learn fit: its folder removed
            unstarted.append(unit)
        elif code == 3:  # the NaN guard: the run failed, not the study
            said = f"{method:16s} seed {seed}: {ERROR}"  # (the child's line of its run)
            guard = next((line[len(said):] for line in lines if line.startswith(said)), lines[-1] if lines else "")
            diverged_runs.append((seed, f"{method} of seed {seed}", guard))
            on_diverged(f"{said}{guard}")
        else:
            failures.append((method, seed, code, lines[-1] if lines else f"exit code {code}"))

    signum = drive_children(pending, parallel, start, finish)
    if signum is not None:
        left = sorted([*unstarted, *pending])
        words = without(list(command), ("--seeds", "--run", "--split", "--method")
                        + (("--parallel",) if len(left) < 2 else ()))
        rest = []
        for j, method in enumerate(methods):
            of = [jobs[i] for i, jj in left if jj == j]
            if of:
                name, which = named(of, given_by)
                rest.append(f"{method} of {name}, with " + shlex.join([*words, "--method", method, *which]))
        raise SeedsInterrupted(signum, [run for _, run in sorted(resumes)], "; ".join(rest) or None, parallel)
    if failures:
        raise failed_runs(failures, len(done), len(units), parallel)
    return [done[u] for u in units if u in done], diverged_runs


def failed_runs(failures: list[tuple[str, int, int, str]], finished: int, total: int, parallel: int) -> SSGANError:
    """The error of baseline runs that failed in processes of their own (method, seed, exit code,
    the child's last line) of ``total`` that ran ``parallel`` at a time, ``finished`` of them
    to the end, as :func:`ssgan.launch.failed` says fit's: several out of device memory resumed
    by one line, else the first one's own line, or what it exited with."""
    from ssgan.launch import failed

    return failed([(k, code, line) for k, (_, _, code, line) in enumerate(failures)], [{}] * finished, total,
                  parallel, what=lambda k: f"the {failures[k][0]} run of seed {failures[k][1]}", unit="baseline runs")


def named(jobs: Sequence[Config], given_by: str) -> tuple[str, list[str]]:
    """What ``ssgan baseline`` calls the runs ``jobs`` given by ``given_by`` (``seeds``, ``run``
    or ``split``), and the options that give exactly them: ``seed 3`` and ``--seeds 3-3``, or
    ``runs a, b`` and ``--run a --run b``."""
    plural = "s" if len(jobs) > 1 else ""
    if given_by == "seeds":
        seeds = [j.seed for j in jobs]
        return f"seed{plural} {','.join(map(str, seeds))}", ["--seeds", seeds_value(seeds)]
    paths = [str(Path(j.split).parent) if given_by == "run" else j.split for j in jobs]  # a run's split is in it
    return f"{given_by}{plural} {', '.join(paths)}", [w for path in paths for w in (f"--{given_by}", path)]


def shared_runs(jobs: list, methods: tuple[str, ...], flag: str, splits_of: dict) -> dict[tuple[int, int], str]:
    """Of ``baseline``'s ``jobs`` x ``methods`` (their places), those that would train a run
    already trained by an earlier job (the same labeled split and the settings the method
    depends on: an ablation's runs of one seed share their split, and logreg trained once per
    run had made duplicates that ``report`` refuses; full's rows are every label but the
    validation ones, which the counts of a label budget share), each with that job's name. Runs of one
    split whose network or schedule differ are one line for a network baseline: it would train
    two runs on one split that a report cannot tell apart. ``splits_of``: the jobs' split files, read."""
    def where(job, method: str) -> tuple:  # (the labeled split: its rows, or the seed that draws them)
        full = method == "full"  # every labeled row but the validation ones: the runs of a label budget's counts share it
        if not job.split:
            return (job.dataset, job.seed) + ((job.labels, job.val) if job.val or not full else ())
        s = splits_of[job.split]
        return ((s.dataset, job.seed) if full else (s.dataset, tuple(s.indices))) + (tuple(s.val_indices),)

    def name(job) -> str:
        return str(Path(job.split).parent if flag == "--run" else job.split) if job.split else f"seed {job.seed}"

    first: dict[tuple, tuple[int, dict]] = {}
    shared = {}
    for j, method in enumerate(methods):
        for i, job in enumerate(jobs):
            settings, place = baseline_settings(job, method), (method, where(job, method))
            if place not in first:
                first[place] = (i, settings)
                continue
            k, earlier = first[place]
            if settings == earlier:
                shared[(i, j)] = name(jobs[k])
                continue
            differ = [key for key in settings if settings[key] != earlier[key]]
            raise SSGANError(f"{name(jobs[k])} and {name(job)} share the labeled split of seed {job.seed} but differ "
                             f"in {', '.join(differ)}: {method} would train twice on one split, runs that a report "
                             f"cannot tell apart; give {flag} the runs of one setting (the control's), or train "
                             "logreg and label-spreading alone, once per split")
    return shared


def check_once(jobs: list, methods: tuple[str, ...], flag: str, splits_of: dict) -> None:
    """One line if ``baseline`` would train one method on one split twice (a --run or --split
    given twice, as itself or inside a folder given too, or a --method twice): the second run
    measured nothing new, and ``report`` refuses the pair as one seed counted twice
    (``splits_of``: the jobs' split files, read)."""
    if twice := next((m for m in methods if methods.count(m) > 1), None):
        raise SSGANError(f"--method {twice} is given twice: name each method once")
    seen: dict = {}
    for job in jobs:
        key = (job.replace(split=None), tuple(splits_of[job.split].indices) if job.split else None)
        named = Path(job.split).parent if flag == "--run" else job.split  # (a run's job is its split.json)
        if key in seen and flag == "--run" and Path(seen[key]).resolve() == Path(named).resolve():
            raise SSGANError(f"--run {named} is given twice (named twice, or also in a folder named): name each run once")
        if key in seen:
            raise SSGANError(f"{seen[key]} and {named} are the same labeled split (seed {job.seed}): each baseline "
                             f"trains once on it, so give {flag} one of them")
        seen[key] = named


def is_baseline(method: str) -> bool:
    return method in BASELINES


def beside(run_dir: str | Path, part: str = "test") -> list[dict]:
    """The supervised-only baselines trained on exactly the labels of the run folder ``run_dir``
    and kept beside it (``ssgan baseline --run RUN`` puts them there), finished: each one's
    method, folder, the accuracy and errors of its last epoch on ``part`` (``test`` or
    ``val``), as its ``metrics.jsonl`` holds them, and the epochs at which its labeled loss
    jumped (:func:`ssgan.diagnostics.labeled_loss_jumps`); what ``ssgan eval`` shows beside the run's own.
    ``full`` trains on other labels (every one), so it is not among them."""
    from ssgan.diagnostics import labeled_loss_jumps, loss_floor
    from ssgan.runs import read_metrics
    from ssgan.splits import load_split

    run_dir = Path(run_dir)
    try:
        own = load_split(run_dir / "split.json")
    except (OSError, SSGANError):
        return []
    found = []
    for other in child_runs(run_dir.parent):
        try:
            config, split, metrics = read_config(other), load_split(other / "split.json"), read_metrics(other)
        except (OSError, ValueError):  # (a folder of another kind, or damaged: not this run's baseline)
            continue
        method = method_name(config)
        last = metrics[-1] if metrics else {}
        if (other.resolve() == run_dir.resolve() or not is_baseline(method) or method == "full"
                or (split.data_sha256 or split.dataset) != (own.data_sha256 or own.dataset)
                or not np.array_equal(split.indices, own.indices) or not np.array_equal(split.val_indices, own.val_indices)
                or last.get("epoch") != config.get("epochs", 1) or last.get(f"{part}_acc") is None):
            continue
        found.append({"method": method, "run": str(other), "accuracy": last[f"{part}_acc"],
                      "errors": last[f"{part}_errors"], "loss_jumps": labeled_loss_jumps(metrics, loss_floor(config, split.n_classes))})
    return found
