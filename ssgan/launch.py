"""Running the current ``ssgan fit`` command in other processes: under torchrun (``--nproc``)
or as one process per seed, several at a time (``--seeds ... --parallel N``).

A child runs exactly the command the user gave, less the launcher's own options. The cores are shared out through ``OMP_NUM_THREADS``
unless it is set; on CUDA every child uses the same device.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from ssgan.errors import SSGANError


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


def run_seeds_in_parallel(args: list[str], seeds: list[int], parallel: int, log=lambda msg: None) -> list[dict]:
    """Train one run per seed of the ``ssgan`` command ``args`` (``["fit", ...]``), at most
    ``parallel`` at a time, each in its own process and run folder; return their ``--json``
    summaries in the order of ``seeds``.

    SIGINT or SIGTERM reach every running child, which checkpoints and stops; no further seed
    starts, and :class:`SeedsInterrupted` says how to resume each run and which seeds are left.
    If a child fails, the others finish and the first failure's message is raised."""
    base = _without(args, ("--seeds", "--parallel", "--seed"))
    base = [a for a in base if a not in ("--json", "--quiet")]
    env = _threads(min(parallel, len(seeds)))
    pending, running, results, failures, resumes = list(seeds), {}, {}, [], {}
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
                cmd = [sys.executable, "-m", "ssgan", *base, "--seed", str(seed), "--json", "--quiet"]
                running[seed] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                log(f"seed {seed}: started")
            for seed, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                out, err = proc.communicate()
                del running[seed]
                lines = [line for line in err.strip().splitlines() if line.strip()]
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
        seed, code, message = failures[0]
        if code == 2 and message.startswith("Error: "):  # bad input: the child's own one-line message
            raise SSGANError(message[len("Error: "):])
        raise SSGANError(f"the run of seed {seed} failed ({message}); "
                         f"{len(results)} of {len(seeds)} seeds finished")
    return [results[s] for s in seeds]
