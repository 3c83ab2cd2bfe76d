import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from ssgan import SSGANClassifier


@pytest.fixture(scope="module")
def digits_xy():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def masked(y, n_labeled=100):
    y = y.copy()
    y[n_labeled:] = -1
    return y


@pytest.fixture(scope="module")
def fitted(digits_xy):
    X, y = digits_xy
    return SSGANClassifier(epochs=3, random_state=0).fit(X, masked(y))


def test_fit_predict_score(fitted, digits_xy):
    X, y = digits_xy
    proba = fitted.predict_proba(X)
    assert proba.shape == (600, 10) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    assert fitted.predict(X).shape == (600,)
    assert 0.0 <= fitted.score(X, y) <= 1.0
    assert fitted.n_iter_ == 3 and len(fitted.history_) == 3 and fitted.n_features_in_ == 64


def test_any_label_values(digits_xy):
    X, y = digits_xy
    names = np.array(list("abcdefghij"), dtype=object)[y]
    names[100:] = -1
    clf = SSGANClassifier(epochs=1, random_state=0).fit(X, names)
    assert list(clf.classes_) == list("abcdefghij")
    assert set(clf.predict(X[:20])) <= set("abcdefghij")
    with pytest.raises(ValueError, match=r"y = y.astype\(object\); y\[y == '-1'\] = -1"):
        clf.fit(X, names.astype(str))  # unlabeled rows as the string '-1'
    with pytest.raises(ValueError, match="n must be a positive number of samples, got 0"):
        clf.generate(0)


@pytest.mark.parametrize("shape", [(600, 64), (600, 8, 8), (600, 1, 8, 8)])
def test_input_shapes_and_generate(digits_xy, shape):
    X, y = digits_xy
    clf = SSGANClassifier(epochs=1, random_state=0).fit(X.reshape(shape), masked(y))
    assert clf.predict(X.reshape(shape)[:5]).shape == (5,)
    samples = clf.generate(7, random_state=1)
    assert samples.shape == (7, *shape[1:])
    assert samples.min() >= X.min() - 1e-4 and samples.max() <= X.max() + 1e-4  # original scale
    assert np.array_equal(samples, clf.generate(7, random_state=1))


