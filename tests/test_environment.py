"""Each training session's software and machine in the run folder (environment.jsonl), and
the report's line of what its runs trained with."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from ssgan import environment
from ssgan.baselines import logreg
from ssgan.config import Config
from ssgan.report import find_runs, summarize, write_report
from ssgan.runs import fit, load_run, resume
from ssgan.train import resolve_precision

ROOT = Path(environment.__file__).resolve().parent.parent


def cfg(out, **changes):
    return Config(dataset="digits", labels=50, epochs=1, device="cpu", out=str(out), **changes)


def _git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def test_a_run_keeps_a_line_per_session_of_what_it_trained_with(tmp_path):
    """A new run's line, then its resume's (at the epoch it continued from), each naming this
    torch, this machine's threads and the device; the commit and whether the package had
    uncommitted changes, where ssgan runs from a git checkout (as the tests do)."""
    run_dir, _ = fit(cfg(tmp_path))
    resume(run_dir, epochs=2)
    lines = [json.loads(line) for line in (run_dir / environment.ENVIRONMENT).read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [0, 1] and load_run(run_dir).environment == lines
    for line in lines:
        assert (line["torch"], line["device"], line["threads"], line["processes"]) == (
            torch.__version__, "cpu", torch.get_num_threads(), 1)
        assert line["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and line["cpu"]
        assert line["cpu_extensions"] == environment.cpu_extensions()
    if (ROOT / ".git").exists():
        assert lines[0]["commit"] == _git("rev-parse", "HEAD").strip()
        assert lines[0]["changed"] == bool(_git("status", "--porcelain", "--untracked-files=no", "--", "ssgan").strip())
    else:
        assert lines[0]["commit"] is None


def test_a_benchmark_line_counts_changes_to_its_own_scripts(tmp_path, monkeypatch):
    """A run folder's ``changed`` is about the package; a benchmark's line (``code=("ssgan",
    "benchmarks")``) also says when the script that made its figures was edited (noise.py's lines
    of 2026-12-06 said no changes, made by an edited noise.py). In a checkout of its own."""
    for folder in ("ssgan", "benchmarks"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.py").write_text("x = 1\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run(git + args, check=True, capture_output=True)
    monkeypatch.setattr(environment, "__file__", str(tmp_path / "ssgan" / "environment.py"))
    environment._checkout.cache_clear()
    try:
        (tmp_path / "benchmarks" / "x.py").write_text("x = 2\n")
        assert environment.describe("cpu")["changed"] is False
        assert environment.describe("cpu", code=("ssgan", "benchmarks"))["changed"] is True
        assert environment.describe("cpu")["commit"] == subprocess.run(
            git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        # a new script not yet committed made its figures too (profile_step.py's first lines, by
        # the old check, said no changes); what git ignores, like __pycache__/, does not count
        subprocess.run(git + ["checkout", "-q", "--", "benchmarks"], check=True, capture_output=True)
        (tmp_path / ".gitignore").write_text("__pycache__/\n")
        (tmp_path / "benchmarks" / "__pycache__").mkdir()
        (tmp_path / "benchmarks" / "__pycache__" / "x.pyc").write_bytes(b"")
        environment._checkout.cache_clear()
        assert environment.describe("cpu", code=("ssgan", "benchmarks"))["changed"] is False
        (tmp_path / "benchmarks" / "new.py").write_text("y = 1\n")
        environment._checkout.cache_clear()
        assert environment.describe("cpu", code=("ssgan", "benchmarks"))["changed"] is True
        assert environment.describe("cpu")["changed"] is False
    finally:
        environment._checkout.cache_clear()


@pytest.mark.parametrize("bf16, amx, named", [(False, False, []), (True, False, ["avx512_bf16"]),
                                               (False, True, ["amx"]), (True, True, ["avx512_bf16", "amx"])])
def test_the_cpu_extensions_named_are_those_that_train_bf16_natively(monkeypatch, bf16, amx, named):
    """A run's record names the CPU's native bf16 and AMX as torch finds them, and ``--precision
    auto`` takes bf16 exactly where it names one; a torch without the checks names none."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert environment.cpu_extensions() == named and environment.describe("cpu")["cpu_extensions"] == named
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if named else "fp32")
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert environment.cpu_extensions() == []


