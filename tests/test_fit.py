import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import cuda
from ssgan.cli import main
from ssgan.config import Config
from ssgan.data import load_dataset
from ssgan.runs import load_run, read_metrics
from ssgan.splits import make_split
from ssgan.train import train

METRIC_KEYS = {"epoch", "iterations", "loss_lab", "loss_unl", "loss_gen", "d_real", "d_fake",
               "train_acc", "test_acc", "lr", "seconds", "eval_seconds"}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2",
                                  "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


def test_fit_writes_a_complete_run_folder(digits_run):
    out, summary = digits_run
    run = out / "00000-digits-50-s1"
    assert summary["run"] == str(run) and summary["epochs"] == 2 and 0.0 <= summary["test_acc"] <= 1.0
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "digits" and config["labels"] == 50 and config["epochs"] == 2
    split = json.loads((run / "split.json").read_text())
    assert split["name"] == "digits.seed1@50" and len(split["indices"]) == 50
    # the command as given, less the defaults it did not name (`--parallel 1` had been in every one)
    assert (run / "command.txt").read_text() == f"ssgan fit --dataset digits --labels 50 --epochs 2 --out {out} --json\n"
    metrics = read_metrics(run)
    assert [m["epoch"] for m in metrics] == [1, 2] and all(METRIC_KEYS <= set(m) for m in metrics)
    assert metrics[-1]["lr"] == pytest.approx(0.003)  # the default rate is constant
    assert all(0.0 < m["eval_seconds"] < m["seconds"] for m in metrics)  # evaluation is a part of the epoch's time
    assert config["precision"] in ("fp32", "bf16")  # auto is saved resolved
    assert (run / "samples" / "epoch_0001.png").is_file() and (run / "samples" / "epoch_0002.png").is_file()
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    assert {"generator", "discriminator", "ema", "opt_d", "opt_g", "config", "epoch", "torch_rng", "numpy_rng"} <= set(ckpt)
    assert ckpt["epoch"] == 2
    assert not list(run.glob(".*.tmp"))  # no temporary files left behind


def test_run_folders_are_never_overwritten(digits_run):
    out, _ = digits_run
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1",
                                  "--out", str(out), "--quiet", "--split", str(out / "00000-digits-50-s1" / "split.json")])
    assert r.exit_code == 0 and r.output == ""
    assert (out / "00001-digits-50-s1").is_dir()
    a = json.loads((out / "00000-digits-50-s1" / "split.json").read_text())["indices"]
    b = json.loads((out / "00001-digits-50-s1" / "split.json").read_text())["indices"]
    assert a == b


def test_a_split_file_brings_its_dataset_and_seed(tmp_path, monkeypatch):
    """``fit --split s.json`` trains on the data and with the seed the split was drawn with, as
    ``baseline --split`` does; it had trained on MNIST's default and stopped: 'split file s.json
    is for dataset 'digits', not 'mnist''. What the command line or a config file gives wins."""
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["split", "--dataset", "digits", "--labels", "50", "--seed", "3",
                                     "--out", "s.json"]).exit_code == 0
    Path("c.toml").write_text('dataset = "mnist"\n')
    for args, run in ((["--split", "s.json"], "00000-digits-50-s3"), (["--split", "s.json", "--seed", "7"], "00001-digits-50-s7")):
        r = CliRunner().invoke(main, ["fit", *args, "--epochs", "1", "--out", "runs", "--json", "--quiet"])
        assert r.exit_code == 0 and json.loads(r.stdout)["run"] == f"runs/{run}", r.output
        assert json.loads(Path("runs", run, "split.json").read_text())["indices"] == \
            json.loads(Path("s.json").read_text())["indices"]
    r = CliRunner().invoke(main, ["fit", "--config", "c.toml", "--split", "s.json", "--epochs", "1", "--out", "runs"])
    assert r.exit_code == 2 and "split file s.json is for dataset 'digits', not 'mnist'" in r.output, r.output


