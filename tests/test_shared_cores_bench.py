"""benchmarks/shared_cores.py times a fit in a process of its own with the thread setting it
names: the variable reaches the child (its environment.jsonl says how many threads it used)."""

from __future__ import annotations

from conftest import ROOT


def test_a_fit_runs_with_the_thread_setting_it_is_given(tmp_path, monkeypatch, benchmark_script):
    bench = benchmark_script("shared_cores")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # (the caller's own is not passed on)
    monkeypatch.chdir(ROOT)
    row = bench.fit("configs/gmm2d.toml", 1, bench.SETTINGS["OMP_NUM_THREADS=1"], tmp_path)
    assert row["threads"] == 1 and row["training_s"] > 0 and row["loss_unl"] > 0
    assert len(list(tmp_path.iterdir())) == 1


def test_a_fit_that_ssgan_refuses_ends_the_script_in_one_line(tmp_path):
    """It ended in a CalledProcessError traceback; now ssgan's own line, through options.ssgan_command."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "shared_cores.py"), "--config",
                           str(tmp_path / "nope.toml"), "--repeats", "1"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"shared_cores.py: error: ssgan fit --config {tmp_path / 'nope.toml'} --epochs 10 ")
    assert line.endswith(f"--json failed: Error: config file {tmp_path / 'nope.toml'} does not exist: give the path of a TOML file of fit's settings (the checkout's configs/ folder holds examples)")
