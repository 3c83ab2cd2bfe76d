"""The ``ssgan`` command line: a thin click layer, each command calling one library function."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

import click

from ssgan import __version__, progress
from ssgan.config import (FAKE_LOGITS, FM_NORMS, G_LOSSES, MOMENT_SPACES, PARALLEL_MODES, PRECISIONS, SEED_MAX,
                          SPLIT_NAMES, seed_list)
from ssgan.errors import DataWarning, SSGANError
from ssgan.fileio import check_folder_can_be


class UserError(click.ClickException):
    """Printed by click as one line, ``Error: ...``, with exit code 2."""

    exit_code = 2


def _warnings_as_one_line(main_rank: bool, default):
    """A ``warnings.showwarning`` that prints DataWarnings of the library (ssgan.errors) as
    ``Warning: ...`` lines on stderr and hands every other warning to ``default``."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            if main_rank:  # once a command, however many seeds' runs find it
                progress.warn_once(str(message))
        else:
            default(message, category, filename, lineno, file, line)

    return show


class Group(click.Group):
    def invoke(self, ctx: click.Context):
        from ssgan.launch import ERROR, RESUME, SeedsInterrupted, resume_command
        from ssgan.stops import Diverged, Interrupted, Terminated, sigterm_raises

        # under torchrun only rank 0 speaks; the others exit alike (read as ssgan.distributed.from_env reads it, which
        # would import torch for every command: `ssgan convert --help` had taken 1.5 s)
        main_rank = int(os.environ.get("RANK", 0)) == 0
        previous = warnings.showwarning
        warnings.showwarning = _warnings_as_one_line(main_rank, previous)
        progress.SHOWN.clear()  # a new command (the tests run many in one process)
        try:
            with sigterm_raises():
                return super().invoke(ctx)
        except Diverged as e:
            if main_rank:
                click.echo(f"{ERROR}{e}", err=True)
            ctx.exit(3)
        except SSGANError as e:
            if not main_rank:
                ctx.exit(UserError.exit_code)
            raise UserError(str(e)) from None
        except OSError as e:  # the file system's refusal that no command turned into its own line: say it in one
            if not main_rank:
                ctx.exit(UserError.exit_code)
            where = f"{e.filename}: " if e.filename else ""
            raise UserError(f"{where}{e.strerror or e}") from None
        except Interrupted as e:
            if main_rank:
                where = f" {RESUME}{resume_command([e.run_dir])}" if e.run_dir else ""
                click.echo(f"Interrupted ({e}); checkpoint written.{where}", err=True)
            ctx.exit(128 + e.signum)
        except SeedsInterrupted as e:  # (under torchrun: seeds one after another, each in every rank)
            if main_rank:
                click.echo(f"Interrupted ({signal.Signals(e.signum).name}); {e}", err=True)
            ctx.exit(128 + e.signum)
        except Terminated:  # before a loop took the signal over, or after (what it made was cleaned up)
            if main_rank:
                click.echo("Interrupted (SIGTERM)", err=True)
            ctx.exit(128 + signal.SIGTERM)
        finally:
            warnings.showwarning = previous
            if "ssgan.distributed" in sys.modules:  # (a command that used it: leave the process group)
                sys.modules["ssgan.distributed"].shutdown()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ssgan")
def main() -> None:
    """Semi-supervised classification with GAN discriminators (Salimans et al. 2016)."""