def test_sample_from_run(digits_run, tmp_path):
    out, _ = digits_run
    run = out / "00000-digits-50-s1"
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "16", "--out", str(tmp_path / "g.png"),
                                  "--npz", str(tmp_path / "s.npz")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(tmp_path / "s.npz") as f:
        assert f["x"].shape == (16, 1, 8, 8) and f["z"].shape == (16, 100)
        assert 0.0 <= f["x"].min() and f["x"].max() <= 1.0


def test_a_run_without_a_trained_generator_has_no_samples(tmp_path):
    """A supervised-only run (unlabeled weight 0: baseline's same-net and full) trains no
    generator; `sample` wrote a picture of its untrained one, and `eval --samples` scored it
    (FID 505 on digits), without a word. Each now says so in one line; its classifier is scored."""
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--unlabeled-weight",
                                  "0", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    for args, advice in ((["sample", run], "sample a run trained with an unlabeled weight above 0"),
                         (["sample", run, "--walk", "3"], "sample a run trained with an unlabeled weight above 0"),
                         (["eval", run, "--samples", "100"], "drop --samples to score its classifier")):
        r = CliRunner().invoke(main, args)
        assert (r.exit_code, r.output) == (2, f"Error: {run} is a supervised-only run (same-net: unlabeled weight 0), "
                                              f"which trains no generator (its weights are the untrained ones): {advice}\n")
    assert not (Path(run) / "samples.png").exists()
    r = CliRunner().invoke(main, ["eval", run, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["accuracy"] > 0.5, r.output


def test_more_samples_than_a_picture_draws_go_to_arrays_made_in_parts(digits_run, tmp_path, monkeypatch):
    """--n above 10,000 (FID tools take 50,000) writes --npz and --images, the generator run on
    parts of 10,000 samples, the first part as one pass of 10,000 made it; a picture of so many
    is refused before any work, with what to write instead."""
    import ssgan.samples

    monkeypatch.chdir(tmp_path)
    run = digits_run[0] / "00000-digits-50-s1"
    for args in ([], ["--out", "g.png", "--npz", "s.npz"]):
        r = CliRunner().invoke(main, ["sample", str(run), "--n", "10001", *args])
        assert r.exit_code == 2 and r.output == ("Error: --n 10001: a picture draws at most 10,000 samples; write more "
                                                 "with --npz FILE or --images DIR, without --out\n"), r.output
        assert not any(tmp_path.iterdir())
    monkeypatch.setattr(ssgan.samples, "GENERATED_ROWS", 300)  # (parts that do not divide --n)
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "700", "--npz", "parts.npz", "--images", "parts"])
    assert r.exit_code == 0 and r.output == "wrote parts.npz, parts (700 images)\n", r.output
    monkeypatch.setattr(ssgan.samples, "GENERATED_ROWS", 10_000)
    for n in (300, 700):
        r = CliRunner().invoke(main, ["sample", str(run), "--n", str(n), "--npz", f"one-{n}.npz"])
        assert r.exit_code == 0, r.output
    with np.load("parts.npz") as parts, np.load("one-300.npz") as first, np.load("one-700.npz") as whole:
        assert parts["x"].shape == (700, 1, 8, 8) and np.array_equal(parts["x"][:300], first["x"])
        assert np.array_equal(parts["z"], whole["z"])  # every part from its own rows of the noise:
        assert np.allclose(parts["x"], whole["x"], rtol=0, atol=1e-5)  # (the pass's size moves the last bit)
    assert len(list(Path("parts").iterdir())) == 700


def test_sample_arrays_go_into_new_folders_and_a_failed_write_names_them(digits_run, tmp_path):
    """--npz makes its folder, as --out does for the picture; a write that fails names the .npz
    (it named the picture, None without one)."""
    run = digits_run[0] / "00000-digits-50-s1"
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "4", "--npz", str(tmp_path / "new" / "s.npz")])
    assert r.exit_code == 0 and (tmp_path / "new" / "s.npz").is_file(), r.output
    (tmp_path / "a_file").write_text("")
    for flag, name in (("--npz", "s.npz"), ("--out", "s.png"), ("--images", "s")):  # told before the samples are drawn
        where = tmp_path / "a_file" / name
        r = CliRunner().invoke(main, ["sample", str(run), "--n", "4", flag, str(where)])
        assert r.exit_code == 2 and r.output == f"Error: {flag} {where}: {tmp_path / 'a_file'} is a file, not a folder\n", \
            r.output


