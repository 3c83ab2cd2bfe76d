import json

import pytest

from conftest import ROOT
from ssgan.config import Config, load_toml, resolve, warn_without_effect
from ssgan.errors import SSGANError


def test_defaults_match_the_paper():
    c = Config()
    assert (c.lr, c.beta1, c.batch_size, c.g_loss, c.label_smoothing, c.unlabeled_weight, c.fake_logit) == (
        0.003, 0.5, 100, "feature-matching", 0.0, 1.0, "implicit")


def test_config_is_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().epochs = 3


def test_command_line_wins_over_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('dataset = "digits"\nepochs = 7\nlr = 1\n')
    c = resolve(f, epochs=2, lr=None)
    assert c.dataset == "digits" and c.epochs == 2 and c.lr == 1.0 and isinstance(c.lr, float)


@pytest.mark.parametrize("text, message", [
    ("epoch = 3\n", "unknown key 'epoch'; did you mean 'epochs'\\?$"),
    ("batch-size = 50\n", "unknown key 'batch-size'; did you mean 'batch_size'\\? \\(keys are written with underscores"),
    ("[fit]\nepochs = 3\n", "unknown key 'fit'; a config file is one flat table of keys"),
    ("bogus = 3\n", "unknown key 'bogus'; known keys are dataset, data_root, "),
    ("seeds = [1, 2, 3]\n", "unknown key 'seeds'; a config file holds the settings of a run, and --seeds chooses "
                            "which runs to make, how many or how: give --seeds on the command line"),  # (not 'seed')
    ("parallel-mode = 'threads'\n", "unknown key 'parallel-mode'; .* give --parallel-mode on the command line"),
    ('epochs = "3"\n', "epochs must be int"),
    ("lr = true\n", "lr must be float"),
    ("epochs = [", "not valid TOML"),
])
def test_bad_config_files(tmp_path, text, message):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(SSGANError, match=message):
        load_toml(f)


def test_missing_config_file(tmp_path):
    with pytest.raises(SSGANError, match="does not exist"):
        resolve(tmp_path / "nope.toml")