def test_parameters_without_effect_are_a_warning(digits_xy):
    """moment_weight under feature matching, or the generator's loss with unlabeled_weight=0,
    changed nothing in silence; each is a UserWarning, as ssgan fit says of its options. The
    defaults, and settings that act, say nothing."""
    import warnings

    X, y = digits_xy
    with pytest.warns(UserWarning) as caught:
        SSGANClassifier(epochs=1, random_state=0, unlabeled_weight=0.0, g_loss="moment-matching").fit(X, masked(y))
    assert [str(w.message) for w in caught] == [
        "g_loss='moment-matching' has no effect in this fit: it acts only with unlabeled_weight above 0"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SSGANClassifier(epochs=1, random_state=0, g_loss="moment-matching", moment_weight=0.5).fit(X, masked(y))


def test_generated_constant_features_are_their_value(digits_xy):
    """A feature constant in X (digits' first pixel, 0 in every row; here moved to 5) came back
    from generate() as 5 plus the generator's output for it, 5.2 to 5.3; it is 5."""
    X, y = digits_xy
    X = X.copy()
    X[:, 0] = 5.0
    clf = SSGANClassifier(epochs=1, random_state=0).fit(X, masked(y))
    samples = clf.generate(50, random_state=1)
    assert np.all(samples[:, 0] == 5.0) and np.ptp(samples[:, 20]) > 0


def test_no_samples_from_a_classifier_trained_without_its_generator(digits_xy):
    """unlabeled_weight=0 trains D alone: generate() had returned the untrained generator's noise."""
    X, y = digits_xy
    clf = SSGANClassifier(epochs=1, unlabeled_weight=0.0, random_state=0).fit(X, masked(y))
    with pytest.raises(ValueError, match="unlabeled_weight=0 trains the discriminator alone"):
        clf.generate(5)
    assert clf.predict(X[:5]).shape == (5,)


def test_a_classifier_of_labels_alone_smooths_its_labels_unless_told(digits_xy):
    """With unlabeled_weight=0 the labeled loss is smoothed by 0.1 (as ssgan baseline's
    same-net), so it stays above that smoothing's floor; class_smoothing=0 is the plain loss."""
    from ssgan.losses import supervised_floor

    X, y = digits_xy
    losses = {}
    for smoothing in (None, 0.0, 0.1):
        clf = SSGANClassifier(epochs=3, unlabeled_weight=0.0, class_smoothing=smoothing, random_state=0)
        losses[smoothing] = [m["loss_lab"] for m in clf.fit(X, masked(y)).history_]
    assert losses[None] == losses[0.1] != losses[0.0]
    assert min(losses[0.1]) > supervised_floor(0.1, 10) > min(losses[0.0])


def test_features_in_tiny_units_are_scaled_to_the_unit_range(digits_xy):
    """X in units of 1e-30 had trained at chance (0.10 on digits): scikit-learn's MinMaxScaler keeps
    scale 1 for a range below 10 float64 epsilons, and every feature read as 0."""
    X, y = digits_xy
    clf = SSGANClassifier(epochs=1, random_state=0).fit(X * 1e-30, masked(y))
    z = clf.scaler_.transform(X * 1e-30)
    assert np.allclose(z.max(0), (X.max(0) > X.min(0)).astype(float)) and z.min() == 0.0
    assert clf.score(X * 1e-30, y) > 0.5


def test_random_state_reproducible(digits_xy):
    X, y = digits_xy
    a = SSGANClassifier(epochs=1, random_state=3).fit(X, masked(y)).predict_proba(X)
    b = SSGANClassifier(epochs=1, random_state=3).fit(X, masked(y)).predict_proba(X)
    assert np.array_equal(a, b)
    # scikit-learn's other forms: a RandomState in the same state draws the same seed
    c, d = (SSGANClassifier(epochs=1, random_state=np.random.RandomState(5)).fit(X, masked(y)).predict_proba(X)
            for _ in range(2))
    assert np.array_equal(c, d)
    for bad, message in ((-1, "random_state must lie in 0..4294967295, got -1"), ("3", "must be an int, a numpy")):
        with pytest.raises(ValueError, match=message):
            SSGANClassifier(epochs=1, random_state=bad).fit(X, masked(y))


def test_params_clone_and_pickle(fitted, digits_xy):
    X, _ = digits_xy
    params = fitted.get_params()
    assert params["epochs"] == 3 and params["g_loss"] == "feature-matching"
    c = clone(fitted)
    assert c.get_params() == params and not hasattr(c, "classes_")
    c.set_params(lr=0.001)
    assert c.lr == 0.001
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_network_widths_as_a_tuple_or_as_fit_writes_them(digits_xy):
    """d_hidden and g_hidden as scikit-learn's hidden_layer_sizes gives them, or as the string of
    --d-hidden: the same networks and the same model; pickled, it is rebuilt at its own widths."""
    X, y = digits_xy
    a = SSGANClassifier(epochs=1, random_state=0, d_hidden=(64, 32), g_hidden=(50,)).fit(X, masked(y))
    b = SSGANClassifier(epochs=1, random_state=0, d_hidden="64,32", g_hidden="50").fit(X, masked(y))
    assert [tuple(v.shape) for k, v in a.discriminator_.state_dict().items() if k.endswith(".v")] == [
        (64, 64), (32, 64), (10, 32)]
    assert [tuple(v.shape) for k, v in a.generator_.state_dict().items() if k.endswith("weight")][0] == (50, 100)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    restored = pickle.loads(pickle.dumps(a))
    assert np.array_equal(restored.predict_proba(X), a.predict_proba(X))
    assert clone(a).get_params()["d_hidden"] == (64, 32)


def test_the_entropy_term_and_the_noise_are_parameters(digits_xy):
    """entropy_weight=0 trains without the term (there is no entropy loss to log), and a noise
    of D set to 0 changes the model; entropy_epochs without the term is a warning."""
    X, y = digits_xy
    default = SSGANClassifier(epochs=1, random_state=0).fit(X, masked(y))
    without = SSGANClassifier(epochs=1, random_state=0, entropy_weight=0.0).fit(X, masked(y))
    assert default.history_[0]["loss_ent"] > 0 and without.history_[0]["loss_ent"] is None
    quiet = SSGANClassifier(epochs=1, random_state=0, d_input_noise=0.0, d_hidden_noise=0.0).fit(X, masked(y))
    assert not np.array_equal(quiet.predict_proba(X), default.predict_proba(X))
    with pytest.warns(UserWarning, match="entropy_epochs=5 has no effect in this fit: it acts only with entropy_weight"):
        SSGANClassifier(epochs=1, random_state=0, entropy_weight=0.0, entropy_epochs=5).fit(X, masked(y))


@pytest.mark.parametrize("params, message", [
    ({"d_hidden": "64;32"}, "d_hidden must be comma-separated positive widths like 500,500, got '64;32'"),
    ({"g_hidden": (50, "a")}, "g_hidden must be widths like \\(500, 250\\) or '500,250', got \\(50, 'a'\\)"),
    ({"g_hidden": ()}, "g_hidden must be widths like"),
    ({"entropy_epochs": 0}, "entropy_epochs must be >= 1, got 0"),
    ({"arch": "dcgan"}, "^arch dcgan takes square images .*; got vectors of 64: use arch mlp$"),  # (not --arch)
])
def test_bad_parameters_are_one_line(digits_xy, params, message):
    X, y = digits_xy
    with pytest.raises(ValueError, match=message):
        SSGANClassifier(epochs=1, random_state=0, **params).fit(X, masked(y))


def test_verbose_writes_a_line_per_epoch(digits_xy, capsys):
    X, y = digits_xy
    SSGANClassifier(epochs=2, random_state=0).fit(X, masked(y))
    assert capsys.readouterr() == ("", "")
    clf = SSGANClassifier(epochs=2, random_state=0, verbose=1).fit(X, masked(y))
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [
        f"epoch {m['epoch']}/2: labeled acc {m['train_acc']:.4f}, lab {m['loss_lab']:.3f} unl {m['loss_unl']:.3f} "
        f"gen {m['loss_gen']:.3f}, {m['seconds']:.1f} s" for m in clf.history_]


def test_score_leaves_out_unlabeled_rows(fitted, digits_xy):
    """cross_val_score and GridSearchCV on semi-supervised y score the labels held out: each -1
    had counted as a wrong prediction, so a fold of 83 % unlabeled rows scored at most 0.17."""
    X, y = digits_xy
    semi = np.where(np.arange(len(y)) % 6 == 0, y, -1)
    labeled = semi != -1
    assert fitted.score(X, semi) == pytest.approx((fitted.predict(X[labeled]) == y[labeled]).mean())
    weight = np.arange(len(y)) % 3 + 1.0
    assert fitted.score(X, semi, sample_weight=weight) == pytest.approx(
        np.average(fitted.predict(X[labeled]) == y[labeled], weights=weight[labeled]))
    assert fitted.score(X, semi) > 0.5
    with pytest.raises(ValueError, match="no labeled rows to score"):
        fitted.score(X, np.full(len(y), -1))


def test_pipeline_cross_val_and_grid_search(digits_xy):
    X, y = digits_xy
    pipe = make_pipeline(FunctionTransformer(lambda a: a / 16.0), SSGANClassifier(epochs=1, random_state=0))
    scores = cross_val_score(pipe, X[:300], y[:300], cv=2)
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))
    grid = GridSearchCV(SSGANClassifier(epochs=1, random_state=0), {"label_smoothing": [0.0, 0.1]}, cv=2)
    grid.fit(X[:300], y[:300])
    assert grid.best_params_["label_smoothing"] in (0.0, 0.1)


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((10, 4)), np.full(10, -1), "no labeled rows"),
    (np.zeros((10, 4)), np.zeros(10), r"only one class \(0.0\)"),
    (np.zeros((10, 4)), np.where(np.arange(10) < 4, "cat", "-1"), "holds the string '-1'"),  # (not a class '-1')
    (np.zeros((10,)), np.arange(10) % 2, "Reshape your data"),
    (np.zeros((2, 3, 4, 5, 6)), np.arange(2) % 2, "must have shape"),
    (np.full((10, 4), np.nan), np.arange(10) % 2, "NaN"),
    (np.zeros((10, 4)), np.arange(9) % 2, "inconsistent numbers of samples"),
    (np.zeros((10, 4)), np.linspace(0, 1, 10), "Unknown label type"),
    (np.zeros((10, 4)), np.where(np.arange(10) < 4, np.arange(10) % 2, np.nan),  # (pandas' missing labels)
     r"y is NaN in 6 of 10 rows; mark unlabeled rows -1 .*np.where\(np.isnan\(y\), -1, y\)"),
    (np.zeros((10, 4)), np.array(["cat", "dog", None, None, "cat", float("nan"), None, "dog", None, None], dtype=object),
     r"y is None or NaN in 6 of 10 rows; mark unlabeled rows with the integer -1 "),  # (had been a TypeError from sorting)
    (np.zeros((10, 4)) + 1j, np.arange(10) % 2, "Complex data not supported"),
])
def test_bad_input(X, y, message):
    with pytest.raises(ValueError, match=message):
        SSGANClassifier(epochs=1).fit(X, y)