@pytest.mark.parametrize("args, message", [
    (["--out", "s.npz"], "--out s.npz: sample writes a PNG picture there; give a name that ends in .png "
                         "(--npz s.npz writes the samples' values)"),
    (["--npz", "s.png"], "--npz s.png: sample writes the samples' values as an .npz there; give a name that ends "
                         "in .npz (--out s.png writes the picture)"),
    (["--out", "grid"], "--out grid: sample writes a PNG picture there; give a name that ends in .png"),
])
def test_sample_names_say_what_they_hold(digits_run, tmp_path, monkeypatch, args, message):
    """A name that says another format is refused before anything is written: --out s.npz had
    written a PNG picture named s.npz."""
    monkeypatch.chdir(tmp_path)
    run = digits_run[0] / "00000-digits-50-s1"
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "4", *args])
    assert r.exit_code == 2 and r.output == f"Error: {message}\n", r.output
    assert not any(tmp_path.iterdir())
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "4", "--out", "G.PNG"])
    assert r.exit_code == 0 and (tmp_path / "G.PNG").read_bytes()[:4] == b"\x89PNG", r.output


def test_images_of_more_channels_than_a_picture_holds_train_without_one(tmp_path, monkeypatch):
    """16 bands of 4x4 pixels: the run trains and reports with no sample grid (the grid of its
    first epoch had raised a TypeError from PIL in the middle of the run), and sample says there
    is no picture while --npz writes the values."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez("bands.npz", x=rng.random((40, 16, 4, 4)).astype(np.float32), y=np.where(np.arange(40) < 10,
             np.arange(40) % 2, -1), x_test=rng.random((10, 16, 4, 4)).astype(np.float32), y_test=np.arange(10) % 2)
    r = CliRunner().invoke(main, ["fit", "--dataset", "npz:bands.npz", "--epochs", "2", "--batch-size", "10",
                                  "--quiet", "--json"])
    assert r.exit_code == 0, r.output
    run = Path(json.loads(r.stdout)["run"])
    assert (run / "checkpoint.pt").is_file() and not (run / "samples").exists()
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "4"])
    assert r.exit_code == 2 and r.output == ("Error: this run's examples, of shape (16, 4, 4), have no picture: "
                                             "use --npz FILE\n"), r.output
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "4", "--npz", "s.npz"])
    assert r.exit_code == 0 and np.load("s.npz")["x"].shape == (4, 16, 4, 4), r.output
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "4", "--npz", "./bands.npz"])  # the run's own data
    assert r.exit_code == 2 and r.output == (f"Error: --npz ./bands.npz is the file {run} trained on: writing there "
                                             "would replace the data; give another --npz\n"), r.output
    r = CliRunner().invoke(main, ["predict", str(run), "--data", "npz:s.npz", "--out", "bands.npz"])
    assert r.exit_code == 2 and f"--out bands.npz is the file {run} trained on" in r.output, r.output
    assert np.load("bands.npz").files == ["x", "y", "x_test", "y_test"]
    r = CliRunner().invoke(main, ["report", str(run), "--out", "rep"])
    assert r.exit_code == 0 and r.output == "wrote rep/report.md, report.json, accuracy.png, losses.png, diagnostics.png\n"
    assert not Path("rep/samples.png").exists()


def test_loaded_run_reproduces_its_test_accuracy(digits_run):
    from ssgan.train import evaluate

    out, summary = digits_run
    run = load_run(out / "00000-digits-50-s1")
    data = load_dataset("digits")
    acc, errors = evaluate(run.discriminator(), data.x_test, data.y_test, run.config, torch.device("cpu"))
    assert acc == pytest.approx(summary["test_acc"])
    assert errors == read_metrics(run.path)[-1]["test_errors"] and read_metrics(run.path)[-1]["n_test"] == 450


def _discriminator(data):
    from ssgan.models import build_models

    cfg = Config(dataset="digits", labels=50)
    torch.manual_seed(0)
    return cfg, build_models(cfg, data.shape, data.n_classes)[1]


def _errors_one_by_one(model, data, cfg) -> int:
    from ssgan.train import predict_logits

    logits = predict_logits(model, data.x_test, cfg.fake_logit, torch.device("cpu"))
    return int((logits.argmax(1).numpy() != data.y_test).sum())


def test_evaluate_counts_the_errors_of_arrays_and_of_tensors_alike(digits):
    from ssgan.train import evaluate

    cfg, model = _discriminator(digits)
    expected = _errors_one_by_one(model, digits, cfg)
    assert 0 < expected < len(digits.y_test)
    arrays = (digits.x_test, digits.y_test)
    for x, y in (arrays, tuple(map(torch.from_numpy, arrays))):
        for batch_size in (1000, 7):  # 450 rows: one batch, and batches that do not divide them
            acc, errors = evaluate(model, x, y, cfg, torch.device("cpu"), batch_size=batch_size)
            assert errors == expected and acc == 1.0 - expected / len(y)
    assert model.training  # evaluated in eval mode (no noise), and given back as it came
    assert evaluate(model, x[:0], y[:0], cfg, torch.device("cpu")) == (None, None)


@cuda
def test_evaluate_on_cuda_reads_back_once(digits):
    """The training loop keeps the held-out sets on the GPU; counting their errors costs one
    host read, not one per batch."""
    from ssgan.train import evaluate

    cfg, model = _discriminator(digits)
    expected = _errors_one_by_one(model, digits, cfg)
    model.cuda()
    x, y = torch.from_numpy(digits.x_test).cuda(), torch.from_numpy(digits.y_test).cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, errors = evaluate(model, x, y, cfg, torch.device("cuda"), batch_size=100)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
    assert errors == expected and len(syncs) == 1, syncs


def _short(**changes):
    cfg = Config(dataset="digits", labels=50, epochs=2, device="cpu", **changes)
    data = load_dataset("digits")
    return train(cfg, data, make_split(data, 50, cfg.seed))


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


def test_same_seed_same_result_on_cpu():
    a, b = _short(), _short()
    assert torch.equal(_flat(a.discriminator), _flat(b.discriminator))
    assert torch.equal(_flat(a.generator), _flat(b.generator))
    assert [m["test_acc"] for m in a.history] == [m["test_acc"] for m in b.history]


def test_zero_unlabeled_weight_is_the_supervised_only_model():
    """With unlabeled_weight 0 the discriminator sees only labeled data: the generator and
    every unsupervised option are irrelevant, and the generator is never trained."""
    from ssgan.models import build_models

    a = _short(unlabeled_weight=0.0)
    b = _short(unlabeled_weight=0.0, g_loss="adversarial", label_smoothing=0.2, fake_logit="implicit")
    assert torch.equal(_flat(a.discriminator), _flat(b.discriminator))
    torch.manual_seed(1)
    g0, _ = build_models(a.config, (1, 8, 8), 10)
    assert torch.equal(_flat(a.generator), _flat(g0))
    assert all(m["loss_unl"] is None and m["loss_gen"] is None for m in a.history)
    assert a.history[-1]["train_acc"] > 0.5
    # with a positive weight the generator matters
    c = _short(unlabeled_weight=1.0)
    assert not torch.equal(_flat(c.discriminator), _flat(a.discriminator))


@pytest.mark.parametrize("changes", [
    dict(g_loss="moment-matching"), dict(g_loss="moment-matching", moment_space="features"),
    dict(g_loss="adversarial"), dict(fm_norm="l1"), dict(fake_logit="explicit", label_smoothing=0.1),
])
def test_every_objective_trains(changes):
    r = _short(**changes)
    assert all(np.isfinite(m["loss_gen"]) and np.isfinite(m["loss_unl"]) for m in r.history)


def test_fit_on_users_npz(tiny_npz, tmp_path):
    r = CliRunner().invoke(main, ["fit", "--dataset", tiny_npz, "--epochs", "1", "--batch-size", "20",
                                  "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["labels"] == 20 and (tmp_path / "00000-tiny-20-s1" / "samples" / "epoch_0001.png").is_file()


def test_seeds_in_parallel_make_one_complete_run_folder_each(tmp_path):
    """--seeds 1,2,3 --parallel 2: three processes, two at a time, three finished run folders
    that match the same seeds trained in sequence."""
    import json

    out = tmp_path / "par"
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu",
                                  "--seeds", "1-2,3", "--parallel", "2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["seeds"] == [1, 2, 3] and len({s["run"] for s in summary["runs"]}) == 3
    for s in summary["runs"]:
        lines = (Path(s["run"]) / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 2 and (Path(s["run"]) / "checkpoint.pt").is_file()
        assert json.loads((Path(s["run"]) / "config.json").read_text())["seed"] == s["seed"]
    # in sequence with the children's thread count: bf16 (the default on CPUs with it) sums in an
    # order that depends on the number of threads
    from conftest import torch_threads

    with torch_threads(int(os.environ.get("OMP_NUM_THREADS", max(1, (os.cpu_count() or 1) // 2)))):
        r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "2", "--device", "cpu",
                                      "--seed", "2", "--out", str(tmp_path / "seq"), "--json"])
    assert json.loads(r.stdout)["test_acc"] == summary["runs"][1]["test_acc"]


def test_the_stop_line_resumes_stopped_runs_and_resumed_ones_not_reached_and_reruns_new_ones():
    """What a signal leaves of several runs, in their order: the stopped runs and the resumed
    runs it never reached in one resume command (with the --parallel they ran with, at most one
    per run), finished runs in neither command, the new runs never started in the command given,
    their seeds as a list (a single seed as 4-4: `--seeds 4` would be a count)."""
    from ssgan.launch import Job, interrupted

    cfg = Config(dataset="digits", labels=50)
    resumed = [Job(cfg.replace(seed=s), f"runs/r{s}") for s in (1, 2, 3)]
    e = interrupted(2, resumed, {0: "runs/r1"}, {0, 1}, None, 4, "stacked")
    assert str(e) == ("checkpoints written. Resume with: ssgan fit --resume runs/r1 --resume runs/r3 --parallel 2 "
                      "--parallel-mode stacked") and e.signum == 2
    new = [Job(cfg.replace(seed=s)) for s in (3, 4, 5)]
    command = ["ssgan", "fit", "--dataset", "digits", "--seeds", "3-5", "--parallel", "2"]
    assert str(interrupted(15, new, {0: "runs/r3"}, {0, 1}, command, 2, None)) == (
        "checkpoint written. Resume with: ssgan fit --resume runs/r3; not started: seed 5, with ssgan fit "
        "--dataset digits --seeds 5-5")  # (--parallel dropped: one run, where it would say it does nothing)
    assert str(interrupted(15, new, {}, set(), command, 2, None)).endswith("--seeds 3,4,5")
    assert str(interrupted(15, new, {}, {0, 1, 2}, command, 2, None)) == "no run was left to stop"


def test_a_signal_while_parallel_seeds_start_up_names_them_to_run_again(tmp_path):
    """SIGINT as soon as both children are started (still importing, with nothing to resume):
    the line names both seeds to run again, where it named neither."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "ssgan", "fit", "--dataset", "digits", "--labels", "50", "--epochs",
                          "5", "--device", "cpu", "--seeds", "1-2", "--parallel", "2", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("seed 2: started"):
            break
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGINT, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Interrupted (SIGINT); not started: seeds 1,2, with ssgan fit --dataset digits "), last
    assert last.endswith(f"--out {out} --seeds 1,2"), last