def _named_where_given(command):
    """``command`` (fit, baseline) whose one-line errors that begin with a setting's flag and
    value (``--labels 5000 asks for ...``) name it as its ``--config`` file's key where the file,
    not the command line, gave that value: the user never typed ``--labels``."""
    import functools

    @functools.wraps(command)
    def named(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SSGANError as e:
            config_file, message = kwargs.get("config_file"), str(e)
            flag, _, rest = message.partition(" ")
            key = flag.removeprefix("--").replace("-", "_")
            if not (config_file and flag.startswith("--") and kwargs.get(key) is None and type(e) is SSGANError):
                raise
            from ssgan.config import load_toml

            value = load_toml(config_file).get(key)
            if value is None or not rest.startswith(f"{value}"):
                raise
            raise SSGANError(f"config file {config_file}: {key} = {rest}") from None

    return named


# -- data -----------------------------------------------------------------------------------

@main.command()
@click.option("--data-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="Directory of torchvision datasets, to check which are there.")
def datasets(data_root: str | None) -> None:
    """List the datasets and whether each loads offline now."""
    from rich.table import Table

    from ssgan.data import REGISTRY, available_offline, packed_archives

    table = Table(title="ssgan datasets")
    for col in ("name", "shape", "classes", "offline now", "description"):
        table.add_column(col)
    for info in REGISTRY.values():
        ok = available_offline(info.name, data_root)
        packed = not ok and data_root is not None and packed_archives(info.name, data_root)
        where = ("yes (bundled)" if info.bundled and ok else "yes" if ok
                 else "no (packed)" if packed else "no")  # (fit's not-found line says how to unpack)
        table.add_row(info.name, info.shape, info.n_classes, where, info.description)
    table.add_row("gmm1d:modes=K", "1", "K", "yes", "toy 1-D Gaussian mixture, each mode a class (options: modes, seed, n)")
    table.add_row("gmm2d:modes=K", "2", "K", "yes", "toy 2-D Gaussian mixture on a ring, each mode a class")
    table.add_row("npz:PATH", "any", "any", "yes", "your own data: x, y (-1 = unlabeled), optional x_test, y_test, "
                  "classes (ssgan convert makes one of a CSV table)")
    table.add_row("folder:DIR", "images", "any", "yes", "your own images: DIR/train/CLASS/, optional DIR/unlabeled/ "
                  "and DIR/test/CLASS/; up to 64 pixels a side, or --image-size N")
    progress.make_console().print(table)


def toolbox_options(f):
    """One option for every Config field that has no hand-written option above it."""
    import typing

    from ssgan.config import CHOICES, TOOLBOX_HELP, Config

    hints = typing.get_type_hints(Config)
    for name in reversed(list(TOOLBOX_HELP)):
        flag = "--" + name.replace("_", "-")
        kind = typing.get_args(hints[name])[:1] or (hints[name],)
        kind = kind[0]
        if kind is bool:
            f = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=TOOLBOX_HELP[name])(f)
        else:
            ptype = click.Choice(CHOICES[name]) if name in CHOICES else kind
            f = click.option(flag, name, type=ptype, default=None, help=TOOLBOX_HELP[name])(f)
    return f


VAL_HELP = ("Hold out N class-balanced training examples for validation: never trained on, scored "
            "every epoch as val_acc, so that settings are chosen without the test set [0].")


def _resolved_device(ctx, param, name: str):
    from ssgan.train import resolve_device

    return resolve_device(name)


def device_option(f):
    """--device for the commands that put a run's networks to work (eval, predict, sample; report --samples),
    given to the command as the torch.device it names (a one-line error for one that is not here)."""
    return click.option("--device", type=str, default="auto", show_default=True, callback=_resolved_device,
                        help="Where the run's networks compute: auto (CUDA, then MPS, then the CPU), cpu, cuda, "
                             "cuda:N or mps. Results agree across devices up to rounding.")(f)


def weights_option(f):
    """--weights for the commands that put a run's networks to work (eval, predict, sample)."""
    return click.option("--weights", type=click.Choice(["last", "best"]), default="last", show_default=True,
                        help="The run's weights: of its last epoch (its result), or of its epoch of best validation "
                             "accuracy (best.pt, which fit --val N keeps).")(f)


def data_options(f):
    f = click.option("--download/--no-download", default=None,
                     help="Let torchvision fetch the dataset into --data-root (needs the network).")(f)
    f = click.option("--data-root", type=str, default=None,
                     help="Directory of torchvision datasets, in torchvision's own layout.")(f)
    f = click.option("--dataset", type=str, default=None,
                     help="mnist (default), digits, fashion-mnist, kmnist, svhn, cifar10, npz:PATH (a CSV table: make it one with ssgan convert) or folder:DIR.")(f)
    f = click.option("--image-size", type=int, default=None,
                     help="folder:DIR only: resize each image (its shorter side) to N and centre-crop it to N x N.")(f)
    return f


@main.command()
@click.argument("table", type=str)
@click.option("--out", type=str, required=True, help="The .npz to write, for --dataset npz:PATH (or predict's --data).")
@click.option("--label", type=str, default="label", show_default=True,
              help="The column of labels; a row whose cell is empty, -1, NaN or NA is unlabeled.")
@click.option("--no-label", is_flag=True, help="The table has no labels: rows to classify with ssgan predict.")
@click.option("--test", type=str, default=None, help="A CSV of test rows, every one labeled, with the same columns.")
@click.option("--like", type=str, default=None,
              help="An .npz that convert wrote: take its feature columns, categories and fill values, by name and in its order "
                   "(new rows for a run trained on it; a table's columns in another order would be read as other "
                   "features), and the --id column that named its rows, where this table has it.")
@click.option("--categorical", multiple=True, metavar="NAME",
              help="A column of categories (text, or numbers that are codes): one 0/1 feature per value of the "
                   "table's rows. Repeat it for more columns.")
@click.option("--drop", multiple=True, metavar="NAME",
              help="A column to leave out (a note, a date). Repeat it for more columns.")
@click.option("--id", "ids", type=str, default=None, metavar="NAME",
              help="The column that names the rows (not a feature): kept in the .npz, and written by ssgan predict "
                   "beside each row's prediction.")
@click.option("--impute", type=click.Choice(["median", "mean", "most_frequent"]), default=None,
              help="Fill missing feature cells (empty, NA, NaN, ...) of this table and --test from this table's rows: "
                   "each column of numbers by its median, mean or most frequent value, each column of categories by "
                   "its most frequent one. Without it a missing cell is an error.")
@click.option("--unknown-category", "unknown", type=click.Choice(["error", "ignore"]), default="error",
              show_default=True, help="A category that the training table lacks, in --test rows or rows converted "
                                      "--like an .npz: an error, or (ignore) encoded as none of its values, all zeros.")
@click.option("--missing-indicator", "indicator", is_flag=True,
              help="With --impute: a 0/1 feature after each column that has missing cells, COLUMN:missing, 1 where "
                   "the cell was missing (the missingness can tell the class).")
@click.option("--decimal-comma", is_flag=True,
              help="The numbers are written with a decimal comma (1,5 for 1.5), as spreadsheets save tables in many "
                   "locales (their cells then separated by semicolons or tabs).")
@click.option("--no-header", is_flag=True,
              help="The table has no header row (as UCI's tables come): its first row is data, and its columns are "
                   "named by place, 1, 2, ...: --label 5 for labels in the fifth (--categorical, --drop and --id too).")
def convert(table, out, label, no_label, test, like, categorical, drop, ids, impute, unknown, indicator,
            decimal_comma, no_header) -> None:
    """Turn a CSV table (a header row, a column of labels, features in the others) into an .npz.

    Cells are separated by commas, semicolons or tabs, or, in a file with none of these, by
    spaces."""
    from ssgan.tables import convert as convert_table

    if no_label and click.get_current_context().get_parameter_source("label") != click.core.ParameterSource.DEFAULT:
        raise SSGANError("give --label NAME or --no-label, not both")
    r = convert_table(table, out, None if no_label else label, test, like, categorical, drop, ids, impute, unknown,
                      indicator, decimal_comma, header_row=not no_header)
    rows = f"{r['rows']} row{'s' * (r['rows'] != 1)} of {len(r['features'])} feature{'s' * (len(r['features']) != 1)}"
    if r["one_hot"]:
        rows += f" ({', '.join(f'{name}: {n} values' for name, n in r['one_hot'].items())}, one 0/1 feature each)"
    if r["ids"] is not None:
        rows += f", named by {r['ids']}" + (f" (as {like}'s rows)" if ids is None else "")
    elif r["unnamed"] is not None:
        rows += f", not named ({like} named its rows by {r['unnamed']}, a column this table lacks)"
    if r["filled"] or impute:
        rows += f", {_cells(r['filled'])} filled " + (f"from the table's rows ({impute})" if impute else f"as in {like}")
    if r["indicators"]:
        n = len(r["indicators"])
        rows += f", marked in {n} feature{'s' * (n != 1)} ({', '.join(f'{c}:missing' for c in r['indicators'][:4])}" + (
            f" and {n - 4} more)" if n > 4 else ")")
    if r["unknown"]:
        rows += f", {_unknown(r['unknown'])}"
    if "classes" not in r:
        click.echo(f"wrote {out}: {rows}, no labels (classify them with ssgan predict RUN --data npz:{out})")
        return
    tested = f"; {r['test_rows']} test rows" if "test_rows" in r else ""
    told = [_cells(r["test_filled"]) + " filled"] if r.get("test_filled") else []
    told += [_unknown(r["test_unknown"])] if r.get("test_unknown") else []
    tested += f" ({', '.join(told)})" if told else ""
    shown = [repr(c) if "," in c else c for c in r["classes"][:10]]  # ('cat, big' is one class, not two)
    names = ", ".join(shown) + (f" and {len(r['classes']) - 10} more" if len(r["classes"]) > 10 else "")
    click.echo(f"wrote {out}: {rows}, {r['labeled']} labeled and {r['rows'] - r['labeled']} unlabeled, "
               f"{len(r['classes'])} classes ({names}){tested}; train on it with ssgan fit --dataset npz:{out}")


def _cells(n: int) -> str:
    return f"{n} missing cell{'s' * (n != 1)}"


def _unknown(n: int) -> str:
    return f"{n} cell{'s' * (n != 1)} of categories the training table lacks encoded as none (all zeros)"


@main.command()
@data_options
@click.option("--labels", type=int, default=None, help="Number of labeled examples, a multiple of the classes [100].")
@click.option("--val", type=int, default=0, help=VAL_HELP)
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=1, show_default=True, help="Seed of the draw.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the split JSON [DATASET.seedS@N.json].")
def split(dataset, data_root, download, image_size, labels, val, seed, out) -> None:
    """Draw a class-balanced labeled split and save it as JSON."""
    from ssgan.config import Config
    from ssgan.data import load_dataset
    from ssgan.splits import default_labels, make_split, save_split

    dataset = dataset or "mnist"
    Config(dataset=dataset, image_size=image_size)  # (its checks)
    if out is not None:
        if Path(out).suffix.lower() != ".json":  # (--out cells.npz had written the split over the data)
            raise SSGANError(f"--out {out}: split writes JSON there; give a name that ends in .json")
        check_folder_can_be(Path(out).parent, f"--out {out}")  # before the data are read
    data = load_dataset(dataset, data_root, bool(download), image_size)
    s = make_split(data, default_labels(dataset, labels), seed, val)
    path = Path(out or f"{s.name.replace(':', '_').replace('/', '_')}.json")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # (as fit, predict and sample make theirs)
        save_split(s, path)
    except OSError as e:
        raise SSGANError(f"cannot write {path}: {e.strerror}") from None
    per_class = ", ".join(str(int((data.y_train[s.indices] == c).sum())) for c in range(data.n_classes))
    held = f", {s.n_val} held out for validation" if s.n_val else ""
    click.echo(f"wrote {path}: {s.labels} labeled examples of {data.name} (per class: {per_class}){held}")


# -- training -------------------------------------------------------------------------------

