"""Scaling of real-valued data as part of a run (--scale): fit on training rows, stored in the
run folder and checkpoint, applied by eval --data, inverted for samples."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ssgan.cli import main
from ssgan.config import Config
from ssgan.errors import DataWarning, SSGANError
from ssgan.runs import load_run
from ssgan.scaling import Scaler, check_units, far_outside, far_warnings, fit_scaler, load_scaler, scale_dataset

from conftest import write_npz


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _real_valued(tmp_path, n=60, name="real.npz", offset=100.0, spread=50.0, n_labeled=10):
    """Two classes of 3 real-valued features far outside [0, 1]: feature 0 tells them apart."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(0.0, 1.0, (n, 3)) * spread + offset
    x[:, 0] += y * 4 * spread
    labels = np.where(np.arange(n) < n_labeled, y, -1)
    return write_npz(tmp_path / name, x=x, y=labels, x_test=x[:20], y_test=y[:20]), x


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_scaler_round_trip(kind, tmp_path):
    x = np.random.default_rng(1).normal(5.0, 3.0, (50, 4))
    scaler, warnings = fit_scaler(kind, x)
    z = scaler.transform(x)
    if kind == "minmax":
        assert np.allclose(z.min(0), 0) and np.allclose(z.max(0), 1)
    else:
        assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(z.std(0), 1, atol=1e-5)
    (tmp_path / "scaler.json").write_text(json.dumps(scaler.to_dict()))
    again = load_scaler(tmp_path)
    assert np.allclose(again.inverse(z), x, atol=1e-4) and warnings == []


