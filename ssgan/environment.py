"""What a run trained with: the software and the machine of each training session, kept in
the run folder (``environment.jsonl``, a line per session: the start and each resume), so that
a report says where its runs trained, not where the report was made, and a run that does not
come back bit for bit can be told apart by its torch, its CPU or its commit."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

ENVIRONMENT = "environment.jsonl"


def describe(device: torch.device | str, processes: int = 1, code: tuple[str, ...] = ("ssgan",)) -> dict:
    """The software and machine that train now on ``device`` (``processes``: torchrun's world size);
    ``changed`` says whether the folders ``code`` of the checkout have uncommitted changes (a
    benchmark's line names ``benchmarks`` too: its own script made the figures)."""
    import numpy
    import sklearn

    from ssgan import __version__

    device = torch.device(device)
    commit, changed = _checkout(tuple(code))
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "ssgan": __version__, "commit": commit,
              "changed": changed, "python": platform.python_version(), "torch": torch.__version__,
              "numpy": numpy.__version__, "scikit-learn": sklearn.__version__, "platform": platform.platform(),
              "cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "cpu_extensions": cpu_extensions(),
              "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
              "device": str(device), "processes": processes}
    if device.type == "cuda":
        record.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    return record


def note(run_dir: str | os.PathLike, epoch: int, device: torch.device | str, processes: int = 1) -> None:
    """Append this session's line to ``run_dir``'s :data:`ENVIRONMENT` (``epoch``: the epochs
    trained before it, 0 for a new run)."""
    with open(Path(run_dir) / ENVIRONMENT, "a") as f:
        f.write(json.dumps({"epoch": epoch, **describe(device, processes)}) + "\n")


def sessions(run_dir: str | os.PathLike) -> list[dict]:
    """The lines of ``run_dir``'s :data:`ENVIRONMENT`; [] for a run made before ssgan kept them
    (or a line cut short, as a full disk leaves it)."""
    try:
        text = (Path(run_dir) / ENVIRONMENT).read_text()
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [r for r in records if isinstance(r, dict)]


def summary(record: dict) -> str:
    """One session's line in a report: what trained, and where.

    >>> summary({"ssgan": "0.1.0", "commit": "0b49b8f0aa", "changed": True, "torch": "2.14.1", "python": "3.11.7",
    ...          "cpu": "AMD EPYC 7B13", "cpu_capability": "AVX2", "cpu_count": 2, "threads": 2, "device": "cpu"})
    'ssgan 0.1.0 (commit 0b49b8f0aa with changes), torch 2.14.1, Python 3.11.7; AMD EPYC 7B13 (AVX2), 2 CPU cores, 2 threads; on cpu'
    >>> summary({"ssgan": "0.1.0", "commit": None, "torch": "2.14.1", "python": "3.11.7", "cpu": "Intel(R) Xeon(R)",
    ...          "cpu_capability": "AVX512", "cpu_extensions": ["avx512_bf16", "amx"], "cpu_count": 2, "threads": 2,
    ...          "device": "cpu"})
    'ssgan 0.1.0, torch 2.14.1, Python 3.11.7; Intel(R) Xeon(R) (AVX512, avx512_bf16, amx), 2 CPU cores, 2 threads; on cpu'
    >>> summary({"ssgan": "0.1.0", "commit": None, "torch": "2.14.1", "python": "3.11.7", "cpu": "x86_64",
    ...          "cpu_count": 16, "threads": 16, "device": "cuda:0", "gpu": "NVIDIA H100", "processes": 2})
    'ssgan 0.1.0, torch 2.14.1, Python 3.11.7; x86_64, 16 CPU cores, 16 threads; on NVIDIA H100 (cuda:0), 2 processes'
    >>> summary({"ssgan": "0.1.0", "commit": None, "torch": "2.14.1", "python": "3.11.7", "cpu": "x86_64",
    ...          "cpu_count": 1, "threads": 1, "device": "cpu"})
    'ssgan 0.1.0, torch 2.14.1, Python 3.11.7; x86_64, 1 CPU core, 1 thread; on cpu'
    """
    version = f"ssgan {record.get('ssgan')}"
    if record.get("commit"):
        version += f" (commit {str(record['commit'])[:10]}{' with changes' if record.get('changed') else ''})"
    where = f"{record.get('gpu')} ({record.get('device')})" if record.get("gpu") else record.get("device")
    processes = record.get("processes") if isinstance(record.get("processes"), int) else 1
    kernels = [str(k) for k in (record.get("cpu_capability"), *(record.get("cpu_extensions") or ())) if k]
    cpu = f"{record.get('cpu')}" + (f" ({', '.join(kernels)})" if kernels else "")
    cores, threads = record.get("cpu_count"), record.get("threads")
    return (f"{version}, torch {record.get('torch')}, Python {record.get('python')}; {cpu}, "
            f"{cores} CPU core{'s' * (cores != 1)}, {threads} thread{'s' * (threads != 1)}; on {where}"
            + (f", {processes} processes" if processes > 1 else ""))


# The CPU's instructions beyond torch's dispatch level that change what a step computes, each
# by the /proc/cpuinfo flag it stands for and torch's (private) check of it: native bf16
# products, which ``--precision auto`` trains in bf16 where either is there, and AMX tiles,
# which with the vendor tell apart two CPUs on which the same fp32 code trained other weights
# (tests/test_validation.py; which of the two made the difference is not known)
EXTENSIONS = (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx", "_is_amx_tile_supported"))


def cpu_extensions() -> list[str]:
    """The :data:`EXTENSIONS` this CPU has (none on a torch build without the checks)."""
    return [name for name, check in EXTENSIONS if getattr(torch.cpu, check, lambda: False)()]


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), or what the platform says of it elsewhere."""
    return cpu_field("model name") or platform.processor() or platform.machine()


def cpu_field(key: str) -> str | None:
    """The value of ``key`` (``model name``, ``vendor_id``, ...) in Linux's /proc/cpuinfo, for its
    first processor; None where there is no such file or line."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


@functools.cache
def _checkout(code: tuple[str, ...] = ("ssgan",)) -> tuple[str | None, bool | None]:
    """The git commit of the checkout that this ssgan is installed from (an editable install),
    and whether its folders ``code`` (the package) have uncommitted changes, a new file that git
    does not ignore included; (None, None) for an installed copy, or where git is missing. Asked
    once per process and ``code``."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=normal", "--",
                                 *code], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())
