"""Run the README's command blocks as printed, in a fresh clone, and say which ran through.

    python benchmarks/readme_commands.py [--list] [--only TEXT] [--keep DIR] [--out FILE.jsonl]

The brief's rule is that every command in the README works as printed, from a clean checkout,
as a new user would run it. This takes every fenced ``bash`` and ``python`` block of README.md,
clones the repository's committed HEAD into a new folder, and runs the blocks there in the
README's order (later blocks use what earlier ones wrote, as a reader's would): a ``bash``
block as a ``bash -e`` script, a ``python`` block on ``python -``. It uses the ``ssgan`` and
``python`` on PATH, so install first (``pip install -e .`` in the clone that you test, or in
this checkout, whose code is HEAD's unless it has uncommitted changes under ``ssgan/``: then a
warning says so, and each line names where the ``ssgan`` command imports it from).

Four blocks are not run, each named with its reason in the output: the first fit (``ssgan
fit --labels 100``, an hour or more on a CPU), the test suite (``.ci/run`` runs it from a clean
clone), the torchrun across machines (a rendezvous ``HOST``) and the ablation screen (six
20-epoch MNIST runs). The Python block that reads ``runs/00000-mnist-100-s1``
back runs after the quick run the README offers for it (``ssgan fit --labels 100 --epochs 1``).

One JSON line per block (its README line, first command, status ``ok``, ``failed`` or
``skipped``, seconds, exit code and the last lines of its output), to stdout and ``--out``;
the exit status is 1 if any block failed. ``--only TEXT`` runs just the blocks whose text holds
TEXT; a block that reads an earlier one's files (the cancer ones read ``cancer.npz``) needs
that one chosen too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from options import run_script

ROOT = Path(__file__).resolve().parents[1]

# (text in the block, why it is not run here)
SKIPS = [
    ("pip install -e . && ssgan fit --labels 100", "the default MNIST fit: an hour or more on a CPU"),
    ('pip install -e ".[test]" && python -m pytest', "the test suite: .ci/run runs it from a clean clone"),
    ("HOST:29400", "needs several machines that reach a rendezvous HOST"),
    ("benchmarks/ablate.py", "the ablation screen: six 20-epoch MNIST runs, most of an hour on 2 cores"),
]
# (text in the block, the command the README offers to run before it)
BEFORE = [("runs/00000-mnist-100-s1", "ssgan fit --labels 100 --epochs 1 --quiet")]


@dataclass
class Block:
    line: int  # of its opening fence
    lang: str
    text: str

    @property
    def first(self) -> str:
        return next((ln for ln in self.text.splitlines() if ln.strip()), "")


def blocks(readme: Path) -> list[Block]:
    """The bash and Python blocks of ``readme``, those indented into a list item included (their
    text without the indent)."""
    found, lines = [], readme.read_text().splitlines()
    fence = re.compile(r"^( *)```(\w*)\s*$")
    i = 0
    while i < len(lines):
        m = fence.match(lines[i])
        if not m:
            i += 1
            continue
        indent = m.group(1)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(indent + "```"))
        if m.group(2) in ("bash", "python"):
            text = "".join(line.removeprefix(indent) + "\n" for line in lines[i + 1:end])
            found.append(Block(i + 1, m.group(2), text))
        i = end + 1
    return found


def skip_reason(block: Block) -> str | None:
    return next((why for text, why in SKIPS if text in block.text), None)


def run(block: Block, cwd: Path, timeout: float) -> dict:
    before = [cmd for text, cmd in BEFORE if text in block.text]
    script = "".join(f"{cmd}\n" for cmd in before)
    if block.lang == "python":
        script += f"python - <<'SSGAN_README_BLOCK'\n{block.text}SSGAN_README_BLOCK\n"
    else:
        script += block.text
    start = time.perf_counter()
    # a session of its own, so that a block that runs past the timeout is stopped with every
    # process it started (an ssgan fit under bash)
    proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, code = f"timed out after {timeout:.0f} s\n{proc.communicate()[0]}", None
    return {"status": "ok" if code == 0 else "failed", "seconds": round(time.perf_counter() - start, 1),
            "exit": code, "ran_before": before, "tail": out.strip().splitlines()[-6:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="list the blocks and what would run, then stop")
    ap.add_argument("--only", action="append", default=[], help="run only blocks whose text holds this (repeatable)")
    ap.add_argument("--keep", type=Path, help="clone into this new folder and keep it (default: a temporary one)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per block (default 1800)")
    ap.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args()

    def choose(readme: Path) -> list[Block]:
        return [b for b in blocks(readme) if not args.only or any(t in b.text for t in args.only)]

    if args.only and not choose(ROOT / "README.md"):
        ap.error("no bash or python block of the README holds " + " or ".join(map(repr, args.only))
                 + "; --list shows them")
    if args.list:
        for b in choose(ROOT / "README.md"):
            print(f"line {b.line:5d} {b.lang:6s} {skip_reason(b) and 'skip' or 'run ':4s} {b.first}")
        return 0
    if args.keep and args.keep.exists():
        sys.exit(f"error: --keep {args.keep} exists; give a folder that does not, for the clone")
    git = partial(subprocess.run, cwd=ROOT, capture_output=True, text=True)
    head = git(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    if git(["git", "status", "--porcelain", "--untracked-files=normal", "--", "ssgan"]).stdout.strip():
        print(f"warning: {ROOT} has uncommitted changes under ssgan/; an editable install there runs them, "
              f"not HEAD's code", file=sys.stderr)
    # where the ``ssgan`` command imports from (``-I``: as a console script, without the current folder;
    # a Python block, run in the clone's root, imports the clone's own package)
    imported = subprocess.run([sys.executable, "-I", "-c", "import ssgan; print(ssgan.__file__)"], capture_output=True,
                              text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = args.keep or Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        failed = 0
        for b in choose(clone / "README.md"):  # the committed README, as the clone has it
            why = skip_reason(b)
            row = {"line": b.line, "lang": b.lang, "first": b.first, "commit": head, "ssgan_from": imported}
            row.update({"status": "skipped", "why": why} if why else run(b, clone, args.timeout))
            failed += row["status"] == "failed"
            text = json.dumps(row)
            print(text, flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    run_script(main)