@pytest.mark.parametrize("kind", ["minmax", "standard"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_rows_are_fitted_and_scaled_a_part_at_a_time_as_all_at_once(kind, shape, monkeypatch):
    """With parts of one row and of a few, the scaled rows and the rows scaled back are bit for
    bit those of one pass over all of them with the scaler's numbers, in float64 rounded once to
    float32; the numbers themselves are one pass's bit for bit for ``minmax`` (and for any kind
    in one part), and within float64 rounding of them for ``standard``'s mean and variance,
    which partial_fit combines over the parts."""
    import ssgan.scaling

    rng = np.random.default_rng(2)
    x = (rng.standard_cauchy(size=(41, *shape)) * 1e3 + 7).astype(np.float32)
    rows = np.setdiff1d(np.arange(41), [3, 17, 30])
    cols = lambda a: a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1]) if a.ndim == 4 else a  # noqa: E731
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    fitted = (MinMaxScaler if kind == "minmax" else StandardScaler)().fit(cols(x[rows].astype(np.float64)))
    offset, scale = (fitted.data_min_, 1.0 / fitted.scale_) if kind == "minmax" else (fitted.mean_, fitted.scale_)
    view = (-1, 1, 1) if len(shape) == 3 else (-1,)
    for part_values in (1, 2 * int(np.prod(shape)) + 1, 1 << 22):
        monkeypatch.setattr(ssgan.scaling, "PART_VALUES", part_values)
        scaler, _ = fit_scaler(kind, x, rows)
        if kind == "minmax" or part_values == 1 << 22:
            assert np.array_equal(scaler.offset, offset) and np.array_equal(scaler.scale, scale)
        else:
            assert np.allclose(scaler.offset, offset, rtol=1e-13, atol=0) and np.allclose(scaler.scale, scale, rtol=1e-13, atol=0)
        z = scaler.transform(x)
        scaled = ((x - scaler.offset.reshape(view)) / scaler.scale.reshape(view)).astype(np.float32)
        assert z.dtype == np.float32 and np.array_equal(z, scaled)
        back = (z * scaler.scale.reshape(view) + scaler.offset.reshape(view)).astype(np.float32)
        assert np.array_equal(scaler.inverse(z), back)


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_a_constant_feature_fitted_in_parts_is_found_and_kept_as_one_pass_keeps_it(kind, monkeypatch):
    """A constant feature over several parts: one warning, offset its value and scale 1, so that
    it scales to 0 exactly, as one pass gives it (``standard``'s variance combined over parts of
    a constant can round to just above 0, which must not hide it)."""
    import ssgan.scaling

    monkeypatch.setattr(ssgan.scaling, "PART_VALUES", 3 * 10)  # parts of 10 rows, 6 of them
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=53), np.full(53, 4266.9204), rng.normal(size=53)]).astype(np.float32)
    from sklearn.preprocessing import StandardScaler

    combined = StandardScaler()
    for i in range(0, 53, 10):
        combined.partial_fit(x[i:i + 10].astype(np.float64))
    assert combined.var_[1] > 0  # (the case this test is about: the combined variance is not 0)
    scaler, warnings = fit_scaler(kind, x)
    assert len(warnings) == 1 and "1 feature of x is constant" in warnings[0] and "(1)" in warnings[0]
    assert scaler.offset[1] == np.float32(4266.9204) and scaler.scale[1] == 1.0
    assert np.all(scaler.transform(x)[:, 1] == 0.0)


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_data_just_loaded_are_scaled_over_themselves_to_the_same_numbers(kind, tmp_path, monkeypatch):
    """prepare scales the arrays it has just loaded in place (the data are not held twice): the
    numbers of scaling into new arrays, a part at a time; arrays that are not float32 are scaled
    into new ones, and without in_place nothing is written over."""
    import dataclasses

    import ssgan.scaling
    from ssgan.data import Dataset
    from ssgan.scaling import scale_dataset

    monkeypatch.setattr(ssgan.scaling, "PART_VALUES", 3 * 25)  # parts of 3 rows
    rng = np.random.default_rng(0)
    data = Dataset("d", (rng.normal(size=(20, 25)) * 40 + 3).astype(np.float32), np.zeros(20, np.int64),
                   (rng.normal(size=(7, 25)) * 40 + 3).astype(np.float32), np.zeros(7, np.int64), n_classes=2)
    scaler, _ = fit_scaler(kind, data.x_train)
    kept = dataclasses.replace(data, x_train=data.x_train.copy(), x_test=data.x_test.copy())
    apart, _ = scale_dataset(scaler, data)
    assert np.array_equal(data.x_train, kept.x_train) and np.array_equal(data.x_test, kept.x_test)
    over, _ = scale_dataset(scaler, data, in_place=True)
    assert over.x_train is data.x_train and over.x_test is data.x_test
    assert np.array_equal(over.x_train, apart.x_train) and np.array_equal(over.x_test, apart.x_test)
    wide = kept.x_train.astype(np.float64)
    assert np.array_equal(scaler.transform(wide, in_place=True), apart.x_train) and np.array_equal(wide, kept.x_train)
    # the whole way: a run's data as fit prepares them are those of scaling new arrays
    path = write_npz(tmp_path / "d.npz", x=kept.x_train, y=np.arange(20) % 2, x_test=kept.x_test, y_test=np.arange(7) % 2)
    from ssgan.runs import prepare

    prepared, _, fitted = prepare(Config(dataset=path, scale=kind, labels=2, batch_size=2))
    assert np.array_equal(prepared.x_train, fitted.transform(kept.x_train))


def test_images_are_scaled_per_channel():
    x = np.random.default_rng(0).random((10, 3, 4, 4)) * np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1)
    scaler, _ = fit_scaler("minmax", x)
    assert scaler.offset.shape == (3,)
    z = scaler.transform(x)
    assert np.allclose(z.reshape(10, 3, -1).transpose(1, 0, 2).reshape(3, -1).max(1), 1.0)


def test_features_of_tiny_range_are_scaled_to_the_unit_range():
    """scikit-learn's MinMaxScaler keeps scale 1 for a range below 10 float64 epsilons, so data in
    units of 1e-30 (masses in kg, say) stayed at 1e-30 in the networks' units: every feature read
    as 0, and runs trained at chance without a word. Their range is the scale, as for any other."""
    x = np.random.default_rng(0).random((20, 3)) * np.array([1e-30, 1.0, 1e30])
    scaler, warnings = fit_scaler("minmax", x)
    z = scaler.transform(x)
    assert warnings == [] and np.allclose(z.min(0), 0.0) and np.allclose(z.max(0), 1.0)
    assert np.allclose(scaler.inverse(z), x, rtol=1e-6, atol=0)


