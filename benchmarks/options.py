"""Options that several benchmark scripts take, read as the ssgan CLI reads them.

``--seeds`` is a list of seeds and ranges (``1,2,4``, ``1-6``, ``1-3,7``), where a bare number
is that one seed: a script names the seeds it compares, where ``ssgan fit --seeds 3`` counts
three. A mistake is argparse's one-line error, with ssgan's reason in it; a count (``--iterations``,
``--rounds``, ``--parallel``) is 1 or more. :func:`run_script` calls a script's ``main`` so that input
ssgan itself finds wrong ends the script the same way, in one line.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from ssgan.config import seed_list
from ssgan.environment import describe
from ssgan.errors import SSGANError


def benchmark_environment(device) -> dict:
    """What a benchmark line records of its machine and software, as a run folder's
    ``environment.jsonl`` does, except that ``changed`` also counts uncommitted edits to
    ``benchmarks/``: the script made the figures as much as the package did."""
    return describe(device, code=("ssgan", "benchmarks"))


def seeds_option(text: str) -> list[int]:
    """``--seeds``: the seeds that ``text`` lists, for ``add_argument(type=seeds_option)``.

    >>> seeds_option("1-3,7"), seeds_option("4")
    ([1, 2, 3, 7], [4])
    """
    try:
        return seed_list(text)
    except SSGANError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def count(text: str) -> int:
    """An option that counts something (iterations, rounds, processes, rows): a whole number, 1 or more.

    >>> count("3")
    3
    """
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def numbers(text: str) -> list[float]:
    """A comma-separated list of numbers, like ``0,0.05,0.1``.

    >>> numbers("0,0.05")
    [0.0, 0.05]
    """
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"give numbers separated by commas, like 0,0.1, got {text!r}") from None


def ssgan_command(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``ssgan ARGS`` as a user would, its output captured as text. A command that ssgan
    refuses or that fails raises :class:`SSGANError` with the command and ssgan's own last line,
    so that :func:`run_script` ends the script in one line, not with a CalledProcessError."""
    cmd = ["ssgan", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise SSGANError(f"{shlex.join(cmd)} failed: {why}")
    return done


def run_script(main, *args) -> None:
    """Run a script's ``main(*args)``: input that ssgan finds wrong (an :class:`SSGANError`, raised
    in this process or in one of its workers) ends the script with ssgan's one-line reason and exit
    status 2, as argparse ends one on a wrong option, not with a traceback."""
    try:
        result = main(*args)
    except SSGANError as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        sys.exit(2)
    if result is not None:
        sys.exit(result)
