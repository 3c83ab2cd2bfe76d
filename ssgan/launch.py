"""Running the current ``ssgan fit`` command several times at once: under torchrun
(``--nproc``), as one process per seed (``--seeds ... --parallel N``), or as one thread per seed
in this process (``--parallel-mode threads``).

A child process runs exactly the command the user gave, less the launcher's own options. The
cores are shared out through ``OMP_NUM_THREADS`` unless it is set; on CUDA every child uses the
same device. Processes on one GPU take turns on it (without NVIDIA's MPS their kernels never
run side by side); threads share one CUDA context, and each trains on its own stream, so that
the GPU can run the small kernels of several seeds at once.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext

from ssgan.config import Config
from ssgan.errors import SSGANError, first_line


def _without(args: list[str], options: tuple[str, ...]) -> list[str]:
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
    return [a for a in _without(args, launcher) if a not in ("--json", "--quiet")]


def _threads(share: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // share)))
    return env


def launch_torchrun(nproc: int) -> int:
    """Run this very command under torchrun in ``nproc`` processes on this machine (without
    its --nproc, which torchrun's world size replaces); return torchrun's exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "ssgan", *_without(sys.argv[1:], ("--nproc",))]
    try:
        return subprocess.call(cmd, env=_threads(nproc))
    except KeyboardInterrupt:  # torchrun forwards the signal to its workers, which checkpoint
        return 130


class SeedsInterrupted(Exception):
    """SIGINT or SIGTERM stopped ``--seeds ... --parallel N``: the running seeds checkpointed
    (``resumes``: how to continue each) and the ``pending`` ones never started."""

    def __init__(self, signum: int, resumes: list[str], pending: list[int]):
        self.signum = signum
        parts = [signal.Signals(signum).name, *resumes]
        if pending:
            parts.append(f"not started: seeds {','.join(map(str, pending))} (run them with --seeds "
                         f"{','.join(map(str, pending))})")
        super().__init__("; ".join(parts))


def _failed(failures: list[tuple[int, int, str]], done: int, total: int) -> SSGANError:
    """The error of the first of ``failures`` (seed, exit code, its last line)."""
    seed, code, message = failures[0]
    if code == 2 and message.startswith("Error: "):  # bad input: the child's own one-line message
        return SSGANError(message[len("Error: "):])
    return SSGANError(f"the run of seed {seed} failed ({message}); {done} of {total} seeds finished")


