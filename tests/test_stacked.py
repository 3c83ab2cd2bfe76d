"""`ssgan fit --seeds ... --parallel N --parallel-mode stacked`: seeds in threads whose steps run
as one (ssgan.batched.SeedGroup) train as each seed alone, stop on a signal with checkpoints
that resume, go on when one of them fails, and refuse options they cannot stack."""

import dataclasses
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ssgan.runs
from conftest import SignalAt, assert_same_state, cuda
from ssgan.cli import main
from ssgan.config import resolve
from ssgan.errors import SSGANError
from ssgan.graphsim import simulate
from ssgan.launch import run_seeds_in_threads
from ssgan.runs import read_metrics
from ssgan.train import Reporter

# D's noise off (a stacked seed draws it from the group's generator, not its own); the rate
# decays from the first step, so that a run whose stacked steps missed the schedule would show
OPTIONS = dict(dataset="digits", labels=50, epochs=2, batch_size=450, lr_decay_start=0.0, d_input_noise=0.0,
               d_hidden_noise=0.0, precision="fp32", device="cpu")


def _weights(run: Path) -> dict:
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    return {f"{net}.{k}": v for net in ("generator", "discriminator", "ema") for k, v in ckpt[net].items()}


def _run_of(out: Path, seed: int) -> Path:
    (run,) = out.glob(f"*-s{seed}")
    return run


@pytest.fixture
def float64(monkeypatch):
    """Networks, noise and data in float64, so that stacked and lone seeds can be compared
    closely: in fp32 the G step amplifies rounding (batched against single matrix products)
    from about 1e-6 to 1e-1 of the weights within a few steps, while the same steps in float64
    stay within 1e-6 (tests/test_batched.py compares the steps themselves)."""
    prepare = ssgan.runs.prepare

    def prepare_float64(cfg):
        data, split, scaler = prepare(cfg)
        return dataclasses.replace(data, x_train=data.x_train.astype(np.float64),
                                   x_test=data.x_test.astype(np.float64)), split, scaler

    monkeypatch.setattr(ssgan.runs, "prepare", prepare_float64)
    run_data = ssgan.runs.run_data  # what a resumed run reads

    def run_data_float64(cfg, run_dir):
        data = run_data(cfg, run_dir)
        return dataclasses.replace(data, x_train=data.x_train.astype(np.float64),
                                   x_test=data.x_test.astype(np.float64))

    monkeypatch.setattr(ssgan.runs, "run_data", run_data_float64)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_stacked_seeds_train_as_each_seed_alone(tmp_path, float64):
    """Two seeds stacked for two epochs (evaluated and checkpointed in between, from their own
    networks, then stacked on) end with the weights, the EMA and the per-epoch metrics of each
    seed trained alone, up to the rounding of float32 losses; each has its complete run folder."""
    summaries = run_seeds_in_threads(resolve(**OPTIONS, out=str(tmp_path / "stacked")), [1, 2], 2,
                                     "ssgan fit --seeds 1-2 --parallel 2 --parallel-mode stacked", stacked=True)
    assert [s["seed"] for s in summaries] == [1, 2]
    for seed in (1, 2):
        ssgan.runs.fit(resolve(**OPTIONS, out=str(tmp_path / "alone"), seed=seed), command=f"ssgan fit --seed {seed}")
        stacked, alone = _run_of(tmp_path / "stacked", seed), _run_of(tmp_path / "alone", seed)
        assert {p.name for p in stacked.iterdir()} == {p.name for p in alone.iterdir()}
        assert f"--seed {seed}" in (stacked / "command.txt").read_text()
        assert_same_state(_weights(stacked), _weights(alone), rtol=1e-5, atol=1e-6)
        a, b = read_metrics(stacked), read_metrics(alone)
        assert len(a) == len(b) == 2
        for ma, mb in zip(a, b):
            assert ma["test_errors"] == mb["test_errors"] and ma["lr"] == mb["lr"]
            for k in ("loss_lab", "loss_unl", "loss_gen", "d_real", "grad_d_first", "grad_g_last"):
                assert ma[k] == pytest.approx(mb[k], rel=1e-5), k


def test_a_last_group_of_one_trains_as_its_seed_alone(tmp_path):
    """--seeds 1-3 --parallel 2: seeds 1 and 2 stacked, and seed 3, a group of one, as a run of
    its own (a stack of one shared nothing and took twice a lone run's time on the CPU): the
    weights of seed 3 trained alone, bit for bit (its D noise from its own generator)."""
    run_seeds_in_threads(resolve(**OPTIONS, out=str(tmp_path / "stacked")), [1, 2, 3], 2, "ssgan fit", stacked=True)
    ssgan.runs.fit(resolve(**OPTIONS, out=str(tmp_path / "alone"), seed=3), command="ssgan fit --seed 3")
    assert_same_state(_weights(_run_of(tmp_path / "stacked", 3)), _weights(_run_of(tmp_path / "alone", 3)))
    assert len(read_metrics(_run_of(tmp_path / "stacked", 1))) == 2


