"""How a command stops short: a run that diverged, a signal that interrupted training, SIGTERM
outside a training loop. Apart from :mod:`ssgan.train`, which raises them, so that the command
line catches them without importing torch (``ssgan convert --help`` had taken 1.5 s)."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

from ssgan.errors import SSGANError


class Diverged(SSGANError):
    """A loss became NaN or infinite (``what``: which, and where in training); the run folder
    (``run_dir``, named in the line once known) keeps its last good checkpoint."""

    KEPT, ADVICE = "the last good checkpoint is kept", "try a lower --lr"  # (guard_run reads the line back)

    def __init__(self, what: str, run_dir: Path | None = None):
        self.what, self.run_dir = what, run_dir
        kept = f" in {run_dir}" if run_dir is not None else ""
        super().__init__(f"{what}: training diverged ({self.KEPT}{kept}); {self.ADVICE}")


class SeedsDiverged(Diverged):
    """Some runs of several (seeds, or baselines) diverged and the others finished:
    ``diverged`` holds (seed, the guard's words, its run folder or None) of each run that
    diverged, ``finished`` the summaries (:func:`ssgan.runs.summary`) of those that finished."""

    def __init__(self, message: str, diverged: list[tuple[int, str, str | None]], finished: list[dict]):
        SSGANError.__init__(self, message)
        self.what, self.run_dir = message, None
        self.diverged, self.finished = diverged, finished


class Interrupted(Exception):
    """Training stopped by SIGINT or SIGTERM after a checkpoint was written."""

    def __init__(self, signum: int, epoch: int, iteration: int, run_dir: Path | None):
        self.signum, self.epoch, self.iteration, self.run_dir = signum, epoch, iteration, run_dir
        name = signal.Signals(signum).name
        super().__init__(f"{name} at epoch {epoch}, iteration {iteration}")


class Terminated(KeyboardInterrupt):
    """SIGTERM where no training loop handles signals (a run setting up, a command writing its
    files): raised as Ctrl-C's KeyboardInterrupt is, so that what the command made is cleaned
    up as on Ctrl-C (:func:`ssgan.runs.fit` removes the folder of a run that never
    checkpointed), where Python's default handler ended the process on the spot."""


def signal_of(stop: KeyboardInterrupt) -> int:
    """The signal that raised ``stop``: SIGTERM for :class:`Terminated`, else Ctrl-C's SIGINT."""
    return signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT


@contextlib.contextmanager
def sigterm_raises():
    """SIGTERM raises :class:`Terminated` inside the block (in the main thread; a loop's
    :class:`StopFlag` takes the signal over while it trains)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