def test_a_report_says_what_its_runs_trained_with(tmp_path):
    """Runs of one setting are one line with their count; a run made before the file was kept
    (its environment.jsonl removed here) is counted apart, with the device its metrics name; a
    line cut short (a full disk) is skipped, not an error."""
    ssl, _ = fit(cfg(tmp_path / "runs"))
    base = logreg(cfg(tmp_path / "runs"))
    old, _ = fit(cfg(tmp_path / "runs", seed=2))
    (old / environment.ENVIRONMENT).unlink()
    with open(base / environment.ENVIRONMENT, "a") as f:
        f.write('{"epoch": 3, "torch"')
    assert len(environment.sessions(base)) == 1
    line = environment.summary(environment.sessions(ssl)[0])
    assert environment.summary(environment.sessions(base)[0]) == line
    assert f"torch {torch.__version__}" in line and line.endswith("on cpu")
    summary = summarize(find_runs([tmp_path / "runs"]))
    assert summary["trained_with"] == [{"environment": line, "runs": 2}, {"environment": None, "runs": 1,
                                                                         "devices": ["cpu"]}]
    write_report([tmp_path / "runs"], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"Trained with (the runs' environment.jsonl):\n\n- {line}: 2 runs\n- on cpu, the software and machine not " \
           "recorded (made before ssgan kept environment.jsonl): 1 run\n\nReport made on: " in text


def test_a_run_resumed_elsewhere_is_said_to_count_under_each_line(tmp_path):
    """A run whose sessions differ (resumed on another machine: here a second line with another
    thread count) counts under both lines, and the report says so beside each count, so that
    counts adding up to more than the runs read right ("each" where all of a line's runs do); runs
    of one setting alone say nothing."""
    moved, _ = fit(cfg(tmp_path / "runs"))
    stayed, _ = fit(cfg(tmp_path / "runs", seed=2))
    first = environment.sessions(moved)[0]
    with open(moved / environment.ENVIRONMENT, "a") as f:
        f.write(json.dumps({**first, "threads": 64}) + "\n")
    here, there = environment.summary(first), environment.summary({**first, "threads": 64})
    assert environment.summary(environment.sessions(stayed)[0]) == here != there
    summary = summarize(find_runs([tmp_path / "runs"]))
    assert summary["trained_with"] == [{"environment": here, "runs": 2, "elsewhere_too": 1},
                                       {"environment": there, "runs": 1, "elsewhere_too": 1}]
    write_report([tmp_path / "runs"], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    why = "also under another line: resumed with other software or on another machine)"
    assert f"- {here}: 2 runs (1 of them {why}\n- {there}: 1 run ({why}\n" in text
    # both runs resumed there: each of a line's runs counts under the other line too
    with open(stayed / environment.ENVIRONMENT, "a") as f:
        f.write(json.dumps({**environment.sessions(stayed)[0], "threads": 64}) + "\n")
    write_report([tmp_path / "runs"], tmp_path / "again")
    text = (tmp_path / "again" / "report.md").read_text()
    assert f"- {here}: 2 runs (each {why}\n- {there}: 2 runs (each {why}\n" in text


@pytest.mark.parametrize("record, expected", [
    ({"ssgan": "0.1.0", "commit": "a" * 40, "changed": False, "torch": "2.14.1", "python": "3.11.7", "cpu": "Xeon",
      "cpu_count": 4, "threads": 4, "device": "cpu"},
     "ssgan 0.1.0 (commit aaaaaaaaaa), torch 2.14.1, Python 3.11.7; Xeon, 4 CPU cores, 4 threads; on cpu"),
    # a line cut down by hand, or of another version: still one line, not a TypeError in the report
    ({"epoch": 3}, "ssgan None, torch None, Python None; None, None CPU cores, None threads; on None"),
])
def test_a_session_in_one_line(record, expected):
    assert environment.summary(record) == expected