def test_a_signal_while_a_child_starts_reaches_it_too():
    """A signal that comes while a child starts, after its process exists and before it counts
    as running, reaches it too. It had not: the test above, under load, saw seed 2 train all
    its epochs after SIGINT, and the line named seed 1 alone."""
    import signal
    import subprocess
    import sys

    from ssgan.launch import Child, _read_lines, drive_children

    ended = {}

    def start(item):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        lines = []
        child = Child(proc, _read_lines(proc.stderr, lines, lambda message: None), lines)
        os.kill(os.getpid(), signal.SIGINT)  # (its handler runs here, before start returns)
        return child

    def finish(item, code, out, lines, stopped):
        ended[item] = (code, stopped)

    pending = ["a", "b"]
    assert drive_children(pending, 1, start, finish) == signal.SIGINT
    assert pending == ["b"] and set(ended) == {"a"}, ended
    code, stopped = ended["a"]
    assert stopped == signal.SIGINT and code != 0, code  # (left alone, it would sleep its 5 s and exit with 0)


@pytest.mark.parametrize("text, seeds", [("3", [1, 2, 3]), ("4,2", [4, 2]), ("6-9", [6, 7, 8, 9]), ("1-2,5", [1, 2, 5])])
def test_seeds_counts_lists_and_ranges(text, seeds):
    from ssgan.cli import _parse_seeds

    assert _parse_seeds(text, Config()) == seeds