def _stop_stacked_seeds(tmp_path, monkeypatch, *options) -> tuple[list[Path], str]:
    """``fit --seeds 1-2 --parallel 2 --parallel-mode stacked`` (``OPTIONS``), stopped by SIGINT
    in seed 1's first epoch: the two run folders (seed 1's first) and the stop's last line."""
    fit = ssgan.runs.fit

    def fit_seed_1_signals(cfg, reporter=None, command=None, stop=None, **group):
        return fit(cfg, SignalAt(1, 2) if cfg.seed == 1 else reporter, command, stop, **group)

    monkeypatch.setattr(ssgan.runs, "fit", fit_seed_1_signals)
    args = [w for k, v in OPTIONS.items() for w in (f"--{k.replace('_', '-')}", str(v))]
    r = CliRunner().invoke(main, ["fit", *args, *options, "--seeds", "1-2", "--parallel", "2", "--parallel-mode",
                                  "stacked", "--out", str(tmp_path / "t")])
    assert r.exit_code == 128 + signal.SIGINT and "not started" not in r.output, r.output
    monkeypatch.setattr(ssgan.runs, "fit", fit)
    by_seed = sorted((tmp_path / "t").iterdir(), key=lambda run: run.name[-2:])  # in the order of --seeds
    return by_seed, r.output.strip().splitlines()[-1]


def test_a_signal_stops_stacked_seeds_at_one_place_and_they_resume_as_a_group(tmp_path, monkeypatch):
    """SIGINT in seed 1's first epoch stops both seeds of the group after the same step, each
    with its own state in its checkpoint; the command the stop's line gives resumes them as a
    group to the end of their two epochs."""
    stopped, last = _stop_stacked_seeds(tmp_path, monkeypatch, "--batch-size", "300")
    assert len(stopped) == 2
    positions = set()
    for run in stopped:
        ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
        position = ckpt["position"]
        assert position is not None and position["iteration"] >= 2
        positions.add(position["iteration"])
        # the run's own state, taken back from the stack before it was written
        assert int(ckpt["opt_d"]["state"][0]["step"]) == position["iteration"] == ckpt["ema_n"]
    assert len(positions) == 1, positions  # at one place: the group's answer to the signal, not each seed's look
    command = last.split("Resume with: ")[1]
    assert command == (f"ssgan fit --resume {stopped[0]} --resume {stopped[1]} --parallel 2 --parallel-mode stacked")
    r = CliRunner().invoke(main, [*command.split()[1:], "--json"])
    assert r.exit_code == 0, r.output
    for run in stopped:
        assert [m["epoch"] for m in read_metrics(run)] == [1, 2]


def test_stacked_seeds_stopped_and_resumed_as_a_group_train_as_each_seed_alone(tmp_path, monkeypatch, float64):
    """Stopped in the first epoch and resumed as a group, two stacked seeds end with the weights
    and EMA of each seed trained alone without a stop (float64, D's noise off, as above)."""
    stopped, last = _stop_stacked_seeds(tmp_path, monkeypatch)
    r = CliRunner().invoke(main, [*last.split("Resume with: ")[1].split()[1:], "--json"])
    assert r.exit_code == 0, r.output
    for run in stopped:
        seed = int(run.name.rsplit("-s", 1)[1])
        ssgan.runs.fit(resolve(**OPTIONS, out=str(tmp_path / "alone"), seed=seed), command=f"ssgan fit --seed {seed}")
        assert_same_state(_weights(run), _weights(_run_of(tmp_path / "alone", seed)), rtol=1e-5, atol=1e-6)


def _group_whole_and_resumed(tmp_path, monkeypatch, device: str) -> list[tuple[Path, Path]]:
    """Seeds 1 and 2 stacked for two epochs with D's noise on, drawn from the group's generator:
    once through, and once stopped in the first epoch and resumed as a group with the command
    the stop printed; the two run folders of each seed."""
    noise = {"d_input_noise": 0.3, "d_hidden_noise": 0.5}
    run_seeds_in_threads(resolve(**{**OPTIONS, **noise, "device": device}, out=str(tmp_path / "whole")), [1, 2], 2,
                         "ssgan fit", stacked=True)
    stopped, last = _stop_stacked_seeds(tmp_path, monkeypatch, "--d-input-noise", "0.3", "--d-hidden-noise", "0.5",
                                        "--device", device)
    r = CliRunner().invoke(main, [*last.split("Resume with: ")[1].split()[1:], "--json"])
    assert r.exit_code == 0, r.output
    return [(_run_of(tmp_path / "whole", seed), run) for seed, run in zip((1, 2), stopped)]