@main.command()
@click.option("--config", "config_file", type=str, default=None, help="TOML file of defaults; the command line wins.")
@data_options
@click.option("--labels", type=int, default=None, help="Labeled examples, class-balanced [100; all given labels for npz with -1 rows and folders].")
@click.option("--seed", type=int, default=None, help="Seed of the split and of training [1].")
@click.option("--val", type=int, default=None, help=VAL_HELP)
@click.option("--seeds", type=str, default=None, help="Several runs in sequence: a count N (seeds 1..N), a list like 1,2,3 or a range like 6-10 (4-4: seed 4 alone).")
@click.option("--parallel", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --seeds (or several --resume or --from): train up to N runs at once, one process each "
                   "(one GPU shared by all; on the CPU the cores are shared out).")
@click.option("--parallel-mode", type=click.Choice(PARALLEL_MODES), default=None,
              help="With --parallel: a process per seed; a thread per seed in this process, each on its own CUDA "
                   "stream, so that one GPU runs several seeds' kernels at once (processes take turns on a GPU); "
                   "or threads whose steps run as one, the seeds' weights stacked (mlp networks) [processes].")
@click.option("--split", type=str, default=None,
              help="Reuse a saved split JSON (e.g. another run's split.json), with the dataset and seed it was "
                   "drawn with unless --dataset or --seed say otherwise.")
@click.option("--epochs", type=int, default=None,
              help="Passes over the unlabeled training set [125]; with --resume, train the run to this many, "
                   "a finished one included (a longer run; constant learning rate only).")
@click.option("--batch-size", type=int, default=None, help="Examples per labeled, unlabeled and generated batch [100].")
@click.option("--lr", type=float, default=None, help="Adam learning rate of both networks [0.003].")
@click.option("--g-loss", type=click.Choice(G_LOSSES), default=None, help="Generator objective [feature-matching].")
@click.option("--fm-norm", type=click.Choice(FM_NORMS), default=None, help="Distance of feature matching [l2].")
@click.option("--moment-space", type=click.Choice(MOMENT_SPACES), default=None, help="Where moment matching compares moments [data].")
@click.option("--moment-weight", type=float, default=None, help="Weight w of moment matching [0.1].")
@click.option("--adv-weight", type=float, default=None, help="Weight of the adversarial term of fm+adv [0.1].")
@click.option("--label-smoothing", type=float, default=None, help="One-sided smoothing s of the real target [0].")
@click.option("--unlabeled-weight", type=float, default=None, help="Weight of the real/fake loss; 0 = supervised only [1].")
@click.option("--fake-logit", type=click.Choice(FAKE_LOGITS), default=None, help="K logits with l_fake = 0, or K+1 [implicit].")
@click.option("--device", type=str, default=None, help="auto, cpu, cuda, cuda:N or mps [auto].")
@click.option("--nproc", type=int, default=None,
              help="Train in N processes through torchrun (one GPU each on CUDA, gloo on the CPU); "
                   "--batch-size stays the global batch [1].")
@click.option("--out", type=str, default=None, help="Folder that receives the run folder [runs].")
@click.option("--quiet", is_flag=True,
              help="Print no progress, tables or training warnings (they stay in metrics.jsonl); the one-line "
                   "warnings about the data and errors still print.")
@click.option("--checkpoint-every", type=int, default=None, help="Write checkpoint.pt every K epochs [1].")
@toolbox_options
@click.option("--resume", type=str, multiple=True,
              help="Continue the run folder RUN from its last checkpoint; several: with --parallel N, N at once.")
@click.option("--from", "from_runs", type=str, multiple=True, metavar="RUN",
              help="Start a new run folder from the last checkpoint of RUN (its weights, optimisers, moving average, "
                   "random states and epochs), with the schedule, optimiser, loss and noise settings given here "
                   "changed: a late lever against its control from the same weights. Several: one new run each, "
                   "with --parallel N, N at once.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result on stdout.")
@_named_where_given
def fit(config_file, quiet, as_json, seeds, parallel, parallel_mode, resume, from_runs, **options) -> None:
    """Train a semi-supervised GAN classifier into a new run folder."""
    from ssgan import config as config_mod
    from ssgan import runs
    from ssgan.distributed import check_batch, from_env
    from ssgan.launch import RESUME_CHANGES, Job
    from ssgan.stops import SeedsDiverged

    world = from_env()
    if from_runs:
        jobs = _branch_jobs(from_runs, bool(resume), config_file, seeds, world.active, parallel, parallel_mode, options)
        nproc, resume = 1, tuple(str(job.resume) for job in jobs)
    elif resume:
        if given := _given_outside(("nproc", *RESUME_CHANGES), options, config_file, seeds):
            raise SSGANError(f"--resume continues a run with its own config.json; drop {given} "
                             "(of its settings, --epochs can change, for a longer run, --device, where it trains, and "
                             "--dataset or --data-root, where its data are now)")
        if len(resume) > 1 and options["nproc"]:
            raise SSGANError("--nproc resumes one run in several processes; give one --resume with it")
        jobs = _resume_jobs(resume, parallel, parallel_mode, **{k: options[k] for k in RESUME_CHANGES})
        nproc = options["nproc"] or 1
    else:
        _check_one_seed_setting(seeds, options["seed"], config_file)
        cfg = config_mod.resolve(config_file, **options)
        jobs = [Job(cfg.replace(seed=seed)) for seed in _parse_seeds(seeds, cfg)]
        nproc = cfg.nproc
    if parallel > 1 and nproc > 1:
        raise SSGANError("--parallel runs seeds side by side and --nproc splits one run across processes; use one")
    if nproc > 1 and not world.active:
        if not resume:
            check_batch(cfg.batch_size, nproc)
        from ssgan.launch import launch_torchrun

        sys.exit(launch_torchrun(nproc))
    if not resume:  # (under torchrun, in the ranks: their first says them, once)
        config_mod.warn_without_effect(cfg, config_file, **options)
    if not world.active:  # (these two are the launcher's, and it dropped them in silence)
        if parallel > 1 and len(jobs) == 1:
            warnings.warn(f"--parallel {parallel} has no effect on one run: it trains several runs (--seeds, or several "
                          "--resume or --from) side by side", DataWarning)
        elif parallel == 1 and parallel_mode is not None:
            warnings.warn(f"--parallel-mode {parallel_mode} has no effect in this run: it acts only with --parallel N "
                          "above 1", DataWarning)
    quiet = quiet or not world.main
    several = seeds is not None or len(jobs) > 1  # a table (--json: an object) of all; under torchrun in sequence
    if seeds is not None and not world.active:
        data, _, _ = runs.prepare(jobs[0].cfg)  # bad input fails here, once, before any run starts
        if parallel > 1 and parallel_mode == "stacked":  # (its reasons include the threads')
            from ssgan.batched import check_stackable

            check_stackable(cfg, data.shape)
        elif parallel > 1 and parallel_mode == "threads":
            from ssgan.launch import check_threads

            check_threads(cfg)
    if several and not world.active and not (quiet or as_json):  # `--seeds 2` is seeds 1 and 2: say which, first
        at_once = min(parallel, len(jobs))
        which = "Resuming seeds" if resume and not from_runs else "Seeds"
        click.echo(f"{which} {', '.join(str(job.seed) for job in jobs)}: {len(jobs)} run{'s' * (len(jobs) != 1)}, "
                   + (f"{at_once} at a time" if at_once > 1 else "one after another"), err=True)
    if not several:
        summary = _fit_one(jobs[0], quiet, as_json)
        if as_json and world.main:
            click.echo(json.dumps(summary))
        return
    try:
        summaries = _fit_several(jobs, 1 if world.active else parallel, parallel_mode, quiet, as_json)
    except SeedsDiverged as e:  # the seeds that finished are shown as always, beside those that diverged
        if world.main:
            _show_seeds(_aggregate(e.finished, e.diverged), quiet, as_json)
        raise
    if world.main:
        _show_seeds(_aggregate(summaries), quiet, as_json)