@pytest.mark.parametrize("text, message", [
    ("x", "--seeds must be a count like 3, a list like 1,2,3 or a range like 1-10, got 'x'"),
    ("1-", "--seeds must be a count like 3, a list like 1,2,3 or a range like 1-10, got '1-'"),
    ("1,2,", "--seeds must be a count like 3, a list like 1,2,3 or a range like 1-10, got '1,2,'"),  # (was seeds 1 and 2)
    ("0", "--seeds must name at least one seed (a count of 1 or more), got '0'"),
    ("3-1", "--seeds 3-1: the range 3-1 counts down; write it 1-3"),
    ("1,1", "--seeds 1,1 names seed 1 more than once; name each seed once"),
    ("2-3,3,1-2", "--seeds 2-3,3,1-2 names seeds 2, 3 more than once; name each seed once"),
])
def test_bad_seeds_are_one_line(text, message, tmp_path):
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--epochs", "1", "--seeds", text, "--out", str(tmp_path)])
    assert r.exit_code == 2 and r.output == f"Error: {message}\n", r.output
    assert not any(tmp_path.iterdir())


def test_seeds_are_named_before_they_train(tmp_path):
    """`--seeds 2` is a count: the first line says it trains seeds 1 and 2, not seed 2."""
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu",
                                  "--seeds", "2", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "Seeds 1, 2: 2 runs, one after another", r.output
    assert sorted(d.name for d in tmp_path.iterdir()) == ["00000-digits-50-s1", "00001-digits-50-s2"]


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_seeds_pass_on_a_bad_input_as_one_line(parallel, tmp_path):
    r = CliRunner().invoke(main, ["fit", "--dataset", "npz:/nowhere.npz", "--seeds", "2", "--parallel", parallel,
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "Error: no such file: /nowhere.npz (expected npz:PATH to an .npz with arrays x and y)"], r.output


def test_a_signal_stops_parallel_seeds_and_starts_no_more(tmp_path):
    """SIGINT to `fit --seeds 1,2,3 --parallel 2`: seeds 1 and 2 checkpoint and stop, seed 3
    never starts (as in sequence), and one line says how to resume each and what is left."""
    import signal

    from conftest import interrupt_once_checkpointed

    out = tmp_path / "runs"
    code, err = interrupt_once_checkpointed(["fit", "--dataset", "digits", "--labels", "50", "--epochs", "500", "--device",
                                             "cpu", "--seeds", "1,2,3", "--parallel", "2", "--out", str(out)], out, 2)
    assert code == 128 + signal.SIGINT, err
    runs = sorted(d.name for d in out.iterdir() if d.is_dir())
    assert len(runs) == 2 and {r[-2:] for r in runs} == {"s1", "s2"}, runs
    lines = [line for line in err.splitlines() if line.strip()]
    resume, rest = lines[-1].split("; not started: ")
    assert resume.startswith("Interrupted (SIGINT); checkpoints written. Resume with: ssgan fit --resume ")
    assert resume.endswith(" --parallel 2"), resume  # the two stopped runs, resumed as they ran
    assert rest.startswith("seed 3, with ssgan fit --dataset digits --labels 50 --epochs 500 ") and rest.endswith(
        f"--out {out} --seeds 3-3"), rest  # (one seed: without --parallel, which would do nothing)
    for run in runs:
        assert f"--resume {out / run}" in resume
        assert 1 <= len(read_metrics(out / run)) < 500 and (out / run / "checkpoint.pt").is_file()


def test_a_run_that_nothing_will_score_on_held_out_rows_is_told(tmp_path):
    """Data without a test set, and no --val: the run's summary had shown "-" for its accuracy,
    and nothing said how to get one."""
    import numpy as np
    from click.testing import CliRunner

    from ssgan.cli import main

    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(60, 3)) + 3.0 * y[:, None], y=np.where(np.arange(60) < 10, y, -1))
    args = ["fit", "--dataset", f"npz:{tmp_path / 'd.npz'}", "--epochs", "1", "--batch-size", "10", "--out",
            str(tmp_path / "runs"), "--json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and ("Warning: npz:" in r.stderr and "d.npz has no test set and the run holds out no rows "
                                 "(--val 0): nothing will measure its accuracy on rows it did not train on; hold "
                                 "labeled rows out with --val N (a multiple of its 2 classes), or give the npz x_test "
                                 "and y_test" in r.stderr), r.output
    r = CliRunner().invoke(main, args + ["--val", "4"])
    assert r.exit_code == 0 and "has no test set" not in r.stderr, r.output


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_that_emulates_it_is_a_warning(tmp_path, monkeypatch, native):
    """bf16 asked for (or the precision of a run made on another CPU) on a CPU without AVX-512
    BF16 or AMX is emulated and several times slower than fp32: one line says so and what to
    give instead; auto picks fp32 there, and says nothing. A CPU that has them says nothing."""
    import ssgan.train

    monkeypatch.setattr(ssgan.train, "native_bf16", lambda: native)
    args = ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--d-hidden", "16", "--g-hidden", "16",
            "--device", "cpu", "--json"]
    r = CliRunner().invoke(main, [*args, "--precision", "bf16", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    said = [line for line in r.stderr.splitlines() if "emulated" in line]
    assert said == ([] if native else [f"Warning: {ssgan.train.EMULATED_BF16}"]), r.stderr
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b")])
    assert r.exit_code == 0 and "emulated" not in r.stderr, r.output
    config = json.loads((Path(json.loads(r.stdout)["run"]) / "config.json").read_text())
    assert config["precision"] == ("bf16" if native else "fp32")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_a_sample_grid_is_the_png_that_torchvision_writes(tmp_path, channels):
    """``save_grid`` (the grid's pixels made by torch, the file by PIL) writes the bytes of
    torchvision's ``save_image`` for grey, grey and alpha, RGB and RGBA images."""
    from torchvision.utils import save_image

    from ssgan.samples import save_grid

    images = torch.rand(7, channels, 9, 11, generator=torch.Generator().manual_seed(channels))
    save_grid(images, tmp_path / "ours.png")
    save_image(images, tmp_path / "torchvision.png", nrow=3, padding=2, pad_value=1.0, format="png")
    assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "torchvision.png").read_bytes()


def test_the_loop_makes_each_sample_grid_in_the_training_thread_and_the_writer_only_writes(tmp_path, monkeypatch):
    """The torch work of an epoch's sample grid runs in the training thread: a writer thread
    that ran torch's parallel operators would keep an OpenMP team of its own beside the
    loop's, which slowed every later step of a 2-core CPU 1.7 times (README, "Speed on the CPU")."""
    import threading

    import ssgan.samples

    made, written = [], []
    grid_pixels, write_png = ssgan.samples.grid_pixels, ssgan.samples.write_png

    def pixels(*args, **kwargs):
        made.append(threading.current_thread().name)
        return grid_pixels(*args, **kwargs)

    def write(*args, **kwargs):
        written.append(threading.current_thread().name)
        return write_png(*args, **kwargs)

    monkeypatch.setattr(ssgan.samples, "grid_pixels", pixels)
    monkeypatch.setattr(ssgan.samples, "write_png", write)
    from ssgan.runs import fit

    run_dir, _ = fit(Config(dataset="digits", labels=50, epochs=2, out=str(tmp_path)))
    assert made == [threading.current_thread().name] * 2
    assert len(written) == 2 and all(name.startswith("ssgan-writer") for name in written)
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