def test_stacked_seeds_stopped_and_resumed_as_a_group_end_as_the_group_never_stopped(tmp_path, monkeypatch):
    """Stopped and resumed as a group, the two seeds end with the weights and the EMA of the
    same group never stopped, bit for bit (each checkpoint keeps the group generator's state),
    and with its metrics."""
    for whole, run in _group_whole_and_resumed(tmp_path, monkeypatch, "cpu"):
        assert_same_state(_weights(run), _weights(whole))
        a, b = read_metrics(run), read_metrics(whole)
        assert [m["test_errors"] for m in a] == [m["test_errors"] for m in b]
        # the epoch's metric sums are float32 on the group's device, continued from the stop's sums
        assert [m["loss_unl"] for m in a] == pytest.approx([m["loss_unl"] for m in b], rel=1e-6)


@cuda
def test_stacked_seeds_resumed_as_a_group_on_cuda_end_as_the_group_never_stopped(tmp_path, monkeypatch):
    """The same on a GPU, where the group's steps are captured and its generator's state is
    taken between replays: the weights within what a GPU's summation order may change."""
    for whole, run in _group_whole_and_resumed(tmp_path, monkeypatch, "cuda"):
        assert_same_state(_weights(run), _weights(whole), rtol=1e-4, atol=1e-5)
        assert read_metrics(run)[-1]["test_acc"] == pytest.approx(read_metrics(whole)[-1]["test_acc"], abs=0.01)


def test_runs_stopped_at_different_places_are_not_resumed_as_a_group(tmp_path, monkeypatch):
    """Stacked runs must continue from one place (their steps are one): runs stopped at
    different iterations are refused in one line that says where each stopped, and nothing is
    trained; threads resume them."""
    stopped, _ = _stop_stacked_seeds(tmp_path, monkeypatch, "--batch-size", "300")
    ckpt = torch.load(stopped[1] / "checkpoint.pt", weights_only=False)
    ckpt["position"]["iteration"] -= 1  # as if that seed had stopped a step earlier, alone
    torch.save(ckpt, stopped[1] / "checkpoint.pt")
    before = [(run / "metrics.jsonl").read_bytes() if (run / "metrics.jsonl").exists() else None for run in stopped]
    resume = ["fit", "--resume", str(stopped[0]), "--resume", str(stopped[1]), "--parallel", "2"]
    r = CliRunner().invoke(main, [*resume, "--parallel-mode", "stacked"])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("Error: --parallel-mode stacked resumes runs stopped at one place, and these stopped "
                               f"at different ones ({stopped[0]}: epoch 1, iteration "), r.output
    assert r.output.rstrip().endswith("use --parallel-mode threads or processes"), r.output
    assert before == [(run / "metrics.jsonl").read_bytes() if (run / "metrics.jsonl").exists() else None
                      for run in stopped]
    r = CliRunner().invoke(main, [*resume, "--parallel-mode", "threads", "--json"])
    assert r.exit_code == 0, r.output


class _FailsAt(Reporter):
    def on_batch(self, epoch, iteration, values):
        if (epoch, iteration) == (1, 2):
            raise RuntimeError("this seed fails")


def test_a_seed_that_fails_leaves_the_others_to_finish(tmp_path, monkeypatch):
    """Seed 2 fails in its first epoch; seed 1, stacked with it, trains on alone to the end."""
    fit = ssgan.runs.fit

    def fit_seed_2_fails(cfg, reporter=None, command=None, stop=None, **group):
        return fit(cfg, _FailsAt() if cfg.seed == 2 else reporter, command, stop, **group)

    monkeypatch.setattr(ssgan.runs, "fit", fit_seed_2_fails)
    outcome = {}

    def run():
        try:
            run_seeds_in_threads(resolve(**OPTIONS, out=str(tmp_path / "t")), [1, 2], 2, "ssgan fit", stacked=True)
        except SSGANError as e:
            outcome["error"] = str(e)

    thread = threading.Thread(target=run, daemon=True)  # a group that waited for the failed seed would hang
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the group waited for a seed that had left"
    assert outcome["error"].startswith("the run of seed 2 failed (RuntimeError: this seed fails); 1 of 2 seeds finished")
    assert [m["epoch"] for m in read_metrics(_run_of(tmp_path / "t", 1))] == [1, 2]