def _branch_jobs(parents: tuple[str, ...], resume: bool, config_file, seeds, distributed: bool, parallel: int,
                 parallel_mode: str | None, options: dict) -> list:
    """The jobs of ``fit --from PARENT ...``: a new run folder for each parent, made here and
    resumed (or a one-line error for an option it does not take, and then no folder is left)."""
    from ssgan import runs

    if resume:
        raise SSGANError("--from starts a new run and --resume continues one: give one of them")
    if distributed or options.get("nproc"):
        raise SSGANError("--from trains its new run in one process: drop --nproc (the run it makes resumes in several "
                         "with ssgan fit --resume RUN --nproc N)")
    if wrong := _given_outside(runs.BRANCH_CHANGES, options, config_file, seeds):
        raise SSGANError(f"--from {parents[0]} goes on from that run's weights, split and settings; drop {wrong} (of "
                         "the settings, --from changes the length, the schedule, the optimisers', the moving average's, "
                         "the loss weights, D's noise, the device and what is written)")
    _check_once("--from", parents, "the two new runs would be one run trained twice")
    changes = {k: v for k, v in options.items() if v is not None}
    made = []
    try:
        for parent in parents:  # each folder's command.txt names its own parent, as if it had been made alone
            made.append(runs.branch(parent, changes, command=_command(from_runs=(parent,), parallel=None,
                                                                      parallel_mode=None)))
        return _resume_jobs(tuple(str(run_dir) for run_dir in made), parallel, parallel_mode)
    except BaseException:
        for run_dir in made:  # untrained, made a moment ago: nothing is lost
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _check_once(option: str, paths: tuple[str, ...], why: str) -> None:
    """One line, saying ``why``, if two of the run folders that ``option`` names are the same
    folder (however written)."""
    seen = set()
    for path in paths:
        if (where := Path(path).resolve()) in seen:
            raise SSGANError(f"{option} {path} is given twice: {why}")
        seen.add(where)


def _given_outside(allowed, options: dict, config_file, seeds) -> str | None:
    """The flag of the first setting given (an option, --config or --seeds) that is not among
    ``allowed`` (Config fields), or None: what --resume and --from refuse."""
    given = [k for k, v in options.items() if v is not None and k not in allowed]
    given += (["config"] if config_file else []) + (["seeds"] if seeds else [])
    return f"--{given[0].replace('_', '-')}" if given else None


def _show_seeds(agg: dict, quiet: bool, as_json: bool) -> None:
    """The outcome of several runs (:func:`_aggregate`): a JSON object, a table, or nothing."""
    if as_json:
        click.echo(json.dumps(agg))
    elif not quiet:
        _aggregate_table(agg)


def _resume_jobs(paths: tuple[str, ...], parallel: int, mode: str | None, **changes) -> list:
    """The runs that ``--resume`` names, each with its own config (with ``changes``: to ``epochs``, on
    ``device``, its data at ``dataset`` or under ``data_root``, where given),
    checked up front: each a run folder with something left to train, none twice, and
    (``--parallel N`` in threads or stacked) able to train that way."""
    from ssgan.launch import Job, check_threads, stacked_start
    from ssgan.runs import resume_point

    _check_once("--resume", paths, "a run folder is trained by one run at a time")
    jobs = [Job(point.config, path, point) for path, point in ((path, resume_point(path, **changes)) for path in paths)]
    if len(jobs) > 1 and parallel > 1 and mode == "stacked":
        seeds = [job.seed for job in jobs]
        if len(set(seeds)) < len(seeds):
            raise SSGANError("--parallel-mode stacked resumes runs of distinct seeds, and two of these runs have "
                             "one seed: use --parallel-mode threads or processes")
        for i in range(0, len(jobs), parallel):
            stacked_start(jobs[i:i + parallel])
    elif len(jobs) > 1 and parallel > 1 and mode == "threads":
        for job in jobs:
            check_threads(job.cfg)
    return jobs


def _fit_one(job, quiet: bool, as_json: bool, prefix: str = "") -> dict:
    """Train (or resume) the run of ``job`` (:class:`ssgan.launch.Job`) in this process, with a
    progress bar, its warnings (``--json``: lines on stderr, after ``prefix``) or nothing
    (``quiet``); return its summary."""
    from ssgan import runs

    reporter = None if quiet else progress.warning_lines(prefix) if as_json else progress.reporter(prefix)
    try:
        if job.resume is not None:
            run_dir, result = runs.resume(job.resume, reporter, **job.resume_changes)
        else:
            run_dir, result = runs.fit(job.cfg, reporter, command=_command())
    finally:
        if reporter is not None:
            reporter.close()
    summary = runs.summary(run_dir, result)
    if not (quiet or as_json):
        _summary_table(summary)
    return summary


def _fit_several(jobs: list, parallel: int, mode: str | None, quiet: bool, as_json: bool) -> list[dict]:
    """Train ``jobs`` (new runs of several seeds, or runs resumed), ``parallel`` at a time
    (``mode``: processes, threads or stacked) or one after another; return their summaries.
    A signal stops them with one line that says how to go on (:class:`ssgan.launch.SeedsInterrupted`)."""
    from ssgan.launch import ERROR, failed, interrupted, not_started, resume_command, run_in_processes, run_in_threads
    from ssgan.stops import Diverged, Interrupted, signal_of

    command = shlex.split(_command())
    if parallel > 1 and len(jobs) > 1:
        if quiet or as_json:
            log, reporters, shown = (lambda msg: None), None, nullcontext()
            warn = (lambda seed, msg: None) if quiet else progress.seed_warning
        else:
            shown = progress.SeedsProgress()
            log, reporters, warn = shown.log, shown.reporter, shown.warn
        with shown:
            if mode in ("threads", "stacked"):
                return run_in_threads(jobs, parallel, shlex.join(command), log, warn, mode, reporters)
            return run_in_processes(command, jobs, parallel, log, warn, mode, reporters)
    summaries, failures = [], []
    for i, job in enumerate(jobs):
        prefix = f"seed {job.seed}: " if len(jobs) > 1 else ""  # one after another: say whose warning it is
        try:
            summaries.append(_fit_one(job, quiet, as_json, prefix))
        except Diverged as e:  # the seed failed, not the study: the next seeds train, as they do in parallel
            if len(jobs) == 1:
                raise
            failures.append((job.seed, 3, f"{ERROR}{e}"))
            if not quiet:
                click.echo(f"{prefix}{ERROR}{e}", err=True)
        except SSGANError as e:  # (a full disk, a device out of memory): stops the study; say what it left
            if i == 0:  # (nothing trained yet: the same command, once mended)
                raise
            resumes = [j.resume for j in jobs[i + 1:] if j.resume]
            rest = not_started(jobs, set(range(i + 1)), command)
            said = []
            if failures:  # (each named in its own line above, and in its folder's diverged.txt)
                said.append(f"diverged before it: {', '.join(f'seed {seed}' for seed, _, _ in failures)}")
            if resumes:
                said.append(f"not resumed: {resume_command(resumes)}")
            if rest:
                said.append(f"not started: {rest}")
            if not said:
                raise
            raise SSGANError("; ".join([str(e), *said])) from None
        except Interrupted as e:
            if e.run_dir is None or len(jobs) == 1:  # its own line says how to resume it
                raise
            raise interrupted(e.signum, jobs, {i: str(e.run_dir)}, set(range(i + 1)), command, parallel,
                              mode) from None
        except KeyboardInterrupt as e:  # while run i set up (its folder removed): it is among those not started
            if len(jobs) == 1:
                raise
            raise interrupted(signal_of(e), jobs, {}, set(range(i)), command, parallel, mode) from None
    if failures:
        raise failed(failures, summaries, len(jobs))
    return summaries