@pytest.mark.parametrize("given, told", [
    ("mnist100.toml", "did you mean configs/mnist-100.toml?"),  # the folder left out, a dash missed
    ("configs/svhn-1000.tml", "did you mean configs/svhn-1000.toml?"),
    ("nope.toml", "give the path of a TOML file of fit's settings (the checkout's configs/ folder holds examples)"),
])
def test_a_missing_config_file_is_told_the_closest_example(tmp_path, monkeypatch, given, told):
    """A config file that is not there: the checkout's example of the closest name, where one
    is close (in the folder ssgan runs in), else where the examples are."""
    (tmp_path / "configs").mkdir()
    for name in ("mnist-100", "svhn-1000", "digits"):
        (tmp_path / "configs" / f"{name}.toml").write_text("epochs = 1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SSGANError) as e:
        load_toml(given)
    assert str(e.value) == f"config file {given} does not exist: {told}"


@pytest.mark.parametrize("changes, message", [
    (dict(g_loss="wgan"), "g_loss must be one of"),
    (dict(epochs=0), "epochs must be >= 1"),
    (dict(lr=0.0), "^lr must be > 0, got 0.0$"),  # the bound as written, not "0.0"
    (dict(label_smoothing=1.0), "label_smoothing must lie in"),
    (dict(class_smoothing=1.0), r"^class_smoothing must lie in \[0, 1\), got 1.0$"),
    (dict(beta2=1.0), "beta2 must lie in"),
    (dict(lr_decay_start=2.0), r"^lr_decay_start must lie in \[0, 1\] \(1: a constant rate\), got 2.0$"),  # (1 is its default)
    (dict(unlabeled_weight=-1.0), "^unlabeled_weight must be >= 0, got -1.0$"),
    (dict(quality_every=-1), "^quality_every must be >= 0, got -1$"),
    # nan compares false with every bound, so it passed them all (lr: torch's traceback;
    # unlabeled_weight: a run that trained to the end on nan losses); inf trained until the guard
    (dict(lr=float("nan")), "^lr must be a finite number, got nan$"),
    (dict(adam_eps=float("nan")), "^adam_eps must be a finite number, got nan$"),
    (dict(unlabeled_weight=float("nan")), "^unlabeled_weight must be a finite number, got nan$"),
    (dict(d_input_noise=float("nan")), "^d_input_noise must be a finite number, got nan$"),
    (dict(lr=float("inf")), "^lr must be a finite number, got inf$"),
    (dict(moment_weight=float("-inf")), "^moment_weight must be a finite number, got -inf$"),
    # an empty item was dropped: 1000,,500 trained a 2-layer D, 500, a 1-layer G, 0.5,,0 two rates
    (dict(d_hidden="1000,,500"), r"^d_hidden must be comma-separated positive widths like 500,500, got '1000,,500'$"),
    (dict(g_hidden="500,"), r"^g_hidden must be comma-separated positive widths like 500,500, got '500,'$"),
    (dict(g_dropout="0.5,,0"), r"^g_dropout must be one rate or one per generator layer \(2\), got '0.5,,0'$"),
    (dict(g_dropout="0.5,"), r"^g_dropout must be one rate or one per generator layer \(2\), got '0.5,'$"),
])
def test_invalid_values(changes, message):
    with pytest.raises(SSGANError, match=message):
        Config(**changes)


def test_a_value_out_of_range_is_named_where_it_was_given(tmp_path):
    """By its flag where the command line gave it, by the config file where that did (it was
    "batch_size must be >= 1, got 0" either way, which named neither); by its field in Python."""
    import re

    from click.testing import CliRunner

    from ssgan.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text("batch_size = 0\n")
    with pytest.raises(SSGANError, match=rf"^config file {re.escape(str(cfg))}: batch_size must be >= 1, got 0$"):
        resolve(cfg)
    with pytest.raises(SSGANError, match=r"^--batch-size must be >= 1, got 0$"):
        resolve(cfg, batch_size=0)
    with pytest.raises(SSGANError, match=r"^--label-smoothing must lie in \[0, 1\), got 1.5$"):
        resolve(None, label_smoothing=1.5)
    with pytest.raises(SSGANError, match=r"^epochs must be >= 1, got 0$"):
        Config(epochs=0)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--lr", "-1", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output == "Error: --lr must be > 0, got -1.0\n" and not (tmp_path / "runs").exists()
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--lr-d", "nan", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output == "Error: --lr-d must be a finite number, got nan\n" and not (tmp_path / "runs").exists()
    cfg.write_text("lr = inf\n")  # (TOML's inf and nan are floats)
    with pytest.raises(SSGANError, match=rf"^config file {re.escape(str(cfg))}: lr must be a finite number, got inf$"):
        resolve(cfg)


def test_a_setting_without_effect_is_a_warning_named_where_it_was_given(tmp_path):
    """--moment-weight under feature matching changed nothing, without a word: a user who gave it
    believed it did. Said once per setting given, by its flag or its config file; the run goes on."""
    import warnings

    from click.testing import CliRunner

    from ssgan.cli import main
    from ssgan.errors import DataWarning

    cfg = tmp_path / "c.toml"
    cfg.write_text("mbd_dim = 3\nentropy_weight = 0.0\nentropy_epochs = 5\n")
    with pytest.warns(DataWarning) as caught:
        warn_without_effect(resolve(cfg, moment_weight=0.5), cfg, moment_weight=0.5, lr=None)
    assert [str(w.message) for w in caught] == [
        "--moment-weight has no effect in this run: it acts only with --g-loss moment-matching",
        f"config file {cfg}: mbd_dim has no effect in this run: it acts only with --mbd-kernels above 0",
        f"config file {cfg}: entropy_epochs has no effect in this run: it acts only with --entropy-weight above 0"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for given in (dict(g_loss="moment-matching", moment_weight=0.5, moment_space="features", fm_layer=-2),
                      dict(mbd_kernels=10, mbd_dim=3, fm_norm="l1", fm_layer=-2)):
            warn_without_effect(resolve(None, **given), None, **given)
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--adv-weight", "0.2",
                                  "--out", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code == 0 and r.stderr == ("Warning: --adv-weight has no effect in this run: it acts only with "
                                             "--g-loss fm+adv\n"), r.output
    # --data-root and --download are read by torchvision's datasets alone (bundled MNIST ignored them in silence)
    torchvision = "a torchvision dataset (fashion-mnist, kmnist, svhn or cifar10)"
    with pytest.warns(DataWarning) as caught:
        warn_without_effect(resolve(None, dataset="mnist", download=True), None, dataset="mnist", download=True)
    assert [str(w.message) for w in caught] == [f"--download has no effect in this run: it acts only with {torchvision}"]
    r = CliRunner().invoke(main, ["baseline", "--dataset", "digits", "--labels", "50", "--seeds", "1", "--method", "logreg",
                                  "--data-root", str(tmp_path), "--out", str(tmp_path / "runs"), "--json"])
    assert r.exit_code == 0 and r.stderr == f"Warning: --data-root has no effect in this run: it acts only with {torchvision}\n"
    seeded = tmp_path / "seeded.toml"  # --seeds names every seed of the study; the file's seed was dropped in silence
    seeded.write_text("seed = 5\nepochs = 1\n")
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--config", str(seeded), "--seeds", "1-1",
                                  "--out", str(tmp_path / "seeded"), "--quiet"])
    assert r.exit_code == 0 and r.stderr == (f"Warning: config file {seeded}: seed has no effect under --seeds 1-1, "
                                             "which names every seed it runs\n"), r.output
    for args, line in ((["--parallel", "2"], "--parallel 2 has no effect on one run: it trains several runs (--seeds, or "
                                            "several --resume or --from) side by side"),
                       (["--seeds", "1-2", "--parallel-mode", "threads"],
                        "--parallel-mode threads has no effect in this run: it acts only with --parallel N above 1"),
                       (["--quality-samples", "500"],
                        "--quality-samples has no effect in this run: it acts only with --quality-every above 0"),
                       # with an unlabeled weight of 0 no generator trains: its loss and samples were dropped in silence
                       (["--unlabeled-weight", "0", "--g-loss", "moment-matching"],
                        "--g-loss has no effect in this run: it acts only with --unlabeled-weight above 0")):
        r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", *args,
                                      "--out", str(tmp_path / "parallel"), "--quiet"])
        assert r.exit_code == 0 and r.stderr == f"Warning: {line}\n", r.output
    split = tmp_path / "svhn.json"  # a split brings its dataset to baseline: svhn reads --data-root, so no warning
    split.write_text(json.dumps({"dataset": "svhn", "seed": 1, "labels": 10, "n_classes": 10, "n_train": 100,
                                 "indices": list(range(10))}))
    r = CliRunner().invoke(main, ["baseline", "--split", str(split), "--method", "logreg", "--data-root", str(tmp_path / "no"),
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.stderr.startswith(f"Error: data root {tmp_path / 'no'} does not exist"), r.output


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.toml")))
def test_shipped_configs_load(name):
    """... and give no setting that their others leave without effect, nor a seed (they are run
    with --seeds, beside which a file's seed is a warning; the default seed is 1)."""
    import warnings

    path = ROOT / "configs" / name
    assert "seed" not in load_toml(path)
    Config(**load_toml(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_without_effect(resolve(path), path)


def test_an_error_of_a_setting_from_the_config_file_names_the_file(tmp_path):
    """`labels = 5000` in a --config file stopped with `--labels 5000 asks for ...`, a flag the
    user never typed; it names the file's key now. Given on the command line, the flag it stays."""
    from click.testing import CliRunner

    from ssgan.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text("labels = 5000\nepochs = 1\n")
    for command in (["fit"], ["baseline", "--method", "logreg", "--seeds", "1"]):
        r = CliRunner().invoke(main, [*command, "--dataset", "digits", "--config", str(cfg), "--out", str(tmp_path / "r")])
        assert (r.exit_code, r.output) == (2, f"Error: config file {cfg}: labels = 5000 asks for 500 labeled examples of "
                                              "class 8, but digits has only 131: use at most 1310\n")
        r = CliRunner().invoke(main, [*command, "--dataset", "digits", "--config", str(cfg), "--labels", "2000",
                                      "--out", str(tmp_path / "r")])
        assert r.output.startswith("Error: --labels 2000 asks for 200 labeled examples"), r.output
    assert not (tmp_path / "r").exists()