def test_sparse_input_is_refused_clearly():
    from scipy.sparse import csr_matrix

    with pytest.raises(TypeError, match="Sparse data was passed"):
        SSGANClassifier(epochs=1).fit(csr_matrix(np.eye(10)), np.arange(10) % 2)


def test_predictions_do_not_depend_on_row_order_or_batching(fitted, digits_xy):
    X = digits_xy[0][:300]
    order = np.random.default_rng(0).permutation(len(X))
    p = fitted.predict_proba(X)
    assert np.array_equal(fitted.predict_proba(X[order]), p[order])
    assert np.array_equal(np.concatenate([fitted.predict_proba(X[:7]), fitted.predict_proba(X[7:])]), p)


def test_scikit_learn_estimator_checks():
    """scikit-learn's own estimator checks, all of them: each passes, or fails for the reason
    listed in EXPECTED_FAILED_CHECKS. check_classifiers_train (83 % training accuracy on 2-D
    blobs in a one-epoch fit) passes since the input noise is sized to vectors."""
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    from ssgan.estimator import EXPECTED_FAILED_CHECKS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(SSGANClassifier(epochs=1, random_state=0), on_fail=None,
                                  expected_failed_checks=EXPECTED_FAILED_CHECKS)
    failed = {r["check_name"]: repr(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert not failed, failed
    assert len(results) >= 50


def test_predict_checks_shape_and_fit(fitted):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(ValueError, match="X has 65 features, but SSGANClassifier is expecting 64"):
        fitted.predict(np.zeros((2, 65)))
    with pytest.raises(ValueError, match="fitted on \\(64,\\)"):
        fitted.predict(np.zeros((2, 64, 1)))
    with pytest.raises(NotFittedError):
        SSGANClassifier().predict(np.zeros((2, 64)))


def test_defaults_are_those_of_fit():
    """The docstring promises the names and defaults of `ssgan fit`'s options (the device aside:
    an estimator stays on the CPU unless asked)."""
    import dataclasses

    from ssgan.config import Config

    fields = {f.name: f.default for f in dataclasses.fields(Config)}
    params = SSGANClassifier().get_params()
    assert {k: v for k, v in params.items() if k not in ("device", "random_state", "verbose")} == {
        k: fields[k] for k in params if k not in ("device", "random_state", "verbose")}