def test_constant_columns_warn_and_far_test_data_warn():
    x = np.column_stack([np.linspace(0, 1, 20), np.full(20, 7.0)])
    scaler, warnings = fit_scaler("minmax", x)
    assert warnings == ["1 feature of x is constant in the training rows (1): it carries no information"]
    assert np.allclose(scaler.transform(x)[:, 1], 0.0)  # scale 1: no division by zero
    _, warnings = fit_scaler("minmax", np.column_stack([x, np.full(20, 2.0)]))
    assert warnings == ["2 features of x are constant in the training rows (1, 2): they carry no information"]
    _, warnings = fit_scaler("minmax", np.stack([np.zeros((20, 4, 4)), np.random.default_rng(0).random((20, 4, 4))], 1))
    assert warnings == ["1 channel of x is constant in the training rows (0): it carries no information"]
    far = scaler.transform(np.array([[3.0, 7.0], [0.5, 7.0]]))
    (message,) = check_units(scaler, far, "x_test")
    assert "50.0 % of its rows" in message and "outside the training data" in message


@pytest.mark.parametrize("kind", ["minmax", "standard"])
@pytest.mark.parametrize("images", [False, True])
def test_far_values_counted_a_part_at_a_time_warn_as_the_whole(kind, images):
    """predict reads rows a part at a time: the counts of far_outside add up over the parts to
    the warning that check_units gives for all the rows at once (rows of vectors, values of images)."""
    rng = np.random.default_rng(0)
    shape = (2, 3, 3) if images else (4,)
    scaler, _ = fit_scaler(kind, rng.normal(size=(50, *shape)))
    x = scaler.transform(rng.normal(size=(23, *shape)) * np.linspace(1, 12, 23).reshape(-1, *[1] * len(shape)))
    (whole,) = check_units(scaler, x, "x")
    counts = np.array([far_outside(scaler, x[i:i + 5], "x") for i in range(0, len(x), 5)])
    assert far_warnings(scaler, *counts.sum(0).tolist(), images=images, name="x") == [whole]
    assert counts[:, 1].sum() == (x.size if images else len(x))
    assert far_warnings(scaler, 0, len(x), images, "x") == []


def test_scale_none_refuses_data_outside_unit_range():
    with pytest.raises(SSGANError, match=r"--scale none needs \[0, 1\]: use --scale minmax"):
        check_units(Scaler("none", np.zeros(0), np.ones(0)), np.array([[2.0]]), "x")


def test_standard_scaling_makes_the_generator_unbounded():
    assert Config(scale="standard").replace(arch="mlp").g_output == "none"
    assert Config(scale="minmax").replace(arch="mlp").g_output == "sigmoid"


def test_a_bounded_generator_on_standardised_data_is_warned_of(tmp_path):
    """--scale standard with a squashing --g-output set by hand: one line, and training goes on."""
    y = np.where(np.arange(40) < 8, np.arange(40) % 2, -1)
    data = write_npz(tmp_path / "s.npz", x=np.random.default_rng(0).normal(size=(40, 2)), y=y)
    for g_output, expected in (("sigmoid", 1), ("none", 0)):
        r = CliRunner().invoke(main, ["fit", "--dataset", data, "--scale", "standard", "--g-output", g_output,
                                      "--epochs", "1", "--batch-size", "10", "--val", "4", "--out", str(tmp_path / "runs"),
                                      "--quiet"])  # (--val: rows to score on, which data without a test set are told)
        assert r.exit_code == 0, r.output
        lines = [line for line in r.stderr.splitlines() if line.startswith("Warning: ")]
        assert len(lines) == expected and all("use --g-output none" in line for line in lines)


