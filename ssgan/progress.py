"""What a command prints while runs train: live bars of epochs on a terminal, a line per epoch
where its output goes to a log, and warnings as one line each (the command line's reporters,
:class:`ssgan.train.Reporter`). rich and the training code are imported only when a run starts,
so that commands that train nothing start fast."""

from __future__ import annotations

import json
import os
import time

import click

SHOWN: set[str] = set()  # the data's warnings this command printed: each once, whichever seed's run finds it first


def echo_warning(message: str, prefix: str = "", echo=None) -> None:
    """A one-line warning on stderr (``prefix``: whose run it is, among several; ``echo``: what
    prints it, where not click). Children of ``--parallel-mode processes`` are read by this
    form (``ssgan.launch``)."""
    from ssgan.launch import WARNING

    line = f"{prefix}{WARNING}{message}"
    click.echo(line, err=True) if echo is None else echo(line)


def make_console(stderr: bool = False):
    """rich's console on stdout (the commands' tables) or on stderr (the bars of training)."""
    from rich.console import Console

    return Console(stderr=stderr)


def training_bars(console):
    """rich's bars of training on ``console``: a task's name, bar, count, time spent and left, and
    its ``info`` field (an accuracy, losses)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console)


def reporter(prefix: str = ""):
    """Live bars of epochs and batches on a terminal; elsewhere (a log file, a batch scheduler's
    output) a line per epoch, where the bars would print once, at the end (``prefix``: whose
    run it is, among several)."""
    from ssgan.train import Reporter, loss_words

    console = make_console(stderr=True)
    if not console.is_terminal:
        return epoch_lines(prefix)

    class RichReporter(Reporter):
        def __init__(self) -> None:
            self.progress = training_bars(console)

        def close(self):
            self.progress.stop()  # (bars never started print nothing: rich's stop is then a no-op)

        def on_start(self, epochs, iterations, start_epoch):
            self.progress.start()  # only now: errors found before training print no empty bar
            self.epochs = self.progress.add_task("epochs", total=epochs, completed=start_epoch, info="")
            self.batches = self.progress.add_task("batches", total=iterations, info="")

        def on_batch(self, epoch, iteration, values):
            if iteration == 1:
                self.progress.reset(self.batches, total=self.progress.tasks[self.batches].total, info="")
            if iteration % 10 == 0 or iteration == self.progress.tasks[self.batches].total:
                info = loss_words(values)
                self.progress.update(self.batches, completed=iteration, info=info)

        def on_warning(self, message):
            self.progress.console.print(f"[yellow]warning:[/yellow] {message}")

        def on_epoch(self, metrics):
            self.progress.update(self.epochs, completed=metrics["epoch"], info=bar_accuracy(metrics))

    return RichReporter()


LOG_EVERY_S = 10  # a log's epoch lines come at most this often (the first and the last epoch's always)


def epoch_lines(prefix: str = ""):
    """The reporter of ``fit`` whose stderr is no terminal: a line per epoch (its accuracies,
    mean losses and seconds, and about how long is left), at most every :data:`LOG_EVERY_S`
    seconds but for the first and the last, and each warning, as they come."""
    from ssgan.train import Reporter, loss_words

    class EpochLines(Reporter):
        def on_start(self, epochs, iterations, start_epoch):
            self.epochs, self.first, self.t0 = epochs, start_epoch, time.perf_counter()
            self.said = -LOG_EVERY_S

        def on_epoch(self, metrics):
            epoch, elapsed = metrics["epoch"], time.perf_counter() - self.t0
            if epoch not in (self.first + 1, self.epochs) and elapsed - self.said < LOG_EVERY_S:
                return  # (epochs of a fraction of a second would flood the log)
            self.said = elapsed
            accs = [f"{split} acc {fmt(metrics[f'{split}_acc'])}" for split in ("val", "test")
                    if metrics.get(f"{split}_acc") is not None]
            losses = loss_words(metrics)
            left = elapsed / max(epoch - self.first, 1) * (self.epochs - epoch)  # (at this session's pace)
            eta = "" if epoch == self.epochs else ", under 1 s left" if left < 0.5 else f", about {duration(left)} left"
            click.echo(f"{prefix}epoch {epoch}/{self.epochs}: {', '.join([*accs, losses])}, "
                       f"{metrics['seconds']:.1f} s{eta}", err=True)

        def on_warning(self, message):
            click.echo(f"{prefix}warning: {message}", err=True)

        def close(self):
            pass

    return EpochLines()


def duration(seconds: float) -> str:
    """A wait in words: 40 s, 12 min, 2.5 h.

    >>> duration(40.4), duration(725), duration(9000)
    ('40 s', '12 min', '2.5 h')
    """
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def warn_once(message: str) -> None:
    """A warning of the library's, unless this command printed it already (each seed's run finds
    the data's warnings again); it is then among those :func:`unshown_warning` leaves out."""
    if message not in SHOWN:
        SHOWN.add(message)
        echo_warning(message)


