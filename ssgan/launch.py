"""Running the current ``ssgan fit`` command several times at once: under torchrun
(``--nproc``), as one process per seed (``--seeds ... --parallel N``), or as one thread per seed
in this process (``--parallel-mode threads``).

A child process runs exactly the command the user gave, less the launcher's own options. The
cores are shared out through ``OMP_NUM_THREADS`` unless it is set, and among threads on the CPU
by as many intra-op threads each; on CUDA every child uses the same device. Processes on one
GPU take turns on it (without NVIDIA's MPS their kernels never run side by side); threads share
one CUDA context, and each trains on its own stream, so that the GPU can run the small kernels
of several seeds at once.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, MutableMapping, NamedTuple, Sequence

from ssgan.config import Config
from ssgan.errors import SSGANError, first_line

if TYPE_CHECKING:
    from ssgan.runs import ResumePoint
    from ssgan.train import Reporter


def without(args: list[str], options: tuple[str, ...]) -> list[str]:
    """``args`` less each option of ``options`` and its value (``--opt V`` or ``--opt=V``)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in options:
            skip = True
        elif not any(a.startswith(o + "=") for o in options):
            out.append(a)
    return out


def _seed_args(args: list[str], launcher: tuple[str, ...]) -> list[str]:
    """The command ``args`` of all the seeds less the ``launcher``'s options and the output
    flags (``--json``, ``--quiet``), to which each seed's run adds its ``--seed``."""
    return [a for a in without(args, launcher) if a not in ("--json", "--quiet")]


def _threads(env: MutableMapping[str, str], share: int) -> MutableMapping[str, str]:
    """``env`` with ``OMP_NUM_THREADS``, unless set there, at this machine's cores shared by
    ``share`` processes."""
    env.setdefault("OMP_NUM_THREADS", str(_cores_each(share)))
    return env