def _command(**replaced) -> str:
    """The current command, rebuilt from its parsed options (what a report shows), with the
    options named in ``replaced`` given those values instead (None: left out)."""
    from ssgan.distributed import from_env

    ctx = click.get_current_context()
    words = ["ssgan", ctx.command.name]  # also under `python -m ssgan`, as torchrun starts it
    for param in ctx.command.params:
        value = replaced[param.name] if param.name in replaced else ctx.params.get(param.name)
        if value is None or value is False or value == () \
                or ctx.get_parameter_source(param.name) == click.core.ParameterSource.DEFAULT:  # (--parallel 1)
            continue
        if isinstance(param, click.Argument):
            words += [str(v) for v in (value if isinstance(value, tuple) else (value,))]
        elif getattr(param, "is_flag", False) and value is True:
            words.append(param.opts[0])
        else:
            for v in value if isinstance(value, tuple) else (value,):
                words += [param.opts[0], str(v)]
    if from_env().active and "--nproc" not in words:
        words += ["--nproc", str(from_env().size)]
    return " ".join(shlex.quote(w) for w in words)


def _check_one_seed_setting(seeds: str | None, seed: int | None, config_file: str | None) -> None:
    """One line where ``--seed`` comes beside ``--seeds``, and a warning where a config file's
    ``seed`` does: ``--seeds`` names every seed it runs, and the other was dropped in silence
    (``--seed 5 --seeds 2`` ran seeds 1 and 2)."""
    from ssgan.config import load_toml

    if seeds is None:
        return
    if seed is not None:
        raise SSGANError(f"give --seed {seed} or --seeds {seeds}, not both: --seeds names every seed it runs "
                         f"(--seeds {seed}-{seed + 1}: seeds {seed} and {seed + 1})")
    if config_file is not None and "seed" in load_toml(config_file):
        warnings.warn(f"config file {config_file}: seed has no effect under --seeds {seeds}, which names every seed "
                      "it runs", DataWarning)


def _parse_seeds(seeds: str | None, cfg) -> list[int]:
    """The seeds that ``--seeds`` names: a count (3: seeds 1, 2 and 3), a list, ranges, or both
    (:func:`ssgan.config.seed_list`); without it, the config's one seed."""
    if seeds is None:
        return [cfg.seed]
    if cfg.split is not None:
        raise SSGANError("--seeds draws a split for each seed and cannot be combined with --split")
    return seed_list(seeds, count=True)


def _aggregate(summaries: list[dict], diverged: list[tuple[int, str, str | None]] = ()) -> dict:
    """The runs' ``summaries`` and their accuracies' mean and std, with the seeds that
    ``diverged`` (seed, the NaN guard's words, the run folder), which the means leave out."""
    import numpy as np

    out = {"runs": summaries, "seeds": [s["seed"] for s in summaries],
           "diverged": [{"seed": seed, "why": why, "run": run} for seed, why, run in diverged]}
    for split in ("test", "val"):
        acc = [s[f"{split}_acc"] for s in summaries if s.get(f"{split}_acc") is not None]
        out[f"{split}_acc_mean"] = float(np.mean(acc)) if acc else None
        out[f"{split}_acc_std"] = float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0
    return out


def _aggregate_table(agg: dict) -> None:
    from rich.table import Table

    table = Table(title="ssgan fit: all seeds")
    splits = [split for split in ("val", "test") if agg[f"{split}_acc_mean"] is not None] or ["test"]
    for col in ("seed", "run", *(f"{SPLIT_NAMES[split]} accuracy (last epoch)" for split in splits)):
        table.add_column(col)
    rows = [(s["seed"], s["run"], *(progress.fmt(s.get(f"{split}_acc")) for split in splits)) for s in agg["runs"]]
    rows += [(d["seed"], d["run"] or "-", f"diverged: {d['why']}", *("-" for _ in splits[1:])) for d in agg["diverged"]]
    for seed, *row in sorted(rows, key=lambda r: r[0]):
        table.add_row(str(seed), *row)
    if agg[f"{splits[0]}_acc_mean"] is not None:
        of = f" ({len(agg['runs'])} finished)" if agg["diverged"] else ""
        table.add_row(f"mean ± std{of}", "", *(f"{agg[f'{split}_acc_mean']:.4f} ± {agg[f'{split}_acc_std']:.4f}"
                                               for split in splits))
    progress.make_console().print(table)