def test_real_valued_npz_trains_evaluates_and_samples_in_its_units(tmp_path):
    data, x = _real_valued(tmp_path)
    out = tmp_path / "runs"
    r = run("fit", "--dataset", data, "--epochs", 2, "--batch-size", 10, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    run_dir = json.loads(r.stdout)["run"]
    config = json.load(open(f"{run_dir}/config.json"))
    assert config["scale"] == "minmax" and config["g_output"] == "sigmoid"
    stored = json.load(open(f"{run_dir}/scaler.json"))
    assert stored["kind"] == "minmax" and np.allclose(stored["offset"], x.min(0))  # training rows only: no val here
    assert load_run(run_dir).checkpoint["scaler"] == stored
    # eval --data applies the run's scaler: the same rows score as the run's own test set
    own = json.loads(run("eval", run_dir, "--json").stdout)
    other = json.loads(run("eval", run_dir, "--data", data, "--json").stdout)
    assert other["accuracy"] == own["accuracy"]
    # samples come out in the user's units, inside the training range
    npz = tmp_path / "s.npz"
    assert run("sample", run_dir, "--n", 50, "--npz", npz).exit_code == 0
    s = np.load(npz)["x"]
    assert s.shape == (50, 3) and s.min() >= x.min(0).min() - 1e-3 and s.max() <= x.max(0).max() + 1e-3
    assert s[:, 0].max() > 1.0  # not in [0, 1]: the scaling was inverted
    # vectors have no picture: one line that says what to give instead, and no file half made
    for args, advice in (([], "use --npz FILE"), (["--out", tmp_path / "g.png", "--npz", tmp_path / "t.npz"],
                                                  "leave out --out: --npz writes the samples alone")):
        r = run("sample", run_dir, "--n", 5, *args)
        assert r.exit_code == 2 and r.stderr.strip().endswith(f"have no picture: {advice}"), r.output
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "t.npz").exists()


def test_scaler_fits_the_training_rows_only(tmp_path):
    data, x = _real_valued(tmp_path, n_labeled=40)
    r = run("fit", "--dataset", data, "--epochs", 1, "--batch-size", 10, "--val", 10, "--labels", 10, "--out", tmp_path / "runs",
            "--scale", "standard", "--json")
    assert r.exit_code == 0, r.output
    run_dir = json.loads(r.stdout)["run"]
    split = json.load(open(f"{run_dir}/split.json"))
    keep = np.setdiff1d(np.arange(len(x)), split["val_indices"])
    stored = json.load(open(f"{run_dir}/scaler.json"))
    assert np.allclose(stored["offset"], x[keep].mean(0)) and not np.allclose(stored["offset"], x.mean(0))


