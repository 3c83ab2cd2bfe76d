"""The benchmark scripts read ``--seeds`` alike (benchmarks/options.py): a list of seeds and
ranges, a bare number being that one seed, and a mistake is one line of argparse's, not a
traceback or an empty list of seeds."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import BENCHMARKS


def test_seeds_are_lists_and_ranges_and_a_bare_number_is_one_seed(benchmark_script):
    options = benchmark_script("options")
    assert options.seeds_option("1,2,4") == [1, 2, 4]
    assert options.seeds_option("0-3") == [0, 1, 2, 3]
    assert options.seeds_option("1-3,7") == [1, 2, 3, 7]
    assert options.seeds_option("3") == [3]  # (ssgan fit --seeds 3 counts three: 1, 2, 3)


@pytest.mark.parametrize("text, why", [
    ("3-1", "the range 3-1 counts down; write it 1-3"),
    ("1,x", "must be a seed like 3, a list like 1,2,3 or a range like 1-10, got '1,x'"),
    ("2,2", "names seed 2 more than once"),
    (",", "must be a seed like 3, a list like 1,2,3 or a range like 1-10, got ','"),
    ("1,,2", "must be a seed like 3, a list like 1,2,3 or a range like 1-10, got '1,,2'"),  # (was seeds 1 and 2)
])
def test_a_wrong_list_is_argparse_one_line(benchmark_script, text, why):
    options = benchmark_script("options")
    import argparse

    p = argparse.ArgumentParser(prog="x")
    p.add_argument("--seeds", type=options.seeds_option)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--seeds", text])
    assert e.value.code == 2
    with pytest.raises(argparse.ArgumentTypeError, match=why.replace("(", r"\(")):
        options.seeds_option(text)


@pytest.mark.parametrize("script", ["ablate", "labeled_examples", "budget_curve", "labeled_jumps", "moons_precision",
                                    "parallel_modes"])
def test_every_script_that_takes_seeds_reads_them_so(script, tmp_path):
    """Each script, run as a user runs it, stops on a range that counts down with the reason in one
    line (before, ablate.py and budget_curve.py raised a traceback on any range, and labeled_jumps.py
    trained no seed at all on this one)."""
    args = [sys.executable, str(BENCHMARKS / f"{script}.py"), "--seeds", "3-1"]
    args += {"ablate": ["--lever", "a=", "--out", str(tmp_path / "a")], "budget_curve": [str(tmp_path), "--out",
                                                                                       str(tmp_path / "b")]}.get(script, [])
    r = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == (f"{script}.py: error: argument --seeds: --seeds 3-1: the range 3-1 "
                                                 "counts down; write it 1-3")
    assert list(tmp_path.iterdir()) == []  # (nothing made)


def test_run_script_makes_ssgans_error_one_line_and_passes_exit_codes_on(benchmark_script, monkeypatch, capsys):
    options = benchmark_script("options")
    from ssgan.errors import SSGANError

    def wrong():
        raise SSGANError("--labels 7 is not a multiple of the 10 classes")

    monkeypatch.setattr(sys, "argv", ["/somewhere/bench.py"])
    with pytest.raises(SystemExit) as e:
        options.run_script(wrong)
    assert e.value.code == 2
    assert capsys.readouterr().err == "bench.py: error: --labels 7 is not a multiple of the 10 classes\n"
    with pytest.raises(SystemExit) as e:
        options.run_script(lambda x: x, 1)  # (readme_commands.py returns 1 when a block failed)
    assert e.value.code == 1
    assert options.run_script(lambda: None) is None


def test_ssgans_own_check_ends_a_script_in_one_line(tmp_path):
    """As a user meets it: moons_precision.py hands --epochs 0 to SSGANClassifier, which refuses it."""
    r = subprocess.run([sys.executable, str(BENCHMARKS / "moons_precision.py"), "--epochs", "0", "--seeds", "1"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert (r.returncode, r.stderr) == (2, "moons_precision.py: error: epochs must be >= 1, got 0\n")


@pytest.mark.parametrize("script, args, line", [
    ("train_reference", ["--epochs", "0"], "train_reference.py: error: argument --epochs: must be 1 or more, got 0"),
    ("vector_data", ["{tmp}/a-file/vectors"], "vector_data.py: error: cannot make the folder {tmp}/a-file/vectors: "
                                              "Not a directory"),
])
def test_a_count_of_zero_or_a_folder_that_cannot_be_made_is_one_line(tmp_path, script, args, line):
    """Both ended in a traceback (torch's scheduler on zero epochs, before anything was saved;
    mkdir under a file). train_reference.py writes the package's reference network, so the
    refusal must come before any training."""
    (tmp_path / "a-file").write_text("")
    r = subprocess.run([sys.executable, str(BENCHMARKS / f"{script}.py"), *(a.format(tmp=tmp_path) for a in args)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == line.format(tmp=tmp_path)
    assert "Traceback" not in r.stderr


def test_every_script_runs_its_main_through_run_script():
    """So that a script added later stops on bad input as the others do."""
    import ast

    for path in sorted(BENCHMARKS.glob("*.py")):
        if path.name == "options.py":
            continue
        tree = ast.parse(path.read_text())
        guard = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
        assert guard, f"{path.name} has no `if __name__ == \"__main__\"` entry"
        calls = [ast.unparse(n.func) for n in ast.walk(guard[0]) if isinstance(n, ast.Call)]
        assert "run_script" in calls, f"{path.name} calls {calls} at its entry, not run_script(main)"