def unshown_warning(who: str, message: str, echo=None) -> None:
    """A warning of the run called ``who`` among several (``seed 3``, ``same-net seed 3``), unless
    it is one of the data's that this process printed already (each child of ``--parallel-mode
    processes`` prints them again)."""
    if message not in SHOWN:
        echo_warning(message, f"{who}: ", echo)


def seed_warning(seed: int, message: str, echo=None) -> None:
    """:func:`unshown_warning` of the run of ``seed``."""
    unshown_warning(f"seed {seed}", message, echo)


def warning_lines(prefix: str = ""):
    """The reporter of ``fit --json``: nothing but the training's warnings, one line each on
    stderr (``prefix``: whose run it is, among several); in a child of ``--parallel-mode
    processes`` whose parent shows the epochs, also a ``Progress: ...`` line per start and
    epoch, for the parent (:data:`ssgan.launch.PROGRESS`)."""
    from ssgan.launch import PROGRESS, PROGRESS_ENV
    from ssgan.train import Reporter

    told = os.environ.get(PROGRESS_ENV) == "1"

    class WarningLines(Reporter):
        def on_start(self, epochs, iterations, start_epoch):
            if told:
                click.echo(PROGRESS + json.dumps({"start": [epochs, iterations, start_epoch]}), err=True)

        def on_epoch(self, metrics):
            if told:
                click.echo(PROGRESS + json.dumps({"epoch": metrics}), err=True)

        def on_warning(self, message):
            echo_warning(message, prefix)

        def close(self):
            pass

    return WarningLines()


class SeedsProgress:
    """The epochs of several runs that train at once (``--parallel``): on a terminal a bar of
    epochs per run, named by its seed; elsewhere each run's epoch lines (:func:`epoch_lines`),
    after ``seed N: ``. :meth:`reporter` is a run's; :meth:`log` and :meth:`warn` print a line
    (above the bars).
    Use as a context: the bars end with it."""

    def __init__(self) -> None:
        console = make_console(stderr=True)
        self.bars = training_bars(console) if console.is_terminal else None

    def __enter__(self) -> "SeedsProgress":
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bars is not None:
            self.bars.stop()

    def log(self, message: str) -> None:
        if self.bars is not None:  # (above the bars: click's own writes would land on their line)
            self.bars.console.print(message, markup=False, highlight=False)
        else:
            click.echo(message, err=True)

    def warn(self, seed: int, message: str) -> None:
        seed_warning(seed, message, self.log)

    def reporter(self, seed: int):
        return self.named(f"seed {seed}")

    def named(self, who: str):
        """The reporter of the run called ``who`` (``seed 3``, ``same-net seed 3``)."""
        from ssgan.train import Reporter

        if self.bars is None:
            return epoch_lines(f"{who}: ")
        bars = self.bars

        class SeedBar(Reporter):
            def on_start(self, epochs, iterations, start_epoch):
                self.task = bars.add_task(who, total=epochs, completed=start_epoch, info="")

            def on_epoch(self, metrics):
                bars.update(self.task, completed=metrics["epoch"], info=bar_accuracy(metrics))

        return SeedBar()


def bar_accuracy(metrics: dict) -> str:
    """What a bar of epochs shows of an epoch's metrics: its test accuracy, or the validation
    accuracy of data without a test set.

    >>> bar_accuracy({"test_acc": None, "val_acc": 0.5}), bar_accuracy({"test_acc": 0.25})
    ('val acc 0.5000', 'test acc 0.2500')
    """
    split = "val" if metrics["test_acc"] is None and metrics.get("val_acc") is not None else "test"
    return f"{split} acc {fmt(metrics[f'{split}_acc'])}"


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