def _cores_each(share: int) -> int:
    """This machine's cores shared by ``share`` runs side by side, at least one each."""
    return max(1, (os.cpu_count() or 1) // share)


def launch_torchrun(nproc: int) -> int:
    """Run this very command under torchrun in ``nproc`` processes on this machine (without
    its --nproc, which torchrun's world size replaces); return the exit code of the job.

    torchrun's agent runs in this process, as the ``torchrun`` command would run it: SIGINT
    and SIGTERM to this process reach it, and it passes them to the workers, which checkpoint
    and stop together; the code is then ``128 + signal``. A failed worker's code is returned,
    after one line that names it unless the worker itself said why in one line: bad input
    (code 2), or a signal of its own that it stopped on with a checkpoint (130, 143). The
    agent's own log lines are left out (``LOGLEVEL``, as for torchrun, shows them): they repeat
    what the workers and this line say."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("torch.distributed.elastic") and isinstance(logger, logging.Logger):
            logger.setLevel(os.environ.get("LOGLEVEL", "CRITICAL"))
    _threads(os.environ, nproc)  # (the workers' environment is this process's)
    try:
        torchrun(["--standalone", f"--nproc-per-node={nproc}", "-m", "ssgan", *without(sys.argv[1:], ("--nproc",))])
    except SignalException as e:
        return 128 + int(e.sigval)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        code = failure.exitcode if failure.exitcode >= 0 else 128 - failure.exitcode  # killed: 128 + signal
        if code not in (2, 128 + signal.SIGINT, 128 + signal.SIGTERM):
            how = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit code {code}"
            print(f"{ERROR}rank {rank} of --nproc {nproc} failed ({how}); the other ranks were stopped", file=sys.stderr)
        return code
    return 0


# the settings of a run that `fit --resume` may change (the rest are the run's own): its length,
# its device, and where its data are now
RESUME_CHANGES = ("epochs", "device", "dataset", "data_root")


@dataclass(frozen=True)
class Job:
    """One of several runs: a new run of ``cfg`` (its seed set), or the run folder ``resume``
    continued (``cfg``: its own config; ``point``: where, :func:`ssgan.runs.resume_point`)."""

    cfg: Config
    resume: str | None = None
    point: ResumePoint | None = None

    @property
    def seed(self) -> int:
        return self.cfg.seed

    @property
    def resume_changes(self) -> dict:
        """What :func:`ssgan.runs.resume` continues the run with: its length, device and data's place."""
        return {key: getattr(self.cfg, key) for key in RESUME_CHANGES}


def resume_command(runs: Sequence[str], parallel: int = 1, mode: str | None = None) -> str:
    """``ssgan fit --resume ...`` of ``runs``, with ``parallel`` at a time (in ``mode``)."""
    words = ["ssgan", "fit", *(w for run in runs for w in ("--resume", str(run)))]
    if len(runs) > 1 and parallel > 1:
        words += ["--parallel", str(min(parallel, len(runs)))] + (["--parallel-mode", mode] if mode else [])
    return shlex.join(words)


# How the lines of a run's stderr begin (ssgan.cli and ssgan.progress write them; the errors' is click's), which
# the children of run_in_processes are read by
ERROR, WARNING, RESUME = "Error: ", "Warning: ", "Resume with: "
# and, where the parent shows its children's epochs (PROGRESS_ENV set to 1 in theirs), a line
# per training start and epoch: PROGRESS and a JSON object, {"start": [epochs, iterations,
# start_epoch]} or {"epoch": the epoch's metrics}
PROGRESS, PROGRESS_ENV = "Progress: ", "SSGAN_PROGRESS_LINES"


class SeedsInterrupted(Exception):
    """SIGINT or SIGTERM stopped several runs (``--seeds ...`` or ``--resume`` of several): the
    running ones checkpointed, and no further one started. The message is how to go on: one
    ``ssgan fit --resume`` of the stopped runs and of resumed runs that never started
    (``resumes``), and the command of the new runs that never started (``rest``)."""

    def __init__(self, signum: int, resumes: Sequence[str], rest: str | None, parallel: int = 1,
                 mode: str | None = None):
        self.signum = signum
        parts = []
        if resumes:
            parts.append(f"checkpoint{'s' if len(resumes) > 1 else ''} written. {RESUME}"
                         f"{resume_command(resumes, parallel, mode)}")
        if rest:
            parts.append(f"not started: {rest}")
        super().__init__("; ".join(parts) or "no run was left to stop")


class OutOfDeviceMemory(SSGANError):
    """The device ran out of memory while ``runs`` (their folders) trained, each of which kept
    its last checkpoint (a GPU shared with other jobs, too many runs on it at once): what to do,
    and the command that resumes them, ``parallel`` at a time (in ``mode``)."""

    BEGINS = "the device ran out of memory ("

    def __init__(self, reason: str, runs: Sequence[str], parallel: int = 1, mode: str | None = None):
        self.reason, self.runs = reason, list(runs)
        them = " them" if len(runs) > 1 else ""
        super().__init__(f"{self.BEGINS}{reason}): free it, or train fewer runs on it at once (--parallel), then "
                         f"resume{them} with: {resume_command(runs, parallel, mode)}; a run too large to fit alone "
                         "needs a smaller --batch-size or network, in a new run")

    @classmethod
    def read(cls, message: str) -> "OutOfDeviceMemory | None":
        """The error whose message is ``message`` (a run's line, as a child process prints it
        after ``Error: ``), or None for any other message."""
        if not message.startswith(cls.BEGINS):
            return None
        reason = message[len(cls.BEGINS):].split("): free it, ")[0]
        words = shlex.split(message.split(" with: ", 1)[1].split(";")[0])
        return cls(reason, [words[i + 1] for i, w in enumerate(words) if w == "--resume"])


def interrupted(signum: int, jobs: Sequence[Job], stopped: dict[int, str], started: set[int],
                command: Sequence[str] | None, parallel: int, mode: str | None) -> SeedsInterrupted:
    """What a signal leaves of ``jobs`` (their places): the ``stopped`` ones' run folders and
    the resumed ones never started to resume, the new ones never started to run with
    ``command`` (the words of the whole ``ssgan fit --seeds ...`` command) on their seeds."""
    resumes = [stopped[i] if i in stopped else job.resume for i, job in enumerate(jobs)
               if i in stopped or (i not in started and job.resume)]
    return SeedsInterrupted(signum, resumes, not_started(jobs, started, command), parallel, mode)


def not_started(jobs: Sequence[Job], started: set[int], command: Sequence[str] | None) -> str | None:
    """The new runs of ``jobs`` not ``started`` (their places), with the command that trains
    them: ``seeds 3,4, with ssgan fit ... --seeds 3,4`` (``command``: the words of the whole
    ``ssgan fit --seeds ...``; for one seed, less ``--parallel``); None if none."""
    seeds = [job.seed for i, job in enumerate(jobs) if i not in started and not job.resume]
    if not (seeds and command):
        return None
    alone = ("--parallel", "--parallel-mode") if len(seeds) == 1 else ()  # (one run: they would do nothing)
    return f"seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))}, with " + shlex.join(
        [*without(list(command), ("--seeds", *alone)), "--seeds", seeds_value(seeds)])


def seeds_value(seeds: Sequence[int]) -> str:
    """The ``--seeds`` value of exactly ``seeds``: ``--seeds 3`` would be a count (seeds 1, 2
    and 3), so one seed is the range ``3-3``."""
    return ",".join(map(str, seeds)) if len(seeds) > 1 else f"{seeds[0]}-{seeds[0]}"


def failed(failures: list[tuple[int, int, str]], finished: list[dict], total: int, parallel: int = 1,
           mode: str | None = None, what=lambda seed: f"the run of seed {seed}", unit: str = "seeds") -> SSGANError:
    """The error of the first of ``failures`` (seed, exit code, its last line) of ``total`` runs
    (``unit``) that ran ``parallel`` at a time (in ``mode``), of which ``finished`` (their
    summaries) finished, the run named ``what(seed)``; if every one of them diverged (exit code
    3: the NaN guard's), a :func:`diverged` that names them all, which a report counts apart;
    if several ran out of device memory (a stacked group's runs do so together), one
    :class:`OutOfDeviceMemory` that resumes them all, fewer at once."""
    done = len(finished)
    read = [(seed, OutOfDeviceMemory.read(m.removeprefix(ERROR))) for seed, code, m in failures if code == 2]
    memory = [e for _, e in sorted(read, key=lambda t: t[0]) if e]  # (in the order of the seeds, whichever failed first)
    if len(memory) > 1:
        return OutOfDeviceMemory(memory[0].reason, [run for e in memory for run in e.runs], _fewer(parallel), mode)
    if all(code == 3 for _, code, _ in failures):
        return diverged([(seed, f"seed {seed}", message.removeprefix(ERROR)) for seed, _, message in failures],
                        finished, total)
    seed, code, message = failures[0]
    if code == 2 and message.startswith(ERROR):  # bad input: the child's own one-line message
        return SSGANError(message[len(ERROR):])
    return SSGANError(f"{what(seed)} failed ({message}); {done} of {total} {unit} finished")


def diverged(runs: list[tuple[int, str, str]], finished: list[dict], total: int, unit: str = "seeds") -> SSGANError:
    """The :class:`ssgan.stops.SeedsDiverged` of ``total`` runs (``unit``), of which ``runs``
    (seed, what the run is called, the NaN guard's line) diverged and ``finished`` (their
    summaries) finished: each run that diverged named with the guard's words, which a report
    counts apart."""
    from ssgan.stops import SeedsDiverged
    from ssgan.train import guard_run, guard_words

    words = [(seed, name, guard_words(line), guard_run(line)) for seed, name, line in runs]
    which = "; ".join(f"{name}: {why}" for _, name, why, _ in words)
    return SeedsDiverged(f"{len(runs)} of {total} {unit} diverged ({which}) and {len(finished)} finished; each "
                         "diverged run keeps its last good checkpoint (if it wrote one), and ssgan report counts it "
                         "apart from the means; try a lower --lr", [(seed, why, run) for seed, _, why, run in words],
                         finished)


def _read_lines(stream, lines: list[str], on_warning, reporter: Reporter | None = None) -> threading.Thread:
    """Read a child's stderr as it comes (a child blocked on a full pipe would never end), keep
    its non-empty lines and pass on its ``Warning: ...`` lines' messages as they are printed,
    and its ``Progress: ...`` lines to ``reporter``'s ``on_start`` and ``on_epoch``."""
    def read() -> None:
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith(PROGRESS):
                try:
                    event = json.loads(line[len(PROGRESS):])
                    if reporter is not None:
                        reporter.on_start(*event["start"]) if "start" in event else reporter.on_epoch(event["epoch"])
                except Exception:  # (progress shown or not, the pipe must be drained, or the child blocks)
                    pass
                continue
            if line.strip():
                lines.append(line)
            if line.startswith(WARNING):
                on_warning(line[len(WARNING):])

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


class Child(NamedTuple):
    """A child process of ``ssgan``, its stdout a pipe, and the thread that reads its stderr's lines into ``lines``."""

    proc: subprocess.Popen
    reader: threading.Thread
    lines: list[str]


def start_child(args: Sequence[str], env: MutableMapping[str, str], on_warning, reporter: Reporter | None = None
                ) -> Child:
    """``ssgan ARGS --json`` in a process of its own: the summary on its stdout, and on its
    stderr only warnings, errors and (``PROGRESS_ENV`` set in ``env``) progress, read as
    :func:`_read_lines` reads them."""
    proc = subprocess.Popen([sys.executable, "-m", "ssgan", *args, "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    return Child(proc, _read_lines(proc.stderr, lines, on_warning, reporter), lines)


def checkpointed(code: int, lines: list[str], signum: int | None) -> str | None:
    """The run folder of a child that the signal ``signum`` stopped with a checkpoint (its exit
    code the signal's, its last line saying how to resume); None for any other end."""
    if signum is None or code != 128 + signum or not lines or RESUME not in lines[-1]:
        return None
    return shlex.split(lines[-1].split(RESUME)[-1])[-1]


def drive_children(pending: list, parallel: int, start, finish) -> int | None:
    """Run a child process for each item of ``pending``, at most ``parallel`` at a time, in
    its order: ``start(item)`` starts one (a :class:`Child`), and ``finish(item, exit code,
    stdout, stderr lines, signal)`` reads one that ended (``signal``: the one that stopped
    them, or None). SIGINT or SIGTERM reach every running child (a training run checkpoints
    and stops), and no further one starts: the items left in ``pending`` never started. Return
    that signal, or None."""
    running: dict = {}
    stopped: list[int] = []

    def stop(signum, frame):
        stopped.append(signum)
        for child in running.values():
            child.proc.send_signal(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while pending or running:
            while pending and len(running) < parallel and not stopped:
                item = pending.pop(0)
                running[item] = child = start(item)
                if stopped:  # the signal came while it started, before it was among those that stop() reaches
                    child.proc.send_signal(stopped[0])
            for item, child in list(running.items()):
                if child.proc.poll() is None:
                    continue
                child.reader.join()
                out = child.proc.stdout.read()
                del running[item]
                finish(item, child.proc.returncode, out, child.lines, stopped[0] if stopped else None)
            if stopped and not running:
                break
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return stopped[0] if stopped else None


def run_in_processes(command: Sequence[str], jobs: Sequence[Job], parallel: int, log=lambda msg: None,
                     warn=lambda seed, msg: None, mode: str | None = None, progress=None) -> list[dict]:
    """Train ``jobs``, at most ``parallel`` at a time, each in its own process and run folder:
    a new run is the ``ssgan fit`` ``command`` (its words, ``["ssgan", "fit", ...]``) with the
    job's ``--seed`` in place of the launcher's options, a resumed one ``ssgan fit --resume
    RUN``. Return their ``--json`` summaries in the order of ``jobs``. ``warn(seed, message)``
    receives each one-line warning of a run as it is printed; ``progress(seed)``, if given, is
    the :class:`ssgan.train.Reporter` of the run's start and epochs, which its child tells it.

    SIGINT or SIGTERM reach every running child, which checkpoints and stops; no further run
    starts, and :class:`SeedsInterrupted` says how to go on (``mode``: the ``--parallel-mode``
    given, for its resume command). If a child fails, the others finish and the first
    failure's message is raised."""
    base = _seed_args(list(command)[1:], ("--seeds", "--parallel", "--parallel-mode", "--seed"))
    env = _threads(dict(os.environ), min(parallel, len(jobs)))
    if progress is not None:
        env[PROGRESS_ENV] = "1"
    pending, results, failures, stopped_runs = list(range(len(jobs))), {}, [], {}
    unstarted: set[int] = set()  # children a signal stopped before they had a checkpoint to resume

    def start(i: int) -> Child:
        seed = jobs[i].seed
        args = (["fit", "--resume", jobs[i].resume, *(word for key, value in jobs[i].resume_changes.items()
                                                      if value is not None
                                                      for word in (f"--{key.replace('_', '-')}", str(value)))]
                if jobs[i].resume else [*base, "--seed", str(seed)])
        child = start_child(args, env, lambda msg: warn(seed, msg), progress(seed) if progress is not None else None)
        log(f"seed {seed}: started")
        return child

    def finish(i: int, code: int, out: str, lines: list[str], stopped: int | None) -> None:
        seed = jobs[i].seed
        if run := checkpointed(code, lines, stopped):
            stopped_runs[i] = run
        elif stopped and code != 0:  # stopped before it trained (still starting up)
            unstarted.add(i)
        elif code == 0:
            results[i] = json.loads(out.strip().splitlines()[-1])
            log(f"seed {seed}: done, {results[i]['run']}")
        else:
            failures.append((seed, code, lines[-1] if lines else f"exit code {code}"))
            log(f"seed {seed}: failed ({failures[-1][2]})")

    signum = drive_children(pending, parallel, start, finish)
    if signum is not None:
        started = set(range(len(jobs))) - set(pending) - unstarted
        raise interrupted(signum, jobs, stopped_runs, started, command, parallel, mode)
    if failures:
        raise failed(failures, [results[i] for i in sorted(results)], len(jobs), parallel, mode)
    return [results[i] for i in range(len(jobs))]


def check_threads(cfg: Config) -> None:
    """Stop with one line if the runs of ``cfg`` cannot train in threads of one process."""
    if cfg.compile:
        raise SSGANError("--parallel-mode threads cannot train --compile networks (torch.compile's noise layers draw "
                         "from torch's global generator, which the threads share); use --parallel-mode processes")


def run_seeds_in_threads(cfg: Config, seeds: list[int], parallel: int, command: str, log=lambda msg: None,
                         stacked: bool = False, warn=lambda seed, msg: None, progress=None) -> list[dict]:
    """:func:`run_in_threads` of one new run of ``cfg`` per seed of ``seeds``."""
    return run_in_threads([Job(cfg.replace(seed=seed)) for seed in seeds], parallel, command, log, warn,
                          "stacked" if stacked else "threads", progress)


def run_in_threads(jobs: Sequence[Job], parallel: int, command: str, log=lambda msg: None,
                   warn=lambda seed, msg: None, mode: str = "threads", progress=None) -> list[dict]:
    """:func:`run_in_processes` in threads of this process: ``jobs``, at most ``parallel`` at a
    time, each in its own run folder and, on CUDA, on its own stream. ``command`` is the ``ssgan
    fit`` command of the new runs, which each run's folder keeps with ``--seed`` in place of the
    launcher's options. ``mode`` ``stacked`` (``--parallel-mode stacked``): the runs train in groups of
    ``parallel``, whose steps run as one (:class:`ssgan.batched.SeedGroup`); resumed ones must
    be at one place (:func:`stacked_start`); a last group of one run trains as that run alone.

    Each run draws every random number from a generator of its own (:func:`ssgan.train.train`),
    so a seed trains as it would alone (stacked: but for D's noise, the group's) with as many
    intra-op threads: on the CPU, unless ``OMP_NUM_THREADS`` is set, its share of the cores, as
    a process of :func:`run_in_processes` gets. SIGINT or
    SIGTERM stop every running run after its batch with a checkpoint (a group's runs after the
    same step), and no further run starts (:class:`SeedsInterrupted`). ``warn(seed, message)``
    receives each one-line warning of a run (the group's, stacked, through its first run), and
    ``progress(seed)``, if given, is the reporter of its start and epochs."""
    import torch

    from ssgan import runs
    from ssgan.batched import SeedGroup
    from ssgan.stops import Diverged, Interrupted
    from ssgan.train import Reporter, StopFlag, resolve_device

    class Warnings(Reporter):
        def __init__(self, seed: int):
            self.seed = seed
            self.progress = progress(seed) if progress is not None else Reporter()

        def on_start(self, epochs: int, iterations: int, start_epoch: int) -> None:
            self.progress.on_start(epochs, iterations, start_epoch)

        def on_epoch(self, metrics: dict) -> None:
            self.progress.on_epoch(metrics)

        def on_warning(self, message: str) -> None:
            warn(self.seed, message)

    stacked = mode == "stacked"
    for job in jobs:
        check_threads(job.cfg)
    # Each run's operators take its share of the cores, as a process's do (OMP_NUM_THREADS, which
    # then decides alone): a thread that runs torch's parallel operators gets a team of OpenMP
    # threads of its own, and N teams of all the cores oversubscribe them (two seeds on 2 cores
    # stepped about a fifth slower). Stacked runs keep all of them: a group's steps run one at a
    # time, and a last run of one trains alone.
    own_threads = torch.get_num_threads()  # (torch.set_num_threads in a thread also sets later threads')
    shared = not stacked and "OMP_NUM_THREADS" not in os.environ
    cores_each = _cores_each(min(parallel, len(jobs))) if shared else None
    words = _seed_args(shlex.split(command), ("--seeds", "--parallel", "--parallel-mode", "--seed"))
    results, failures, stopped_runs, started = {}, [], {}, set()
    stop = StopFlag(True)
    groups = {}
    if stacked:
        for i in range(0, len(jobs), parallel):
            places = range(i, min(i + parallel, len(jobs)))
            if len(places) == 1:  # a last group of one would share nothing: it trains as a run alone
                continue
            start = stacked_start([jobs[j] for j in places]) if jobs[i].resume else ()
            group = SeedGroup([jobs[j].seed for j in places], resolve_device(jobs[i].cfg.device), start)
            groups.update({j: group for j in places})

    def one(i: int) -> None:
        try:
            train_one(i, jobs[i])
        finally:
            if i in groups:  # ended, failed or never started: its group goes on without it
                groups[i].leave()

    def train_one(i: int, job: Job) -> None:
        if stop.signum is not None:  # as in sequence: after a signal no run starts
            return
        started.add(i)
        log(f"seed {job.seed}: started")
        device = resolve_device(job.cfg.device)
        if device.type == "cpu" and cores_each is not None:
            torch.set_num_threads(cores_each)
        # a stream per run; none for stacked runs, whose steps run on the thread of whichever run comes last
        stream = torch.cuda.Stream(device) if device.type == "cuda" and i not in groups else None
        try:
            with torch.cuda.stream(stream) if stream is not None else nullcontext():
                if job.resume:
                    run_dir, result = runs.resume(job.resume, Warnings(job.seed), stop=stop, group=groups.get(i),
                                                  **job.resume_changes)
                else:
                    run_dir, result = runs.fit(job.cfg, Warnings(job.seed),
                                               command=shlex.join([*words, "--seed", str(job.seed)]), stop=stop,
                                               group=groups.get(i))
            results[i] = runs.summary(run_dir, result)
            log(f"seed {job.seed}: done, {run_dir}")
        except Interrupted as e:
            stopped_runs[i] = str(e.run_dir)
        except Exception as e:  # the others finish; the first failure is reported, as a process's would be
            if isinstance(e, SSGANError):
                failures.append((job.seed, 3 if isinstance(e, Diverged) else 2, f"{ERROR}{e}"))
            else:
                failures.append((job.seed, 1, f"{type(e).__name__}: {first_line(str(e))}"))
            log(f"seed {job.seed}: failed ({failures[-1][2]})")

    try:
        with stop, ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="ssgan-seed") as pool:
            futures = [pool.submit(one, i) for i in range(len(jobs))]
            while wait(futures, timeout=0.2).not_done:  # short waits: the signal handler runs in between
                pass
    finally:
        torch.set_num_threads(own_threads)
    if stop.signum is not None:
        raise interrupted(stop.signum, jobs, stopped_runs, started, shlex.split(command), parallel, mode)
    if failures:
        raise failed(failures, [results[i] for i in sorted(results)], len(jobs), parallel, mode)
    return [results[i] for i in range(len(jobs))]


def _fewer(parallel: int) -> int:
    """Fewer runs at once than ``parallel``: its largest divisor below it (half, where it is
    even), so that each new stacked group is part of one old group, whose runs stopped at one
    place and so can resume as one group (:func:`stacked_start`).

    >>> [_fewer(parallel) for parallel in (2, 4, 5, 6, 10)]
    [1, 2, 1, 3, 5]
    """
    return max((d for d in range(1, parallel) if parallel % d == 0), default=1)


def stacked_start(jobs: Sequence[Job]) -> tuple[int, int]:
    """Where the resumed ``jobs``, to be resumed as one group (``--parallel-mode stacked``),
    continue: their checkpoints' epoch and iteration (:attr:`Job.point`), which must be the
    same, as must their configs but for the seed (one line says what differs and what to do
    instead)."""
    from ssgan.batched import check_stackable

    for job in jobs:
        if job.point.shape is not None:  # (before its first checkpoint a run has not told its data's shape)
            check_stackable(job.cfg, job.point.shape)
    if len({job.cfg.replace(seed=0) for job in jobs}) > 1:
        raise SSGANError(f"--parallel-mode stacked resumes runs that differ in their seeds alone, and {jobs[0].resume} "
                         f"and another differ in their config: use --parallel-mode threads or processes")
    places = [(job.point.epoch, job.point.iteration) for job in jobs]
    if len(set(places)) > 1:
        where = ", ".join(f"{job.resume}: " + (f"epoch {e + 1}, iteration {i}" if i else f"after epoch {e}")
                          for job, (e, i) in zip(jobs, places))
        raise SSGANError(f"--parallel-mode stacked resumes runs stopped at one place, and these stopped at "
                         f"different ones ({where}): use --parallel-mode threads or processes")
    return places[0]
