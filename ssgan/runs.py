"""Run folders: the contract between ``fit``, ``eval``, ``sample`` and ``report``.

A run folder ``runs/00003-mnist-100-s1/`` holds

- ``config.json``: the resolved :class:`~ssgan.config.Config`, written before training;
- ``split.json``: the labeled split (reusable with ``--split``);
- ``scaler.json``: how the data were scaled into the networks' units (:mod:`ssgan.scaling`);
- ``metrics.jsonl``: one JSON object per epoch;
- ``checkpoint.pt``: state dicts of both networks, the EMA discriminator, the optimisers,
  the config, the epoch and the RNG states, rewritten atomically every epoch;
- ``best.pt`` (runs with ``--val``): the generator and the EMA discriminator at the epoch of
  best validation accuracy, which ``--weights best`` uses;
- ``samples/epoch_NNNN.png``: grids from a fixed noise.

Folders are numbered and never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shlex
import shutil
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ssgan import distributed
from ssgan.batched import SeedGroup, check_stackable
from ssgan.compiling import CompileFailed
from ssgan.config import Config, class_smoothing_of, from_dict
from ssgan.data import (FOLDER_PREFIX, NPZ_PREFIX, Dataset, load_dataset, load_npz, npz_path, own_kind, own_path,
                        reads_data_root)
from ssgan.errors import MEND_RUN_FILE, DataWarning, SSGANError, first_line
from ssgan.fileio import WriteFailed, check_folder_can_be, trainer_lock, write_json, write_text, writing
from ssgan.graphs import use_graphs
from ssgan.launch import RESUME_CHANGES, OutOfDeviceMemory, resume_command
from ssgan.models import TRAINING_BYTES_PER_PARAMETER, build_models, parameter_count, resolve_arch
from ssgan.scaling import NONE, Scaler, fit_scaler, load_scaler, resolve_scale, save_scaler, scale_dataset
from ssgan.splits import Split, check_split, default_labels, load_split, make_split, same_data, save_split
from ssgan.stops import Diverged
from ssgan.train import (BEST_WEIGHTS, Reporter, StopFlag, TrainResult, check_batch_rows, guard_words, load_checkpoint,
                         resolve_device, resolve_precision, save_checkpoint, to_device, train)

_RUN_ID = re.compile(r"^(\d{5})-")


def _slug(text: str) -> str:
    """``text`` as part of a folder name: runs of other characters than letters, digits and
    dots become one dash (a tag ``lr/0.001`` names folders ``...-lr-0.001``).

    >>> _slug("lr/0.001"), _slug("fm + adv")
    ('lr-0.001', 'fm-adv')
    """
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def _data_slug(name: str) -> str:
    """A dataset's name in a folder name: an npz file's stem or an image folder's name
    (``npz:/data/cancer.npz``: ``cancer``; ``folder:/data/birds/``: ``birds``)."""
    return _slug(re.sub(r"\.npz$", "", Path(own_path(name) or name).name)) or "data"


RUN_TAG_MAX = 120  # characters of a run folder's name after its number; config.json keeps the whole tag


def new_run_dir(out: str | Path, tag: str) -> Path:
    """Create ``out/NNNNN-tag`` with the next free number; never reuse an existing folder.

    Processes that start runs into one ``--out`` at once (``--parallel``, a queue of jobs) take
    turns under an advisory lock on the folder itself: the tag is part of the name, so two of
    them could otherwise both make folder NNNNN under different tags."""
    out = Path(out)
    tag = tag[:RUN_TAG_MAX].rstrip("-")  # (a long --tag or npz name: file systems take 255 bytes a name)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with _exclusive(out):
            while True:
                taken = [int(m.group(1)) for p in out.iterdir() if (m := _RUN_ID.match(p.name))]
                path = out / f"{max(taken, default=-1) + 1:05d}-{tag}"
                try:
                    path.mkdir()
                    return path
                except FileExistsError:  # made by a process outside the lock (an older ssgan)
                    continue
    except (NotADirectoryError, FileExistsError):
        raise SSGANError(f"--out {out} is not a directory; choose another --out") from None
    except OSError as e:  # (a folder above it that cannot be made, a read-only file system, a full disk)
        raise SSGANError(f"cannot create a run folder in {out}: {e.strerror or e}; choose another --out") from None


@contextlib.contextmanager
def _exclusive(folder: Path):
    """Hold an exclusive ``flock`` on a folder (a no-op where fcntl is missing, i.e. Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _check_network_size(cfg: Config, data: Dataset, device: torch.device) -> None:
    """A one-line error, before a run folder is made, where the training state of the networks
    alone (:data:`TRAINING_BYTES_PER_PARAMETER` a parameter) is more than ``device`` holds: a
    mistyped width (--z-dim 1000000000) had stopped in torch's allocation traceback, its run
    folder left behind."""
    if device.type == "cuda":
        held = torch.cuda.get_device_properties(device).total_memory
    elif device.type == "cpu" and hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        held = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    else:  # (MPS shares the machine's memory, and says nothing of it)
        return
    n = parameter_count(cfg, data.shape, data.n_classes)
    if n * TRAINING_BYTES_PER_PARAMETER > held:
        raise SSGANError(f"the networks have {n:,} parameters, about {n * TRAINING_BYTES_PER_PARAMETER / 2**30:,.0f} GiB "
                         f"to train (weights, gradients and Adam's moments of G and D, and D's average), more than the "
                         f"{held / 2**30:,.0f} GiB of {device}: choose smaller networks (--z-dim, --g-hidden, --d-hidden, "
                         "or --g-width and --d-width)")


def prepare(cfg: Config, networks: bool = True) -> tuple[Dataset, Split, Scaler]:
    """Load the data and the labeled split, checking everything that can be checked up front,
    and scale the data with a scaler fitted on the training rows (``cfg.scale``). Without
    ``networks`` (a scikit-learn baseline), the networks' checks and the batch's are left out."""
    device = resolve_device(cfg.device)
    data = load_dataset(cfg.dataset, cfg.data_root, cfg.download, cfg.image_size)
    if networks:
        resolve_arch(cfg, data.shape)  # the networks must take this data's shape
        _check_network_size(cfg, data, device)
    if cfg.quality_every and (data.x_test is None or not data.is_image):
        raise SSGANError(f"--quality-every needs image data with a test set to compare samples with; "
                         f"{data.name} has {'no test set' if data.x_test is None else f'examples of shape {data.shape}'}")
    if cfg.translate and not data.is_image:
        raise SSGANError(f"--translate moves images; {data.name} has examples of shape {data.shape}: drop --translate")
    if cfg.translate >= min(data.shape[1:], default=cfg.translate + 1):  # (every image moved out of its own frame)
        raise SSGANError(f"--translate {cfg.translate} moves images by up to {cfg.translate} pixels, and those of "
                         f"{data.name} are {data.shape[2]}x{data.shape[1]}: give fewer than {min(data.shape[1:])}")
    if cfg.split is not None:
        split = load_split(cfg.split)
        digest = data.sha256() if split.data_sha256 is not None else None  # (once: it reads every array)
        if split.dataset != data.name and digest is not None and digest == split.data_sha256 \
                and own_path(split.dataset) and own_path(data.name):
            split = replace(split, dataset=data.name)  # the same data, moved: their SHA-256 says so
        check_split(split, data, cfg.split)
        if not same_data(split, data, digest):
            raise SSGANError(f"split file {cfg.split} was drawn from other data than {data.name} holds now (their "
                             "SHA-256 differs): make a new split of these data with ssgan split")
        if cfg.labels is not None and cfg.labels != split.labels:
            raise SSGANError(f"--labels {cfg.labels} disagrees with split file {cfg.split} ({split.labels} labels): drop one")
        if cfg.val and cfg.val != split.n_val:
            raise SSGANError(f"--val {cfg.val} disagrees with split file {cfg.split} ({split.n_val} validation examples): drop one")
    else:
        split = make_split(data, default_labels(cfg.dataset, cfg.labels), cfg.seed, cfg.val)
    if networks:
        check_batch_rows(cfg.batch_size, data, split)
    if data.x_test is None and not split.n_val:  # (the run's summary had shown "-" for its test accuracy, alone)
        warnings.warn(f"{data.name} has no test set and the run holds out no rows (--val 0): nothing will measure "
                      "its accuracy on rows it did not train on; hold labeled rows out with --val N (a multiple of "
                      f"its {data.n_classes} classes), or " + ("add a test/CLASS/ folder of images" if
                                                               data.name.startswith(FOLDER_PREFIX) else
                                                               "give the npz x_test and y_test"),
                      DataWarning, stacklevel=2)
    train_rows = np.setdiff1d(np.arange(len(data.x_train)), split.val_indices)
    scaler, notes = fit_scaler(resolve_scale(cfg.scale, data), data.x_train, train_rows)
    data, more = scale_dataset(scaler, data, in_place=True)  # (the arrays were loaded above, for this run alone)
    if scaler.kind == "standard" and cfg.g_output not in (None, "none"):  # set by hand: the default is none
        notes.append(f"--g-output {cfg.g_output} keeps generated samples in [0, 1], but --scale standard data have "
                     "zero mean and unit variance, mostly outside it: use --g-output none")
    for message in notes + more:
        warnings.warn(message, DataWarning, stacklevel=2)
    return data, split, scaler


def _own_place(dataset: str, new: str = "") -> str:
    """How a command names the place of the user's own ``dataset`` (of its kind): ``npz:PATH``,
    ``folder:DIR`` (``new``: before the word, ``npz:NEWPATH``)."""
    return f"{own_kind(dataset)}{new}{'DIR' if dataset.startswith(FOLDER_PREFIX) else 'PATH'}"


def check_run_dataset(cfg: Config, run_dir: Path, moved_with: str | None = None, data_option: str | None = None) -> None:
    """A one-line error, before reading, where a run's own npz file or image folder is no longer
    where it was named (by a path relative to the folder the run was started in, or not);
    ``moved_with`` (the option, such as --resume, that takes --dataset or --data-root where the
    data moved): it says so (also for a torchvision dataset whose --data-root is not there);
    ``data_option`` (eval's ``--data``): the option that names the own data's new place."""
    if moved_with and cfg.data_root is not None and reads_data_root(cfg.dataset) \
            and not Path(cfg.data_root).expanduser().is_dir():
        raise SSGANError(f"{run_dir} was trained on {cfg.dataset} under --data-root {cfg.data_root}, which is not "
                         f"there now: put it back; where it moved, give --data-root NEWDIR with {moved_with}")
    if (given := own_path(cfg.dataset)) is not None:
        path = Path(given).expanduser()
        if path.exists():
            return
        new = _own_place(cfg.dataset, "NEW")
        moved = (f"; where they moved, give --dataset {new} with {moved_with}" if moved_with
                 else f"; where they moved, give {data_option} {new}" if data_option else "")
        if not path.is_absolute():
            raise SSGANError(f"{run_dir} was trained on {cfg.dataset}, a path relative to the folder it was started "
                             f"in, and there is no {path} in {Path.cwd()}: run this command from that folder (if it "
                             f"was this one, put {path} back){moved}")
        raise SSGANError(f"{run_dir} was trained on {cfg.dataset}, and there is no {path} now: put it back{moved}")


def _run_split(run_dir: Path, data: Dataset) -> tuple[Split, bool]:
    """The labeled split of the run folder ``run_dir`` for ``data``, its own data as
    :func:`_own_data` loads them (and checks against the split's SHA-256), named by their place
    now; and whether that place is another than the split names (its data moved)."""
    split = load_split(run_dir / "split.json")
    moved = split.dataset != data.name
    if moved:
        split = replace(split, dataset=data.name)
    check_split(split, data, run_dir / "split.json")
    return split, moved


def run_data(cfg: Config, run_dir: Path) -> Dataset:
    """A run's dataset in the units its networks were trained in (its ``scaler.json``)."""
    return scale_dataset(load_scaler(run_dir), _own_data(cfg, run_dir), in_place=True)[0]  # (loaded for this alone)


def _own_data(cfg: Config, run_dir: Path, classes: list[str] | None = None, data_option: str | None = None) -> Dataset:
    """A run's dataset in its own units, as it is loaded; a one-line error where its arrays are not
    those the run was trained on (a file or folder changed since: the split's rows would be others),
    which names the classes where they are no longer ``classes``, the run's names for them
    (``data_option``: as :func:`check_run_dataset`'s)."""
    check_run_dataset(cfg, run_dir, data_option=data_option)
    data = load_dataset(cfg.dataset, cfg.data_root, False, cfg.image_size)
    if classes is not None and list(data.classes or ()) != classes:
        names, other = (("class folders", "images with --data folder:DIR") if data.name.startswith(FOLDER_PREFIX)
                        else ("classes", "data with --data npz:PATH"))  # (an npz names them in its classes array)
        raise SSGANError(f"the {names} of {data.name} are now {', '.join(data.classes or ()) or 'none'}, but "
                         f"{run_dir} trained on {', '.join(classes)}: put them back, or score other {other}")
    if not (run_dir / "split.json").is_file():
        return data
    split = load_split(run_dir / "split.json")
    if split.dataset != cfg.dataset and split.data_sha256 is None:  # (moved by fit --resume --dataset)
        raise SSGANError(f"{run_dir} was trained on {split.dataset}, and its split.json, made before ssgan kept the "
                         f"SHA-256 of the data, cannot tell whether {cfg.dataset} holds the same: resume it with its "
                         f"data at {split.dataset}")
    if not same_data(split, data):
        if data.name.startswith(FOLDER_PREFIX) and data.shape[0] == 1:  # a run made before grey palettes read as grey
            legacy = load_dataset(cfg.dataset, cfg.data_root, False, cfg.image_size, channels=3)
            if same_data(split, legacy):
                return legacy
        if split.dataset != cfg.dataset:
            raise SSGANError(f"{cfg.dataset} is not the data that {run_dir} trained on, {split.dataset} (the SHA-256 "
                             "of its arrays is not the one in its split.json): give the place of those data")
        raise SSGANError(f"{cfg.dataset} has changed since {run_dir} trained on it (the SHA-256 of its arrays is not "
                         "the one in its split.json): restore the data it trained on; to score other data, give "
                         "them to eval --data")
    return data


def method_name(config: dict) -> str:
    """What a report calls the method of a run, from its ``config.json``."""
    if config.get("method"):  # scikit-learn baselines
        return str(config["method"])
    if config.get("tag"):
        return str(config["tag"])
    return "same-net" if config.get("unlabeled_weight", 1.0) == 0 else "ssgan"


def start_run(out: str | Path, data: Dataset, split: Split, seed: int, config: dict,
              command: str | None = None, scaler: Scaler = NONE) -> Path:
    """Create a run folder and write what every run has before it trains: config, split,
    scaler, command."""
    method = method_name(config)
    suffix = "" if method == "ssgan" else f"-{_slug(method) or 'tag'}"
    run_dir = new_run_dir(out, f"{_data_slug(data.name)}-{split.labels}-s{seed}{suffix}")
    try:
        with writing(run_dir, "then run the command again (nothing was trained), or choose another --out"):
            write_json(run_dir / "config.json", config)
            save_split(split, run_dir / "split.json")
            save_scaler(scaler, run_dir / "scaler.json")
            if command:
                write_text(run_dir / "command.txt", command + "\n")
    except WriteFailed:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir


ELASTIC_ID = "elastic_run_id"  # in a run folder made under torchrun: the job's TORCHELASTIC_RUN_ID


def fit(cfg: Config, reporter: Reporter | None = None, command: str | None = None,
        stop: StopFlag | None = None, group: SeedGroup | None = None) -> tuple[Path, TrainResult]:
    """Train one run into a new run folder under ``cfg.out``; return the folder and the result
    (``stop``: the flag of the thread that started this one, if it runs in another; ``group``:
    the runs its steps are stacked with: :func:`ssgan.train.train`).

    Under torchrun, rank 0 makes the folder and every rank trains into it; when torchrun
    restarts the job (``--max-restarts``), the folder this job made is resumed instead."""
    world, device = distributed.setup(resolve_device(cfg.device))
    distributed.check_batch(cfg.batch_size, world.size)
    use_graphs(cfg, device, world.active, lambda _: None)  # an impossible --graphs on stops before a folder is made
    data, split, scaler = prepare(cfg)
    if group is not None:  # before a folder is made
        check_stackable(cfg, data.shape)
    cfg = resolve_arch(cfg, data.shape).replace(labels=split.labels, val=split.n_val, nproc=world.size,
                                                scale=scaler.kind, precision=resolve_precision(cfg.precision, device))
    if cfg.unlabeled_weight == 0:  # (a run of labels alone says which smoothing it took; a GAN run's baselines take theirs)
        cfg = cfg.replace(class_smoothing=class_smoothing_of(cfg))
    job = os.environ.get("TORCHELASTIC_RUN_ID") if world.active else None
    if job and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0:
        earlier = distributed.broadcast(_run_of_job(cfg.out, job) if world.main else None)
        if earlier is not None:
            return resume(earlier, reporter)
    run_dir = None
    if world.main:
        run_dir = start_run(cfg.out, data, split, cfg.seed, cfg.to_dict(), command, scaler)
        if job:
            write_text(run_dir / ELASTIC_ID, job + "\n")
    run_dir = distributed.broadcast(run_dir)
    with removed_unless_checkpointed(run_dir if world.main else None), _training_into(run_dir, world.main):
        return run_dir, train(cfg, data, split, run_dir, reporter, scaler=scaler.to_dict(), stop=stop, group=group)


@contextlib.contextmanager
def removed_unless_checkpointed(run_dir: Path | None, kept: str = "checkpoint.pt"):
    """Remove ``run_dir``, just made for a run, if a failed compile, Ctrl-C or SIGTERM (before
    the loop's own handler is installed) ends the block before the run's first checkpoint
    (``kept``: the file that keeps what was trained): nothing trained in it was kept, and
    running the seed again makes a new one."""
    try:
        yield
    except (CompileFailed, KeyboardInterrupt):
        if run_dir is not None and not (run_dir / kept).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def summary(run_dir: Path, result: TrainResult) -> dict:
    """What ``ssgan fit --json`` prints of one finished run."""
    last = result.history[-1]
    return {"run": str(run_dir), "dataset": result.config.dataset, "labels": result.config.labels,
            "seed": result.config.seed, "epochs": last["epoch"], "test_acc": last["test_acc"],
            "test_errors": last["test_errors"], "val_acc": last.get("val_acc"), "train_acc": last["train_acc"],
            "seconds": sum(m["seconds"] for m in result.history)}


def _run_of_job(out: str | Path, job: str) -> Path | None:
    """The run folder under ``out`` that the torchrun job ``job`` made, if any."""
    for marker in sorted(Path(out).glob(f"*/{ELASTIC_ID}")):
        if marker.read_text().strip() == job:
            return marker.parent
    return None


def resume(path: str | Path, reporter: Reporter | None = None, stop: StopFlag | None = None,
           group: SeedGroup | None = None, epochs: int | None = None, device: str | None = None,
           dataset: str | None = None, data_root: str | None = None) -> tuple[Path, TrainResult]:
    """Continue a run from its last checkpoint, with its own config and split, in one process
    or several (any number: the checkpoint holds no per-process state). A run stopped before
    its first checkpoint starts afresh in its own folder. ``stop`` and ``group``: as for :func:`fit`.
    ``epochs``: train to that many epochs instead of the run's own (:func:`_with_epochs`), a
    finished run included. ``device``: train on it instead of the run's own (a run made with
    ``--device cuda`` continued on a machine without one). ``dataset``, ``data_root``: where
    the run's data are now (:func:`_moved_data`)."""
    path = Path(path)
    cfg, ckpt = _resumed(path, epochs, device, dataset, data_root)
    return _train_in(path, cfg, reporter, ckpt, stop, group)


# the settings that `fit --from` may change in the run it starts (the rest are the parent's own,
# since the weights, the split and the data go on): the length, the schedule, the optimisers'
# settings, the moving average, the loss weights, D's noise, where it trains and what it writes
BRANCH_CHANGES = ("epochs", "lr", "lr_d", "lr_g", "lr_decay_start", "beta1", "beta1_d", "beta1_g", "beta2", "adam_eps",
                  "ema_decay", "entropy_weight", "entropy_epochs", "balance_weight", "consistency_weight",
                  "label_smoothing", "class_smoothing", "d_input_noise", "d_hidden_noise", "tag", "device", "out",
                  "sample_every", "checkpoint_every", "quality_every", "quality_samples", "dataset", "data_root")


def branch(parent: str | Path, changes: dict, command: str | None = None) -> Path:
    """A new run folder that goes on from the last checkpoint of the run folder ``parent``
    (its weights, optimiser states, moving average, random states and history) with the
    settings of ``changes`` (keys of :data:`BRANCH_CHANGES`, any other refused before a folder
    is made; ``out``: where, the parent's folder by default): a lever of the late schedule
    measured against its control from the very same weights. The new folder holds that
    checkpoint with its own config, so training it is resuming it (:func:`resume`), and a kill
    before its first epoch leaves a folder that resumes; its metrics start with the parent's
    epochs. ``dataset``, ``data_root``: where the parent's data are now (:func:`_moved_data`)."""
    parent, changes = Path(parent), dict(changes)
    if wrong := [key for key in changes if key not in BRANCH_CHANGES]:
        raise SSGANError(f"--from {parent} goes on from that run's weights, split and settings, so it cannot change "
                         f"{', '.join(wrong)}: it changes {', '.join(BRANCH_CHANGES)}")
    if not (parent / "checkpoint.pt").is_file() and (parent / "config.json").is_file():
        raise SSGANError(f"--from {parent}: it has no checkpoint.pt (removed, or the run stopped before its first "
                         "epoch), so there is nothing to go on from")
    run = _read_run(parent)
    if "history" not in run.checkpoint:
        raise SSGANError(f"--from {parent}: its checkpoint has no training state to go on from")
    _check_config_json(parent, run.config)
    from ssgan.config import changed

    dataset, data_root = changes.pop("dataset", None), changes.pop("data_root", None)
    cfg = _moved_data(parent, changed(run.config, **{"out": str(parent.parent), **changes}), dataset, data_root,
                      option="--from")
    done = run.checkpoint["epoch"]
    if cfg.epochs <= done:
        raise SSGANError(f"--from {parent}: it has trained {done} epoch{'s' * (done != 1)}, so the new run needs "
                         f"--epochs above {done} (it has {cfg.epochs})")
    check_run_dataset(cfg, parent, moved_with="--from")
    data = run_data(cfg, parent)
    split, _ = _run_split(parent, data)
    run_dir = start_run(cfg.out, data, split, cfg.seed, cfg.to_dict(), command, load_scaler(parent))
    then = "then run the command again (nothing was trained), or choose another --out"
    try:
        with writing(run_dir / "checkpoint.pt", then):
            save_checkpoint(run_dir / "checkpoint.pt", {**run.checkpoint, "config": cfg.to_dict()})
        if (parent / BEST_WEIGHTS).is_file():  # of an epoch the parent's checkpoint has reached: a shared one
            best = {**load_checkpoint(parent / BEST_WEIGHTS), "config": cfg.to_dict()}
            with writing(run_dir / BEST_WEIGHTS, then):
                save_checkpoint(run_dir / BEST_WEIGHTS, best)
    except (WriteFailed, KeyboardInterrupt):
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir


def _resumed(path: Path, epochs: int | None, device: str | None = None, dataset: str | None = None,
             data_root: str | None = None) -> tuple[Config, dict | None]:
    """The config (to ``epochs``, :func:`_with_epochs`; on ``device``, with its data at ``dataset``
    or ``data_root``, :func:`_moved_data`, if given) and the
    checkpoint (None: it starts afresh) with which :func:`resume` continues the run folder
    ``path``, or the one-line error it stops with."""
    if _never_checkpointed(path):
        cfg, ckpt = _with_epochs(path, _config_json(path), None, epochs), None
    else:
        run = _read_run(path)
        _check_config_json(path, run.config)
        cfg, ckpt = _with_epochs(path, run.config, run.checkpoint, epochs), run.checkpoint
    cfg = _moved_data(path, cfg, dataset, data_root)
    check_run_dataset(cfg, path, moved_with="--resume")
    if device is not None:
        cfg = cfg.replace(device=device)
    elif cfg.device.startswith(("cuda", "mps")):  # its own, such as cuda on a machine without one
        try:
            resolve_device(cfg.device)
        except SSGANError as e:
            raise SSGANError(f"{path} was made with {e}") from None
    if ckpt is not None:
        _resumable(Run(path, cfg, ckpt))
    return cfg, ckpt


def _moved_data(path: Path, cfg: Config, dataset: str | None, data_root: str | None, option: str = "--resume") -> Config:
    """``cfg`` of the run folder ``path`` with its data where they are now: its own npz file or
    image folder at ``dataset`` (of the same kind), a torchvision dataset under ``data_root``
    (a run moved to another machine, or data moved on one), as ``option`` gives them. The data
    must be those the run trained on: the SHA-256 in its split.json is checked as they load."""
    if dataset is not None and dataset != cfg.dataset:
        kind = own_kind(cfg.dataset)
        if kind is None or not dataset.startswith(kind) or not own_path(dataset):
            where = f"its data moved: {_own_place(cfg.dataset)}" if kind else "a run on its own data"
            raise SSGANError(f"--dataset {dataset}: {path} was trained on {cfg.dataset}; with {option}, --dataset "
                             f"names where the data it trained on are now ({where})")
        cfg = cfg.replace(dataset=dataset)
    if data_root is not None and data_root != cfg.data_root:
        if not reads_data_root(cfg.dataset):  # (own data, toys, bundled)
            raise SSGANError(f"--data-root {data_root}: {path} was trained on {cfg.dataset}, which is not read from a "
                             "data root (torchvision's datasets are)")
        cfg = cfg.replace(data_root=data_root)
    return cfg


def _check_config_json(path: Path, trained: Config) -> None:
    """A one-line error where the config.json of the run folder ``path`` names settings other
    than those its checkpoint was ``trained`` with (edited by hand): resume trains with the
    checkpoint's, and config.json, which reports read, had gone on to say otherwise."""
    import dataclasses

    saved = _config_json(path)
    # not edits: torchrun's size (nproc), and names that do not train (a tag renamed for a report)
    edited = [f.name for f in dataclasses.fields(Config)
              if f.name not in (*RESUME_CHANGES, "nproc", "tag", "out") and getattr(saved, f.name) != getattr(trained, f.name)]
    if edited:
        said = ", ".join(f"{key} {json.dumps(getattr(saved, key))} (trained with {json.dumps(getattr(trained, key))})"
                         for key in edited)
        raise SSGANError(f"{path / 'config.json'} is not the config that the run was trained with: {said}; a run "
                         "continues with its own settings: put them back, or train a new run with these (of the "
                         "settings, --resume changes --epochs, --device, and --dataset or --data-root where its data "
                         "moved)")


def _with_epochs(path: Path, cfg: Config, ckpt: dict | None, epochs: int | None) -> Config:
    """``cfg`` of the run folder ``path`` (its checkpoint ``ckpt``) to train to ``epochs``
    (None: its own), or a one-line error where that run would not be itself continued: a
    length its checkpoint has already passed, or a learning rate that decays over the run's own
    length (a constant rate, the default, trains the same numbers whether a run is made longer
    later or was that long from the start)."""
    if epochs is None or epochs == cfg.epochs:
        return cfg
    done = ckpt["epoch"] if ckpt is not None else 0
    if epochs <= done:
        raise SSGANError(f"--epochs {epochs}: {path} has trained {done} epoch{'s' * (done != 1)} already; "
                         f"give more than {done}")
    if ckpt is not None and cfg.lr_decay_start < 1:
        raise SSGANError(f"--epochs {epochs}: the learning rate of {path} decays to zero over its {cfg.epochs} epochs "
                         f"(--lr-decay-start {cfg.lr_decay_start}), so a run of {epochs} epochs is not this one "
                         "continued: train a new run with --epochs")
    return cfg.replace(epochs=epochs)


class ResumePoint(NamedTuple):
    """Where :func:`resume` continues a run: the epochs its checkpoint finished and the
    iterations into the next (0, 0: it starts afresh), with its config and its examples' shape
    (None before its first checkpoint)."""

    config: Config
    epoch: int
    iteration: int
    shape: tuple[int, ...] | None


def resume_point(path: str | Path, epochs: int | None = None, device: str | None = None, dataset: str | None = None,
                 data_root: str | None = None) -> ResumePoint:
    """Where :func:`resume` would continue the run folder ``path`` (to ``epochs``, on ``device``, its
    data at ``dataset`` or ``data_root``), or the
    one-line error it would stop with (not a run, a run already finished, a run another process
    trains now), without training."""
    path = Path(path)
    cfg, ckpt = _resumed(path, epochs, device, dataset, data_root)
    if ckpt is None:
        point = ResumePoint(cfg, 0, 0, None)
    else:
        point = ResumePoint(cfg, ckpt["epoch"], (ckpt.get("position") or {}).get("iteration", 0), tuple(ckpt["shape"]))
    with _trainer(path, distributed.from_env().main):  # and no other process trains it now
        return point


def _never_checkpointed(path: Path) -> bool:
    """A run stopped before its first checkpoint, which resumes by training from the start."""
    return not (path / "checkpoint.pt").exists() and (path / "config.json").is_file() and (path / "split.json").is_file()


def _config_json(path: Path) -> Config:
    try:
        saved = json.loads((path / "config.json").read_text())
    except json.JSONDecodeError:
        raise SSGANError(f"{path / 'config.json'} is damaged (not JSON); start a new run instead") from None
    _check_networks(path, saved)  # (a scikit-learn baseline's folder looks like a run stopped before its checkpoint)
    return from_dict(saved, f"{path / 'config.json'}")


def _resumable(run: Run) -> Run:
    """``run``, or a one-line error if its checkpoint leaves nothing to resume."""
    if "history" not in run.checkpoint:
        raise SSGANError(f"{run.path}: its checkpoint has no training state to resume from")
    if run.checkpoint["epoch"] >= run.config.epochs and run.checkpoint.get("position") is None:
        epochs = run.config.epochs
        raise SSGANError(f"{run.path} has already finished its {epochs} epoch{'s' * (epochs != 1)}; nothing to resume")
    return run


def _train_in(path: Path, cfg: Config, reporter: Reporter | None, ckpt: dict | None, stop: StopFlag | None = None,
              group: SeedGroup | None = None) -> tuple[Path, TrainResult]:
    """Train in an existing run folder, from its checkpoint ``ckpt`` or (None) from the start."""
    resolve_device(cfg.device)
    data = run_data(cfg, path)
    main = distributed.from_env().main
    split, moved = _run_split(path, data)
    # the lock before the clean-up: another process's temporary files may be in the folder
    with _training_into(path, main):
        if main:
            if moved:  # (under the lock: the folder is this process's now)
                save_split(split, path / "split.json")
            for orphan in path.glob(".*.tmp"):  # left by a kill in the middle of a write
                orphan.unlink()
            (path / DIVERGED).unlink(missing_ok=True)  # (written again if it diverges again)
            config = read_config(path)
            # made longer by --resume --epochs, moved by --device, its data moved: say so there
            changed = {key: getattr(cfg, key) for key in RESUME_CHANGES if config.get(key) != getattr(cfg, key)}
            if changed:
                write_json(path / "config.json", {**config, **changed})
                commands = path / "command.txt"
                write_text(commands, (commands.read_text() if commands.is_file() else "") + resume_command([path])
                           + "".join(f" --{key.replace('_', '-')} {shlex.quote(str(value))}"
                                     for key, value in changed.items()) + "\n")
            if ckpt is None:
                (path / "metrics.jsonl").unlink(missing_ok=True)  # lines of epochs that no checkpoint kept
        return path, train(cfg.replace(nproc=distributed.from_env().size), data, split, path, reporter, resume=ckpt,
                           scaler=load_scaler(path).to_dict(), stop=stop, group=group)


@contextlib.contextmanager
def _training_into(run_dir: Path, main: bool):
    """What holds while a run, new or resumed, trains into ``run_dir``: the folder's lock
    (:func:`_trainer`), one line for the device out of memory, the NaN guard's note kept."""
    with _trainer(run_dir, main), _memory_in_one_line(run_dir), _divergence_noted(run_dir, main):
        yield


DIVERGED = "diverged.txt"  # in a run folder that the NaN guard stopped: its line, which a report quotes


def divergence(run_dir: Path) -> str | None:
    """The NaN guard's line kept in ``run_dir`` (:data:`DIVERGED`), if the guard stopped the run."""
    f = Path(run_dir) / DIVERGED
    return f.read_text().strip() if f.is_file() else None


@contextlib.contextmanager
def _divergence_noted(run_dir: Path, main: bool):
    """Keep the NaN guard's line in the run folder (:data:`DIVERGED`), so that a report can say
    why the run stopped short; a resume removes it before it trains."""
    try:
        yield
    except Diverged as e:
        named = Diverged(e.what, run_dir)  # (the line says where the checkpoint is: several runs may be training)
        if main:
            write_text(run_dir / DIVERGED, f"{named}\n")
        raise named from None


@contextlib.contextmanager
def _memory_in_one_line(run_dir: Path):
    """The device running out of memory while the run trains into ``run_dir``: one line that
    says what to do, where it was a traceback (the run keeps its last checkpoint)."""
    try:
        yield
    except torch.OutOfMemoryError as e:
        raise OutOfDeviceMemory(first_line(str(e)), [str(run_dir)]) from None


def _trainer(run_dir: Path, main: bool):
    """The folder's :func:`ssgan.fileio.trainer_lock`, held by the rank that writes (the
    others train into the folder under it)."""
    return trainer_lock(run_dir) if main else contextlib.nullcontext()


@dataclass(frozen=True)
class Run:
    """What a finished (or interrupted) run folder holds, read back."""

    path: Path
    config: Config
    checkpoint: dict = field(repr=False)  # (its weights: a notebook had printed them, hundreds of thousands of characters)
    device: torch.device = torch.device("cpu")  # where its networks are put to work (eval, predict, sample)
    weights: str = "last"  # whose: the last epoch's (checkpoint.pt), or the best on validation (best.pt)

    def __repr__(self) -> str:
        epoch, epochs = self.checkpoint["epoch"], self.config.epochs
        at = (f"epoch {epoch}, its best on validation" if self.weights == "best"
              else f"epoch {epoch}" + (f" of {epochs}" if epoch < epochs else ""))
        return (f"Run('{self.path}': {self.config.dataset}, {self.config.labels} labels, seed {self.config.seed}, "
                f"{at}, {self.checkpoint['n_classes']} classes, on {self.device})")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.checkpoint["shape"])

    @property
    def classes(self) -> list[str] | None:
        """The classes' names, by index, where the data named them (an image folder's class folders)."""
        named = self.checkpoint.get("classes")
        return None if named is None else list(named)

    @property
    def class_names(self) -> list[str]:
        """What other data name the run's classes by: its classes' names, or "0", "1", ... for a
        run on data without names (class folders, and an npz's ``classes``)."""
        return self.classes or [str(k) for k in range(self.checkpoint["n_classes"])]

    @property
    def channels(self) -> int | None:
        """The channels of the run's images (None for vectors): how a folder's images are read for it."""
        return self.shape[0] if len(self.shape) == 3 else None

    @property
    def height_width(self) -> tuple[int, int] | None:
        """The height and width of the run's images (None for vectors): what a folder's images must have."""
        return self.shape[1:] if len(self.shape) == 3 else None

    def check_eight_bit(self, source: str) -> None:
        """A one-line error for 8-bit pixels (read as [0, 1]) given to a run that trained on floats
        outside [0, 1] (an npz in the user's own units, scaled by the run's scaler): the scaler would
        take them as values near the bottom of the training range, and every prediction would be
        wrong in silence. Floats within [0, 1] are taken to be pixels in ssgan's own units."""
        trained = self.checkpoint.get("value_range")  # (None for 8-bit data, and runs made before it was kept)
        if trained is not None and (trained[0] < 0.0 or trained[1] > 1.0):
            raise SSGANError(f"{source} holds 8-bit pixels, which ssgan reads as [0, 1], but {self.path} trained on "
                             f"values in [{trained[0]:g}, {trained[1]:g}] ({self.config.dataset}): give its examples "
                             "in those units, as floats in an npz")

    def check_examples(self, x: np.ndarray, source: str, verb: str = "save") -> None:
        """A one-line error unless the rows of ``x`` (from ``source``) have the shape the run trained on."""
        if tuple(x.shape[1:]) != self.shape:
            same = math.prod(x.shape[1:]) == math.prod(self.shape)  # (the same values laid out otherwise: flattened)
            raise SSGANError(f"{source} has examples of shape {tuple(x.shape[1:])}, but the run was trained on {self.shape}"
                             + (f": if they hold the same values, {verb} x.reshape(len(x), "
                                f"{', '.join(map(str, self.shape))})" if same else ""))

    def generator(self) -> torch.nn.Module:
        """The generator, on the run's device (a one-line error for a run that trained none)."""
        check_trained_generator(self.path, self.config.to_dict())
        g, _ = build_models(self.config, self.shape, self.checkpoint["n_classes"])
        g.load_state_dict(self.checkpoint["generator"])
        return to_device(g, self.device, self.config.arch).eval()

    @property
    def scaler(self) -> Scaler:
        """How the run's data were scaled: the checkpoint's copy, else ``scaler.json``."""
        stored = self.checkpoint.get("scaler")
        return Scaler.from_dict(stored) if stored else load_scaler(self.path)

    def discriminator(self) -> torch.nn.Module:
        """The EMA discriminator, the model that is evaluated, on the run's device."""
        _, d = build_models(self.config, self.shape, self.checkpoint["n_classes"])
        d.load_state_dict(self.checkpoint["ema"])
        return to_device(d, self.device, self.config.arch).eval()

    @property
    def metrics(self) -> list[dict]:
        """The run's ``metrics.jsonl``, a dict per epoch (read now: a run still training has more
        each epoch)."""
        return read_metrics(self.path)

    @property
    def environment(self) -> list[dict]:
        """What the run trained with, a dict per training session (the start, then each resume):
        its ``environment.jsonl``; [] for a run made before ssgan kept it."""
        from ssgan import environment

        return environment.sessions(self.path)

    # -- in Python: what predict and sample --npz write, on arrays -------------------------------

    def predict_proba(self, x) -> np.ndarray:
        """The class probabilities (N, K) of the rows of ``x`` (the softmax over the EMA
        discriminator's K class logits): the numbers ``ssgan predict`` writes. ``x`` is in the
        data's own units, as an npz of them holds them: 8-bit pixels (uint8), or floats scaled here
        as the run's training data were; images (N, C, H, W) or grey (N, H, W), vectors (N, D)."""
        return self._predictions(x)["proba"]

    def predict(self, x) -> np.ndarray:
        """The predicted class of each row of ``x`` (as :meth:`predict_proba`): its index, which
        :attr:`class_names` names."""
        return self._predictions(x)["pred"]

    def p_real(self, x) -> np.ndarray:
        """The discriminator's probability that each row of ``x`` is real rather than generated
        (the sigmoid of its real/fake logit), as ``ssgan predict`` writes it."""
        return self._predictions(x)["p_real"]

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` samples of the generator in the data's own units (the run's scaling inverted), of
        the shape of its examples: the array ``x`` that ``ssgan sample --n N --seed SEED --npz``
        writes."""
        from ssgan.samples import generate, sample_count

        n = sample_count(n)
        with self.computing():
            x, _ = generate(self.generator(), n, seed)
        return self.scaler.inverse(x.numpy())

    def _predictions(self, x) -> dict[str, np.ndarray]:
        from ssgan.data import array_rows

        rows, eight_bit = array_rows(x)
        self.check_examples(rows, "x", verb="pass")
        return _predictions(*_classified(self, _row_parts(self, rows), f"x ({len(rows)} rows)", "x", eight_bit))

    @contextlib.contextmanager
    def computing(self):
        """The run's device running out of memory while its networks compute (a GPU that other
        jobs share): one line that says what to do, where it was a traceback."""
        try:
            yield
        except torch.OutOfMemoryError as e:
            raise SSGANError(f"the device ({self.device}) ran out of memory ({first_line(str(e))}): free it, or "
                             "compute elsewhere with --device (--device cpu)") from None


WEIGHTS = ("last", "best")  # a run's weights: of its last epoch, or of its best on validation (best.pt)


def load_run(path: str | Path, device: torch.device | str = "cpu", weights: str = "last") -> Run:
    """The run folder ``path`` read back, to use its networks (eval, predict, sample) on
    ``device`` ("auto", "cpu", "cuda", "cuda:N" or "mps", as ``--device``): a run that diverged
    says so in a warning, since its weights are the last good checkpoint's. ``weights``:
    ``"last"``, those of its last epoch (its result), or ``"best"``, those of its epoch of best
    validation accuracy (``best.pt``, which runs trained with ``--val N`` keep).

    Also the Python API to a run that ``ssgan fit`` trained (``ssgan.load_run``): its
    :meth:`Run.predict`, :meth:`Run.predict_proba`, :meth:`Run.p_real` and :meth:`Run.sample`
    on arrays, its :attr:`Run.config` and its networks (:meth:`Run.discriminator`, the EMA
    classifier, and :meth:`Run.generator`)."""
    device = device if isinstance(device, torch.device) else resolve_device(device)
    if weights not in WEIGHTS:
        raise SSGANError(f"weights={weights!r}: give one of {', '.join(WEIGHTS)}")
    run = replace(_read_run(path, weights), device=device)
    if weights == "last" and (line := divergence(run.path)):
        warnings.warn(f"{run.path} diverged ({guard_words(line)}); its checkpoint is the last good one, of epoch "
                      f"{run.checkpoint['epoch']}", DataWarning, stacklevel=2)
    return run


def _read_run(path: str | Path, weights: str = "last") -> Run:
    path = Path(path)
    if not path.is_dir() or not (path / "config.json").is_file():
        inside = child_runs(path) if path.is_dir() else []
        raise SSGANError(f"{path} is not a run folder (no config.json): pass a folder made by `ssgan fit`"
                         + (f"; it holds {len(inside)} run folder{'s' * (len(inside) > 1)}, such as {inside[0]}"
                            if inside else ""))
    saved = read_config(path)
    _check_networks(path, saved)
    name = BEST_WEIGHTS if weights == "best" else "checkpoint.pt"
    if weights == "best" and not (path / name).is_file():
        raise SSGANError(f"{path} has no {name}: " + (
            "it held out no validation rows, so no epoch is best (fit --val N keeps the best epoch's weights); use its "
            "last weights" if not saved.get("val") else
            "it stopped before its first checkpoint, or was trained by a version of ssgan that kept none; use its last "
            "weights"))
    ckpt = load_checkpoint(path / name)
    try:
        cfg = from_dict(ckpt["config"], f"checkpoint {path / name}")
    except SSGANError as e:
        raise SSGANError(f"checkpoint of {path} holds an unusable config: {e}") from None
    return Run(path, cfg, ckpt, weights=weights)


def _check_networks(path: Path, saved: dict) -> None:
    """A one-line error for the folder ``path`` of a scikit-learn baseline (its config, ``saved``,
    names its ``estimator``, :mod:`ssgan.baselines`), which has no networks to use or train."""
    if "estimator" in saved:
        raise SSGANError(f"{path} is a {saved.get('method', 'scikit-learn')} baseline, which has no networks to use or "
                         "train: eval, predict, sample and --resume take runs of ssgan fit (or of baseline same-net or "
                         "full); ssgan report reads it")


def check_trained_generator(path: Path, config: dict,
                            advice: str = "sample a run trained with an unlabeled weight above 0") -> None:
    """A one-line error for the run folder ``path`` (of ``config``) if it trained no generator:
    a supervised-only run (unlabeled weight 0: baseline's same-net and full) keeps its generator
    as initialised, and its samples, and their scores, would be those of random weights."""
    if config.get("unlabeled_weight", 1.0) == 0:
        raise SSGANError(f"{path} is a supervised-only run ({method_name(config)}: unlabeled weight 0), which trains "
                         f"no generator (its weights are the untrained ones): {advice}")


def child_runs(folder: Path) -> list[Path]:
    """The run folders (those with a config.json) directly inside ``folder``, by name."""
    return sorted(c for c in folder.iterdir() if (c / "config.json").is_file())


def read_config(folder: Path) -> dict:
    """A run folder's ``config.json`` as written, or a one-line error if it is damaged."""
    try:
        return json.loads((folder / "config.json").read_text())
    except json.JSONDecodeError:
        raise SSGANError(f"{folder / 'config.json'} is damaged (not JSON): {MEND_RUN_FILE}") from None


def read_metrics(path: str | Path) -> list[dict]:
    """The per-epoch records of a run's ``metrics.jsonl``."""
    path = Path(path) / "metrics.jsonl"
    if not path.is_file():
        raise SSGANError(f"{path.parent} has no metrics.jsonl: it is not a run folder, or it has not finished an epoch")
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise SSGANError(f"{path}, line {n}, is not JSON: the file is damaged; "
                                 "delete that line, or move the run out of the folder") from None
    return records


def evaluate_run(path: str | Path, part: str = "test", data_spec: str | None = None,
                 device: torch.device | str = "cpu", weights: str = "last") -> dict:
    """Score a run's EMA discriminator with :func:`ssgan.metrics.classification_metrics`.

    ``part`` is ``test``, ``train`` (the training rows with known labels) or ``val`` (the
    run's validation rows) of the run's own dataset; ``data_spec`` (``npz:PATH``) scores other
    data of the same shape instead: its ``x_test``/``y_test`` if present, else its labeled rows;
    (``folder:DIR``) the images of ``DIR/test/CLASS/``, else of ``DIR/train/CLASS/``, whose
    class folders are named as the run's classes (``0``, ``1``, ... where its data named none).
    With ``part`` ``train`` or ``val``, ``data_spec`` is where the run's own data are now (moved
    since it trained: the SHA-256 in its split.json is checked).
    The rows are classified as :func:`predict_run` classifies them, a part at a time, on ``device``,
    by the ``weights`` of :func:`load_run`.
    """
    from ssgan.data import folder_labeled_images

    run = load_run(path, device, weights)
    n_classes = run.checkpoint["n_classes"]
    if data_spec is not None and part != "test":  # the run's own rows, of its data moved to data_spec
        kind = own_kind(run.config.dataset)
        if kind is None or not data_spec.startswith(kind):
            raise SSGANError(f"--split {part} scores rows of the run's own data ({run.config.dataset}), and --data "
                             f"{data_spec} is other data (its test set, else its labeled rows are scored): drop one")
        run, data_spec = replace(run, config=run.config.replace(dataset=data_spec)), None
    if data_spec is not None and data_spec.startswith(FOLDER_PREFIX):  # class folders named as the run's classes
        paths, y, read = folder_labeled_images(data_spec, run.class_names)
        source = f"{data_spec} ({read}/ images)"
        parts = _image_parts(run, paths, f"{data_spec} ({read}/)")
        return _scores(run, source, y, _classified(run, parts, source, "x", eight_bit=True)[0])
    if data_spec is not None:
        _check_columns(run, data_spec)
        data = _numbered_as_run(load_npz(npz_path(data_spec), test_only=True), run)  # (x unread beside x_test)
        use_test = data.x_test is not None
        source = f"{data_spec} ({'x_test' if use_test else 'labeled rows of x'})"
    else:
        data = _own_data(run.config, run.path, run.classes, data_option="--data")
        use_test = part == "test"
        source = f"{data.name} {part}"
    x, y = (data.x_test, data.y_test) if use_test else (data.x_train, data.y_train)
    if x is None:
        hint = (f"--split val (the {run.config.val} rows the run held out)" if run.config.val
                else "--split train (its labeled rows; fit with --val N to hold rows out to score)")
        raise SSGANError(f"{data.name} has no test set: use {hint}")
    if part == "val" and data_spec is None:
        val = _run_split(run.path, data)[0].val_indices
        if not len(val):
            raise SSGANError(f"{run.path} has no validation set: it was trained without --val")
        x, y = x[val], y[val]
    elif not use_test:
        x, y = x[y >= 0], y[y >= 0]
    run.check_examples(x, source)
    if y.size and y.max() >= n_classes:
        raise SSGANError(f"{source} has label {y.max()}, but the run knows only {n_classes} classes")
    name = "x_test" if use_test else "x"
    eight_bit = data_spec is not None and not data.real_valued  # (the run's own data are what it trained on)
    return _scores(run, source, y, _classified(run, _row_parts(run, x), source, name, eight_bit)[0])


def _scores(run: Run, source: str, y: np.ndarray, class_logits: torch.Tensor) -> dict:
    """What :func:`evaluate_run` returns for the labels ``y`` and the run's class logits of their rows."""
    from ssgan.metrics import classification_metrics

    return {"run": str(run.path), "data": source, "epoch": run.checkpoint["epoch"], "epochs": run.config.epochs,
            "weights": run.weights, "classes": run.classes,
            **classification_metrics(y, class_logits.argmax(1).numpy(), run.checkpoint["n_classes"])}


def _numbered_as_run(data: Dataset, run: Run) -> Dataset:
    """``data`` with its labels renumbered as the run numbers the classes its ``classes`` array names
    (any of the run's classes, in any order), as a folder's class folders are (a run on data
    without names calls its classes ``0``, ``1``, ...); unnamed labels stay."""
    if data.classes is None:
        return data
    known = run.class_names
    unknown = [name for name in data.classes if name not in known]
    if unknown:
        raise SSGANError(f"{data.name} names classes {', '.join(unknown)}, which {run.path} did not train on "
                         f"(its classes: {', '.join(known)}); score only examples of those")
    index = np.array([known.index(name) for name in data.classes])

    def relabel(y):
        return None if y is None else np.where(y >= 0, index[np.maximum(y, 0)], y)  # (-1 stays unlabeled)

    return replace(data, y_train=relabel(data.y_train), y_test=relabel(data.y_test),
                   n_classes=len(known), classes=None if run.classes is None else tuple(run.classes))


def sample_quality_of_run(path: str | Path, n: int, seed: int = 0, cache_dir: str | None = None, log=lambda m: None,
                          feature_net: str = "reference", device: torch.device | str = "cpu",
                          data_spec: str | None = None, weights: str = "last") -> dict:
    """:func:`ssgan.quality.sample_quality` of a run's generator (drawing its samples on ``device``)
    on its own dataset; ``data_spec`` (``eval --data``), where it holds the run's own data moved
    since (their SHA-256 is its split's), is read in their place."""
    from ssgan.quality import sample_quality

    run = load_run(path, device, weights)
    data = _quality_data(run, data_spec)
    with run.computing():
        scores = sample_quality(run.generator(), data, n, seed, cache_dir, log, feature_net)
    return {"run": str(run.path), "epoch": run.checkpoint["epoch"], **scores}


def _quality_data(run: Run, data_spec: str | None) -> Dataset:
    """The dataset that a run's samples are scored against: its own, at ``data_spec`` where they
    are there (moved since it trained), else at their place. ``eval --samples`` of a run whose
    data had moved told to give ``--data npz:NEWPATH``, and then refused that too."""
    kind = own_kind(run.config.dataset)
    if data_spec is None or kind is None or not data_spec.startswith(kind):
        return run_data(run.config, run.path)
    try:
        return run_data(run.config.replace(dataset=data_spec), run.path)
    except SSGANError as elsewhere:  # (other data at data_spec: the run's own, where they are)
        try:
            return run_data(run.config, run.path)
        except SSGANError:
            raise elsewhere from None


def predict_run(path: str | Path, data_spec: str, key: str = "x", device: torch.device | str = "cpu",
                weights: str = "last") -> dict:
    """The predictions of a run's EMA discriminator on the rows of array ``key`` of an .npz
    (``npz:PATH``), or on the images under a folder (``folder:DIR``, any subfolders; ``files``
    their paths), no labels needed, scaled as the run's training data were: the predicted
    class, the class probabilities (softmax over the K class logits) and ``p_real``, the
    discriminator's probability that a row is real rather than generated (the sigmoid of its
    real/fake logit). The rows are classified a part at a time (:func:`_classified`), on ``device``,
    by the ``weights`` of :func:`load_run`."""
    from ssgan.data import folder_images, load_npz_rows, row_ids

    run = load_run(path, device, weights)
    files = ids = None
    if data_spec.startswith(FOLDER_PREFIX):
        if key != "x":
            raise SSGANError(f"--key {key} names an array of an .npz; {data_spec} is a folder of images: drop --key")
        files = folder_images(data_spec)
        n = len(files)
        source = f"{data_spec} ({n} image{'s' * (n != 1)})"
        parts, eight_bit = _image_parts(run, files, data_spec), True
    else:
        _check_columns(run, data_spec)
        x, eight_bit = load_npz_rows(data_spec, key)
        ids = row_ids(data_spec, key, len(x))
        source, parts = f"{data_spec} ({key})", _row_parts(run, x)
    class_logits, real_logit = _classified(run, parts, source, key, eight_bit)
    return {"run": str(run.path), "data": source, "epoch": run.checkpoint["epoch"], "weights": run.weights,
            "n": len(class_logits), **_predictions(class_logits, real_logit), "files": files, "ids": ids,
            "classes": run.classes}


def _predictions(class_logits: torch.Tensor, real_logit: torch.Tensor) -> dict[str, np.ndarray]:
    """What ``predict`` writes of a discriminator's outputs: the predicted class, the class
    probabilities (the softmax over the K class logits) and ``p_real`` (the sigmoid of the
    real/fake logit); ``Run``'s methods give the same."""
    return {"pred": class_logits.argmax(1).numpy(), "proba": torch.softmax(class_logits, 1).numpy(),
            "p_real": torch.sigmoid(real_logit).numpy()}


def _check_columns(run: Run, data_spec: str) -> None:
    """New rows of a table (``ssgan convert``) whose columns are not those the run's own table
    had, where both name them: one line (:func:`ssgan.tables.check_columns`)."""
    from ssgan.tables import check_columns

    if own_kind(run.config.dataset) == NPZ_PREFIX:
        check_columns(Path(own_path(run.config.dataset)).expanduser(), Path(npz_path(data_spec)).expanduser(), run.path)


PREDICT_CHUNK_VALUES = 1 << 25  # eval and predict take rows a part at a time, about this many values (128 MiB)
PREDICT_BATCH = 1000  # rows the discriminator classifies at once; every part is whole batches of them


def _part_rows(run: Run) -> int:
    """Rows of a part: about :data:`PREDICT_CHUNK_VALUES` values, in whole batches (a row's
    numbers depend on the batch it is computed in, so not on the parts)."""
    return max(1, PREDICT_CHUNK_VALUES // math.prod(run.shape) // PREDICT_BATCH) * PREDICT_BATCH


def _row_parts(run: Run, x: np.ndarray) -> Iterator[np.ndarray]:
    """The rows of ``x``, a part at a time."""
    step = _part_rows(run)
    return (x[i:i + step] for i in range(0, len(x), step))


def _image_parts(run: Run, paths: list[Path], where: str) -> Iterator[np.ndarray]:
    """The images at ``paths`` read a part at a time, as the run's images were (channels,
    ``--image-size``; the first one checked against the size it trained on); after the last
    part, one warning for the colour images of ``where`` read grey for a run on grey images, and
    one for images stored turned (:class:`ssgan.data.Noticed`)."""
    from ssgan.data import Noticed, read_images

    step, noticed = _part_rows(run), Noticed()
    for i in range(0, len(paths), step):
        yield read_images(paths[i:i + step], run.channels, run.config.image_size, run.height_width, noticed=noticed)
    noticed.warn(len(paths), where, f"{run.path} trained on grey images")


def _classified(run: Run, parts: Iterable[np.ndarray], source: str, name: str,
                eight_bit: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The class logits (N, K) and real/fake logits (N,), on the CPU, of the run's EMA
    discriminator (on the run's device) on the rows of ``parts``, arrays in the data's own units
    from ``source``, taken one after another: each checked against the run's shape and scaled as
    its training data were, so that the memory a folder of images takes does not grow with its
    number of images; one warning for values far outside the training range, counted over all
    of them (``name``: what it calls the rows). ``eight_bit``: the rows are 8-bit pixels read as [0, 1], which a run on other
    units refuses (:meth:`Run.check_eight_bit`) before the first part is read."""
    from ssgan.scaling import far_outside, far_warnings
    from ssgan.train import predict_outputs

    if eight_bit:
        run.check_eight_bit(source)
    advice = (f"{run.path} trained on values in [0, 1] (--scale none): give them in those units (8-bit pixels "
              "as uint8, or divided by 255)")
    outputs, far, units = [], 0, 0
    with run.computing():
        discriminator = run.discriminator()
        for part in parts:
            run.check_examples(part, source)
            scaled = run.scaler.transform(part)
            outside, counted = far_outside(run.scaler, scaled, name, advice)
            far, units = far + outside, units + counted
            outputs.append(predict_outputs(discriminator, scaled, run.config.fake_logit, run.device, PREDICT_BATCH))
    for message in far_warnings(run.scaler, far, units, len(run.shape) == 3, name):
        warnings.warn(message, DataWarning, stacklevel=3)
    class_logits, real_logit = (torch.cat(part) for part in zip(*outputs))
    return class_logits, real_logit


PREDICTION_FORMATS = (".csv", ".npz")


def prediction_path(out: str | Path) -> Path:
    """``out`` if predictions can be written there: a .csv or .npz whose folder is one, or is
    not there yet (:func:`write_predictions` makes it, as ``sample`` and ``fit`` make theirs)."""
    out = Path(out)
    if out.suffix.lower() not in PREDICTION_FORMATS:
        raise SSGANError(f"--out {out}: write predictions to a .csv or an .npz file")
    check_folder_can_be(out.parent, f"--out {out}")
    return out


def write_predictions(result: dict, out: str | Path) -> Path:
    """Write :func:`predict_run`'s arrays, atomically: an .npz of ``pred``, ``proba`` and
    ``p_real``, or a .csv with a row per example (``row, pred, p_real, proba_0 .. proba_K-1``);
    images of a folder add their paths (the .npz array ``files``, the .csv column ``file`` after
    ``row``), rows of an .npz that names them their names (``ids``; ``id``), and a run whose
    classes have names adds them (``classes``; ``class`` after ``pred``)."""
    import csv

    from ssgan.fileio import atomic_path

    out = prediction_path(out)
    classes = result.get("classes")
    named, column = next(((result[k], name) for k, name in (("files", "file"), ("ids", "id")) if result.get(k) is not None),
                         (None, None))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".npz":
                with open(tmp, "wb") as f:
                    arrays = {} if named is None else {f"{column}s": np.array([str(p) for p in named])}
                    arrays.update({} if classes is None else {"classes": np.array(classes)})
                    np.savez(f, pred=result["pred"], proba=result["proba"], p_real=result["p_real"], **arrays)
            else:
                with open(tmp, "w", newline="") as f:
                    writer = csv.writer(f, lineterminator="\n")  # (csv's CRLF left \r in the last field for awk, cut)
                    writer.writerow(["row", *([column] if named is not None else []), "pred",
                                     *(["class"] if classes is not None else []), "p_real",
                                     *(f"proba_{k}" for k in range(result["proba"].shape[1]))])
                    for i, (pred, p_real, proba) in enumerate(zip(result["pred"], result["p_real"], result["proba"])):
                        writer.writerow([i, *([str(named[i])] if named is not None else []), int(pred),
                                         *([classes[pred]] if classes is not None else []),
                                         f"{p_real:.6g}", *(f"{p:.6g}" for p in proba)])
    except OSError as e:
        raise SSGANError(f"cannot write {out}: {e.strerror or e}") from None
    return out
