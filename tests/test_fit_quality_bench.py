"""benchmarks/fit_quality.py reads its one argument as the other scripts read theirs, and a fit
that ssgan refuses ends it with ssgan's own line, not a CalledProcessError traceback."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "fit_quality.py"


def test_help_and_a_wrong_benchmark_are_argparse_lines():
    shown = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "{digits,mnist}" in shown.stdout
    wrong = subprocess.run([sys.executable, str(SCRIPT), "cifar"], capture_output=True, text=True)
    assert wrong.returncode == 2 and wrong.stderr.strip().splitlines()[-1].startswith(
        "fit_quality.py: error: argument which: invalid choice: 'cifar'")


def test_a_fit_that_ssgan_refuses_ends_in_ssgans_line(benchmark_script, monkeypatch, tmp_path):
    import pytest

    from ssgan.errors import SSGANError

    fit_quality = benchmark_script("fit_quality")
    monkeypatch.setattr(fit_quality, "OUT", tmp_path)
    with pytest.raises(SSGANError) as e:
        fit_quality.fit("--dataset", "digits", "--labels", "7")
    assert str(e.value).startswith(f"ssgan fit --dataset digits --labels 7 --out {tmp_path} --json failed: Error: ")
    assert "\n" not in str(e.value) and "labels" in str(e.value).split("failed: ")[1]
    assert list(tmp_path.iterdir()) == []  # (no half-made run folder)