def _summary_table(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"ssgan fit: {summary['run']}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("dataset", str(summary["dataset"]))
    table.add_row("labels", str(summary["labels"]))
    table.add_row("seed", str(summary["seed"]))
    table.add_row("epochs", str(summary["epochs"]))
    if summary.get("val_acc") is not None:
        table.add_row("validation accuracy (last epoch)", progress.fmt(summary["val_acc"]))
    table.add_row("test accuracy (last epoch)", progress.fmt(summary["test_acc"]))
    table.add_row("labeled-train accuracy", progress.fmt(summary["train_acc"]))
    table.add_row("training seconds", f"{summary['seconds']:.0f}")
    progress.make_console().print(table)


# -- evaluation ----------------------------------------------------------------------------

@main.command("eval")
@click.argument("run", type=str)
@click.option("--split", "part", type=click.Choice(["test", "train", "val"]), default="test", show_default=True,
              help="Which part of the run's dataset to score (train: the rows with known labels; val: the run's --val rows).")
@click.option("--data", "data_spec", type=str, default=None, help="Score other data of the same shape: npz:PATH, or folder:DIR (DIR/test/CLASS/, else DIR/train/CLASS/); "
                   "with --split train or val, where the run's own data are now, if they moved.")
@click.option("--samples", type=click.IntRange(10, 100000), default=None,
              help="Also score N generated samples against the test set: FID, classifier score, precision and "
                   "recall on a reference network's features, beside the same scores of N real images.")
@click.option("--cache-dir", type=str, default=None,
              help="Where reference networks of datasets other than MNIST are trained once and kept [~/.cache/ssgan].")
@click.option("--feature-net", type=click.Choice(["reference", "inception"]), default="reference", show_default=True,
              help="Features for --samples: the dataset's reference CNN, or torchvision's Inception-v3 (ImageNet "
                   "weights, which must already be in the torch cache; for colour data). Scores from different "
                   "networks are not comparable.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also draw the confusion matrix into this PNG (counts, the colour on a log scale).")
@weights_option
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def eval_(run, part, data_spec, samples, cache_dir, feature_net, plot, weights, device, as_json) -> None:
    """Score a run's (EMA) classifier: accuracy, errors, balanced accuracy, macro-F1, confusion;
    with --samples, its generator's samples too."""
    from rich.table import Table

    from ssgan.baselines import is_baseline
    from ssgan.runs import check_trained_generator, evaluate_run, method_name, read_config, sample_quality_of_run

    _check_not_table(run, data_spec, labeled=True)
    if plot is not None:  # (before the work, as sample's --out)
        if Path(plot).suffix.lower() != ".png":
            raise SSGANError(f"--plot {plot}: eval draws the confusion matrix as a PNG picture there; give a name "
                             "that ends in .png")
        check_folder_can_be(Path(plot).parent, f"--plot {plot}")
    if samples is not None and (Path(run) / "config.json").is_file():  # (before the accuracy's work)
        check_trained_generator(Path(run), read_config(Path(run)), "drop --samples to score its classifier")
    if samples is None:  # (as fit warns of settings that its others leave without effect)
        source = click.get_current_context().get_parameter_source
        for flag, given in (("--cache-dir", cache_dir is not None),
                            ("--feature-net", source("feature_net") != click.core.ParameterSource.DEFAULT)):
            if given:
                warnings.warn(f"{flag} has no effect in this command: it acts only with --samples N", DataWarning)
    r = evaluate_run(run, part, data_spec, device, weights)
    # their last epochs, on the same rows: the run's own test or validation rows (--data with --split val names
    # where its own data moved; with the test split, other data)
    if weights == "last" and (part == "val" or part == "test" and data_spec is None):
        from ssgan.baselines import beside

        r["baselines"] = beside(run, part)
    if samples is not None:
        log = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
        r["sample_quality"] = sample_quality_of_run(run, samples, cache_dir=cache_dir, log=log,
                                                    feature_net=feature_net, device=device, data_spec=data_spec,
                                                    weights=weights)
    if plot is not None:
        from ssgan.plots import plot_confusion

        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        plot_confusion(r["confusion_matrix"], [_class_name(k, r["classes"]) for k in range(len(r["confusion_matrix"]))],
                       f"{Path(r['run']).name}: {r['errors']:,} errors of {r['n']:,} on {r['data']}", Path(plot))
        r["plot"] = plot
    if as_json:
        click.echo(json.dumps(r))
        return
    console = progress.make_console()
    # a run stopped, or training now, is scored at the epoch it has reached, which is not its result; the
    # line is no table title, which wraps at the table's width, mid-name
    unfinished = f" of {r['epochs']}, not finished" if r["epoch"] < r["epochs"] else ""
    at = f"epoch {r['epoch']}, its best on validation" if weights == "best" else f"epoch {r['epoch']}{unfinished}"
    console.print(f"{r['run']} ({at}) on {r['data']}", highlight=False, markup=False, soft_wrap=True)
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{r['accuracy']:.4f}")
    table.add_row("errors", f"{r['errors']} of {r['n']}")
    table.add_row("balanced accuracy", f"{r['balanced_accuracy']:.4f}")
    table.add_row("macro-F1", f"{r['macro_f1']:.4f}")
    for k, acc in enumerate(r["per_class_accuracy"]):
        table.add_row(f"accuracy of class {_class_name(k, r['classes'])}", "no examples" if acc is None else f"{acc:.4f}")
    console.print(table)
    cm = Table(title="confusion matrix (rows: true class, columns: predicted)")
    cm.add_column("")
    for k in range(len(r["confusion_matrix"])):
        cm.add_column(str(k), justify="right")
    for k, row in enumerate(r["confusion_matrix"]):
        cm.add_row(_class_name(k, r["classes"]), *map(str, row))
    console.print(cm)
    if r.get("baselines"):
        bt = Table(title="supervised-only baselines on the same labels, beside the run (their last epoch)")
        for col in ("method", "accuracy", "errors", "this run's gain", "run"):
            bt.add_column(col, justify="left" if col in ("method", "run") else "right", overflow="fold")
        for b in r["baselines"]:
            bt.add_row(b["method"], f"{b['accuracy']:.4f}", f"{b['errors']} of {r['n']}",
                       f"{r['accuracy'] - b['accuracy']:+.4f}", b["run"])
        console.print(bt)
        for b in r["baselines"]:
            if b["loss_jumps"]:
                from ssgan.diagnostics import epochs_words

                console.print(f"{b['method']}'s labeled loss jumped at {epochs_words(b['loss_jumps'])} "
                              "(README, Diagnostics): its last epoch may be low while it recovers, and this run's gain "
                              "over it more than the method earns.", highlight=False, markup=False, soft_wrap=True)
    elif "baselines" in r and not is_baseline(method_name(read_config(Path(run)))):
        console.print(f"No supervised-only baselines on its labels beside it: `ssgan baseline --run {run}` trains "
                      "same-net and logreg on them, and eval then shows them here.", highlight=False, markup=False,
                      soft_wrap=True)
    if "sample_quality" in r:
        q = r["sample_quality"]
        sq = Table(title=f"{q['n']} samples against the {q['reference']}, on the features of: {q['network']}")
        for col in ("", "FID (lower is better)", "classifier score (max K)", "precision", "recall"):
            sq.add_column(col, justify="right" if col else "left")
        for row in ("generated", "real"):
            v = q[row]
            sq.add_row(f"{row} ({q['n']})" if row == "generated" else f"real training images ({q['n_real']})",
                       f"{v['fid']:.2f}", f"{v['classifier_score']:.3f}", f"{v['precision']:.3f}", f"{v['recall']:.3f}")
        console.print(sq)
    if plot is not None:
        console.print(f"wrote {plot}", highlight=False, markup=False, soft_wrap=True)


@main.command()
@click.option("--method", "methods", type=click.Choice(["same-net", "full", "logreg", "label-spreading"]), multiple=True,
              help="Baseline(s) to train; repeat the option for several [same-net, logreg].")
@click.option("--run", "run_dirs", type=str, multiple=True,
              help="An SSL run folder (or a folder of them) whose baselines to train: its labeled split, and its "
                   "settings for same-net and full (the same network, schedule and scaling), next to it unless --out; "
                   "repeatable.")
@click.option("--split", "splits", type=str, multiple=True, help="Split JSON(s) to use, e.g. RUN/split.json; repeatable.")
@click.option("--seeds", type=str, default=None, help="Without --split: a count N (seeds 1..N), a list like 1,2,3 or a range like 6-10 (4-4: seed 4 alone).")
@click.option("--config", "config_file", type=str, default=None, help="TOML file (same keys as fit) for same-net.")
@data_options
@click.option("--labels", type=int, default=None, help="Labeled examples, without --split [100].")
@click.option("--val", type=int, default=None, help=VAL_HELP)
@click.option("--epochs", type=int, default=None, help="Epochs of same-net [as fit].")
@click.option("--batch-size", type=int, default=None, help="Batch size of same-net [as fit].")
@click.option("--device", type=str, default=None, help="Device of same-net [auto].")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Precision of same-net and full [with --run, the run's; else auto].")
@click.option("--class-smoothing", type=float, default=None,
              help="Label smoothing of same-net's and full's labeled cross-entropy; 0 is the plain loss, with "
                   "which same-net memorises its few labels and then jumps off them [same-net: 0.1; full: 0].")
@click.option("--out", type=str, default=None, help="Folder that receives the run folders [runs].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.option("--parallel", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Baseline runs trained at once, each in a process of its own that shares the cores or the GPU "
                   "(a small network's matrix products use a CPU's threads poorly: two runs of one thread each train "
                   "more per hour than one of two); SIGINT/SIGTERM reach every one, which checkpoints.")
@_named_where_given
def baseline(methods, run_dirs, splits, seeds, config_file, as_json, parallel, **options) -> None:
    """Train supervised-only baselines on exactly the labels of SSL runs."""
    from ssgan import config as config_mod
    from ssgan.baselines import (BASELINES, NETWORK_BASELINES, NETWORK_OPTIONS, check_once, settings_of_runs,
                                 shared_runs, stopped)
    from ssgan.launch import ERROR, diverged
    from ssgan.runs import check_run_dataset, read_metrics
    from ssgan.splits import load_split
    from ssgan.stops import Diverged, Interrupted

    if splits and seeds:
        raise SSGANError("give --split or --seeds, not both")
    if run_dirs and (splits or seeds or config_file):
        raise SSGANError("--run brings the run's split and settings: give it without --split, --seeds or --config")
    given = {k: v for k, v in options.items() if v is not None}
    try:
        jobs = [run.replace(**given) for path in run_dirs for run in settings_of_runs(path)]  # the command line wins
    except config_mod.InvalidSetting as e:
        raise e.where(given) from None
    for job in jobs:  # (each run's data where they are, or where --dataset says they moved)
        check_run_dataset(job, Path(job.split).parent, moved_with="--run")
    cfg = config_mod.resolve(config_file, **options)
    named = options["dataset"] or (config_mod.load_toml(config_file).get("dataset") if config_file else None)
    for path in splits:  # (a split brings its dataset where neither the command line nor --config names one, as in fit)
        s = load_split(path)
        jobs.append(cfg.replace(dataset=named or s.dataset, split=path, seed=s.seed, labels=None))
    if not (splits or run_dirs):
        _check_one_seed_setting(seeds, None, config_file)
        jobs = [cfg.replace(seed=seed) for seed in _parse_seeds(seeds, cfg)]
    splits_of = {job.split: load_split(job.split) for job in jobs if job.split}  # (each file read once, for both checks)
    check_once(jobs, methods, "--run" if run_dirs else "--split", splits_of)
    config_mod.warn_without_effect(jobs[0], config_file, **options)  # (of the dataset that a split or run brings)
    results, failures, methods, command = [], [], methods or ("same-net", "logreg"), _command()
    unused = [f"--{k.replace('_', '-')}" for k in NETWORK_OPTIONS if options[k] is not None]
    if unused and not set(methods) & set(NETWORK_BASELINES):  # (they had been dropped in silence)
        warnings.warn(f"{' and '.join(unused)} {'has' if len(unused) == 1 else 'have'} no effect on "
                      f"{' and '.join(methods)}: {'it acts' if len(unused) == 1 else 'they act'} only on the network "
                      f"baselines, {' and '.join(NETWORK_BASELINES)}", DataWarning)
    shared = shared_runs(jobs, methods, "--run" if run_dirs else "--split", splits_of)
    given_by = "run" if run_dirs else "split" if splits else "seeds"
    units = [(i, j) for i in range(len(jobs)) for j in range(len(methods)) if (i, j) not in shared]
    if parallel > 1 and len(units) < 2:
        warnings.warn(f"--parallel {parallel} has no effect on one baseline run: it trains several (--seeds, --run "
                      "or --method) at once", DataWarning)
    elif parallel > 1:
        if not as_json:
            for (i, j), name in shared.items():
                click.echo(_shared_line(methods[j], jobs[i].seed, name), err=True)
        results, failures = _baselines_in_processes(jobs, methods, units, parallel, shlex.split(command), given_by,
                                                    as_json)
        jobs = []  # (all trained)
    for i, job in enumerate(jobs):
        for j, method in enumerate(methods):
            if (i, j) in shared:  # (the same run as one trained above: a report would count it twice)
                if not as_json:
                    click.echo(_shared_line(method, job.seed, shared[(i, j)]), err=True)
                continue
            # a network's epochs shown as fit shows them (they had trained in silence, an hour for full on MNIST); with
            # --json its warnings alone, as fit's (and, for a parent of --parallel, its epochs in Progress lines)
            who = f"{method} seed {job.seed}: " if len(units) > 1 else ""
            shows = None if method not in NETWORK_BASELINES else progress.warning_lines(who) if as_json \
                else progress.reporter(who or f"{method} seed {job.seed}: ")
            try:
                try:
                    run_dir = BASELINES[method](job, command=command, reporter=shows)
                finally:
                    if shows is not None:
                        shows.close()
            except (Interrupted, KeyboardInterrupt) as e:  # the stopped run's resume, and the commands of what is left
                raise stopped(e, shlex.split(command), jobs[i:], methods, j, given_by) from None
            except Diverged as e:  # that run failed, not the study: the others train, as fit --seeds does
                failures.append((job.seed, f"{method} of seed {job.seed}", str(e)))
                # (also with --json, on stderr: its last line names the run too, and a parent of --parallel reads it)
                click.echo(f"{method:16s} seed {job.seed}: {ERROR}{e}", err=True)
                continue
            last = read_metrics(run_dir)[-1]
            results.append({"method": method, "run": str(run_dir), "seed": job.seed, "test_acc": last["test_acc"],
                            "val_acc": last.get("val_acc")})
            if not as_json:
                click.echo(_result_line(results[-1]))
    if as_json:
        click.echo(json.dumps(results))
    if failures:
        raise diverged(failures, results, len(units), "baseline runs")


def _shared_line(method: str, seed: int, name: str) -> str:
    """``baseline``'s line for a run it does not train: that of ``name`` is the same run."""
    rows = "training rows (every label)" if method == "full" else "labeled split"
    return f"{method:16s} seed {seed}: the same {rows} and settings as {name}, whose {method} run is above"


def _result_line(result: dict) -> str:
    """``baseline``'s line for a run it trained (``result``: that run's entry of its ``--json``)."""
    scores = [f"{SPLIT_NAMES[split]} accuracy {progress.fmt(result.get(f'{split}_acc'))}" for split in ("val", "test")
              if result.get(f"{split}_acc") is not None or split == "test"]
    return f"{result['method']:16s} seed {result['seed']}: {', '.join(scores)}  ({result['run']})"


def _baselines_in_processes(jobs: list, methods: tuple[str, ...], units: list[tuple[int, int]], parallel: int,
                            command: list[str], given_by: str, as_json: bool) -> tuple[list[dict], list[tuple]]:
    """:func:`ssgan.baselines.run_in_processes`, shown as ``fit --parallel`` shows its seeds: each
    network's epochs (a bar each on a terminal, epoch lines elsewhere; none with ``--json``), the
    children's warnings that this process has not printed, each result line as its run ends."""
    from ssgan.baselines import run_in_processes

    shown = nullcontext() if as_json else progress.SeedsProgress()

    def warn(who: str, message: str) -> None:  # (the data's and the settings' warnings: this process printed them)
        progress.unshown_warning(who, message, None if as_json else shown.log)

    def on_result(result: dict) -> None:
        if not as_json and shown.bars is not None and sys.stdout.isatty():
            shown.log(_result_line(result))  # (above the bars, on the terminal they share)
        elif not as_json:
            click.echo(_result_line(result))

    with shown:
        return run_in_processes(jobs, methods, units, parallel, command, given_by, warn,
                                None if as_json else shown.named, on_result, lambda line: click.echo(line, err=True))


@main.command()
@click.argument("runs", nargs=-1, type=str)
@click.option("--out", type=str, required=True, help="Report folder, e.g. reports/mnist-100/.")
@click.option("--notes", type=str, default=None,
              help="Markdown file whose text ends report.md under 'Notes' (your reading of the numbers).")
@click.option("--samples", type=click.IntRange(10, 100000), default=None,
              help="Score N samples of the last generator of each GAN run trained without --quality-every "
                   "(FID, classifier score, precision, recall; about 12 s per run for 10,000 MNIST samples on "
                   "2 CPU cores); the run folders are not changed.")
@click.option("--split", type=click.Choice(list(SPLIT_NAMES)), default="test", show_default=True,
              help="Score the test set, or the validation rows the runs held out with --val (for data without "
                   "a test set; the report says the figures are on validation rows).")
@click.option("--against", type=str, default=None, metavar="METHOD",
              help="Pair every other method with METHOD by seed (an ablation's control, named by its --tag): the "
                   "mean difference in accuracy, its 95 % confidence interval and the seeds it wins, on the "
                   "validation rows too where the runs have them, there also as the errors of each run's last 10 "
                   "epochs, averaged.")
@click.option("--window", type=str, default=None, metavar="FIRST-LAST",
              help="Average the validation errors that --against and --ema-probe's decays compare over these "
                   "epochs, such as 51-60 (a mid-run reading), instead of each run's last 10.")
@device_option
def report(runs, out, notes, samples, split, against, window, device) -> None:
    """Turn run folders into report.md, report.json and figures.

    Runs of one dataset; of several label counts, each count's report goes into OUT/labels-N/,
    and OUT gets a table of every method's accuracy by count."""
    from ssgan.report import parse_window, write_report

    written = write_report(list(runs), out, notes, samples, log=lambda msg: click.echo(msg, err=True), split=split,
                           device=device, against=against, window=parse_window(window) if window else None)
    click.echo(f"wrote {written[0]}, " + ", ".join(p.name for p in written[1:]))


@main.command()
@click.argument("run", type=str)
@click.option("--data", "data_spec", type=str, required=True, help="The rows to classify: npz:PATH, or folder:DIR of images (no labels needed).")
@click.option("--key", type=str, default="x", show_default=True, help="Which array of the .npz holds them (e.g. x_test); not for folder:DIR.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="A .csv (row, pred, p_real, proba_0..) or an .npz (pred, proba, p_real) to write; "
                   "a folder of images adds each one's file.")
@weights_option
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a line.")
def predict(run, data_spec, key, out, weights, device, as_json) -> None:
    """Classify new rows with a run's (EMA) classifier: predicted class, class probabilities, and
    the discriminator's probability that each row is real."""
    import numpy as np

    from ssgan.runs import prediction_path, predict_run, write_predictions

    _check_not_table(run, data_spec, labeled=False)
    path = prediction_path(out)  # before the work
    _check_not_data(out, "--out", run, data_spec)
    r = predict_run(run, data_spec, key, device, weights)
    write_predictions(r, path)
    counts = np.bincount(r["pred"], minlength=r["proba"].shape[1]).tolist()
    if as_json:
        click.echo(json.dumps({"run": r["run"], "data": r["data"], "epoch": r["epoch"], "weights": r["weights"],
                               "n": r["n"], "out": str(path),
                               "predicted_counts": counts, "classes": r["classes"]}))
        return
    listed = ", ".join(f"{_class_name(k, r['classes'])}: {c}" for k, c in enumerate(counts))
    click.echo(f"wrote {path}: {r['n']} row{'s' * (r['n'] != 1)} of {r['data']} (predicted classes {listed})")


def _check_not_table(run: str, data_spec: str | None, labeled: bool) -> None:
    """A one-line error for a CSV table given as ``--data``: the convert command that makes it an
    .npz of the run's columns (``--like`` the .npz the run trained on, where it trained on one)."""
    from ssgan.data import NPZ_PREFIX, own_path, table_advice
    from ssgan.runs import read_config

    if data_spec is None or table_advice(data_spec) is None or not (Path(run) / "config.json").is_file():
        return  # (not a run: said as a run's other commands say it)
    trained = read_config(Path(run)).get("dataset", "")
    like = own_path(trained) if trained.startswith(NPZ_PREFIX) else None
    raise SSGANError(table_advice(data_spec, like, labeled))


def _check_not_data(name: str | None, flag: str, run: str, data_spec: str | None = None) -> None:
    """A one-line error where ``name``, the .npz that ``flag`` writes, is a file of data: that of
    ``data_spec`` (``npz:PATH``) or the one the run trained on. Writing there had replaced the
    user's rows with predictions or samples."""
    from ssgan.data import own_path
    from ssgan.runs import read_config

    if name is None or not Path(name).is_file():
        return
    trained = read_config(Path(run)).get("dataset") if (Path(run) / "config.json").is_file() else None
    for spec, whose in ((data_spec, f"of --data {data_spec}"), (trained, f"{run} trained on")):
        given = own_path(spec) if spec else None  # (npz:PATH's or folder:DIR's; a folder is no file)
        data = Path(given).expanduser() if given else None
        if data is not None and data.is_file() and Path(name).samefile(data):
            raise SSGANError(f"{flag} {name} is the file {whose}: writing there would replace the data; give another "
                             f"{flag}")


def _class_name(k: int, classes: list[str] | None) -> str:
    """Class ``k`` as a table or line shows it: its index, and its name where the data named it.

    >>> _class_name(2, None), _class_name(2, ["cat", "dog", "fox"])
    ('2', '2 (fox)')
    """
    return str(k) if classes is None else f"{k} ({classes[k]})"


# -- samples --------------------------------------------------------------------------------

GRID_MOST = 10_000  # samples that sample's picture draws (100 x 100; FID tools take 50,000 as files or arrays)


@main.command()
@click.argument("run", type=str)
@click.option("--n", "n", type=click.IntRange(1, 100_000), default=64, show_default=True,
              help=f"Number of samples; a picture draws up to {GRID_MOST:,}, --npz and --images take them all.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="PNG to write [RUN/samples.png; RUN/samples-best.png with --weights best].")
@click.option("--npz", type=click.Path(dir_okay=False), default=None, help="Also write the raw samples (x, z) to this .npz, x in the data's own units (the run's scaling inverted).")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Also write each sample as an 8-bit PNG file into this new folder (as FID tools and "
                   "--data folder:DIR read images).")
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True, help="Seed of the noise.")
@click.option("--walk", type=int, default=None, help="Walk latent dimension DIM (rows: 8 random starts, 10 steps).")
@click.option("--interpolate", is_flag=True, help="Interpolate between pairs of noise vectors (8 rows, 10 steps).")
@weights_option
@device_option
def sample(run, n, out, npz, images, seed, walk, interpolate, weights, device) -> None:
    """Generate samples from a run's generator; no training flags needed."""
    from ssgan.runs import load_run
    from ssgan.samples import (generate, has_picture, interpolation, latent_walk, save_grid, write_image_files,
                               write_samples)

    _check_sample_names(out, npz)  # before the work
    if walk is not None and interpolate:
        raise SSGANError("choose --walk DIM or --interpolate, not both")
    if walk is not None or interpolate:  # a grid of 8 rows of 10 steps: --npz had been dropped in silence, --n too
        n_given = click.get_current_context().get_parameter_source("n") != click.core.ParameterSource.DEFAULT
        extra = [flag for flag, value in (("--n", n_given), ("--npz", npz), ("--images", images)) if value]
        if extra:
            raise SSGANError("--walk and --interpolate draw one picture of 8 rows of 10 steps into --out; --n, --npz "
                             f"and --images are for random samples: drop {' and '.join(extra)}")
    for flag, name in (("--out", out), ("--npz", npz), ("--images", images)):
        if name is not None:  # (the folder of a file, or --images' own)
            check_folder_can_be(Path(name) if flag == "--images" else Path(name).parent, f"{flag} {name}")
    _check_not_data(npz, "--npz", run)
    r = load_run(run, device, weights)
    png = Path(out or Path(run) / ("samples-best.png" if weights == "best" else "samples.png"))
    if walk is not None or interpolate:
        if not has_picture(r.shape):
            raise SSGANError(f"--walk and --interpolate draw image grids; this run's data have shape {r.shape}, "
                             "which has no picture")
        with r.computing():
            x = latent_walk(r.generator(), walk, seed=seed) if walk is not None else interpolation(r.generator(), seed=seed)
        save_grid(x, png, nrow=10)
        click.echo(f"wrote {png}")
        return
    from ssgan.runs import run_data

    grid = out is not None or not (npz or images)  # (--npz or --images alone write no picture)
    if grid and n > GRID_MOST and has_picture(r.shape):  # (before minutes of work: a grid of 100,000 is no picture)
        raise SSGANError(f"--n {n}: a picture draws at most {GRID_MOST:,} samples; write more with --npz FILE or "
                         "--images DIR, without --out")
    with r.computing():
        x, z = generate(r.generator(), n, seed)
    toy = len(r.shape) == 1 and r.shape[0] <= 2  # density plots need the real points
    real = run_data(r.config, r.path).x_train if toy else None
    said = []
    if images is not None:  # first: it checks its folder and the samples' shape before anything is written
        said.append(f"{images} ({write_image_files(x, Path(images))} images)")
    written = write_samples(x, z, png if grid else None, Path(npz) if npz else None, real,
                            to_units=r.scaler.inverse)
    click.echo("wrote " + ", ".join([*(str(p) for p in written), *said]))


def _check_sample_names(out: str | None, npz: str | None) -> None:
    """One line where a name does not say what ``sample`` writes there: ``--out`` is a PNG and
    ``--npz`` an .npz whatever the name (``--out s.npz`` had written a PNG picture named s.npz).

    >>> _check_sample_names("grid.PNG", "s.npz")
    >>> _check_sample_names("s.npz", None)
    Traceback (most recent call last):
    ssgan.errors.SSGANError: --out s.npz: sample writes a PNG picture there; give a name that ends in .png (--npz s.npz writes the samples' values)
    """
    if out is not None and Path(out).suffix.lower() != ".png":
        values = f" (--npz {out} writes the samples' values)" if Path(out).suffix.lower() == ".npz" else ""
        raise SSGANError(f"--out {out}: sample writes a PNG picture there; give a name that ends in .png{values}")
    if npz is not None and Path(npz).suffix.lower() != ".npz":
        picture = f" (--out {npz} writes the picture)" if Path(npz).suffix.lower() == ".png" else ""
        raise SSGANError(f"--npz {npz}: sample writes the samples' values as an .npz there; give a name that ends in "
                         f".npz{picture}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