@pytest.mark.parametrize("options, reason", [
    (["--translate", "1"], "--translate draws its shifts"), (["--arch", "dcgan"], "--arch dcgan"),
])
def test_options_that_cannot_be_stacked_stop_in_one_line(tmp_path, options, reason):
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu",
                                  "--seeds", "1-2", "--parallel", "2", "--parallel-mode", "stacked", *options,
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith(f"Error: --parallel-mode stacked cannot stack these runs ({reason}"), r.output
    assert not (tmp_path / "runs").exists()


def test_stacked_seeds_on_the_captured_path(tmp_path):
    """With --graphs on (the CPU stand-in: a recording that refuses host reads, replays of its
    operators) the group records its stacked steps after three eager ones and replays them: the
    same G as the stacked eager steps, bit for bit, and D up to the device EMA's rounding; D's
    noise on, drawn from the group's generator inside the graph."""
    options = {**OPTIONS, "d_input_noise": None, "d_hidden_noise": None, "epochs": 3}
    run_seeds_in_threads(resolve(**options, out=str(tmp_path / "eager")), [1, 2], 2, "ssgan fit", stacked=True)
    with simulate():
        run_seeds_in_threads(resolve(**options, graphs="on", out=str(tmp_path / "graphs")), [1, 2], 2, "ssgan fit",
                             stacked=True)
    for seed in (1, 2):
        eager, graphed = (torch.load(_run_of(tmp_path / d, seed) / "checkpoint.pt", weights_only=False)
                          for d in ("eager", "graphs"))
        assert eager["epoch"] == graphed["epoch"] == 3  # 3 iterations each: the replays trained 6 of 9
        assert_same_state(eager["generator"], graphed["generator"])
        assert_same_state(eager["discriminator"], graphed["discriminator"], rtol=1e-5, atol=1e-6)
        assert_same_state(eager["ema"], graphed["ema"], rtol=1e-5, atol=1e-6)


@cuda
def test_stacked_seeds_are_captured_on_cuda(tmp_path):
    """On a GPU the group records its stacked steps as CUDA graphs (no fallback line) and the
    replays train as the stacked eager steps, within what a GPU's summation order may change."""
    options = {**OPTIONS, "device": "cuda", "epochs": 3}
    warned = []
    run_seeds_in_threads(resolve(**options, graphs="off", out=str(tmp_path / "eager")), [1, 2], 2, "ssgan fit",
                         stacked=True)
    run_seeds_in_threads(resolve(**options, graphs="on", out=str(tmp_path / "graphs")), [1, 2], 2, "ssgan fit",
                         stacked=True, warn=lambda seed, message: warned.append(message))
    assert not [m for m in warned if "--graphs" in m], warned  # captured, not fallen back
    for seed in (1, 2):
        eager, graphed = (torch.load(_run_of(tmp_path / d, seed) / "checkpoint.pt", weights_only=False)
                          for d in ("eager", "graphs"))
        assert eager["epoch"] == graphed["epoch"] == 3
        for part in ("generator", "discriminator", "ema"):
            assert_same_state(eager[part], graphed[part], rtol=1e-3, atol=1e-4)
        a, b = read_metrics(_run_of(tmp_path / "eager", seed)), read_metrics(_run_of(tmp_path / "graphs", seed))
        assert [m["loss_lab"] for m in a] == pytest.approx([m["loss_lab"] for m in b], rel=1e-3)


def test_a_stacked_step_out_of_device_memory_says_what_to_do(tmp_path, monkeypatch):
    """The group's step running out of memory (ten seeds on a GPU too small for them) reaches
    each seed as torch's OutOfMemoryError, so that the line says what a single run's says (fewer
    runs at once, the resume command), where it was a RuntimeError that named none of it; the
    command resumes every run of the group, fewer at once, where it named the first run alone
    (and that command, run as printed, finishes both)."""
    import ssgan.batched

    real, calls = ssgan.batched.discriminator_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 20:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nmore advice")
        return real(*args, **kwargs)

    monkeypatch.setattr(ssgan.batched, "discriminator_step", step)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu",
                                  "--seeds", "1-2", "--parallel", "2", "--parallel-mode", "stacked",
                                  "--out", str(tmp_path), "--quiet"])
    first, second = _run_of(tmp_path, 1), _run_of(tmp_path, 2)
    assert r.exit_code == 2 and r.output == (
        "Error: the device ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB. (the stacked step of 2 "
        "seeds)): free it, or train fewer runs on it at once (--parallel), then resume them with: ssgan fit --resume "
        f"{first} --resume {second}; a run too large to fit alone needs a smaller --batch-size or network, in a new "
        "run\n"), r.output
    command = r.output.split("resume them with: ")[1].split(";")[0]
    r = CliRunner().invoke(main, command.split()[1:] + ["--quiet"])
    assert r.exit_code == 0, r.output
    assert [len(read_metrics(run)) for run in (first, second)] == [2, 2]