def _read_lines(stream, lines: list[str], on_warning) -> threading.Thread:
    """Read a child's stderr as it comes (a child blocked on a full pipe would never end), keep
    its non-empty lines and pass on its ``Warning: ...`` lines' messages as they are printed."""
    def read() -> None:
        for line in stream:
            line = line.rstrip("\n")
            if line.strip():
                lines.append(line)
            if line.startswith("Warning: "):
                on_warning(line[len("Warning: "):])

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def run_seeds_in_parallel(args: list[str], seeds: list[int], parallel: int, log=lambda msg: None,
                          warn=lambda seed, msg: None) -> list[dict]:
    """Train one run per seed of the ``ssgan`` command ``args`` (``["fit", ...]``), at most
    ``parallel`` at a time, each in its own process and run folder; return their ``--json``
    summaries in the order of ``seeds``. ``warn(seed, message)`` receives each one-line warning
    of a seed's run as it is printed.

    SIGINT or SIGTERM reach every running child, which checkpoints and stops; no further seed
    starts, and :class:`SeedsInterrupted` says how to resume each run and which seeds are left.
    If a child fails, the others finish and the first failure's message is raised."""
    base = _seed_args(args, ("--seeds", "--parallel", "--seed"))
    env = _threads(min(parallel, len(seeds)))
    pending, running, results, failures, resumes = list(seeds), {}, {}, [], {}
    readers: dict[int, tuple[threading.Thread, list[str]]] = {}
    stopped: list[int] = []  # the signal that stopped the seeds, if one did

    def stop(signum, frame):
        # as in sequence: the running seeds checkpoint and stop, and no further seed starts
        stopped.append(signum)
        for proc in running.values():
            proc.send_signal(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while pending or running:
            while pending and len(running) < parallel and not stopped:
                seed = pending.pop(0)
                # --json: the summary on stdout, and on stderr only warnings and errors
                cmd = [sys.executable, "-m", "ssgan", *base, "--seed", str(seed), "--json"]
                running[seed] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                lines: list[str] = []
                readers[seed] = (_read_lines(running[seed].stderr, lines, lambda msg, seed=seed: warn(seed, msg)), lines)
                log(f"seed {seed}: started")
            for seed, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                reader, lines = readers.pop(seed)
                reader.join()
                out = proc.stdout.read()
                del running[seed]
                if stopped and proc.returncode == 128 + stopped[0] and lines:  # checkpointed: says how to resume
                    resumes[seed] = f"seed {seed}: {lines[-1].split('Resume with: ')[-1]}"
                elif proc.returncode == 0:
                    results[seed] = json.loads(out.strip().splitlines()[-1])
                    log(f"seed {seed}: done, {results[seed]['run']}")
                else:
                    failures.append((seed, proc.returncode, lines[-1] if lines else f"exit code {proc.returncode}"))
                    log(f"seed {seed}: failed ({failures[-1][2]})")
            if stopped and not running:
                break
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopped:
        # in the order of --seeds, not in the order the processes happened to stop
        raise SeedsInterrupted(stopped[0], [resumes[s] for s in seeds if s in resumes], pending)
    if failures:
        raise _failed(failures, len(results), len(seeds))
    return [results[s] for s in seeds]


def check_threads(cfg: Config) -> None:
    """Stop with one line if the runs of ``cfg`` cannot train in threads of one process."""
    if cfg.compile:
        raise SSGANError("--parallel-mode threads cannot train --compile networks (torch.compile's noise layers draw "
                         "from torch's global generator, which the threads share); use --parallel-mode processes")


def run_seeds_in_threads(cfg: Config, seeds: list[int], parallel: int, command: str, log=lambda msg: None,
                         stacked: bool = False, warn=lambda seed, msg: None) -> list[dict]:
    """:func:`run_seeds_in_parallel` in threads of this process: one run per seed of ``cfg``, at
    most ``parallel`` at a time, each in its own run folder and, on CUDA, on its own stream.
    ``command`` is the ``ssgan fit`` command of them all, which each run's folder keeps with
    ``--seed`` in place of the launcher's options. ``stacked`` (``--parallel-mode stacked``):
    the seeds train in groups of ``parallel``, whose steps run as one (:class:`ssgan.batched.SeedGroup`).

    Each run draws every random number from a generator of its own (:func:`ssgan.train.train`),
    so a seed trains as it would alone (stacked: but for D's noise, the group's). SIGINT or
    SIGTERM stop every running seed after its batch with a checkpoint, and no further seed
    starts (:class:`SeedsInterrupted`). ``warn(seed, message)`` receives each one-line warning
    of a seed's run (the group's, stacked, through its first run)."""
    import torch

    from ssgan import runs
    from ssgan.batched import SeedGroup
    from ssgan.train import Diverged, Interrupted, Reporter, StopFlag, resolve_device

    class Warnings(Reporter):
        def __init__(self, seed: int):
            self.seed = seed

        def on_warning(self, message: str) -> None:
            warn(self.seed, message)

    check_threads(cfg)
    device = resolve_device(cfg.device)
    words = _seed_args(shlex.split(command), ("--seeds", "--parallel", "--parallel-mode", "--seed"))
    results, failures, resumes, pending = {}, [], {}, []
    stop = StopFlag(True)
    groups = {}
    if stacked:
        for i in range(0, len(seeds), parallel):
            group = SeedGroup(seeds[i:i + parallel], device)
            groups.update({seed: group for seed in seeds[i:i + parallel]})

    def one(seed: int) -> None:
        try:
            train_one(seed)
        finally:
            if seed in groups:  # ended, failed or never started: its group goes on without it
                groups[seed].leave()

    def train_one(seed: int) -> None:
        if stop.signum is not None:  # as in sequence: after a signal no seed starts
            pending.append(seed)
            return
        log(f"seed {seed}: started")
        # a stream per run; none for stacked runs, whose steps run on the thread of whichever run comes last
        stream = torch.cuda.Stream(device) if device.type == "cuda" and not stacked else None
        try:
            with torch.cuda.stream(stream) if stream is not None else nullcontext():
                run_dir, result = runs.fit(cfg.replace(seed=seed), Warnings(seed),
                                           command=shlex.join([*words, "--seed", str(seed)]), stop=stop,
                                           group=groups.get(seed))
            results[seed] = runs.summary(run_dir, result)
            log(f"seed {seed}: done, {run_dir}")
        except Interrupted as e:
            resumes[seed] = f"seed {seed}: ssgan fit --resume {e.run_dir}"
        except Exception as e:  # the others finish; the first failure is reported, as a process's would be
            if isinstance(e, SSGANError):
                failures.append((seed, 3 if isinstance(e, Diverged) else 2, f"Error: {e}"))
            else:
                failures.append((seed, 1, f"{type(e).__name__}: {first_line(str(e))}"))
            log(f"seed {seed}: failed ({failures[-1][2]})")

    with stop, ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="ssgan-seed") as pool:
        futures = [pool.submit(one, seed) for seed in seeds]
        while wait(futures, timeout=0.2).not_done:  # short waits: the signal handler runs in between
            pass
    if stop.signum is not None:
        raise SeedsInterrupted(stop.signum, [resumes[s] for s in seeds if s in resumes],
                               [s for s in seeds if s in pending])
    if failures:
        raise _failed(failures, len(results), len(seeds))
    return [results[s] for s in seeds]