def test_warnings_are_one_line_and_training_goes_on(tmp_path):
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=40), np.full(40, 3.0)])
    y = np.where(np.arange(40) < 8, np.arange(40) % 2, -1)
    data = write_npz(tmp_path / "c.npz", x=x, y=y, x_test=x[:10] * 50, y_test=np.arange(10) % 2)
    r = CliRunner().invoke(main, ["fit", "--dataset", data, "--epochs", "1", "--batch-size", "10",
                                  "--out", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(lines) == 2 and "constant" in lines[0] and "x_test" in lines[1]
    # samples in the data's units: the constant feature is its value (it had come back as 3 plus
    # whatever the generator made of it, 3.2 to 3.3), the other one spans its values
    run = next((tmp_path / "runs").iterdir())
    r = CliRunner().invoke(main, ["sample", str(run), "--n", "50", "--npz", str(tmp_path / "s.npz")])
    assert r.exit_code == 0, r.output
    samples = np.load(tmp_path / "s.npz")["x"]
    assert np.all(samples[:, 1] == 3.0) and np.ptp(samples[:, 0]) > 0
    assert json.loads((run / "scaler.json").read_text())["constant"] == [1]


def test_a_constant_feature_or_channel_comes_back_as_its_value_and_old_scalers_load():
    x = np.random.default_rng(0).random((10, 3, 2, 2))
    x[:, 1] = 0.25
    scaler, _ = fit_scaler("standard", x)
    made = np.random.default_rng(1).random((4, 3, 2, 2)).astype(np.float32)
    back = scaler.inverse(made)
    assert np.all(back[:, 1] == np.float32(0.25)) and np.array_equal(back[:, 0], scaler.inverse(made)[:, 0])
    assert np.allclose(back[:, 0], made[:, 0] * scaler.scale[0] + scaler.offset[0])
    old = {key: value for key, value in scaler.to_dict().items() if key != "constant"}  # (a run's made before)
    assert Scaler.from_dict(old).constant == () and Scaler.from_dict(scaler.to_dict()).constant == (1,)


def test_dataset_scaling_warns_as_data_warning():
    from ssgan.data import Dataset

    d = Dataset("t", np.zeros((4, 2), np.float32) + np.array([0.0, 1.0], np.float32), np.zeros(4, np.int64),
                np.full((2, 2), 9.0, np.float32), np.zeros(2, np.int64), 2, value_range=(0.0, 1.0))
    scaler, _ = fit_scaler("minmax", d.x_train)
    _, notes = scale_dataset(scaler, d)
    assert len(notes) == 1 and notes[0].startswith("x_test: 100.0 % of its rows")
    assert issubclass(DataWarning, UserWarning)


def test_input_noise_is_sized_to_the_input_and_mnist_keeps_the_paper_value(tmp_path):
    from ssgan.models import resolve_arch
    from ssgan.models.mlp import input_noise_for

    assert input_noise_for((1, 28, 28)) == 0.3 and input_noise_for((784,)) == 0.3
    assert input_noise_for((2,)) == pytest.approx(0.3 * np.sqrt(2 / 784), abs=1e-4)
    assert input_noise_for((64,)) == input_noise_for((1, 8, 8)) == pytest.approx(0.0857, abs=1e-4)
    assert input_noise_for((5000,)) == input_noise_for((3, 32, 32)) == 0.3
    assert resolve_arch(Config(), (1, 28, 28)).d_input_noise == 0.3
    assert resolve_arch(Config(arch="dcgan"), (1, 8, 8)).d_input_noise == 0.0  # convolutional: its own
    assert resolve_arch(Config(arch="mlp"), (30,)).d_input_noise == pytest.approx(0.0587, abs=1e-4)
    assert resolve_arch(Config(d_input_noise=0.2), (30,)).d_input_noise == 0.2  # a given value wins
    # config.json records the value a run used
    data, _ = _real_valued(tmp_path)
    r = run("fit", "--dataset", data, "--epochs", 1, "--batch-size", 10, "--out", tmp_path / "runs", "--json")
    config = json.load(open(json.loads(r.stdout)["run"] + "/config.json"))
    assert config["arch"] == "mlp" and config["d_input_noise"] == input_noise_for((3,))


def test_unlabeled_data_help_on_two_moons_with_three_labels_per_class():
    """The semi-supervised check of issue 14, seeded: make_moons with 3 labels per class, SSL
    against the same network without the unlabeled term, on 1000 fresh points, over three draws
    of the labels and the networks, in fp32 on every CPU. One draw alone decides little: on a CPU
    with bf16 (where ``precision="auto"`` trains in bf16) seed 0's SSL run ended at 0.619 against
    0.608 without unlabeled data, where fp32 ended at 0.971 against 0.585; over 20 seeds the two
    precisions were level on validation draws (mean SSL accuracy 0.873 in bf16, 0.878 in fp32;
    benchmarks/moons_precision.py).
    fp32 because what ``auto`` picks depends on the CPU, and bf16's gains on these three seeds
    sat near the bar (0.019, 0.057, 0.111 with one thread; fp32's 0.187, 0.096, 0.110)."""
    from sklearn.datasets import make_moons

    from ssgan import SSGANClassifier

    X, y = make_moons(1000, noise=0.1, random_state=0)
    X_test, y_test = make_moons(1000, noise=0.1, random_state=100)
    gains = []
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        labeled = np.concatenate([rng.choice(np.flatnonzero(y == c), 3, replace=False) for c in (0, 1)])
        y_masked = np.full_like(y, -1)
        y_masked[labeled] = y[labeled]
        acc = {w: SSGANClassifier(epochs=15, unlabeled_weight=w, random_state=seed, precision="fp32").fit(X, y_masked).score(X_test, y_test)
               for w in (1.0, 0.0)}
        gains.append(acc[1.0] - acc[0.0])
    assert min(gains) > 0 and np.mean(gains) > 0.05, gains
