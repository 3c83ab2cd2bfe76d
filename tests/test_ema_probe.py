"""--ema-probe: other moving averages of D, updated beside the run's own and scored every epoch,
so that one run measures several EMA decays at once without training any differently."""

from __future__ import annotations

import signal

import pytest
import torch
from click.testing import CliRunner

from conftest import SignalAt, assert_same_state, without_timings
from ssgan.batched import stack_blockers
from ssgan.cli import main
from ssgan.config import Config
from ssgan.graphs import graph_blockers
from ssgan.report import _settings_of
from ssgan.runs import fit, read_metrics, resume
from ssgan.stops import Interrupted
from ssgan.train import load_checkpoint


def cfg(out, **changes):
    return Config(dataset="digits", labels=50, val=200, epochs=2, device="cpu", out=str(out), **changes)


def _weights(run_dir) -> dict:
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    return {f"{part}.{k}": v for part in ("generator", "discriminator", "ema") for k, v in ckpt[part].items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same run without probes and with three: D itself (0), the run's own decay, and another."""
    plain, _ = fit(cfg(tmp_path_factory.mktemp("plain")))
    probed, _ = fit(cfg(tmp_path_factory.mktemp("probed"), ema_probe="0,0.9999,0.5"))
    return plain, probed


def test_probes_leave_training_and_the_runs_own_scores_as_they_were(runs):
    plain, probed = runs
    assert_same_state(_weights(plain), _weights(probed))
    with_probes = without_timings(read_metrics(probed))
    assert [m.pop("ema_probe") for m in with_probes] and with_probes == without_timings(read_metrics(plain))


def test_a_probe_of_the_runs_own_decay_scores_as_the_run_and_decay_0_is_d_itself(runs):
    _, probed = runs
    metrics = read_metrics(probed)
    for m in metrics:
        assert set(m["ema_probe"]) == {"0", "0.9999", "0.5"}
        own = m["ema_probe"]["0.9999"]
        assert (own["val_errors"], own["test_errors"]) == (m["val_errors"], m["test_errors"])
        assert set(own) == {"val_acc", "val_errors", "test_acc", "test_errors"}
    ckpt = load_checkpoint(probed / "checkpoint.pt")
    assert_same_state(ckpt["ema_probe"]["0"]["ema"], ckpt["discriminator"])
    assert ckpt["ema_probe"]["0.9999"]["ema_n"] == ckpt["ema_n"]
    # the third differs from both (else the test could not tell the averages apart; the warm-up
    # min(decay, (1 + n) / (10 + n)) holds the first 26 steps below 0.9, so its decay is 0.5)
    other = ckpt["ema_probe"]["0.5"]["ema"]
    assert any(not torch.equal(other[k], ckpt["ema"][k]) for k in other if other[k].is_floating_point())
    assert any(not torch.equal(other[k], ckpt["discriminator"][k]) for k in other if other[k].is_floating_point())


def test_an_interrupted_probed_run_resumes_to_the_same_probes(runs, tmp_path):
    _, probed = runs
    with pytest.raises(Interrupted) as info:
        fit(cfg(tmp_path, ema_probe="0,0.9999,0.5"), SignalAt(1, 7, signal.SIGINT))
    run_dir = info.value.run_dir
    resume(run_dir)
    a, b = load_checkpoint(probed / "checkpoint.pt"), load_checkpoint(run_dir / "checkpoint.pt")
    for key in ("0", "0.9999", "0.5"):
        assert_same_state(a["ema_probe"][key]["ema"], b["ema_probe"][key]["ema"])
    assert without_timings(read_metrics(run_dir)) == without_timings(read_metrics(probed))


@pytest.mark.parametrize("value", ["1", "x", "0.9,0.9", "-0.1", "nan"])
def test_a_wrong_probe_list_is_one_line(tmp_path, value):
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1",
                                  "--ema-probe", value, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.strip().splitlines()[-1] == (
        "Error: --ema-probe must be distinct decays in [0, 1) separated by commas, like 0,0.999,0.99995, "
        f"got {value!r}")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_probes_train_eagerly_and_are_not_a_setting():
    c = Config(ema_probe="0.999")
    assert "--ema-probe's moving averages are updated eagerly" in graph_blockers(c, torch.device("cuda"), False)
    assert not any("ema-probe" in r for r in graph_blockers(Config(), torch.device("cuda"), False))
    assert "--ema-probe keeps its moving averages per network" in stack_blockers(c, (1, 28, 28))
    # runs that differ only in their probes are seeds of one method in a report
    assert _settings_of(c.to_dict()) == _settings_of(Config().to_dict())


def test_the_report_sets_each_decay_beside_the_runs_own(runs, tmp_path):
    from ssgan.report import find_runs, summarize, write_report

    _, probed = runs
    metrics = read_metrics(probed)
    rows = summarize(find_runs([probed]))["methods"]["ssgan"]["ema_probe"]
    assert [(r["decay"], r["own"]) for r in rows] == [("0.9999", True), ("0", False), ("0.5", False)]
    own, d = rows[0], rows[1]
    assert own["val"][0] == metrics[-1]["val_errors"] and own["test"][0] == metrics[-1]["test_errors"]
    assert d["val"][0] == metrics[-1]["ema_probe"]["0"]["val_errors"]
    window = [m["ema_probe"]["0"]["val_errors"] - m["val_errors"] for m in metrics]  # (2 epochs here: both)
    assert len(window) == 2 and d["val_window_difference"][0] == pytest.approx(sum(window) / len(window))
    assert [r["window"] for r in rows] == [2, 2, 2]
    # 0.9999 would act from update 89,990 on, far past this run's steps: its row says so; 0.5 acts from update 8
    steps = metrics[-1]["iterations"]
    assert [(r["reached_at"], r["steps"]) for r in rows] == [(89990, steps), (0, steps), (8, steps)] and 8 < steps
    write_report([probed], tmp_path / "r")
    text = (tmp_path / "r" / "report.md").read_text()
    assert (f"| ssgan | 0.9999 (the run's own); not reached in the runs' {steps:,} steps (from step 89,990): the "
            "warm-up's average throughout | 1 | ") in text
    assert "| ssgan | 0.5 | 1 | " in text
    # the table names the epochs it averaged: these runs' two, not the ten of a full-length run
    assert "val errors, mean of the last 2 epochs |" in text and "last 10" not in text
    # --window 2-2: the second epoch alone (a control: its difference is not the two epochs' mean)
    (d2,) = [r for r in summarize(find_runs([probed]), window=(2, 2))["methods"]["ssgan"]["ema_probe"] if r["decay"] == "0"]
    assert d2["window"] == [2, 2] and d2["val_window_difference"][0] == pytest.approx(window[1])
    write_report([probed], tmp_path / "r2", window=(2, 2))
    assert "val errors, mean of epochs 2-2 |" in (tmp_path / "r2" / "report.md").read_text()


def test_a_report_of_runs_without_probes_has_no_such_table(runs, tmp_path):
    from ssgan.report import write_report

    plain, _ = runs
    write_report([plain], tmp_path / "r")
    assert "--ema-probe" not in (tmp_path / "r" / "report.md").read_text()


def test_the_warm_up_step_is_where_trainings_own_average_starts_to_use_the_decay():
    """ema_reached_at reads the warm-up that training applies (train._ema_update): one update
    before it, the average moves by the warm-up's weight (the same for any higher decay); from
    it on, by the decay's own."""
    from ssgan.config import ema_reached_at, ema_warmup
    from ssgan.train import _ema_update

    for decay in (0.5, 0.999, 0.9995, 0.9999):
        n = ema_reached_at(decay)
        assert ema_warmup(n - 1) < decay <= ema_warmup(n)
        for at, weight in ((n - 1, 1 - ema_warmup(n - 1)), (n, 1 - decay)):
            averaged = [torch.zeros(1, dtype=torch.float64)]
            _ema_update(decay)(averaged, [torch.ones(1, dtype=torch.float64)], torch.tensor(at))
            assert averaged[0].item() == pytest.approx(weight, rel=1e-12)
